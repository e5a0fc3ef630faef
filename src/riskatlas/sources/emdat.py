"""Reader for EM-DAT public tables (CRED / UCLouvain).

Two layouts are supported, each as xlsx or CSV:

* the 2023+ layout (``DisNo.``, ``Classification Key``, ``Admin Units`` JSON ...), as
  downloaded from the EM-DAT site (xlsx, sheet ``EM-DAT Data``) or re-saved as CSV;
* the pre-2023 ("legacy") layout (``Dis No``, ``Glide``, ``Admin1 Code`` ...), which opens
  with a short metadata preamble (``Source:``, ``Version:`` ...) before the header line.

This module only reads: :func:`iter_emdat_rows` yields each row verbatim as text and
:func:`emdat_to_canonical` renames and lightly reshapes one row into canonical field names
(plain strings or None). Typing, validation and hazard crosswalking are done elsewhere.

Conventions of :func:`emdat_to_canonical`:

* ``hazard_term`` is the ``Classification Key`` (e.g. ``nat-hyd-flo-riv``) when present.
  Otherwise (legacy layout) it is ``Disaster Type`` and ``Disaster Subtype`` joined by a
  bare slash, e.g. ``Flood/Riverine flood``; just the type (``Flood``) when the subtype is
  blank. ``Disaster Subsubtype`` is not part of the term (it stays in the raw row). Both
  kinds of term are listed in ``data/emdat_crosswalk.csv``.
* ``deaths`` is EM-DAT ``Total Deaths``, which EM-DAT defines as dead **plus missing**;
  ``missing`` is therefore always None (never double-counted).
* ``losses_usd`` / ``losses_usd_adjusted`` are ``Total Damage ('000 US$)`` and
  ``Total Damage, Adjusted ('000 US$)`` multiplied by 1000, returned as decimal text
  (``"25000000"``). A value that is not a number is returned unchanged so that the record
  builder can set it aside. The legacy layout has no adjusted damage.
* ``level0_*`` is the first ``adm1`` unit and ``level1_*`` the first ``adm2`` unit of the
  ``Admin Units`` JSON list (the whole list stays in the raw row). In the legacy layout the
  codes come from the first entry of ``Admin1 Code`` / ``Admin2 Code`` (``;``-separated
  lists); the legacy layout has no unit names.
* ``glide`` is the first ``GLIDE:`` entry of ``External IDs`` (entries separated by ``|``),
  or the legacy ``Glide`` column.
* ``latitude`` / ``longitude`` written with a hemisphere letter (``8.35 S``) are turned
  into signed decimals (``-8.35``); other values are passed through.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.errors import SourceFormatError
from riskatlas.sources.library_warnings import data_note
from riskatlas.sources.tables import (
    DELIMITERS,
    head_text,
    header_names,
    is_workbook,
    note_repeated_headers,
    open_table,
    scaled_text,
    split_line,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from riskatlas.sources.registry import Reader

SOURCE_KEY = "emdat"
SHEET_NAME = "EM-DAT Data"
KEY_COLUMNS: tuple[str, ...] = ("DisNo.", "Dis No")
"""Header cells that identify an EM-DAT table (2023+ layout, legacy layout)."""

MAX_PREAMBLE_ROWS = 50
"""How many rows are searched for the header line."""

_HEMISPHERE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*°?\s*([NSEWnsew])\s*$")


class EmdatFormatError(SourceFormatError):
    """A file cannot be read as an EM-DAT table (e.g. no ``DisNo.``/``Dis No`` header)."""


# --------------------------------------------------------------------------- sniffing


def sniff_emdat(path: Path, head: bytes) -> str | None:
    """Return ``"emdat"`` if ``path`` is an EM-DAT table, else None.

    ``head`` is the first bytes of the file. A workbook is EM-DAT when it has a sheet named
    ``EM-DAT Data`` or its first sheet has an EM-DAT header row; a text file when one of its
    first lines (after any preamble) has a ``DisNo.`` or ``Dis No`` cell.
    """
    if is_workbook(path, head):
        try:
            return SOURCE_KEY if _sniff_workbook(path) else None
        except Exception:  # not a workbook after all, or unreadable: not ours
            logger.debug("sniff_emdat: %s is not a readable workbook", path, exc_info=True)
            return None
    text = head_text(head)
    lines = text.splitlines()[:MAX_PREAMBLE_ROWS] if text else []
    return SOURCE_KEY if any(_header_delimiter(line) for line in lines) else None


def _choose_sheet(names: Sequence[str]) -> str | None:
    """The sheet ``EM-DAT Data`` (in any case), else the first."""
    return next((n for n in names if n.strip().casefold() == SHEET_NAME.casefold()),
                names[0] if names else None)


def _sniff_workbook(path: Path) -> bool:
    with open_table(path, sheet=_choose_sheet) as table:
        if (table.sheet or "").strip().casefold() == SHEET_NAME.casefold():
            return True
        return any(_is_header(cells) for cells in islice(table.rows, MAX_PREAMBLE_ROWS))


def _is_header(cells: Iterable[str]) -> bool:
    return any(cell.strip().lstrip("\ufeff").strip() in KEY_COLUMNS for cell in cells)


def _header_delimiter(line: str) -> str | None:
    """The delimiter with which ``line`` parses as an EM-DAT header, or None."""
    for delimiter in DELIMITERS:
        cells = split_line(line, delimiter) if delimiter in line else None
        if cells is not None and _is_header(cells):
            return delimiter
    return None


# --------------------------------------------------------------------------- reading


def iter_emdat_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(data-row number, row)`` for every data row of an EM-DAT table.

    The number is 1-based and counts data rows after the header line (any preamble is
    skipped); wholly blank rows are skipped but still counted, so numbers always point at
    the same row of the file. The row maps each header to the cell's text as in the file:
    empty cells are ``""``, whole numbers from a workbook are rendered without ``.0``
    (``2015``), dates as ISO text. Cells beyond the header are kept as ``column_N``.
    The file is opened by :func:`~riskatlas.sources.tables.open_table` (a workbook: the
    sheet ``EM-DAT Data``, else the first). Raises :class:`EmdatFormatError` when no header
    line is found.
    """
    path = Path(path)
    with open_table(path, sheet=_choose_sheet, locate=lambda lines: _locate(lines, path)
                    ) as table:
        announced = None
        for line in table.preamble:
            announced = announced or _announced_rows(line.replace(",", " ").split())
        yield from _iter_table(table.rows, path, announced)


