"""DesInventar XML export (``DI_export_xxx.xml`` or the downloaded ``.zip`` with shapefiles).

The file is read as a stream: a scanner cuts each section into chunks of whole ``<TR>``
rows, and worker processes parse the chunks of the large sections (fichas, extension)
in parallel, writing Parquet parts into the import batch; from a plain ``.xml`` file the
workers read their chunks themselves. Rows of the export's usual flat layout are matched
by a pattern built from the first row and typed column by column; anything else goes
through lxml, so the result is the same either way. Memory stays bounded whatever the
file size. Element names are matched case-insensitively; illegal control characters are
removed; documents with a DOCTYPE are refused (no entity is ever resolved).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import dataclasses
import functools
import io
import logging
import multiprocessing
import os
import pickle
import re
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, SupportsInt, cast

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from riskatlas.errors import RecordError, SourceFormatError
from riskatlas.model.countries import is_iso3
from riskatlas.model.quality import ISSUES_KEY, QualityIssue
from riskatlas.sources import limits
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, card_columns, card_values
from riskatlas.sources.library_warnings import data_note
from riskatlas.sources.registry import Reader, ReadOptions, register
from riskatlas.sources.tables import utf16_codec
from riskatlas.store import arrow_rows
from riskatlas.store.batch import EXTENSION_SCHEMA, RECORD_SCHEMA, AdminUnit, HazardTerm, Rejected

log = logging.getLogger(__name__)
FORMAT = "desinventar-xml"
CHUNK_BYTES = 4 * 1024 * 1024
CARD_CHUNK_BYTES = 1024 * 1024  # cards cost more memory per byte than extension rows
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
COUNT_BLOCK = 4 * 1024 * 1024  # bytes read at a time when rows are counted on need
BIG_SECTIONS = ("fichas", "extension")
STAGING_COMPRESSION = "lz4"  # staged parts live for minutes: cheap to write and read
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13))
_TAG = re.compile(rb"<\s*(/?)\s*([A-Za-z_][\w.\-]*)[^>]*?(/?)>|<\?.*?\?>|<!--.*?-->|<!", re.S)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9_\-]+)["']""")
_NON_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")  # what bytes.strip() keeps
_SPACES = b" \t\n\r\x0b\x0c"  # \s of a bytes pattern


# -- sniffing and naming --------------------------------------------------------------
def sniff(path: Path, head: bytes) -> bool:
    return b"<desinventar" in head[:4096].lower() or (
        head.startswith(b"PK") and b"<desinventar" in head.lower())


def source_key(path: Path, options: ReadOptions) -> str:
    found = re.match(r"(?i)di_export_(\w+)", path.stem)
    return "DI-" + (found.group(1) if found else path.stem).upper()


def _country_of(path: Path, options: ReadOptions) -> str | None:
    if options.country:
        return options.country.upper()
    code = source_key(path, options)[3:]
    return code if is_iso3(code) else None


# -- the scanner ----------------------------------------------------------------------
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
        chunk.first_row = _rows_between(chunk.source or "", chunk.section_offset,
                                        chunk.offset) + 1
    return chunk.first_row


def _rows_between(source: str, start: int, end: int) -> int:
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
    return chunk.line or _line_at(chunk.source or "", chunk.offset)


def _line_at(source: str, offset: int) -> int:
    """Line number of a byte offset of a file (counted on need: only errors ask)."""
    lines, done = 1, 0
    with open(source, "rb") as fh:
        while done < offset and (block := fh.read(min(1 << 22, offset - done))):
            lines += block.count(b"\n")
            done += len(block)
    return lines


