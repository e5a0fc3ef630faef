"""Importer for any other national loss table (CSV or XLSX), described by a YAML mapping file.

A mapping file says which source column fills which canonical field
(:data:`riskatlas.model.schema.RECORD_FIELDS`), how to read dates, which columns form the
native key and which header identifies the table. Every source column is kept verbatim in
``raw`` whether mapped or not; no row is dropped: each is either imported or set aside
with a reason naming its field. The format is documented in ``docs/mapping-files.md``;
in short (``version``, ``source``, ``name`` and ``columns`` are required)::

    version: 1
    source: IDN-DIBI              # source key: record ids are source + ':' + native key
    name: Indonesia BNPB DIBI, province table
    description: free text        # optional
    country: IDN                  # ISO3 of every row; or map a column to country_iso3
    sheet: Data                   # workbooks: the sheet to read (default: the first)
    match: {columns: [tahun, jenis_bencana, provinsi]}   # header that identifies the table
    key: [tahun, jenis_bencana, provinsi]   # native key, parts joined by '|'; omitted:
                                            # the row number. Repeats get '~2', '~3'.
    columns:                      # source column → canonical field; several columns for
      tahun: start_year           # one field are fallbacks, first non-blank wins
    missing: ["#N/A", "-"]        # cell values that mean blank (blank always does)
    date: {column: date_start, format: "%Y-%m-%d", end_column: date_end}
                                  # partial dates allowed ("2015-10" → year and month)
    derive:                       # last-resort values from a column, by regex named groups
      - {column: disaster_id, pattern: "^(?P<hazard_term>[A-Za-z]+)_(?P<start_year>\\d{4})"}
    values: {hazard_term: {TropicalStorm: Tropical Cyclone}}   # per-field value maps
    scale: {losses_local: 1000000}   # multiply counts/amounts (e.g. a "millions" column)
    aggregated: true              # rows are aggregates of several events (a notice says so)
    event_count: jumlah_kejadian  # the column counting the events of an aggregate row
    levels: [{name: Provinsi, name_en: Province}]   # names of admin levels 0, 1, ...
    boundaries:                   # GeoJSON admin boundaries, relative to the data file,
      - {file: ../spatial/x.geojson, code: ph_psgc, name: municity, level: 0}  # else to
                                                                    # the mapping file

Where the start date comes from: the ``date`` column when it parses, else the
``start_year``/``start_month``/``start_day`` columns when the year is a whole number, else
a ``derive`` pattern with a ``start_year`` group; the year, month and day always come from
the same source. When none gives a year the row is set aside, naming the first non-blank
source that failed (or all of them when all are blank). Admin units are made from the
``level{N}_code``/``level{N}_name`` columns of the imported records (a level with a name
column but no code column uses the name as its code) plus the boundary files.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskatlas.errors import RecordError, SourceFormatError
from riskatlas.sources.boundaries import read_geojson
from riskatlas.sources.convert import RecordBuilder, to_number
from riskatlas.sources.desinventar_fields import CARD_FIELDS
from riskatlas.sources.headers import forced_columns
from riskatlas.sources.mapping_file import (
    DATE_FIELDS,
    END_FIELDS,
    KEY_SEPARATOR,
    MAPPABLE_FIELDS,
    BoundarySpec,
    MappingFile,
    directive_parts,
    resolve_mapping,
    shipped_mapping_paths,
    shipped_mappings,
)
from riskatlas.sources.registry import Reader, ReadOptions
from riskatlas.sources.tables import (
    OpenTable,
    best_delimiter,
    head_text,
    header_names,
    is_workbook,
    note_repeated_headers,
    open_table,
    read_head,
    scaled_text,
)
from riskatlas.store.batch import AdminUnit

log = logging.getLogger(__name__)

FORMAT = "mapped"
_LEVEL_FIELD = re.compile(r"^level(\d)_(code|name)$")
_PROGRESS_ROWS = 2000
_EXACT = 2.0**53  # whole numbers a float holds exactly


# -- reading the table ----------------------------------------------------------------
@dataclass
class Table:
    """The header and data rows of a CSV or workbook sheet (cells as text)."""

    header: list[str]
    rows: Iterator[tuple[int, dict[str, str]]]  # (1-based data row number, row)


def _delimiter(line: str) -> str:
    """The delimiter that splits a header line into the most cells."""
    return best_delimiter([line], len)


def _rows(cells_iter: Iterator[list[str]]
          ) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Header from the first non-blank row; data rows numbered from 1 after it."""
    header: list[str] | None = None
    for cells in cells_iter:
        if any(cell.strip() for cell in cells):
            header = header_names(cells)
            break
    if header is None:
        return [], iter(())
    names = header

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, cells in enumerate(cells_iter, start=1):
            row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(names)}
            for i in range(len(names), len(cells)):
                if cells[i] != "":
                    row[f"column_{i + 1}"] = cells[i]
            yield number, row

    return header, rows()


