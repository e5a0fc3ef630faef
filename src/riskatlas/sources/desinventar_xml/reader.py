"""The reader: sniffing and naming, one file read section by section (big sections
through the worker pool, small ones kept verbatim), the catalogues, gazetteer and
boundaries they give, and the :class:`Reader` registration."""

from __future__ import annotations

import codecs
import io
import pickle
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from riskatlas.model.countries import is_iso3
from riskatlas.sources import limits
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD
from riskatlas.sources.desinventar_xml import workers as worker_pool
from riskatlas.sources.desinventar_xml.rows import Repeats, lower_keys, parse_rows
from riskatlas.sources.desinventar_xml.scanner import BIG_SECTIONS, Chunk, open_xml, scan
from riskatlas.sources.desinventar_xml.workers import ChunkResult
from riskatlas.sources.registry import Reader, ReadOptions
from riskatlas.sources.tables import utf16_codec
from riskatlas.store.batch import AdminUnit, HazardTerm

if TYPE_CHECKING:
    from riskatlas.store.batch import ImportBatch

FORMAT = "desinventar-xml"
CARD_CHUNK_BYTES = 1024 * 1024  # cards cost more memory per byte than extension rows
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


def read(path: Path, batch: ImportBatch, options: ReadOptions) -> None:
    """Read one DesInventar XML export into an import batch."""
    stream, archive, size, budget = open_xml(path)
    try:
        _read(path, stream, archive, size, budget, batch, options)
    finally:
        if archive is not None:
            archive.close()


def _read(path: Path, stream: IO[bytes], archive: zipfile.ZipFile | None, size: int,
          budget: limits.Budget, batch: ImportBatch, options: ReadOptions) -> None:
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
        count = worker_pool.worker_count(options)
        init = (builder, country, str(batch.staging), name, encoding)
        # a plain file: workers read their chunks (not when the bytes were re-encoded)
        source = None if archive or codec else str(path)
        chunks = scan(stream, name, source=source, chunk_limits={"fichas": CARD_CHUNK_BYTES})
        sections = _run(chunks, batch, name, init,
                        parallel=count > 1 and size >= worker_pool.PARALLEL_MIN_BYTES,
                        workers=count, options=options)
    _apply_sections(sections, batch, name, country)
    from riskatlas.sources.boundaries import folder_files, member_stem, shapefile_parts, zip_files

    stems = {member_stem(r.get("filename", "")) for r in map(lower_keys,
                                                              sections.get("level_maps", []))}
    files = zip_files(archive, budget) if archive else folder_files(path.parent)
    _apply_boundaries(sections, shapefile_parts(files, stems), batch, name, country)


class _Collector:
    """What the chunks give, into the batch: the results of the big sections' chunks,
    the rows of the small sections (kept here), and the elements named twice."""

    def __init__(self, batch: ImportBatch, name: str) -> None:
        self.batch, self.name = batch, name
        self.sections: dict[str, list[dict[str, str]]] = {}
        self.repeats = Repeats()

    def take(self, result: ChunkResult) -> None:
        batch, name = self.batch, self.name
        batch.count_read(name, result.rows if result.section == "fichas" else 0)
        if result.section == "fichas":
            batch.add_records_parquet(Path(result.part), extensions=False)  # type: ignore[arg-type]
        else:
            batch.add_extensions_parquet(Path(result.part))  # type: ignore[arg-type]
        batch.add_rejected(result.rejected)
        batch.add_issues(result.issues)
        if result.repeats is not None:
            self.repeats.update(result.repeats)
        if result.control_removed:
            batch.note("xml.control_removed", path=name, count=result.control_removed,
                       section=result.section)

    def small(self, chunk: Chunk, encoding: str) -> None:
        """A chunk of a small section (catalogues, gazetteer, metadata), parsed here."""
        rows, removed = parse_rows(chunk, self.name, encoding, self.repeats)
        self.sections.setdefault(chunk.section, []).extend(rows)
        if removed:
            self.batch.note("xml.control_removed", path=self.name, count=removed,
                            section=chunk.section)

    def finish(self) -> dict[str, list[dict[str, str]]]:
        for note in self.repeats.notes():
            self.batch.note(path=self.name, **note)
        return self.sections


def _run(chunks: Iterator[Chunk], batch: ImportBatch, name: str, init: tuple[Any, ...], *,
         parallel: bool, workers: int, options: ReadOptions) -> dict[str, list[dict[str, str]]]:
    """Convert big sections (in worker processes when worth it, at most 2 × workers chunks
    in flight); collect small ones."""
    out = _Collector(batch, name)
    pool: ProcessPoolExecutor | None = None
    init_bytes = b""
    if parallel:
        pool = worker_pool.take_pool(workers)
        init_bytes = pickle.dumps(init, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        worker_pool.init_worker(*init)
    pending: list[Future[ChunkResult]] = []
    try:
        for number, chunk in _big_chunks(chunks, out, init[4], options):
            if pool is None:
                out.take(worker_pool.convert_chunk(chunk, number))
                continue
            pending.append(pool.submit(worker_pool.convert_in_pool, init_bytes, chunk, number))
            while len(pending) >= 2 * workers:
                out.take(pending.pop(0).result())
        for future in pending:
            out.take(future.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return out.finish()


def _big_chunks(chunks: Iterator[Chunk], out: _Collector, encoding: str, options: ReadOptions
                ) -> Iterator[tuple[int, Chunk]]:
    """The chunks of the big sections, numbered from 1; those of the small ones go to
    ``out``. Each chunk advances the progress by its size."""
    number = 0
    for chunk in chunks:
        options.advance(chunk.size)
        if chunk.section not in BIG_SECTIONS:
            out.small(chunk, encoding)
            continue
        number += 1
        yield number, chunk


def _apply_sections(sections: dict[str, list[dict[str, str]]], batch: ImportBatch, name: str,
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
                      batch: ImportBatch, name: str, country: str | None) -> None:
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


# registered through the entry point riskatlas.readers (pyproject.toml)
READER = Reader(FORMAT, "DesInventar XML export (.xml or the .zip download)", sniff, read,
                source_key, prepare=worker_pool.start_workers, order=10)
