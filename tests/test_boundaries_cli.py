"""``riskatlas boundaries FILE``: boundary files the tests build (GeoJSON, shapefile .shp and
.zip via pyshp, GeoPackage via sqlite3) matched to stores imported from ../shared/data,
by code or by name, with the units and features that did not match reported.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import sqlite3
import struct
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
import shapefile
import shapely
from shapely.geometry import MultiPoint, box, mapping

from riskatlas.services.boundaries import code_key, name_key
from test_cli import run_cli

WGS84_PRJ = ('GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,'
             '298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')
UTM_PRJ = ('PROJCS["WGS_1984_UTM_Zone_20N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",'
           'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
           'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
           'UNIT["Meter",1.0]]')
# three Grenada parishes (store codes GRD0101…) as the file writes them, and one unknown
PARISHES = {"0101": (-61.80, 12.00), "0102": (-61.70, 12.02), "0103": (-61.66, 12.10),
            "0999": (-61.60, 12.30)}


def copy_store(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / db.name
    shutil.copy(db, target)
    return target


def boundaries(*args: str, db: Path, lang: str = "en") -> Any:
    return run_cli("--lang", lang, "boundaries", *args, "--db", str(db))


def stored(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def geometry_of(db: Path, country: str, level: int, code: str) -> Any:
    [(text,)] = stored(db, "SELECT geometry FROM admin_units WHERE country_iso3 = ? AND "
                       "level = ? AND code = ?", [country, level, code])
    return shapely.from_geojson(text) if text else None


def write_shapefile(path: Path, prj: str | None) -> None:
    # pyshp is given file objects: with a path, its Writer leaves a file unclosed
    parts = {ext: io.BytesIO() for ext in ("shp", "shx", "dbf")}
    with shapefile.Writer(shapeType=shapefile.POLYGON, **parts) as w:
        w.field("PARISH_ID", "C", size=8)
        w.field("LABEL", "C", size=40)
        for code, (lon, lat) in PARISHES.items():
            w.poly([[[lon, lat], [lon, lat + 0.04], [lon + 0.04, lat + 0.04],
                     [lon + 0.04, lat], [lon, lat]]])
            w.record(code, f"Parish {code}")
    for ext, data in parts.items():
        path.with_suffix(f".{ext}").write_bytes(data.getvalue())
    if prj is not None:
        path.with_suffix(".prj").write_text(prj, encoding="utf-8")


def mercator(lon: float, lat: float) -> tuple[float, float]:
    r = 6378137.0
    return (r * math.radians(lon),
            r * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)))


def write_geopackage(path: Path, features: list[tuple[str, str, Any]], srs_id: int) -> None:
    """A minimal GeoPackage: the three gpkg_ tables and one feature table whose geometry
    blobs are "GP" headers (little-endian, a 32-byte envelope) before WKB."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY,
            organization TEXT, organization_coordsys_id INTEGER, definition TEXT,
            description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT,
            identifier TEXT, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT,
            geometry_type_name TEXT, srs_id INTEGER, z INTEGER, m INTEGER);
        CREATE TABLE admin2 (fid INTEGER PRIMARY KEY, shape BLOB, pcode TEXT, adm2_en TEXT);
        CREATE TABLE notes (id INTEGER, text TEXT);
    """)
    con.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 / Pseudo-Mercator', 3857, "
                "'EPSG', 3857, 'PROJCS[\"WGS 84 / Pseudo-Mercator\"]', NULL)")
    con.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, "
                "'GEOGCS[\"WGS 84\"]', NULL)")
    con.execute("INSERT INTO gpkg_contents VALUES ('admin2', 'features', 'admin2', ?)",
                [srs_id])
    con.execute("INSERT INTO gpkg_contents VALUES ('notes', 'attributes', 'notes', NULL)")
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('admin2', 'shape', 'MULTIPOLYGON', "
                "?, 0, 0)", [srs_id])
    for fid, (code, name, geom) in enumerate(features, 1):
        x0, y0, x1, y1 = geom.bounds
        blob = (b"GP" + bytes([0, 0b011]) + struct.pack("<i", srs_id)
                + struct.pack("<4d", x0, x1, y0, y1) + shapely.to_wkb(geom))
        con.execute("INSERT INTO admin2 VALUES (?, ?, ?, ?)", [fid, blob, code, name])
    con.commit()
    con.close()


def test_code_and_name_keys() -> None:
    assert code_key("GRD-0101", "GRD") == code_key("0101", "GRD") == code_key(101.0) == "101"
    assert code_key("001001001") == "1001001"
    assert name_key("St. George's") == name_key("Saint Georges") == name_key("ST GEORGES")
    assert name_key("Sindhupālchok") == name_key("SINDHUPALCHOK")
    assert name_key("Kavre") != name_key("Kavrepalanchok")


@pytest.fixture
def grenada(grenada_db: Path, tmp_path: Path) -> Path:
    return copy_store(grenada_db, tmp_path)


def test_shapefile_by_code_lists_what_did_not_match(grenada: Path, tmp_path: Path) -> None:
    shp = tmp_path / "parishes.shp"
    write_shapefile(shp, WGS84_PRJ)
    done = boundaries(str(shp), "--level", "2", db=grenada)
    assert done.code == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "layer parishes, 4 polygon features, coordinates read as GCS_WGS_1984" in out
    assert "Matched 3 of the 176 units of GRD at level 2 by PARISH_ID" in out
    assert "3 of them had a boundary already; it was replaced" in out
    assert "Features matching no unit (1): 0999" in out
    # the level's units without a boundary: 176 - 8 with one before
    assert "still without a boundary (168)" in out and "(--format json lists all)" in out
    geometry = geometry_of(grenada, "GRD", 2, "GRD0101")
    assert geometry.bounds == pytest.approx((-61.80, 12.00, -61.76, 12.04))
    [(after,)] = stored(grenada, "SELECT after FROM audit_log "
                               "WHERE action = 'boundaries:load'")
    assert json.loads(after)["matched"] == 3 and json.loads(after)["file"] == "parishes.shp"


def test_zip_json_output_and_dry_run(grenada: Path, tmp_path: Path) -> None:
    folder = tmp_path / "layer"
    folder.mkdir()
    write_shapefile(folder / "Parishes", None)  # no .prj: WGS84 assumed
    archive = tmp_path / "parishes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in folder.iterdir():
            z.write(part, f"GRD/{part.name}")
    before = geometry_of(grenada, "GRD", 2, "GRD0101")
    # a field named in any case
    done = boundaries(str(archive), "--code-field", "parish_id", "--dry-run", "--format",
                      "json", db=grenada)
    assert done.code == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["level"], result["matched_units"], result["written"]) == (2, 3, False)
    assert result["code_field"] == "PARISH_ID" and result["name_field"] is None
    assert result["crs"] == "EPSG:4326" and result["layer"] == "parishes"
    assert result["unmatched_features"] == ["0999"]
    assert len(result["units_without"]) == 168
    assert geometry_of(grenada, "GRD", 2, "GRD0101").equals(before)  # nothing written
    assert not stored(grenada, "SELECT * FROM audit_log WHERE action = 'boundaries:load'")


def test_a_projected_crs_is_refused_with_its_name(grenada: Path, tmp_path: Path) -> None:
    shp = tmp_path / "utm.shp"
    write_shapefile(shp, UTM_PRJ)
    done = boundaries(str(shp), db=grenada)
    assert done.code == 1
    assert "WGS_1984_UTM_Zone_20N" in done.stderr and "EPSG:4326" in done.stderr
    zh = boundaries(str(shp), db=grenada, lang="zh-TW")
    assert zh.code == 1 and "無法轉換此投影" in zh.stderr


def test_degrees_are_checked_whatever_the_file_says(grenada: Path, tmp_path: Path) -> None:
    x, y = mercator(-61.7, 12.1)
    collection = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "GRD0101"},
        "geometry": mapping(box(x, y, x + 1000, y + 1000))}]}
    path = tmp_path / "mercator_unsaid.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    done = boundaries(str(path), db=grenada)
    assert done.code == 1 and "not longitude/latitude" in done.stderr
    # the same coordinates with the CRS named (GeoJSON 2008) are converted
    collection["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    path.write_text(json.dumps(collection), encoding="utf-8")
    done = boundaries(str(path), db=grenada)
    assert done.code == 0, done.stderr
    lon0, lat0, _, _ = geometry_of(grenada, "GRD", 2, "GRD0101").bounds
    assert (lon0, lat0) == pytest.approx((-61.7, 12.1), abs=1e-6)


def test_geopackage_in_web_mercator_by_name(grenada: Path, tmp_path: Path) -> None:
    features = []
    for name, (lon, lat) in {"St. George": (-61.78, 12.02), "SAINT PATRICK": (-61.64, 12.2),
                             "Atlantis": (-61.5, 12.3)}.items():
        x0, y0 = mercator(lon, lat)
        x1, y1 = mercator(lon + 0.03, lat + 0.03)
        features.append((None, name, shapely.MultiPolygon([box(x0, y0, x1, y1)])))
    gpkg = tmp_path / "adm2.gpkg"
    write_geopackage(gpkg, features, 3857)
    done = boundaries(str(gpkg), "--name-field", "adm2_en", db=grenada, lang="zh-TW")
    assert done.code == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "配對成功" in out and "對不上任何行政區的圖徵（1 個）：Atlantis" in out
    st_patrick = geometry_of(grenada, "GRD", 2, "GRD0107")
    assert st_patrick.bounds == pytest.approx((-61.64, 12.2, -61.61, 12.23), abs=1e-9)


def test_several_layers_ask_for_one(grenada: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        write_shapefile(folder / folder.name, None)
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for folder in (a, b):
            for part in folder.iterdir():
                z.write(part, part.name)
    done = boundaries(str(archive), db=grenada)
    assert done.code == 1 and "several layers (a, b); choose one with --layer" in done.stderr
    assert boundaries(str(archive), "--layer", "B", db=grenada).code == 0


def test_a_file_that_matches_nothing(grenada: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "X1", "nm": "Nowhere"},
        "geometry": mapping(box(0, 0, 1, 1))}]}), encoding="utf-8")
    done = boundaries(str(path), db=grenada)
    assert done.code == 1 and "no feature matches a unit of GRD" in done.stderr
    done = boundaries(str(path), "--country", "NPL", db=grenada)
    assert done.code == 1 and "no admin units of NPL" in done.stderr


# --- Nepal: the flat export has no maps; after `riskatlas boundaries` its report has ------

def nepal_districts(db: Path, path: Path) -> list[str]:
    """A GeoJSON of Nepal's 75 districts made from the store's centroids (Voronoi cells),
    named in capitals as a national file might be; two districts left out and one feature
    no unit has. Returns the names left out."""
    rows = stored(db, "SELECT name, centroid_lon, centroid_lat FROM admin_units "
                      "WHERE country_iso3 = 'NPL' AND level = 1 ORDER BY code")
    points = MultiPoint([(lon, lat) for _, lon, lat in rows])
    hull = points.convex_hull.buffer(0.15)
    cells = shapely.voronoi_polygons(points, extend_to=hull)
    features = []
    for cell in cells.geoms:
        name = next(n for n, lon, lat in rows if cell.contains(shapely.Point(lon, lat)))
        features.append({"type": "Feature", "properties": {
            "OBJECTID": len(features) + 1, "DISTRICT": name.upper()},
            "geometry": mapping(cell.intersection(hull))})
    left_out = [f["properties"]["DISTRICT"] for f in features[:2]]
    atlantis = {"type": "Feature", "properties": {"OBJECTID": 999, "DISTRICT": "ATLANTIS"},
                "geometry": mapping(box(84, 28, 84.1, 28.1))}
    features = [*features[2:], atlantis]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    return left_out


def test_nepal_gets_maps(nepal_db: Path, tmp_path: Path) -> None:
    db = copy_store(nepal_db, tmp_path)
    path = tmp_path / "districts.geojson"
    left_out = nepal_districts(db, path)
    done = boundaries(str(path), db=db)
    assert done.code == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "Matched 73 of the 75 units of NPL at level 1 by DISTRICT" in out
    assert "(0 features by code, 73 by name)" in out
    assert "Features matching no unit (1): ATLANTIS" in out
    assert "still without a boundary (2)" in out
    for name in left_out:
        assert name.title().split()[0].casefold() in out.casefold()
    report = tmp_path / "report"
    done = run_cli("--lang", "en", "assess", "--no-pdf", "--lang", "en", "--out", str(report),
                   "--db", str(db))
    assert done.code == 0, done.stderr
    html = (report / "riskatlas-report-en.html").read_text(encoding="utf-8")
    assert html.count('<svg class="map"') == 2
    assert "No boundaries are loaded" not in html


def test_windows_code_page_names_and_feature_ids(grenada: Path, tmp_path: Path) -> None:
    """A .dbf written in cp1252 by an older tool ("Géorge" is not UTF-8) is still read, and
    matched by name ignoring accents and "Saint"/"St"; a GeoJSON feature's own "id" is a
    property like the others."""
    parts = {ext: io.BytesIO() for ext in ("shp", "shx", "dbf")}
    with shapefile.Writer(shapeType=shapefile.POLYGON, encoding="cp1252", **parts) as w:
        w.field("NOM", "C", size=40)
        w.poly([[[-61.8, 12.0], [-61.8, 12.05], [-61.75, 12.05], [-61.8, 12.0]]])
        w.record("Saint Géorge")
    for ext, data in parts.items():
        (tmp_path / f"cp1252.{ext}").write_bytes(data.getvalue())
    assert b"G\xe9orge" in (tmp_path / "cp1252.dbf").read_bytes()
    done = boundaries(str(tmp_path / "cp1252.shp"), "--level", "2", db=grenada)
    assert done.code == 0, done.stderr
    assert "by NOM (0 features by code, 1 by name)" in " ".join(done.stdout.split())
    path = tmp_path / "ids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "GRD-0102", "properties": None,
        "geometry": mapping(box(-61.72, 12.01, -61.70, 12.03))}]}), encoding="utf-8")
    done = boundaries(str(path), db=grenada)
    assert done.code == 0, done.stderr
    assert geometry_of(grenada, "GRD", 2, "GRD0102").bounds == pytest.approx(
        (-61.72, 12.01, -61.70, 12.03))
