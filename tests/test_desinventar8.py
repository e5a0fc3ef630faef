"""DesInventar 8 ("online") databases: the Bolivia Gran Chaco seed imports and reconciles."""

from __future__ import annotations

import sqlite3
import tarfile
import zipfile
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from conftest import shared
from riskatlas.sources.registry import ReadOptions, detect, head_bytes, readers

SEED = "desinventar8/bol-gran-chaco/seed.tar.gz"
REGION = "database/TEST"


def _di8():
    """The reader module, with the registry's readers loaded (from the entry points)."""
    readers()
    from riskatlas.sources import desinventar8

    return desinventar8


@pytest.fixture(autouse=True)
def _registered():
    _di8()


def _import(atlas, path: Path):
    [result, *more] = atlas.import_paths([path])
    for r in (result, *more):
        assert r.records_read == r.records_imported + r.records_quarantined
    return result


def _extract(tmp_path: Path) -> Path:
    """The seed's region folder (database, info.xml, shapefiles) under tmp_path."""
    with tarfile.open(shared(SEED)) as archive:
        archive.extractall(tmp_path / "seed", filter="data")
    return tmp_path / "seed" / REGION


def _source_rows(db: Path, table: str) -> list[dict]:
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(f"SELECT * FROM {table}")]


def test_seed_imports_reconciled_with_units_and_boundaries(atlas):
    result = _import(atlas, shared(SEED))
    assert result.format == "desinventar8"
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        109, 109, 0)
    assert result.unmapped_hazards == []
    q = atlas.store.query
    assert q("SELECT source_key, country_iso3 FROM datasets") == [("DI8-TEST", "BOL")]
    units = q("SELECT level, count(*), count(geometry), count(parent_code) FROM admin_units "
              "WHERE country_iso3 = 'BOL' GROUP BY 1 ORDER BY 1")
    assert units == [(0, 9, 9, 0), (1, 112, 112, 112), (2, 323, 0, 323)]
    assert q("SELECT name, parent_code FROM admin_units WHERE level = 1 AND code = '0110'") == [
        ("Luis Calvo", "01")]
    # La Paz has 15 parts in the shapefile (lake islands): one dissolved multipolygon
    [(geometry,)] = q("SELECT geometry FROM admin_units WHERE level = 0 AND code = '02'")
    assert orjson.loads(geometry)["type"] == "MultiPolygon"
    assert q("SELECT level, name FROM admin_levels ORDER BY 1") == [
        (0, "Departamento"), (1, "Provincia"), (2, "Nivel 2")]
    # the whole event catalogue (37 events, one custom) maps
    assert q("SELECT count(*), count(hazard_group) FROM hazard_terms") == [(37, 37)]
    hazards = dict(q("SELECT hazard_term_en, count(*) FROM records GROUP BY 1"))
    assert (hazards["DROUGHT"], hazards["FLOOD"], hazards["EPIDEMIC"]) == (33, 22, 19)
    sections = dict(q("SELECT section, count(*) FROM source_tables GROUP BY 1"))
    assert sections == {"Event": 37, "Cause": 36, "Geography": 444, "GeoLevel": 3,
                        "GeoCarto": 3, "Info": 38}
    assert q("SELECT count(*) FROM records WHERE level0_code IS NULL") == [(0,)]


