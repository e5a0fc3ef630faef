"""Row patterns: the fast path of the XML reader.

Export rows are flat and repeat one layout: ``<TR><f1>text</f1>...</TR>``. A regular
expression built from the first row's field names (parsed by lxml) matches each following
row whole, giving its texts as a tuple. Anything else -- markup in a value, another
layout, comments, control characters, a bad reference -- is parsed by lxml: a piece that
fails alone sends the whole chunk to lxml (:func:`~.rows.parse_rows`), so records and
errors read exactly as on that path.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
import pyarrow as pa
from lxml import etree

from riskatlas.errors import RiskAtlasError
from riskatlas.sources import limits
from riskatlas.sources.desinventar_xml.rows import (
    CONTROL,
    PARSER,
    Number,
    Repeats,
    Row,
    check_values,
    parse_rows,
    row_values,
)
from riskatlas.sources.desinventar_xml.scanner import Chunk, chunk_data
from riskatlas.store import arrow_rows
from riskatlas.store.batch import EXTENSION_SCHEMA

_WS = "[ \t\r\n]*"
_TEXT = "([^<\r\x00-\x08\x0b\x0c\x0e-\x1f]{0,%d})"  # \r: XML turns line ends into \n
_REF = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_ENTITIES = {"lt": "<", "gt": ">", "quot": '"', "apos": "'", "amp": "&"}  # amp last
_CONTROL_TEXT = dict.fromkeys(CONTROL)
_SINGLE_BYTE = frozenset(("us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1",
                          "iso-8859-15", "windows-1252", "cp1252"))


class _Fallback(RiskAtlasError):
    """The chunk is parsed by lxml as a whole: a signal of the fast path, raised and caught
    in this module, so its message is never rendered (no catalogue loaded in a worker)."""

    key = "xml.fast_path"

    def __init__(self) -> None:
        Exception.__init__(self, self.key)
        self.params = {}


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
    check_values(rows, chunk, path)
    return tags, rows, removed


def _plain(data: bytes, encoding: str) -> bool:
    """Whether the fast path may read the bytes: UTF-8 (or ASCII in a single-byte
    encoding), without what XML forbids in content ("]]>", U+FFFE, U+FFFF: lxml reports
    it)."""
    name = encoding.lower()
    if name not in ("utf-8", "utf8") and not (name in _SINGLE_BYTE and data.isascii()):
        return False
    return not ((b"]" in data and b"]]>" in data) or (b"\xef" in data and (
        b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)))


Where = tuple["Chunk | None", "Repeats | None"]  # the chunk read, the repeats found


def _fast_rows(data: bytes, encoding: str, where: Where = (None, None)
               ) -> tuple[tuple[str, ...], list[Row], int]:
    if not _plain(data, encoding):
        raise _Fallback
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


def fast_extension(data: bytes, encoding: str) -> pa.Table | None:
    """The extension table of a chunk whose rows all fit the JSON template; else None."""
    if not _plain(data, encoding):
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
        return etree.fromstring(b"<c>" + piece.encode() + b"</c>", PARSER)
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
                                   Number(chunk, index + len(rows)), repeats))
    return rows


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

