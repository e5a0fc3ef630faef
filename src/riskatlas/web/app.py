"""The web app: ``create_app(db)`` wires settings, error handlers, the JSON API, the pages,
the accounts, data-card and admin routes and the bundled stylesheet. Reads use a copy of
the store (see :mod:`riskatlas.web.deps`); writes open the store itself briefly
(:mod:`riskatlas.web.writer`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from riskatlas import __version__
from riskatlas.api import Methods, load_methods, resolve_db
from riskatlas.paths import is_postgres
from riskatlas.services import copies
from riskatlas.web import (
    errors,
    memory,
    routes_admin,
    routes_api,
    routes_cards,
    routes_links,
    routes_pages,
    routes_review,
    warm,
)
from riskatlas.web.auth import LoginLimiter
from riskatlas.web.cache import ResponseCache
from riskatlas.web.deps import WebSettings
from riskatlas.web.headers import SecurityHeaders
from riskatlas.web.snapshot import Snapshots, copy_threads

log = logging.getLogger(__name__)
PREPARE = warm.COUNTRIES  # countries `riskatlas serve` prepares when a copy opens


def create_app(db_path: str | Path | None = None, *, methods: str | Path | Methods | None = None,
               lock_wait: float = 2.0, retry_after: int = 5, snapshot: bool = True,
               snapshot_dir: str | Path | None = None, public_all: bool = False,
               secure_cookies: bool = False, max_upload_mb: int = 200,
               write_wait: float = 5.0, cache: bool = True, prepare: int = 0,
               workers: int = 1) -> FastAPI:
    """The dashboard and API over the store at ``db_path`` (default $RISKATLAS_DB or
    ./riskatlas.duckdb); ``methods`` is a YAML profile of thresholds and weights;
    ``lock_wait`` is how long a request waits while an import holds the store;
    ``snapshot`` serves a private copy of the store refreshed after each import (in
    ``snapshot_dir``, default the system's temporary folder) so that imports are never
    locked out by readers, else every request opens the store itself; ``public_all``
    shows anonymous visitors every card (default: published cards only);
    ``secure_cookies`` marks the session cookie Secure even over http (behind a TLS proxy);
    ``max_upload_mb`` limits uploads; ``write_wait`` is how long a web write waits while an
    import holds the store; ``cache`` keeps anonymous answers until the store changes;
    ``prepare`` > 0 takes the first copy at start and, whenever a copy opens, prepares the
    pages of that many countries with the most records (:mod:`riskatlas.web.warm`);
    ``workers``: the worker processes serving it, which share the cores."""
    import ibis.expr.operations  # noqa: F401  (now: request threads importing it at once race)

    db = resolve_db(db_path)
    # a PostgreSQL store is read in place by every worker: no private copy to take
    snapshot = snapshot and not is_postgres(db_path)
    snapshots = Snapshots(db, folder=Path(snapshot_dir) if snapshot_dir else None,
                          threads=copy_threads(workers)) if snapshot else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # compiled SQL (analysis/compiled.py): kept here and saved when the worker stops
        # (uvicorn ends workers by signal, when no exit handler runs)
        copies.for_server()
        if snapshots is not None and prepare > 0:
            snapshots.on_copy = lambda copy: warm.warm(copy, settings, prepare)
            threading.Thread(target=_first_copy, args=(snapshots,), daemon=True).start()
        yield
        copies.save_templates()
        if snapshots is not None:
            snapshots.close()

    settings = WebSettings(
        db=db, snapshots=snapshots,
        methods=methods if isinstance(methods, Methods) else load_methods(methods),
        lock_wait=lock_wait, retry_after=retry_after, public_all=public_all,
        secure_cookies=secure_cookies, max_upload_mb=max_upload_mb, write_wait=write_wait,
        limiter=LoginLimiter())
    app = FastAPI(title="RiskAtlas", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Open API over a RiskAtlas store: hazard profiles, "
                  "events, hazard-specific risk, Sendai indicators, screening, advice, "
                  "peers and the records behind them; data cards created, edited and "
                  "approved by signed-in users (Authorization: Bearer <token>). Errors: "
                  '{"error": {"code", "message", "status"}}.')
    app.state.settings = settings
    errors.install(app)
    app.include_router(routes_api.router)
    app.include_router(routes_cards.api)
    app.include_router(routes_review.api)
    app.include_router(routes_links.api)
    app.include_router(routes_admin.api)
    app.include_router(routes_pages.router)
    app.include_router(routes_cards.pages)
    app.include_router(routes_review.pages)
    app.include_router(routes_links.pages)
    app.include_router(routes_admin.pages)
    app.mount("/static", StaticFiles(packages=[("riskatlas.web", "static")]), name="static")
    # the cache keys on the store file's state: a PostgreSQL store has no file whose
    # change would show a write, so its answers are not cached (they would never expire)
    if cache and not is_postgres(db_path):
        app.add_middleware(ResponseCache, db=db, snapshots=snapshots)
    app.add_middleware(SecurityHeaders)  # outermost: cached answers get them too
    log.debug("web app over %s", settings.db)
    return app


def _first_copy(snapshots: Snapshots) -> None:
    """Take the first copy now (it is then prepared) rather than at the first request."""
    try:
        snapshots.release(snapshots.acquire())
    except Exception as exc:  # e.g. the store is missing or busy: requests will say so
        log.warning("no copy of the store at start: %s", exc)


def app_for_server(db_path: str | Path | None, **options: Any) -> FastAPI:
    """:func:`create_app` for a process that serves it (``riskatlas serve``, each of its
    workers), which gives the memory its analyses free back and collects garbage rarely
    (:mod:`riskatlas.web.memory`)."""
    memory.give_freed_memory_back()
    app = create_app(db_path, **options)
    memory.collect_rarely()
    return app


def app_from_environment() -> FastAPI:
    """The app of a uvicorn worker process (``riskatlas serve --workers N``): the store
    from $RISKATLAS_DB, the methods profile from $RISKATLAS_WEB_METHODS, copies or not
    from $RISKATLAS_WEB_SNAPSHOT (set by the command)."""
    import os

    return app_for_server(os.environ.get("RISKATLAS_DB"),
                      methods=os.environ.get("RISKATLAS_WEB_METHODS") or None,
                      snapshot=os.environ.get("RISKATLAS_WEB_SNAPSHOT", "1") != "0",
                      public_all=os.environ.get("RISKATLAS_WEB_PUBLIC_ALL") == "1",
                      secure_cookies=os.environ.get("RISKATLAS_WEB_SECURE_COOKIES") == "1",
                      max_upload_mb=int(os.environ.get("RISKATLAS_WEB_MAX_UPLOAD_MB", "200")),
                      prepare=int(os.environ.get("RISKATLAS_WEB_PREPARE", str(PREPARE))),
                      workers=int(os.environ.get("RISKATLAS_WEB_WORKERS", "1")))