def _open_xml(path: Path) -> tuple[IO[bytes], zipfile.ZipFile | None, int, limits.Budget]:
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
    buf = bytearray()
    pos = base = 0  # base: offset of buf[0] in the document
    line, counted = 1, 0  # the line at offset ``counted``
    eof = False
    block = bytearray(chunk_bytes)

    def more() -> bool:
        nonlocal pos, eof, base
        if eof:
            return False
        try:
            n = stream.readinto(block)  # type: ignore[attr-defined]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise SourceFormatError("zip.bad", path=path, reason=str(exc)) from exc
        if not n:
            eof = True
            return False
        if source is None:
            line_at(pos)  # count the lines of the bytes about to go
        del buf[:pos]
        base, pos = base + pos, 0
        buf.extend(memoryview(block)[:n])
        return True

    def line_at(at: int) -> int:
        """The line of buf[at]: counted as the scan goes, or from the file on need."""
        nonlocal line, counted
        if source is not None:
            return _line_at(source, base + at)
        line += buf.count(b"\n", counted - base, at)
        counted = base + at
        return line

    section: bytes | None = None
    rows = 0
    lazy = False
    # rows of a lazy extension section are not counted as it streams by (nothing needs their
    # numbers but messages and remarks, which count them on need: chunk_first_row)
    uncounted = False
    section_start = 0

    def row_number() -> int:
        """The number of the row that starts at ``pos`` in its section."""
        return _rows_between(source or "", section_start, base + pos) + 1 if uncounted \
            else rows + 1
    stray = False  # text outside sections dropped since the last tag
    while True:
        if section is None:
            match = _TAG.search(buf, pos)
            if match is None or (match.group(0) == b"<!" and buf.find(b">", match.end()) < 0):
                # keep only what may start a tag; drop the rest (it cannot be a tag)
                keep = match.start() if match is not None else buf.rfind(b"<", pos)
                keep = len(buf) if keep < 0 else keep
                stray = stray or _NON_SPACE.search(buf, pos, keep) is not None
                pos = max(pos, keep)
                if len(buf) - pos > limits.MAX_ROW_CHARS:
                    raise limits.fail("limit.row", path, "limit.where.line", line=line_at(pos),
                                      limit=limits.count_text(limits.MAX_ROW_CHARS))
                if not more():
                    if stray or _NON_SPACE.search(buf, pos):
                        raise SourceFormatError("xml.truncated", path=path, line=line_at(pos),
                                                section="-")
                    return
                continue
            stray = False
            token = match.group(0)
            if token.startswith(b"<!") and not token.startswith(b"<!--"):
                raise SourceFormatError("xml.doctype", path=path, line=line_at(pos))
            pos = match.end()
            closing, name, selfclosing = match.group(1), match.group(2), match.group(3)
            if token.startswith((b"<?", b"<!--")) or name is None or selfclosing:
                continue
            if name.lower() == b"desinventar":
                if closing:
                    return
                continue
            if closing:
                raise SourceFormatError("xml.malformed", path=path, line=line_at(pos),
                                        record="-", field=name.decode(),
                                        reason="unexpected closing tag")
            section, rows = bytes(name), 0
            lazy = source is not None and section.decode().lower() in BIG_SECTIONS
            uncounted = lazy and section.decode().lower() == "extension"
            section_start = base + pos
            limit = min(chunk_bytes,
                        (chunk_limits or {}).get(section.decode().lower(), chunk_bytes))
            close = re.compile(rb"</\s*" + re.escape(section) + rb"\s*>")
            search_from = pos
            continue
        found = _close_tag(buf, section, close, search_from, pos + limit)
        if found is None and len(buf) - pos < limit:
            searched = len(buf) - pos
            if not more():
                break  # the section does not close: its whole rows are kept below
            search_from = max(0, searched - 64)  # more() moved pos to 0
            continue
        # the section's closing tag when it is near enough, else a cut after a whole row
        close_tag = (found.start(), found.end()) if found is not None else None
        end = close_tag[0] if close_tag else _last_row_end(buf, pos, limit)
        if end < 0:
            first = _NON_SPACE.search(buf, pos)
            if first is None or first.start() > pos:  # blank space between rows: drop it
                pos = search_from = len(buf) if first is None else first.start()
                if first is not None:
                    continue
            else:  # a single row longer than the buffer: read on, within the limits
                _check_long_row(buf, pos, path, section.decode(), row_number, line_at)
            if not more():
                break  # the section does not close: its whole rows are kept below
            search_from = 0
            continue
        if _NON_SPACE.search(buf, pos, end):
            name = section.decode().lower()
            if lazy:
                yield Chunk(name, b"", 0 if uncounted else rows + 1, 0, base + pos, end - pos,
                            source, section_start)
            else:
                yield Chunk(name, bytes(memoryview(buf)[pos:end]), rows + 1,
                            0 if source else line_at(pos), base + pos, end - pos, source,
                            section_start)
            if not uncounted:
                rows += buf.count(b"<TR>", pos, end) or buf.count(b"<tr>", pos, end)
        if close_tag:
            pos, section = close_tag[1], None
        else:
            pos = end
        search_from = pos
    # the file ends inside a section (cut short): its whole rows go on, the rest is noted
    end = _last_row_end(buf, pos, len(buf) - pos)
    name = section.decode().lower()
    if end > pos and _NON_SPACE.search(buf, pos, end):
        yield Chunk(name, b"" if lazy else bytes(memoryview(buf)[pos:end]),
                    0 if uncounted else rows + 1, 0 if source else line_at(pos), base + pos,
                    end - pos, source, section_start)
        if not uncounted:
            rows += buf.count(b"<TR>", pos, end) or buf.count(b"<tr>", pos, end)
    if uncounted:
        rows = _rows_between(source or "", section_start, base + max(end, pos))
    data_note("xml.unclosed", section=name, line=line_at(max(end, pos)), rows=rows)


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


# -- parsing rows ---------------------------------------------------------------------
# No huge_tree: libxml2 keeps its own limits (elements nested at most 256 deep, text nodes
# under 10 MB), which the scanner's limits on rows and values stay below.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_TOO_DEEP = re.compile(r"Excessive depth")


