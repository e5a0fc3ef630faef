"""Helpers shared by the readers of tables (CSV and workbooks): cell text, header names,
text decoding and CSV rows read within the limits, so every table reader keeps raw values
the same way and refuses the same inputs (:mod:`riskatlas.sources.limits`)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from riskatlas.sources import limits
from riskatlas.sources.library_warnings import data_note


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


def utf16_codec(head: bytes) -> str | None:
    """``utf-16`` for bytes that open with a UTF-16 byte-order mark, ``utf-16-le`` or
    ``utf-16-be`` for text without one whose every other byte is NUL (what a spreadsheet's
    "Unicode text" gives); else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    even, odd = sample[0::2], sample[1::2]
    if len(odd) >= 8 and 0 not in even and odd.count(0) >= 0.9 * len(odd):
        return "utf-16-le"
    if len(even) >= 8 and 0 not in odd and even.count(0) >= 0.9 * len(even):
        return "utf-16-be"
    return None


def text_head(head: bytes) -> bytes:
    """The first bytes of a file as sniffers read them: UTF-16 text re-encoded as UTF-8
    (so that its headers are found), anything else as it is."""
    codec = utf16_codec(head)
    if codec is None:
        return head
    return head[: len(head) - len(head) % 2].decode(codec, errors="ignore").encode("utf-8")


def detect_encoding(path: Path) -> str:
    """The encoding of a whole text file, read in blocks (never held in memory): UTF-16
    (:func:`utf16_codec`), else ``utf-8-sig`` when it is UTF-8 (with or without BOM), else
    ``cp1252``, else ``latin-1`` (which never fails)."""
    with path.open("rb") as fh:
        codec = utf16_codec(fh.read(4096))
    if codec is not None:
        return codec
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return "utf-8-sig" if encoding == "utf-8" else encoding
    return "latin-1"


class TextLines:
    """The lines of a text stream for :func:`csv_rows`, read one at a time and never longer
    than :data:`~limits.MAX_ROW_CHARS`: a row (all the lines of a quoted value together) that
    grows past it is refused, as a value past :data:`~limits.MAX_VALUE_CHARS` when one
    stretch without a delimiter is that long."""

    def __init__(self, stream: TextIO, path: str | Path, delimiter: str = ",") -> None:
        self.stream, self.path, self.delimiter = stream, path, delimiter
        self.line = 0  # lines read
        self.row_line = 1  # the line where the row being read starts
        self.pending = 0  # characters of the row being read
        self.quotes = 0  # quote characters in the row being read (odd: a value still open)
        self.nul_removed = 0  # NUL characters dropped (the csv module cannot read them)
        self._back: list[str] = []

    def __iter__(self) -> TextLines:
        return self

    def __next__(self) -> str:
        text = self._back.pop() if self._back else self.stream.readline(
            limits.MAX_ROW_CHARS + 1)
        if not text:
            raise StopIteration
        if "\x00" in text:
            self.nul_removed += text.count("\x00")
            text = text.replace("\x00", "")
        self.line += 1
        if not self.pending:
            self.row_line = self.line
        self.pending += len(text)
        self.quotes += text.count('"')
        if self.pending > limits.MAX_ROW_CHARS:
            raise self._too_long(text)
        return text

    def unread(self, text: str) -> None:
        """Give back a line read ahead (to look for a header): the next one read."""
        self._back.append(text)
        self.line -= 1
        self.pending = max(self.pending - len(text), 0)
        self.quotes = max(self.quotes - text.count('"'), 0)

    def row_done(self) -> None:
        self.pending = self.quotes = 0

    def _too_long(self, text: str) -> limits.LimitError:
        if max(map(len, text.split(self.delimiter))) > limits.MAX_VALUE_CHARS:
            return limits.fail("limit.value", self.path, "limit.where.line", line=self.row_line,
                               limit=limits.count_text(limits.MAX_VALUE_CHARS))
        return limits.fail("limit.row", self.path, "limit.where.line", line=self.row_line,
                           limit=limits.count_text(limits.MAX_ROW_CHARS))


def csv_rows(lines: TextLines, delimiter: str) -> Iterator[list[str]]:
    """The CSV rows of ``lines``, within the limits on values, rows and columns. Other CSV
    errors (``csv.Error``) are left to the caller, with ``lines.line`` for its message."""
    csv.field_size_limit(limits.MAX_VALUE_CHARS)  # process-wide; the csv default is 128 KiB
    lines.delimiter = delimiter
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            if lines.nul_removed:
                data_note("table.nul_removed", count=lines.nul_removed)
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise limits.fail("limit.value", lines.path, "limit.where.line",
                                  line=lines.row_line,
                                  limit=limits.count_text(limits.MAX_VALUE_CHARS)) from None
            raise
        if len(cells) > limits.MAX_COLUMNS:
            raise limits.fail("limit.columns", lines.path, "limit.where.line",
                              line=lines.row_line, count=limits.count_text(len(cells)),
                              limit=limits.count_text(limits.MAX_COLUMNS))
        if lines.quotes % 2:  # the csv module hands over an unclosed value at the end
            data_note("table.ends_in_quotes", line=lines.row_line)
        lines.row_done()
        yield cells


_BLANK_NAME = re.compile(r"column_\d+")
_REPEAT_NAME = re.compile(r"(.+) \((\d+)\)")


def note_repeated_headers(names: Sequence[str]) -> None:
    """A note for each blank header (read as ``column_N``) and each repeated one (``name
    (2)``: the first column of a name is the one read, the others stay in the raw row)."""
    known = set(names)
    for name in names:
        if _BLANK_NAME.fullmatch(name):
            data_note("table.blank_header", column=name)
        elif (found := _REPEAT_NAME.fullmatch(name)) and found.group(1) in known:
            data_note("table.repeated_header", header=found.group(1), column=name)


def scaled_text(value: str, factor: Decimal | int) -> str | None:
    """``value`` × ``factor`` as decimal text (``"1.5"`` × 1000 → ``"1500"``); None when
    ``value`` is not a finite number. A product with more digits than a decimal holds
    (``1e300`` × 1000) stays in exponent form (``1E+303``), which the record builder reads
    like any number; one past the decimal exponents gives None."""
    try:
        number = Decimal(value.replace(",", "").replace(" ", ""))
        if not number.is_finite():
            return None
        number *= factor
    except ArithmeticError:  # not a number (InvalidOperation), or past the exponents
        return None
    if number != number.to_integral_value():
        return format(number.normalize(), "f")
    try:
        return str(number.quantize(Decimal(1)))
    except ArithmeticError:
        return str(number)


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
