"""Boundaries from a file for the units the store already holds (``riskatlas boundaries``).

A boundary file (GeoJSON, shapefile, GeoPackage: :func:`read_boundary_file`) is matched to
the store's gazetteer (``admin_units``) of one country and level:

- **by code**: the feature's code and the unit's, both upper case with everything but
  letters and digits dropped, then the country's ISO3 prefix and leading zeros
  ("GRD-0101", "grd0101", "0101" and 101 are one code);
- **by name** (for the features no code matched): case, accents, punctuation and spaces
  ignored, "Saint"/"St." alike, against the unit's name and its English name; a name that
  two units of the level share matches neither.

Without ``code_field``/``name_field`` every property of the file is tried as a code and as
a name, at every level of the country (or the one given): the field and level that match
the most units win (codes first on a tie). Several features of one unit (islands) are
merged. The geometry, and the box (and the centroid where the unit had none), are written
in one :meth:`Store.transaction` with an audit row; the result lists the features that
matched no unit and the units of the level still without a boundary.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.errors import RiskAtlasError
from riskatlas.services.audit import audit
from riskatlas.sources.boundaries import (
    BoundaryFile,
    Feature,
    as_boundary,
    read_boundary_file,
)

if TYPE_CHECKING:
    from riskatlas.store.store import Store

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_SAINT = re.compile(r"\b(saint|st)\b\.?")


class BoundariesError(RiskAtlasError, ValueError):
    """Boundaries that cannot be matched to the store (no country, no such level...)."""

    key = "boundaries.no_units"


@dataclass(frozen=True)
class Unit:
    level: int
    code: str
    name: str | None
    name_en: str | None
    has_geometry: bool


@dataclass
class BoundaryLoad:
    """What :func:`load_boundaries` matched and wrote."""

    path: str
    layer: str
    crs: str
    country: str
    level: int
    code_field: str | None
    name_field: str | None
    features: int
    matched_units: int = 0
    by_code: int = 0
    by_name: int = 0
    replaced: int = 0
    written: bool = False
    unmatched_features: list[str] = field(default_factory=list)
    ambiguous_names: list[str] = field(default_factory=list)
    units_without: list[tuple[str, str | None]] = field(default_factory=list)
    units_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["units_without"] = [{"code": c, "name": n} for c, n in self.units_without]
        return out


def code_key(value: Any, country: str = "") -> str:
    """A code as matched: upper case, letters and digits only, without the country's
    ISO3 prefix or leading zeros (float codes such as 101.0 read as 101)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _NOT_ALNUM.sub("", str(value).lower()).upper()
    if country and text.startswith(country.upper()) and len(text) > len(country):
        text = text[len(country):]
    return text.lstrip("0") or text


def name_key(value: Any) -> str:
    """A name as matched: no accents, case, punctuation or spaces; "Saint" as "St"."""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _SAINT.sub("st ", text.replace("&", " and "))
    return _NOT_ALNUM.sub("", text)


def gazetteer(store: Store, country: str) -> list[Unit]:
    """The store's units of ``country``, every level (Ibis: the country a bound value)."""
    t = store.table("admin_units")
    rows = (t.filter((t.country_iso3 == country) & t.code.notnull())
            .select("level", "code", "name", "name_en",
                    has_geometry=t.geometry.notnull())
            .order_by(["level", "code"]).to_pandas())
    return [Unit(int(r.level), str(r.code), _text(r.name), _text(r.name_en),
                 bool(r.has_geometry)) for r in rows.itertuples()]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def store_country(store: Store, country: str | None) -> str:
    """``country`` (upper case) when the store has units of it; else the store's one
    country; refused when it has none or several."""
    t = store.table("admin_units")
    found = sorted(c for c in t.select("country_iso3").distinct().to_pandas()["country_iso3"]
                   if isinstance(c, str) and c)
    if country:
        if country.upper() not in found:
            raise BoundariesError("boundaries.no_country", country=country[:20],
                                  countries=", ".join(found) or "—")
        return country.upper()
    if len(found) != 1:
        raise BoundariesError("boundaries.which_country" if found else "boundaries.no_units",
                              countries=", ".join(found))
    return found[0]


@dataclass
class _Index:
    """The units of one level by code key and by name key (None: a name two units
    share)."""

    units: dict[str, Unit]
    codes: dict[str, Unit | None]
    names: dict[str, Unit | None]

    @classmethod
    def of(cls, units: Iterable[Unit], country: str) -> _Index:
        codes: dict[str, Unit | None] = {}
        names: dict[str, Unit | None] = {}
        by_code: dict[str, Unit] = {}
        for unit in units:
            by_code[unit.code] = unit
            key = code_key(unit.code, country)
            codes[key] = None if key in codes and codes[key] != unit else unit
            for name in {name_key(n) for n in (unit.name, unit.name_en) if n}:
                if name:
                    names[name] = None if name in names and names[name] != unit else unit
        return cls(by_code, codes, names)


def _values(features: list[Feature], name: str | None) -> list[Any]:
    if not name:
        return [None] * len(features)
    return [f.properties.get(name) for f in features]


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _score(values: list[Any], lookup: dict[str, Unit | None], key: Any) -> int:
    """How many distinct units ``values`` match in ``lookup``."""
    hits = {lookup.get(key(v)) for v in values if _present(v)}
    hits.discard(None)
    return len(hits)


