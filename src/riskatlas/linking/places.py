"""EM-DAT places to the store's admin units.

An EM-DAT record names its places twice: the ``Admin Units`` JSON (GAUL codes and names of
``adm1``/``adm2`` units) and the free-text ``Location`` ("Gorkha, Dhading districts",
"Kathmandu, Lalitpur (Bagmati province)"). Both are kept verbatim in the record's ``raw``
row (the Location also as ``place``). Each place is matched to the gazetteer of the
record's country (``admin_units``, every level), in this order:

- ``code``: a unit's code equals the GAUL code and, when both have a name, the names agree
  (GAUL codes are not the store's codes, so a code alone never decides);
- ``exact``: the name as written (case and outer spaces aside) is a unit's name;
- ``normalised``: the names agree without case, accents, signs, admin-level words
  ("district", "province": ``data/admin_tiers.csv``, plurals too) and with the methods
  profile's abbreviations (``linking.places.abbreviations``: saint → st);
- ``fuzzy``: the normalised names are alike (difflib ratio ≥ ``linking.places.fuzzy_score``).

A name that several units carry is settled by the place's context (a unit named in
parentheses, or the record's matched ``adm1`` unit: the unit under it wins), the level its
own level word names ("Grenada island": the level called Island), the coarsest level, a
unit whose parents the gazetteer holds over an orphan, then the name closest as written;
a tie left is ``ambiguous``. Places without a unit are ``unmatched``;
both reach the review list (:func:`review_list`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher, get_close_matches
from functools import cache
from typing import Any

import pandas as pd

from riskatlas.advice.peers import normalise, tier_terms
from riskatlas.linking.rules import LinkRules
from riskatlas.model.hazards import singular_forms

METHOD_SCORES = {"code": 1.0, "exact": 1.0, "normalised": 0.95}
"""Scores of the sure methods; a fuzzy match scores its similarity."""
_DIGITS = re.compile(r"\d+")

REVIEW_METHODS = ("unmatched", "ambiguous")
MATCH_COLUMNS = ["record_id", "country_iso3", "origin", "role", "text", "context",
                 "source_level", "source_code", "level", "code", "unit_name", "method",
                 "score", "candidates"]


@dataclass(frozen=True)
class Place:
    """One place a record names: ``origin`` admin_units (GAUL) or location (free text);
    ``role`` place, or context (a unit named in parentheses around other places)."""

    text: str
    origin: str
    role: str = "place"
    context: tuple[str, ...] = ()
    source_level: str | None = None  # adm1 / adm2
    source_code: str | None = None


@dataclass(frozen=True)
class Unit:
    level: int
    code: str
    name: str
    names: tuple[str, ...]  # name, name_en
    ancestors: tuple[str, ...]  # codes of the units above, nearest first


@dataclass(frozen=True)
class Match:
    place: Place
    method: str
    score: float
    unit: Unit | None = None
    candidates: tuple[str, ...] = ()


# ----------------------------------------------------------------------- names


@cache
def _level_words() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Admin-level words and runs of words ("village development committee") from
    ``data/admin_tiers.csv``, by their first word, longest first."""
    runs = sorted((tuple(k.split()) for k in tier_terms() if k), key=len, reverse=True)
    out: dict[str, list[tuple[str, ...]]] = {}
    for run in runs:
        out.setdefault(run[0], []).append(run)
    return {first: tuple(found) for first, found in out.items()}


def place_key(name: str, abbreviations: Mapping[str, str] | None = None) -> str:
    """A place name without case, accents, signs, possessive 's, plural level words and
    admin-level words (kept when they are the whole name), abbreviations applied:
    'St. George's Parish' → 'st george', 'Gorkha districts' → 'gorkha'."""
    return _split_key(name, abbreviations)[0]


def level_words(name: str) -> frozenset[str]:
    """The admin-level words a name carries ('Gorkha districts' → {'district'})."""
    return _split_key(name, None)[1]


def _split_key(name: str, abbreviations: Mapping[str, str] | None
               ) -> tuple[str, frozenset[str]]:
    words = normalise(re.sub(r"['’]s\b", "", str(name))).split()
    words = [(abbreviations or {}).get(w, w) for w in words]
    kept, dropped = _without_level_words(words)
    return " ".join(kept or words), frozenset(dropped if kept else ())


