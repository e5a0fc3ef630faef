"""The scanner: cuts a DesInventar XML byte stream into chunks of whole ``<TR>`` rows,
section by section, with bounded memory whatever the input (:func:`scan`)."""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from riskatlas.errors import SourceFormatError
from riskatlas.sources import limits
from riskatlas.sources.library_warnings import data_note

CHUNK_BYTES = 4 * 1024 * 1024
COUNT_BLOCK = 4 * 1024 * 1024  # bytes read at a time when rows are counted on need
BIG_SECTIONS = ("fichas", "extension")  # read by workers; the others in the main process
_TAG = re.compile(rb"<\s*(/?)\s*([A-Za-z_][\w.\-]*)[^>]*?(/?)>|<\?.*?\?>|<!--.*?-->|<!", re.S)
_NON_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")  # what bytes.strip() keeps
_SPACES = b" \t\n\r\x0b\x0c"  # \s of a bytes pattern


@dataclass
class Chunk:
    section: str  # lower case
    data: bytes  # empty when the bytes are read from ``source`` by the worker
    first_row: int  # 1-based number of the first <TR> of the chunk in its section (0:
    # counted from ``section_offset`` on need, see :func:`chunk_first_row`)
    line: int  # line of the file where the chunk starts (0: found from ``offset`` on need)
    offset: int = 0  # place of the chunk in the XML
    size: int = 0
    source: str | None = None  # the plain XML file the chunk can be read from
    section_offset: int = 0  # where the rows of its section start in the XML


def chunk_first_row(chunk: Chunk) -> int:
    """The number of the chunk's first row in its section; counted in the file when the
    scanner did not count it (only messages and remarks ask)."""
    if not chunk.first_row:
        chunk.first_row = rows_between(chunk.source or "", chunk.section_offset,
                                       chunk.offset) + 1
    return chunk.first_row


def rows_between(source: str, start: int, end: int) -> int:
    """The rows (``<TR>``, else ``<tr>``) between two byte offsets of a file."""
    upper = lower = 0
    with open(source, "rb") as fh:
        fh.seek(start)
        carry = b""
        while start < end and (block := fh.read(min(COUNT_BLOCK, end - start))):
            data = carry + block
            upper += data.count(b"<TR>")
            lower += data.count(b"<tr>")
            carry = data[-3:]  # a tag cut by the block is whole in the next one (and a
            start += len(block)  # tag of 4 bytes never fits in these 3: none counted twice)
    return upper or lower


def chunk_data(chunk: Chunk) -> bytes:
    """The bytes of a chunk (read from its file when the scanner did not keep them)."""
    if chunk.data or chunk.source is None:
        return chunk.data
    with open(chunk.source, "rb", buffering=0) as fh:
        return os.pread(fh.fileno(), chunk.size, chunk.offset)


def chunk_line(chunk: Chunk) -> int:
    return chunk.line or line_at(chunk.source or "", chunk.offset)


def line_at(source: str, offset: int) -> int:
    """Line number of a byte offset of a file (counted on need: only errors ask)."""
    lines, done = 1, 0
    with open(source, "rb") as fh:
        while done < offset and (block := fh.read(min(1 << 22, offset - done))):
            lines += block.count(b"\n")
            done += len(block)
    return lines


