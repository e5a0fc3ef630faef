"""Workbooks (xlsx, xlsm, xls, ods ...) opened for the table readers, after a check of what they
would cost once loaded.

The workbook reader (python-calamine) loads a whole sheet as a dense grid of rows × columns,
and gives each cell of a shared string its own copy of the text: a 10 KB xlsx naming cells
A1 and XFD1048576 asks for 17 billion cells, and a small one repeating a long shared string
for gigabytes of text. Before calamine sees an xlsx, :func:`check_workbook` streams its parts
(through :class:`~riskatlas.sources.limits.LimitedReader`) and works out each sheet's grid
and text from the cell references, refusing it past :data:`~limits.MAX_SHEET_CELLS`,
:data:`~limits.MAX_SHEET_TEXT_BYTES`, :data:`~limits.MAX_COLUMNS` or
:data:`~limits.MAX_VALUE_CHARS`. Other zip workbooks (ods, xlsb) get the archive checks
only; an .xls (not a zip) none.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from riskatlas.sources import limits

BLOCK_BYTES = 1024 * 1024
SHARED_STRINGS = "xl/sharedStrings.xml"
_SHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.I)
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_CELL_COLUMN = re.compile(rb'<c\b[^>]*?\br="([A-Za-z]+)\d')
_SHARED_CELL = re.compile(rb'<c\b[^>]*?\bt="s"[^>]*>\s*<v>\s*(\d{1,9})\s*</v>')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_INLINE = re.compile(rb"<is>(.*?)</is>", re.S)
_ROW = re.compile(rb"<row\b[^>]*/>|<row\b.*?</row>", re.S)
_SI = re.compile(rb"<si\b.*?</si>|<si\s*/>", re.S)


def _cells_in(data: bytes) -> int:
    return data.count(b"<c ") + data.count(b"<c>") + data.count(b"<c/>")


def _rows_in(data: bytes) -> int:
    return data.count(b"<row ") + data.count(b"<row>") + data.count(b"<row/>")


def column_number(letters: bytes) -> int:
    """``A`` → 1, ``XFD`` → 16384."""
    number = 0
    for char in letters.upper():
        number = number * 26 + char - 64
    return number


def _blocks(stream: IO[bytes] | limits.LimitedReader, end: bytes, path: Path, member: str
            ) -> Iterator[bytes]:
    """The part in blocks that each end right after an ``end`` tag (the last: the rest), so
    no element is cut; an element longer than the row limit is refused."""
    carry = b""
    while block := stream.read(BLOCK_BYTES):
        data = carry + block
        cut = data.rfind(end)
        if cut < 0:
            carry = data
            _check_open_element(carry, path, member)
            continue
        cut += len(end)
        yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def _check_open_element(data: bytes, path: Path, member: str) -> None:
    if len(data) <= limits.MAX_VALUE_CHARS:
        return
    run, _ = limits.longest_run(data)
    if run > limits.MAX_VALUE_CHARS:
        raise limits.fail("limit.value", path, "limit.where.member", member=member,
                          limit=limits.count_text(limits.MAX_VALUE_CHARS))
    if len(data) > limits.MAX_ROW_CHARS:
        raise limits.fail("limit.row", path, "limit.where.member", member=member,
                          limit=limits.count_text(limits.MAX_ROW_CHARS))


def _shared_lengths(archive: zipfile.ZipFile, budget: limits.Budget, path: Path
                    ) -> array[int]:
    """The length of each shared string (its ``<si>`` element: an upper bound of its text)."""
    lengths: array[int] = array("q")
    try:
        info = archive.getinfo(SHARED_STRINGS)
    except KeyError:
        return lengths
    with limits.open_member(archive, info, budget) as stream:
        for block in _blocks(stream, b"</si>", path, info.filename):
            for found in _SI.finditer(block):
                size = found.end() - found.start()
                if size > limits.MAX_VALUE_CHARS:
                    raise limits.fail("limit.value", path, "limit.where.member",
                                      member=info.filename,
                                      limit=limits.count_text(limits.MAX_VALUE_CHARS))
                lengths.append(size)
    return lengths


class _Sheet:
    """What one worksheet will cost once loaded, worked out block by block."""

    def __init__(self, path: Path, member: str, shared: array[int]) -> None:
        self.path, self.member, self.shared = path, member, shared
        self.rows = self.numbered = self.unnumbered = self.width = self.text = 0

    @property
    def max_row(self) -> int:
        """The last row (an upper bound: rows without r= follow the one before)."""
        return max(self.numbered + self.unnumbered, self.rows)

    def add(self, block: bytes) -> None:
        numbers = [int(n) for n in _ROW_NUMBER.findall(block)]
        rows = _rows_in(block)
        self.rows += rows
        self.unnumbered += max(rows - len(numbers), 0)
        self.numbered = max(self.numbered, max(numbers, default=0))
        columns = _CELL_COLUMN.findall(block)
        width = max((column_number(c) for c in set(columns)), default=0)
        if _cells_in(block) > len(columns):  # cells without r= follow the one before
            width += max((_cells_in(row.group(0)) for row in _ROW.finditer(block)), default=0)
        self.width = max(self.width, width)
        indexes = [int(i) for i in _SHARED_CELL.findall(block)]
        try:
            self.text += sum(map(self.shared.__getitem__, indexes))
        except IndexError:  # calamine refuses a reference past the shared strings
            self.text += sum(self.shared[i] for i in indexes if i < len(self.shared))
        sizes = [*map(len, _VALUE.findall(block)), *map(len, _INLINE.findall(block))]
        self.text += sum(sizes)
        if max(sizes, default=0) > limits.MAX_VALUE_CHARS:
            raise limits.fail("limit.value", self.path, "limit.where.member", member=self.member,
                              limit=limits.count_text(limits.MAX_VALUE_CHARS))
        self.check()

    def check(self) -> None:
        where = {"where": "limit.where.member", "member": self.member}
        if self.width > limits.MAX_COLUMNS:
            raise limits.fail("limit.columns", self.path, **where,
                              count=limits.count_text(self.width),
                              limit=limits.count_text(limits.MAX_COLUMNS))
        cells = self.max_row * self.width
        if cells > limits.MAX_SHEET_CELLS:
            raise limits.fail("limit.cells", self.path, **where,
                              rows=limits.count_text(self.max_row),
                              columns=limits.count_text(self.width),
                              cells=limits.count_text(cells),
                              limit=limits.count_text(limits.MAX_SHEET_CELLS))
        if self.text > limits.MAX_SHEET_TEXT_BYTES:
            raise limits.fail("limit.sheet_text", self.path, **where,
                              size=limits.size_text(self.text),
                              limit=limits.size_text(limits.MAX_SHEET_TEXT_BYTES))


def check_workbook(path: Path) -> None:
    """Refuse a zip workbook that breaks a limit (see the module); anything else passes.
    Checked once per file version (detection and reading both ask)."""
    stat = path.stat()
    _check(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _check(name: str, size: int, mtime: int) -> None:
    path = Path(name)
    if not zipfile.is_zipfile(path):
        return
    limits.check_zip(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # the reader says the file cannot be read
    with archive:
        sheets = [i for i in archive.infolist() if _SHEET.match(i.filename)]
        if not sheets:
            return
        budget = limits.Budget(path)
        try:
            shared = _shared_lengths(archive, budget, path)
            for info in sheets:
                sheet = _Sheet(path, info.filename, shared)
                with limits.open_member(archive, info, budget) as stream:
                    for block in _blocks(stream, b"</row>", path, info.filename):
                        sheet.add(block)
        except limits.LimitError:
            raise
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
            return  # damaged: the reader says the file cannot be read


def open_workbook(path: Path) -> Any:
    """A calamine workbook of ``path``, once :func:`check_workbook` passes. Calamine's own
    errors are left to the caller, which names them in its message."""
    from python_calamine import CalamineWorkbook

    check_workbook(path)
    return CalamineWorkbook.from_path(str(path))