def _without_level_words(words: list[str]) -> tuple[list[str], list[str]]:
    out: list[str] = []
    dropped: list[str] = []
    index = _level_words()
    i = 0
    while i < len(words):
        runs = [r for form in singular_forms(words[i]) for r in index.get(form, ())]
        run = next((r for r in sorted(runs, key=len, reverse=True)
                    if i + len(r) <= len(words) and _same_run(words[i:i + len(r)], r)), None)
        if run is None:
            out.append(words[i])
            i += 1
        else:
            dropped.append(" ".join(run))
            i += len(run)
    return out, dropped


def _same_run(words: Sequence[str], run: Sequence[str]) -> bool:
    return all(r in singular_forms(w) for w, r in zip(words, run, strict=True))


# ----------------------------------------------------------------------- places of a record


def split_location(text: str | None) -> list[Place]:
    """The places of an EM-DAT ``Location``: items separated by ``,`` ``;`` or " and ",
    each parenthesised group being the context of the items before it (since the last
    group), and a place itself: 'Kathmandu, Lalitpur (Bagmati province)' → Kathmandu,
    Lalitpur (context Bagmati province), Bagmati province (role context)."""
    out: list[Place] = []
    for segment in re.split(r";", text or ""):
        pending: list[str] = []
        for piece, inner in re.findall(r"([^()]*)(?:\(([^()]*)\))?", segment):
            items = _items(piece)
            if inner:
                context = tuple(_items(inner))
                out += [Place(t, "location", context=context) for t in pending + items]
                out += [Place(t, "location", role="context") for t in context]
                pending = []
            else:
                pending += items
        out += [Place(t, "location") for t in pending]
    return _unique(out)


def _items(text: str) -> list[str]:
    parts = re.split(r",|\band\b|&|/", text)
    return [p.strip(" .:-") for p in parts if p.strip(" .:-")]


def _unique(places: Iterable[Place]) -> list[Place]:
    seen: dict[tuple[str, str], Place] = {}
    for p in places:
        seen.setdefault((p.text.casefold(), p.role), p)
    return list(seen.values())


def admin_unit_places(units_json: str | None) -> list[Place]:
    """The places of an EM-DAT ``Admin Units`` JSON list (``adm1_code``/``adm1_name``,
    ``adm2_code``/``adm2_name``); an entry's adm1 is the context of its adm2."""
    try:
        units = json.loads(units_json or "[]")
    except ValueError:
        return []
    out: list[Place] = []
    adm1_names = tuple(str(u["adm1_name"]) for u in units if isinstance(u, dict)
                       and u.get("adm1_name")) if isinstance(units, list) else ()
    for unit in units if isinstance(units, list) else []:
        if not isinstance(unit, dict):
            continue
        for level in ("adm1", "adm2"):
            name, code = unit.get(f"{level}_name"), unit.get(f"{level}_code")
            if name is None and code is None:
                continue
            out.append(Place(str(name or ""), "admin_units",
                             context=adm1_names if level == "adm2" else (),
                             source_level=level, source_code=_code_text(code)))
    return out


def _code_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def record_places(place: str | None, raw: str | None) -> list[Place]:
    """Every place of a record: its raw row's ``Admin Units`` and its ``Location`` (or,
    for other sources, the record's ``place``)."""
    row: dict[str, Any] = {}
    try:
        loaded = json.loads(raw) if raw else {}
        row = loaded if isinstance(loaded, dict) else {}
    except ValueError:
        pass
    location = row.get("Location") or place
    return [*admin_unit_places(row.get("Admin Units")), *split_location(location)]


# ----------------------------------------------------------------------- the gazetteer


