"""Truncated and repeated input is reported, with the rows that were read kept: a CSV that
ends inside a quoted value, a table with fewer rows than its preamble announces, blank and
repeated headers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from conftest import TEST_DATA, shared
from riskatlas.i18n import translate
from riskatlas.sources.registry import ReadOptions


def _notes(result) -> dict[str, dict[str, object]]:
    return {n["key"]: n for n in result.notes}


def _say(note: dict[str, object]) -> list[str]:
    params = {k: v for k, v in note.items() if k != "key"}
    return [translate(str(note["key"]), lang, **params) for lang in ("en", "zh-TW")]


def _emdat_with_three_rows(path: Path, announcement: str) -> Path:
    """The legacy EM-DAT fixture cut to three rows, its preamble opened by ``announcement``."""
    lines = (TEST_DATA / "emdat_legacy.csv").read_text("utf-8").splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if line.startswith("Dis No"))
    path.write_text(announcement + "\n" + "".join(lines[:header + 4]), encoding="utf-8")
    return path


def test_a_table_with_fewer_rows_than_announced(atlas, tmp_path: Path):
    path = _emdat_with_three_rows(tmp_path / "emdat_cut.csv", "Number of records:,1069")
    [result] = atlas.import_paths([path])
    assert result.records_read == result.records_imported == 3
    note = _notes(result)["table.rows_announced"]
    assert (note["announced"], note["read"], note["path"]) == (1069, 3, "emdat_cut.csv")
    assert all("1069" in text and "3" in text for text in _say(note))


def test_a_table_holding_the_rows_it_announces_has_no_note(atlas, tmp_path: Path):
    # two announced, three held: rows were added after the count was written
    path = _emdat_with_three_rows(tmp_path / "emdat_whole.csv", "Records:,2")
    [result] = atlas.import_paths([path])
    assert _notes(result)["table.rows_announced"]["read"] == 3
    _emdat_with_three_rows(path, "Records:,3")
    [again] = atlas.import_paths([path])
    assert "table.rows_announced" not in _notes(again)


def test_a_csv_cut_inside_a_quoted_value(atlas, tmp_path: Path):
    text = (TEST_DATA / "mapped_example.csv").read_text("utf-8")
    cut = text[:text.index('"river overflowed') + 8]  # inside the first quoted comment
    path = tmp_path / "cut.csv"
    path.write_text(cut, encoding="utf-8")
    [result] = atlas.import_paths([path], format="mapped", options=ReadOptions(
        mapping=TEST_DATA / "mapped_example.yaml"))
    assert result.records_read == result.records_imported == 1  # the row is kept as found
    note = _notes(result)["table.ends_in_quotes"]
    assert note["line"] == 2
    assert all("2" in text for text in _say(note))


def test_a_flat_export_cut_inside_a_quoted_value(atlas, tmp_path: Path):
    path = tmp_path / "cut.csv"
    path.write_text('serial,year,event,place,deaths\n1,2010,FLOOD,"North",1\n'
                    '2,2011,FLOOD,"South\n3,2012,FLOOD,East,2\n', encoding="utf-8")
    [result] = atlas.import_paths([path], options=ReadOptions(country="NPL"))
    assert result.records_read == result.records_imported == 2
    assert _notes(result)["table.ends_in_quotes"]["line"] == 3


def test_blank_and_repeated_headers_are_noted(atlas, tmp_path: Path):
    text = (TEST_DATA / "mapped_example.csv").read_text("utf-8")
    header, rest = text.split("\n", 1)
    path = tmp_path / "repeated.csv"
    path.write_text(header + ";;dead\n" + rest, encoding="utf-8")
    [result] = atlas.import_paths([path], format="mapped", options=ReadOptions(
        mapping=TEST_DATA / "mapped_example.yaml"))
    notes = _notes(result)
    assert notes["table.repeated_header"]["header"] == "dead"
    assert notes["table.repeated_header"]["column"] == "dead (2)"
    assert notes["table.blank_header"]["column"].startswith("column_")
    # the first 'dead' column is the one read: the same deaths as the file without repeats
    assert atlas.store.query("SELECT sum(deaths) FROM records") == [(6,)]


@pytest.mark.parametrize("zipped", [False, True], ids=["xml", "zip"])
def test_an_xml_export_cut_inside_its_cards(atlas, tmp_path: Path, zipped: bool):
    """The whole cards before the cut are imported; the note names the section and line."""
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml")
    start = xml.index(b"<fichas>")
    cut = xml.index(b"</TR>", start + 200_000) + len(b"</TR>") + 40  # into the next card
    path = tmp_path / "DI_export_grd.xml"
    path.write_bytes(xml[:cut])
    if zipped:
        with zipfile.ZipFile(tmp_path / "DI_export_grd.zip", "w") as archive:
            archive.write(path, "DI_export_grd.xml")
        path.unlink()
        path = tmp_path / "DI_export_grd.zip"
    [result] = atlas.import_paths([path])
    whole = xml[start:cut].count(b"</TR>")
    assert result.records_read == result.records_imported == whole
    note = _notes(result)["xml.unclosed"]
    assert (note["section"], note["rows"]) == ("fichas", whole)
    last = xml.rindex(b"</TR>", 0, cut) + len(b"</TR>")
    assert note["line"] == xml[:last].count(b"\n") + 1
    assert all("fichas" in text for text in _say(note))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_tables_are_read(atlas, tmp_path: Path, encoding: str):
    """A table saved as "Unicode text" (UTF-16, with or without a byte-order mark)."""
    text = (TEST_DATA / "desinventar_flat_en.csv").read_text("utf-8-sig")
    path = tmp_path / "unicode.csv"
    path.write_bytes(text.encode(encoding))
    [result] = atlas.import_paths([path], options=ReadOptions(country="DMO"))
    [reference] = atlas.import_paths([TEST_DATA / "desinventar_flat_en.csv"],
                                     options=ReadOptions(country="COL"))
    assert result.records_read == result.records_imported == reference.records_imported > 0
    deaths = dict(atlas.store.query("SELECT country_iso3, sum(deaths) FROM records GROUP BY 1"))
    assert deaths["DMO"] == deaths["COL"]


def test_a_nul_in_a_cell_costs_nothing_but_a_note(atlas, tmp_path: Path):
    text = (TEST_DATA / "desinventar_flat_en.csv").read_text("utf-8-sig")
    path = tmp_path / "nul.csv"
    path.write_text(text.replace("Invented row", "Invented\x00 row", 1), encoding="utf-8")
    [result] = atlas.import_paths([path], options=ReadOptions(country="DMO"))
    assert result.records_read == result.records_imported > 0
    assert _notes(result)["table.nul_removed"]["count"] == 1
    assert atlas.store.query("SELECT count(*) FROM records WHERE comments = 'Invented row'")[0][0]


@pytest.mark.parametrize("zipped", [False, True], ids=["xml", "zip"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_xml_export_is_read(atlas, tmp_path: Path, encoding: str, zipped: bool):
    """A UTF-16 export, as a plain file or inside the downloaded zip."""
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml").decode("utf-8")
    data = xml.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode(encoding)
    path = tmp_path / ("DI_export_grd.zip" if zipped else "DI_export_grd.xml")
    if zipped:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("DI_export_grd.xml", data)
    else:
        path.write_bytes(data)
    [result] = atlas.import_paths([path])
    assert result.records_read == result.records_imported == 162
    assert atlas.store.query("SELECT count(*) FROM records WHERE place LIKE '%Waltham%'")[0][0]


def test_a_repeated_xml_element_keeps_its_first_value_with_a_note(atlas, tmp_path: Path):
    """A card naming a field twice: the first element with a value is read (a blank repeat
    never empties the field), the other value stays in the raw row, and a note names the
    section, the element and the first card."""
    import re

    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml").decode("utf-8")
    cards = [m for m in re.finditer(r"<TR>.*?</TR>", xml, re.S)
             if re.search(r"<muertos>[1-9]\d*</muertos>", m.group(0))
             and "<clave>" in m.group(0)][:2]
    (first, second) = cards
    deaths = [int(re.search(r"<muertos>(\d+)</muertos>", c.group(0)).group(1)) for c in cards]
    keys = [re.search(r"<clave>(\w+)</clave>", c.group(0)).group(1) for c in cards]
    edits = {first.start(): re.sub(r"<muertos>", "<muertos></muertos><muertos>",
                                   first.group(0), count=1),
             second.start(): re.sub(r"</muertos>", "</muertos><MUERTOS>999</MUERTOS>",
                                    second.group(0), count=1)}
    out, at = [], 0
    for start, text in sorted(edits.items()):
        out += [xml[at:start], text]
        at = start + len(xml[start:].split("</TR>", 1)[0]) + len("</TR>")
    path = tmp_path / "DI_export_grd.xml"
    path.write_text("".join(out) + xml[at:], encoding="utf-8")
    [result] = atlas.import_paths([path])
    assert result.records_read == result.records_imported == 162
    got = dict(atlas.store.query("SELECT native_key, deaths FROM records WHERE native_key IN "
                                 "(?, ?)", keys))
    assert got == dict(zip(keys, deaths, strict=True))
    [(raw,)] = atlas.store.query("SELECT raw FROM records WHERE native_key = ?", [keys[1]])
    assert json.loads(raw)["muertos (2)"] == "999"
    note = _notes(result)["xml.repeated_element"]
    assert (note["section"], note["element"], note["rows"], note["first"]) == (
        "fichas", "muertos", 2, f"clave {keys[0]}")
    assert all("muertos" in text and "fichas" in text for text in _say(note))
