"""Admin boundaries from shapefiles (DesInventar zips carry one per level, usually with no
.prj: WGS84 is assumed) and GeoJSON files.

Boundaries are optional: a map layer that cannot be read (junk bytes, a damaged zip member,
a layer bigger than :data:`~riskatlas.sources.limits.MAX_LAYER_BYTES`) costs only its own
boundaries, with a note naming it (:func:`read_layer`), never the import.
"""

from __future__ import annotations

import io
import logging
import re
import sqlite3
import struct
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import orjson
import shapefile
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape

from riskatlas.errors import LimitError, RiskAtlasError
from riskatlas.sources import limits

log = logging.getLogger(__name__)
MAX_ADMIN_LEVEL = 99  # any level beyond is junk, not a gazetteer
Parts = dict[str, Callable[[], bytes]]  # extension (shp, shx, dbf) → read its bytes
# what junk in a layer makes the shapefile reader or shapely raise (seen by fuzzing)
_LAYER_ERRORS = (shapefile.ShapefileException, struct.error, KeyError, IndexError, ValueError,
                 EOFError, OSError, zipfile.BadZipFile, zlib.error, GEOSException)
_LEVEL = re.compile(r"^\s*\+?(\d{1,2})(?:\.0*)?\s*$")


class LayerTooBig(RiskAtlasError):
    """A part of a map layer is bigger than :data:`~limits.MAX_LAYER_BYTES` (caught by
    :func:`read_layer`, which notes the layer instead of reading it)."""

    key = "boundaries.part_too_big"

    def __init__(self, size: int) -> None:
        super().__init__(size=limits.size_text(size),
                         limit=limits.size_text(limits.MAX_LAYER_BYTES))
        self.size = size


def _layer_part(data: bytes) -> bytes:
    check_layer_size(len(data))
    return data


@dataclass
class Boundary:
    code: str
    name: str | None
    geometry: str  # GeoJSON text
    centroid: tuple[float, float]
    bbox: tuple[float, float, float, float]
    attributes: dict[str, Any]


def _boundary(code: str, name: str | None, geo: Any, attributes: dict[str, Any]) -> Boundary:
    geom = shape(geo)
    center = geom.centroid if not geom.is_empty else None
    bounds = geom.bounds if not geom.is_empty else (None,) * 4
    return Boundary(code, name, orjson.dumps(mapping(geom)).decode(),
                    (center.x, center.y) if center else (None, None),  # type: ignore[arg-type]
                    bounds, attributes)  # type: ignore[arg-type]


def member_stem(filename: str) -> str:
    """'C:/etc/DI/x/GRD_Parishes.shp' or a Windows path → 'grd_parishes'."""
    name = PureWindowsPath(filename).name if "\\" in filename else PurePosixPath(filename).name
    return name.rsplit(".", 1)[0].lower()


def read_shapefile(parts: dict[str, bytes], code_field: str, name_field: str | None
                   ) -> Iterator[Boundary]:
    """Boundaries from the bytes of .shp/.shx/.dbf; ``code_field`` names the unit code."""
    reader = shapefile.Reader(
        shp=io.BytesIO(parts["shp"]),
        shx=io.BytesIO(parts["shx"]) if "shx" in parts else None,
        dbf=io.BytesIO(parts["dbf"]),
        encoding="utf-8", encodingErrors="replace",
    )
    fields = [f[0] for f in reader.fields[1:]]
    lookup = {f.lower(): f for f in fields}
    code_key = lookup.get(code_field.lower())
    name_key = lookup.get(name_field.lower()) if name_field else None
    if code_key is None:
        log.debug("shapefile has no field %s (has %s)", code_field, fields)
        return
    for record in reader.iterShapeRecords():
        attributes = record.record.as_dict()
        if record.shape.shapeType == shapefile.NULL:
            continue
        code = str(attributes[code_key]).strip()
        name = str(attributes[name_key]).strip() if name_key else None
        yield _boundary(code, name, record.shape.__geo_interface__,
                        {k: _plain(v) for k, v in attributes.items()})


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | type(None)) else str(value)


def shapefile_parts(files: Iterable[tuple[str, Callable[[], bytes]]],
                    stems: Collection[str] | None = None) -> dict[str, Parts]:
    """{stem: {ext: read}} of the shapefiles among (file name, read) pairs — only those
    whose lower-case stem is in ``stems`` when given. Nothing is read yet."""
    found: dict[str, Parts] = {}
    for name, read in files:
        stem, _, ext = PurePosixPath(name).name.rpartition(".")
        stem, ext = stem.lower(), ext.lower()
        if ext in ("shp", "shx", "dbf") and (stems is None or stem in stems):
            found.setdefault(stem, {})[ext] = read
    return {k: v for k, v in found.items() if "shp" in v and "dbf" in v}


