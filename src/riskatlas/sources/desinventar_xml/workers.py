"""The worker pool: chunks of the big sections (fichas, extension) converted into Parquet
parts, in the reading process or in forkserver worker processes.

A worker process blocks pandas (pyarrow probes for it; not loading it saves ~40 MB per
worker) and hands freed memory back to the system after each chunk (glibc's
``malloc_trim``). Pools may be started before the files are hashed
(:func:`start_workers`), so that their start-up overlaps the hashing.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from riskatlas.model.quality import QualityIssue
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.desinventar_xml.arrow import card_table, extension_table
from riskatlas.sources.desinventar_xml.patterns import fast_extension, read_rows
from riskatlas.sources.desinventar_xml.rows import Repeats
from riskatlas.sources.desinventar_xml.scanner import Chunk, chunk_data, chunk_first_row
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.batch import Rejected

PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # a smaller file is read in one process
STAGING_COMPRESSION = "lz4"  # staged parts live for minutes: cheap to write and read


@dataclass
class ChunkResult:
    section: str
    rows: int
    part: str | None
    rejected: list[Rejected]
    control_removed: int
    issues: list[QualityIssue] = dataclasses.field(default_factory=list)
    repeats: Repeats | None = None  # elements named twice in a row


@dataclass
class Worker:
    """What this process converts chunks with (set by :func:`init_worker`)."""

    builder: RecordBuilder
    country: str | None  # the country of every card (else each card's ISO3 level0)
    staging: str  # the batch's staging folder, where the Parquet parts go
    path: str  # the file name, for messages
    encoding: str  # of the XML


class _Process:
    """The state of this process as a worker: its :class:`Worker`, the pickled arguments
    it was made from (a pool worker serves one file after another), ``malloc_trim``."""

    worker: Worker | None = None
    init: bytes | None = None
    trim: Callable[[int], int] | None = None


def init_worker(builder: RecordBuilder, country: str | None, staging: str, path: str,
                encoding: str) -> None:
    """Make this process convert chunks of one file (:func:`convert_chunk`)."""
    _Process.worker = Worker(builder, country, staging, path, encoding)


class NoPandas:
    """Import blocker for pool workers: pyarrow probes for pandas whenever it builds an
    array; the workers never need it, and not loading it saves ~40 MB per worker."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not used in import workers")


def init_pool_worker() -> None:
    """The initializer of a pool's worker process: pandas blocked, ``malloc_trim`` found."""
    sys.meta_path.insert(0, NoPandas)  # type: ignore[arg-type]
    with contextlib.suppress(OSError, AttributeError):  # glibc keeps freed memory:
        _Process.trim = ctypes.CDLL("libc.so.6").malloc_trim  # hand it back per chunk


def _pool_ready() -> None:
    """A no-op task: submitting one starts a worker process."""


def convert_in_pool(init: bytes, chunk: Chunk, number: int) -> ChunkResult:
    """:func:`convert_chunk` in a pool worker; ``init`` (the pickled arguments of
    :func:`init_worker`) is applied when it differs from the worker's last one, so that a
    pool can be started before the file it reads is known."""
    if _Process.init != init:
        init_worker(*pickle.loads(init))
        _Process.init = init
    return convert_chunk(chunk, number)


def new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=init_pool_worker)


def worker_count(options: ReadOptions) -> int:
    return options.workers or min(os.cpu_count() or 1, 4)


# pools started by start_workers and not yet used, by thread (imports may run in threads)
_EARLY: dict[int, ProcessPoolExecutor] = {}


@contextlib.contextmanager
def start_workers(files: Sequence[Path], options: ReadOptions) -> Iterator[None]:
    """Start the worker processes before the files are hashed when a plain ``.xml`` among
    them is large enough to be read in parallel: their start-up (interpreter, imports)
    then overlaps the hashing instead of the read. The first read takes the pool
    (:func:`take_pool`); an unused one is stopped on leaving."""
    workers = worker_count(options)
    if workers < 2 or not any(f.suffix.lower() == ".xml" and f.is_file()
                              and f.stat().st_size >= PARALLEL_MIN_BYTES for f in files):
        yield
        return
    pool = new_pool(workers)
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


def early_pool() -> ProcessPoolExecutor | None:
    """The pool :func:`start_workers` started for this thread and no read has taken."""
    return _EARLY.get(threading.get_ident())


def early_pools() -> int:
    """How many pools started early wait for a read, in every thread."""
    return len(_EARLY)


def take_pool(workers: int) -> ProcessPoolExecutor:
    """The pool started early for this thread, else a new one."""
    return _EARLY.pop(threading.get_ident(), None) or new_pool(workers)


def _release_memory() -> None:
    pa.default_memory_pool().release_unused()
    if _Process.trim is not None:
        _Process.trim(0)


def convert_chunk(chunk: Chunk, number: int) -> ChunkResult:
    """Parse one chunk of fichas or extension rows into a Parquet part (the ``number``-th
    of the file), with the :class:`Worker` of this process (:func:`init_worker`)."""
    worker = _Process.worker
    assert worker is not None, "init_worker() first"
    if not chunk.data:
        chunk = dataclasses.replace(chunk, data=chunk_data(chunk))
    part = Path(worker.staging) / f"{chunk.section}-{number:06d}.parquet"
    rejected: list[Rejected] = []
    issues: list[QualityIssue] = []
    repeats = Repeats()
    removed = 0
    table = fast_extension(chunk.data, worker.encoding) if (
        chunk.section == "extension") else None
    if table is None:
        tags, rows, removed = read_rows(chunk, worker.path, worker.encoding, repeats)
        if chunk.section == "extension":
            table = extension_table(tags, rows)
        else:
            table, rejected, issues = card_table(tags, rows, chunk_first_row(chunk),
                                                 worker.builder, worker.country)
        del rows
    pq.write_table(table, part, compression=STAGING_COMPRESSION, use_dictionary=False,
                   write_statistics=False)
    result = ChunkResult(chunk.section, table.num_rows + len(rejected), str(part), rejected,
                         removed, issues, repeats if repeats.found else None)
    del table
    _release_memory()
    return result