def parse_rows(chunk: Chunk, path: str, encoding: str, repeats: Repeats | None = None
               ) -> tuple[list[dict[str, str]], int]:
    """The rows of a chunk as {element name: text}, and the control characters removed.
    Elements named twice in a row are read by :func:`row_values` (and counted in
    ``repeats``)."""
    raw = chunk_data(chunk)
    data = raw.translate(None, _CONTROL)
    removed = len(raw) - len(data)
    wrapped = b'<?xml version="1.0" encoding="' + encoding.encode() + b'"?><c>' + data + b"</c>"
    try:
        root = etree.fromstring(wrapped, _PARSER)
    except etree.XMLSyntaxError as exc:
        lineno = exc.lineno or 1
        before = b"\n".join(data.split(b"\n")[:lineno])
        first = chunk_first_row(chunk)
        record = f"{chunk.section} row {first + max(before.count(b'<TR>') - 1, 0)}"
        field = re.findall(r"tag mismatch: (\w+)", exc.msg or "")
        if _TOO_DEEP.search(exc.msg or ""):
            raise limits.fail("limit.xml_depth", path, "limit.where.xml",
                              line=chunk_line(chunk) + lineno - 1, section=chunk.section,
                              row=record.rsplit(" ", 1)[-1], field="-",
                              limit=limits.count_text(limits.MAX_XML_DEPTH)) from None
        raise SourceFormatError("xml.malformed", path=path, line=chunk_line(chunk) + lineno - 1,
                                record=record, field=field[0] if field else "-",
                                reason=exc.msg) from None
    rows: list[dict[str, str]] = []
    for tr in root:
        if isinstance(tr.tag, str):
            rows.append(row_values(tr, chunk.section, _Number(chunk, len(rows)), repeats))
    _check_values(rows, chunk, path)
    return rows, removed