def read_layer(parts: Parts, code_field: str, name_field: str | None, *, path: str,
               layer: str, note: Callable[..., Any]) -> list[Boundary] | None:
    """The boundaries of one map layer; None, with a note naming the layer, when it cannot
    be read or is too big -- a bad layer costs only its boundaries."""
    try:
        data = {ext: _layer_part(read()) for ext, read in parts.items()}
        return list(read_shapefile(data, code_field, name_field))
    except LayerTooBig as big:
        note("boundaries.layer_too_big", path=path, layer=layer, size=limits.size_text(big.size),
             limit=limits.size_text(limits.MAX_LAYER_BYTES))
        return None
    except LimitError:
        raise  # the archive itself breaks a limit: not a matter of one layer
    except _LAYER_ERRORS as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        log.debug("map layer %s of %s not read", layer, path, exc_info=True)
        note("boundaries.bad_layer", path=path, layer=layer, reason=reason)
        return None


def admin_level(value: Any) -> int | None:
    """An admin level (0 … 99) from a number or text (``"1"``, ``1.0``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ADMIN_LEVEL else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value <= MAX_ADMIN_LEVEL else None
    found = _LEVEL.match(str(value)) if value is not None else None
    return int(found.group(1)) if found else None


def zip_files(archive: zipfile.ZipFile, budget: limits.Budget | None = None
              ) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each member of a zip; reads count against ``budget``, and a member
    bigger than :data:`~limits.MAX_LAYER_BYTES` raises :class:`LayerTooBig` unread."""
    budget = budget or limits.Budget(archive.filename or "")
    for info in archive.infolist():
        yield info.filename, partial(_read_member, archive, info, budget)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: limits.Budget
                 ) -> bytes:
    check_layer_size(info.file_size)
    with limits.open_member(archive, info, budget) as stream:
        return stream.read()


def _read_file(path: Path) -> bytes:
    check_layer_size(path.stat().st_size)
    return path.read_bytes()


def check_layer_size(size: int) -> None:
    """Raise :class:`LayerTooBig` for a part of a map layer bigger than the limit."""
    if size > limits.MAX_LAYER_BYTES:
        raise LayerTooBig(size)


