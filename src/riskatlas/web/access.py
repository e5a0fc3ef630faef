"""Who is asking and what they may see: the viewer of a request (API token or session
cookie), the session cookie itself, CSRF checks of form posts, role checks, and the
restriction of a request's connection to published cards.

Look-ups read the request's copy of the store through Ibis (user text is only ever a
bound literal). A store made before accounts existed has no ``users`` table: everyone is
then anonymous. A session cookie names a row of the ``sessions`` table (its signature is
checked first, so a forged cookie costs no look-up); each request looks the session and
its user up, so a session ended by signing out, a new password or a disabled account is
anonymous at the next request. Another worker process's copy may predate a session just
made: a cookie signed in the last ``auth.FRESH_SECONDS`` that the copy does not know is
looked up in the store itself.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from riskatlas.api import Atlas
from riskatlas.errors import RiskAtlasError, StoreError
from riskatlas.services import accounts, cards
from riskatlas.web import auth
from riskatlas.web.context import ANONYMOUS, Viewer, WebSettings

log = logging.getLogger(__name__)
_FALLBACK_KEY = secrets.token_bytes(32)  # a store without a key has no users either
TOKEN_USE_INTERVAL = 3600.0  # seconds between two records of a token's or session's use
MAX_NOTED = 10_000  # tokens and sessions whose last use a process remembers


def tables(atlas: Atlas) -> set[str]:
    """The store's tables (a store made before accounts has no ``users``)."""
    return atlas.store.tables()


def user_row(atlas: Atlas, name: str) -> dict[str, Any] | None:
    """The user ``name`` (name, role, password_hash, disabled, created_at), or None."""
    return accounts.user_row(atlas.store, name)


def session_key(atlas: Atlas, settings: WebSettings) -> bytes:
    """The key that signs session cookies (the store's ``meta``), read once."""
    key = settings.cache.get("session_key")
    if key is None:
        key = accounts.session_key(atlas.store)
        if key is None:
            return _FALLBACK_KEY
        settings.cache["session_key"] = key
    return bytes(key)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not value.strip():
        raise accounts.AuthError("auth.error.bad_token")
    return value.strip()


def resolve_viewer(request: Request, atlas: Atlas, settings: WebSettings) -> Viewer:
    token = _bearer(request)
    if token is not None:
        hashed = accounts.token_hash(token)
        user = token_user(atlas, hashed)
        if user is None or bool(user["disabled"]):
            raise accounts.AuthError("auth.error.bad_token")
        note_token_use(settings, hashed)
        return Viewer(name=str(user["name"]), role=str(user["role"]), via="token")
    request.state.session = None  # none, or stale: a new anonymous one on the next form
    cookie = auth.read_cookie(request.cookies.get(auth.COOKIE), session_key(atlas, settings))
    if cookie is None:
        return ANONYMOUS
    if cookie.session is None:  # an anonymous visitor with a login form's token
        request.state.session = {"u": None, "c": cookie.csrf}
        return ANONYMOUS
    hashed = accounts.token_hash(cookie.session)
    row = session_row(atlas, hashed)
    if (row is None and settings.snapshots is not None
            and time.time() - cookie.signed_at < auth.FRESH_SECONDS):
        row = _session_in_store(settings, hashed)  # made after this copy was taken
    if row is None or bool(row["disabled"]):
        return ANONYMOUS
    request.state.session = {"u": str(row["name"]), "c": str(row["csrf"]), "h": hashed}
    note_use(settings, "session", hashed, row["last_seen"])
    return Viewer(name=str(row["name"]), role=str(row["role"]), csrf=str(row["csrf"]),
                  via="session")


def token_user(atlas: Atlas, token_hash: str) -> dict[str, Any] | None:
    """The user of the API token with this hash (name, role, disabled), in one query."""
    return accounts.token_user(atlas.store, token_hash)


def session_row(atlas: Atlas, id_hash: str) -> dict[str, Any] | None:
    """The live session with this id hash and its user (name, role, disabled, csrf,
    last_seen)."""
    return accounts.session_row(atlas.store, id_hash)


def _session_in_store(settings: WebSettings, id_hash: str) -> dict[str, Any] | None:
    """:func:`session_row` read from the store itself (a short read-only opening)."""
    from riskatlas.web.context import open_atlas

    atlas = open_atlas(settings)
    try:
        return session_row(atlas, id_hash)
    finally:
        atlas.close()


