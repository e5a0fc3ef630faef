"""The measure catalogue and the case library: bilingual YAML files, validated on load.

``data/measures.yaml`` and ``data/cases.yaml`` ship with the package. A user file may
replace a shipped file (``path``) or extend it (``extra``; later ids override earlier
ones). Each file is checked against its JSON Schema (``data/*.schema.json``), then for
what a schema cannot say: unique ids, hazards known to the taxonomy, case measures known
to the catalogue. Errors name the file, the entry and the field, in one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from riskatlas.errors import CatalogueError, UnknownHazardError
from riskatlas.i18n import basin_text, normalize_language
from riskatlas.model.hazards import group_of_code, hips_types, reporting_groups

MEASURES_FILE = "measures.yaml"
CASES_FILE = "cases.yaml"
TRIGGER_KINDS = ("share", "hazard_rank", "trend", "annual")
_TRIGGER_DEFAULTS: dict[str, dict[str, Any]] = {"trend": {"extensive_only": False}}

Text = dict[str, str]


def _text_in(text: Mapping[str, str], lang: str) -> str:
    """The text in ``lang`` (any zh tag means zh-TW), else English."""
    return text.get(normalize_language(lang)) or text["en"]


def hazard_group(hazard: str) -> str:
    """The reporting group of a group id or HIPs code."""
    return hazard if hazard in reporting_groups() else group_of_code(hazard)


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Trigger:
    """One rule of a measure: ``kind`` is share, hazard_rank, trend or annual."""

    kind: str
    params: dict[str, Any]

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class Measure:
    id: str
    name: Text
    description: Text
    type: str
    hazards: tuple[str, ...]
    triggers: tuple[Trigger, ...]
    sendai_targets: tuple[str, ...]
    co_benefits: tuple[str, ...]
    cost_class: str
    references: tuple[str, ...]
    multi_hazard: bool = False  # serves every hazard (or every climate-related one)
    # the country its texts are worded for: a {cyclone} token becomes its basin's word
    # (riskatlas.i18n.basin_text: 颶風 for Grenada); None: the basin-neutral word
    country_iso3: str | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash(("measure", self.id))

    def name_in(self, lang: str) -> str:
        return basin_text(_text_in(self.name, lang), lang, self.country_iso3)

    def description_in(self, lang: str) -> str:
        return basin_text(_text_in(self.description, lang), lang, self.country_iso3)

    def for_country(self, iso3: str | None) -> Measure:
        """The measure worded for a country (its texts name that basin's cyclones)."""
        return self if iso3 == self.country_iso3 else replace(self, country_iso3=iso3)

    @property
    def groups(self) -> frozenset[str]:
        """The reporting groups the measure addresses (HIPs codes mapped to their group)."""
        return frozenset(hazard_group(h) for h in self.hazards)


@dataclass(frozen=True)
class Case:
    id: str
    place: Text
    country_iso3: str
    city: str | None
    year: int | None
    hazards: tuple[str, ...]
    measures: tuple[str, ...]
    summary: Text
    source: Text
    url: str | None = None

    def __hash__(self) -> int:
        return hash(("case", self.id))

    def place_in(self, lang: str) -> str:
        return _text_in(self.place, lang)

    def summary_in(self, lang: str) -> str:
        return _text_in(self.summary, lang)

    def source_in(self, lang: str) -> str:
        return _text_in(self.source, lang)

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(hazard_group(h) for h in self.hazards)


E = TypeVar("E", Measure, Case)


@dataclass(frozen=True)
class _Entries(Generic[E]):
    """Entries by id, with the version and files they came from."""

    entries: dict[str, E]
    version: str
    source: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[E]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def __getitem__(self, entry_id: str) -> E:
        return self.entries[entry_id]

    def for_hazard(self, group: str) -> list[E]:
        """Entries for a reporting group (a HIPs code is read as its group)."""
        wanted = _known_group(group)
        return [e for e in self if wanted in e.groups]


class Catalogue(_Entries[Measure]):
    """The measures by id."""


class CaseLibrary(_Entries[Case]):
    """The cases by id."""

    def for_measure(self, measure_id: str) -> list[Case]:
        return [c for c in self if measure_id in c.measures]


def _known_group(hazard: str) -> str:
    if hazard in reporting_groups():
        return hazard
    if hazard in hips_types():
        return group_of_code(hazard)
    raise UnknownHazardError("error.unknown_group", group=hazard)


# ----------------------------------------------------------------------------- loading


def load_measures(path: Path | None = None, extra: Sequence[Path] = ()) -> Catalogue:
    """The shipped catalogue, or the one at ``path``, extended by the ``extra`` files."""
    measures: dict[str, Measure] = {}
    versions, sources = [], []
    for name, data in _documents(MEASURES_FILE, path, extra):
        entries = _validated(name, data, "measures")
        for entry in entries:
            measures[entry["id"]] = _measure(entry)
        versions.append(str(data["version"]))
        sources.append(name)
    return Catalogue(measures, "+".join(versions), tuple(sources))


def load_cases(
    path: Path | None = None,
    measures: Catalogue | None = None,
    extra: Sequence[Path] = (),
) -> CaseLibrary:
    """The shipped case library, or the one at ``path``, extended by ``extra`` files.

    Every measure a case names must be in ``measures`` (default: the shipped catalogue).
    """
    catalogue = measures if measures is not None else load_measures()
    cases: dict[str, Case] = {}
    versions, sources = [], []
    for name, data in _documents(CASES_FILE, path, extra):
        entries = _validated(name, data, "cases")
        for entry in entries:
            _check_measures(name, entry, catalogue)
            cases[entry["id"]] = _case(entry)
        versions.append(str(data["version"]))
        sources.append(name)
    return CaseLibrary(cases, "+".join(versions), tuple(sources))


def _documents(
    shipped: str, path: Path | None, extra: Sequence[Path]
) -> Iterator[tuple[str, Any]]:
    """(name, parsed YAML) of the base file, then of each extra file."""
    if path is None:
        text = resources.files("riskatlas.data").joinpath(shipped).read_text("utf-8")
        yield f"riskatlas:data/{shipped}", _parse(shipped, text)
    else:
        yield str(path), _parse(str(path), _read(path))
    for more in extra:
        yield str(more), _parse(str(more), _read(more))


def _read(path: Path) -> str:
    try:
        return Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError("advice.unreadable", path=str(path), reason=_one_line(exc)) from None


def _parse(name: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError("advice.unreadable", path=name, reason=_one_line(exc)) from None


@cache
def _validator(kind: str) -> Draft202012Validator:
    text = resources.files("riskatlas.data").joinpath(f"{kind}.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def _validated(name: str, data: Any, kind: str) -> list[dict[str, Any]]:
    """The entries of a document that passed the schema and the checks beyond it."""
    error = best_match(_validator(kind).iter_errors(data))
    if error is not None:
        raise _schema_error(name, data, kind, error)
    entries: list[dict[str, Any]] = data[kind]
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["id"] in seen:
            raise CatalogueError("advice.duplicate_id", path=name, entry=f"#{index}",
                                 field="id", id=entry["id"])
        seen.add(entry["id"])
        _check_hazards(name, entry)
    return entries


def _check_hazards(name: str, entry: dict[str, Any]) -> None:
    groups, codes = reporting_groups(), hips_types()
    for i, hazard in enumerate(entry["hazards"]):
        if hazard not in groups and hazard not in codes:
            raise CatalogueError("advice.unknown_hazard", path=name, entry=entry["id"],
                                 field=f"hazards[{i}]", hazard=hazard)


def _check_measures(name: str, entry: dict[str, Any], catalogue: Catalogue) -> None:
    for i, measure_id in enumerate(entry["measures"]):
        if measure_id not in catalogue:
            raise CatalogueError("advice.unknown_measure", path=name, entry=entry["id"],
                                 field=f"measures[{i}]", measure=measure_id)


def _schema_error(name: str, data: Any, kind: str, error: ValidationError) -> CatalogueError:
    """A one-line error naming the entry (id, else #index) and the field."""
    path = list(error.absolute_path)
    entry, rest = "-", path
    if len(path) >= 2 and path[0] == kind and isinstance(path[1], int):
        entry, rest = _entry_label(data[kind][path[1]], path[1]), path[2:]
    if error.validator == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        return CatalogueError("advice.missing", path=name, entry=entry,
                              field=_field([*rest, missing[0]]))
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return CatalogueError("advice.unexpected", path=name, entry=entry,
                              field=_field([*rest, extra[0]]))
    if "propertyNames" in error.schema_path and rest[-2:-1] == ["triggers"]:
        kinds = ", ".join(TRIGGER_KINDS)
        return CatalogueError("advice.bad_trigger", path=name, entry=entry, field=_field(rest),
                              kind=str(error.instance), kinds=kinds)
    return CatalogueError("advice.invalid", path=name, entry=entry, field=_field(rest),
                          reason=_one_line(error.message))


def _entry_label(entry: Any, index: int) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return str(entry["id"])
    return f"#{index}"


def _field(parts: Sequence[str | int]) -> str:
    """['triggers', 0, 'share'] → 'triggers[0].share'; '-' for the document itself."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.lstrip(".") or "-"


def _one_line(value: object, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- building


def _text(value: Mapping[str, str]) -> Text:
    return {lang: value[lang].strip() for lang in ("en", "zh-TW")}


def _trigger(rule: Mapping[str, Mapping[str, Any]]) -> Trigger:
    ((kind, params),) = rule.items()
    return Trigger(kind, {**_TRIGGER_DEFAULTS.get(kind, {}), **params})


def _measure(entry: dict[str, Any]) -> Measure:
    return Measure(
        id=entry["id"],
        name=_text(entry["name"]),
        description=_text(entry["description"]),
        type=entry["type"],
        hazards=tuple(entry["hazards"]),
        triggers=tuple(_trigger(rule) for rule in entry["triggers"]),
        sendai_targets=tuple(entry["sendai_targets"]),
        co_benefits=tuple(entry["co_benefits"]),
        cost_class=entry["cost_class"],
        references=tuple(entry["references"]),
        multi_hazard=bool(entry.get("multi_hazard", False)),
    )


def _case(entry: dict[str, Any]) -> Case:
    return Case(
        id=entry["id"],
        place=_text(entry["place"]),
        country_iso3=entry["country_iso3"],
        city=entry.get("city"),
        year=entry["year"],
        hazards=tuple(entry["hazards"]),
        measures=tuple(entry["measures"]),
        summary=_text(entry["summary"]),
        source=_text(entry["source"]),
        url=entry.get("url"),
    )