@dataclass
class Gazetteer:
    """The admin units of one country, indexed by code, name and key."""

    units: list[Unit]
    abbreviations: Mapping[str, str]
    levels: Mapping[int, frozenset[str]] = field(default_factory=dict)
    by_code: dict[str, Unit] = field(default_factory=dict)
    by_name: dict[str, list[Unit]] = field(default_factory=dict)
    by_key: dict[str, list[Unit]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for unit in self.units:
            self.by_code[unit.code] = unit
            for name in unit.names:
                self.by_name.setdefault(name.strip().casefold(), []).append(unit)
                self.by_key.setdefault(place_key(name, self.abbreviations), []).append(unit)
        for index in (self.by_name, self.by_key):
            for key, found in index.items():
                index[key] = list({u.code: u for u in found}.values())

    @classmethod
    def of(cls, units: pd.DataFrame, abbreviations: Mapping[str, str],
           levels: Mapping[int, frozenset[str]] | None = None) -> Gazetteer:
        """From ``admin_units`` rows of one country (level, code, name, name_en,
        parent_code); ``levels``: the admin-level words of each level's name
        (``admin_levels``: 'District' → {'district'})."""
        parent = dict(zip(units.code.astype(str), units.parent_code, strict=True))
        made = []
        for row in units.itertuples(index=False):
            names = tuple(dict.fromkeys(str(n) for n in (row.name, row.name_en)
                                        if isinstance(n, str) and n.strip()))
            made.append(Unit(int(row.level), str(row.code), names[0] if names else "",
                             names, _ancestors(str(row.code), parent)))
        return cls(made, abbreviations, dict(levels or {}))

    def match(self, place: Place, fuzzy_score: float, within: Sequence[Unit] = ()) -> Match:
        """The unit ``place`` names (see the module docstring)."""
        unit = self.by_code.get(place.source_code or "")
        if unit is not None and (not place.text or self._agree(unit, place.text)):
            return Match(place, "code", METHOD_SCORES["code"], unit)
        if not place.text.strip():
            return Match(place, "unmatched", 0.0)
        key = place_key(place.text, self.abbreviations)
        for method, found in (("exact", self.by_name.get(place.text.strip().casefold(), [])),
                              ("normalised", self.by_key.get(key, []))):
            if found:
                return self._settle(place, method, METHOD_SCORES[method], found, within)
        return self._fuzzy(place, key, fuzzy_score, within)

    def _agree(self, unit: Unit, text: str) -> bool:
        key = place_key(text, self.abbreviations)
        return any(place_key(n, self.abbreviations) == key for n in unit.names)

    def _fuzzy(self, place: Place, key: str, least: float, within: Sequence[Unit]) -> Match:
        close = get_close_matches(key, list(self.by_key), n=10, cutoff=least)
        numbers = _numbers(key)  # "Ward 2" is not "Ward 3", however alike
        scored = [(SequenceMatcher(None, key, k).ratio(), k) for k in close
                  if _numbers(k) == numbers]
        if not scored:
            return Match(place, "unmatched", 0.0)
        best = max(s for s, _ in scored)
        found = [u for s, k in scored if s == best for u in self.by_key[k]]
        return self._settle(place, "fuzzy", round(best, 3), found, within)

    def _settle(self, place: Place, method: str, score: float, found: list[Unit],
                within: Sequence[Unit]) -> Match:
        """One unit of several: those under the context, those of the level the place's
        own level word names ("X district"), the coarsest level, those whose parents the
        gazetteer holds up to the country, then the name closest as written."""
        inside = [u for u in found if any(c.code in u.ancestors for c in within)]
        found = inside or found
        said = level_words(place.text)
        named = [u for u in found if said & self.levels.get(u.level, frozenset())]
        found = named or found
        coarsest = min(u.level for u in found)
        found = [u for u in found if u.level == coarsest]
        placed = [u for u in found if len(u.ancestors) >= u.level]  # under the country
        found = placed or found
        if len(found) > 1:
            found = _closest(place.text, found)
        if len(found) == 1:
            return Match(place, method, score, found[0])
        return Match(place, "ambiguous", score,
                     candidates=tuple(f"{u.level}:{u.code}" for u in found))


def _closest(text: str, units: list[Unit]) -> list[Unit]:
    """The units whose name as written (case aside) is most like ``text``."""
    def alike(u: Unit) -> float:
        return max(SequenceMatcher(None, text.casefold(), n.casefold()).ratio()
                   for n in u.names)
    best = max(alike(u) for u in units)
    return [u for u in units if alike(u) == best]


def _ancestors(code: str, parent: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    here = parent.get(code)
    while isinstance(here, str) and here and here not in out and len(out) < 10:
        out.append(here)
        here = parent.get(here)
    return tuple(out)


# ----------------------------------------------------------------------- records


def match_places(records: pd.DataFrame, units: pd.DataFrame, rules: LinkRules,
                 levels: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per place of each record (``record_id``, ``country_iso3``, ``place``,
    ``raw``) with the unit of the store's gazetteer (``units``: admin_units rows) it
    matches: ``level``, ``code``, ``unit_name``, ``method`` (code, exact, normalised,
    fuzzy, ambiguous, unmatched), ``score`` and, when ambiguous, the ``candidates``.
    ``levels`` (``admin_levels`` rows with ``country_iso3``, ``level``, ``name``,
    ``name_en``) lets "X district" prefer a unit of the level named District."""
    words = _level_words_of(levels)
    gazetteers = {country: Gazetteer.of(group, rules.abbreviations, words.get(str(country)))
                  for country, group in units.groupby("country_iso3")}
    empty = Gazetteer([], rules.abbreviations)
    rows: list[dict[str, Any]] = []
    for rec in records.itertuples(index=False):
        gazetteer = gazetteers.get(rec.country_iso3, empty)
        for m in _record_matches(record_places(rec.place, rec.raw), gazetteer, rules):
            rows.append(_row(rec.record_id, rec.country_iso3, m))
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def _level_words_of(levels: pd.DataFrame | None) -> dict[str, dict[int, frozenset[str]]]:
    out: dict[str, dict[int, frozenset[str]]] = {}
    if levels is None:
        return out
    for row in levels.itertuples(index=False):
        said = frozenset().union(*(level_words(n) or frozenset([place_key(n)])
                                   for n in (row.name, row.name_en) if isinstance(n, str)))
        mine = out.setdefault(str(row.country_iso3), {})
        mine[int(row.level)] = mine.get(int(row.level), frozenset()) | said
    return out


def _record_matches(places: list[Place], gazetteer: Gazetteer, rules: LinkRules
                    ) -> Iterator[Match]:
    """Contexts first (a parenthesised unit, the record's adm1 units), then the places
    within them."""
    contexts: dict[str, Match] = {}
    for place in places:
        if place.role == "context" or place.source_level == "adm1":
            m = gazetteer.match(place, rules.fuzzy_score)
            contexts.setdefault(place.text.casefold(), m)
            yield m
    for place in places:
        if place.role == "context" or place.source_level == "adm1":
            continue
        within = [contexts[c.casefold()].unit for c in place.context
                  if c.casefold() in contexts and contexts[c.casefold()].unit is not None]
        if not within and not place.context:
            within = [m.unit for m in contexts.values() if m.unit is not None]
        yield gazetteer.match(replace(place), rules.fuzzy_score, [u for u in within if u])


def _row(record_id: str, country: str, m: Match) -> dict[str, Any]:
    p, u = m.place, m.unit
    return {"record_id": record_id, "country_iso3": country, "origin": p.origin,
            "role": p.role, "text": p.text, "context": "; ".join(p.context) or None,
            "source_level": p.source_level, "source_code": p.source_code,
            "level": u.level if u else None, "code": u.code if u else None,
            "unit_name": u.name if u else None, "method": m.method, "score": m.score,
            "candidates": " ".join(m.candidates) or None}


def review_list(matches: pd.DataFrame) -> pd.DataFrame:
    """The places no unit was found for, or several were: what a person settles."""
    return matches[matches.method.isin(REVIEW_METHODS)].reset_index(drop=True)


def matched_units(matches: pd.DataFrame, units: pd.DataFrame) -> dict[str, set[str]]:
    """Record id → the units its places (and their contexts) matched, with every unit
    above them, as ``level:code``."""
    level = {(c, str(k)): int(v) for c, k, v in
             zip(units.country_iso3, units.code, units.level, strict=True)}
    parent = {(c, str(k)): p for c, k, p in
              zip(units.country_iso3, units.code, units.parent_code, strict=True)}
    out: dict[str, set[str]] = {}
    found = matches[matches.code.notna()]
    for record_id, group in found.groupby("record_id"):
        codes: set[str] = set()
        for country, code in zip(group.country_iso3, group.code, strict=True):
            here: Any = str(code)
            while isinstance(here, str) and (country, here) in level:
                codes.add(f"{level[(country, here)]}:{here}")
                here = parent.get((country, here))
        out[str(record_id)] = codes
    return out


def _numbers(text: str) -> list[int]:
    return [int(d) for d in _DIGITS.findall(text)]
