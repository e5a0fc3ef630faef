"""The one opener of tables (CSV files and workbook sheets) that every table reader uses
(:func:`open_table`), and the helpers around it: workbook detection, encodings (UTF-8 with
or without a byte-order mark, UTF-16 with or without one, Windows-1252, Latin-1), the
delimiter, cell text, header names, and CSV rows streamed within the limits. So every table
reader keeps raw values the same way, says the same things about a file, and refuses the
same inputs (:mod:`riskatlas.sources.limits`)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from riskatlas.errors import LimitError, SourceFormatError
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


# -- the opener --------------------------------------------------------------------------
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (and other OLE2 files)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_WORKBOOK_PARTS = ("xl/workbook.xml", "xl/workbook.bin", "content.xml")
LOOKAHEAD_LINES = 50  # lines of a text table shown to a reader's header locator
HEAD_BYTES = 64 * 1024


def is_workbook(path: Path, head: bytes) -> bool:
    """A spreadsheet workbook: an OLE2 file (xls), or a zip named like a workbook or holding
    a workbook's parts (xlsx, xlsm, xlsb, ods). A zip of anything else is not one."""
    if head.startswith(OLE_MAGIC):
        return True
    if not head.startswith(ZIP_MAGIC):
        return False
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False
    return any(part in names for part in _WORKBOOK_PARTS)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a file as sniffers read them (:func:`text_head`)."""
    with path.open("rb") as fh:
        return text_head(fh.read(size))


def head_text(head: bytes) -> str | None:
    """The first bytes of a text file as text (after :func:`text_head`): UTF-8 (a BOM
    dropped), else Windows-1252, else Latin-1; a character cut at the end is dropped, stray
    NUL characters too. None for binary bytes (more than 1 % NUL)."""
    if head.count(b"\x00") > len(head) // 100:
        return None
    head = head.replace(b"\x00", b"")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding.startswith("utf") and exc.start > len(head) - 4:
                return head[: exc.start].decode(encoding)  # a character cut by the head
    return None


Locator = Callable[[Sequence[str]], tuple[int, str]]
SheetChooser = Callable[[Sequence[str]], str | None]


def first_line_delimiter(lines: Sequence[str]) -> tuple[int, str]:
    """The default header locator: the first non-blank line, split by the delimiter that
    gives it the most cells."""
    for index, line in enumerate(lines):
        if line.strip():
            return index, best_delimiter([line.rstrip("\r\n")], len)
    return 0, DELIMITERS[0]


class OpenTable:
    """One table, opened: ``rows`` gives its rows as text cells, one at a time (a CSV is
    streamed line by line; a workbook sheet row by row once calamine has loaded it).
    ``preamble`` holds the text lines above the header line that the locator skipped;
    ``encoding`` and ``delimiter`` are None for a workbook, ``sheet`` for a CSV."""

    def __init__(self, path: Path, rows: Iterator[list[str]], position: Callable[[], int], *,
                 encoding: str | None = None, delimiter: str | None = None,
                 sheet: str | None = None, preamble: Sequence[str] = (),
                 close: Callable[[], None] = lambda: None) -> None:
        self.path, self.rows, self._position, self._close = path, rows, position, close
        self.encoding, self.delimiter, self.sheet = encoding, delimiter, sheet
        self.preamble = list(preamble)
        self.size = path.stat().st_size

    def position(self) -> int:
        """Bytes of the file read so far (estimated from the rows for a workbook)."""
        return min(self._position(), self.size)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> OpenTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_table(path: Path, *, sheet: str | SheetChooser | None = None,
               locate: Locator = first_line_delimiter) -> OpenTable:
    """Open a CSV (or other delimited text) file or a workbook sheet as a table.

    - A workbook (:func:`is_workbook`) is checked against the limits before calamine loads
      it; ``sheet`` names the sheet, or chooses it from the sheet names (default: the first).
    - A text file's encoding is found from the whole file (:func:`detect_encoding`); any
      but UTF-8 is noted (``import.encoding_fallback``). ``locate`` is shown its first
      :data:`LOOKAHEAD_LINES` lines and returns the index of the header line and the
      delimiter; the lines above it are the ``preamble`` (not parsed as CSV).

    Errors are the same for every reader: ``table.unreadable`` (a workbook calamine cannot
    read), ``table.no_sheet``, ``table.bad_csv`` (while the rows are read), and the
    :class:`~riskatlas.errors.LimitError` of a limit.
    """
    if is_workbook(path, read_head(path, 8)):
        return _open_workbook(path, sheet)
    return _open_text(path, locate)


def _within(lines: Sequence[str], size: int) -> list[str]:
    """The first lines, cut to ``size`` characters in all (a locator looks at the head of
    a file: a header of a million columns is not split in full to find its delimiter)."""
    out: list[str] = []
    for line in lines:
        if size <= 0:
            break
        out.append(line[:size])
        size -= len(line)
    return out


def _open_workbook(path: Path, sheet: str | SheetChooser | None) -> OpenTable:
    from riskatlas.sources.workbooks import open_workbook

    try:
        workbook = open_workbook(path)
        names = list(workbook.sheet_names)
        chosen = sheet(names) if callable(sheet) else sheet if sheet is not None else (
            names[0] if names else None)
        if chosen is None or chosen not in names:
            raise SourceFormatError("table.no_sheet", path=path.name, sheet=chosen or "-",
                                    sheets=", ".join(names) or "-")
        grid = workbook.get_sheet_by_name(chosen)
    except (SourceFormatError, LimitError):
        raise
    except Exception as exc:  # calamine raises its own error types
        raise SourceFormatError("table.unreadable", path=path.name, reason=str(exc)) from exc
    size, total = path.stat().st_size, max(grid.height, 1)
    consumed = 0

    def rows() -> Iterator[list[str]]:  # one row at a time: no second copy of the sheet
        nonlocal consumed
        for row in grid.iter_rows():
            consumed += 1
            yield [cell_text(v) for v in row]

    return OpenTable(path, rows(), lambda: size * min(consumed, total) // total, sheet=chosen,
                     close=workbook.close)


def _open_text(path: Path, locate: Locator) -> OpenTable:
    encoding = detect_encoding(path)
    if encoding != "utf-8-sig":
        data_note("import.encoding_fallback", encoding=encoding)
    binary = path.open("rb")
    stream = io.TextIOWrapper(binary, encoding=encoding, newline="")
    lines = TextLines(stream, path)
    try:
        ahead = []
        for line in islice(lines, LOOKAHEAD_LINES):
            ahead.append(line)
            lines.row_done()  # each line on its own: a limit names its line
        ahead[:1] = [ahead[0].lstrip("\ufeff")] if ahead else []
        header, delimiter = locate(_within(ahead, HEAD_BYTES))
    except BaseException:
        stream.close()
        raise
    for line in reversed(ahead[header:]):
        lines.unread(line)
    lines.row_done()

    def rows() -> Iterator[list[str]]:
        try:
            yield from csv_rows(lines, delimiter)
        except csv.Error as exc:
            raise SourceFormatError("table.bad_csv", path=path.name, line=lines.line,
                                    reason=str(exc)) from exc
        finally:
            stream.close()

    return OpenTable(path, rows(), binary.tell, encoding=encoding, delimiter=delimiter,
                     preamble=ahead[:header], close=stream.close)
