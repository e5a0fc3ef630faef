"""Serving from a private copy of the store, so that imports are never starved.

DuckDB lets one process hold a file for writing, and no other process may open it (even
read-only) meanwhile; conversely any open reader keeps an importer out. A busy server with
overlapping requests never closes its last connection, so reading the store directly
would lock ``riskatlas import`` out for as long as the traffic lasts (measured: DESIGN.md,
"Web"). Instead, the app copies the store (and its WAL, if any) into a private folder while
holding a read-only lock for just the copy, and every request reads that copy. When the
store's file changes (an import committed), the next request after ``min_interval``
seconds takes a fresh copy; while an importer holds the store the copy fails and requests
keep reading the last one (the data as of the last finished import). Requests in flight
keep their generation until they finish; older generations are then deleted.

Each copy is kept open while it is served: requests take a cursor of its connection and
share a :class:`~riskatlas.services.copies.Memo` of what they computed from it (the record
browser adds its index to the copy on first use, see :mod:`riskatlas.web.browse`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb

from riskatlas.errors import StoreError
from riskatlas.services.copies import Memo, connect_copy

log = logging.getLogger(__name__)

Signature = tuple[tuple[int, int] | None, ...]


IDLE_READERS = 8  # readers of each kind kept per copy between requests
# DuckDB's memory for one served copy (all its readers together), instead of its default of
# 80 % of the machine: building the browser's index of a million records otherwise peaks at
# ~1.3 GB, which the process keeps (measured in benchmarks/README.md, bench_web.py). Beyond
# the limit DuckDB spills to a temporary folder next to the copy. 200 MB, not 256: the
# repeated mix's workers 575 MB instead of 626 (record pages fill the buffer pool), the
# realistic mix's answers 8.5 a second instead of 9.4 (one run each, 2026-12-07).
COPY_MEMORY_LIMIT = "200MB"


def copy_threads(workers: int, cores: int | None = None) -> int | None:
    """DuckDB's threads for each worker's copy: the cores shared among ``workers`` worker
    processes (each query of one would else start a thread per core, and the workers'
    threads contend: the realistic mix answered 9.6–9.7 requests a second with one thread
    per worker on 2 cores against 8.5–9.0 with two, 2026-12-07); None for one worker."""
    if workers <= 1:
        return None
    return max(1, (cores or os.cpu_count() or 1) // workers)


class Closeable(Protocol):
    def close(self) -> None: ...


class LockedError(StoreError):
    """The store is held by a writer (an import is running)."""

    key = "web.error.store_busy"


@dataclass(eq=False)
class Copy:
    """One generation: the copy's file, a connection kept open while it is served (not
    read-only: the record browser writes its index there), the values computed from it,
    and the readers (cursors with their state) that requests gave back."""

    path: Path
    connection: duckdb.DuckDBPyConnection
    memo: Memo = field(default_factory=Memo)
    users: int = 0
    idle: dict[Hashable, list[Closeable]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, kind: Hashable) -> Any | None:
        """A reader of ``kind`` that a finished request gave back, if any."""
        with self._lock:
            readers = self.idle.get(kind)
            return readers.pop() if readers else None

    def give(self, kind: Hashable, reader: Closeable) -> None:
        """Keep a reader for the next request (a few of each kind; others are closed)."""
        with self._lock:
            readers = self.idle.setdefault(kind, [])
            if len(readers) < IDLE_READERS:
                readers.append(reader)
                return
        reader.close()

    def remove(self) -> None:
        with self._lock:
            readers = [r for kind in self.idle.values() for r in kind]
            self.idle.clear()
        for reader in readers:
            reader.close()
        self.connection.close()
        _remove(self.path)


FORCED_WAIT = 2.0  # seconds a refresh after this app's own write waits for the store


class Snapshots:
    """Generations of copies of one store; ``acquire`` a copy, ``release`` it when done."""

    def __init__(self, source: Path, *, folder: Path | None = None,
                 min_interval: float = 1.0, memory_limit: str = COPY_MEMORY_LIMIT,
                 threads: int | None = None,
                 on_copy: Callable[[Copy], None] | None = None) -> None:
        """``on_copy(copy)`` runs in a background thread each time a new copy is served
        (the copy stays while it runs): e.g. preparing pages (:mod:`riskatlas.web.warm`).
        ``threads``: DuckDB's threads per copy (None: every core; :func:`copy_threads`)."""
        self.source = source
        self.on_copy = on_copy
        self.prepared = threading.Event()  # set each time on_copy finished with a copy
        self.min_interval = min_interval
        self.memory_limit = memory_limit
        self.threads = threads
        self.folder = Path(tempfile.mkdtemp(prefix="riskatlas-web-", dir=folder))
        self._lock = threading.Lock()          # guards the fields below
        self._refreshing = threading.Lock()    # one copy at a time
        self._current: Copy | None = None
        self._signature: Signature | None = None
        self._checked = 0.0
        self._generation = 0
        self._retired: list[Copy] = []   # older generations still read by a request
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.folder, True)

    def close(self) -> None:
        """Remove every copy (at shutdown)."""
        with self._lock:
            for copy in [*self._retired, *([self._current] if self._current else [])]:
                copy.remove()
            self._retired, self._current = [], None
        self._finalizer()

    def ready(self) -> Copy | None:
        """The current copy, acquired, when no new copy is due; else None (then call
        :meth:`acquire`). Never waits nor copies: safe on the event loop."""
        with self._lock:
            if self._current is None or self._due():
                return None
            self._current.users += 1
            return self._current

    def acquire(self) -> Copy:
        """The newest copy (taken now if the store changed); raises :class:`LockedError`
        while a writer holds the store and no copy exists yet."""
        with self._lock:
            due = self._current is None or self._due()
        if due:
            first = self._current is None
            if self._refreshing.acquire(blocking=first):  # the first copy: wait for it
                try:
                    self._refresh(first)
                finally:
                    self._refreshing.release()
        with self._lock:
            if self._current is None:
                raise LockedError()
            self._current.users += 1
            return self._current

    def refresh(self) -> None:
        """Take a fresh copy now (after a write by this app: the next request sees it,
        whatever the file's timestamp says)."""
        with self._refreshing:
            self._refresh(self._current is None, force=True)

    def release(self, copy: Copy) -> None:
        with self._lock:
            copy.users -= 1
            done = self._finished()
        for old in done:  # closing a connection may checkpoint: not on the caller's time
            threading.Thread(target=old.remove, daemon=True).start()

    def _due(self) -> bool:
        """Whether the store changed since the current copy (its files looked at once per
        ``min_interval``, not on every request; the caller holds ``_lock``)."""
        if time.monotonic() - self._checked < self.min_interval:
            return False
        if self._stat() == self._signature:
            self._checked = time.monotonic()
            return False
        return True

    def _finished(self) -> list[Copy]:
        """Retired generations no request reads any more (taken off the list; the caller
        holds ``_lock`` and removes them after releasing it)."""
        done = [old for old in self._retired if old.users == 0]
        self._retired = [old for old in self._retired if old.users > 0]
        return done

    @property
    def signature(self) -> Signature | None:
        """:func:`store_signature` of the store as of the copy being served (None: no
        copy yet; empty when unknown, after the store was found busy)."""
        with self._lock:
            if self._current is None:
                return None
            return self._signature if self._signature is not None else ()

    def _stat(self) -> Signature:
        return store_signature(self.source)

    def _refresh(self, first: bool, force: bool = False) -> None:
        with self._lock:
            if not force and self._current is not None and self._stat() == self._signature:
                return  # another request refreshed it meanwhile
            self._checked = time.monotonic()
        if not self.source.exists():
            raise StoreError("store.missing", path=str(self.source))
        # after this app's own write, wait a little for a brief writer (a token's last use
        # being recorded) rather than serve a copy without the write
        deadline = time.monotonic() + (FORCED_WAIT if force else 0.0)
        while True:
            try:  # the read-only lock keeps writers out while the file is copied
                guard = duckdb.connect(str(self.source), read_only=True)
                break
            except duckdb.Error as exc:
                # "lock": another process writes; "different configuration": this process
                # does (a web write or an upload being imported)
                if "lock" not in str(exc).lower() and "different configuration" not in str(exc):
                    raise StoreError("store.cannot_open", path=str(self.source),
                                     reason=str(exc)) from exc
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                if first:
                    raise LockedError() from exc
                log.debug("store %s busy: serving the previous copy", self.source)
                with self._lock:  # the next request tries again, whatever the interval
                    self._signature, self._checked = None, 0.0
                return
        try:
            signature = self._stat()
            self._generation += 1
            target = self.folder / f"store-{self._generation}.duckdb"
            started = time.perf_counter()
            shutil.copyfile(self.source, target)
            if _wal(self.source).exists():
                shutil.copyfile(_wal(self.source), _wal(target))
        finally:
            guard.close()
        connection = connect_copy(target, self.memory_limit, self.threads)
        copy = Copy(target, connection)
        log.info("copied %s for the web app in %.2f s", self.source,
                 time.perf_counter() - started)
        with self._lock:
            previous = self._current
            self._current, self._signature = copy, signature
            if previous is not None:
                self._retired.append(previous)
            done = self._finished()
            if self.on_copy is not None:
                copy.users += 1  # released when on_copy is done
        for old in done:
            old.remove()
        if self.on_copy is not None:
            threading.Thread(target=self._opened, args=(copy, self.on_copy), daemon=True,
                             name="riskatlas-copy-opened").start()

    def _opened(self, copy: Copy, on_copy: Callable[[Copy], None]) -> None:
        try:
            on_copy(copy)
        finally:
            self.release(copy)
            self.prepared.set()


def store_signature(path: Path) -> Signature:
    """(modification time, size) of a store's file and of its WAL (None: absent)."""
    out: list[tuple[int, int] | None] = []
    for file in (path, _wal(path)):
        try:
            st = file.stat()
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _wal(path).unlink(missing_ok=True)
