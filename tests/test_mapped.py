"""The mapping-file importer: real national tables, the synthetic example, bad mappings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson
import pytest

from conftest import TEST_DATA, shared
from riskatlas.errors import MappingError, SourceFormatError
from riskatlas.model.hazards import load_crosswalk
from riskatlas.sources import mapped, mapping_file
from riskatlas.sources.registry import ReadOptions, detect

DIBI = "idn-dibi-province/clean_DIBI_BNPB.csv"
PHILDIS = "phl-phildis/tabular/disasters_events_all.csv"
EXAMPLE_CSV = TEST_DATA / "mapped_example.csv"
EXAMPLE_MAP = TEST_DATA / "mapped_example.yaml"


def _import(atlas, path: Path, **options):
    [result] = atlas.import_paths([path], options=ReadOptions(**options) if options else None)
    assert result.format == "mapped"
    assert result.records_read == result.records_imported + result.records_quarantined
    return result


def _flagged(atlas) -> list[tuple[str, str, str]]:
    """(record, source column, rule) of every value not taken as read."""
    return atlas.store.query("SELECT record_ref, source_field, rule FROM quality_issues "
                             "ORDER BY source_file, source_row")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# -- the real tables ------------------------------------------------------------------
def test_shipped_mappings_load():
    names = mapping_file.shipped_mappings()
    assert {"idn-dibi-province", "phl-phildis"} <= set(names)
    assert names["phl-phildis"].source == "PHL-PHILDIS"
    assert mapping_file.resolve_mapping(Path("phl-phildis")) is names["phl-phildis"]


def test_dibi_imports_and_reconciles(atlas):
    path = shared(DIBI)
    assert detect(path).format == "mapped"
    result = _import(atlas, path)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        12294, 12294, 0)
    assert result.unmapped_hazards == []
    q = atlas.store.query
    assert q("SELECT DISTINCT source_key, country_iso3 FROM datasets") == [("IDN-DIBI", "IDN")]
    rows = _csv_rows(path)
    terms = {r["jenis_bencana"] for r in rows}
    assert len(terms) == 9
    assert q("SELECT count(*) FROM records WHERE hazard_group IS NULL") == [(0,)]
    # impacts reconcile with the source columns
    totals = q("SELECT sum(deaths), sum(houses_destroyed), sum(evacuated) FROM records")[0]
    assert totals == tuple(sum(int(r[c]) for r in rows)
                           for c in ("meninggal", "rumah_rusak_berat", "mengungsi"))
    # jumlah_kejadian is not lost: in raw, and summed in the aggregate notice
    events = sum(int(r["jumlah_kejadian"]) for r in rows)
    note = next(n for n in result.notes if n["key"] == "mapped.aggregated_counted")
    assert (note["rows"], note["events"], note["column"]) == (12294, events, "jumlah_kejadian")
    raw_events = q("SELECT sum(CAST(raw->>'jumlah_kejadian' AS INTEGER)) FROM records")
    assert raw_events == [(events,)]
    # repeated keys are disambiguated, never set aside
    assert q("SELECT count(DISTINCT record_id) FROM records") == [(12294,)]
    assert q("SELECT count(*) FROM records WHERE date_precision <> 'year'") == [(0,)]
    # provinces by name, level 0
    provinces = {r["provinsi"] for r in rows}
    assert q("SELECT count(*), count(DISTINCT code) FROM admin_units WHERE level = 0") == [
        (len(provinces), len(provinces))]
    assert q("SELECT count(*) FROM records WHERE level0_code <> level0_name") == [(0,)]


def test_phildis_imports_and_reconciles(atlas):
    path = shared(PHILDIS)
    assert detect(path).format == "mapped"
    result = _import(atlas, path)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        1347, 1347, 0)
    assert result.unmapped_hazards == []
    reasons = [(ref.split(" (")[0], field, key) for ref, field, key in _flagged(atlas)]
    assert sorted(reasons) == sorted([
        ("row 147", "damage_total", "record.not_a_number"),  # '0..003'
        ("row 313", "date_start / date_year / disaster_id", "record.no_year"),
        ("row 314", "date_start / date_year / disaster_id", "record.no_year"),
        ("row 315", "date_start", "record.bad_date"),  # '10-18', date_year '10-1'
        ("row 316", "date_start", "record.bad_date"),  # '10-15', date_year '10-1'
        ("row 317", "date_start / date_year / disaster_id", "record.no_year"),
    ])
    q = atlas.store.query
    # every type maps; '#N/A' rows keep a hazard recovered from disaster_id
    assert q("SELECT count(*) FROM records WHERE hazard_group IS NULL") == [(0,)]
    rows = _csv_rows(path)
    na_ids = {r["disaster_id"] for r in rows if r["type"] == "#N/A"}
    na = dict(q("SELECT raw->>'disaster_id', any_value(hazard_term) FROM records "
                "WHERE raw->>'type' = '#N/A' GROUP BY 1"))
    assert set(na) == na_ids
    assert na["RedTide_1995-04-16"] == "Red Tide"
    assert na["TropicalStorm_1995-09-27_TropicalStormMameng"] == "Tropical Cyclone"
    assert q("SELECT count(*) FROM records WHERE hazard_term = '#N/A'") == [(0,)]
    # dates: day precision from date_start, year-month from the id when blank
    lando = q("SELECT DISTINCT start_year, start_month, date_precision FROM records "
              "WHERE native_key LIKE 'TropicalCyclone_2015-10_TyphoonLando|%'")
    assert lando == [(2015, 10, "month")]
    # damage_total in millions of pesos
    raw_total = q("SELECT sum(CAST(raw->>'damage_total' AS DOUBLE)) FROM records "
                  "WHERE losses_local IS NOT NULL")[0][0]
    assert q("SELECT sum(losses_local) FROM records")[0][0] == pytest.approx(raw_total * 1e6)
    assert q("SELECT losses_local FROM records WHERE native_key = "
             "'TropicalCyclone_1986-10-10_TropicalStormPasing|PH175900000'") == [(28_740_000.0,)]


def test_phildis_units_have_geometry(atlas):
    path = shared(PHILDIS)
    result = _import(atlas, path, mapping=Path("phl-phildis"))  # a shipped mapping by name
    boundary_codes: set[str] = set()
    for name in ("phildis_provinces.geojson", "phildis_ncr.geojson"):
        features = json.loads((path.parents[1] / "spatial" / name).read_bytes())["features"]
        boundary_codes |= {f["properties"]["ph_psgc"] for f in features
                           if f["properties"].get("ph_psgc")}
    q = atlas.store.query
    with_geometry = {c for (c,) in q("SELECT code FROM admin_units WHERE geometry IS NOT NULL")}
    assert with_geometry == boundary_codes
    assert q("SELECT DISTINCT level FROM admin_units") == [(0,)]
    assert q("SELECT name FROM admin_units WHERE code = 'PH133900000'") == [("City of Manila",)]
    # most records point at a unit with a geometry
    linked = q("SELECT count(*) FROM records r JOIN admin_units u ON u.code = r.level0_code "
               "WHERE u.geometry IS NOT NULL")[0][0]
    assert linked > 0.9 * result.records_imported
    read = [n for n in result.notes if n["key"] == "mapped.boundaries_read"]
    assert sorted(n["count"] for n in read) == [17, 81]


def test_phildis_reimport_is_unchanged(atlas):
    path = shared(PHILDIS)
    first = _import(atlas, path)
    [again] = atlas.import_paths([path])
    assert again.status == "unchanged" and again.dataset_id == first.dataset_id
    assert atlas.store.query("SELECT count(*) FROM records") == [(first.records_imported,)]


# -- the synthetic example ------------------------------------------------------------
def _import_example(atlas, table: Path = EXAMPLE_CSV, mapping: Path = EXAMPLE_MAP):
    [result] = atlas.import_paths([table], format="mapped",
                                  options=ReadOptions(mapping=mapping))
    assert result.records_read == result.records_imported + result.records_quarantined
    return result


def test_example_imports_with_explicit_mapping(atlas):
    result = _import_example(atlas)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        8, 8, 0)
    assert result.unmapped_hazards == []
    notes = {n["key"]: n for n in result.notes}
    assert notes["mapped.blank_rows"]["count"] == 1
    assert notes["mapped.aggregated_counted"]["events"] == 9
    q = atlas.store.query
    got = {r[0]: r[1:] for r in q(
        "SELECT native_key, start_year, start_month, start_day, date_precision, hazard_term, "
        "deaths, houses_destroyed, losses_local, level0_code, level1_code, country_iso3 "
        "FROM records")}
    assert got == {
        "SYN-001": (2020, 7, 14, "day", "Flood", 3, 12, 1_500_500.0, "Synthetic North", "N01",
                    "NPL"),
        "SYN-002": (2020, 8, None, "month", "Landslide", 2, None, None, "Synthetic North",
                    "N02", "NPL"),
        "SYN-003": (2021, None, None, "year", "Storm", 0, 5, 250_000.0, "Synthetic South",
                    "S01", "NPL"),
        "SYN-003~2": (2021, None, None, "year", "Storm", 1, 0, 0.0, "Synthetic South", "S02",
                      "NPL"),
        "SYN-004": (2019, 3, None, "month", "Flood", None, None, None, "Synthetic South",
                    "S01", "NPL"),
        "SYN-007": (2022, 5, 2, "day", "Landslide", 0, 1, 750.0, "Synthetic South", "S02",
                    "NPL"),
        # 'many' deaths: that field only is lost; no year: the date is unknown
        "SYN-005": (2018, None, None, "year", "Drought", None, None, None, "Synthetic North",
                    "N01", "NPL"),
        "SYN-006": (None, None, None, "unknown", "Flood", None, None, None, "Synthetic North",
                    "N02", "NPL"),
    }
    assert q("SELECT record_id FROM records WHERE native_key = 'SYN-001'") == [
        ("SYN-EXAMPLE:SYN-001",)]
    assert _flagged(atlas) == [("row 7 (SYN-005)", "dead", "record.not_a_number"),
                               ("row 8 (SYN-006)", "date / year / code", "record.no_year")]
    # every source column kept verbatim in raw, mapped or not, for every row
    source = [r for r in _csv_rows_semicolon(EXAMPLE_CSV) if r["event_no"]]
    stored = [orjson.loads(raw) for (raw,) in q("SELECT raw FROM records ORDER BY source_row")]
    assert stored == source
    assert q("SELECT count(*) FROM quarantine") == [(0,)]
    # units: provinces by name (level 0), districts by code with their parent (level 1)
    units = set(q("SELECT level, code, name, parent_code FROM admin_units"))
    assert units == {
        (0, "Synthetic North", "Synthetic North", None),
        (0, "Synthetic South", "Synthetic South", None),
        (1, "N01", "Alpha Vale", "Synthetic North"),
        (1, "N02", "Beta Ridge", "Synthetic North"),
        (1, "S01", "Gamma Bay", "Synthetic South"),
        (1, "S02", "Delta Flats", "Synthetic South"),  # tie of spellings: the first seen
    }
    assert q("SELECT level, name FROM admin_levels ORDER BY 1") == [
        (0, "Province"), (1, "District")]
    [(text,)] = q("""SELECT "row"->>'text' FROM source_tables WHERE section = 'mapping'""")
    assert text == EXAMPLE_MAP.read_text("utf-8")


def _csv_rows_semicolon(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_example_reimport_is_unchanged(atlas):
    first = _import_example(atlas)
    again = _import_example(atlas)
    assert again.status == "unchanged" and again.dataset_id == first.dataset_id
    assert atlas.store.query("SELECT count(*) FROM records") == [(8,)]


def test_example_as_workbook_reads_the_same(atlas, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    with EXAMPLE_CSV.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter=";"):
            sheet.append([int(c) if c.isdigit() and not c.startswith("0") else c for c in row])
    table = tmp_path / "example.xlsx"
    book.save(table)
    result = _import_example(atlas, table)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        8, 8, 0)
    assert atlas.store.query("SELECT sum(deaths), sum(losses_local) FROM records") == [
        (6, 1_751_250.0)]


def test_country_option_overrides_the_mapping(atlas):
    [result] = atlas.import_paths([EXAMPLE_CSV], format="mapped",
                                  options=ReadOptions(mapping=EXAMPLE_MAP, country="LKA"))
    q = atlas.store.query
    assert q("SELECT DISTINCT country_iso3 FROM records") == [("LKA",)]
    assert q("SELECT country_iso3 FROM datasets") == [("LKA",)]
    assert result.records_imported == 8


def test_example_is_not_sniffed_and_needs_a_mapping():
    head = EXAMPLE_CSV.read_bytes()[:4096]
    assert not mapped.sniff(EXAMPLE_CSV, head)
    with pytest.raises(SourceFormatError) as info:
        mapped.mapping_for(EXAMPLE_CSV, ReadOptions())
    assert info.value.key == "mapped.no_mapping"


def test_boundaries_relative_to_the_mapping_and_missing_file(atlas, tmp_path):
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "N01", "label": "Alpha Vale (map)"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}
    (tmp_path / "districts.geojson").write_text(json.dumps(geo))
    text = EXAMPLE_MAP.read_text("utf-8") + (
        "boundaries:\n"
        "  - {file: districts.geojson, code: id, name: label, level: 1}\n"
        "  - {file: absent.geojson, code: id}\n")
    mapping = tmp_path / "with-boundaries.yaml"
    mapping.write_text(text)
    result = _import_example(atlas, EXAMPLE_CSV, mapping)
    q = atlas.store.query
    assert q("SELECT name, parent_code, centroid_lon > 0 FROM admin_units "
             "WHERE geometry IS NOT NULL") == [("Alpha Vale (map)", "Synthetic North", True)]
    keys = [n["key"] for n in result.notes]
    assert "mapped.boundaries_read" in keys and "mapped.boundaries_missing" in keys


def test_missing_columns_fail_with_the_mapping_named(atlas, tmp_path):
    table = tmp_path / "short.csv"
    table.write_text("event_no;year\nX;2020\n", encoding="utf-8")
    with pytest.raises(SourceFormatError) as info:
        _import_example(atlas, table)
    assert info.value.key == "mapped.columns_missing"
    assert "hazard" in info.value.params["columns"]
    assert info.value.params["mapping"] == str(EXAMPLE_MAP)


# -- mapping validation ---------------------------------------------------------------
def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "version: 1\nsource: X\nname: X\ncolumns:\n  year: start_year\n  hazard: hazard_term\n"


@pytest.mark.parametrize(("text", "message", "key"), [
    (GOOD.replace("hazard: hazard_term", "hazard: hazard_kind"), "mapping.unknown_field",
     "columns.hazard"),
    ("version: 1\nsource: X\nname: X\n", "mapping.missing_key", "columns"),
    (GOOD.replace("version: 1", "version: 2"), "mapping.bad_version", "version"),
    (GOOD + "colums: {}\n", "mapping.unknown_key", "colums"),
    (GOOD + "country: XYZ\n", "mapping.bad_country", "country"),
    (GOOD + "scale: {comments: 10}\n", "mapping.not_scalable", "scale.comments"),
    (GOOD + "scale: {deaths: many}\n", "mapping.expected_number", "scale.deaths"),
    (GOOD + "date: {column: d, format: '%m/%d'}\n", "mapping.bad_date_format", "date.format"),
    (GOOD + "derive: [{column: c, pattern: '(?P<year>\\d+)'}]\n", "mapping.unknown_field",
     "derive[0].pattern"),
    (GOOD + "derive: [{column: c, pattern: '(['}]\n", "mapping.bad_pattern",
     "derive[0].pattern"),
    (GOOD + "key: {a: b}\n", "mapping.expected_list", "key"),
    (GOOD + "columns2: x\n", "mapping.unknown_key", "columns2"),
    (GOOD.replace("source: X\n", ""), "mapping.missing_key", "source"),
    ("- just\n- a list\n", "mapping.expected_table", "-"),
    ("version: [1\n", "mapping.bad_yaml", "-"),
])
def test_bad_mapping_is_rejected_naming_file_and_key(tmp_path, text, message, key):
    path = _write(tmp_path, text)
    with pytest.raises(MappingError) as info:
        mapping_file.load_mapping(path)
    error = info.value
    assert (error.key, error.params["key"], error.params["path"]) == (message, key, str(path))
    assert str(path) in str(error) and key in str(error)


def test_unknown_mapping_name_lists_the_shipped_ones():
    with pytest.raises(MappingError) as info:
        mapping_file.resolve_mapping(Path("no-such-mapping"))
    assert info.value.key == "mapping.not_found"
    assert "phl-phildis" in info.value.params["available"]


def test_good_mapping_loads(tmp_path):
    mapping = mapping_file.load_mapping(_write(tmp_path, GOOD))
    assert mapping.columns == (("year", "start_year"), ("hazard", "hazard_term"))
    assert mapping.key == () and not mapping.aggregated


def test_partial_dates():
    assert mapped.parse_partial_date("2015-10-25", "%Y-%m-%d") == ("2015", "10", "25")
    assert mapped.parse_partial_date("2015-10", "%Y-%m-%d") == ("2015", "10", None)
    assert mapped.parse_partial_date("2015", "%Y-%m-%d") == ("2015", None, None)
    assert mapped.parse_partial_date("25/10/2015", "%d/%m/%Y") == ("2015", "10", "25")
    assert mapped.parse_partial_date("10-18", "%Y-%m-%d") is None


def test_every_hazard_term_of_the_shared_tables_maps():
    crosswalk = load_crosswalk()
    dibi = {r["jenis_bencana"] for r in _csv_rows(shared(DIBI))}
    phildis = {r["type"] for r in _csv_rows(shared(PHILDIS))} - {"#N/A"}
    values = mapping_file.shipped_mappings()["phl-phildis"].values["hazard_term"].values()
    unmapped = sorted(t for t in dibi | phildis | set(values) if crosswalk.match(t) is None)
    assert unmapped == []


def test_column_option_overrides_the_mapping(atlas, tmp_path):
    """--column FIELD=COLUMN reads the field from that column only, instead of the
    mapping's columns for it (dead, then dead_alt); FIELD= reads it from none."""
    example = TEST_DATA / "mapped_example.csv"
    options = ReadOptions(mapping=TEST_DATA / "mapped_example.yaml",
                          columns={"deaths": "DEAD_ALT", "houses_destroyed": ""})
    [result] = atlas.import_paths([example], options=options)
    assert result.records_read == result.records_imported > 0
    rows = list(csv.DictReader(example.read_text("utf-8").splitlines(), delimiter=";"))
    got = dict(atlas.store.query("SELECT source_row, deaths FROM records"))
    assert got == {i: int(r["dead_alt"]) if r["dead_alt"].strip() else None
                   for i, r in enumerate(rows, start=1) if i in got}
    assert atlas.store.query("SELECT count(houses_destroyed) FROM records") == [(0,)]
    other = tmp_path / "other.csv"  # not the same file: read again
    other.write_text(example.read_text("utf-8").replace("SYN-", "OTH-"), encoding="utf-8")
    with pytest.raises(SourceFormatError) as caught:
        atlas.import_paths([other], options=ReadOptions(
            mapping=TEST_DATA / "mapped_example.yaml", columns={"deaths": "nowhere"}))
    assert caught.value.key == "headers.unknown_column"
