"""DesInventar XML export (``DI_export_xxx.xml`` or the downloaded ``.zip`` with shapefiles).

The file is read as a stream: a scanner cuts each section into chunks of whole ``<TR>``
rows, and worker processes parse the chunks of the large sections (fichas, extension)
in parallel, writing Parquet parts into the import batch. Memory stays bounded whatever
the file size. Element names are matched case-insensitively; illegal control characters
are removed; documents with a DOCTYPE are refused (no entity is ever resolved).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sys
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from riskatlas.errors import RecordError, SourceFormatError
from riskatlas.model.countries import is_iso3
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, card_values
from riskatlas.sources.registry import Reader, ReadOptions, register
from riskatlas.store.batch import EXTENSION_SCHEMA, RECORD_SCHEMA, AdminUnit, HazardTerm, Rejected

log = logging.getLogger(__name__)
FORMAT = "desinventar-xml"
CHUNK_BYTES = 1024 * 1024
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
BIG_SECTIONS = ("fichas", "extension")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13))
_TAG = re.compile(rb"<\s*(/?)\s*([A-Za-z_][\w.\-]*)[^>]*?(/?)>|<\?.*?\?>|<!--.*?-->|<!", re.S)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9_\-]+)["']""")


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
    data: bytes
    first_row: int  # 1-based number of the first <TR> of the chunk in its section
    line: int  # line of the file where the chunk starts


