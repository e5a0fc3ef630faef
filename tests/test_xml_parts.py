"""The parts of the DesInventar XML reader, each through its public functions: the scanner,
the row patterns (fast path), the Arrow typing and the worker pool."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from riskatlas.model.hazards import load_crosswalk
from riskatlas.sources import desinventar_xml as dx
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD
from riskatlas.sources.desinventar_xml import workers

CARD = ("<TR><clave>{k}</clave><serial>{k}</serial><level0>GRD</level0><evento>FLOOD</evento>"
        "<fechano>2011</fechano><fechames>4</fechames><fechadia>1</fechadia>"
        "<muertos>{k}</muertos><hay_muertos>0</hay_muertos><lugar>{place}</lugar></TR>\n")
EXT = "<TR><clave_ext>{k}</clave_ext><sexo_f>{k}</sexo_f><note></note></TR>\n"


def _xml(cards: int = 5, place: str = "town") -> bytes:
    rows = "".join(CARD.format(k=k, place=place) for k in range(1, cards + 1))
    ext = "".join(EXT.format(k=k) for k in range(1, cards + 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<DESINVENTAR>\n'
            '<eventos><TR><nombre>FLOOD</nombre></TR></eventos>\n'
            f"<fichas>\n{rows}</fichas>\n<extension>\n{ext}</extension>\n</DESINVENTAR>\n"
            ).encode()


def _builder(name: str = "DI_export_grd.xml") -> RecordBuilder:
    return RecordBuilder(source_key="DI-GRD", source_file=name, crosswalk=load_crosswalk(()),
                         field_names=CANONICAL_TO_CARD)


# -- the scanner ------------------------------------------------------------------------
def test_scan_cuts_sections_into_whole_rows_numbered_and_placed():
    xml = _xml(5)
    chunks = list(dx.scan(io.BytesIO(xml), "x.xml", 2 * len(CARD)))
    fichas = [c for c in chunks if c.section == "fichas"]
    assert [c.section for c in chunks][:1] == ["eventos"]
    assert len(fichas) >= 3  # a small chunk size cuts the section after whole rows
    assert all(c.data.strip().startswith(b"<TR>") and c.data.strip().endswith(b"</TR>")
               for c in fichas)
    assert [c.first_row for c in fichas] == sorted({c.first_row for c in fichas})
    assert fichas[0].first_row == 1
    assert b"".join(c.data for c in fichas).count(b"<TR>") == 5
    for c in fichas:  # each chunk knows where it is in the document
        assert xml[c.offset:c.offset + c.size] == c.data
        assert dx.chunk_line(c) == xml[:c.offset].count(b"\n") + 1


def test_scan_of_a_plain_file_leaves_the_big_sections_to_the_workers(tmp_path: Path):
    xml = _xml(4)
    path = tmp_path / "x.xml"
    path.write_bytes(xml)
    chunks = list(dx.scan(io.BytesIO(xml), "x.xml", source=str(path)))
    big = [c for c in chunks if c.section in dx.BIG_SECTIONS]
    assert big and all(c.data == b"" for c in big)  # only their place is sent
    assert all(dx.chunk_data(c) == xml[c.offset:c.offset + c.size] for c in big)
    ext = next(c for c in big if c.section == "extension")
    assert dx.chunk_first_row(ext) == 1  # counted in the file on need
    assert dx.rows_between(str(path), ext.section_offset, len(xml)) == 4


# -- the row patterns -------------------------------------------------------------------
def test_row_patterns_read_the_rows_lxml_reads():
    xml = _xml(3, place="a &amp; b")
    [chunk] = [c for c in dx.scan(io.BytesIO(xml), "x.xml") if c.section == "fichas"]
    tags, rows, removed = dx.read_rows(chunk, "x.xml", "UTF-8")
    assert tags[:2] == ("clave", "serial") and all(type(r) is tuple for r in rows)
    parsed, removed_too = dx.parse_rows(chunk, "x.xml", "UTF-8")
    assert [dict(zip(tags, r, strict=True)) for r in rows] == parsed
    assert parsed[0]["lugar"] == "a & b" and removed == removed_too == 0


def test_a_row_of_another_layout_is_read_by_lxml_in_place():
    xml = _xml(3).replace(b"<lugar>town</lugar></TR>", b"<lugar>t<b>ow</b>n</lugar></TR>", 1)
    [chunk] = [c for c in dx.scan(io.BytesIO(xml), "x.xml") if c.section == "fichas"]
    tags, rows, _ = dx.read_rows(chunk, "x.xml", "UTF-8")
    assert [type(r) for r in rows] == [dict, tuple, tuple]  # the odd row alone
    assert dx.parse_rows(chunk, "x.xml", "UTF-8")[0] == [
        r if type(r) is dict else dict(zip(tags, r, strict=True)) for r in rows]


def test_extension_rows_fill_the_json_template_as_orjson_would():
    xml = _xml(3)
    [chunk] = [c for c in dx.scan(io.BytesIO(xml), "x.xml") if c.section == "extension"]
    table = dx.fast_extension(chunk.data, "UTF-8")
    assert table is not None
    tags, rows, _ = dx.read_rows(chunk, "x.xml", "UTF-8")
    assert table.to_pylist() == dx.extension_table(tags, rows).to_pylist()
    assert orjson.loads(table.column("extension")[0].as_py()) == {
        "clave_ext": "1", "sexo_f": "1", "note": ""}
    assert dx.fast_extension(chunk.data.replace(b"<note></note>", b"<note>\"</note>", 1),
                             "UTF-8") is None  # a value to escape: not the template


# -- typing -----------------------------------------------------------------------------
def test_card_table_types_cards_column_by_column_as_build_does():
    xml = _xml(4)
    [chunk] = [c for c in dx.scan(io.BytesIO(xml), "x.xml") if c.section == "fichas"]
    tags, rows, _ = dx.read_rows(chunk, "x.xml", "UTF-8")
    table, rejected, issues = dx.card_table(tags, rows, 1, _builder(), None)
    assert (table.num_rows, rejected, issues) == (4, [], [])
    got = table.to_pylist()
    assert [r["deaths"] for r in got] == [1, 2, 3, 4]
    assert {r["country_iso3"] for r in got} == {"GRD"}  # from the ISO3 level0
    assert [r["record_id"] for r in got] == [f"DI-GRD:{k}" for k in range(1, 5)]
    table, _, _ = dx.card_table(tags, rows, 1, _builder(), "DMO")
    assert set(table.column("country_iso3").to_pylist()) == {"DMO"}


# -- the worker pool --------------------------------------------------------------------
def test_convert_chunk_writes_a_part_with_the_worker_of_this_process(tmp_path: Path):
    xml = _xml(3)
    dx.init_worker(_builder(), None, str(tmp_path), "DI_export_grd.xml", "UTF-8")
    results = [dx.convert_chunk(c, n) for n, c in enumerate(
        dx.scan(io.BytesIO(xml), "x.xml"), start=1) if c.section in dx.BIG_SECTIONS]
    assert [(r.section, r.rows, r.rejected) for r in results] == [
        ("fichas", 3, []), ("extension", 3, [])]
    assert pq.read_table(results[0].part).column("native_key").to_pylist() == ["1", "2", "3"]
    assert Path(results[1].part).name.startswith("extension-")


def test_pool_workers_block_pandas():
    with pytest.raises(ImportError, match="not used in import workers"):
        workers.NoPandas.find_spec("pandas.core")
    assert workers.NoPandas.find_spec("pyarrow") is None
    pool = dx.new_pool(1)
    try:
        error = pool.submit(importlib.import_module, "pandas").exception(timeout=60)
        assert isinstance(error, ImportError) and "import workers" in str(error)
        assert pool.submit(sum, [1, 2]).result(timeout=60) == 3  # the worker lives on
    finally:
        pool.shutdown()
