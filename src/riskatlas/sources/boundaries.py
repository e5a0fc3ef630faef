"""Admin boundaries from shapefiles (DesInventar zips carry one per level, usually with no
.prj: WGS84 is assumed) and GeoJSON files."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import orjson
import shapefile
from shapely.geometry import mapping, shape

log = logging.getLogger(__name__)


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
                    stems: Collection[str] | None = None) -> dict[str, dict[str, bytes]]:
    """{stem: {ext: bytes}} of the shapefiles among (file name, read) pairs — only those
    whose lower-case stem is in ``stems`` when given, so nothing else is read."""
    found: dict[str, dict[str, bytes]] = {}
    for name, read in files:
        stem, _, ext = PurePosixPath(name).name.rpartition(".")
        stem, ext = stem.lower(), ext.lower()
        if ext in ("shp", "shx", "dbf") and (stems is None or stem in stems):
            found.setdefault(stem, {})[ext] = read()
    return {k: v for k, v in found.items() if "shp" in v and "dbf" in v}


def zip_files(archive: zipfile.ZipFile) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each member of a zip."""
    for info in archive.infolist():
        yield info.filename, partial(archive.read, info)


def folder_files(directory: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each file of a folder."""
    for path in directory.iterdir():
        if path.is_file():
            yield path.name, path.read_bytes


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