def _open_xml(path: Path) -> tuple[IO[bytes], zipfile.ZipFile | None, int]:
    """A byte stream of the XML (inside a zip or not), the zip, and the stream size."""
    if zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
            names = [i for i in archive.infolist() if i.filename.lower().endswith(".xml")]
            if not names:
                raise SourceFormatError("xml.no_member", path=str(path))
            member = max(names, key=lambda i: i.file_size)
            return archive.open(member), archive, member.file_size
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise SourceFormatError("zip.bad", path=str(path), reason=str(exc)) from exc
    with path.open("rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise SourceFormatError("zip.bad", path=str(path), reason="truncated or damaged")
    return path.open("rb"), None, path.stat().st_size


def scan(stream: IO[bytes], path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Cut the document into chunks of whole rows, section by section."""
    buf, pos, line = b"", 0, 1
    eof = False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        try:
            block = stream.read(chunk_bytes)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise SourceFormatError("zip.bad", path=path, reason=str(exc)) from exc
        if not block:
            eof = True
            return False
        buf, pos = buf[pos:] + block, 0
        return True

    section: bytes | None = None
    rows = 0
    while True:
        if section is None:
            match = _TAG.search(buf, pos)
            if match is None or (match.group(0) == b"<!" and b">" not in buf[match.end():]):
                if not more():
                    if buf[pos:].strip():
                        raise SourceFormatError("xml.truncated", path=path, line=line,
                                                section="-")
                    return
                continue
            token = match.group(0)
            if token.startswith(b"<!") and not token.startswith(b"<!--"):
                raise SourceFormatError("xml.doctype", path=path, line=line)
            line += buf.count(b"\n", pos, match.end())
            pos = match.end()
            closing, name, selfclosing = match.group(1), match.group(2), match.group(3)
            if token.startswith((b"<?", b"<!--")) or name is None or selfclosing:
                continue
            if name.lower() == b"desinventar":
                if closing:
                    return
                continue
            if closing:
                raise SourceFormatError("xml.malformed", path=path, line=line, record="-",
                                        field=name.decode(), reason="unexpected closing tag")
            section, rows = name, 0
            close = re.compile(rb"</\s*" + re.escape(section) + rb"\s*>")
            search_from = pos
            continue
        found = close.search(buf, search_from)
        if found is None and len(buf) - pos < chunk_bytes:
            searched = len(buf) - pos
            if not more():
                raise SourceFormatError("xml.truncated", path=path, line=line,
                                        section=section.decode())
            search_from = max(0, searched - 64)  # more() moved pos to 0
            continue
        # the section's closing tag when it is near enough, else a cut after a whole row
        close_tag = (found.start(), found.end()) if (
            found is not None and found.start() - pos <= chunk_bytes) else None
        end = close_tag[0] if close_tag else _last_row_end(buf, pos, chunk_bytes)
        if end < 0:  # a single row longer than the buffer: read on
            if not more():
                raise SourceFormatError("xml.truncated", path=path, line=line,
                                        section=section.decode())
            search_from = 0
            continue
        data = buf[pos:end]
        if data.strip():
            count = data.count(b"<TR>") or data.count(b"<tr>")
            yield Chunk(section.decode().lower(), data, rows + 1, line)
            rows += count
        line += data.count(b"\n")
        if close_tag:
            line += buf.count(b"\n", end, close_tag[1])
            pos, section = close_tag[1], None
        else:
            pos = end
        search_from = pos


def _last_row_end(buf: bytes, start: int, limit: int) -> int:
    """End of the last whole row within ``limit`` bytes after ``start``; else of the first
    row however long; -1 when no row ends in the buffer."""
    stop = start + limit
    last = max(buf.rfind(b"</TR>", start, stop), buf.rfind(b"</tr>", start, stop))
    if last < 0:
        ends = [i for i in (buf.find(b"</TR>", start), buf.find(b"</tr>", start)) if i >= 0]
        last = min(ends) if ends else -1
    return last + len(b"</TR>") if last >= 0 else -1


# -- parsing rows ---------------------------------------------------------------------
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                          load_dtd=False)


def parse_rows(chunk: Chunk, path: str, encoding: str) -> tuple[list[dict[str, str]], int]:
    """The rows of a chunk as {element name: text}, and the control characters removed."""
    data = chunk.data.translate(None, _CONTROL)
    removed = len(chunk.data) - len(data)
    wrapped = b'<?xml version="1.0" encoding="' + encoding.encode() + b'"?><c>' + data + b"</c>"
    try:
        root = etree.fromstring(wrapped, _PARSER)
    except etree.XMLSyntaxError as exc:
        lineno = exc.lineno or 1
        before = b"\n".join(data.split(b"\n")[:lineno])
        record = f"{chunk.section} row {chunk.first_row + max(before.count(b'<TR>') - 1, 0)}"
        field = re.findall(r"tag mismatch: (\w+)", exc.msg or "")
        raise SourceFormatError("xml.malformed", path=path, line=chunk.line + lineno - 1,
                                record=record, field=field[0] if field else "-",
                                reason=exc.msg) from None
    rows = []
    for tr in root:
        if not isinstance(tr.tag, str):
            continue
        rows.append({el.tag: el.text or "" for el in tr if isinstance(el.tag, str)})
    return rows, removed


def lower_keys(row: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in row.items()}


@dataclass
class ChunkResult:
    section: str
    rows: int
    part: str | None
    rejected: list[Rejected]
    control_removed: int


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


def _init_pool_worker(*args: Any) -> None:
    sys.meta_path.insert(0, _NoPandas)  # type: ignore[arg-type]
    _init_worker(*args)


def _convert_chunk(chunk: Chunk, number: int) -> ChunkResult:
    """Parse one chunk of fichas or extension rows into a Parquet part."""
    builder: RecordBuilder = _WORKER["builder"]
    rows, removed = parse_rows(chunk, _WORKER["path"], _WORKER["encoding"])
    out, rejected = [], []
    part = Path(_WORKER["staging"]) / f"{chunk.section}-{number:06d}.parquet"
    if chunk.section == "extension":
        for raw in rows:
            key = raw.get("clave_ext", raw.get("CLAVE_EXT")) or lower_keys(raw).get("clave_ext")
            out.append({"native_key": text(key) or "",
                        "extension": orjson.dumps(raw).decode()})
        pq.write_table(pa.Table.from_pylist(out, EXTENSION_SCHEMA), part)
        return ChunkResult(chunk.section, len(rows), str(part), [], removed)
    upper = bool(rows) and not all(k.islower() for k in rows[0])  # one case per export
    for i, raw in enumerate(rows):
        low = lower_keys(raw) if upper else raw
        values, unknown = card_values(low)
        values["country_iso3"] = _WORKER["country"] or (
            low.get("level0") if is_iso3(low.get("level0")) else None)
        row_no = chunk.first_row + i
        ref = f"clave {low.get('clave')}" if low.get("clave") else f"row {row_no}"
        try:
            out.append(builder.build(values, row=row_no, record_ref=ref, raw=raw,
                                     unknown=unknown))
        except RecordError as exc:
            rejected.append(Rejected.from_error(exc, raw))
    pq.write_table(pa.Table.from_pylist(out, RECORD_SCHEMA), part)
    return ChunkResult(chunk.section, len(rows), str(part), rejected, removed)


# -- the reader -----------------------------------------------------------------------
def read(path: Path, batch: Any, options: ReadOptions) -> None:
    """Read one DesInventar XML export into an import batch."""
    stream, archive, size = _open_xml(path)
    name, country = path.name, _country_of(path, options)
    builder = RecordBuilder(source_key=batch.source_key, source_file=name,
                            crosswalk=batch.store.crosswalk, field_names=CANONICAL_TO_CARD)
    with stream:
        head = stream.peek(256) if hasattr(stream, "peek") else b""
        found = _ENCODING.search(head[:256])
        encoding = found.group(1).decode() if found else "UTF-8"
        workers = options.workers or min(os.cpu_count() or 1, 4)
        init = (builder, country, str(batch.staging), name, encoding)
        sections = _run(scan(stream, name), batch, name, init,
                        parallel=workers > 1 and size >= PARALLEL_MIN_BYTES, workers=workers,
                        options=options)
    _apply_sections(sections, batch, name, country)
    from riskatlas.sources.boundaries import folder_files, member_stem, shapefile_parts, zip_files

    stems = {member_stem(r.get("filename", "")) for r in map(lower_keys,
                                                              sections.get("level_maps", []))}
    parts = shapefile_parts(zip_files(archive) if archive else folder_files(path.parent), stems)
    if archive:
        archive.close()
    _apply_boundaries(sections, parts, batch, country)


def _run(chunks: Iterator[Chunk], batch: Any, name: str, init: tuple[Any, ...], *,
         parallel: bool, workers: int, options: ReadOptions) -> dict[str, list[dict[str, str]]]:
    """Convert big sections (in worker processes when worth it); collect small ones."""
    sections: dict[str, list[dict[str, str]]] = {}
    counter = 0
    pending: list[Future[ChunkResult]] = []
    pool = None
    if parallel:
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                                   initargs=init)
    else:
        _init_worker(*init)

    def collect(result: ChunkResult) -> None:
        batch.count_read(name, result.rows if result.section == "fichas" else 0)
        if result.section == "fichas":
            batch.add_records_parquet(Path(result.part))  # type: ignore[arg-type]
        else:
            batch.add_extensions_parquet(Path(result.part))  # type: ignore[arg-type]
        batch.add_rejected(result.rejected)
        if result.control_removed:
            batch.note("xml.control_removed", path=name, count=result.control_removed,
                       section=result.section)

    try:
        for chunk in chunks:
            options.advance(len(chunk.data))
            if chunk.section not in BIG_SECTIONS:
                rows, removed = parse_rows(chunk, name, init[4])
                sections.setdefault(chunk.section, []).extend(rows)
                if removed:
                    batch.note("xml.control_removed", path=name, count=removed,
                               section=chunk.section)
                continue
            counter += 1
            if pool is None:
                collect(_convert_chunk(chunk, counter))
                continue
            pending.append(pool.submit(_convert_chunk, chunk, counter))
            while len(pending) >= 2 * workers:
                collect(pending.pop(0).result())
        for future in pending:
            collect(future.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
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


def _apply_boundaries(sections: dict[str, list[dict[str, str]]],
                      parts: dict[str, dict[str, bytes]], batch: Any,
                      country: str | None) -> None:
    from riskatlas.sources.boundaries import member_stem, read_shapefile  # shapely: not in workers

    for row in (lower_keys(r) for r in sections.get("level_maps", [])):
        stem = member_stem(row.get("filename", ""))
        if stem not in parts:
            continue
        level = int(row.get("map_level") or 0)
        for b in read_shapefile(parts[stem], row.get("lev_code", ""), row.get("lev_name")):
            unit_country = country or (b.code if level == 0 and is_iso3(b.code) else "")
            known = (unit_country, level, b.code) in batch.units
            batch.add_unit(AdminUnit(unit_country, level, b.code, None if known else b.name,
                                     None, None, b.centroid[0], b.centroid[1], b.bbox,
                                     b.geometry))


register(Reader(FORMAT, "DesInventar XML export (.xml or the .zip download)", sniff, read,
                source_key))
