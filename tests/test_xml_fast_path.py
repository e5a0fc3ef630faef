"""The XML reader's fast paths (row patterns, JSON templates, column-wise typing) give
exactly what lxml + card_values + RecordBuilder.build give, row by row: same records, same
set-aside rows and reasons, same errors."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared
from riskatlas.errors import RecordError
from riskatlas.model.countries import is_iso3
from riskatlas.model.hazards import load_crosswalk
from riskatlas.sources import desinventar_xml as dx
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, card_values
from riskatlas.sources.desinventar_xml import scanner
from riskatlas.store.batch import EXTENSION_SCHEMA, RECORD_SCHEMA, Rejected


# -- the reference: lxml rows, one record at a time ---------------------------------
def _reference(chunk: dx.Chunk, builder: RecordBuilder, country: str | None) -> Any:
    rows, removed = dx.parse_rows(chunk, builder.source_file, "UTF-8")
    if chunk.section == "extension":
        out = []
        for raw in rows:
            key = raw.get("clave_ext", raw.get("CLAVE_EXT")) or dx.lower_keys(raw).get(
                "clave_ext")
            out.append({"native_key": text(key) or "",
                        "extension": orjson.dumps(raw).decode()})
        return pa.Table.from_pylist(out, EXTENSION_SCHEMA), [], removed, len(rows)
    records, rejected = [], []
    upper = bool(rows) and not all(k.islower() for k in rows[0])
    for i, raw in enumerate(rows):
        low = dx.lower_keys(raw) if upper else raw
        values, unknown = card_values(low)
        values["country_iso3"] = country or (
            low.get("level0") if is_iso3(low.get("level0")) else None)
        row = chunk.first_row + i
        ref = f"clave {low.get('clave')}" if low.get("clave") else f"row {row}"
        try:
            records.append(builder.build(values, row=row, record_ref=ref, raw=raw,
                                         unknown=unknown))
        except RecordError as exc:
            rejected.append(Rejected.from_error(exc, raw))
    return pa.Table.from_pylist(records, RECORD_SCHEMA), rejected, removed, len(rows)


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # the same error, or none
        return type(exc), str(exc)


def _check(xml: bytes, tmp_path: Path, *, chunk_bytes: int, lazy: bool,
           country: str | None = None) -> int:
    """Convert every chunk both ways and compare; the number of chunks compared."""
    name = "DI_export_fuz.xml"
    builder = RecordBuilder(source_key="DI-FUZ", source_file=name,
                            crosswalk=load_crosswalk(()), field_names=CANONICAL_TO_CARD)
    dx.init_worker(builder, country, str(tmp_path), name, "UTF-8")
    source = tmp_path / name
    source.write_bytes(xml)
    compared = 0
    chunks = dx.scan(io.BytesIO(xml), name, chunk_bytes, source=str(source) if lazy else None)
    for number, chunk in enumerate(chunks):
        if chunk.section not in dx.BIG_SECTIONS:
            continue
        expected = _outcome(lambda: _reference(chunk, builder, country))  # noqa: B023
        result = _outcome(lambda: dx.convert_chunk(chunk, number))  # noqa: B023
        if isinstance(result, dx.ChunkResult):
            result = (pq.read_table(result.part), result.rejected, result.control_removed,
                      result.rows)
        if isinstance(expected, tuple) and isinstance(expected[0], pa.Table):
            table, rejected, removed, rows = result
            assert (removed, rows) == expected[2:]
            assert [r.__dict__ for r in rejected] == [r.__dict__ for r in expected[1]]
            assert table.schema == expected[0].schema
            assert table.to_pylist() == expected[0].to_pylist()
        else:
            assert result == expected
        compared += 1
    return compared


# -- generated exports: clean, odd and broken values ----------------------------------
NUMERIC = {"fechano", "fechames", "fechadia", "muertos", "heridos", "desaparece", "afectados",
           "vivdest", "vivafec", "valorloc", "valorus", "socorro", "salud", "transporte",
           "kmvias", "duracion", "damnificados", "reubicados", "latitude", "longitude"}
FIELDS = [*sorted(NUMERIC), "serial", "level0", "level1", "name0", "evento", "lugar", "otros",
          "fuentes", "hay_muertos", "hay_heridos", "hay_afectados", "hay_vivdest",
          "magnitud2", "hay_damnificados", "clave", "glide", "approved", "di_comments", "causa"]
NUMBERS = ["0", "1", "12", "-3", "2.5", "", " 7 ", "1,234", "1_000", "nan", "inf", "-0",
           "1e3", "+4", "abc", "007", "99999999999999999999", "3.0", "  ", "1.5e400", "٣"]
TEXTS = ["x", "", " a b ", "&amp;", "a &lt; b", "&quot;q&quot;", '"raw"', "back\\slash",
         "l1\nl2", "t\tab", "cr\r\nlf", "&#65;&#x42;", "é ü “q”", "\u00a0nbsp\u00a0",
         "ctl\x01x", "\x0b", "x]]y", "a>b", "<!-- c -->", "<![CDATA[cd]]>", "&#xD;", "𝄞",
         "&amp;lt;", "\x1f"]
BROKEN = ["&#0;", "&bogus;", "a & b", "]]>", "\uffff", "<b>"]
SPECIAL = {"fechano": ["2011", "0", "201", "", "2030", "1500", "2011.5"],
           "fechames": ["4", "0", "", "13", "-1"], "fechadia": ["11", "0", "", "31", "32"],
           "evento": ["FLOOD", "", "  ", "VOLCANIC SMOG", "HURRICANE"],
           "level0": ["GRD", "grd", "XXX", "", " GRD"],
           "latitude": ["0", "12.5", "", "95", "x"], "longitude": ["0", "-61.7", "-200"],
           "approved": ["0", "1", "", " 0 "]}


def _value(rnd: random.Random, field: str, key: int, dirty: float, texts: list[str]) -> str:
    if field == "clave":
        return str(key) if rnd.random() > 0.05 else rnd.choice(["", " ", "1"])
    if field.startswith("hay_"):
        return rnd.choice(["0", "-1", "1", "", "false", " 0 "])
    if rnd.random() >= dirty:
        return {"fechano": "2011", "fechames": "4", "fechadia": "11",
                "evento": "FLOOD"}.get(field, str(rnd.randint(0, 500)) if field in NUMERIC
                                       else "text")
    if field in SPECIAL:
        return rnd.choice(SPECIAL[field])
    return rnd.choice(NUMBERS if field in NUMERIC else texts)


def _export(rnd: random.Random, cards: int, broken: bool) -> bytes:
    dirty = rnd.choice([0.002, 0.02, 0.2])
    texts = TEXTS + (BROKEN if broken else [])
    upper = rnd.random() < 0.2
    fields = list(FIELDS)
    rows = []
    for key in range(1, cards + 1):
        order = fields if rnd.random() > 0.05 else rnd.sample(fields, len(fields))
        cells = [f"<{f.upper() if upper else f}>{_value(rnd, f, key, dirty, texts)}"
                 f"</{f.upper() if upper else f}>" for f in order]
        rows.append("<TR>" + rnd.choice(["\n", "", "\r\n"]).join(cells) + "</TR>")
        if rnd.random() < 0.02:
            rows.append("<!-- a comment -->")
    names = ["clave_ext", "deaths_female", "note", "ha_dmgd"]
    ext = []
    for key in range(1, cards + 1):
        cells = [f"<{n}>{key if n == 'clave_ext' else _value(rnd, n, key, dirty, texts)}</{n}>"
                 for n in (names if rnd.random() > 0.05 else names[::-1])]
        ext.append("<TR>" + "\n".join(cells) + "</TR>")
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<DESINVENTAR>\n<eventos>\n<TR><serial>1'
            "</serial><nombre>FLOOD</nombre></TR>\n</eventos>\n<fichas>\n" + "\n".join(rows)
            + "\n</fichas>\n<extension>\n" + "\n".join(ext) + "\n</extension>\n"
            "</DESINVENTAR>\n").encode()


@pytest.mark.parametrize("seed", range(12))
def test_fast_paths_match_lxml_and_build(seed, tmp_path):
    rnd = random.Random(seed)
    xml = _export(rnd, rnd.randint(1, 40), broken=seed % 4 == 3)
    for chunk_bytes, lazy in ((1500, False), (1 << 16, True)):
        assert _check(xml, tmp_path, chunk_bytes=chunk_bytes, lazy=lazy,
                      country="GRD" if seed % 5 == 0 else None)


@pytest.mark.shared_data
def test_fast_paths_match_on_real_exports(tmp_path):
    for relative in ("desinventar/grd/DI_export_grd.zip", "desinventar/s20/DI_export_s20.zip"):
        with zipfile.ZipFile(shared(relative)) as archive:
            xml = next(archive.read(n) for n in archive.namelist() if n.endswith(".xml"))
        assert _check(xml, tmp_path, chunk_bytes=1 << 20, lazy=True) >= 2


@pytest.mark.shared_data
def test_scanner_reading_from_the_file_cuts_the_same_chunks(tmp_path):
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml")
    source = tmp_path / "grd.xml"
    source.write_bytes(xml)
    for chunk_bytes in (700, 1 << 16):
        eager = list(dx.scan(io.BytesIO(xml), "grd.xml", chunk_bytes))
        lazy = list(dx.scan(io.BytesIO(xml), "grd.xml", chunk_bytes, source=str(source)))
        # the rows of extension chunks read from the file are numbered on need only
        assert {c.section for c in lazy if not c.first_row} == {"extension"}
        assert [(c.section, c.data, c.first_row, c.line) for c in eager] == [
            (c.section, dx.chunk_data(c), dx.chunk_first_row(c), dx.chunk_line(c))
            for c in lazy]
        assert any(not c.data for c in lazy)  # big sections are read by the workers


@pytest.mark.parametrize("block", [1, 2, 3, 5, 1 << 20])
def test_rows_are_counted_on_need_across_blocks(tmp_path, monkeypatch, block):
    monkeypatch.setattr(scanner, "COUNT_BLOCK", block)
    source = tmp_path / "rows.xml"
    source.write_bytes(b"<x><TR><a>1</a></TR><TR></TR>\n<TR><b/></TR><TR>")
    assert dx.rows_between(str(source), 3, source.stat().st_size) == 4
    assert dx.rows_between(str(source), 3, 20) == 1  # the second row starts at byte 20
    assert dx.rows_between(str(source), 4, 40) == 2