def test_seed_round_trip(atlas, tmp_path):
    _import(atlas, shared(SEED))
    q = atlas.store.query
    cols = ("serial", "hazard_term", "hazard_term_en", "hips_code", "start_date",
            "date_precision", "level0_code", "level0_name", "level1_code", "level1_name",
            "place", "cause", "cause_description", "missing", "deaths", "injured_unknown",
            "losses_local", "losses_usd", "sources", "recorded_by", "approval_status",
            "latitude")
    [row] = q(f"SELECT {', '.join(cols)} FROM records WHERE serial = '1971-0004'")
    first = dict(zip(cols, row, strict=True))
    assert first["hazard_term"] == "Aluvión" and first["hazard_term_en"] == "ALLUVION"
    assert first["hips_code"] == "GH0303"
    assert str(first["start_date"]) == "1971-01-19" and first["date_precision"] == "day"
    assert (first["level0_code"], first["level0_name"]) == ("01", "CHUQUISACA")
    assert (first["level1_code"], first["level1_name"]) == ("0110", "Luis Calvo")
    assert first["place"] == "Provincias Luis Calvo y Hernandos Siles"
    assert (first["cause"], first["cause_description"]) == ("Lluvias", "Fuertes lluvias")
    assert (first["missing"], first["deaths"], first["injured_unknown"]) == (5, 0, True)
    # the USD column holds the 100,000,000 (the local-currency column is 0)
    assert (first["losses_usd"], first["losses_local"]) == (100_000_000, 0)
    assert (first["sources"], first["recorded_by"]) == ("EL DIARIO 20/ene", "VH-CBS")
    assert first["approval_status"] == "published" and first["latitude"] is None

    # every Disaster row is kept verbatim in raw, its EEData row in extension
    db = _extract(tmp_path) / "desinventar.db"
    source = {r["DisasterId"]: r for r in _source_rows(db, "Disaster")}
    extension = {r["DisasterId"]: r for r in _source_rows(db, "EEData")}
    stored = {k: (orjson.loads(raw), orjson.loads(ext), deaths, unknown) for k, raw, ext, deaths,
              unknown in q("SELECT native_key, raw, extension, deaths, deaths_unknown "
                           "FROM records_full")}
    assert stored.keys() == source.keys()
    for key, card in source.items():
        raw, ext, deaths, unknown = stored[key]
        assert raw == card
        assert ext == extension[key]
        assert (deaths, unknown) == ((None, True) if card["EffectPeopleDead"] == -1
                                     else (card["EffectPeopleDeadQ"], False))
    assert q("SELECT sum(deaths), sum(deaths_unknown::INT) FROM records") == [(166, 5)]


def test_bare_database_file(atlas, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    db = folder / "desinventar.db"
    db.write_bytes((_extract(tmp_path) / "desinventar.db").read_bytes())
    db.chmod(0o444)
    result = _import(atlas, db)
    assert (result.records_read, result.records_imported) == (109, 109)
    assert result.unmapped_hazards == []
    assert {n["key"] for n in result.notes} == {"di8.no_shapefile"}  # no maps beside it
    assert atlas.store.query("SELECT count(*) FROM admin_units WHERE geometry IS NULL") == [
        (444,)]
    assert [p.name for p in folder.iterdir()] == ["desinventar.db"]  # nothing written beside


def test_region_folder_and_zip(tmp_path):
    import riskatlas

    region = _extract(tmp_path)
    with riskatlas.open(tmp_path / "folder.duckdb") as atlas:
        results = atlas.import_paths([region])  # desinventar.db + info.xml: one dataset
        assert {r.dataset_id for r in results} == {1}
        assert sum(r.records_imported for r in results) == 109
        assert atlas.store.query("SELECT count(geometry) FROM admin_units") == [(121,)]
    archive = tmp_path / "region.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(region.iterdir()):
            zf.write(path, f"TEST/{path.name}")
    with riskatlas.open(tmp_path / "zip.duckdb") as atlas:
        result = _import(atlas, archive)
        assert (result.format, result.records_imported) == ("desinventar8", 109)
        assert atlas.store.query("SELECT count(geometry) FROM admin_units") == [(121,)]


def test_second_import_is_unchanged(atlas):
    first = _import(atlas, shared(SEED))
    before = atlas.store.query("SELECT count(*), sum(deaths) FROM records")
    [again] = atlas.import_paths([shared(SEED)])
    assert again.status == "unchanged" and again.dataset_id == first.dataset_id
    assert atlas.store.query("SELECT count(*), sum(deaths) FROM records") == before
    assert atlas.store.query("SELECT count(*) FROM datasets") == [(1,)]


def test_statuses_deleted_cards_and_partial_dates(atlas, tmp_path):
    db = tmp_path / "edited" / "desinventar.db"
    db.parent.mkdir()
    db.write_bytes((_extract(tmp_path) / "desinventar.db").read_bytes())
    serials = [r["DisasterSerial"] for r in _source_rows(db, "Disaster")][:6]
    edits = [("RecordStatus = 'DELETED'", serials[0]), ("RecordStatus = 'READY'", serials[1]),
             ("RecordStatus = 'DRAFT'", serials[2]), ("RecordStatus = 'ODD'", serials[3]),
             ("DisasterBeginTime = '1980-00-00', EffectLiveStock = -1", serials[4]),
             ("DisasterBeginTime = '1981-05', EffectPeopleDead = 7, EffectPeopleDeadQ = 0",
              serials[5])]
    with closing(sqlite3.connect(db)) as con:
        for change, serial in edits:
            con.execute(f"UPDATE Disaster SET {change} WHERE DisasterSerial = ?", [serial])
        con.commit()
    result = _import(atlas, db)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        109, 108, 1)
    q = atlas.store.query
    [(ref, field, key)] = q("SELECT record_ref, field, reason_key FROM quarantine")
    assert (ref, field, key) == (f"DisasterSerial {serials[0]}", "RecordStatus", "di8.deleted")
    status = dict(q("SELECT serial, approval_status FROM records"))
    assert [status[s] for s in serials[1:4]] == ["submitted", "draft", "draft"]
    assert any(n["key"] == "di8.unknown_status" and n["statuses"] == "ODD" for n in result.notes)
    assert q(f"SELECT start_year, date_precision, livestock, livestock_unknown FROM records "
             f"WHERE serial = '{serials[4]}'") == [(1980, "year", None, True)]
    assert q(f"SELECT start_month, date_precision, deaths FROM records "
             f"WHERE serial = '{serials[5]}'") == [(5, "month", 7)]