def note_token_use(settings: WebSettings, token_hash: str) -> None:
    note_use(settings, "token", token_hash)


def note_use(settings: WebSettings, kind: str, hashed: str, last: Any = None) -> None:
    """Record when a token or a session was last used: at most once an hour per token or
    session and process (and not within an hour of ``last``, the use the store knows of),
    by a background write that is skipped while an importer holds the store."""
    from riskatlas.web.writer import writing

    if isinstance(last, dt.datetime) and (auth.now() - last).total_seconds() < TOKEN_USE_INTERVAL:
        return
    seen: dict[str, float] = settings.cache.setdefault(f"{kind}_use", {})
    now = time.monotonic()
    if now - seen.get(hashed, -TOKEN_USE_INTERVAL) < TOKEN_USE_INTERVAL:
        return
    if len(seen) >= MAX_NOTED:  # forget the ones noted more than an hour ago
        for old in [k for k, t in seen.items() if now - t >= TOKEN_USE_INTERVAL]:
            del seen[old]
        if len(seen) >= MAX_NOTED:
            seen.clear()
    seen[hashed] = now

    def write() -> None:
        try:
            with writing(settings, refresh=False) as atlas:
                accounts.note_use(atlas.store, kind, hashed)
        except StoreError as exc:
            log.info("%s use not recorded: %s", kind, exc)

    threading.Thread(target=write, name=f"riskatlas-{kind}-use", daemon=True).start()


def restrict(atlas: Atlas) -> None:
    """Show only published cards on this request's connection (see
    :meth:`Store.show_published_only`); what it computes is kept apart from staff's."""
    if atlas.store.published_only:  # a reader kept from an earlier visitor's request
        return
    atlas.store.show_published_only()
    if atlas.store.memo is not None:
        atlas.store.memo = atlas.store.memo.scoped("published")


def set_session(response: Response, request: Request, settings: WebSettings,
                key: bytes, payload: dict[str, str]) -> None:
    """Set the session cookie: ``{"s": session id}`` (signed in) or ``{"c": csrf}``."""
    response.set_cookie(auth.COOKIE, auth.write_cookie(payload, key),
                        max_age=accounts.SESSION_SECONDS, httponly=True, samesite="lax", path="/",
                        secure=settings.secure_cookies or request.url.scheme == "https")


def form_session(request: Request, atlas: Atlas, settings: WebSettings,
                 response: Response) -> str:
    """The CSRF token for a form on this page; an anonymous visitor gets a signed cookie
    holding one (the login form is protected too; nothing is written to the store)."""
    payload = getattr(request.state, "session", None)
    if payload is None:
        payload = {"u": None, "c": auth.new_csrf()}
        set_session(response, request, settings, session_key(atlas, settings),
                    {"c": payload["c"]})
        request.state.session = payload
    return str(payload["c"])


def check_csrf(request: Request, submitted: str | None) -> None:
    """A form post must carry its session's token (403 otherwise)."""
    payload = getattr(request.state, "session", None)
    expected = str(payload["c"]) if payload else ""
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise accounts.ForbiddenError("auth.error.csrf")


async def checked_form(request: Request) -> FormData:
    """A posted form, once its CSRF token is checked (403 otherwise)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    return form


async def reviewer_form(request: Request, viewer: Viewer, field: str,
                        not_found: Callable[[str], RiskAtlasError]) -> tuple[FormData, int]:
    """A reviewer's decision form (CSRF checked, validators and admins only) and the id it
    names in ``field``; ``not_found(raw)`` when that is not a number."""
    form = await checked_form(request)
    require(viewer, *cards.REVIEWERS)
    raw = str(form.get(field) or "")
    if not raw.isdigit():
        raise not_found(raw[:40])
    return form, int(raw)


def refused(exc: RiskAtlasError, again: Callable[[str, int], Response], lang: str,
            statuses: tuple[int, ...] = (400,)) -> Response:
    """A form refused with ``exc``: the page again (``again(message, status)``) when the
    error's status is one of ``statuses``, else the error itself is raised."""
    status = int(getattr(exc, "http_status", 400))
    if status not in statuses:
        raise exc
    return again(exc.render(lang), status)


def require(viewer: Viewer, *roles: str) -> Viewer:
    """401 for anonymous visitors, 403 when the role is not among ``roles``."""
    if viewer.anonymous:
        raise accounts.AuthError()
    if roles and viewer.role not in roles:
        raise accounts.ForbiddenError("auth.error.role", role=viewer.role)
    return viewer
