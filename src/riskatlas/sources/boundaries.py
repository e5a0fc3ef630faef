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
import struct
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
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