def folder_files(directory: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each file of a folder (as :func:`zip_files`)."""
    for path in directory.iterdir():
        if path.is_file():
            yield path.name, partial(_read_file, path)


def read_geojson(data: bytes, code_field: str, name_field: str | None = None
                 ) -> Iterator[Boundary]:
    """Boundaries from a GeoJSON FeatureCollection (CRS84/WGS84)."""
    collection = orjson.loads(data)
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        if feature.get("geometry") is None or props.get(code_field) in (None, ""):
            continue
        name = props.get(name_field) if name_field else None
        yield _boundary(str(props[code_field]), name, feature["geometry"], props)


# --- boundary files given on their own (riskatlas boundaries FILE) --------------------------
#
# Coordinates are read as WGS84 longitude/latitude (GeoJSON's RFC 7946 CRS), unless the file
# names another CRS: a GeoJSON "crs" member (the 2008 draft), a shapefile's .prj (WKT) or a
# GeoPackage layer's srs. Geographic CRSs (any datum: the shift is far below a map's pixel)
# are taken as lon/lat; Web Mercator (EPSG:3857 and its aliases) is converted; any other
# projection is refused with its name (no projection library is bundled: reproject with
# e.g. `ogr2ogr -t_srs EPSG:4326`). Whatever the CRS says, coordinates outside ±180/±90
# are refused as not degrees.

BOUNDARY_SUFFIXES = (".geojson", ".json", ".shp", ".zip", ".gpkg")
WEB_MERCATOR = ("3857", "900913", "3785", "102100", "102113", "pseudo-mercator",
                "popular visualisation", "mercator_auxiliary_sphere", "web_mercator")
_EARTH_RADIUS = 6378137.0
# GeoPackage geometry blob: "GP", version, flags; the flags' bits 1-3 give the envelope
_GPKG_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


class BoundaryFileError(RiskAtlasError, ValueError):
    """A boundary file that cannot be used (format, CRS, layers, coordinates)."""

    key = "boundaries.unreadable"


@dataclass
class Feature:
    properties: dict[str, Any]
    geometry: Any  # a shapely geometry in lon/lat degrees


@dataclass
class BoundaryFile:
    """The features of one layer of a boundary file, in WGS84 lon/lat."""

    path: str
    layer: str
    crs: str  # what was read or assumed, for the report
    fields: list[str]
    features: list[Feature]


def read_boundary_file(path: Path, layer: str | None = None) -> BoundaryFile:
    """The polygon features of a GeoJSON, shapefile (.shp with its .dbf, or a .zip holding
    one) or GeoPackage file; ``layer`` chooses among several layers."""
    suffix = path.suffix.lower()
    if suffix not in BOUNDARY_SUFFIXES:
        raise BoundaryFileError("boundaries.unknown_format", path=str(path),
                                formats=", ".join(BOUNDARY_SUFFIXES))
    check_layer_size(path.stat().st_size)
    try:
        if suffix in (".geojson", ".json"):
            found = _geojson_file(path)
        elif suffix == ".gpkg":
            found = _geopackage(path, layer)
        elif suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                found = _shapefile_layer(path, shapefile_parts(zip_files(archive)), layer,
                                         _zip_prj(archive))
        else:
            found = _shapefile_layer(path, shapefile_parts(folder_files(path.parent),
                                                           {path.stem.lower()}), None,
                                     _sibling_prj(path))
    except (BoundaryFileError, LimitError, LayerTooBig):
        raise
    except (*_LAYER_ERRORS, orjson.JSONDecodeError, sqlite3.Error, TypeError,
            AttributeError) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise BoundaryFileError("boundaries.unreadable", path=str(path), reason=reason
                                ) from exc
    _check_degrees(found)
    return found


def _geojson_file(path: Path) -> BoundaryFile:
    data = orjson.loads(path.read_bytes())
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "Topology":
        raise BoundaryFileError("boundaries.topojson", path=str(path))
    features = (data.get("features") if kind == "FeatureCollection"
                else [data] if kind == "Feature" else None)
    if not isinstance(features, list):
        raise BoundaryFileError("boundaries.not_features", path=str(path))
    crs = _geojson_crs(data.get("crs"))
    convert = _crs_converter(crs, str(path))
    out = []
    for feature in features:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not geometry:
            continue
        props = dict(feature.get("properties") or {})
        if feature.get("id") not in (None, "") and "id" not in props:
            props["id"] = feature["id"]  # a feature's own id may be the unit's code
        out.append(Feature(props, convert(shape(geometry))))
    return BoundaryFile(str(path), path.stem, crs, _fields(f.properties for f in out),
                        _polygonal(out))


def _geojson_crs(member: Any) -> str:
    """The CRS a GeoJSON file names ("crs": {"type": "name", "properties": {"name": …}}
    of the 2008 draft); none: WGS84 (RFC 7946)."""
    if not isinstance(member, dict):
        return "EPSG:4326"
    props = member.get("properties") or {}
    name = str(props.get("name") or props.get("href") or props.get("code") or "")
    return name or "EPSG:4326"


def _crs_converter(crs: str, path: str) -> Callable[[Any], Any]:
    """lon/lat geometry from one in ``crs`` (a name or WKT), or the CRS is refused."""
    text = crs.lower().replace(" ", "_")
    flat = crs.lower()
    if any(alias in text or alias in flat for alias in WEB_MERCATOR):
        return _from_web_mercator
    if (text.endswith(("4326", "crs84", "crs:84", "4258", "4269", "4617", "4283", "4167"))
            or text.startswith(("geogcs", "geogcrs", "geodcrs"))):
        return _identity
    raise BoundaryFileError("boundaries.crs_unsupported", path=path,
                            crs=" ".join(crs.split())[:120])


def _identity(geom: Any) -> Any:
    return geom


def _from_web_mercator(geom: Any) -> Any:
    import numpy as np
    import shapely

    def inverse(xy: Any) -> Any:
        lon = np.degrees(xy[:, 0] / _EARTH_RADIUS)
        lat = np.degrees(2 * np.arctan(np.exp(xy[:, 1] / _EARTH_RADIUS)) - np.pi / 2)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, inverse)


def _sibling_prj(path: Path) -> str | None:
    for candidate in path.parent.iterdir():
        if candidate.stem.lower() == path.stem.lower() and candidate.suffix.lower() == ".prj":
            return candidate.read_text(encoding="utf-8", errors="replace")
    return None


def _zip_prj(archive: zipfile.ZipFile) -> dict[str, str]:
    return {member_stem(name): archive.read(name).decode("utf-8", "replace")
            for name in archive.namelist() if name.lower().endswith(".prj")}


def _shapefile_layer(path: Path, layers: dict[str, Parts], layer: str | None,
                     prj: str | dict[str, str] | None) -> BoundaryFile:
    stem = _choose_layer(str(path), sorted(layers), layer)
    data = {ext: _layer_part(read()) for ext, read in layers[stem].items()}
    wkt = prj.get(stem) if isinstance(prj, dict) else prj
    crs = wkt.strip() if wkt and wkt.strip() else "EPSG:4326"
    convert = _crs_converter(crs, str(path))
    try:  # a .dbf's text: UTF-8, else the Windows code page older tools wrote
        fields, out = _shapefile_features(data, convert, "utf-8", "strict")
    except (UnicodeDecodeError, shapefile.dbfFileException):  # (a damaged .dbf: again)
        fields, out = _shapefile_features(data, convert, "cp1252", "replace")
    return BoundaryFile(str(path), stem, _crs_label(crs), fields, _polygonal(out))


def _shapefile_features(data: dict[str, bytes], convert: Callable[[Any], Any], encoding: str,
                        errors: str) -> tuple[list[str], list[Feature]]:
    reader = shapefile.Reader(shp=io.BytesIO(data["shp"]), dbf=io.BytesIO(data["dbf"]),
                              shx=io.BytesIO(data["shx"]) if "shx" in data else None,
                              encoding=encoding, encodingErrors=errors)
    fields = [f[0] for f in reader.fields[1:]]
    out = []
    for record in reader.iterShapeRecords():
        if record.shape.shapeType == shapefile.NULL:
            continue
        props = {k: _plain(v) for k, v in record.record.as_dict().items()}
        out.append(Feature(props, convert(shape(record.shape.__geo_interface__))))
    return fields, out


def _crs_label(crs: str) -> str:
    """A WKT's name ('GCS_WGS_1984'), or the CRS as given."""
    found = re.match(r'\s*\w+\s*\[\s*"([^"]+)"', crs)
    return found.group(1) if found else crs


def _choose_layer(path: str, names: list[str], layer: str | None) -> str:
    if layer is not None:
        if layer.lower() in {n.lower() for n in names}:
            return next(n for n in names if n.lower() == layer.lower())
        raise BoundaryFileError("boundaries.no_layer", path=path, layer=layer,
                                layers=", ".join(names) or "—")
    if len(names) == 1:
        return names[0]
    if not names:
        raise BoundaryFileError("boundaries.no_layers", path=path)
    raise BoundaryFileError("boundaries.several_layers", path=path, layers=", ".join(names))


def _geopackage(path: Path, layer: str | None) -> BoundaryFile:
    """A feature table of a GeoPackage: sqlite3, its geometry blobs' header skipped to
    their WKB (shapely), its srs from gpkg_spatial_ref_sys."""
    from shapely import wkb

    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' "
            "ORDER BY table_name")]
        table = _choose_layer(str(path), tables, layer)
        column, srs_id = con.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
            [table]).fetchone()
        srs = con.execute("SELECT organization, organization_coordsys_id, definition "
                          "FROM gpkg_spatial_ref_sys WHERE srs_id = ?", [srs_id]).fetchone()
        crs = ("EPSG:4326" if srs is None or srs_id in (0, -1)
               else f"{srs[0]}:{srs[1]}" if str(srs[0]).upper() == "EPSG"
               else str(srs[2]))
        convert = _crs_converter(crs, str(path))
        cursor = con.execute(f'SELECT * FROM "{table.replace(chr(34), "")}"')
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            values = dict(zip(names, row, strict=True))
            blob = values.pop(column, None)
            if not blob:
                continue
            geom = wkb.loads(_gpkg_wkb(bytes(blob)))
            out.append(Feature({k: _plain(v) for k, v in values.items()}, convert(geom)))
    fields = [n for n in names if n != column]
    return BoundaryFile(str(path), table, _crs_label(crs), fields, _polygonal(out))


