"""Tests of the DesInventar flat-table reader (CSV/XLSX from DesConsultar).

The synthetic fixtures are described in tests/data/README.md; the Nepal test uses the real
25-part export in ../shared/data (skipped when that folder is absent).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from conftest import shared
from riskatlas.api import Atlas
from riskatlas.errors import SourceFormatError
from riskatlas.importer import FileResult
from riskatlas.sources import desinventar_flat as flat
from riskatlas.sources.desinventar_fields import CARD_FIELDS, HAY_FLAGS
from riskatlas.sources.registry import ReadOptions, detect, head_bytes

DATA = Path(__file__).parent / "data"
NEPAL = "desinventar/npl-xlsx"  # in ../shared/data (conftest.shared)
PACKAGE_DATA = Path(flat.__file__).resolve().parents[1] / "data"
FIXTURES = sorted(DATA.glob("desinventar_flat_*"))


@pytest.fixture
def atlas(tmp_path: Path) -> Iterator[Atlas]:
    with riskatlas.open(tmp_path / "store.duckdb") as store:
        yield store


def one(atlas: Atlas, path: Path, **options: Any) -> FileResult:
    """Import one file and return its result (the synthetic fixtures name no country:
    Demoland's DMO unless the test says otherwise)."""
    options.setdefault("country", "DMO")
    results = atlas.import_paths([path], options=ReadOptions(**options))
    assert len(results) == 1
    return results[0]


def rows(atlas: Atlas, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = atlas.store.connection.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def records(atlas: Atlas, dataset: int | None) -> dict[str, dict[str, Any]]:
    found = rows(atlas, "SELECT * FROM records WHERE dataset_id = ? ORDER BY source_row", dataset)
    return {r["native_key"]: r for r in found}


# -- header synonyms ------------------------------------------------------------------
def test_normalize_header() -> None:
    assert flat.normalize_header("Losses $USD") == "lossesusd"
    assert flat.normalize_header("losses_usd") == "lossesusd"
    assert flat.normalize_header("\ufeffAño") == "ano"
    assert flat.normalize_header(" Damages in crops Ha. ") == "damagesincropsha"


def test_headers_file_names_only_known_fields() -> None:
    known = {*CARD_FIELDS, *HAY_FLAGS, "approved", *flat.GIS_FIELDS}
    lines = (PACKAGE_DATA / flat.HEADERS_FILE).read_text("utf-8").splitlines()
    assert lines[0].startswith("# version: ")
    table = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert table and {r["field"] for r in table} <= known
    pairs = [(flat.normalize_header(r["header"]), r["field"]) for r in table]
    assert len(pairs) == len(set(pairs)), "a header is listed twice for the same field"


@pytest.mark.parametrize(("header", "field"), [
    ("Dead_Peopl", "muertos"), ("Affected_H", "vivafec"), ("Affected_R", "kmvias"),
    ("Farming_an", "nhectareas"), ("Medical_Ce", "nhospitales"), ("Informatio", "fuentes"),
    ("Losses__US", "valorus"), ("Directly affected", "afectados"), ("Losses $Local", "valorloc"),
    ("admin_level_2_code", "level2"), ("admin_level_1_name", "name1"), ("fechano", "fechano"),
    ("houses_destroyed", "vivdest"), ("deaths", "muertos"), ("start_year", "fechano"),
    ("POINT_X", "gis_x"), ("Damages in crops Ha.", "nhectareas"), ("di_comments", "di_comments"),
])
def test_header_synonyms(header: str, field: str) -> None:
    assert flat.map_header([header]).columns == {field: 0}


def test_education_is_read_by_its_header_not_by_its_neighbours() -> None:
    # a bare sector name is the sector flag, with or without a centres column beside it
    alone = flat.map_header(["Year", "Event", "Education"])
    assert alone.columns == {"fechano": 0, "evento": 1, "educacion": 2}
    both = flat.map_header(["Education", "Education centers"])
    assert both.columns == {"educacion": 0, "nescuelas": 1}
    # in a table of DBF labels (Nepal) "Education" is the cut of "Education centers"
    dbf = flat.map_header(["Year", "Event", "Dead_Peopl", "Education"])
    assert dbf.layout == "dbf" and dbf.columns["nescuelas"] == 3


def test_repeated_field_keeps_the_first_column() -> None:
    mapping = flat.map_header(["Deaths", "Dead_Peopl", "Year"])
    assert mapping.columns["muertos"] == 0
    assert mapping.repeated == [("muertos", "Deaths", "Dead_Peopl")]


# -- sniffing and naming --------------------------------------------------------------
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_sniff_fixtures(path: Path) -> None:
    assert flat.sniff(path, head_bytes(path))
    assert detect(path).format == flat.FORMAT


@pytest.mark.parametrize("name", ["emdat_2023.csv", "emdat_2023.xlsx", "emdat_legacy.csv"])
def test_sniff_refuses_emdat(name: str) -> None:
    path = DATA / name
    assert not flat.sniff(path, head_bytes(path))


@pytest.mark.parametrize("content", [
    "Serial,Year,Deaths\n1,2015,3\n",  # no event column
    "Serial,Event,Deaths\n1,FLOOD,3\n",  # no year column
    "DisNo.,Year,Event,Deaths\n2015-0001-IDN,2015,Flood,3\n",  # EM-DAT
    "Serial,Year,Month,Event,Serial,Year\n1,2015,1,FLOOD,2,2016\n",  # a join of two tables
    "just some text\nwith lines\n",
])
def test_sniff_refuses_other_tables(tmp_path: Path, content: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(content, encoding="utf-8")
    assert not flat.sniff(path, head_bytes(path))


def test_sniff_refuses_nepal_duplicate_lists() -> None:
    # analysts' lists of suspected duplicates (two joined cards per row): not exports
    for name in ("events_dup.csv", "events_dup_sn.csv"):
        path = shared(f"{NEPAL}/{name}")
        assert not flat.sniff(path, head_bytes(path))


def test_family_and_source_key(tmp_path: Path) -> None:
    parts = [Path("/x/npl/DesInventar2016-00.xlsx"), Path("/x/npl/DesInventar2016-24.xlsx")]
    assert len({flat.family(p) for p in parts}) == 1
    assert flat.family(parts[0]) != flat.family(Path("/y/DesInventar2016-00.xlsx"))
    assert flat.family(parts[0]) != flat.family(Path("/x/npl/events_dup.csv"))
    assert flat.family_stem(Path("2016.csv")) == "2016"
    assert flat.source_key(parts[0], ReadOptions()) == "DI-DESINVENTAR"
    assert flat.source_key(parts[0], ReadOptions(country="npl")) == "DI-NPL"
    assert flat.source_key(Path("DI_export_col.csv"), ReadOptions()) == "DI-COL"
    assert flat.country_of(Path("DI_export_xyz.csv"), ReadOptions()) is None  # not ISO3
    assert flat.country_of(Path("desinventar_and_more.csv"), ReadOptions()) is None


# -- the synthetic fixtures -----------------------------------------------------------
def test_spanish_field_names(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_es.csv")
    assert (result.records_read, result.records_imported, result.records_quarantined) == (6, 6, 0)
    assert result.unmapped_hazards == []
    got = records(atlas, result.dataset_id)
    first = got["S-001"]
    assert first["record_id"] == "DI-DMO:S-001"
    assert (first["deaths"], first["injured"], first["missing"]) == (2, 5, 0)
    assert (first["affected"], first["victims"], first["directly_affected"]) == (120, 30, 150)
    assert (first["houses_destroyed"], first["houses_damaged"]) == (1, 14)
    assert (first["losses_local"], first["losses_usd"]) == (150000000, 50000)
    assert (first["level0_code"], first["level0_name"]) == ("91", "Provincia Norte")
    assert (first["level1_code"], first["level1_name"]) == ("91001", "Municipio Alfa")
    assert first["hazard_group"] == "flood" and first["cause"] == "LLUVIAS"
    assert first["country_iso3"] == "DMO"
    # the repeated serial gets a suffix; thousands separators are read
    assert got["S-001~2"]["losses_local"] == 1234567
    # month 0 = unknown; 31 September keeps the month
    assert got["S-002"]["date_precision"] == "year"
    assert (got["S-003"]["start_month"], got["S-003"]["start_day"]) == (9, None)
    # hay_muertos = -1 with muertos = 0: deaths reported but unknown
    assert got["S-004"]["deaths"] is None and got["S-004"]["deaths_unknown"] is True
    assert got["S-003"]["deaths"] is None and got["S-003"]["deaths_unknown"] is False
    units = rows(atlas, "SELECT level, code, name, parent_code FROM admin_units ORDER BY 1, 2")
    assert units[0] == {"level": 0, "code": "91", "name": "Provincia Norte", "parent_code": None}
    assert {"level": 1, "code": "92002", "name": "Municipio Delta", "parent_code": "92"} in units


def test_english_labels(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_en.csv", country="col")
    assert (result.records_read, result.records_imported) == (5, 5)
    got = records(atlas, result.dataset_id)
    flood = got["101"]
    assert flood["record_id"] == "DI-COL:101" and flood["country_iso3"] == "COL"
    assert (flood["deaths"], flood["injured"], flood["missing"]) == (4, 10, 1)
    assert (flood["houses_destroyed"], flood["houses_damaged"]) == (12, 40)
    assert (flood["affected"], flood["victims"], flood["directly_affected"]) == (250, 60, 310)
    assert (flood["relocated"], flood["evacuated"]) == (5, 80)
    assert (flood["losses_local"], flood["losses_usd"]) == (2000000, 20000.5)
    assert (flood["schools"], flood["hospitals"], flood["livestock"]) == (1, 0, 12)
    assert (flood["crops_ha"], flood["roads_km"], flood["duration_days"]) == (35.5, 300, 3)
    assert flood["cause_description"] == "Three days of rain"
    assert flood["sources"] == "Synthetic Gazette 2010-07-16"
    assert flood["other_losses"] == "2 bridges" and flood["glide"] == "FL-2010-999901-ZZZ"
    assert (flood["latitude"], flood["longitude"]) == (8.25, -75.5)
    assert (got["102"]["latitude"], got["102"]["longitude"]) == (None, None)  # 0,0 = unknown
    assert got["103"]["date_precision"] == "month"
    assert got["105"]["magnitude"] == "5.6" and got["105"]["level1_code"] is None
    raw = json.loads(flood["raw"])
    assert list(raw)[:3] == ["Serial", "Year", "Month"]  # the BOM is not part of the header
    assert raw["Losses $USD"] == "20000.5"


def test_snake_case_admin_levels(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_snake.csv")
    assert (result.records_read, result.records_imported) == (5, 5)
    got = records(atlas, result.dataset_id)
    assert (got["1"]["level2_code"], got["1"]["level2_name"]) == ("A0101", "Village A1-1")
    assert (got["1"]["deaths"], got["1"]["missing"], got["1"]["directly_affected"]) == (3, 2, 70)
    assert got["4"]["level1_code"] is None and got["4"]["losses_usd"] == 1500000
    levels = rows(atlas, "SELECT level, count(*) AS n FROM admin_units GROUP BY 1 ORDER BY 1")
    assert [(r["level"], r["n"]) for r in levels] == [(0, 2), (1, 3), (2, 3)]
    village = rows(atlas, "SELECT parent_code FROM admin_units WHERE code = 'B0101'")
    assert village == [{"parent_code": "B01"}]


def test_quoted_newlines(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_multiline.csv")
    assert (result.records_read, result.records_imported) == (5, 5)
    got = records(atlas, result.dataset_id)
    assert got["M1"]["comments"] == "First line of the comment.\nSecond line, after a newline."
    assert got["M1"]["place"] == "North bank, ward 2"
    assert got["M2"]["place"] == 'Main "Old" market'
    assert got["M2"]["comments"] == 'He said "run";\r\nthen left.'
    assert got["M4"]["comments"] == "Three\n\nlines"
    assert [r["source_row"] for r in got.values()] == [1, 2, 3, 4, 5]


def test_cp1252_fallback(atlas: Atlas) -> None:
    path = DATA / "desinventar_flat_cp1252.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    result = one(atlas, path)
    assert (result.records_read, result.records_imported) == (5, 5)
    assert {"key": "import.encoding_fallback", "path": path.name,
            "encoding": "cp1252"} in result.notes
    got = records(atlas, result.dataset_id)
    assert [r["place"] for r in got.values()] == [
        "El Peñol", "Bogotá", "São Tomé", "Cúcuta", "Ibagué"]
    assert got["C1"]["comments"] == "Río crecido – sintético"
    assert got["C2"]["comments"] == "Daño leve’s"
    assert json.loads(got["C3"]["raw"])["Comments"] == "œuvre détruite"


INVALID = {  # record: (source field, canonical field, rule, raw value, what is kept)
    "X1": ("Deaths", "deaths", "record.negative", "-3", "blanked"),
    "X2": ("Year", "start_year", "record.year_out_of_range", "201", "date_precision"),
    "X3": ("Year", "start_year", "record.year_out_of_range", "0", "date_precision"),
    "X4": ("Event", "hazard_term", "record.no_hazard", None, "unspecified"),
}
# the month and day of a year that is not kept go with it, each with an issue of its own
DEPENDENT = {(key, field): (source, field, "record.needs_field", value, "date_precision")
             for key, value in (("X2", "3"), ("X3", "4"))  # month and day alike
             for source, field in (("Month", "start_month"), ("Day", "start_day"))}


def test_a_bad_value_costs_its_field_not_the_record(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_invalid.csv")
    # two blank rows are skipped and not counted
    assert (result.records_read, result.records_imported, result.records_quarantined) == (6, 6, 0)
    assert result.fields_flagged == len(INVALID) + len(DEPENDENT)
    assert result.fields_read == result.fields_accepted + result.fields_flagged
    got = records(atlas, result.dataset_id)
    assert set(got) == {"V1", "V2", *INVALID}
    assert got["X1"]["deaths"] is None and got["X1"]["injured"] == 0
    assert not got["X1"]["deaths_unknown"]  # invalid, not "reported but unknown"
    assert (got["X2"]["start_year"], got["X2"]["date_precision"]) == (None, "unknown")
    assert (got["X4"]["hazard_term"], got["X4"]["deaths"]) == ("unspecified", 4)
    issues = {(r["record_id"].split(":")[-1], r["field"]): r for r in rows(
        atlas, "SELECT * FROM quality_issues WHERE dataset_id = ?", result.dataset_id)}
    expected = {**{(key, i[1]): i for key, i in INVALID.items()}, **DEPENDENT}
    assert set(issues) == set(expected)
    for (key, _), (source_field, field, rule, value, action) in expected.items():
        row = issues[(key, field)]
        assert (row["source_field"], row["field"], row["rule"]) == (source_field, field, rule)
        assert (row["raw_value"], row["action"]) == (value, action)
        assert row["message_en"] and row["message_zh"] and row["message_en"] != row["message_zh"]
        if value is not None:
            assert value in row["message_en"] and value in row["message_zh"]
        assert json.loads(got[key]["raw"])[source_field] == (value or "")


def test_strict_sets_the_whole_record_aside(atlas: Atlas) -> None:
    result = one(atlas, DATA / "desinventar_flat_invalid.csv", strict=True)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (6, 2, 4)
    assert set(records(atlas, result.dataset_id)) == {"V1", "V2"}
    aside = {r["record_ref"]: r for r in rows(atlas, "SELECT * FROM quarantine")}
    assert {ref.split()[1]: (r["field"], r["reason_key"]) for ref, r in aside.items()} == {
        key: (source_field, rule) for key, (source_field, _, rule, _, _) in INVALID.items()}
    raw = json.loads(aside["serial X1 (row 2)"]["raw"])
    assert list(raw) == ["Serial", "Year", "Month", "Day", "Event", "Place", "Deaths", "Injured"]
    assert raw["Deaths"] == "-3"
    assert rows(atlas, "SELECT * FROM quality_issues") == []


def test_workbook_with_dbf_labels(atlas: Atlas) -> None:
    path = DATA / "desinventar_flat_dbf.xlsx"
    advanced: list[int] = []
    result = one(atlas, path, progress=advanced.append)
    assert sum(advanced) == path.stat().st_size
    assert (result.records_read, result.records_imported) == (6, 6)
    assert [n["key"] for n in result.notes] == ["flat.columns_raw_only"]
    got = records(atlas, result.dataset_id)
    assert list(got) == ["90001", "90002", "90002~2", "90004", "90005", "90006"]
    second = got["90002"]
    assert (second["deaths"], second["missing"], second["affected"]) == (2, 1, 234)
    assert (second["houses_destroyed"], second["houses_damaged"]) == (18, 5)
    assert (second["roads_km"], second["crops_ha"], second["livestock"]) == (50, 12.5, 3)
    assert (second["schools"], second["losses_local"], second["duration_days"]) == (1, 440800.5, 3)
    assert second["sources"] == "Synthetic Daily" and second["cause"] == "HEAVY RAINS"
    assert (second["level0_code"], second["level1_code"]) == ("9", "009001001")
    assert (second["level1_name"], second["level2_name"]) == ("District One", "VDC TWO")
    assert (second["latitude"], second["longitude"]) == (28.2, 84.2)  # from POINT_Y / POINT_X
    assert got["90004"]["serial"] == "90004" and got["90004"]["level2_code"] is None
    assert got["90004"]["magnitude"] == "6.8"
    raw = json.loads(got["90001"]["raw"])
    assert (raw["Year"], raw["level0"], raw["Place"]) == ("1977", "9", " ")
    assert raw["POINT_X"] == "84.1234567891" and raw["ZONE"] == "Zone X"
    assert raw["Insertion"] == "2004-3-16" and raw["Losses_Val"] == "242000"
    units = {(r["level"], r["code"]): r for r in rows(atlas, "SELECT * FROM admin_units")}
    assert units[(0, "9")]["centroid_lon"] is None  # no centroid for level 0
    vdc = units[(2, "009001001001")]  # two rows with two different points
    assert vdc["centroid_lon"] == pytest.approx((84.1234567891 + 84.3) / 2)
    assert vdc["centroid_lat"] == pytest.approx((28.1234567891 + 28.3) / 2)
    assert units[(2, "009001002001")]["centroid_lon"] == 84.6  # two rows, one point
    district = units[(1, "009001001")]  # mean of its distinct points
    assert district["centroid_lon"] == pytest.approx((84.1234567891 + 84.2 + 84.3) / 3)
    assert district["parent_code"] == "9" and vdc["parent_code"] == "009001001"
    assert units[(1, "008001001")]["name"] == "District Three"
    levels = rows(atlas, "SELECT level, name FROM admin_levels ORDER BY 1")
    assert [r["name"] for r in levels] == ["region", "district", "village"]


def test_parts_form_one_dataset(atlas: Atlas, tmp_path: Path) -> None:
    lines = (DATA / "desinventar_flat_es.csv").read_text("utf-8").splitlines(keepends=True)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "losses-01.csv").write_text("".join(lines[:4]), encoding="utf-8")
    (folder / "losses-02.csv").write_text(lines[0] + "".join(lines[4:]), encoding="utf-8")
    results = atlas.import_paths([folder], options=ReadOptions(country="DMO"))
    assert [r.records_imported for r in results] == [3, 3]
    assert len({r.dataset_id for r in results}) == 1
    assert results[0].dataset_id is not None
    ids = {r["record_id"] for r in rows(atlas, "SELECT record_id FROM records")}
    assert "DI-DMO:S-001~2" in ids  # the repeat in part 2 follows the first in part 1
    again = atlas.import_paths([folder], options=ReadOptions(country="DMO"))
    assert {r.status for r in again} == {"unchanged"}
    assert rows(atlas, "SELECT count(*) AS n FROM records") == [{"n": 6}]


def test_country_from_a_desinventar_export_name(atlas: Atlas, tmp_path: Path) -> None:
    path = tmp_path / "DI_export_col.csv"
    shutil.copy(DATA / "desinventar_flat_es.csv", path)
    result = one(atlas, path, country=None)
    got = records(atlas, result.dataset_id)
    assert {r["country_iso3"] for r in got.values()} == {"COL"}
    assert got["S-001"]["record_id"] == "DI-COL:S-001"
    units = rows(atlas, "SELECT DISTINCT country_iso3 FROM admin_units")
    assert units == [{"country_iso3": "COL"}]


def test_country_from_a_country_named_in_the_file_name(atlas: Atlas, tmp_path: Path) -> None:
    path = tmp_path / "desinventar_sri_lanka_2016.csv"
    shutil.copy(DATA / "desinventar_flat_es.csv", path)
    result = one(atlas, path, country=None)
    assert {r["country_iso3"] for r in records(atlas, result.dataset_id).values()} == {"LKA"}


def test_no_country_anywhere_stops_before_writing(atlas: Atlas, tmp_path: Path) -> None:
    """Never a record without a country: a one-line message asks for --country."""
    path = tmp_path / "losses.csv"
    shutil.copy(DATA / "desinventar_flat_es.csv", path)
    with pytest.raises(SourceFormatError) as caught:
        one(atlas, path, country=None)
    assert caught.value.key == "flat.no_country"
    message = caught.value.render("en")
    assert "losses.csv" in message and "--country" in message and "\n" not in message
    assert "--country" in caught.value.render("zh-TW")
    assert rows(atlas, "SELECT count(*) AS n FROM records") == [{"n": 0}]
    assert rows(atlas, "SELECT count(*) AS n FROM datasets") == [{"n": 0}]


def test_country_from_iso3_level0_and_repeated_column(atlas: Atlas, tmp_path: Path) -> None:
    path = tmp_path / "rollup.csv"
    path.write_text("serial,year,event,deaths,Dead_Peopl,level0,name0,level1,name1\n"
                    "1,2015,FLOOD,3,9,NPL,Nepal,P1,Province 1\n"
                    "2,2016,FLOOD,1,9,COL,Colombia,P1,Antioquia\n", encoding="utf-8")
    result = atlas.import_paths([path], format=flat.FORMAT)[0]
    assert {"key": "flat.repeated_column", "path": path.name, "field": "muertos",
            "used": "deaths", "ignored": "Dead_Peopl"} in result.notes
    got = records(atlas, result.dataset_id)
    assert [(r["country_iso3"], r["deaths"]) for r in got.values()] == [("NPL", 3), ("COL", 1)]
    units = rows(atlas, "SELECT country_iso3, level, code, name, parent_code FROM admin_units "
                        "ORDER BY 1, 2")
    assert [tuple(u.values()) for u in units] == [
        ("COL", 0, "COL", "Colombia", None), ("COL", 1, "P1", "Antioquia", "COL"),
        ("NPL", 0, "NPL", "Nepal", None), ("NPL", 1, "P1", "Province 1", "NPL"),
    ]


def test_csv_progress_and_preamble(atlas: Atlas, tmp_path: Path) -> None:
    path = tmp_path / "with_title.csv"
    body = (DATA / "desinventar_flat_multiline.csv").read_text("utf-8")
    path.write_text("DesConsultar query results\n\n" + body, encoding="utf-8")
    advanced: list[int] = []
    result = one(atlas, path, progress=advanced.append)
    assert result.records_imported == 5 and sum(advanced) == path.stat().st_size


def test_forced_format_without_header(atlas: Atlas, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(SourceFormatError) as caught:
        atlas.import_paths([path], format=flat.FORMAT)
    assert caught.value.key == "flat.no_header"
    assert rows(atlas, "SELECT count(*) AS n FROM datasets") == [{"n": 0}]


# -- the real Nepal export ------------------------------------------------------------
@pytest.fixture(scope="module")
def nepal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Atlas, list[FileResult]]]:
    parts = sorted(shared(NEPAL).glob("DesInventar2016-*.xlsx"))
    assert len(parts) == 25
    with riskatlas.open(tmp_path_factory.mktemp("npl") / "store.duckdb") as store:
        yield store, store.import_paths(parts, options=ReadOptions(country="NPL"))


def test_nepal_one_dataset_all_records(nepal: tuple[Atlas, list[FileResult]]) -> None:
    atlas, results = nepal
    assert len(results) == 25 and len({r.dataset_id for r in results}) == 1
    read = sum(r.records_read for r in results)
    imported = sum(r.records_imported for r in results)
    aside = sum(r.records_quarantined for r in results)
    assert (read, imported, aside) == (25849, 25849, 0), rows(
        atlas, "SELECT reason_key, field, count(*) AS n FROM quarantine GROUP BY ALL")
    assert all(r.records_read == r.records_imported for r in results)
    assert all(r.fields_read == r.fields_accepted + r.fields_flagged for r in results)
    assert sum(r.fields_read for r in results) > 25849 * 20  # fields of every card
    assert results[0].unmapped_hazards == []
    total = rows(atlas, "SELECT sum(deaths) AS deaths, count(DISTINCT hazard_term) AS terms, "
                        "count(*) FILTER (WHERE hazard_group IS NULL) AS unmapped, "
                        "count(*) FILTER (WHERE native_key LIKE '%~%') AS repeated "
                        "FROM records")
    assert total == [{"deaths": 43007, "terms": 29, "unmapped": 0, "repeated": 0}]
    dataset = rows(atlas, "SELECT source_key, country_iso3, records_read FROM datasets")
    assert dataset == [{"source_key": "DI-NPL", "country_iso3": "NPL", "records_read": 25849}]


def test_nepal_admin_units(nepal: tuple[Atlas, list[FileResult]]) -> None:
    atlas, _ = nepal
    levels = rows(atlas, "SELECT level, count(*) AS n, count(centroid_lon) AS located, "
                         "count(DISTINCT name) AS names FROM admin_units "
                         "WHERE country_iso3 = 'NPL' GROUP BY 1 ORDER BY 1")
    assert levels[0] == {"level": 0, "n": 5, "located": 0, "names": 5}
    assert levels[1] == {"level": 1, "n": 75, "located": 75, "names": 75}
    assert levels[2]["n"] == levels[2]["located"] > 3000
    districts = rows(atlas, "SELECT count(DISTINCT level1_code) AS n FROM records")
    assert districts == [{"n": 75}]
    bardiya = rows(atlas, "SELECT name, parent_code, centroid_lon, centroid_lat "
                          "FROM admin_units WHERE level = 1 AND code = '004012058'")
    assert bardiya[0]["name"] == "Bardiya" and bardiya[0]["parent_code"] == "4"
    assert 80 < bardiya[0]["centroid_lon"] < 82 and 28 < bardiya[0]["centroid_lat"] < 29
    outside = rows(atlas, "SELECT count(*) AS n FROM records WHERE latitude IS NULL OR NOT "
                          "(longitude BETWEEN 80 AND 88.3 AND latitude BETWEEN 26.3 AND 30.5)")
    assert outside == [{"n": 0}]


def test_nepal_import_again_adds_nothing(nepal: tuple[Atlas, list[FileResult]]) -> None:
    atlas, first = nepal
    parts = [Path(r.path) for r in first]
    again = atlas.import_paths(parts, options=ReadOptions(country="NPL"))
    assert {r.status for r in again} == {"unchanged"}
    assert {r.dataset_id for r in again} == {first[0].dataset_id}
    assert rows(atlas, "SELECT count(*) AS n FROM records") == [{"n": 25849}]
    assert rows(atlas, "SELECT count(*) AS n FROM datasets") == [{"n": 1}]