class Repeats:
    """Elements named more than once in a row (any letter case), per section and element:
    how many rows, and the first of them (``clave N`` or ``row N``)."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], list[Any]] = {}

    def add(self, section: str, element: str, ref: str) -> None:
        entry = self.found.setdefault((section, element), [0, ref])
        entry[0] += 1

    def update(self, other: Repeats) -> None:
        for key, (count, ref) in other.found.items():
            self.found.setdefault(key, [0, ref])[0] += count

    def notes(self) -> list[dict[str, Any]]:
        """One ``xml.repeated_element`` note per section and element (without ``path``)."""
        return [{"key": "xml.repeated_element", "section": section, "element": element,
                 "rows": count, "first": ref}
                for (section, element), (count, ref) in self.found.items()]


def row_values(tr: Any, section: str, number: SupportsInt, repeats: Repeats | None = None
               ) -> dict[str, str]:
    """A parsed row as {element name: text}. An element named twice (in any letter case)
    keeps one value: the first with a value (a blank repeat never empties a field); the
    others stay in the row as ``name (2)``, ``name (3)`` ... and the row is counted in
    ``repeats``."""
    row = {el.tag: el.text or "" for el in tr if isinstance(el.tag, str)}
    if len(row) == len(tr) and len({k.lower() for k in row}) == len(row):
        return row  # the usual row: every element once
    row = {}
    seen: dict[str, str] = {}  # lower-case name → the name of its first element
    twice: list[str] = []
    for el in tr:
        if not isinstance(el.tag, str):
            continue
        name, value = el.tag, el.text or ""
        first = seen.get(name.lower())
        if first is None:
            seen[name.lower()] = name
            row[name] = value
            continue
        twice.append(first)
        if not row[first].strip() and value.strip():
            row[first], value = value, row[first]
        n = 2
        while f"{first} ({n})" in row:
            n += 1
        row[f"{first} ({n})"] = value
    if twice and repeats is not None:
        clave = next((row[k] for k in ("clave", "CLAVE") if k in row), "").strip()
        ref = f"clave {clave}" if clave else f"row {int(number)}"
        for name in dict.fromkeys(twice):
            repeats.add(section, name.lower(), ref)
    return row


def _check_values(rows: Sequence[Row], chunk: Chunk, path: str) -> None:
    """Refuse a value longer than the limit (only a chunk that long can hold one). Rows of
    the fast path (tuples) cannot: their pattern stops at the limit."""
    if chunk.size and chunk.size <= limits.MAX_VALUE_CHARS:
        return
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        for field, value in row.items():
            if len(value) > limits.MAX_VALUE_CHARS:
                raise limits.fail("limit.value", path, "limit.where.xml", line=chunk_line(chunk),
                                  section=chunk.section, row=chunk_first_row(chunk) + i,
                                  field=field,
                                  limit=limits.count_text(limits.MAX_VALUE_CHARS))


# The fast path. Export rows are flat and repeat one layout: <TR><f1>text</f1>...</TR>.
# A regular expression built from the first row's field names (parsed by lxml) matches each
# following row whole, giving its texts as a tuple. Anything else -- markup in a value,
# another layout, comments, control characters, a bad reference -- is parsed by lxml: a
# piece that fails alone sends the whole chunk to lxml, so errors read exactly as before.
_WS = "[ \t\r\n]*"
_TEXT = "([^<\r\x00-\x08\x0b\x0c\x0e-\x1f]{0,%d})"  # \r: XML turns line ends into \n
_REF = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_ENTITIES = {"lt": "<", "gt": ">", "quot": '"', "apos": "'", "amp": "&"}  # amp last
_CONTROL_TEXT = dict.fromkeys(_CONTROL)
_SINGLE_BYTE = frozenset(("us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1",
                          "iso-8859-15", "windows-1252", "cp1252"))
Row = tuple[str, ...] | dict[str, str]


class _Fallback(Exception):
    """The chunk is parsed by lxml as a whole."""


@functools.lru_cache(maxsize=32)
def _row_pattern(row_tag: str, tags: tuple[str, ...], longest: int) -> re.Pattern[str]:
    """The pattern of a row; a value longer than ``longest`` does not match (lxml reads the
    row and the limit on values refuses it)."""
    text = _TEXT % longest
    fields = "".join(f"<{t}>{text}</{t}>{_WS}" for t in map(re.escape, tags))
    tag = re.escape(row_tag)
    return re.compile(f"{_WS}<{tag}>{_WS}{fields}</{tag}>")


def read_rows(chunk: Chunk, path: str, encoding: str, repeats: Repeats | None = None
              ) -> tuple[tuple[str, ...], list[Row], int]:
    """The rows of a chunk: tuples of texts in the order of the returned field names, or
    {element name: text} for rows of another layout; and the control characters removed.
    The same rows and values as :func:`parse_rows`."""
    try:
        tags, rows, removed = _fast_rows(chunk_data(chunk), encoding,
                                         (chunk, repeats))
    except _Fallback:
        parsed, removed = parse_rows(chunk, path, encoding, repeats)
        return (), list(parsed), removed
    _check_values(rows, chunk, path)
    return tags, rows, removed


Where = tuple["Chunk | None", "Repeats | None"]  # the chunk read, the repeats found


def _fast_rows(data: bytes, encoding: str, where: Where = (None, None)
               ) -> tuple[tuple[str, ...], list[Row], int]:
    name = encoding.lower()
    ascii_only = data.isascii()
    if name not in ("utf-8", "utf8") and not (name in _SINGLE_BYTE and ascii_only):
        raise _Fallback
    if (b"]" in data and b"]]>" in data) or (b"\xef" in data and (
            b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)):
        raise _Fallback  # not allowed in content ("]]>", U+FFFE, U+FFFF): lxml reports it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback from None
    layout = _layout(text)
    if layout is None:
        raise _Fallback
    row_tag, tags = layout
    match = _row_pattern(row_tag, tags, limits.MAX_VALUE_CHARS).match
    close = f"</{row_tag}>"
    rows: list[Row] = []
    removed, pos, size = 0, 0, len(text)
    while pos < size:
        found = match(text, pos)
        if found is not None:
            end = found.end()
            values = found.groups()
            rows.append(values if text.find("&", pos, end) < 0 else _unescape_row(values))
            pos = end
            continue
        end = text.find(close, pos)
        end = size if end < 0 else end + len(close)
        piece = text[pos:end].translate(_CONTROL_TEXT)
        removed += end - pos - len(piece)
        if piece.strip():
            chunk, repeats = where
            rows.extend(_piece_rows(piece, chunk, len(rows), repeats))
        pos = end
    return tags, rows, removed


def _unescape_row(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple([v if "&" not in v else _unescape(v) for v in values])


# Extension rows hold many empty fields; when no value needs escaping (no reference, quote,
# backslash or control character), a row's JSON is the layout's template filled with the
# raw bytes of its values: the same text as orjson gives for {name: text}.
_JSON_VALUE = rb'([^<&"\\\x00-\x1f]{0,%d})'
_TRAILING_SPACE = re.compile(rb"[ \t\r\n]*\Z")


@functools.lru_cache(maxsize=32)
def _json_layout(row_tag: str, tags: tuple[str, ...], longest: int
                 ) -> tuple[re.Pattern[bytes], bytes, int | None, int | None]:
    """The row pattern, the JSON template and where the key (clave_ext) is looked up; a
    value longer than ``longest`` does not match (the slow path refuses it)."""
    space = _WS.encode()
    value = _JSON_VALUE % longest
    fields = b"".join(b"<" + t + b">" + value + b"</" + t + b">" + space
                      for t in (re.escape(t).encode() for t in tags))
    tag = re.escape(row_tag).encode()
    pattern = re.compile(space + b"<" + tag + b">" + space + fields + b"</" + tag + b">")
    template = b"{" + b",".join(orjson.dumps(t) + b':"%s"' for t in tags) + b"}"
    first = next((tags.index(k) for k in ("clave_ext", "CLAVE_EXT") if k in tags), None)
    last = max((i for i, t in enumerate(tags) if t.lower() == "clave_ext"), default=None)
    return pattern, template, first, last


def _fast_extension(data: bytes, encoding: str) -> pa.Table | None:
    """The extension table of a chunk whose rows all fit the JSON template; else None."""
    name = encoding.lower()
    if not (name in ("utf-8", "utf8") or (name in _SINGLE_BYTE and data.isascii())):
        return None
    if (b"]" in data and b"]]>" in data) or (b"\xef" in data and (
            b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)):
        return None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    end = data.find(b"</TR>")
    try:
        layout = _layout(data[:end + 5].decode()) if end >= 0 else None
    except _Fallback:
        layout = None
    if layout is None:
        return None
    match, template, first, last = _json_layout(*layout, limits.MAX_VALUE_CHARS)
    match_row = match.match
    keys: list[str] = []
    texts: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        found = match_row(data, pos)
        if found is None:
            if _TRAILING_SPACE.match(data, pos) is None:
                return None
            break
        values = found.groups()
        texts.append(template % values)
        key = values[first] if first is not None else None
        if not key and last is not None:
            key = values[last]
        keys.append(key.decode().strip() if key else "")
        pos = found.end()
    return pa.Table.from_arrays([arrow_rows.column(keys, pa.string()),
                                 arrow_rows.column(texts, pa.string())], schema=EXTENSION_SCHEMA)


def _parse_piece(piece: str) -> Any:
    try:
        return etree.fromstring(b"<c>" + piece.encode() + b"</c>", _PARSER)
    except etree.XMLSyntaxError:
        raise _Fallback from None


def _layout(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The row element and field names of the first row (None: not a flat row)."""
    end = min((i for i in (text.find("</TR>"), text.find("</tr>")) if i >= 0), default=-1)
    if end < 0 or "<!" in text[:end] or "<?" in text[:end]:
        return None
    rows = [tr for tr in _parse_piece(text[:end + 5]) if isinstance(tr.tag, str)]
    if len(rows) != 1:
        return None
    tags = tuple(el.tag for el in rows[0])
    if not all(isinstance(t, str) for t in tags) or len(set(tags)) != len(tags):
        return None
    return rows[0].tag, tags


