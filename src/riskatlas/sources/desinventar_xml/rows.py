"""Rows of a chunk through lxml: the reference reading of every row (the fast path of
:mod:`.patterns` gives the same), elements named twice, and the limit on values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, SupportsInt

from lxml import etree

from riskatlas.errors import SourceFormatError
from riskatlas.sources import limits
from riskatlas.sources.desinventar_xml.scanner import Chunk, chunk_data, chunk_first_row, chunk_line

CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13))  # removed before parsing
Row = tuple[str, ...] | dict[str, str]  # a row of the fast path (texts in field order) or not
# No huge_tree: libxml2 keeps its own limits (elements nested at most 256 deep, text nodes
# under 10 MB), which the scanner's limits on rows and values stay below.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_TOO_DEEP = re.compile(r"Excessive depth")


def parse_rows(chunk: Chunk, path: str, encoding: str, repeats: Repeats | None = None
               ) -> tuple[list[dict[str, str]], int]:
    """The rows of a chunk as {element name: text}, and the control characters removed.
    Elements named twice in a row are read by :func:`row_values` (and counted in
    ``repeats``)."""
    raw = chunk_data(chunk)
    data = raw.translate(None, CONTROL)
    removed = len(raw) - len(data)
    wrapped = b'<?xml version="1.0" encoding="' + encoding.encode() + b'"?><c>' + data + b"</c>"
    try:
        root = etree.fromstring(wrapped, PARSER)
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
            rows.append(row_values(tr, chunk.section, Number(chunk, len(rows)), repeats))
    check_values(rows, chunk, path)
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


def check_values(rows: Sequence[Row], chunk: Chunk, path: str) -> None:
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


class Number:
    """The number of a row in its section (row ``index`` of ``chunk``), found on need."""

    __slots__ = ("chunk", "index")

    def __init__(self, chunk: Chunk | None, index: int) -> None:
        self.chunk, self.index = chunk, index

    def __int__(self) -> int:
        return (chunk_first_row(self.chunk) if self.chunk else 1) + self.index


def lower_keys(row: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in row.items()}
