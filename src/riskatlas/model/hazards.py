"""Hazard taxonomy (UNDRR-ISC HIPs 2025), reporting groups and the source-term crosswalk.

The crosswalk is data (``data/hazard_crosswalk.csv``, ``data/emdat_crosswalk.csv`` and
any file a user adds): each row maps a source term to a HIPs code and a reporting group.
A term that matches no row is *unmapped*: its records keep the source term, get no code
and no group, and the term goes to the review list. It is never dropped and never
silently counted as "Other".

Matching (:meth:`Crosswalk.match`) compares *keys*: the term's words with case, accents,
spaces, hyphens and other punctuation removed ("Thunder-storm" and "THUNDERSTORM" are
both ``thunderstorm``). In this order, and the first rule that finds something wins:

1. the key of the term, then of the catalogue's English name, equals a row's key;
2. plural-insensitive and word-order-free, for the term, then for its English name: a
   singular form of the term (its words in any order) is a row, or a singular form of a
   row is the term. A word loses a plural ending (-s, -es, -ies → -y, Portuguese -ões →
   -ão) only if 3 letters or more are left and it does not end in "ss"; cut forms are
   never compared with each other, so "GAS", "PEST" or "LOSS" never become another word.
   If these variants point to rows with different codes or groups, the term stays
   unmapped: nothing is guessed.

Every key and variant of the rows is computed once, when the crosswalk is built, so a
lookup costs a few dictionary probes whatever the size of the crosswalk.
:func:`suggest` proposes the closest HIPs 2025 entries for a term left unmapped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.errors import MappingError, UnknownHazardError

if TYPE_CHECKING:
    from riskatlas import plugins

BUILTIN_CROSSWALKS = ("hazard_crosswalk.csv", "emdat_crosswalk.csv")
CROSSWALK_COLUMNS = ("term", "hips_code", "group", "note")
_WORD = re.compile(r"[^\W_]+")
_MIN_STEM = 3  # a plural ending is removed only if at least this many letters are left
_MAX_VARIANTS = 64  # variants tried per term (a term of DesInventar has at most ~5 words)
_MIN_SCORE = 0.4  # suggestions below this similarity are not shown
_CLASSIFICATION_KEY = re.compile(r"[a-z]{3}(?:-[a-z]{3}){3}")  # EM-DAT: nat-hyd-flo-riv
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
    rule: str = "exact"  # exact | variant (plural-insensitive or word-order-free)


@dataclass(frozen=True)
class Suggestion:
    """A HIPs 2025 entry close to an unmapped term, and why (``resembles``)."""

    hips_code: str
    hips_name: str
    group: str
    score: float  # 0–1; 1 when the crosswalk maps the term already
    resembles: str  # the crosswalk term or HIPs name the term is closest to
    source: str  # crosswalk | hips | mapped

    def csv_line(self, term: str, note: str) -> str:
        """The crosswalk row mapping ``term`` to this entry, ready to add to a file."""
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([term, self.hips_code, self.group, note])
        return out.getvalue()


def normalize_term(term: str) -> str:
    """Fold case, accents, punctuation and spacing: 'Épidémie ' → 'epidemie'."""
    text = unicodedata.normalize("NFKD", term.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\s._\-/,;:'’\"()]+", " ", text)
    return text.strip()


def term_words(term: str) -> tuple[str, ...]:
    """The words of a term without case, accents or punctuation: 'Crue-éclair' →
    ('crue', 'eclair')."""
    text = unicodedata.normalize("NFKD", term.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return tuple(_WORD.findall(text))


def match_key(term: str) -> str:
    """The key a term is matched on: its words joined without spaces or hyphens
    ('Thunder storm' → 'thunderstorm', 'GEMPA BUMI DAN TSUNAMI' → 'gempabumidantsunami')."""
    return "".join(term_words(term))


def singular_forms(word: str) -> tuple[str, ...]:
    """The word and what it would be without a plural ending (-s, -es, -ies → -y,
    Portuguese -ões → -ão), keeping at least 3 letters and never cutting a final "ss":
    'floods' → ('floods', 'flood'), 'tempestades' → ('tempestades', 'tempestade', 'tempestad'),
    'gas' → ('gas',), 'loss' → ('loss',)."""
    if not word.endswith("s") or word.endswith("ss"):
        return (word,)
    forms = [word]
    for ending, instead in (("s", ""), ("es", ""), ("ies", "y"), ("oes", "ao")):
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            forms.append(word[: -len(ending)] + instead)
    return tuple(dict.fromkeys(forms))


def _variants(words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The term's words with every combination of singular forms (the words as given
    first), at most ``_MAX_VARIANTS``."""
    return itertools.islice(itertools.product(*(singular_forms(w) for w in words)),
                            _MAX_VARIANTS)


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
        self.entries: dict[str, HazardMatch] = {}  # by match_key
        spellings: dict[tuple[str, ...], str] = {}  # the words of every row → its key
        versions = []
        for name, text in sources:
            versions.append(_version_of(name, text))
            for term, match in _parse_crosswalk(name, text):
                words = term_words(term)
                if words:
                    self.entries["".join(words)] = match
                    spellings[words] = "".join(words)
        self.version = "+".join(versions)
        # word-order-free keys of the rows, and the rows' singular forms (joined and sorted),
        # each with the mapping its key has after every file (a later file overrides)
        self._own: dict[str, HazardMatch | None] = {}
        self._singular: dict[str, HazardMatch | None] = {}
        for words, key in spellings.items():
            match = self.entries[key]
            _index(self._own, [" ".join(sorted(words))], match)
            for variant in itertools.islice(_variants(words), 1, None):
                _index(self._singular, ["".join(variant), " ".join(sorted(variant))], match)
        self._cache: dict[tuple[str, str | None], HazardMatch | None] = {}

    def match(self, term: str | None, term_en: str | None = None) -> HazardMatch | None:
        """The mapping of a term: its key, then the catalogue English name's key, then
        their variants (see the module's documentation). None = unmapped."""
        if not term:
            return None
        key = (term, term_en)
        if key not in self._cache:
            names = [n for n in (term, term_en) if n]
            found = next((self.entries[k] for k in map(match_key, names) if k in self.entries),
                         None)
            if found is None:
                found = next((m for m in map(self._variant_match, names) if m), None)
            self._cache[key] = found
        return self._cache[key]

    def _variant_match(self, name: str) -> HazardMatch | None:
        """A row whose key equals a singular form of the term (any word order), or whose
        singular form equals the term; None if none, or if they disagree."""
        words = term_words(name)
        probes: list[tuple[Mapping[str, HazardMatch | None], str]] = [
            (self._singular, "".join(words)), (self._singular, " ".join(sorted(words)))]
        for variant in _variants(words):
            probes += [(self.entries, "".join(variant)), (self._own, " ".join(sorted(variant)))]
        found: HazardMatch | None = None
        for index, key in probes:
            if key in index:
                match = index[key]
                if match is None or (found is not None and not _same(found, match)):
                    return None  # rows disagree: left for review, never guessed
                found = found or match
        return replace(found, rule="variant") if found else None

    @cached_property
    def _candidates(self) -> list[_Candidate]:
        """What a term is compared with for suggestions: the rows with a HIPs code (not
        EM-DAT's classification keys, which are identifiers) and the HIPs 2025 names."""
        rows = [_Candidate.of(m.matched_term, m.hips_code, m.group, "crosswalk")
                for m in self.entries.values()
                if m.hips_code and not _CLASSIFICATION_KEY.fullmatch(m.matched_term)]
        names = [_Candidate.of(h.name_en, h.code, group_of_code(h.code), "hips")
                 for h in hips_types().values()]
        return rows + names


