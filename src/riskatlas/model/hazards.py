"""Hazard taxonomy (UNDRR-ISC HIPs 2025), reporting groups and the source-term crosswalk.

The crosswalk is data (``data/hazard_crosswalk.csv``, ``data/emdat_crosswalk.csv`` and
any file a user adds): each row maps a source term to a HIPs code and a reporting group.
A term that matches no row is *unmapped*: its records keep the source term, get no code
and no group, and the term goes to the review list. It is never dropped and never
silently counted as "Other".
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from riskatlas.errors import MappingError, UnknownHazardError

BUILTIN_CROSSWALKS = ("hazard_crosswalk.csv", "emdat_crosswalk.csv")
_EARTHQUAKE_CAUSES = ("earthquake", "seismic", "sismo", "terremoto", "seisme", "gempa")


@dataclass(frozen=True)
class HazardType:
    code: str
    name_en: str
    cluster: str
    type: str


@dataclass(frozen=True)
class ReportingGroup:
    id: str
    name_en: str
    name_zh_tw: str
    climate_related: bool
    hips_prefixes: tuple[str, ...]

    def name(self, lang: str) -> str:
        return self.name_zh_tw if lang == "zh-TW" else self.name_en


@dataclass(frozen=True)
class HazardMatch:
    hips_code: str | None
    group: str
    matched_term: str


def normalize_term(term: str) -> str:
    """Fold case, accents, punctuation and spacing: 'Épidémie ' → 'epidemie'."""
    text = unicodedata.normalize("NFKD", term.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\s._\-/,;:'’\"()]+", " ", text)
    return text.strip()


def _data_text(name: str) -> str:
    return resources.files("riskatlas.data").joinpath(name).read_text("utf-8")


@cache
def hips_types() -> dict[str, HazardType]:
    """All specific hazards of HIPs 2025, by code."""
    rows = csv.DictReader(io.StringIO(_data_text("hips-2025.tsv")), delimiter="\t")
    return {r["code"]: HazardType(r["code"], r["name_en"], r["cluster"], r["type"]) for r in rows}


@cache
def reporting_groups() -> dict[str, ReportingGroup]:
    """The reporting groups with their English and Chinese names and climate flag."""
    groups = {}
    for r in csv.DictReader(io.StringIO(_data_text("reporting_groups.csv"))):
        groups[r["group"]] = ReportingGroup(
            r["group"],
            r["name_en"],
            r["name_zh_tw"],
            r["climate_related"].strip().lower() == "true",
            tuple(r["hips_prefixes"].split()),
        )
    return groups


def group_of_code(code: str) -> str:
    """The default reporting group of a HIPs code (longest matching prefix)."""
    best, best_len = "other", 0
    for group in reporting_groups().values():
        for prefix in group.hips_prefixes:
            if code.startswith(prefix) and len(prefix) > best_len:
                best, best_len = group.id, len(prefix)
    return best


@lru_cache(maxsize=4096)
def is_climate_related(group: str | None, cause: str | None = None) -> bool | None:
    """Climate flag of a group; a landslide caused by an earthquake is not climate-related."""
    if group is None:
        return None
    info = reporting_groups().get(group)
    if info is None:
        raise UnknownHazardError("error.unknown_group", group=group)
    seismic = cause and any(w in normalize_term(cause) for w in _EARTHQUAKE_CAUSES)
    if group == "landslide" and seismic:
        return False
    return info.climate_related


class Crosswalk:
    """Source hazard terms → HIPs code and reporting group, from one or more CSV files."""

    def __init__(self, sources: Sequence[tuple[str, str]]) -> None:
        """``sources`` are (name, CSV text) pairs; later ones override earlier ones."""
        self.entries: dict[str, HazardMatch] = {}
        versions = []
        for name, text in sources:
            versions.append(_version_of(name, text))
            for term, match in _parse_crosswalk(name, text):
                self.entries[normalize_term(term)] = match
        self.version = "+".join(versions)
        self._cache: dict[tuple[str, str | None], HazardMatch | None] = {}

    def match(self, term: str | None, term_en: str | None = None) -> HazardMatch | None:
        """The mapping of a term, trying the term, then the catalogue's English name."""
        if not term:
            return None
        key = (term, term_en)
        if key not in self._cache:
            found = self.entries.get(normalize_term(term))
            if found is None and term_en:
                found = self.entries.get(normalize_term(term_en))
            self._cache[key] = found
        return self._cache[key]


def _version_of(name: str, text: str) -> str:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    found = re.match(r"#\s*version:\s*(\S+)", first)
    if found:
        return f"{Path(name).stem}@{found.group(1)}"
    return f"{Path(name).stem}@sha256:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _parse_crosswalk(name: str, text: str) -> Iterable[tuple[str, HazardMatch]]:
    lines = [line for line in text.lstrip("\ufeff").splitlines() if not line.startswith("#")]
    codes, groups = hips_types(), reporting_groups()
    for lineno, row in enumerate(csv.DictReader(lines), start=2):
        term = (row.get("term") or "").strip()
        code = (row.get("hips_code") or "").strip() or None
        group = (row.get("group") or "").strip()
        if not term:
            raise MappingError("crosswalk.no_term", path=name, line=lineno)
        if code is not None and code not in codes:
            raise MappingError("crosswalk.bad_code", path=name, line=lineno, code=code)
        if not group:
            group = group_of_code(code) if code else ""
        if group not in groups:
            raise MappingError("crosswalk.bad_group", path=name, line=lineno, group=group)
        yield term, HazardMatch(code, group, term)


def load_crosswalk(extra: Sequence[Path] = ()) -> Crosswalk:
    """The built-in crosswalks plus the user's files (which win on conflicts)."""
    sources = [(name, _data_text(name)) for name in BUILTIN_CROSSWALKS if _exists(name)]
    for path in extra:
        sources.append((str(path), Path(path).read_text("utf-8")))
    return Crosswalk(sources)


def _exists(name: str) -> bool:
    return resources.files("riskatlas.data").joinpath(name).is_file()