def choose(file: BoundaryFile, units: list[Unit], country: str, *, level: int | None,
           code_field: str | None, name_field: str | None
           ) -> tuple[int, str | None, str | None]:
    """The level, code field and name field that match the most units (see the module)."""
    levels = sorted({u.level for u in units} if level is None else {level})
    if level is not None and not any(u.level == level for u in units):
        raise BoundariesError("boundaries.no_level", country=country, level=level,
                              levels=", ".join(str(v) for v in sorted({u.level for u in units}))
                              or "—")
    code_field, name_field = (_field(file, f) for f in (code_field, name_field))
    Choice = tuple[int, int, int, str | None, str | None]
    best: Choice | None = None
    for lv in levels:
        index = _Index.of((u for u in units if u.level == lv), country)

        def by_code(v: Any) -> str:
            return code_key(v, country)

        code_fields = [code_field] if code_field else (file.fields if not name_field else [])
        name_fields = [name_field] if name_field else (file.fields if not code_field else [])
        for f in code_fields:
            hits = _score(_values(file.features, f), index.codes, by_code)
            candidate: Choice = (hits, 1, -lv, f, name_field)
            best = candidate if best is None or candidate[:3] > best[:3] else best
        for f in name_fields:
            hits = _score(_values(file.features, f), index.names, name_key)
            candidate = (hits, 0, -lv, code_field, f)
            best = candidate if best is None or candidate[:3] > best[:3] else best
    if best is None or best[0] == 0:
        raise BoundariesError("boundaries.nothing_matches", path=file.path, country=country,
                              fields=", ".join(file.fields)[:400])
    return -best[2], best[3], best[4]


def _field(file: BoundaryFile, given: str | None) -> str | None:
    """The file's property named ``given`` (any case); refused when it has none."""
    if not given:
        return None
    found = {f.casefold(): f for f in file.fields}.get(given.casefold())
    if found is None:
        raise BoundariesError("boundaries.no_field", path=file.path, field=given[:80],
                              fields=", ".join(file.fields)[:400])
    return found


def match(file: BoundaryFile, units: list[Unit], country: str, level: int,
          code_field: str | None, name_field: str | None
          ) -> tuple[dict[str, list[Any]], BoundaryLoad]:
    """{unit code: its features' geometries} and the account of the match."""
    index = _Index.of((u for u in units if u.level == level), country)
    found: dict[str, list[Any]] = {}
    load = BoundaryLoad(file.path, file.layer, file.crs, country, level, code_field,
                        name_field, len(file.features))
    codes, names = _values(file.features, code_field), _values(file.features, name_field)
    for feature, code, name in zip(file.features, codes, names, strict=True):
        unit = index.codes.get(code_key(code, country)) if _present(code) else None
        if unit is not None:
            load.by_code += 1
        elif _present(name):
            unit = index.names.get(name_key(name))
            if unit is None and name_key(name) in index.names:
                load.ambiguous_names.append(str(name))
            elif unit is not None:
                load.by_name += 1
        if unit is None:
            shown = " / ".join(str(v) for v in (code, name) if _present(v)) or "—"
            load.unmatched_features.append(shown)
            continue
        found.setdefault(unit.code, []).append(feature.geometry)
    level_units = list(index.units.values())
    load.units_total = len(level_units)
    load.matched_units = len(found)
    load.replaced = sum(1 for code in found if index.units[code].has_geometry)
    load.units_without = [(u.code, u.name) for u in level_units
                          if u.code not in found and not u.has_geometry]
    return found, load


def _merged(geoms: list[Any]) -> Any:
    from shapely import make_valid
    from shapely.ops import unary_union

    if len(geoms) == 1:
        return geoms[0]
    try:
        return unary_union(geoms)
    except Exception:
        return unary_union([make_valid(g) for g in geoms])


def load_boundaries(store: Store, path: Path, *, country: str | None = None,
                    level: int | None = None, code_field: str | None = None,
                    name_field: str | None = None, layer: str | None = None,
                    by: str = "cli", dry_run: bool = False) -> BoundaryLoad:
    """Match the boundary file at ``path`` to the store's units and write their
    geometry (unless ``dry_run``), with an audit row by ``by``, in one transaction."""
    file = read_boundary_file(path, layer)
    iso3 = store_country(store, country)
    units = gazetteer(store, iso3)
    lv, code_f, name_f = choose(file, units, iso3, level=level, code_field=code_field,
                                name_field=name_field)
    found, load = match(file, units, iso3, lv, code_f, name_f)
    if dry_run or not found:
        return load
    rows = []
    for code, geoms in found.items():
        b = as_boundary(code, None, _merged(geoms))
        rows.append([b.geometry, *b.bbox, b.centroid[0], b.centroid[1], iso3, lv, code])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.transaction() as con:
        con.executemany(
            "UPDATE admin_units SET geometry = ?, xmin = ?, ymin = ?, xmax = ?, ymax = ?, "
            "centroid_lon = coalesce(centroid_lon, ?), centroid_lat = coalesce(centroid_lat, ?) "
            "WHERE country_iso3 = ? AND level = ? AND code = ?", rows)
        audit(con, by, "boundaries:load", None, None, {
            "file": path.name, "sha256": digest, "layer": load.layer, "crs": load.crs,
            "country": iso3, "level": lv, "code_field": code_f, "name_field": name_f,
            "matched": load.matched_units, "replaced": load.replaced,
            "unmatched_features": len(load.unmatched_features),
            "units_without": len(load.units_without)})
    load.written = True
    return load


__all__ = ["BoundariesError", "BoundaryLoad", "code_key", "gazetteer", "load_boundaries",
           "match", "name_key", "store_country"]
