"""Column headers → fields: the header recogniser of table readers, fed by data files.

A *header list* (a CSV like ``data/desinventar_flat_headers.csv``: ``header, field, kind,
style, note``) says which headers mean which field, what the field holds (``count``,
``flag`` or ``other``) and which label set a header belongs to (``english``, ``spanish``,
``french``, ``portuguese``, ``dbf``, ``other``). A *word list* (``data/header_words.csv``)
says how headers are normalised. This module only applies them; the rules are documented
for users in ``docs/data-quality.md`` ("Column headers").

**Normalisation** (:func:`normalise`). A header becomes a *key*: accents and case dropped,
cut into runs of letters and runs of digits (``Losses $USD`` → losses, usd; ``Level1`` →
level, 1; ``HousesDestroyed`` → houses, destroyed), each word replaced or dropped as the
word list says (damaged → damage, US → usd, of/de/people/currency dropped), else stripped
of a plural ending, then sorted. ``Losses $USD``, ``losses_usd`` and ``LOSSES (USD)`` share
the key ``loss usd``; ``damaged houses``, ``houses damaged`` and ``damage in houses`` share
``damage house``. A header whose first word is a count word (``No. of``, ``Number of``) is
marked as naming a count: it never matches a flag field.

**Matching** (:meth:`HeaderList.recognise`), in this order:

1. An *override* (``--column FIELD=COLUMN``) always wins, and that column is read as
   nothing else; ``FIELD=`` alone reads the field from no column.
2. *Exact*: the key of the header is the key of a listed header, of a field name or of a
   canonical name. Full labels and 10-character DBF forms (listed with style ``dbf``, or
   derived from every label longer than 10 characters, see :func:`dbf_form`) are kept
   apart, because a cut label can equal another field's full label ("Education centers" →
   ``Education``, which in full is the education sector flag). The DBF forms come first
   only in a *DBF layout*: a table whose recognised headers are all at most 10 characters
   long and include at least one cut label that is no full label (``Dead_Peopl``).
3. *Fuzzy*: a header that matched nothing is compared with every key (the
   ``difflib.SequenceMatcher`` ratio of the two keys). It is read as the field of the best
   key only if the score is at least :data:`FUZZY_SCORE`, its key has at least
   :data:`FUZZY_MIN_LENGTH` characters, both keys hold the same digits, no other field
   scores :data:`FUZZY_SCORE` too, no other column is read as that field, and no other
   column is close to that field too (then neither is read). Every fuzzy match is
   reported with its score.

**Two columns, one field** (a repeated header, or two headers of one meaning such as
``Total Deaths`` and ``deaths``): the override decides; else a column with values in the
sampled rows wins over one that is blank there; else the first column. Each such choice is
a :class:`Choice` naming both columns (readers turn it into a note). With ``strict`` a
choice that only the column order made is an error that asks for ``--column``. The column
not chosen is read as no field and kept in the raw row, like every unrecognised column.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from riskatlas.errors import SourceFormatError
from riskatlas.sources.tables import header_names

FUZZY_SCORE = 0.88  # lowest similarity of two keys accepted as the same header
FUZZY_MIN_LENGTH = 5  # shorter keys are never matched fuzzily ("Day" ≠ "Dar")
DBF_WIDTH = 10  # characters of a DBF field name
SAMPLE_VALUES = 3  # distinct values shown per column by ``--inspect``
SAMPLE_CHARS = 40
WORDS_FILE = "header_words.csv"
KINDS = ("count", "flag", "other")
LANGUAGES = ("english", "spanish", "french", "portuguese")  # labels that get DBF forms
STYLES = (*LANGUAGES, "dbf", "other")
COUNT_WORD = "#count"
LAYOUTS = ("labels", "dbf")
_WORD = re.compile(r"[^\W\d_]+|\d+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NOT_DBF = re.compile(r"[^0-9A-Za-z]")


# -- normalisation ------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """A normalised header: its words, sorted and joined by spaces."""

    text: str
    counted: bool = False  # the header starts with a count word ("No. of", "Number of")

    @property
    def digits(self) -> tuple[str, ...]:
        return tuple(w for w in self.text.split() if w.isdigit())


@dataclass(frozen=True)
class Words:
    """The word list: word → what it means ("" drops it), and the count words."""

    means: Mapping[str, str]
    counts: frozenset[str]


def _table_rows(text: str, source: str, columns: Sequence[str]
                ) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a data CSV whose comment lines start with ``#``."""
    lines = text.lstrip("\ufeff").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise _bad(source, numbered[0][0] if numbered else 1,
                   f"the columns {', '.join(missing)} are missing")
    for row in reader:
        yield numbered[reader.line_num - 1][0], {k: (v or "").strip() for k, v in row.items()
                                                 if k is not None}