def test_sniff(tmp_path):
    di8 = _di8()
    assert di8.sniff(shared(SEED), head_bytes(shared(SEED)))
    region = _extract(tmp_path)
    assert detect(region / "desinventar.db").format == "desinventar8"
    core = tmp_path / "seed" / "main" / "core.db"  # a SQLite file without a Disaster table
    assert not di8.sniff(core, head_bytes(core))
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as archive:
        archive.add(region / "info.xml", "x/info.xml")
    assert not di8.sniff(other, head_bytes(other))
    assert di8.source_key(shared(SEED), ReadOptions()) == "DI8-TEST"


@pytest.mark.parametrize(("value", "expected"), [
    ("1971-01-19", (1971, 1, 19)), ("1971-01", (1971, 1, None)), ("1971", (1971, None, None)),
    ("1971-00-00", (1971, None, None)), ("1971-01-19 10:00:00", (1971, 1, 19)),
    ("", (None, None, None)), ("unknown", ("unknown", None, None)),
])
def test_begin_time(value, expected):
    assert _di8().begin_time(value) == expected


@pytest.mark.parametrize(("flag", "q", "expected"), [
    (5, 5, (5, False)), (-1, 0, (None, True)), (0, 0, (0, False)), (7, 0, (7, False)),
    (-2, 0, (None, False)), (None, None, (None, False)),
])
def test_quantity(flag, q, expected):
    assert _di8().quantity(flag, q) == expected


@pytest.mark.parametrize(("harmed", "affected", "expected"), [
    ((-1, 0), (-1, 0), (None, True)),  # both reported but unknown: unknown, not 0
    ((-1, 0), (0, 0), (0, False)),  # one known zero
    ((-1, 0), (40, 40), (40, False)),  # the known part only
    ((5, 5), (-1, None), (5, False)),
    ((0, 0), (0, 0), (0, False)),
    ((None, None), (None, None), (None, False)),  # not reported
])
def test_directly_affected_is_the_shared_rule(harmed, affected, expected):
    """A DesInventar 8 card is renamed to DesInventar fields and read by the shared
    card_values: the same directly affected as the XML card with the same hay_* flags."""
    from riskatlas.sources.desinventar_fields import card_columns, card_values

    di8 = _di8()
    row = {"DisasterId": "x", "EffectPeopleHarmed": harmed[0], "EffectPeopleHarmedQ": harmed[1],
           "EffectPeopleAffected": affected[0], "EffectPeopleAffectedQ": affected[1]}
    values, unknown = di8.card_values(row, di8.Catalogues(None, {}, {}, {}))
    fields, _ = di8.card_fields(row, di8.Catalogues(None, {}, {}, {}))
    assert (values["directly_affected"], "directly_affected" in unknown) == expected
    xml = {k: None if v is None else str(v) for k, v in fields.items()}
    same, same_unknown = card_values(xml)
    assert (same["directly_affected"], "directly_affected" in same_unknown) == expected
    columns, flagged = card_columns(lambda name: [xml[name]] if name in xml else None)
    assert columns["directly_affected"] == [same["directly_affected"]]
    assert flagged.get("directly_affected", [False]) == [expected[1]]