def open_xml(path: Path) -> tuple[IO[bytes], zipfile.ZipFile | None, int, limits.Budget]:
    """A byte stream of the XML (inside a zip or not), the zip, the stream size, and the
    budget of decompressed bytes that the zip's members are read against."""
    budget = limits.Budget(path)
    if zipfile.is_zipfile(path):
        limits.check_zip(path)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise SourceFormatError("zip.bad", path=str(path), reason=str(exc)) from exc
        try:
            names = [i for i in archive.infolist() if i.filename.lower().endswith(".xml")]
            if not names:
                raise SourceFormatError("xml.no_member", path=str(path))
            member = max(names, key=lambda i: i.file_size)
            stream = cast(IO[bytes], limits.open_member(archive, member, budget))
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            archive.close()
            raise SourceFormatError("zip.bad", path=str(path), reason=str(exc)) from exc
        except SourceFormatError:
            archive.close()
            raise
        return stream, archive, member.file_size, budget
    with path.open("rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise SourceFormatError("zip.bad", path=str(path), reason="truncated or damaged")
    return path.open("rb"), None, path.stat().st_size, budget


def scan(stream: IO[bytes], path: str, chunk_bytes: int = CHUNK_BYTES, *,
         source: str | None = None, chunk_limits: Mapping[str, int] | None = None
         ) -> Iterator[Chunk]:
    """Cut the document into chunks of whole rows, section by section (at most
    ``chunk_bytes``, or ``chunk_limits[section]`` if smaller). When ``source`` names the
    plain file the stream reads, chunks of the big sections carry only their place in it
    (workers read them) and lines are counted only when an error needs one.

    The buffer stays bounded whatever the input: blank space between rows and stray text
    outside sections are dropped as they stream by; a row that grows past
    :data:`~limits.MAX_ROW_CHARS`, or a value past :data:`~limits.MAX_VALUE_CHARS`, is
    refused (:class:`LimitError`) instead of being read on."""
    return Scanner(stream, path, chunk_bytes, source, chunk_limits or {}).chunks()


class Scanner:
    """The state of one scan: a buffer of the stream (``buf``, whose first byte is at
    ``base`` in the document; ``pos`` is where the scan stands in it), the line count, and
    the open section."""

    def __init__(self, stream: IO[bytes], path: str, chunk_bytes: int, source: str | None,
                 chunk_limits: Mapping[str, int]) -> None:
        self.stream, self.path, self.source = stream, path, source
        self.chunk_bytes, self.chunk_limits = chunk_bytes, chunk_limits
        self.buf = bytearray()
        self.pos = self.base = 0
        self.line, self.counted = 1, 0  # the line at offset ``counted``
        self.eof = False
        self.block = bytearray(chunk_bytes)
        self.section: bytes | None = None
        self.rows = 0
        self.lazy = False  # chunks carry their place in ``source``, not their bytes
        # rows of a lazy extension section are not counted as it streams by (nothing needs
        # their numbers but messages and remarks, which count them on need: chunk_first_row)
        self.uncounted = False
        self.section_start = 0

    # -- the stream --------------------------------------------------------------------
    def more(self) -> bool:
        """Read the next block, dropping what the scan has passed; False at the end."""
        if self.eof:
            return False
        try:
            n = self.stream.readinto(self.block)  # type: ignore[attr-defined]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise SourceFormatError("zip.bad", path=self.path, reason=str(exc)) from exc
        if not n:
            self.eof = True
            return False
        if self.source is None:
            self.line_at(self.pos)  # count the lines of the bytes about to go
        del self.buf[:self.pos]
        self.base, self.pos = self.base + self.pos, 0
        self.buf.extend(memoryview(self.block)[:n])
        return True

    def line_at(self, at: int) -> int:
        """The line of buf[at]: counted as the scan goes, or from the file on need."""
        if self.source is not None:
            return line_at(self.source, self.base + at)
        self.line += self.buf.count(b"\n", self.counted - self.base, at)
        self.counted = self.base + at
        return self.line

    def row_number(self) -> int:
        """The number of the row that starts at ``pos`` in its section."""
        if self.uncounted:
            return rows_between(self.source or "", self.section_start, self.base + self.pos) + 1
        return self.rows + 1

    # -- the document ------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        while self._open_section():
            yield from self._section_chunks()
            if self.section is not None:  # the input ends inside it
                yield from self._unclosed()
                return

    def _open_section(self) -> bool:
        """Read on to the opening tag of the next section (True), or to the end of the
        document (False). Declarations, comments and empty elements are passed over."""
        stray = False  # text outside sections dropped since the last tag
        while True:
            match = _TAG.search(self.buf, self.pos)
            if match is None or (match.group(0) == b"<!"
                                 and self.buf.find(b">", match.end()) < 0):
                stray = self._drop_text(match) or stray
                if not self.more():
                    if stray or _NON_SPACE.search(self.buf, self.pos):
                        raise SourceFormatError("xml.truncated", path=self.path,
                                                line=self.line_at(self.pos), section="-")
                    return False
                continue
            stray = False
            opened = self._tag(match)
            if opened is not None:
                return opened

    def _drop_text(self, match: re.Match[bytes] | None) -> bool:
        """Drop the text before what may start a tag; whether any of it was not blank."""
        buf, pos = self.buf, self.pos
        keep = match.start() if match is not None else buf.rfind(b"<", pos)
        keep = len(buf) if keep < 0 else keep
        stray = _NON_SPACE.search(buf, pos, keep) is not None
        self.pos = max(pos, keep)
        if len(buf) - self.pos > limits.MAX_ROW_CHARS:
            raise limits.fail("limit.row", self.path, "limit.where.line",
                              line=self.line_at(self.pos),
                              limit=limits.count_text(limits.MAX_ROW_CHARS))
        return stray

    def _tag(self, match: re.Match[bytes]) -> bool | None:
        """Pass a tag outside sections: True when it opens a section, False when it closes
        the document, None to read on."""
        token = match.group(0)
        if token.startswith(b"<!") and not token.startswith(b"<!--"):
            raise SourceFormatError("xml.doctype", path=self.path, line=self.line_at(self.pos))
        self.pos = match.end()
        closing, name, selfclosing = match.group(1), match.group(2), match.group(3)
        if token.startswith((b"<?", b"<!--")) or name is None or selfclosing:
            return None
        if name.lower() == b"desinventar":
            return False if closing else None
        if closing:
            raise SourceFormatError("xml.malformed", path=self.path,
                                    line=self.line_at(self.pos), record="-",
                                    field=name.decode(), reason="unexpected closing tag")
        self._start(bytes(name))
        return True

    def _start(self, name: bytes) -> None:
        low = name.decode().lower()
        self.section, self.rows = name, 0
        self.lazy = self.source is not None and low in BIG_SECTIONS
        self.uncounted = self.lazy and low == "extension"
        self.section_start = self.base + self.pos

    # -- a section ---------------------------------------------------------------------
    def _section_chunks(self) -> Iterator[Chunk]:
        """The chunks of the open section, up to its closing tag (the section is then
        closed) or the end of the input (it stays open)."""
        name = cast(bytes, self.section)
        low = name.decode().lower()
        limit = min(self.chunk_bytes, self.chunk_limits.get(low, self.chunk_bytes))
        close = re.compile(rb"</\s*" + re.escape(name) + rb"\s*>")
        while True:
            cut = self._next_cut(name, close, limit)
            if cut is None:
                return
            end, close_tag = cut
            if _NON_SPACE.search(self.buf, self.pos, end):
                yield self._chunk(low, end)
            if close_tag is not None:
                self.pos, self.section = close_tag, None
                return
            self.pos = end

    def _next_cut(self, name: bytes, close: re.Pattern[bytes], limit: int
                  ) -> tuple[int, int | None] | None:
        """Where the next chunk ends: the section's closing tag when it is near enough
        (with the end of that tag), else after the last whole row within ``limit``; None
        when the input ends first."""
        buf = self.buf
        search_from = self.pos
        while True:
            pos = self.pos
            found = _close_tag(buf, name, close, search_from, pos + limit)
            if found is None and len(buf) - pos < limit:
                searched = len(buf) - pos
                if not self.more():
                    return None  # the section does not close: its whole rows are kept
                search_from = max(0, searched - 64)  # more() moved pos to 0
                continue
            if found is not None:
                return found.start(), found.end()
            end = _last_row_end(buf, pos, limit)
            if end >= 0:
                return end, None
            if self._skip_blank():
                search_from = self.pos
                continue
            if not self.more():
                return None
            search_from = 0

    def _skip_blank(self) -> bool:
        """No row ends in the buffer: drop blank space at ``pos`` (True when text follows
        in the buffer), or refuse the unfinished row there once it breaks a limit."""
        first = _NON_SPACE.search(self.buf, self.pos)
        if first is None:
            self.pos = len(self.buf)
            return False
        if first.start() > self.pos:
            self.pos = first.start()
            return True
        _check_long_row(self.buf, self.pos, self.path, cast(bytes, self.section).decode(),
                        self.row_number, self.line_at)
        return False

    def _chunk(self, name: str, end: int) -> Chunk:
        """The rows from ``pos`` to ``end`` (counted unless the section is uncounted)."""
        buf, pos = self.buf, self.pos
        chunk = Chunk(name, b"" if self.lazy else bytes(memoryview(buf)[pos:end]),
                      0 if self.uncounted else self.rows + 1,
                      0 if self.source else self.line_at(pos), self.base + pos, end - pos,
                      self.source, self.section_start)
        if not self.uncounted:
            self.rows += buf.count(b"<TR>", pos, end) or buf.count(b"<tr>", pos, end)
        return chunk

    def _unclosed(self) -> Iterator[Chunk]:
        """The file ends inside a section (cut short): its whole rows go on, the rest is
        noted."""
        buf, pos = self.buf, self.pos
        end = _last_row_end(buf, pos, len(buf) - pos)
        name = cast(bytes, self.section).decode().lower()
        if end > pos and _NON_SPACE.search(buf, pos, end):
            yield self._chunk(name, end)
        if self.uncounted:
            self.rows = rows_between(self.source or "", self.section_start,
                                     self.base + max(end, pos))
        data_note("xml.unclosed", section=name, line=self.line_at(max(end, pos)),
                  rows=self.rows)


def _check_long_row(buf: bytearray, start: int, path: str, section: str,
                    row_number: Callable[[], int], line_at: Callable[[int], int]) -> None:
    """Refuse the unfinished row at ``buf[start:]`` once its last value, or the row itself,
    is longer than the limits (a 512 MB value is refused after 1 MB, not read)."""
    tag = buf.rfind(b"<", start)
    text_at = buf.find(b">", tag) + 1 if tag >= 0 else start
    if text_at > 0 and len(buf) - text_at > limits.MAX_VALUE_CHARS and _NON_SPACE.search(
            buf, text_at, text_at + limits.MAX_VALUE_CHARS):
        found = _TAG.match(buf, tag) if tag >= 0 else None
        field = found.group(2).decode() if found is not None and found.group(2) else "-"
        raise limits.fail("limit.value", path, "limit.where.xml", line=line_at(start),
                          section=section, row=row_number(), field=field,
                          limit=limits.count_text(limits.MAX_VALUE_CHARS))
    if len(buf) - start > limits.MAX_ROW_CHARS:
        raise limits.fail("limit.row", path, "limit.where.xml", line=line_at(start),
                          section=section, row=row_number(), field="-",
                          limit=limits.count_text(limits.MAX_ROW_CHARS))


def _close_tag(buf: bytearray, name: bytes, close: re.Pattern[bytes], start: int,
               last: int) -> re.Match[bytes] | None:
    """The first match of ``close`` (``</name>``, spaces allowed) that starts between
    ``start`` and ``last``; found through the name, which is quicker than the regex."""
    at = buf.find(name, start, last + len(name) + 66)
    while at >= 0:
        begin = at
        while begin > start and buf[begin - 1] in _SPACES:
            begin -= 1
        if begin - 2 >= start and buf[begin - 2:begin] == b"</":
            found = close.match(buf, begin - 2)
            if found is not None:
                return found if found.start() <= last else None
        at = buf.find(name, at + 1, last + len(name) + 66)
    return None


def _last_row_end(buf: bytearray, start: int, limit: int) -> int:
    """End of the last whole row within ``limit`` bytes after ``start``; else of the first
    row however long; -1 when no row ends in the buffer."""
    stop = start + limit
    last = buf.rfind(b"</TR>", start, stop)
    last = max(last, buf.rfind(b"</tr>", max(last, start), stop))
    if last < 0:
        ends = [i for i in (buf.find(b"</TR>", start), buf.find(b"</tr>", start)) if i >= 0]
        last = min(ends) if ends else -1
    return last + len(b"</TR>") if last >= 0 else -1