def _same(a: HazardMatch, b: HazardMatch) -> bool:
    return (a.hips_code, a.group) == (b.hips_code, b.group)


def _index(index: dict[str, HazardMatch | None], keys: Iterable[str],
           match: HazardMatch) -> None:
    """Add ``match`` under ``keys``; a key that rows with different mappings share → None."""
    for key in keys:
        known = index.setdefault(key, match)
        if known is not None and not _same(known, match):
            index[key] = None


@dataclass(frozen=True)
class _Candidate:
    text: str
    hips_code: str
    group: str
    source: str
    key: str
    words: tuple[str, ...]
    grams: frozenset[str]

    @classmethod
    def of(cls, text: str, code: str, group: str, source: str) -> _Candidate:
        words = term_words(text)
        key = "".join(words)
        return cls(text, code, group, source, key, words, _trigrams(key))


def _trigrams(key: str) -> frozenset[str]:
    padded = f"^{key}$"
    return frozenset(padded[i:i + 3] for i in range(len(padded) - 2))


def _covered(words: tuple[str, ...], key: str) -> float:
    """Share of the words' letters found in ``key``: a word counts if it or one of its
    singular forms is part of ``key``; words of 1–2 letters ("de", "y") never do."""
    total = sum(len(w) for w in words)
    found = sum(len(w) for w in words
                if any(f in key for f in singular_forms(w) if len(f) >= _MIN_STEM))
    return found / total if total else 0.0


def _similarity(words: tuple[str, ...], grams: frozenset[str], c: _Candidate) -> float:
    """0–1: the better of the trigram overlap of the keys (Dice) and the mean share of
    each side's words found in the other."""
    key = "".join(words)
    dice = 2 * len(grams & c.grams) / (len(grams) + len(c.grams)) if grams else 0.0
    coverage = (_covered(words, c.key) + _covered(c.words, key)) / 2
    return max(dice, coverage)