def _bad(source: str, line: int, reason: str) -> SourceFormatError:
    return SourceFormatError("headers.bad_list", path=source, line=line, reason=reason)


def parse_words(text: str, source: str = WORDS_FILE) -> Words:
    means: dict[str, str] = {}
    counts: set[str] = set()
    for line, row in _table_rows(text, source, ("word", "means")):
        word = row["word"].casefold()
        if not _WORD.fullmatch(word) or word in means:
            raise _bad(source, line, f"'{row['word']}' is no single word, or is listed twice")
        if row["means"] == COUNT_WORD:
            counts.add(word)
            means[word] = ""
        else:
            means[word] = row["means"].casefold()
    return Words(means, frozenset(counts))


@cache
def word_list() -> Words:
    """The shipped word list (``data/header_words.csv``)."""
    return parse_words(resources.files("riskatlas.data").joinpath(WORDS_FILE).read_text("utf-8"))


def singular(word: str) -> str:
    """A word without a plural ending: -ies → -y, -sses → -ss, -aux → -al, else a final -s
    (not after s, u or i); words of 3 letters or fewer and numbers stay as they are."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("aux"):
        return word[:-3] + "al"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _plain(text: str) -> str:
    """Text without accents (NFKD, combining marks dropped) and without a BOM."""
    decomposed = unicodedata.normalize("NFKD", str(text).replace("\ufeff", ""))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=16384)
def normalise(header: str) -> Key:
    """The key of a header (see the module docstring)."""
    words = word_list()
    found: list[str] = []
    counted = False
    for position, word in enumerate(_WORD.findall(_CAMEL.sub(" ", _plain(header)).casefold())):
        if word not in words.means:
            word = singular(word)
        if word in words.counts and position == 0:
            counted = True
        meaning = words.means.get(word, word)
        if meaning:
            found.append(meaning)
    return Key(" ".join(sorted(found)), counted)


def dbf_form(label: str) -> str:
    """A label as a DBF field name: without accents, cut to 10 characters, trailing spaces
    dropped, every other character than a letter or digit made ``_`` ("Dead People" →
    ``Dead_Peopl``, "Losses $USD" → ``Losses__US``, "Education centers" → ``Education``)."""
    return _NOT_DBF.sub("_", _plain(label).strip()[:DBF_WIDTH].rstrip())


# -- the header list ----------------------------------------------------------------------
@dataclass(frozen=True)
class Label:
    """One header that means a field."""

    header: str
    field: str
    kind: str
    styles: tuple[str, ...]
    line: int = 0  # line of the header list; 0 for field and canonical names
    origin: str = "listed"  # listed | field name | canonical name | DBF form of a label

    @property
    def cut(self) -> bool:
        return "dbf" in self.styles

    def where(self) -> str:
        return f"line {self.line}" if self.line else self.origin


class HeaderList:
    """The headers of one format, indexed by key: full labels and DBF forms apart."""

    def __init__(self, labels: Iterable[Label], *, source: str, fields: Collection[str],
                 names: Iterable[str] = (), aliases: Mapping[str, str] | None = None,
                 flags: Collection[str] = ()) -> None:
        """``labels``: the listed headers; ``names``: field names recognised as they are;
        ``aliases``: other names of fields (canonical names), recognised too and accepted
        by ``--column``; ``flags``: the fields that are yes/no flags (checked against the
        kinds of the list)."""
        self.source = source
        self.fields = frozenset(fields)
        self.aliases = dict(aliases or {})
        self.kinds: dict[str, str] = {}
        self.full: dict[str, Label] = {}
        self.cut: dict[str, Label] = {}
        self.shared_cuts: dict[str, tuple[str, ...]] = {}  # DBF forms of two fields: unused
        listed = list(labels)
        for label in listed:
            self._check(label, flags)
        for name in names:
            listed.append(self._auto(name, name, "field name", flags))
        for alias, name in self.aliases.items():
            listed.append(self._auto(alias, name, "canonical name", flags))
        for label in listed:
            self._index(self.cut if label.cut else self.full, label)
        self._derive_cuts(listed)
        self._fuzzy_cache: dict[tuple[Key, str], list[tuple[float, Label]]] = {}
        self._pools: dict[str, list[tuple[str, tuple[str, ...], Label]]] = {}

    @classmethod
    def from_csv(cls, text: str, *, source: str, fields: Collection[str],
                 names: Iterable[str] = (), aliases: Mapping[str, str] | None = None,
                 flags: Collection[str] = ()) -> HeaderList:
        labels = [Label(row["header"], row["field"], row["kind"], tuple(row["style"].split()),
                        line)
                  for line, row in _table_rows(text, source, ("header", "field", "kind",
                                                              "style"))]
        return cls(labels, source=source, fields=fields, names=names, aliases=aliases,
                   flags=flags)

    def _check(self, label: Label, flags: Collection[str]) -> None:
        def fail(reason: str) -> SourceFormatError:
            return _bad(self.source, label.line, reason)

        if label.field not in self.fields:
            raise fail(f"'{label.field}' is no field")
        if label.kind not in KINDS:
            raise fail(f"kind '{label.kind}' is not one of {', '.join(KINDS)}")
        if not label.styles or set(label.styles) - set(STYLES):
            raise fail(f"style '{' '.join(label.styles)}' is not made of {', '.join(STYLES)}")
        if not normalise(label.header).text:
            raise fail(f"the header '{label.header}' has no words")
        known = self.kinds.setdefault(label.field, label.kind)
        if known != label.kind:
            raise fail(f"{label.field} is {known} on an earlier line and {label.kind} here")
        if (label.kind == "flag") != (label.field in flags):
            raise fail(f"{label.field} is {'' if label.field in flags else 'not '}a flag field")

    def _auto(self, header: str, name: str, origin: str, flags: Collection[str]) -> Label:
        kind = self.kinds.get(name, "flag" if name in flags else "other")
        return Label(header, name, kind, ("other",), 0, origin)

    def _index(self, index: dict[str, Label], label: Label) -> None:
        key = normalise(label.header).text
        known = index.setdefault(key, label)
        if known.field != label.field:
            raise _bad(self.source, label.line or known.line,
                       f"'{label.header}' ({label.field}, {label.where()}) and "
                       f"'{known.header}' ({known.field}, {known.where()}) have the same key "
                       f"'{key}'")

    def _derive_cuts(self, labels: Iterable[Label]) -> None:
        """The DBF forms of the labels longer than 10 characters, unless listed; a form of
        two fields is dropped (``Damages_in``: crops or roads?)."""
        derived: dict[str, list[Label]] = defaultdict(list)
        for label in labels:
            if label.cut or not set(label.styles) & set(LANGUAGES):
                continue
            if len(_plain(label.header).strip()) <= DBF_WIDTH:
                continue
            form = dbf_form(label.header)
            key = normalise(form).text
            full = self.full.get(key)
            if not key or key in self.cut or (full is not None and full.field == label.field):
                continue
            derived[key].append(Label(form, label.field, label.kind, ("dbf",), label.line,
                                      f"DBF form of '{label.header}'"))
        for key, found in derived.items():
            fields = tuple(sorted({f.field for f in found}))
            if len(fields) == 1:
                self.cut[key] = found[0]
            else:
                self.shared_cuts[key] = fields

    # -- lookups ------------------------------------------------------------------------
    def kind(self, name: str) -> str:
        return self.kinds.get(name, "other")

    def field_named(self, name: str) -> str | None:
        """A field given by its name or an alias (any case), as ``--column`` names it."""
        wanted = name.strip().casefold()
        for known in sorted(self.fields):
            if known.casefold() == wanted:
                return known
        for alias, known in self.aliases.items():
            if alias.casefold() == wanted:
                return known
        return None

    def layout(self, headers: Sequence[str], keys: Sequence[Key]) -> str:
        """``dbf`` when the recognised headers are all DBF-sized and one is a cut label
        that no full label equals; else ``labels``."""
        hits = [(h, k) for h, k in zip(headers, keys, strict=True)
                if k.text and (k.text in self.full or k.text in self.cut)]
        cut_only = any(k.text in self.cut and k.text not in self.full for _, k in hits)
        short = all(len(h) <= DBF_WIDTH for h, _ in hits)
        return "dbf" if cut_only and short else "labels"

    def exact(self, key: Key, layout: str) -> Label | None:
        if not key.text:
            return None
        full, cut = self.full.get(key.text), self.cut.get(key.text)
        label = (cut or full) if layout == "dbf" else (full or cut)
        if label is not None and key.counted and self.kind(label.field) == "flag":
            return None  # "No. of education": a count is never a flag
        return label

    def closest(self, key: Key, layout: str) -> tuple[float, Label] | None:
        """The best fuzzy match of a key, if it is good enough and alone (see above)."""
        ranked = self._ranked(key, layout)
        if not ranked or ranked[0][0] < FUZZY_SCORE:
            return None
        if len(ranked) > 1 and ranked[1][0] >= FUZZY_SCORE:
            return None  # close to two fields: no guess
        return ranked[0]

    def _ranked(self, key: Key, layout: str) -> list[tuple[float, Label]]:
        """Each field's best score for a key, best first (cached per key and layout)."""
        cached = self._fuzzy_cache.get((key, layout))
        if cached is not None:
            return cached
        best: dict[str, tuple[float, Label]] = {}
        if len(key.text) >= FUZZY_MIN_LENGTH:
            matcher = difflib.SequenceMatcher(None, "", key.text, autojunk=False)
            for text, digits, label in self._pool(layout):
                if digits != key.digits:
                    continue
                if key.counted and self.kind(label.field) == "flag":
                    continue
                matcher.set_seq1(text)
                if matcher.real_quick_ratio() < FUZZY_SCORE or matcher.quick_ratio() < FUZZY_SCORE:
                    continue
                score = matcher.ratio()
                if score > best.get(label.field, (0.0, label))[0]:
                    best[label.field] = (score, label)
        ranked = sorted(best.values(), key=lambda pair: -pair[0])
        self._fuzzy_cache[(key, layout)] = ranked
        return ranked

    def _pool(self, layout: str) -> list[tuple[str, tuple[str, ...], Label]]:
        """The keys a header is compared with: full labels, and DBF forms in a DBF layout."""
        pool = self._pools.get(layout)
        if pool is None:
            items = list(self.full.items()) + (list(self.cut.items()) if layout == "dbf" else [])
            pool = self._pools[layout] = [(text, Key(text).digits, label)
                                          for text, label in items]
        return pool

    # -- recognising a header row -------------------------------------------------------
    def recognise(self, cells: Sequence[str], *, samples: Sequence[Sequence[str]] = (),
                  overrides: Mapping[str, str] | None = None, fuzzy: bool = True,
                  strict: bool = False, path: str = "") -> ColumnMap:
        """How the columns of a header row map to fields. ``samples``: the first data
        rows (to tell a blank column from a filled one); ``overrides``: field → column, as
        ``--column`` gives them; ``strict``: refuse a choice that only column order made."""
        names = header_names(cells, drop_trailing_blank=False)
        headers = [str(c).replace("\ufeff", "").strip() for c in cells]
        keys = [normalise(h) for h in headers]
        found = [Column(i, names[i], headers[i]) for i in range(len(cells))]
        layout = self.layout(headers, keys)
        forced = self._forced(overrides or {}, found, path)
        reserved = {i for i in forced.values() if i is not None}
        claims: dict[str, list[Column]] = defaultdict(list)
        for column, key in zip(found, keys, strict=True):
            label = None if column.index in reserved else self.exact(key, layout)
            if label is not None:
                column.read_as(label.field, self.kind(label.field),
                               "dbf" if label.cut else "exact", label.header)
                claims[label.field].append(column)
        choices: list[Choice] = []
        for name, index in forced.items():
            used = found[index].name if index is not None else ""
            for other in claims.pop(name, []):
                choices.append(Choice(name, used, other.name, "override"))
                other.set_aside()
            if index is not None:
                found[index].read_as(name, self.kind(name), "override", None)
        for name, columns in claims.items():
            if len(columns) > 1:
                choices.extend(self._choose(name, columns, samples, strict, path))
        if fuzzy:
            self._fuzzy(found, keys, layout, reserved)
        return ColumnMap(found, layout, choices)

    def _forced(self, overrides: Mapping[str, str], found: Sequence[Column], path: str
                ) -> dict[str, int | None]:
        forced: dict[str, int | None] = {}
        for name, wanted in overrides.items():
            known = self.field_named(name)
            if known is None:
                raise SourceFormatError("headers.unknown_field", path=path, field=name,
                                        fields=", ".join(sorted(self.aliases) or
                                                         sorted(self.fields)))
            index = find_column(wanted, found) if wanted.strip() else None
            if wanted.strip() and index is None:
                raise SourceFormatError("headers.unknown_column", path=path, field=name,
                                        column=wanted,
                                        columns=", ".join(c.name for c in found))
            if index is not None and index in forced.values():
                other = next(f for f, i in forced.items() if i == index)
                raise SourceFormatError("headers.column_twice", path=path,
                                        column=found[index].name, field=known, other=other)
            forced[known] = index
        return forced

    @staticmethod
    def _choose(name: str, columns: Sequence[Column], samples: Sequence[Sequence[str]],
                strict: bool, path: str) -> list[Choice]:
        filled = [c for c in columns if has_values(c.index, samples)]
        if filled and len(filled) < len(columns):
            used, reason = filled[0], "values"
        else:
            used, reason = columns[0], "first"
            if strict:
                raise SourceFormatError("headers.ambiguous", path=path, field=name,
                                        columns=", ".join(f"'{c.name}'" for c in columns))
        choices = []
        for other in columns:
            if other is not used:
                choices.append(Choice(name, used.name, other.name, reason))
                other.set_aside()
        return choices

    def _fuzzy(self, found: Sequence[Column], keys: Sequence[Key], layout: str,
               reserved: Collection[int]) -> None:
        taken = {c.field for c in found if c.field}
        close: dict[str, list[tuple[float, Column, Label]]] = defaultdict(list)
        for column, key in zip(found, keys, strict=True):
            if column.field or column.aside or column.index in reserved:
                continue
            match = self.closest(key, layout)
            if match is not None and match[1].field not in taken:
                close[match[1].field].append((match[0], column, match[1]))
        for name, matches in close.items():
            if len(matches) == 1:  # two columns close to one field: neither is guessed
                score, column, label = matches[0]
                column.read_as(name, self.kind(name), "fuzzy", label.header,
                               round(score, 2))