def _locate(lines: Sequence[str], path: Path) -> tuple[int, str]:
    """The header line of a text table (the first with a ``DisNo.`` or ``Dis No`` cell) and
    its delimiter; the lines above it are a preamble."""
    for index, line in enumerate(lines[:MAX_PREAMBLE_ROWS]):
        delimiter = _header_delimiter(line.rstrip("\r\n"))
        if delimiter is not None:
            return index, delimiter
    raise EmdatFormatError("emdat.no_header_lines", path=str(path), count=MAX_PREAMBLE_ROWS)


def _iter_table(rows: Iterable[list[str]], path: Path, announced: int | None = None
                ) -> Iterator[tuple[int, dict[str, str]]]:
    """Data rows after the header; a preamble row announcing a row count ("Records: 1,069")
    that the rows do not reach or exceed becomes a note."""
    iterator = iter(rows)
    header: list[str] | None = None
    for index, cells in enumerate(iterator):
        if index >= MAX_PREAMBLE_ROWS:
            break
        if _is_header(cells):
            header = header_names(cells)
            break
        announced = announced or _announced_rows(cells)
    if header is None:
        raise EmdatFormatError("emdat.no_header_rows", path=str(path),
                               count=MAX_PREAMBLE_ROWS)
    note_repeated_headers(header)
    width, count = len(header), 0
    for number, cells in enumerate(iterator, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        for i in range(width, len(cells)):
            if cells[i] != "":
                row[f"column_{i + 1}"] = cells[i]
        count += 1
        yield number, row
    if announced is not None and count != announced:
        data_note("table.rows_announced", announced=announced, read=count)


_ANNOUNCED = re.compile(r"\b(?:records?|rows?|events?|disasters?|entries|registros?|fichas)\b"
                        r"\D{0,12}?(\d{1,3}(?:[,.\u202f ]\d{3})+|\d+)\b", re.I)


def _announced_rows(cells: list[str]) -> int | None:
    """The number of rows a preamble line announces ('Records: 1,069', 'Number of events,
    1069'), or None."""
    found = _ANNOUNCED.search(" ".join(cell.strip() for cell in cells))
    return int(re.sub(r"\D", "", found.group(1))) if found else None


def emdat_layout(row: dict[str, str]) -> str:
    """``"2023"`` for the 2023+ layout (``DisNo.``), ``"legacy"`` for ``Dis No``."""
    return "2023" if "DisNo." in row else "legacy"


def emdat_to_canonical(row: dict[str, str]) -> dict[str, object]:
    """Map one raw EM-DAT row (either layout) to canonical field names.

    Values are stripped strings, or None when blank; see the module docstring for the
    conventions (hazard term, deaths vs missing, damage in thousands, admin units).
    """

    def get(*names: str) -> str | None:
        for name in names:
            value = row.get(name)
            if value is not None and value.strip():
                return value.strip()
        return None

    level0_code, level0_name, level1_code, level1_name = _admin_levels(row)
    return {
        "native_key": get("DisNo.", "Dis No"),
        "country_iso3": get("ISO"),
        "place": get("Location"),
        "event_name": get("Event Name"),
        "glide": _glide(row),
        "hazard_term": hazard_term(row),
        "hazard_term_en": get("Disaster Subtype", "Disaster Type"),
        "magnitude": _magnitude(
            get("Magnitude", "Dis Mag Value"), get("Magnitude Scale", "Dis Mag Scale")
        ),
        "latitude": _coordinate(get("Latitude"), "NS"),
        "longitude": _coordinate(get("Longitude"), "EW"),
        "start_year": get("Start Year", "Year"),
        "start_month": get("Start Month"),
        "start_day": get("Start Day"),
        "end_year": get("End Year"),
        "end_month": get("End Month"),
        "end_day": get("End Day"),
        "deaths": get("Total Deaths"),
        "missing": None,
        "injured": get("No. Injured", "No Injured"),
        "affected": get("No. Affected", "No Affected"),
        "homeless": get("No. Homeless", "No Homeless"),
        "directly_affected": get("Total Affected"),
        "losses_usd": _thousands(get("Total Damage ('000 US$)", "Total Damages ('000 US$)")),
        "losses_usd_adjusted": _thousands(get("Total Damage, Adjusted ('000 US$)")),
        "level0_code": level0_code,
        "level0_name": level0_name,
        "level1_code": level1_code,
        "level1_name": level1_name,
    }


def hazard_term(row: dict[str, str]) -> str | None:
    """The Classification Key, else ``"Type/Subtype"`` (``"Type"`` if no subtype)."""
    key = (row.get("Classification Key") or "").strip()
    if key:
        return key
    parts = [(row.get(name) or "").strip() for name in ("Disaster Type", "Disaster Subtype")]
    parts = [part for part in parts if part]
    return "/".join(parts) if parts else None


def _glide(row: dict[str, str]) -> str | None:
    legacy = (row.get("Glide") or "").strip()
    if legacy:
        return legacy
    for entry in re.split(r"[|;,]", row.get("External IDs") or ""):
        prefix, sep, value = entry.strip().partition(":")
        if sep and prefix.strip().upper() == "GLIDE" and value.strip():
            return value.strip()
    return None


def _magnitude(value: str | None, scale: str | None) -> str | None:
    if value is None:
        return None
    return f"{value} {scale}" if scale else value


def _coordinate(value: str | None, hemispheres: str) -> str | None:
    """``"8.35 S"`` → ``"-8.35"``; anything else unchanged."""
    if value is None:
        return None
    match = _HEMISPHERE.match(value)
    if not match or match.group(2).upper() not in hemispheres:
        return value
    number = match.group(1).lstrip("+")
    if match.group(2).upper() in "SW" and not number.startswith("-"):
        number = "-" + number
    return number


def _thousands(value: str | None) -> str | None:
    """``'000 US$`` text → US$ text (× 1000); non-numbers are returned unchanged."""
    if value is None:
        return None
    scaled = scaled_text(value, 1000)
    return value if scaled is None else scaled


def _admin_levels(
    row: dict[str, str],
) -> tuple[str | None, str | None, str | None, str | None]:
    """(level0_code, level0_name, level1_code, level1_name) from the admin columns."""
    units_text = (row.get("Admin Units") or "").strip()
    if units_text:
        try:
            units = json.loads(units_text)
        except ValueError:
            logger.debug("Admin Units is not JSON: %r", units_text)
            units = []
        adm1 = _first_unit(units, "adm1")
        adm2 = _first_unit(units, "adm2")
        return adm1[0], adm1[1], adm2[0], adm2[1]
    code1 = _first_code(row.get("Admin1 Code"))
    code2 = _first_code(row.get("Admin2 Code"))
    return code1, None, code2, None


def _first_unit(units: object, level: str) -> tuple[str | None, str | None]:
    if not isinstance(units, list):
        return None, None
    for unit in units:
        if isinstance(unit, dict) and (f"{level}_code" in unit or f"{level}_name" in unit):
            return _json_text(unit.get(f"{level}_code")), _json_text(unit.get(f"{level}_name"))
    return None, None


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _first_code(value: str | None) -> str | None:
    for part in re.split(r"[;,|]", value or ""):
        if part.strip():
            return _json_text(part.strip().removesuffix(".0"))
    return None


# -- registration ---------------------------------------------------------------------
def _read(path: Path, batch: Any, options: Any) -> None:
    """Read an EM-DAT table into an import batch (one record per disaster × country)."""
    from riskatlas.errors import RecordError
    from riskatlas.sources.convert import RecordBuilder

    builder = RecordBuilder(source_key=batch.source_key, source_file=path.name,
                            crosswalk=batch.store.crosswalk, policy=batch.policy,
                            field_names=_CANONICAL_COLUMNS)
    options.advance(path.stat().st_size)
    forced: dict[str, str | None] | None = None
    for row_no, raw in iter_emdat_rows(path):
        batch.count_read(path.name)
        values = emdat_to_canonical(raw)
        if options.columns:  # --column FIELD=COLUMN: that column as it is, or none
            if forced is None:
                forced = _forced(options.columns, raw, path.name)
                builder.field_names.update({f: c for f, c in forced.items() if c})
            values.update({f: raw.get(c) if c else None for f, c in forced.items()})
        if options.country and not values.get("country_iso3"):
            values["country_iso3"] = options.country
        ref = f"{values.get('native_key') or 'row ' + str(row_no)}"
        try:
            batch.add_record(builder.build(values, row=row_no, record_ref=ref, raw=raw))
        except RecordError as exc:
            batch.reject(exc, raw)


def _forced(overrides: dict[str, str], row: dict[str, str], name: str
            ) -> dict[str, str | None]:
    from riskatlas.sources.headers import forced_columns
    from riskatlas.sources.mapping_file import MAPPABLE_FIELDS

    return forced_columns(overrides, list(row), MAPPABLE_FIELDS, path=name)


# canonical field → the EM-DAT column named in error messages
_CANONICAL_COLUMNS = {
    "start_year": "Start Year", "start_month": "Start Month", "start_day": "Start Day",
    "end_year": "End Year", "end_month": "End Month", "end_day": "End Day",
    "deaths": "Total Deaths", "injured": "No. Injured", "affected": "No. Affected",
    "homeless": "No. Homeless", "directly_affected": "Total Affected",
    "losses_usd": "Total Damage ('000 US$)",
    "losses_usd_adjusted": "Total Damage, Adjusted ('000 US$)",
    "hazard_term": "Classification Key", "latitude": "Latitude", "longitude": "Longitude",
}


def _reader() -> Reader:
    from riskatlas.sources.registry import Reader

    return Reader("emdat", "EM-DAT public table (2023+ or legacy layout; xlsx or csv)",
                  lambda path, head: sniff_emdat(path, head) is not None, _read,
                  lambda path, options: "EMDAT", order=40)


# registered through the entry point riskatlas.readers (pyproject.toml)
READER = _reader()