def suggest(crosswalk: Crosswalk, term: str, term_en: str | None = None,
            limit: int = 3) -> list[Suggestion]:
    """The HIPs 2025 entries closest to a term (and its English name), best first.

    If the crosswalk maps the term already (it was imported with an older crosswalk),
    that mapping is the one suggestion. Otherwise the term is compared with every row of
    the crosswalk that has a code and with every HIPs 2025 name; each code is scored by
    its closest text, and codes scoring below 0.4 are left out.
    """
    types = hips_types()
    mapped = crosswalk.match(term, term_en)
    if mapped is not None and mapped.hips_code:
        return [Suggestion(mapped.hips_code, types[mapped.hips_code].name_en, mapped.group,
                           1.0, mapped.matched_term, "mapped")]
    best: dict[str, tuple[float, _Candidate]] = {}
    for name in dict.fromkeys(n for n in (term, term_en) if n):
        words = term_words(name)
        grams = _trigrams("".join(words))
        for c in crosswalk._candidates:
            score = _similarity(words, grams, c)
            if score >= _MIN_SCORE and score > best.get(c.hips_code, (0.0, c))[0]:
                best[c.hips_code] = (score, c)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [Suggestion(code, types[code].name_en, c.group, round(score, 2), c.text, c.source)
            for code, (score, c) in ranked]


def _version_of(name: str, text: str) -> str:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    found = re.match(r"#\s*version:\s*(\S+)", first)
    if found:
        return f"{Path(name).stem}@{found.group(1)}"
    return f"{Path(name).stem}@sha256:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _parse_crosswalk(name: str, text: str) -> Iterable[tuple[str, HazardMatch]]:
    """The rows of a crosswalk file; lines starting with # are comments. The header line
    may be left out: the columns are then term, hips_code, group, note."""
    rows = [(n, next(csv.reader([line]), []))
            for n, line in enumerate(text.lstrip("\ufeff").splitlines(), 1)
            if not line.startswith("#")]
    header: tuple[str, ...] = CROSSWALK_COLUMNS
    if rows and rows[0][1] and rows[0][1][0].strip().lower() == "term":
        header = tuple(cell.strip() for cell in rows.pop(0)[1])
    codes, groups = hips_types(), reporting_groups()
    for lineno, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        row = dict(zip(header, cells, strict=False))
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
    """The crosswalks of the entry points ``riskatlas.crosswalks`` (the built-in ones
    first, then those of installed plug-ins) plus the user's files; a later file wins on
    conflicts."""
    sources = plugin_crosswalks()
    for path in extra:
        sources.append((str(path), Path(path).read_text("utf-8")))
    return Crosswalk(sources)


def builtin_crosswalks() -> list[Traversable]:
    """The crosswalk files RiskAtlas ships (its entry point ``riskatlas.crosswalks``)."""
    folder = resources.files("riskatlas.data")
    return [folder / name for name in BUILTIN_CROSSWALKS if (folder / name).is_file()]


def plugin_crosswalks() -> list[tuple[str, str]]:
    """(name, CSV text) of the files each ``riskatlas.crosswalks`` entry point names: a
    file, a list of files, or a function returning either (:mod:`riskatlas.plugins`). A
    plug-in's files are named ``distribution/file`` in messages and in the version; a
    plug-in that cannot be read raises :class:`~riskatlas.errors.PluginError`."""
    from riskatlas import plugins

    sources = []
    for plugin in plugins.installed(plugins.CROSSWALKS):
        named = plugin.object()
        files = named() if callable(named) else named
        if isinstance(files, str | PathLike) or hasattr(files, "read_text"):
            files = [files]
        if not isinstance(files, Iterable):
            raise plugin.error("plugin.wrong_kind", kind=type(files).__name__,
                               expected="crosswalk CSV files")
        for file in files:
            sources.append(_plugin_file(plugin, file))
    return sources


def _plugin_file(plugin: plugins.Plugin, file: Any) -> tuple[str, str]:
    """(name, text) of one file a crosswalk plug-in names."""
    entry = Path(file) if isinstance(file, str | PathLike) else file
    if not hasattr(entry, "read_text") or not hasattr(entry, "is_file"):
        raise plugin.error("plugin.wrong_kind", kind=type(file).__name__,
                           expected="crosswalk CSV files")
    if not entry.is_file():
        raise plugin.error("plugin.missing_file", file=str(entry))
    name = entry.name if plugin.builtin else f"{plugin.dist}/{entry.name}"
    return name, entry.read_text("utf-8")
