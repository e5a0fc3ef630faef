"""Helpers shared by the readers of tables (CSV and workbooks): cell text, header names
and text decoding, so every table reader keeps raw values the same way."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

ENCODINGS = ("utf-8-sig", "cp1252")  # tried in order; Latin-1 last, as it never fails


def cell_text(value: Any) -> str:
    """A workbook cell as the text a user sees: ``2015`` not ``2015.0``, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def header_names(cells: Sequence[str], *, drop_trailing_blank: bool = True) -> list[str]:
    """Header cells as raw-row keys: stripped; blank → ``column_N``; repeats → ``name (2)``.
    Trailing blank cells (a workbook's used range can be wider) are dropped by default."""
    cells = list(cells)
    while drop_trailing_blank and cells and not str(cells[-1]).strip():
        cells.pop()
    names: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        name = str(cell).lstrip("\ufeff").strip() or f"column_{i + 1}"
        base, n = name, 2
        while name in seen:
            name, n = f"{base} ({n})", n + 1
        seen.add(name)
        names.append(name)
    return names


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding used: UTF-8 (with or without BOM), else Windows-1252, else
    Latin-1 (which never fails)."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


DELIMITERS = (",", ";", "\t", "|")


def split_line(line: str, delimiter: str) -> list[str] | None:
    """One CSV line as cells, or None when it does not parse with that delimiter."""
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None


def best_delimiter(lines: Sequence[str], score: Callable[[list[str]], Any]) -> str:
    """The delimiter whose split of some line scores highest (ties: the earlier one)."""
    best, best_score = DELIMITERS[0], None
    for delimiter in DELIMITERS:
        for line in lines:
            cells = split_line(line, delimiter) if delimiter in line else None
            if cells is None:
                continue
            value = score(cells)
            if best_score is None or value > best_score:
                best, best_score = delimiter, value
    return best