def _piece_rows(piece: str, chunk: Chunk | None, index: int, repeats: Repeats | None
                ) -> list[Row]:
    """The rows of a piece of a chunk, the first being row ``index`` of the chunk."""
    rows: list[Row] = []
    for tr in _parse_piece(piece):
        if isinstance(tr.tag, str):
            rows.append(row_values(tr, chunk.section if chunk else "",
                                   _Number(chunk, index + len(rows)), repeats))
    return rows


class _Number:
    """The number of a row in its section (row ``index`` of ``chunk``), found on need."""

    __slots__ = ("chunk", "index")

    def __init__(self, chunk: Chunk | None, index: int) -> None:
        self.chunk, self.index = chunk, index

    def __int__(self) -> int:
        return (chunk_first_row(self.chunk) if self.chunk else 1) + self.index


def _unescape(value: str) -> str:
    """Expand the predefined entities and character references of a value."""
    if "&#" not in value:
        found = sum(value.count(f"&{name};") for name in _ENTITIES)
        if found != value.count("&"):
            raise _Fallback  # a bare '&' or an unknown entity: lxml reports it
        for name, char in _ENTITIES.items():  # &amp; last: "&amp;lt;" is "&lt;"
            value = value.replace(f"&{name};", char)
        return value
    text, count = _REF.subn(_reference, value)
    if count != value.count("&"):
        raise _Fallback
    return text