def read_table(path: Path, sheet: str | None = None, options: ReadOptions | None = None) -> Table:
    """A CSV (any common delimiter and encoding) or a workbook sheet as text rows, opened by
    :func:`~riskatlas.sources.tables.open_table` and closed once its rows are read."""
    table = open_table(path, sheet=sheet)
    try:
        header, rows = _rows(_progress(table, options))
    except BaseException:
        table.close()
        raise
    return Table(header, rows)


def _progress(table: OpenTable, options: ReadOptions | None) -> Iterator[list[str]]:
    """The rows of ``table``, reporting bytes read to the progress callback; the table is
    closed at the end."""
    done = 0
    try:
        for i, cells in enumerate(table.rows, start=1):
            if options is not None and i % _PROGRESS_ROWS == 0:
                options.advance(table.position() - done)
                done = table.position()
            yield cells
    finally:
        table.close()
    if options is not None:
        options.advance(table.size - done)


def _header_of(path: Path, head: bytes) -> list[str]:
    """The header row, from the sniffed bytes (CSV) or the first sheet (workbook)."""
    if is_workbook(path, head):
        with open_table(path) as table:
            return _rows(table.rows)[0]
    text = head_text(head) or ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        return []
    return header_names(next(csv.reader([first], delimiter=_delimiter(first))))


def _lookup(header: list[str]) -> dict[str, str]:
    """Header names by themselves and by their case-folded form."""
    found = {name.casefold(): name for name in reversed(header)}
    found.update({name: name for name in header})
    return found


def matching_mapping(header: list[str]) -> MappingFile | None:
    """The shipped mapping whose ``match.columns`` are all in the header (most specific)."""
    lookup = _lookup(header)
    fits = [m for m in shipped_mappings().values()
            if m.match and all(c in lookup or c.casefold() in lookup for c in m.match)]
    return max(fits, key=lambda m: len(m.match)) if fits else None


# -- the reader -----------------------------------------------------------------------
def sniff(path: Path, head: bytes) -> bool:
    """True when a shipped mapping's ``match.columns`` are all in the file's header."""
    if path.suffix.lower() in (".xml", ".zip", ".db", ".json", ".geojson", ".yaml", ".yml"):
        return False
    try:
        return matching_mapping(_header_of(path, head)) is not None
    except Exception:  # not a table we can read: not ours
        log.debug("mapped.sniff: %s is not a readable table", path, exc_info=True)
        return False


def mapping_for(path: Path, options: ReadOptions) -> MappingFile:
    """The mapping given in ``options.mapping`` (a file or a shipped name), else sniffed."""
    if options.mapping is not None:
        return resolve_mapping(options.mapping)
    try:
        found = matching_mapping(_header_of(path, read_head(path)))
    except SourceFormatError:
        found = None
    if found is None:
        raise SourceFormatError("mapped.no_mapping", path=str(path),
                                available=", ".join(sorted(shipped_mapping_paths())))
    return found


def source_key(path: Path, options: ReadOptions) -> str:
    return mapping_for(path, options).source


def read(path: Path, batch: Any, options: ReadOptions) -> None:
    """Read one table into an import batch with its mapping."""
    mapping = mapping_for(path, options)
    table = read_table(path, mapping.sheet, options)
    try:
        note_repeated_headers(table.header)
        if not table.header:
            raise SourceFormatError("mapped.no_header", path=str(path))
        if options.columns:
            mapping = with_columns(mapping, forced_columns(
                options.columns, table.header, MAPPABLE_FIELDS, path=path.name,
                aliases=CARD_FIELDS))
        country = (options.country or mapping.country or "").upper() or None
        if batch.country_iso3 is None and country:
            batch.country_iso3 = country
        _MappedRead(mapping, table, path, batch, country).run()
    finally:
        close = getattr(table.rows, "close", None)
        if close is not None:
            close()  # the file, when reading stops early


def with_columns(mapping: MappingFile, forced: dict[str, str | None]) -> MappingFile:
    """The mapping with ``--column FIELD=COLUMN`` applied: each field named is read from
    that column only (or from none), instead of the mapping's columns for it."""
    kept = tuple((column, field) for column, field in mapping.columns if field not in forced)
    added = tuple((column, field) for field, column in forced.items() if column is not None)
    return dataclasses.replace(mapping, columns=kept + added)


