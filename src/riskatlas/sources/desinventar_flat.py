"""DesInventar flat tables: the CSV or XLSX a user saves from DesConsultar.

One row per data card, under any of the header styles DesInventar tools print: the
DesInventar field names (``fechano, evento, muertos, level0, name0 ...``), DesConsultar's
English or Spanish labels (``Year, Event, Deaths, Houses Destroyed, Losses $USD ...``),
the 10-character labels of a DBF round trip (``Dead_Peopl, Affected_H, Losses__US``, as in
the Nepal export) and snake-case labels (``deaths, admin_level_1_code ...``).

Headers are recognised by :mod:`riskatlas.sources.headers` with the header list
``data/desinventar_flat_headers.csv`` (English, Spanish, French and Portuguese labels, their
DBF forms, field and canonical names; normalised for case, accents, signs, currency words,
plurals and word order). Count and flag columns are told apart by their headers only: a bare
sector name ("Education", "educación") is the sector flag (-1 yes, 0 no), a header naming
centres, schools or a number is the count, except in a table of 10-character DBF labels
(Nepal), where "Education" is the cut of "Education centers". ``--column FIELD=COLUMN``
(``ReadOptions.columns``) overrides any choice; :func:`inspect` shows the mapping with sample
values and reads nothing else. Each row is renamed to DesInventar field names and typed by
:func:`card_values` + :class:`RecordBuilder`, so the rules are those of the XML reader; the
"other sectors" flag ``hay_otros`` is read into ``sector_other``, as by the XML reader.
Conventions:

* **Header row**: the first of the first 10 non-empty rows with at least 3 recognised
  fields; rows above it are a preamble. Only the first sheet of a workbook is read.
* **Raw row**: every column, keyed by its header as in the file (a blank header becomes
  ``column_N``, a repeated one ``name (2)``; cells beyond the header ``column_N``), with
  the cell text as read. Workbook numbers are rendered as a user sees them (``1977`` not
  ``1977.0``), dates as ISO text.
* **Empty rows** (every cell blank or spaces) are skipped and not counted as read; they
  still take a row number, so ``source_row`` (1-based, counted from the row after the
  header) always points at the same data row of the file.
* **Keys**: the native key is ``clave`` when the table has one, else the serial. DesInventar
  serials are not unique, so repeats get ``~2``, ``~3`` suffixes in reading order.
* **Coordinates**: ``Latitude``/``Longitude`` when given and not both 0, else the GIS-join
  centroid columns ``POINT_Y``/``POINT_X`` (WGS84) when present.
* **Country**: ``--country``; else, for files named like DesInventar's own exports
  (``DI_export_npl.csv``), the ISO3 code of the name; else a country's English name in the
  file name (``nepal_2016.csv``); else level-0 codes that are ISO3 codes (multi-country
  roll-ups, seen in the first 100 data rows); else the import stops before writing anything
  and asks for ``--country``.
* **Admin units**: one unit per distinct code of level 0–2 (and country) with the most
  frequent name and parent code seen in imported records; units of level 1 and 2 get as
  centroid the mean of the distinct ``POINT_X``/``POINT_Y`` pairs of their rows (an
  approximation; no boxes or shapes). The files of one dataset add up (the running result
  is re-applied after each file). Name columns without a digit in their header
  (``region, district, village``) also name the levels.
* **Datasets**: files in one folder whose stems differ only by trailing digits and
  separators (``DesInventar2016-00`` … ``-24``) are parts of one dataset; its source key is
  ``DI-`` + the country, else that common stem, upper-cased.
* **Detection**: a header row with ≥3 recognised fields including the event and the year,
  no EM-DAT key (``DisNo.``/``Dis No``) and no serial, year or event named by two columns
  (a join of two tables, such as an analyst's list of duplicate pairs, is not an export).
* **Notices**: columns read as no field are listed in the file's result
  (``unmapped_columns``) and once per dataset (``flat.columns_raw_only``); a field named by
  two columns is read from the one with values in the first 100 rows
  (``flat.repeated_column_blank``), else the first (``flat.repeated_column``; with
  ``--strict`` an error asking for ``--column``); a fuzzy match
  (``flat.fuzzy_column``, with its score) and a column with values but no header
  (``flat.blank_header``) are noted too.
* **Files** are opened by :func:`riskatlas.sources.tables.open_table`, as by every table
  reader: UTF-8 (a BOM is allowed), UTF-16, else Windows-1252 or Latin-1 (noted as
  ``import.encoding_fallback``); delimiter ``,`` ``;`` tab or ``|``, chosen by the header
  line; quoted fields may span lines.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

from riskatlas.errors import RecordError, SourceFormatError
from riskatlas.model.countries import country_in_name, is_iso3
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import (
    CARD_FIELDS,
    HAY_FLAGS,
    card_values,
)
from riskatlas.sources.headers import (
    FUZZY_SCORE,
    ColumnMap,
    ColumnReport,
    HeaderList,
    column_rows,
)
from riskatlas.sources.library_warnings import warnings_as_notes
from riskatlas.sources.registry import (
    SNIFF_BYTES,
    UNMAPPED_COLUMNS_NOTE,
    Reader,
    ReadOptions,
)
from riskatlas.sources.tables import (
    OpenTable,
    best_delimiter,
    head_text,
    is_workbook,
    open_table,
)
from riskatlas.store.batch import AdminUnit

FORMAT = "desinventar-flat"
HEADERS_FILE = "desinventar_flat_headers.csv"
HEADER_SCAN_ROWS = 10
SAMPLE_ROWS = 100  # data rows read ahead: blank columns, ISO3 level-0 codes, --inspect
MIN_RECOGNISED = 3
PROGRESS_ROWS = 1000
GIS_FIELDS = ("gis_x", "gis_y")  # pseudo-fields: GIS-join centroid columns
EMDAT_KEYS = frozenset({"disno"})  # EM-DAT's DisNo. / Dis No: never claimed here
_DI_EXPORT = re.compile(r"(?i)^di_export_([a-z]{3})$")
_PART_SUFFIX = re.compile(r"[\d\s._\-]+$")


# -- headers -------------------------------------------------------------------------
FLAG_FIELDS = frozenset({f for f, c in CARD_FIELDS.items() if c.startswith("sector_")}
                        | set(HAY_FLAGS))
CANONICAL = dict(CARD_FIELDS)  # field → canonical name
IDENTITY = ("serial", "fechano", "evento")  # named twice: a join of two tables, no export


def normalize_header(header: str) -> str:
    """Case-folded header without accents or non-alphanumerics: 'Losses $USD' → 'lossesusd'
    (how EM-DAT's key column is told; fields are matched by :mod:`headers` keys)."""
    folded = unicodedata.normalize("NFKD", str(header).casefold())
    return "".join(ch for ch in folded if ch.isalnum() and not unicodedata.combining(ch))


@cache
def header_list() -> HeaderList:
    """The DesInventar header list (``data/desinventar_flat_headers.csv``), with the field
    names and canonical names recognised as they are."""
    names = (*CARD_FIELDS, *HAY_FLAGS, "approved")
    data = resources.files("riskatlas.data").joinpath(HEADERS_FILE).read_text("utf-8")
    return HeaderList.from_csv(data, source=HEADERS_FILE, fields=(*names, *GIS_FIELDS),
                               names=names, flags=FLAG_FIELDS,
                               aliases={canon: name for name, canon in CANONICAL.items()})


def map_header(cells: Sequence[str], *, samples: Sequence[Sequence[str]] = (),
               overrides: Mapping[str, str] | None = None, strict: bool = False,
               fuzzy: bool = True, path: str = "") -> ColumnMap:
    """How the header cells map to DesInventar fields (:meth:`HeaderList.recognise`)."""
    return header_list().recognise(cells, samples=samples, overrides=overrides, fuzzy=fuzzy,
                                   strict=strict, path=path)


def recognised(mapping: ColumnMap) -> int:
    """Fields found by their headers themselves (not GIS columns, not fuzzy matches)."""
    return sum(1 for c in mapping.found
               if c.field and c.field not in GIS_FIELDS and c.how != "fuzzy")


def _is_desinventar_header(cells: Sequence[str]) -> bool:
    """A DesConsultar header: ≥3 fields incl. event and year, no EM-DAT key, and no serial,
    year or event named by two columns (a join of two tables is no export)."""
    if EMDAT_KEYS & {normalize_header(c) for c in cells}:
        return False
    mapping = map_header(cells, fuzzy=False)
    return (recognised(mapping) >= MIN_RECOGNISED and "evento" in mapping.columns
            and "fechano" in mapping.columns
            and not any(c.field in IDENTITY for c in mapping.choices))


def _find_header(rows: Iterator[list[str]]) -> tuple[list[str], int] | None:
    """The header cells and their row number (1-based): the first of the first non-empty
    rows with ≥3 recognised fields. Consumes the rows up to and including the header, so
    the caller reads on from there."""
    seen = 0
    for number, cells in enumerate(rows, start=1):
        if not any(c.strip() for c in cells):
            continue
        seen += 1
        if recognised(map_header(cells, fuzzy=False)) >= MIN_RECOGNISED:
            return cells, number
        if seen >= HEADER_SCAN_ROWS:
            break
    return None


def header_notes(mapping: ColumnMap, samples: Sequence[Sequence[str]]
                 ) -> list[dict[str, Any]]:
    """Notes on how the header was read: choices between columns, fuzzy matches and
    columns without header (each without ``path``, which the caller adds)."""
    notes: list[dict[str, Any]] = []
    for choice in mapping.choices:
        params = {"field": choice.field, "used": choice.used, "ignored": choice.other}
        if choice.reason == "values":
            notes.append({"key": "flat.repeated_column_blank", **params, "rows": len(samples)})
        elif choice.reason == "override":
            key = "flat.column_chosen" if choice.used else "flat.column_not_read"
            notes.append({"key": key, **params})
        else:
            notes.append({"key": "flat.repeated_column", **params})
    for column in mapping.found:
        if column.how == "fuzzy":
            notes.append({"key": "flat.fuzzy_column", "column": column.name,
                          "field": column.field, "label": column.label,
                          "score": f"{column.score:.2f}", "threshold": f"{FUZZY_SCORE:.2f}"})
    for name in mapping.blank_headers(samples):
        notes.append({"key": "flat.blank_header", "column": name})
    return notes


# -- cells and files ------------------------------------------------------------------
def choose_delimiter(lines: Sequence[str]) -> str:
    """The delimiter under which a line of the first ones reads as the best header."""
    lines = [line.rstrip("\r\n") for line in lines[: HEADER_SCAN_ROWS * 2]]
    return best_delimiter(lines, lambda cells: (recognised(map_header(cells, fuzzy=False)),
                                                len(cells)))


def _locate(lines: Sequence[str]) -> tuple[int, str]:
    """The header locator of :func:`open_table`: the rows are read from the first line
    (the header is found among the rows, as in a workbook), with the best delimiter."""
    return 0, choose_delimiter(lines)


# -- sniffing and naming --------------------------------------------------------------
def sniff(path: Path, head: bytes) -> bool:
    """A CSV or workbook whose header row is a DesInventar one (never an EM-DAT table)."""
    try:
        if is_workbook(path, head):
            with open_table(path) as table:
                found = _find_header(islice(table.rows, HEADER_SCAN_ROWS * 2))
        elif head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            return False
        else:
            sample = head_text(head)
            if sample is None:
                return False
            if len(head) >= SNIFF_BYTES and "\n" in sample:
                sample = sample[: sample.rfind("\n")]  # drop a line cut by the head
            rows = csv.reader(io.StringIO(sample, newline=""),
                              delimiter=choose_delimiter(sample.splitlines()))
            found = _find_header(rows)
    except (SourceFormatError, csv.Error, OSError):
        return False
    return found is not None and _is_desinventar_header(found[0])


def family_stem(path: Path) -> str:
    """The file stem without trailing part numbers: ``DesInventar2016-07`` → ``DesInventar``."""
    stripped = _PART_SUFFIX.sub("", path.stem)
    return stripped or path.stem


def family(path: Path) -> str:
    """Parts of one export (same folder, same stem but the part number) form one dataset."""
    return f"{path.resolve().parent}/{family_stem(path).casefold()}"


def country_of(path: Path, options: ReadOptions) -> str | None:
    """``--country``, else the ISO3 code of a ``DI_export_xxx`` file name, else a country
    named in the file name (``nepal_2016.csv``), else None."""
    if options.country:
        return options.country.upper()
    found = _DI_EXPORT.match(path.stem)
    if found and is_iso3(found.group(1)):
        return found.group(1).upper()
    return country_in_name(path.stem)


def _require_country(head: Sequence[Sequence[str]], mapping: ColumnMap, name: str) -> None:
    """Pass when the first data rows show a level-0 code that is an ISO3 country (a
    multi-country roll-up); else the file names no country: fail before reading on."""
    column = mapping.columns.get("level0")
    codes = {text(cells[column]) for cells in head if column is not None and column < len(cells)}
    if not any(is_iso3(code) for code in codes):
        raise SourceFormatError("flat.no_country", path=name)


def source_key(path: Path, options: ReadOptions) -> str:
    return "DI-" + (country_of(path, options) or family_stem(path)).upper()


# -- reading --------------------------------------------------------------------------
UnitKey = tuple[str, int, str]  # (country or "", level, code), as in the store


@dataclass
class _UnitStats:
    """Admin units seen so far in one import batch (over all its files)."""

    names: dict[UnitKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    parents: dict[UnitKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    points: dict[UnitKey, set[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(set))
    level_names: dict[int, str] = field(default_factory=dict)
    noted: set[tuple[Any, ...]] = field(default_factory=set)


_BATCH_UNITS: weakref.WeakKeyDictionary[Any, _UnitStats] = weakref.WeakKeyDictionary()


def read(path: Path, batch: Any, options: ReadOptions) -> None:
    """Read one flat table into an import batch."""
    with open_table(path, locate=_locate) as table:
        _read(table, path, batch, options)


def _read(table: OpenTable, path: Path, batch: Any, options: ReadOptions) -> None:
    name, rows = path.name, table.rows
    progress = _Progress(path, options, table)
    mapping, _, head = _head(rows, name, options)
    stats = _BATCH_UNITS.setdefault(batch, _UnitStats())
    _note_columns(mapping, batch, name, stats, head)
    builder = RecordBuilder(source_key=batch.source_key, source_file=name,
                            crosswalk=batch.store.crosswalk, policy=batch.policy,
                            field_names=_field_names(mapping))
    country = country_of(path, options)
    if country is None:
        _require_country(head, mapping, name)
    touched: set[UnitKey] = set()
    for number, cells in enumerate(itertools.chain(head, rows), start=1):
        if number % PROGRESS_ROWS == 0:
            progress()
        if not any(c.strip() for c in cells):
            continue
        batch.count_read(name)
        raw = _raw_row(mapping, cells)
        try:
            record = _build(builder, mapping, cells, number, raw, country)
        except RecordError as exc:
            batch.reject(exc, raw)
            continue
        batch.add_record(record)
        touched.update(_collect_units(stats, record, mapping, cells))
    progress(final=True)
    _apply_units(batch, stats, touched, mapping)


def _head(rows: Iterator[list[str]], name: str, options: ReadOptions
          ) -> tuple[ColumnMap, int, list[list[str]]]:
    """The header's map, its row number and the first :data:`SAMPLE_ROWS` rows after it
    (consumed from ``rows``: the caller reads them first)."""
    found = _find_header(rows)
    if found is None:
        raise SourceFormatError("flat.no_header", path=name, rows=HEADER_SCAN_ROWS,
                                count=MIN_RECOGNISED)
    cells, row = found
    head = list(islice(rows, SAMPLE_ROWS))
    mapping = map_header(cells, samples=_filled(head), overrides=options.columns,
                         strict=options.strict, path=name)
    return mapping, row, head


def _filled(rows: Iterable[Sequence[str]]) -> list[Sequence[str]]:
    return [cells for cells in rows if any(c.strip() for c in cells)]


def inspect(path: Path, options: ReadOptions) -> ColumnReport:
    """How the columns of a flat table would be read, with sample values (nothing is
    written; only the header and the first :data:`SAMPLE_ROWS` rows are read)."""
    notes: list[dict[str, Any]] = []
    with warnings_as_notes(lambda key, **params: notes.append({"key": key, **params}),
                           path.name), open_table(path, locate=_locate) as table:
        mapping, row, head = _head(table.rows, path.name, options)
    samples = _filled(head)
    notes += [{**note, "path": path.name} for note in header_notes(mapping, samples)]
    return ColumnReport(str(path), FORMAT, row, mapping.layout,
                        column_rows(mapping, samples, CANONICAL), mapping.unmapped(samples),
                        notes)


class _Progress:
    """Reports the bytes read to ``options.advance``, in steps."""

    def __init__(self, path: Path, options: ReadOptions, table: OpenTable) -> None:
        self.size, self.options, self.table = path.stat().st_size, options, table
        self.reported = 0

    def __call__(self, final: bool = False) -> None:
        done = self.size if final else self.table.position()
        if done > self.reported:
            self.options.advance(done - self.reported)
            self.reported = done


def _field_names(mapping: ColumnMap) -> dict[str, str]:
    """Canonical field → the column header of this file, for error messages."""
    names = {CANONICAL[f]: mapping.header_of(f) for f in mapping.columns if f in CANONICAL}
    for coordinate, gis in (("longitude", "gis_x"), ("latitude", "gis_y")):
        if coordinate not in names and gis in mapping.columns:
            names[coordinate] = mapping.header_of(gis)
    if "native_key" not in names and "serial" in names:
        names["native_key"] = names["serial"]
    return names


def _raw_row(mapping: ColumnMap, cells: Sequence[str]) -> dict[str, str]:
    raw = {n: (cells[i] if i < len(cells) else "") for i, n in enumerate(mapping.names)}
    for i in range(len(mapping.names), len(cells)):
        if cells[i] != "":
            raw[f"column_{i + 1}"] = cells[i]
    return raw


def _build(builder: RecordBuilder, mapping: ColumnMap, cells: Sequence[str], number: int,
           raw: Mapping[str, str], country: str | None) -> dict[str, Any]:
    row = {f: (cells[i] if i < len(cells) else "") for f, i in mapping.columns.items()}
    values, unknown = card_values(row)
    values["native_key"] = text(values.get("native_key")) or text(values.get("serial"))
    if not _has_coordinates(values) and "gis_x" in row and "gis_y" in row:
        values["longitude"], values["latitude"] = row["gis_x"], row["gis_y"]
    level0 = text(values.get("level0_code"))
    values["country_iso3"] = country or (level0 if is_iso3(level0) else None)
    serial = text(values.get("serial"))
    ref = f"serial {serial} (row {number})" if serial else f"row {number}"
    return builder.build(values, row=number, record_ref=ref, raw=raw, unknown=unknown)


def _has_coordinates(values: Mapping[str, Any]) -> bool:
    lat, lon = text(values.get("latitude")), text(values.get("longitude"))
    if lat is None and lon is None:
        return False
    try:
        return not (float(lat or 0) == 0 and float(lon or 0) == 0)
    except ValueError:
        return True  # not a number: the record builder names the field


def _note_columns(mapping: ColumnMap, batch: Any, name: str, stats: _UnitStats,
                  head: Sequence[Sequence[str]]) -> None:
    """The columns read as no field (for this file's result), and notices about them and
    about how the header was read, each once per batch."""
    samples = _filled(head)
    unknown = tuple(mapping.unmapped(samples))
    if unknown:
        batch.note(UNMAPPED_COLUMNS_NOTE, path=name, columns=list(unknown))
    if unknown and unknown not in stats.noted:
        stats.noted.add(unknown)
        batch.note("flat.columns_raw_only", path=name, count=len(unknown),
                   columns=", ".join(unknown))
    for note in header_notes(mapping, samples):
        seen = tuple(sorted((k, str(v)) for k, v in note.items()))
        if seen not in stats.noted:
            stats.noted.add(seen)
            batch.note(path=name, **note)


# -- admin units ----------------------------------------------------------------------
def _collect_units(stats: _UnitStats, record: Mapping[str, Any], mapping: ColumnMap,
                   cells: Sequence[str]) -> Iterator[UnitKey]:
    """Count the names, parents and GIS points of the record's units; yield their keys."""
    point = _gis_point(mapping, cells)
    country = record.get("country_iso3") or ""
    parent = None
    for level in range(3):
        code = record.get(f"level{level}_code")
        if code:
            key = (country, level, code)
            name = record.get(f"level{level}_name")
            if name:
                stats.names[key][name] += 1
            if parent:
                stats.parents[key][parent] += 1
            if point is not None and level > 0:
                stats.points[key].add(point)
            yield key
        parent = code


def _gis_point(mapping: ColumnMap, cells: Sequence[str]) -> tuple[float, float] | None:
    if "gis_x" not in mapping.columns or "gis_y" not in mapping.columns:
        return None
    try:
        x = float(cells[mapping.columns["gis_x"]])
        y = float(cells[mapping.columns["gis_y"]])
    except (ValueError, IndexError):
        return None
    if (x == 0 and y == 0) or not (-180 <= x <= 180 and -90 <= y <= 90):
        return None
    return x, y


def _apply_units(batch: Any, stats: _UnitStats, touched: Iterable[UnitKey],
                 mapping: ColumnMap) -> None:
    """Add (or update) the units seen in this file with the batch's running results."""
    for key in sorted(touched):
        unit_country, level, code = key
        name = _most_common(stats.names.get(key))
        parent = _most_common(stats.parents.get(key))
        points = stats.points.get(key)
        lon = sum(p[0] for p in points) / len(points) if points else None
        lat = sum(p[1] for p in points) / len(points) if points else None
        batch.add_unit(AdminUnit(unit_country, level, code, name, None, parent, lon, lat))
    for level in range(3):
        header = mapping.header_of(f"name{level}") if f"name{level}" in mapping.columns else ""
        if header and not any(ch.isdigit() for ch in header) and level not in stats.level_names:
            stats.level_names[level] = header
            batch.add_level(level, header, None)


def _most_common(counter: Counter[str] | None) -> str | None:
    """The most frequent value; ties go to the one seen first."""
    return counter.most_common(1)[0][0] if counter else None


# registered through the entry point riskatlas.readers (pyproject.toml)
READER = Reader(FORMAT, "DesInventar flat table (CSV/XLSX from DesConsultar)", sniff, read,
                source_key, family=family, disambiguate_keys=True, inspect=inspect,
                order=20)
