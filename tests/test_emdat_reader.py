"""Tests of the EM-DAT reader on the synthetic fixtures in tests/data (see its README)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
try:
    from riskatlas.sources import emdat
except ImportError:  # package not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from riskatlas.sources import emdat

DATA = Path(__file__).parent / "data"
XLSX = DATA / "emdat_2023.xlsx"
CSV_2023 = DATA / "emdat_2023.csv"
LEGACY = DATA / "emdat_legacy.csv"
FIXTURES = (XLSX, CSV_2023, LEGACY)
PACKAGE_DATA = ROOT / "src" / "riskatlas" / "data"


def _head(path: Path, size: int = 8192) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _rows(path: Path) -> dict[str, tuple[int, dict[str, str]]]:
    """Rows keyed by their disaster number."""
    return {
        (row.get("DisNo.") or row["Dis No"]): (n, row) for n, row in emdat.iter_emdat_rows(path)
    }


def _crosswalk() -> dict[str, tuple[str, str]]:
    lines = (PACKAGE_DATA / "emdat_crosswalk.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# version: ")
    reader = csv.DictReader(lines[1:])
    assert reader.fieldnames == ["term", "hips_code", "group", "note"]
    table: dict[str, tuple[str, str]] = {}
    for record in reader:
        assert record["term"] not in table, f"duplicate term {record['term']}"
        table[record["term"]] = (record["hips_code"], record["group"])
    return table


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_sniff_fixtures(path: Path) -> None:
    assert emdat.sniff_emdat(path, _head(path)) == "emdat"


def test_sniff_legacy_with_short_head_still_finds_header_after_preamble() -> None:
    head = _head(LEGACY, 600)  # preamble plus the start of the header line
    assert b"Dis No" in head
    assert emdat.sniff_emdat(LEGACY, head) == "emdat"


def test_sniff_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "losses.csv"
    other.write_text("Serial,Year,Event,Deaths\n1,2015,FLOOD,3\n", encoding="utf-8")
    assert emdat.sniff_emdat(other, _head(other)) is None
    # "Dis No" inside a longer cell is not a header
    tricky = tmp_path / "notes.csv"
    tricky.write_text("note\nDis No is the EM-DAT key\n", encoding="utf-8")
    assert emdat.sniff_emdat(tricky, _head(tricky)) is None


def test_sniff_rejects_other_zip_and_workbook(tmp_path: Path) -> None:
    import zipfile

    from openpyxl import Workbook

    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "hello")
    assert emdat.sniff_emdat(archive, _head(archive)) is None

    book = tmp_path / "table.xlsx"
    wb = Workbook()
    assert wb.active is not None
    wb.active.title = "Data"
    wb.active.append(["Serial", "Event"])
    wb.save(book)
    assert emdat.sniff_emdat(book, _head(book)) is None


def test_sniff_workbook_with_header_but_other_sheet_name(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = tmp_path / "legacy.xlsx"
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "emdat data"
    ws.append(["Source:", "EM-DAT"])
    ws.append([])
    ws.append(["Dis No", "Year", "ISO", "Disaster Type", "Disaster Subtype", "Total Deaths"])
    ws.append(["2015-9301-NPL", 2015, "NPL", "Earthquake", "Ground movement", 12])
    wb.save(book)
    assert emdat.sniff_emdat(book, _head(book)) == "emdat"
    rows = list(emdat.iter_emdat_rows(book))
    assert rows == [
        (
            1,
            {
                "Dis No": "2015-9301-NPL",
                "Year": "2015",
                "ISO": "NPL",
                "Disaster Type": "Earthquake",
                "Disaster Subtype": "Ground movement",
                "Total Deaths": "12",
            },
        )
    ]
    assert emdat.emdat_to_canonical(rows[0][1])["hazard_term"] == "Earthquake/Ground movement"


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("path", "count", "first_column", "width"),
    [(XLSX, 12, "DisNo.", 46), (CSV_2023, 8, "DisNo.", 46), (LEGACY, 9, "Dis No", 47)],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_row_counts_and_columns(path: Path, count: int, first_column: str, width: int) -> None:
    rows = list(emdat.iter_emdat_rows(path))
    assert [n for n, _ in rows] == list(range(1, count + 1))
    for _, row in rows:
        assert len(row) == width
        assert next(iter(row)) == first_column
        assert all(isinstance(v, str) for v in row.values())


def test_legacy_preamble_is_skipped() -> None:
    rows = list(emdat.iter_emdat_rows(LEGACY))
    assert rows[0][0] == 1
    assert rows[0][1]["Dis No"] == "2015-9201-IDN"
    keys = {row["Dis No"] for _, row in rows}
    assert not any(k.startswith(("Source", "Version", "File", "Data", "This")) for k in keys)


def test_xlsx_cells_render_as_text() -> None:
    rows = _rows(XLSX)
    _, quake = rows["2016-9002-IDN"]
    assert quake["Start Year"] == "2016"  # not 2016.0
    assert quake["Total Deaths"] == "104"
    assert quake["Magnitude"] == "6.5"
    assert quake["Total Damage ('000 US$)"] == "120000.5"
    assert quake["Latitude"] == "5.281"
    assert quake["Last Update"] == "2023-09-25"  # a date cell
    assert quake["Event Name"] == ""
    assert quake["No. Affected"] == ""


def test_csv_cells_are_verbatim() -> None:
    rows = _rows(CSV_2023)
    _, flash = rows["2020-9104-IDN"]
    assert flash["Total Deaths"] == "n/a"
    _, slide = rows["2021-9108-IDN"]
    assert slide["Location"] == 'Cimanggung "Pondok Daud" area, Sumedang district (Jawa Barat)'
    _, heat = rows["2023-9105-KHM"]
    assert heat["Magnitude Scale"] == "°C"
    assert heat["Start Day"] == ""


def test_blank_rows_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(
        "DisNo.,ISO,Total Deaths\n2015-9001-IDN,IDN,1\n,,\n\n2015-9002-IDN,IDN,2,extra\n",
        encoding="utf-8",
    )
    rows = list(emdat.iter_emdat_rows(path))
    assert [n for n, _ in rows] == [1, 4]
    assert rows[1][1] == {
        "DisNo.": "2015-9002-IDN",
        "ISO": "IDN",
        "Total Deaths": "2",
        "column_4": "extra",
    }


def test_cp1252_fallback_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.csv"
    path.write_bytes(
        "Source:;EM-DAT – test\nDis No;ISO;Location\n2015-9001-KHM;KHM;Kâmpóng Cham\n".encode(
            "cp1252"
        )
    )
    assert emdat.sniff_emdat(path, _head(path)) == "emdat"
    from riskatlas.sources.library_warnings import DataNote

    with pytest.warns(DataNote, match="import.encoding_fallback"):  # the opener says so
        rows = list(emdat.iter_emdat_rows(path))
    assert rows == [(1, {"Dis No": "2015-9001-KHM", "ISO": "KHM", "Location": "Kâmpóng Cham"})]


def test_missing_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "nothing.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(emdat.EmdatFormatError, match="no EM-DAT header"):
        list(emdat.iter_emdat_rows(path))


# --------------------------------------------------------------------------- mapping


def test_canonical_2023_xlsx_row() -> None:
    _, row = _rows(XLSX)["2015-9001-IDN"]
    c = emdat.emdat_to_canonical(row)
    assert c == {
        "native_key": "2015-9001-IDN",
        "country_iso3": "IDN",
        "place": "Bogor, Bandung districts (Jawa Barat province)",
        "event_name": None,
        "glide": "FL-2015-000012",
        "hazard_term": "nat-hyd-flo-riv",
        "hazard_term_en": "Riverine flood",
        "magnitude": "1250 Km2",
        "latitude": None,
        "longitude": None,
        "start_year": "2015",
        "start_month": "2",
        "start_day": "9",
        "end_year": "2015",
        "end_month": "2",
        "end_day": "14",
        "deaths": "12",
        "missing": None,
        "injured": "30",
        "affected": "15000",
        "homeless": "800",
        "directly_affected": "15830",
        "losses_usd": "25000000",
        "losses_usd_adjusted": "31890000",
        "level0_code": "1234",
        "level0_name": "Jawa Barat",
        "level1_code": "5678",
        "level1_name": "Bogor",
    }


def test_canonical_2023_edge_rows() -> None:
    xlsx = _rows(XLSX)
    quake = emdat.emdat_to_canonical(xlsx["2016-9002-IDN"][1])
    assert quake["glide"] == "EQ-2016-000130"  # GLIDE among several external ids
    assert quake["magnitude"] == "6.5 Richter"
    assert quake["losses_usd"] == "120000500"
    assert quake["losses_usd_adjusted"] == "151234750"
    assert (quake["level0_code"], quake["level0_name"]) == (None, None)  # only adm2 units
    assert (quake["level1_code"], quake["level1_name"]) == ("6001", "Pidie Jaya")

    drought = emdat.emdat_to_canonical(xlsx["2019-9005-KHM"][1])
    assert drought["start_year"] == "2019"
    assert drought["start_month"] is None and drought["start_day"] is None
    assert drought["losses_usd"] is None and drought["deaths"] is None
    assert (drought["level0_code"], drought["level0_name"]) == ("1302", "Battambang")

    fire = emdat.emdat_to_canonical(xlsx["2023-9011-IDN"][1])
    assert fire["hazard_term"] == "tec-ind-fir-fir"
    assert fire["hazard_term_en"] == "Fire (Industrial)"
    assert fire["level0_code"] is None and fire["level1_code"] is None

    flash = emdat.emdat_to_canonical(_rows(CSV_2023)["2020-9104-IDN"][1])
    assert flash["deaths"] == "n/a"  # left for the record builder to set aside
    assert flash["missing"] is None


def test_canonical_legacy_rows() -> None:
    rows = _rows(LEGACY)
    flood = emdat.emdat_to_canonical(rows["2015-9201-IDN"][1])
    assert flood["native_key"] == "2015-9201-IDN"
    assert flood["hazard_term"] == "Flood/Riverine flood"
    assert flood["hazard_term_en"] == "Riverine flood"
    assert flood["glide"] == "FL-2015-000099"
    assert flood["losses_usd"] == "12000000"
    assert flood["losses_usd_adjusted"] is None  # the legacy layout has none
    assert (flood["level0_code"], flood["level1_code"]) == ("1233", "5711")
    assert flood["level0_name"] is None and flood["level1_name"] is None

    quake = emdat.emdat_to_canonical(rows["2018-9204-IDN"][1])
    assert (quake["latitude"], quake["longitude"]) == ("-8.35", "116.45")
    assert quake["magnitude"] == "6.9 Richter"
    assert quake["losses_usd"] == "545000500"
    assert quake["deaths"] == "560" and quake["injured"] == "1580"

    drought = emdat.emdat_to_canonical(rows["2019-9205-KHM"][1])
    assert drought["hazard_term"] == "Drought/Drought"
    assert drought["start_month"] is None and drought["start_day"] is None

    plain = emdat.emdat_to_canonical(rows["2017-9209-LKA"][1])
    assert plain["hazard_term"] == "Flood"
    assert plain["hazard_term_en"] == "Flood"

    storm = emdat.emdat_to_canonical(rows["2018-9208-PHL"][1])
    assert storm["hazard_term"] == "Storm/Convective storm"  # subsubtype not in the term


# --------------------------------------------------------------------------- crosswalk


def test_crosswalk_codes_and_groups_are_valid() -> None:
    hips = {
        line.split("\t", 1)[0]
        for line in (PACKAGE_DATA / "hips-2025.tsv").read_text(encoding="utf-8").splitlines()[1:]
        if line.strip()
    }
    with (PACKAGE_DATA / "reporting_groups.csv").open(encoding="utf-8", newline="") as f:
        prefixes = {r["group"]: r["hips_prefixes"].split() for r in csv.DictReader(f)}
    for term, (code, group) in _crosswalk().items():
        assert group in prefixes, f"{term}: unknown group {group}"
        if code:
            assert code in hips, f"{term}: {code} is not a HIPs 2025 code"
            if group != "other":
                assert any(code.startswith(p) for p in prefixes[group]), (term, code, group)


def test_every_fixture_hazard_term_is_crosswalked() -> None:
    table = _crosswalk()
    hips = {
        line.split("\t", 1)[0]
        for line in (PACKAGE_DATA / "hips-2025.tsv").read_text(encoding="utf-8").splitlines()[1:]
    }
    seen: set[str] = set()
    for path in FIXTURES:
        for _, row in emdat.iter_emdat_rows(path):
            term = emdat.emdat_to_canonical(row)["hazard_term"]
            assert isinstance(term, str)
            seen.add(term)
            assert term in table, f"{path.name}: {term} is not in emdat_crosswalk.csv"
            assert table[term][0] in hips, f"{term}: no valid HIPs code"
    assert "tec-ind-fir-fir" in seen and "Flood/Riverine flood" in seen
    assert table["nat-geo-ear-gro"][0] == "GH0201"
    assert table["nat-hyd-flo-coa"][1] == "coastal"