def _gpkg_wkb(blob: bytes) -> bytes:
    """The WKB inside a GeoPackage geometry blob (its "GP" header and envelope skipped)."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    envelope = _GPKG_ENVELOPE.get((blob[3] >> 1) & 0b111)
    if envelope is None:
        raise ValueError("bad envelope code in a GeoPackage geometry")
    return blob[8 + envelope:]


def _polygonal(features: list[Feature]) -> list[Feature]:
    """The features with a non-empty polygon or multipolygon (others cannot be mapped)."""
    return [f for f in features if f.geometry is not None and not f.geometry.is_empty
            and f.geometry.geom_type in ("Polygon", "MultiPolygon")]


def _fields(properties: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for props in properties:
        seen.update(dict.fromkeys(props))
    return list(seen)


def _check_degrees(found: BoundaryFile) -> None:
    if not found.features:
        raise BoundaryFileError("boundaries.no_polygons", path=found.path)
    for feature in found.features:
        x0, y0, x1, y1 = feature.geometry.bounds
        if x0 < -180.5 or x1 > 360 or y0 < -90.5 or y1 > 90.5:
            raise BoundaryFileError("boundaries.not_degrees", path=found.path,
                                    crs=found.crs, x=f"{x0:.6g}", y=f"{y0:.6g}")


def as_boundary(code: str, name: str | None, geom: Any) -> Boundary:
    """A :class:`Boundary` (GeoJSON text, centroid, bbox) of a shapely geometry."""
    return _boundary(code, name, mapping(geom), {})
