"""What every request needs: the current user and a short-lived read-only view of the
store, restricted to what that user may see (the settings, the viewer, the reader's
language and waiting for a busy store are :mod:`riskatlas.web.context`, re-exported here).

Concurrency with an importer: DuckDB lets one process write a file, and a process cannot
open a file read-only while another holds it for writing (nor can an importer open it
while a reader holds it). By default requests read a private copy of the store
(:mod:`riskatlas.web.snapshot`), refreshed after each import, so readers never block the
importer and keep answering while it runs. With ``snapshot=False`` each request opens the
store itself, read-only, and closes it when the response is ready. Either way, when an
import holds the lock and there is nothing to read yet, the request retries for
``lock_wait`` seconds, then answers 503 with Retry-After (see DESIGN.md, "Web").

Who may see what: anonymous visitors and viewers see published cards only (unless the
app serves every card, ``public_all``). The rule is applied once, to the request's
connection: a temporary view ``records`` that shadows the stored table, so the records
browser, the downloads, the API and every analysis read the same visible cards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from riskatlas.api import Atlas, Store
from riskatlas.web.auth import COOKIE
from riskatlas.web.context import (
    ANONYMOUS,
    StoreBusyError,
    Viewer,
    WebSettings,
    busy,
    language,
    open_atlas,
    request_language,
    settings_of,
    wait_for_store,
)

# the names of web.context, for the modules that import them from here
__all__ = ["ANONYMOUS", "CONCURRENT_READERS", "StoreBusyError", "Viewer", "WebSettings", "busy",
           "current_user", "get_atlas", "language", "open_atlas", "request_language",
           "settings_of", "store_view", "visitor", "wait_for_store"]

# requests reading the store at once, per worker process; the others wait their turn.
# Each analysis on a million records holds its frames (hundreds of MB with forty request
# threads at once). 8, not 4: the repeated mix's p95 178 -> 99 ms with the same 555 MB,
# while the realistic mix (failing either way) peaks at 1,109 MB instead of 982 MB
# (benchmarks/README.md, bench_web.py, 2026-12-06)
CONCURRENT_READERS = 8
# of which analyses (every page and API answer but the record browser's, the downloads and
# the small tables): each holds its frames (a level-2 screen of Nepal ~100 MB) and keeps a
# core busy, so more at once only share the cores and add memory; record pages do not
# wait behind them (they take a reader, not one of these)
CONCURRENT_ANALYSES = 2
LIGHT_PATHS = ("/api/records", "/records", "/download/", "/datasets", "/api/datasets",
               "/api/hazards", "/static/")


async def store_view(request: Request) -> AsyncIterator[Atlas]:
    """The store (or its newest copy) for one request, closed when the request is done.
    Async: serving the current copy takes no thread hop; opening the store, or copying
    it after a change, runs in a worker thread."""
    readers: asyncio.Semaphore | None = getattr(request.app.state, "readers", None)
    if readers is None:
        readers = request.app.state.readers = asyncio.Semaphore(CONCURRENT_READERS)
        request.app.state.analyses = asyncio.Semaphore(CONCURRENT_ANALYSES)
    light = request.url.path.startswith(LIGHT_PATHS) or request.method != "GET"
    async with (contextlib.nullcontext() if light else request.app.state.analyses), \
            readers, _reader(request) as atlas:
        yield atlas


@asynccontextmanager
async def _reader(request: Request) -> AsyncIterator[Atlas]:
    settings = settings_of(request)
    snapshots = settings.snapshots
    if snapshots is None:
        atlas = await run_in_threadpool(open_atlas, settings)
        try:
            yield atlas
        finally:
            atlas.close()
        return
    copy = snapshots.ready()
    if copy is None:
        copy = await run_in_threadpool(lambda: wait_for_store(settings, snapshots.acquire))
    # a reader (cursor, Ibis backend and, for visitors, the published-only view) that an
    # earlier request gave back; a visitor's request takes a visitor's reader
    kind = visitor(request) and not settings.public_all
    atlas = copy.take(kind) or Atlas(Store(copy.path, read_only=True, memo=copy.memo,
                                           connection=copy.connection.cursor()),
                                     methods=settings.methods)
    try:
        yield atlas
    except BaseException:
        atlas.close()  # a failed request's reader is not reused
        raise
    else:
        copy.give(atlas.store.published_only, atlas)
    finally:
        snapshots.release(copy)


def visitor(request: Request) -> bool:
    """Whether the request is anonymous: no token, no session cookie."""
    return "authorization" not in request.headers and COOKIE not in request.cookies


async def current_user(request: Request,
                       atlas: Annotated[Atlas, Depends(store_view)]) -> Viewer:
    """The viewer of this request: ``Authorization: Bearer <token>``, else the session
    cookie, else anonymous. A bad token is 401; a bad or stale cookie is ignored.
    (Async, like the dependencies below: a visitor with neither costs no thread hop.)"""
    from riskatlas.web.access import resolve_viewer

    if visitor(request):
        request.state.session = None
        viewer = ANONYMOUS
    else:
        viewer = await run_in_threadpool(resolve_viewer, request, atlas, settings_of(request))
    request.state.viewer = viewer
    return viewer


async def get_atlas(request: Request, atlas: Annotated[Atlas, Depends(store_view)],
                    viewer: Annotated[Viewer, Depends(current_user)]) -> Atlas:
    """The request's store, showing only the cards ``viewer`` may see (a temporary view:
    a millisecond of DuckDB, run on the event loop rather than through a thread hop)."""
    from riskatlas.web.access import restrict

    if not (viewer.staff or settings_of(request).public_all):
        restrict(atlas)
    return atlas