# -- the result ---------------------------------------------------------------------------
@dataclass
class Column:
    """One column of a table and how it is read."""

    index: int
    name: str  # its key in the raw row (blank → column_N, repeated → "name (2)")
    header: str  # as in the file
    field: str | None = None
    kind: str | None = None
    how: str = ""  # exact | dbf | fuzzy | override; "" when read as no field
    label: str | None = None  # the known header it matched
    score: float | None = None  # fuzzy matches only
    aside: bool = False  # another column was read as its field

    def read_as(self, name: str, kind: str, how: str, label: str | None,
                score: float | None = None) -> None:
        self.field, self.kind, self.how, self.label, self.score = name, kind, how, label, score

    def set_aside(self) -> None:
        self.field = self.kind = self.label = self.score = None
        self.how, self.aside = "", True


@dataclass(frozen=True)
class Choice:
    """Two columns meant one field: ``used`` is read, ``other`` is not. ``reason``:
    override (``--column``; ``used`` is "" for none), values (``other`` is blank in the
    sampled rows) or first (the first column)."""

    field: str
    used: str
    other: str
    reason: str


@dataclass
class ColumnMap:
    """How the columns of one table map to fields."""

    found: list[Column]
    layout: str
    choices: list[Choice] = field(default_factory=list)
    columns: dict[str, int] = field(init=False)  # field → column index

    def __post_init__(self) -> None:
        self.columns = {c.field: c.index for c in self.found if c.field}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.found]

    @property
    def repeated(self) -> list[tuple[str, str, str]]:
        """(field, column read, column not read) of each choice."""
        return [(c.field, c.used, c.other) for c in self.choices]

    def header_of(self, name: str) -> str:
        return self.names[self.columns[name]]

    def unmapped(self, samples: Sequence[Sequence[str]] = ()) -> list[str]:
        """Columns read as no field; a column without header counts only if the sampled
        rows give it a value (a workbook's used range is often wider than its table)."""
        return [c.name for c in self.found
                if c.field is None and (c.header or has_values(c.index, samples))]

    def blank_headers(self, samples: Sequence[Sequence[str]]) -> list[str]:
        return [c.name for c in self.found if not c.header and has_values(c.index, samples)]


