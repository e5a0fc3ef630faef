"""What every request needs: the settings, the reader's language, the current user and a
short-lived read-only view of the store, restricted to what that user may see.

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
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

import riskatlas
from riskatlas.api import Atlas, Methods, Store
from riskatlas.errors import StoreError
from riskatlas.i18n import DEFAULT_LANGUAGE, normalize_language
from riskatlas.web.auth import COOKIE
from riskatlas.web.snapshot import LockedError, Snapshots

log = logging.getLogger(__name__)
T = TypeVar("T")
# requests reading the store at once, per worker process; the others wait their turn.
# Each analysis on a million records holds its frames (hundreds of MB with forty request
# threads at once). 8, not 4: the repeated mix's p95 178 -> 99 ms with the same 555 MB,
# while the realistic mix (failing either way) peaks at 1,109 MB instead of 982 MB
# (benchmarks/README.md, bench_web.py, 2026-12-06)
CONCURRENT_READERS = 8


@dataclass(frozen=True)
class WebSettings:
    """Read once by ``create_app`` and passed to every request through ``app.state``."""

    db: Path
    methods: Methods
    lock_wait: float = 2.0     # seconds a request waits for an importer's lock
    retry_after: int = 5       # seconds suggested to the client after that
    snapshots: Snapshots | None = None  # None: read the store itself
    public_all: bool = False   # anonymous visitors see every card, not only published ones
    secure_cookies: bool = False  # session cookie marked Secure even over plain http
    max_upload_mb: int = 200   # largest file accepted by /upload
    write_wait: float = 5.0    # seconds a web write waits for an importer's lock
    limiter: Any = None        # auth.LoginLimiter of this process
    cache: dict[str, Any] = field(default_factory=dict)  # the cookie key, once read


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an anonymous visitor, or a signed-in user with a role (viewer,
    collector, validator, admin). ``csrf`` is the session's form token; ``via`` says how
    the request was authenticated ("session", "token" or "")."""

    name: str = "anonymous"
    role: str = "viewer"
    csrf: str = ""
    via: str = ""

    @property
    def anonymous(self) -> bool:
        return self.via == ""

    @property
    def staff(self) -> bool:
        """Collectors, validators and admins see every card, whatever its status."""
        return not self.anonymous and self.role in ("collector", "validator", "admin")


ANONYMOUS = Viewer()


class StoreBusyError(StoreError):
    """An importer holds the store: try again in a few seconds."""

    key = "web.error.store_busy"


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings




def request_language(request: Request) -> str:
    """``?lang=``, else the best tag of Accept-Language, else English."""
    explicit = request.query_params.get("lang")
    if explicit:
        return normalize_language(explicit)
    best, best_q = None, -1.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = tag, q
    return normalize_language(best) if best else DEFAULT_LANGUAGE


async def language(request: Request) -> str:
    """:func:`request_language` as a dependency (async: no thread hop)."""
    return request_language(request)


def wait_for_store(settings: WebSettings, attempt: Callable[[], T], *,
                   deadline: float | None = None) -> T:
    """``attempt()`` retried with backoff while a writer holds the store, until
    ``deadline`` (default: ``lock_wait`` from now); then StoreBusyError (503)."""
    if deadline is None:
        deadline = time.monotonic() + settings.lock_wait
    pause = 0.05
    while True:
        try:
            return attempt()
        except (LockedError, StoreError) as exc:
            if isinstance(exc, StoreError) and not busy(str(exc.params.get("reason", ""))):
                raise
            if time.monotonic() + pause > deadline:
                log.info("store %s busy (an import holds it): 503", settings.db)
                raise StoreBusyError() from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.4)


def busy(reason: str) -> bool:
    """Whether a DuckDB error says another connection holds the file: a writing process
    ("lock"), or this process with other settings ("different configuration")."""
    reason = reason.lower()
    return "lock" in reason or "different configuration" in reason


def open_atlas(settings: WebSettings) -> Atlas:
    """A read-only Atlas over the store itself (``snapshot=False``)."""
    return wait_for_store(settings, lambda: riskatlas.open(settings.db, read_only=True,
                                                      methods=settings.methods))


async def store_view(request: Request) -> AsyncIterator[Atlas]:
    """The store (or its newest copy) for one request, closed when the request is done.
    Async: serving the current copy takes no thread hop; opening the store, or copying
    it after a change, runs in a worker thread."""
    readers: asyncio.Semaphore | None = getattr(request.app.state, "readers", None)
    if readers is None:
        readers = request.app.state.readers = asyncio.Semaphore(CONCURRENT_READERS)
    async with readers, _reader(request) as atlas:
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
