"""Writes from the web app: a short read-write opening of the store itself (never the
copy the readers use), one transaction, then a fresh copy for the readers.

One write at a time per process (a lock); while an importer in another process holds the
store, the write retries for ``write_wait`` seconds and then answers 503 with Retry-After
(:class:`StoreBusyError`), as reads do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import riskatlas
from riskatlas.api import Atlas
from riskatlas.errors import StoreError
from riskatlas.paths import is_postgres
from riskatlas.web.context import StoreBusyError, WebSettings, wait_for_store

log = logging.getLogger(__name__)
_ONE_WRITER = threading.Lock()


@contextmanager
def writing(settings: WebSettings, *, transaction: bool = True,
            refresh: bool = True) -> Iterator[Atlas]:
    """The store opened for writing; with ``transaction`` the block runs in one
    :meth:`Store.transaction` (rolled back on any error; the services' own transactions
    join it). Afterwards the readers' copy is refreshed
    (unless ``refresh`` is False: bookkeeping that readers need not see at once)."""
    # never create a store from the web (a PostgreSQL database is one once opened)
    if not is_postgres(settings.db) and not settings.db.exists():
        raise StoreError("store.missing", path=str(settings.db))
    deadline = time.monotonic() + settings.write_wait
    if not _ONE_WRITER.acquire(timeout=settings.write_wait):
        raise StoreBusyError()
    wrote = False
    try:
        atlas = wait_for_store(settings, lambda: riskatlas.open(
            settings.db, methods=settings.methods, lock_wait=0), deadline=deadline)
        try:
            with atlas.store.transaction() if transaction else nullcontext():
                yield atlas
            wrote = True
        finally:
            atlas.close()
    finally:
        _ONE_WRITER.release()
        if settings.snapshots is not None and wrote and refresh:
            settings.snapshots.refresh()