def has_values(index: int, samples: Sequence[Sequence[str]]) -> bool:
    return any(index < len(row) and str(row[index]).strip() for row in samples)


def sample_values(index: int, samples: Sequence[Sequence[str]]) -> list[str]:
    """Up to :data:`SAMPLE_VALUES` distinct values of a column, as shown by ``--inspect``."""
    values: list[str] = []
    for row in samples:
        value = str(row[index]).strip() if index < len(row) else ""
        if len(value) > SAMPLE_CHARS:
            value = value[: SAMPLE_CHARS - 1] + "…"
        if value and value not in values:
            values.append(value)
            if len(values) == SAMPLE_VALUES:
                break
    return values


def find_column(wanted: str, found: Sequence[Column]) -> int | None:
    """The column ``--column`` names: its raw-row name, else its header, else its header in
    any case (when only one column has it)."""
    wanted = wanted.strip()
    for column in found:
        if column.name == wanted:
            return column.index
    for column in found:
        if column.header == wanted:
            return column.index
    folded = [c.index for c in found if c.header.casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def forced_columns(overrides: Mapping[str, str], names: Sequence[str],
                   fields: Collection[str], *, path: str,
                   aliases: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """``--column FIELD=COLUMN`` for a reader whose columns a fixed layout or a mapping file
    names (EM-DAT, mapped tables): field (by its name or an alias, in any case) → the name of
    the column to read it from (as a raw row names it; a header in any case when only one
    column has it), or None for ``FIELD=`` (the field is read from no column). Wrong fields
    and columns give the flat reader's messages."""
    by_name = {f.casefold(): f for f in fields}
    by_name.update({a.casefold(): f for a, f in (aliases or {}).items() if f in fields})
    forced: dict[str, str | None] = {}
    for name, wanted in overrides.items():
        known = by_name.get(name.strip().casefold())
        if known is None:
            raise SourceFormatError("headers.unknown_field", path=path, field=name,
                                    fields=", ".join(sorted(fields)))
        column = None
        if wanted.strip():
            folded = [n for n in names if n.casefold() == wanted.strip().casefold()]
            column = wanted.strip() if wanted.strip() in names else (
                folded[0] if len(folded) == 1 else None)
            if column is None:
                raise SourceFormatError("headers.unknown_column", path=path, field=name,
                                        column=wanted, columns=", ".join(names))
            other = next((f for f, c in forced.items() if c == column), None)
            if other is not None:
                raise SourceFormatError("headers.column_twice", path=path, column=column,
                                        field=known, other=other)
        forced[known] = column
    return forced


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``--column FIELD=COLUMN`` options as field → column (``FIELD=``: no column)."""
    overrides: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not name.strip():
            raise SourceFormatError("headers.bad_override", value=item)
        overrides[name.strip()] = column.strip()
    return overrides


@dataclass
class ColumnReport:
    """What ``riskatlas import --inspect`` shows of one table: nothing is written."""

    path: str
    format: str
    header_row: int  # 1-based row of the header among the rows of the table
    layout: str
    columns: list[dict[str, Any]]  # column, field, canonical, kind, how, label, score, samples
    unmapped_columns: list[str]
    notes: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def column_rows(mapping: ColumnMap, samples: Sequence[Sequence[str]],
                canonical: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per column for a :class:`ColumnReport`."""
    return [{"column": c.name, "field": c.field,
             "canonical": canonical.get(c.field) if c.field else None, "kind": c.kind,
             "how": c.how, "label": c.label, "score": c.score,
             "samples": sample_values(c.index, samples)} for c in mapping.found]