def _reference(found: re.Match[str]) -> str:
    if found.group(1):
        return _ENTITIES[found.group(1)]
    code = int(found.group(2)) if found.group(2) else int(found.group(3), 16)
    if not (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        raise _Fallback
    return chr(code)


def lower_keys(row: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in row.items()}


@dataclass
class ChunkResult:
    section: str
    rows: int
    part: str | None
    rejected: list[Rejected]
    control_removed: int
    issues: list[QualityIssue] = dataclasses.field(default_factory=list)
    repeats: Repeats | None = None  # elements named twice in a row


_WORKER: dict[str, Any] = {}


def _init_worker(builder: RecordBuilder, country: str | None, staging: str, path: str,
                 encoding: str) -> None:
    _WORKER.update(builder=builder, country=country, staging=staging, path=path,
                   encoding=encoding)


class _NoPandas:
    """Import blocker for pool workers: pyarrow probes for pandas whenever it builds an
    array; the workers never need it, and not loading it saves ~40 MB per worker."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not used in import workers")


def _init_pool_worker() -> None:
    sys.meta_path.insert(0, _NoPandas)  # type: ignore[arg-type]
    with contextlib.suppress(OSError, AttributeError):  # glibc keeps freed memory:
        _WORKER["trim"] = ctypes.CDLL("libc.so.6").malloc_trim  # hand it back per chunk


def _pool_ready() -> None:
    """A no-op task: submitting one starts a worker process."""


def _convert_in_pool(init: bytes, chunk: Chunk, number: int) -> ChunkResult:
    """:func:`_convert_chunk` in a pool worker; ``init`` (the pickled arguments of
    :func:`_init_worker`) is applied when it differs from the worker's last one, so that a
    pool can be started before the file it reads is known."""
    if _WORKER.get("init") != init:
        _init_worker(*pickle.loads(init))
        _WORKER["init"] = init
    return _convert_chunk(chunk, number)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_init_pool_worker)


def _worker_count(options: ReadOptions) -> int:
    return options.workers or min(os.cpu_count() or 1, 4)


# pools started by start_workers and not yet used, by thread (imports may run in threads)
_EARLY: dict[int, ProcessPoolExecutor] = {}


@contextlib.contextmanager
def start_workers(files: Sequence[Path], options: ReadOptions) -> Iterator[None]:
    """Start the worker processes before the files are hashed when a plain ``.xml`` among
    them is large enough to be read in parallel: their start-up (interpreter, imports)
    then overlaps the hashing instead of the read. The first read takes the pool; an
    unused one is stopped on leaving."""
    workers = _worker_count(options)
    if workers < 2 or not any(f.suffix.lower() == ".xml" and f.is_file()
                              and f.stat().st_size >= PARALLEL_MIN_BYTES for f in files):
        yield
        return
    pool = _new_pool(workers)
    for _ in range(workers):  # a pool starts its processes one per submitted task
        pool.submit(_pool_ready)
    thread = threading.get_ident()
    _EARLY[thread] = pool
    try:
        yield
    finally:
        if _EARLY.get(thread) is pool:
            del _EARLY[thread]
            pool.shutdown(wait=True, cancel_futures=True)


def _release_memory() -> None:
    pa.default_memory_pool().release_unused()
    if "trim" in _WORKER:
        _WORKER["trim"](0)


def _convert_chunk(chunk: Chunk, number: int) -> ChunkResult:
    """Parse one chunk of fichas or extension rows into a Parquet part."""
    if not chunk.data:
        chunk = dataclasses.replace(chunk, data=chunk_data(chunk))
    part = Path(_WORKER["staging"]) / f"{chunk.section}-{number:06d}.parquet"
    rejected: list[Rejected] = []
    issues: list[QualityIssue] = []
    repeats = Repeats()
    removed = 0
    table = _fast_extension(chunk.data, _WORKER["encoding"]) if (
        chunk.section == "extension") else None
    if table is None:
        tags, rows, removed = read_rows(chunk, _WORKER["path"], _WORKER["encoding"], repeats)
        if chunk.section == "extension":
            table = _extension_table(tags, rows)
        else:
            table, rejected, issues = _card_table(tags, rows, chunk_first_row(chunk))
        del rows
    pq.write_table(table, part, compression=STAGING_COMPRESSION, use_dictionary=False,
                   write_statistics=False)
    result = ChunkResult(chunk.section, table.num_rows + len(rejected), str(part), rejected,
                         removed, issues, repeats if repeats.found else None)
    del table
    _release_memory()
    return result


def _as_dict(tags: tuple[str, ...], row: Row) -> dict[str, str]:
    return dict(zip(tags, row, strict=True)) if type(row) is tuple else row  # type: ignore[return-value]


def _extension_table(tags: tuple[str, ...], rows: list[Row]) -> pa.Table:
    keys, texts = [], []
    for row in rows:
        raw = _as_dict(tags, row)
        key = raw.get("clave_ext", raw.get("CLAVE_EXT")) or lower_keys(raw).get("clave_ext")
        keys.append(text(key) or "")
        texts.append(orjson.dumps(raw))
    return pa.Table.from_arrays([arrow_rows.column(keys, pa.string()),
                                 arrow_rows.column(texts, pa.string())], schema=EXTENSION_SCHEMA)


def _card_table(tags: tuple[str, ...], rows: list[Row], first_row: int
                ) -> tuple[pa.Table, list[Rejected], list[QualityIssue]]:
    """Cards typed column by column; the rows that need it are built one by one."""
    builder: RecordBuilder = _WORKER["builder"]
    n = len(rows)
    names = tags if not rows or type(rows[0]) is tuple else tuple(rows[0])
    upper = bool(rows) and not all(k.islower() for k in names)  # one case per export
    column = _column_reader(tags, rows, upper)
    columns, flagged = card_columns(column)
    country = _WORKER["country"]
    level0 = column("level0") or [None] * n
    columns["country_iso3"] = [country] * n if country else [
        code if _is_iso3(code) else None for code in level0]
    raw = [orjson.dumps(_as_dict(tags, row)) for row in rows]
    table, slow = builder.build_many(columns, n, first_row=first_row, raw=raw, unknown=flagged)
    if not slow:
        return table, [], []
    out, rejected, issues = [], [], []
    for i in slow:
        raw_row = _as_dict(tags, rows[i])
        low = lower_keys(raw_row) if upper else raw_row
        values, unknown = card_values(low)
        values["country_iso3"] = country or (
            low.get("level0") if is_iso3(low.get("level0")) else None)
        row_no = first_row + i
        ref = f"clave {low.get('clave')}" if low.get("clave") else f"row {row_no}"
        try:
            record = builder.build(values, row=row_no, record_ref=ref, raw=raw_row,
                                   unknown=unknown)
            issues.extend(record.pop(ISSUES_KEY, ()))
            out.append(record)
        except RecordError as exc:
            rejected.append(Rejected.from_error(exc, raw_row))
    if out:
        table = pa.concat_tables([table, pa.Table.from_pylist(out, RECORD_SCHEMA)])
        table = table.sort_by("source_row")
    return table, rejected, issues


def _column_reader(tags: tuple[str, ...], rows: list[Row], upper: bool
                   ) -> Callable[[str], Sequence[str | None] | None]:
    """A function giving the values of one field over all rows (None where absent; None
    for a field no row has)."""
    names = [t.lower() for t in tags] if upper else list(tags)
    index = {name: i for i, name in enumerate(names)}  # the last wins, as in lower_keys
    if all(type(r) is tuple for r in rows):
        columns = list(zip(*rows, strict=True)) if rows else []

        def from_tuples(field: str) -> Sequence[str | None] | None:
            i = index.get(field)
            return None if i is None or not columns else columns[i]
        return from_tuples
    lowered = [lower_keys(r) if upper and type(r) is dict else r for r in rows]
    fields = set(index).union(*(r for r in lowered if type(r) is dict))

    def mixed(field: str) -> Sequence[str | None] | None:
        if field not in fields:
            return None
        i = index.get(field)
        return [(r[i] if i is not None else None) if type(r) is tuple else r.get(field)  # type: ignore[call-overload, union-attr]
                for r in lowered]
    return mixed


@functools.lru_cache(maxsize=1024)
def _is_iso3(code: str | None) -> bool:
    return is_iso3(code)


# -- the reader -----------------------------------------------------------------------
class Utf8Reader(io.RawIOBase):
    """UTF-8 bytes of the text of a UTF-16 byte stream, decoded a block at a time."""

    def __init__(self, raw: IO[bytes], codec: str) -> None:
        self._raw, self._pending = raw, b""
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            block = self._raw.read(1 << 20)
            self._pending = self._decoder.decode(block, final=not block).encode("utf-8")
            if not block:
                break
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def read(path: Path, batch: Any, options: ReadOptions) -> None:
    """Read one DesInventar XML export into an import batch."""
    stream, archive, size, budget = _open_xml(path)
    try:
        _read(path, stream, archive, size, budget, batch, options)
    finally:
        if archive is not None:
            archive.close()


def _read(path: Path, stream: IO[bytes], archive: zipfile.ZipFile | None, size: int,
          budget: limits.Budget, batch: Any, options: ReadOptions) -> None:
    name, country = path.name, _country_of(path, options)
    builder = RecordBuilder(source_key=batch.source_key, source_file=name,
                            crosswalk=batch.store.crosswalk, policy=batch.policy,
                            field_names=CANONICAL_TO_CARD)
    codec = utf16_codec(stream.peek(4096)) if hasattr(stream, "peek") else None
    if codec is not None:  # the scanner reads bytes of UTF-8: UTF-16 is turned into it
        stream = io.BufferedReader(Utf8Reader(stream, codec))
    with stream:
        head = stream.peek(256) if hasattr(stream, "peek") else b""
        found = _ENCODING.search(head[:256])
        encoding = "UTF-8" if codec else found.group(1).decode() if found else "UTF-8"
        workers = _worker_count(options)
        init = (builder, country, str(batch.staging), name, encoding)
        # a plain file: workers read their chunks (not when the bytes were re-encoded)
        source = None if archive or codec else str(path)
        chunks = scan(stream, name, source=source, chunk_limits={"fichas": CARD_CHUNK_BYTES})
        sections = _run(chunks, batch, name, init,
                        parallel=workers > 1 and size >= PARALLEL_MIN_BYTES, workers=workers,
                        options=options)
    _apply_sections(sections, batch, name, country)
    from riskatlas.sources.boundaries import folder_files, member_stem, shapefile_parts, zip_files

    stems = {member_stem(r.get("filename", "")) for r in map(lower_keys,
                                                              sections.get("level_maps", []))}
    files = zip_files(archive, budget) if archive else folder_files(path.parent)
    _apply_boundaries(sections, shapefile_parts(files, stems), batch, name, country)


def _run(chunks: Iterator[Chunk], batch: Any, name: str, init: tuple[Any, ...], *,
         parallel: bool, workers: int, options: ReadOptions) -> dict[str, list[dict[str, str]]]:
    """Convert big sections (in worker processes when worth it); collect small ones."""
    sections: dict[str, list[dict[str, str]]] = {}
    repeats = Repeats()
    counter = 0
    pending: list[Future[ChunkResult]] = []
    pool = None
    init_bytes = b""
    if parallel:
        pool = _EARLY.pop(threading.get_ident(), None) or _new_pool(workers)
        init_bytes = pickle.dumps(init, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        _init_worker(*init)

    def collect(result: ChunkResult) -> None:
        batch.count_read(name, result.rows if result.section == "fichas" else 0)
        if result.section == "fichas":
            batch.add_records_parquet(Path(result.part), extensions=False)  # type: ignore[arg-type]
        else:
            batch.add_extensions_parquet(Path(result.part))  # type: ignore[arg-type]
        batch.add_rejected(result.rejected)
        batch.add_issues(result.issues)
        if result.repeats is not None:
            repeats.update(result.repeats)
        if result.control_removed:
            batch.note("xml.control_removed", path=name, count=result.control_removed,
                       section=result.section)

    try:
        for chunk in chunks:
            options.advance(chunk.size)
            if chunk.section not in BIG_SECTIONS:
                rows, removed = parse_rows(chunk, name, init[4], repeats)
                sections.setdefault(chunk.section, []).extend(rows)
                if removed:
                    batch.note("xml.control_removed", path=name, count=removed,
                               section=chunk.section)
                continue
            counter += 1
            if pool is None:
                collect(_convert_chunk(chunk, counter))
                continue
            pending.append(pool.submit(_convert_in_pool, init_bytes, chunk, counter))
            while len(pending) >= 2 * workers:
                collect(pending.pop(0).result())
        for future in pending:
            collect(future.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for note in repeats.notes():
        batch.note(path=name, **note)
    return sections


def _apply_sections(sections: dict[str, list[dict[str, str]]], batch: Any, name: str,
                    country: str | None) -> None:
    """Catalogues and gazetteer from the small sections; every section kept verbatim."""
    for section, rows in sections.items():
        batch.add_section_rows(name, section, rows)
    low = {s: [lower_keys(r) for r in rows] for s, rows in sections.items()}
    for row in low.get("eventos", []):
        if text(row.get("nombre")):
            batch.add_term(HazardTerm(row["nombre"].strip(), text(row.get("nombre_en")),
                                      text(row.get("descripcion"))))
    for i, row in enumerate(sorted(low.get("niveles", []), key=lambda r: r.get("nivel", ""))):
        batch.add_level(i, text(row.get("descripcion")), text(row.get("descripcion_en")))
    centroids = {text(r.get("codregion")): r for r in low.get("regiones", [])}
    for level in range(3):
        for row in low.get(f"lev{level}", []):
            code = text(row.get(f"lev{level}_cod"))
            if not code:
                continue
            unit_country = country or (code if level == 0 and is_iso3(code) else None)
            parent = text(row.get(f"lev{level}_lev{level - 1}")) if level else None
            region = centroids.get(code) or centroids.get(code[3:] if unit_country else None)
            batch.add_unit(AdminUnit(
                unit_country or "", level, code, text(row.get(f"lev{level}_name")),
                text(row.get(f"lev{level}_name_en")), parent, *_region_geo(region)))


def _region_geo(region: dict[str, str] | None) -> tuple[Any, ...]:
    if not region:
        return None, None, None
    try:
        x, y = float(region["x"]), float(region["y"])
        bbox = (float(region["xmin_"]), float(region["ymin"]), float(region["xmax_"]),
                float(region["ymax"]))
    except (KeyError, ValueError):
        return None, None, None
    return x, y, bbox


def _apply_boundaries(sections: dict[str, list[dict[str, str]]], parts: dict[str, Any],
                      batch: Any, name: str, country: str | None) -> None:
    # shapely: not in workers
    from riskatlas.sources.boundaries import admin_level, member_stem, read_layer

    for row in (lower_keys(r) for r in sections.get("level_maps", [])):
        stem = member_stem(row.get("filename", ""))
        if stem not in parts:
            continue
        level = admin_level(row.get("map_level") or 0)
        layer = re.split(r"[\\/]", row.get("filename", ""))[-1]
        if level is None:
            batch.note("boundaries.bad_layer", path=name, layer=layer,
                       reason=f"map_level {str(row.get('map_level'))[:40]} is not an admin level")
            continue
        boundaries = read_layer(parts[stem], row.get("lev_code", ""), row.get("lev_name"),
                                path=name, layer=layer, note=batch.note)
        for b in boundaries or ():
            unit_country = country or (b.code if level == 0 and is_iso3(b.code) else "")
            known = (unit_country, level, b.code) in batch.units
            batch.add_unit(AdminUnit(unit_country, level, b.code, None if known else b.name,
                                     None, None, b.centroid[0], b.centroid[1], b.bbox,
                                     b.geometry))


register(Reader(FORMAT, "DesInventar XML export (.xml or the .zip download)", sniff, read,
                source_key, prepare=start_workers))
