"""Bad input: each case gives a one-line message naming file, record and field, or sets the
row aside with its reason. Nothing is lost; a killed import leaves the store unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import orjson
import pytest

from conftest import shared
from riskatlas.sources.registry import ReadOptions

CARD = {"serial": "1", "level0": "DMO01", "level1": "", "level2": "", "name0": "North",
        "name1": "", "name2": "", "evento": "FLOOD", "lugar": "x", "fechano": "2001",
        "fechames": "5", "fechadia": "0", "muertos": "2", "heridos": "0", "hay_muertos": "-1",
        "clave": "1", "approved": "0", "latitude": "0", "longitude": "0"}


def desinventar_xml(cards: list[dict[str, str]], extra: str = "") -> bytes:
    rows = "".join("<TR>" + "".join(f"<{k}>{v}</{k}>" for k, v in c.items()) + "</TR>\n"
                   for c in cards)
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<DESINVENTAR>\n<eventos>\n<TR><serial>1'
            f"</serial><nombre>FLOOD</nombre><nombre_en>FLOOD</nombre_en></TR>\n</eventos>\n"
            f"<fichas>\n{rows}</fichas>\n{extra}</DESINVENTAR>\n").encode()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def card(**changes: str) -> dict[str, str]:
    return {**CARD, **changes}


BAD_CARDS = [card(clave="1"), card(clave="2", muertos="-3"), card(clave="3", fechano="0"),
             card(clave="4", fechano="201"), card(clave="5", evento=""),
             card(clave="6", fechames="13"), card(clave="7", heridos="many"),
             card(clave="8", fechadia="31", fechames="2"), card(clave="1", serial="dup")]


def test_bad_values_are_flagged_and_their_records_kept(atlas, tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml(BAD_CARDS))
    [result] = atlas.import_paths([path])
    # only the repeated key is set aside: it cannot be a record of its own
    assert (result.records_read, result.records_imported, result.records_quarantined) == (9, 8, 1)
    [dup] = atlas.quarantine().itertuples()
    assert (dup.record_ref, dup.reason_key) == ("1", "record.duplicate_key")
    issues = {(r.record_ref, r.source_field): r for r in atlas.quality_issues().itertuples()}
    assert {k: (r.rule, r.raw_value if isinstance(r.raw_value, str) else None)
            for k, r in issues.items()} == {
        ("clave 2", "muertos"): ("record.negative", "-3"),
        ("clave 3", "fechano"): ("record.year_out_of_range", "0"),
        ("clave 3", "fechames"): ("record.needs_field", "5"),  # a month needs its year
        ("clave 4", "fechano"): ("record.year_out_of_range", "201"),
        ("clave 4", "fechames"): ("record.needs_field", "5"),
        ("clave 5", "evento"): ("record.no_hazard", None),
        ("clave 6", "fechames"): ("record.month_out_of_range", "13"),
        ("clave 7", "heridos"): ("record.not_a_number", "many"),
        ("clave 8", "fechadia"): ("record.impossible_date", "2001-2-31"),
    }
    got = {k: v for k, *v in atlas.store.query(
        "SELECT native_key, date_precision, start_month, hazard_term, deaths, injured "
        "FROM records")}
    assert got["2"][3] is None and got["7"][4] is None  # the field only
    assert got["3"][0] == got["4"][0] == "unknown"
    assert got["6"][:2] == ["year", None] and got["8"][:2] == ["month", 2]
    assert got["5"][2] == "unspecified"
    raw = orjson.loads(atlas.store.query("SELECT raw FROM records WHERE native_key = '2'")[0][0])
    assert raw["muertos"] == "-3"  # raw values are kept


def test_strict_sets_bad_records_aside_with_reason_and_raw_values(atlas, tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml(BAD_CARDS))
    [result] = atlas.import_paths([path], options=ReadOptions(strict=True))
    assert (result.records_read, result.records_imported, result.records_quarantined) == (9, 1, 8)
    rows = {r.record_ref: r for r in atlas.quarantine().itertuples()}
    assert rows["clave 2"].field == "muertos" and "negative" in rows["clave 2"].reason
    assert rows["clave 3"].field == "fechano" and "year 0 is out of range" in rows["clave 3"].reason
    assert rows["clave 4"].reason.startswith("year 201 is out of range")
    assert rows["clave 5"].field == "evento" and "hazard" in rows["clave 5"].reason
    assert rows["clave 6"].field == "fechames"
    assert rows["clave 7"].field == "heridos"
    assert rows["clave 8"].field == "fechadia"
    assert rows["1"].reason_key == "record.duplicate_key"
    raw = rows["clave 2"].raw
    raw = orjson.loads(raw) if isinstance(raw, str) else raw
    assert raw["muertos"] == "-3"  # raw values are kept


def test_control_characters_are_removed_not_fatal(atlas, tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml([card(lugar="bad\x01place\x0b")]))
    [result] = atlas.import_paths([path])
    assert result.records_imported == 1
    assert any(n["key"] == "xml.control_removed" and n["count"] == 2 for n in result.notes)
    assert atlas.store.query("SELECT place FROM records") == [("badplace",)]


def test_malformed_xml_gives_one_line_naming_file_record_and_field(tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    xml = desinventar_xml([card(clave="1"), card(clave="2")])
    path.write_bytes(xml.replace(b"<heridos>0</heridos>", b"<heridos>0</herido>", 1))
    done = run_cli("import", str(path), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DI_export_dmo.xml" in lines[0] and "malformed XML" in lines[0]
    assert "fichas row 1" in lines[0] and "heridos" in lines[0]
    assert "Traceback" not in done.stderr


def test_doctype_with_entities_is_refused(tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    xml = desinventar_xml([card()]).replace(
        b"<DESINVENTAR>", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<DESINVENTAR>')
    path.write_bytes(xml.replace(b"<lugar>x</lugar>", b"<lugar>&e;</lugar>"))
    done = run_cli("import", str(path), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 1 and "DOCTYPE" in done.stderr
    assert "root:" not in done.stdout + done.stderr


def test_truncated_zip_gives_one_line(tmp_path):
    data = shared("desinventar/grd/DI_export_grd.zip").read_bytes()
    path = tmp_path / "DI_export_grd.zip"
    path.write_bytes(data[: len(data) // 2])
    db = tmp_path / "s.duckdb"
    done = run_cli("import", str(path), "--db", str(db))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "DI_export_grd.zip" in done.stderr and "zip" in done.stderr


def test_truncated_xml_keeps_its_whole_cards_and_says_so(tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    xml = desinventar_xml([card(clave=str(i)) for i in range(1, 50)])
    path.write_bytes(xml[: len(xml) // 2])
    done = run_cli("import", str(path), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 0 and not done.stderr, done.stderr
    flat = " ".join(done.stdout.split())
    assert "24 of 24 records imported" in flat
    assert "ends inside the section fichas" in flat and "24 whole rows" in flat


def test_stray_text_after_the_sections_is_refused_in_one_line(tmp_path):
    path = tmp_path / "DI_export_dmo.xml"
    xml = desinventar_xml([card(clave="1")])
    path.write_bytes(xml.replace(b"</DESINVENTAR>", b"trailing junk"))
    done = run_cli("import", str(path), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 1 and "truncated" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _big_export(tmp_path: Path, copies: int) -> Path:
    """The Grenada cards repeated with new keys (a ~30 MB export)."""
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml")
    start, end = xml.index(b"<fichas>") + len(b"<fichas>"), xml.index(b"</fichas>")
    body = xml[start:end]
    import re

    def renumber(copy: int) -> bytes:
        return re.sub(rb"<clave>(\d+)</clave>",
                      lambda m: b"<clave>%d</clave>" % (int(m.group(1)) + 100_000 * copy), body)

    parts = [renumber(i) for i in range(copies)]
    path = tmp_path / "DI_export_big.xml"
    path.write_bytes(xml[:start] + b"".join(parts) + xml[end:])
    return path

def kill_once_staged(args: list[str], folder: Path, staged: str,
                     env: dict[str, str] | None = None) -> None:
    """Run ``riskatlas ARGS`` and SIGKILL it as soon as ``folder`` holds files matching
    ``staged`` (rows staged: midway, whatever the machine's speed)."""
    proc = subprocess.Popen([sys.executable, "-m", "riskatlas", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(staged)):
            assert proc.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline, "the import staged nothing in 120 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate()


@pytest.mark.slow
def test_sigkill_midway_leaves_store_unchanged_and_usable(tmp_path):
    db = tmp_path / "s.duckdb"
    assert run_cli("import", str(shared("desinventar/grd/DI_export_grd.zip")), "--db",
                   str(db)).returncode == 0
    big = _big_export(tmp_path, 150)
    kill_once_staged(["import", str(big), "--db", str(db), "--json"], tmp_path,
                     ".s.duckdb.import-*/**/*.parquet")
    import riskatlas

    assert list(tmp_path.glob(".s.duckdb.import-*")), "the killed import left its staging"
    with riskatlas.open(db) as atlas:
        assert not list(tmp_path.glob(".s.duckdb.import-*"))  # removed: its process is gone
        assert atlas.count_records() == 162
        assert len(atlas.datasets()) == 1
        [result] = atlas.import_paths([big])
        # another source key (DI-BIG), so no record id collides with Grenada's
        assert (result.records_imported, result.records_quarantined) == (162 * 150, 0)
        assert atlas.count_records() == 162 + result.records_imported


def test_extension_rows_without_card_or_repeated_are_kept(atlas, tmp_path):
    ext = ("<extension>\n<TR><clave_ext>1</clave_ext><deaths_female>1</deaths_female></TR>\n"
           "<TR><clave_ext>1</clave_ext><deaths_female>2</deaths_female></TR>\n"
           "<TR><clave_ext>99</clave_ext><deaths_female>3</deaths_female></TR>\n</extension>\n")
    path = tmp_path / "DI_export_dmo.xml"
    path.write_bytes(desinventar_xml([card(clave="1")], extra=ext))
    [result] = atlas.import_paths([path])
    assert result.records_imported == 1
    [(extension,)] = atlas.store.query("SELECT extension FROM records_full")
    assert orjson.loads(extension)["deaths_female"] == "1"  # the first row of the key
    kept = dict(atlas.store.query("SELECT section, count(*) FROM source_tables "
                                  "WHERE section LIKE 'extension_%' GROUP BY 1"))
    assert kept == {"extension_without_card": 1, "extension_repeated_key": 1}
    assert {n["key"] for n in result.notes} >= {"import.extension_orphans",
                                                "import.extension_duplicates"}


def test_a_file_whose_every_row_is_set_aside(tmp_path):
    """Nothing imported, everything set aside with its reason; the CLI says so."""
    from cards import card, write_cards

    path = write_cards(tmp_path / "bad.csv", [card(1, "FLOOD", 0, "01"),
                                              card(2, "FLOOD", 201, "01")])
    done = run_cli("import", str(path), "--country", "LKA", "--strict",
                   "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 0, done.stderr
    assert "0 of 2 records imported, 2 set aside" in " ".join(done.stdout.split())