class _MappedRead:
    """Converts the rows of one table and adds records, rejects, units and notes."""

    def __init__(self, mapping: MappingFile, table: Table, path: Path, batch: Any,
                 country: str | None) -> None:
        self.mapping, self.table, self.path, self.batch = mapping, table, path, batch
        self.name = path.name
        self.country = country
        self.columns = self._resolve_columns()
        self.base_names = {target: self.columns[column] for column, target in
                           reversed(mapping.columns)}
        self.field_columns: dict[str, list[str]] = {}
        for column, target in mapping.columns:
            self.field_columns.setdefault(target, []).append(self.columns[column])
        self.builder = RecordBuilder(source_key=batch.source_key, source_file=self.name,
                                     crosswalk=batch.store.crosswalk,
                                     policy=dataclasses.replace(
                                         batch.policy, fractional=mapping.fractional),
                                     field_names=self.base_names)
        self.fields = [f for f in mapping.fields() if f not in DATE_FIELDS + END_FIELDS]
        levels = {int(m.group(1)) for f in mapping.fields() if (m := _LEVEL_FIELD.match(f))}
        self.levels = sorted(levels)
        self.code_from_name = {lv for lv in levels if not mapping.sources(f"level{lv}_code")
                               and f"level{lv}_code" not in self._derived_fields()}
        self.unit_names: dict[tuple[str, int, str], Counter[str]] = {}
        self.unit_parents: dict[tuple[str, int, str], str] = {}
        self.events = 0
        self.blank_rows = 0

    def _derived_fields(self) -> set[str]:
        return {g for spec in self.mapping.derive for g in spec.pattern.groupindex}

    def _resolve_columns(self) -> dict[str, str]:
        """Mapping column → actual header name (exact, else case-insensitive)."""
        lookup = _lookup(self.table.header)
        resolved, missing = {}, []
        for column in self.mapping.referenced_columns():
            actual = lookup.get(column) or lookup.get(column.casefold())
            if actual is None:
                missing.append(column)
            else:
                resolved[column] = actual
        if missing:
            raise SourceFormatError("mapped.columns_missing", path=str(self.path),
                                    mapping=str(self.mapping.path), columns=", ".join(missing))
        return resolved

    # -- per row ----------------------------------------------------------------------
    def run(self) -> None:
        self.batch.note("mapped.mapping_used", path=self.name, mapping=str(self.mapping.path),
                        name=self.mapping.name)
        self.batch.add_section_rows(self.name, "mapping", [{
            "mapping": str(self.mapping.path), "name": self.mapping.name,
            "sha256": hashlib.sha256(self.mapping.text.encode()).hexdigest(),
            "text": self.mapping.text}])
        for number, raw in self.table.rows:
            if not any(value.strip() for value in raw.values()):
                self.blank_rows += 1
                continue
            self.batch.count_read(self.name)
            self._row(number, raw)
        if self.blank_rows:
            self.batch.note("mapped.blank_rows", path=self.name, count=self.blank_rows)
        self._add_units()
        self._add_boundaries()
        self._note_aggregates()

    def _row(self, number: int, raw: dict[str, str]) -> None:
        if self.mapping.event_count:
            events = to_number_or_none(raw.get(self.columns[self.mapping.event_count]))
            if events is not None and events.is_integer() and abs(events) < _EXACT:
                self.events += int(events)  # a count past 2**53 is junk, not events
        key = self._key(raw)
        ref = f"row {number}" + (f" ({key})" if key else "")
        self._pending: list[tuple[str, str, Any]] = []  # dates this reader could not read
        try:
            values, names = self._values(raw, ref)
            values["native_key"] = key
            self.builder.field_names = names
            record = self.builder.build(values, row=number, record_ref=ref, raw=raw,
                                        flags=self._pending)
        except RecordError as exc:
            self.batch.reject(exc, raw)
            return
        self.batch.add_record(record)
        self._collect_units(record)

    def _key(self, raw: dict[str, str]) -> str | None:
        if not self.mapping.key:
            return None
        parts = [(raw.get(self.columns[c]) or "").strip() for c in self.mapping.key]
        return KEY_SEPARATOR.join(parts) if any(parts) else None

    def _clean(self, target: str, value: str | None) -> str | None:
        """A cell's value for a field: None when blank or a missing marker; value-mapped."""
        if value is None:
            return None
        text = value.strip()
        if not text or text in self.mapping.missing:
            return None
        table = self.mapping.values.get(target)
        if table is not None and text in table:
            text = table[text]
        return text or None

    def _first(self, target: str, raw: dict[str, str]) -> tuple[str | None, str | None]:
        """The first non-blank value among the field's columns, and its column."""
        for column in self.field_columns.get(target, ()):
            value = self._clean(target, raw.get(column))
            if value is not None:
                return value, column
        return None, None

    def _derive(self, raw: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
        """(column, {field: value}) for every derive pattern that matches its column."""
        found = []
        for spec in self.mapping.derive:
            column = self.columns[spec.column]
            match = spec.pattern.search((raw.get(column) or "").strip())
            if match:
                groups = {g: v for g, v in match.groupdict().items() if v}
                found.append((column, groups))
        return found

    def _values(self, raw: dict[str, str], ref: str) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        names = dict(self.base_names)
        derived = self._derive(raw)
        for target in self.fields:
            value, column = self._first(target, raw)
            for source_column, groups in derived:
                if value is not None:
                    break
                if target in groups:
                    value, column = self._clean(target, groups[target]), source_column
            if column is not None:
                names[target] = column
            values[target] = self._scaled(target, value)
        self._dates(raw, derived, values, names, ref)
        for level in self.code_from_name:
            values[f"level{level}_code"] = values.get(f"level{level}_name")
        if self.country and not values.get("country_iso3"):
            values["country_iso3"] = self.country
        return values, names

    def _scaled(self, target: str, value: str | None) -> str | None:
        factor = self.mapping.scale.get(target)
        if factor is None or value is None:
            return value
        scaled = scaled_text(value, factor)
        return value if scaled is None else scaled  # not a number: the builder says so

    def _dates(self, raw: dict[str, str], derived: list[tuple[str, dict[str, str]]],
               values: dict[str, Any], names: dict[str, str], ref: str) -> None:
        """Start (and end) date parts from the first source that gives a whole year."""
        candidates: list[str] = []
        failed: tuple[str, str, str] | None = None  # (kind, column, value)
        spec = self.mapping.date
        if spec is not None:
            column = self.columns[spec.column]
            candidates.append(column)
            text = self._clean("start_year", raw.get(column))
            if text is not None:
                parts = parse_partial_date(text, spec.format)
                if parts is not None:
                    self._set_date(values, names, parts, column)
                    self._end(raw, values, names, ref)
                    return
                failed = ("date", column, text)
        year, year_column = self._first("start_year", raw)
        candidates += self.field_columns.get("start_year", [])
        if year is not None:
            if _whole(year):
                month, _ = self._first("start_month", raw)
                day, _ = self._first("start_day", raw)
                self._set_date(values, names, (year, month, day), year_column or "")
                names.update({f: c for f in ("start_month", "start_day")
                              if (c := self._first(f, raw)[1])})
                self._end(raw, values, names, ref)
                return
            failed = failed or ("year", year_column or "", year)
        candidates += [self.columns[d.column] for d in self.mapping.derive
                       if "start_year" in d.pattern.groupindex]
        for column, groups in derived:
            if groups.get("start_year") and _whole(groups["start_year"]):
                found = tuple(self._clean(f, groups.get(f)) for f in DATE_FIELDS)
                self._set_date(values, names, found, column)
                self._end(raw, values, names, ref)
                return
        if failed and failed[0] == "date":
            self._pending.append(("record.bad_date", "start_year", failed[2]))
            names["start_year"] = failed[1]
        elif failed:  # the builder names the column and the reason
            values["start_year"], names["start_year"] = failed[2], failed[1]
        else:
            names["start_year"] = " / ".join(dict.fromkeys(candidates)) or "start_year"

    @staticmethod
    def _set_date(values: dict[str, Any], names: dict[str, str],
                  parts: tuple[Any, ...], column: str) -> None:
        for target, part in zip(DATE_FIELDS, parts, strict=True):
            values[target] = part
            names[target] = column

    def _end(self, raw: dict[str, str], values: dict[str, Any], names: dict[str, str],
             ref: str) -> None:
        spec = self.mapping.date
        if spec is not None and spec.end_column:
            column = self.columns[spec.end_column]
            text = self._clean("end_year", raw.get(column))
            if text is not None:
                parts = parse_partial_date(text, spec.format)
                if parts is None:
                    self._pending.append(("record.bad_date", "end_year", text))
                    names["end_year"] = column
                    return
                values.update(zip(END_FIELDS, parts, strict=True))
                names.update(dict.fromkeys(END_FIELDS, column))
                return
        for target in END_FIELDS:
            value, source = self._first(target, raw)
            values[target] = value
            if source:
                names[target] = source

    # -- units, boundaries, notes -----------------------------------------------------
    def _collect_units(self, record: dict[str, Any]) -> None:
        country = record.get("country_iso3") or ""
        for level in self.levels:
            code = record.get(f"level{level}_code")
            if not code:
                continue
            key = (country, level, code)
            counter = self.unit_names.setdefault(key, Counter())
            if record.get(f"level{level}_name"):
                counter[record[f"level{level}_name"]] += 1
            parent = record.get(f"level{level - 1}_code") if level else None
            if parent and key not in self.unit_parents:
                self.unit_parents[key] = parent

    def _add_units(self) -> None:
        for level, (level_name, level_name_en) in enumerate(self.mapping.levels):
            self.batch.add_level(level, level_name, level_name_en)
        for (country, level, code), names in self.unit_names.items():
            # the most frequent spelling; ties go to the first seen
            name = max(names, key=lambda n: names[n]) if names else None
            self.batch.add_unit(AdminUnit(country, level, code, name, None,
                                          self.unit_parents.get((country, level, code))))

    def _boundary_path(self, spec: BoundarySpec) -> Path | None:
        file = Path(spec.file)
        bases = [self.path.parent, self.mapping.path.parent]
        for candidate in ([file] if file.is_absolute() else [base / file for base in bases]):
            if candidate.is_file():
                return candidate
        return None

    def _add_boundaries(self) -> None:
        for spec in self.mapping.boundaries:
            found = self._boundary_path(spec)
            if found is None:
                self.batch.note("mapped.boundaries_missing", path=self.name, file=spec.file)
                continue
            count = 0
            for b in read_geojson(found.read_bytes(), spec.code, spec.name):
                parent = b.attributes.get(spec.parent) if spec.parent else None
                self.batch.add_unit(AdminUnit(
                    self.country or "", spec.level, b.code,
                    str(b.name).strip() if b.name not in (None, "") else None, None,
                    str(parent) if parent not in (None, "") else None,
                    b.centroid[0], b.centroid[1], b.bbox, b.geometry))
                count += 1
            self.batch.note("mapped.boundaries_read", path=self.name, file=spec.file,
                            count=count, level=spec.level)

    def _note_aggregates(self) -> None:
        if not self.mapping.aggregated:
            return
        rows = self.batch.files[self.name].read
        if self.mapping.event_count:
            self.batch.note("mapped.aggregated_counted", path=self.name, rows=rows,
                            events=self.events, column=self.mapping.event_count)
        else:
            self.batch.note("mapped.aggregated", path=self.name, rows=rows)


def parse_partial_date(text: str, fmt: str) -> tuple[str, str | None, str | None] | None:
    """(year, month, day) as text from ``text`` read with ``fmt`` or a leading part of it.

    ``"%Y-%m-%d"`` also accepts ``"2015-10"`` (no day) and ``"2015"`` (year only); ISO
    dates (as workbook date cells are rendered) are accepted whatever the format.
    """
    for prefix in _format_prefixes(fmt):
        try:
            parsed = dt.datetime.strptime(text, prefix)
        except ValueError:
            continue
        parts = directive_parts(prefix)
        return (str(parsed.year), str(parsed.month) if "month" in parts else None,
                str(parsed.day) if "day" in parts else None)
    try:
        iso = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return str(iso.year), str(iso.month), str(iso.day)


def _format_prefixes(fmt: str) -> list[str]:
    """The format and its leading parts that end right after a directive, longest first."""
    ends = [m.end() for m in re.finditer(r"%[A-Za-z]", fmt)]
    prefixes = [fmt] + [fmt[:end] for end in reversed(ends) if end < len(fmt)]
    return [p for p in dict.fromkeys(prefixes) if "year" in directive_parts(p)]


def _whole(value: str) -> bool:
    number = to_number_or_none(value)
    return number is not None and number.is_integer()


def to_number_or_none(value: Any) -> float | None:
    """A number, or None when blank or not a number."""
    try:
        return to_number(value)
    except ValueError:
        return None


# registered through the entry point riskatlas.readers (pyproject.toml)
READER = Reader(
    FORMAT,
    "Any national table (CSV/XLSX) described by a YAML mapping file (--mapping FILE or "
    "a shipped mapping name)",
    sniff=sniff, read=read, source_key=source_key, disambiguate_keys=True, order=50)
