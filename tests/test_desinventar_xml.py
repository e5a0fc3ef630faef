"""DesInventar XML exports: every real file imports and reconciles exactly."""

from __future__ import annotations

import re
import zipfile

import orjson
import pytest

from conftest import shared

GRD = "desinventar/grd/DI_export_grd.zip"


def _import(atlas, relative):
    [result] = atlas.import_paths([shared(relative)])
    assert result.records_read == result.records_imported + result.records_quarantined
    assert result.fields_read == result.fields_accepted + result.fields_flagged
    return result


def test_grenada_reconciles_with_extension_and_boundaries(atlas):
    result = _import(atlas, GRD)
    assert (result.records_read, result.records_imported, result.records_quarantined) == (
        162, 162, 0)
    assert result.unmapped_hazards == []
    q = atlas.store.query
    assert q("SELECT count(extension) FROM records_full") == [(162,)]
    levels = dict(q("SELECT level, count(*) FROM admin_units WHERE geometry IS NOT NULL "
                    "GROUP BY 1"))
    assert set(levels) == {0, 1, 2}
    assert q("SELECT count(*) FROM admin_units WHERE level = 2") == [(176,)]
    hazards = dict(q("SELECT hazard_term, count(*) FROM records GROUP BY 1"))
    assert (hazards["HURRICANE"], hazards["STORM"], hazards["FLOOD"], hazards["FIRE"]) == (
        27, 19, 19, 19)
    assert q("SELECT count(latitude) FROM records") == [(67,)]  # the rest say 0,0: unknown
    assert q("SELECT count(*) FROM records WHERE level2_code IS NULL") == [(60,)]


def test_grenada_round_trip_every_field(atlas):
    """Every field of every card, extension included, reads back unchanged."""
    path = shared(GRD)
    _import(atlas, GRD)
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("DI_export_grd.xml").decode("utf-8")
    from lxml import etree

    root = etree.fromstring(xml.encode())
    cards = {tr.findtext("clave"): {el.tag: el.text or "" for el in tr}
             for tr in root.find("fichas")}
    extension = {tr.findtext("clave_ext"): {el.tag: el.text or "" for el in tr}
                 for tr in root.find("extension")}
    stored = {key: (orjson.loads(raw), orjson.loads(ext)) for key, raw, ext in atlas.store.query(
        "SELECT native_key, raw, extension FROM records_full")}
    assert len(cards) == len(stored) == 162
    for key, card in cards.items():
        raw, ext = stored[key]
        assert raw == card
        assert ext == extension[key]
    # typed values agree with the source too
    deaths = dict(atlas.store.query("SELECT native_key, deaths FROM records"))
    assert all(deaths[k] == int(c["muertos"]) for k, c in cards.items()
               if not (c["muertos"] == "0" and c["hay_muertos"] == "-1"))


@pytest.mark.parametrize(("relative", "cards", "units"), [
    ("desinventar/bdi/DI_export_bdi.zip", 0, {0: 18, 1: 119}),
    ("desinventar/nga/DI_export_nga.zip", 1, {0: 37, 1: 773}),
])
def test_gazetteer_only_exports(atlas, relative, cards, units):
    result = _import(atlas, relative)
    assert result.records_imported == cards
    assert result.unmapped_hazards == []
    counts = dict(atlas.store.query("SELECT level, count(*) FROM admin_units GROUP BY 1"))
    assert counts == units
    with_geometry = atlas.store.query("SELECT count(*) FROM admin_units WHERE geometry IS NOT "
                                      "NULL AND level = 0")[0][0]
    assert with_geometry == units[0]


def test_sendai_rollup_upper_case(atlas):
    result = _import(atlas, "desinventar/s20/DI_export_s20.zip")
    assert (result.records_read, result.records_imported) == (911, 911)
    assert result.unmapped_hazards == []
    q = atlas.store.query
    assert q("SELECT count(DISTINCT country_iso3) FROM records") == [(110,)]
    assert q("SELECT count(extension) FROM records_full") == [(911,)]
    assert q("SELECT DISTINCT hazard_group FROM records") == [("other",)]


def test_crosswalk_maps_every_event_name_in_the_files(atlas):
    for relative in ("desinventar/grd/DI_export_grd.zip", "desinventar/bdi/DI_export_bdi.zip",
                     "desinventar/nga/DI_export_nga.zip", "desinventar/s20/DI_export_s20.zip"):
        with zipfile.ZipFile(shared(relative)) as archive:
            xml = next(archive.read(n) for n in archive.namelist() if n.endswith(".xml"))
        section = re.search(rb"(?is)<eventos>(.*?)</eventos>", xml).group(1)
        names = re.findall(rb"(?i)<nombre>(.*?)</nombre>", section)
        assert names
        _import(atlas, relative)
    assert atlas.hazard_terms(unmapped=True).empty


@pytest.mark.parametrize("chunk_bytes", [700, 5_000, 1 << 20])
def test_scanner_cuts_whole_rows_at_any_chunk_size(chunk_bytes):
    """Rows longer than a chunk, closing tags across reads: the same rows every time."""
    import io

    from riskatlas.sources.desinventar_xml import parse_rows, scan

    with zipfile.ZipFile(shared(GRD)) as archive:
        xml = archive.read("DI_export_grd.xml")
    rows: dict[str, list[dict[str, str]]] = {}
    for chunk in scan(io.BytesIO(xml), "grd.xml", chunk_bytes):
        rows.setdefault(chunk.section, []).extend(parse_rows(chunk, "grd.xml", "UTF-8")[0])
    assert len(rows["fichas"]) == len(rows["extension"]) == 162
    assert len(rows["lev2"]) == 176 and len(rows["eventos"]) == 39
    assert [r["clave"] for r in rows["fichas"]][:3] == ["325", "326", "327"]


def test_the_file_checksum_is_kept_and_a_second_import_changes_nothing(atlas):
    from riskatlas.importer import sha256_of

    path = shared(GRD)
    [first] = atlas.import_paths([path])
    assert atlas.store.query("SELECT sha256 FROM dataset_files") == [(sha256_of(path),)]
    [again] = atlas.import_paths([path])
    assert (again.status, again.dataset_id) == ("unchanged", first.dataset_id)


def test_a_dataset_takes_the_one_country_of_its_records(atlas):
    """An export that names no country (Grenada's XML) gets its records' one country."""
    [result] = atlas.import_paths([shared(GRD)])
    assert atlas.store.query("SELECT country_iso3 FROM datasets WHERE dataset_id = ?",
                             [result.dataset_id]) == [("GRD",)]
