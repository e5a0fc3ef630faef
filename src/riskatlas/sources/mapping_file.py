"""Mapping files for national tables: the YAML format, its validation and the shipped
mappings. See ``docs/mapping-files.md``; the reader that uses them is ``sources/mapped``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from riskatlas.errors import MappingError
from riskatlas.model.countries import is_iso3
from riskatlas.model.schema import RECORD_FIELDS

MAPPINGS_PACKAGE = "riskatlas.data.mappings"
KEY_SEPARATOR = "|"
VERSION = 1
DATE_FIELDS = ("start_year", "start_month", "start_day")
END_FIELDS = ("end_year", "end_month", "end_day")
_COMPUTED = {"record_id", "dataset_id", "source_file", "source_row", "native_key", "hips_code",
             "hazard_group", "climate_related", "date_precision", "start_date", "end_date",
             "raw", "extension"}
MAPPABLE_FIELDS = frozenset({f.name for f in RECORD_FIELDS} - _COMPUTED | set(END_FIELDS))
"""Canonical fields a mapping can fill (the rest are computed by the record builder)."""
SCALABLE_FIELDS = frozenset(f.name for f in RECORD_FIELDS if f.tri_state)
TOP_KEYS = ("version", "source", "name", "description", "country", "sheet", "match", "key",
            "columns", "missing", "date", "derive", "values", "scale", "aggregated",
            "event_count", "levels", "boundaries", "fractional")
FRACTIONAL = ("round", "blank", "reject-record")  # what a fractional count costs
_DIRECTIVES = {"Y": "year", "y": "year", "m": "month", "b": "month", "B": "month", "d": "day"}


# -- the mapping ----------------------------------------------------------------------
@dataclass(frozen=True)
class DateSpec:
    column: str
    format: str
    end_column: str | None = None


@dataclass(frozen=True)
class DeriveSpec:
    column: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class BoundarySpec:
    file: str
    code: str
    name: str | None = None
    level: int = 0
    parent: str | None = None


@dataclass(frozen=True)
class MappingFile:
    """A validated mapping file."""

    path: Path
    text: str
    source: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (source column, canonical field), in file order
    description: str | None = None
    country: str | None = None
    sheet: str | None = None
    match: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    missing: frozenset[str] = frozenset()
    date: DateSpec | None = None
    derive: tuple[DeriveSpec, ...] = ()
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    scale: Mapping[str, Decimal] = field(default_factory=dict)
    aggregated: bool = False
    event_count: str | None = None
    levels: tuple[tuple[str | None, str | None], ...] = ()
    boundaries: tuple[BoundarySpec, ...] = ()
    fractional: str = "round"  # a count with a fraction: round (half to even), blank, or
    # reject-record (sources.convert.QualityPolicy)

    def sources(self, canonical: str) -> list[str]:
        """The source columns of a canonical field, in fallback order."""
        return [column for column, target in self.columns if target == canonical]

    def fields(self) -> list[str]:
        """Canonical fields the mapping fills (from columns and derive patterns)."""
        found = dict.fromkeys(target for _, target in self.columns)
        for spec in self.derive:
            found.update(dict.fromkeys(spec.pattern.groupindex))
        return list(found)

    def referenced_columns(self) -> list[str]:
        """Every source column the mapping reads (all must be in the table's header)."""
        names = [column for column, _ in self.columns] + list(self.key)
        if self.date:
            names += [self.date.column] + ([self.date.end_column] if self.date.end_column else [])
        names += [spec.column for spec in self.derive]
        names += [self.event_count] if self.event_count else []
        return list(dict.fromkeys(names))


class _Loader:
    """Validates the YAML document of one mapping file; errors name the file and key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, key: str, **params: Any) -> MappingError:
        return MappingError(message, path=str(self.path), key=key, **params)

    def text(self, data: Mapping[str, Any], key: str, *, required: bool = False,
             prefix: str = "") -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error("mapping.missing_key", prefix + key)
            return None
        if isinstance(value, bool | dict | list):
            raise self.error("mapping.expected_text", prefix + key)
        text = str(value).strip()
        if not text:
            raise self.error("mapping.empty", prefix + key)
        return text

    def table(self, data: Mapping[str, Any], key: str, *, prefix: str = "") -> dict[Any, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error("mapping.expected_table", prefix + key)
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        """A list of column names (a single name is accepted)."""
        if value is None:
            return ()
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list) or any(isinstance(v, dict | list | bool) for v in value):
            raise self.error("mapping.expected_list", key)
        names = tuple(str(v).strip() for v in value)
        if not names or not all(names):
            raise self.error("mapping.empty", key)
        return names

    def canonical(self, name: Any, key: str) -> str:
        target = str(name).strip()
        if target not in MAPPABLE_FIELDS:
            raise self.error("mapping.unknown_field", key, field=target)
        return target

    def load(self, text: str) -> MappingFile:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise self.error("mapping.bad_yaml", "-", reason=str(exc).replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise self.error("mapping.expected_table", "-")
        for key in data:
            if key not in TOP_KEYS:
                raise self.error("mapping.unknown_key", str(key), allowed=", ".join(TOP_KEYS))
        version = data.get("version")
        if version is None:
            raise self.error("mapping.missing_key", "version")
        if version != VERSION:
            raise self.error("mapping.bad_version", "version", value=version, supported=VERSION)
        if "columns" not in data:
            raise self.error("mapping.missing_key", "columns")
        columns = self.columns(data["columns"])
        country = self.text(data, "country")
        if country is not None and not is_iso3(country):
            raise self.error("mapping.bad_country", "country", value=country)
        aggregated = data.get("aggregated", False)
        if not isinstance(aggregated, bool):
            raise self.error("mapping.expected_bool", "aggregated")
        match = self.table(data, "match")
        for key in match:
            if key != "columns":
                raise self.error("mapping.unknown_key", f"match.{key}", allowed="columns")
        return MappingFile(
            path=self.path, text=text,
            source=self.text(data, "source", required=True) or "",
            name=self.text(data, "name", required=True) or "",
            columns=columns,
            description=self.text(data, "description"),
            country=country.upper() if country else None,
            sheet=self.text(data, "sheet"),
            match=self.names(match.get("columns"), "match.columns") if match else (),
            key=self.names(data.get("key"), "key"),
            missing=frozenset(self.names(data.get("missing"), "missing")),
            date=self.date(data),
            derive=self.derive(data.get("derive")),
            values=self.values(data),
            scale=self.scale(data),
            aggregated=aggregated,
            event_count=self.text(data, "event_count"),
            levels=self.levels(data.get("levels")),
            boundaries=self.boundaries(data.get("boundaries")),
            fractional=self.choice(data, "fractional", FRACTIONAL, "round"),
        )

    def choice(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...],
               default: str) -> str:
        value = self.text(data, key) or default
        if value not in allowed:
            raise self.error("mapping.bad_choice", key, value=value, allowed=", ".join(allowed))
        return value

    def columns(self, value: Any) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict):
            raise self.error("mapping.expected_table", "columns")
        if not value:
            raise self.error("mapping.empty", "columns")
        pairs = []
        for column, target in value.items():
            key = f"columns.{column}"
            if target is None or isinstance(target, dict | list | bool):
                raise self.error("mapping.expected_text", key)
            pairs.append((str(column).strip(), self.canonical(target, key)))
        return tuple(pairs)

    def date(self, data: Mapping[str, Any]) -> DateSpec | None:
        spec = self.table(data, "date")
        if not spec:
            return None
        for key in spec:
            if key not in ("column", "format", "end_column"):
                raise self.error("mapping.unknown_key", f"date.{key}",
                                 allowed="column, format, end_column")
        fmt = self.text(spec, "format", prefix="date.") or "%Y-%m-%d"
        if "year" not in directive_parts(fmt):
            raise self.error("mapping.bad_date_format", "date.format", value=fmt)
        return DateSpec(self.text(spec, "column", required=True, prefix="date.") or "", fmt,
                        self.text(spec, "end_column", prefix="date."))

    def derive(self, value: Any) -> tuple[DeriveSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("mapping.expected_list", "derive")
        specs = []
        for i, item in enumerate(value):
            key = f"derive[{i}]"
            if not isinstance(item, dict):
                raise self.error("mapping.expected_table", key)
            for name in item:
                if name not in ("column", "pattern"):
                    raise self.error("mapping.unknown_key", f"{key}.{name}",
                                     allowed="column, pattern")
            column = self.text(item, "column", required=True, prefix=key + ".") or ""
            source = self.text(item, "pattern", required=True, prefix=key + ".") or ""
            try:
                pattern = re.compile(source)
            except re.error as exc:
                raise self.error("mapping.bad_pattern", f"{key}.pattern", reason=str(exc)) from None
            if not pattern.groupindex:
                raise self.error("mapping.empty", f"{key}.pattern")
            for group in pattern.groupindex:
                self.canonical(group, f"{key}.pattern")
            specs.append(DeriveSpec(column, pattern))
        return tuple(specs)

    def values(self, data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        maps: dict[str, dict[str, str]] = {}
        for target, table in self.table(data, "values").items():
            key = f"values.{target}"
            name = self.canonical(target, key)
            if not isinstance(table, dict):
                raise self.error("mapping.expected_table", key)
            maps[name] = {str(k).strip(): "" if v is None else str(v).strip()
                          for k, v in table.items()}
        return maps

    def scale(self, data: Mapping[str, Any]) -> dict[str, Decimal]:
        factors: dict[str, Decimal] = {}
        for target, factor in self.table(data, "scale").items():
            key = f"scale.{target}"
            name = self.canonical(target, key)
            if name not in SCALABLE_FIELDS:
                raise self.error("mapping.not_scalable", key, field=name)
            try:
                number = Decimal(str(factor))
            except InvalidOperation:
                number = Decimal("NaN")
            if isinstance(factor, bool) or not number.is_finite() or number <= 0:
                raise self.error("mapping.expected_number", key)
            factors[name] = number
        return factors

    def levels(self, value: Any) -> tuple[tuple[str | None, str | None], ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("mapping.expected_list", "levels")
        levels: list[tuple[str | None, str | None]] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                levels.append((item, None))
                continue
            if not isinstance(item, dict):
                raise self.error("mapping.expected_table", f"levels[{i}]")
            levels.append((self.text(item, "name", prefix=f"levels[{i}]."),
                           self.text(item, "name_en", prefix=f"levels[{i}].")))
        return tuple(levels)

    def boundaries(self, value: Any) -> tuple[BoundarySpec, ...]:
        if value is None:
            return ()
        items = [value] if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise self.error("mapping.expected_list", "boundaries")
        specs = []
        for i, item in enumerate(items):
            key = f"boundaries[{i}]"
            if not isinstance(item, dict):
                raise self.error("mapping.expected_table", key)
            for name in item:
                if name not in ("file", "code", "name", "level", "parent"):
                    raise self.error("mapping.unknown_key", f"{key}.{name}",
                                     allowed="file, code, name, level, parent")
            level = item.get("level", 0)
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 2:
                raise self.error("mapping.expected_level", f"{key}.level")
            specs.append(BoundarySpec(
                self.text(item, "file", required=True, prefix=key + ".") or "",
                self.text(item, "code", required=True, prefix=key + ".") or "",
                self.text(item, "name", prefix=key + "."), level,
                self.text(item, "parent", prefix=key + ".")))
        return tuple(specs)


def load_mapping(path: str | Path) -> MappingFile:
    """Read and validate a mapping file. Raises :class:`MappingError` naming file and key."""
    path = Path(path)
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError("mapping.unreadable", path=str(path), key="-",
                           reason=str(exc)) from None
    return _Loader(path).load(text)


def shipped_mapping_paths() -> dict[str, Path]:
    """The mappings shipped in ``riskatlas/data/mappings``, by name (file stem)."""
    folder = resources.files(MAPPINGS_PACKAGE)
    return {Path(entry.name).stem: Path(str(entry)) for entry in folder.iterdir()
            if entry.name.endswith((".yaml", ".yml"))}


@cache
def shipped_mappings() -> dict[str, MappingFile]:
    """The shipped mappings, loaded (sorted by name)."""
    return {name: load_mapping(path) for name, path in sorted(shipped_mapping_paths().items())}


def resolve_mapping(ref: str | Path) -> MappingFile:
    """A mapping from a file path, or the name of a shipped mapping (``phl-phildis``)."""
    path = Path(ref)
    if path.is_file():
        return load_mapping(path)
    shipped = shipped_mapping_paths()
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if name in shipped and len(path.parts) == 1:
        return shipped_mappings()[name]
    raise MappingError("mapping.not_found", path=str(ref), key="-",
                       available=", ".join(sorted(shipped)))


def directive_parts(fmt: str) -> set[str]:
    return {_DIRECTIVES[d] for d in re.findall(r"%([A-Za-z])", fmt) if d in _DIRECTIVES}
