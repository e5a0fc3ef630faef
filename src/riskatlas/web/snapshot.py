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
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

import duckdb

from riskatlas.errors import StoreError

log = logging.getLogger(__name__)

Signature = tuple[tuple[int, int] | None, ...]


class LockedError(Exception):
    """The store is held by a writer (an import is running)."""


class Snapshots:
    """Generations of copies of one store; ``acquire`` a path, ``release`` it when done."""

    def __init__(self, source: Path, *, folder: Path | None = None,
                 min_interval: float = 1.0) -> None:
        self.source = source
        self.min_interval = min_interval
        self.folder = Path(tempfile.mkdtemp(prefix="riskatlas-web-", dir=folder))
        self._lock = threading.Lock()          # guards the fields below
        self._refreshing = threading.Lock()    # one copy at a time
        self._current: Path | None = None
        self._signature: Signature | None = None
        self._checked = 0.0
        self._generation = 0
        self._users: dict[Path, int] = {}
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.folder, True)

    def close(self) -> None:
        """Remove every copy (at shutdown)."""
        self._finalizer()

    def acquire(self) -> Path:
        """The newest copy (taken now if the store changed); raises :class:`LockedError`
        while a writer holds the store and no copy exists yet."""
        with self._lock:
            due = self._current is None or (
                time.monotonic() - self._checked >= self.min_interval
                and self._stat() != self._signature)
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
            self._users[self._current] = self._users.get(self._current, 0) + 1
            return self._current

    def refresh(self) -> None:
        """Take a fresh copy now (after a write by this app: the next request sees it,
        whatever the file's timestamp says)."""
        with self._refreshing:
            self._refresh(self._current is None, force=True)

    def release(self, path: Path) -> None:
        with self._lock:
            self._users[path] -= 1
            for old, users in list(self._users.items()):
                if users == 0 and old != self._current:
                    del self._users[old]
                    _remove(old)

    def _stat(self) -> Signature:
        out: list[tuple[int, int] | None] = []
        for path in (self.source, _wal(self.source)):
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _refresh(self, first: bool, force: bool = False) -> None:
        with self._lock:
            if not force and self._current is not None and self._stat() == self._signature:
                return  # another request refreshed it meanwhile
            self._checked = time.monotonic()
        if not self.source.exists():
            raise StoreError("store.missing", path=str(self.source))
        try:  # the read-only lock keeps writers out while the file is copied
            guard = duckdb.connect(str(self.source), read_only=True)
        except duckdb.Error as exc:
            # "lock": another process writes; "different configuration": this process does
            # (a web write or an upload being imported)
            if "lock" not in str(exc).lower() and "different configuration" not in str(exc):
                raise StoreError("store.cannot_open", path=str(self.source),
                                 reason=str(exc)) from exc
            if first:
                raise LockedError() from exc
            log.debug("store %s busy: serving the previous copy", self.source)
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
        log.info("copied %s for the web app in %.2f s", self.source,
                 time.perf_counter() - started)
        with self._lock:
            previous = self._current
            self._current, self._signature = target, signature
            self._users.setdefault(target, 0)
            if previous is not None and self._users.get(previous) == 0:
                del self._users[previous]
                _remove(previous)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _wal(path).unlink(missing_ok=True)
