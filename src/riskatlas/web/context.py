"""What every request shares before it reads: the settings of the app, who is asking
(:class:`Viewer`), the reader's language, and waiting for a store an importer holds
(:func:`wait_for_store`, :class:`StoreBusyError`: 503 with Retry-After). The request
dependencies that open the store and find the user are :mod:`riskatlas.web.deps`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

import riskatlas
from riskatlas.api import Atlas, Methods
from riskatlas.errors import StoreError
from riskatlas.i18n import DEFAULT_LANGUAGE, normalize_language
from riskatlas.web.snapshot import LockedError, Snapshots

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        except StoreError as exc:  # LockedError included
            if not isinstance(exc, LockedError) and not busy(str(exc.params.get("reason", ""))):
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
