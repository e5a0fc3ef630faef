"""Who is asking and what they may see: the viewer of a request (API token or session
cookie), the session cookie itself, CSRF checks of form posts, role checks, and the
restriction of a request's connection to published cards.

Look-ups read the request's copy of the store through Ibis (user text is only ever a
bound literal). A store made before accounts existed has no ``users`` table: everyone is
then anonymous.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from riskatlas.api import Atlas
from riskatlas.errors import StoreError
from riskatlas.web import auth
from riskatlas.web.deps import ANONYMOUS, Viewer, WebSettings

log = logging.getLogger(__name__)
_FALLBACK_KEY = secrets.token_bytes(32)  # a store without a key has no users either
TOKEN_USE_INTERVAL = 3600.0  # seconds between two records of a token's use


def tables(atlas: Atlas) -> set[str]:
    """The store's tables (a store made before accounts has no ``users``)."""
    return {str(r[0]) for r in atlas.store.query(
        "SELECT table_name FROM information_schema.tables")}


def user_row(atlas: Atlas, name: str) -> dict[str, Any] | None:
    """The user ``name`` (name, role, password_hash, disabled, created_at), or None."""
    if not name or "users" not in tables(atlas):
        return None
    users = atlas.table("users")
    rows = users.filter(users.name == name).to_pandas().to_dict("records")
    return rows[0] if rows else None


def session_key(atlas: Atlas, settings: WebSettings) -> bytes:
    """The key that signs session cookies (the store's ``meta``), read once."""
    key = settings.cache.get("session_key")
    if key is None:
        meta = atlas.table("meta")
        found = meta.filter(meta.key == "web_session_key").select("value").to_pandas()
        if not len(found):
            return _FALLBACK_KEY
        key = settings.cache["session_key"] = bytes.fromhex(str(found["value"].iloc[0]))
    return bytes(key)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not value.strip():
        raise auth.AuthError("auth.error.bad_token")
    return value.strip()


def resolve_viewer(request: Request, atlas: Atlas, settings: WebSettings) -> Viewer:
    token = _bearer(request)
    if token is not None:
        if "api_tokens" not in tables(atlas):
            raise auth.AuthError("auth.error.bad_token")
        tokens = atlas.table("api_tokens")
        hashed = auth.token_hash(token)
        hit = tokens.filter(tokens.token_hash == hashed).select(
            "user_name").to_pandas()
        user = user_row(atlas, str(hit["user_name"].iloc[0])) if len(hit) else None
        if user is None or bool(user["disabled"]):
            raise auth.AuthError("auth.error.bad_token")
        note_token_use(settings, hashed)
        return Viewer(name=str(user["name"]), role=str(user["role"]), via="token")
    cookie = request.cookies.get(auth.COOKIE)
    payload = auth.unsign(cookie, session_key(atlas, settings)) if cookie else None
    request.state.session = payload
    if payload is None or not payload.get("u"):
        return ANONYMOUS
    user = user_row(atlas, str(payload["u"]))
    if (user is None or bool(user["disabled"])
            or not hmac.compare_digest(str(payload.get("h", "")),
                                       auth.fingerprint(user["password_hash"]))):
        request.state.session = None  # stale: a new anonymous session on the next form
        return ANONYMOUS
    return Viewer(name=str(user["name"]), role=str(user["role"]), csrf=str(payload["c"]),
                  via="session")


def note_token_use(settings: WebSettings, token_hash: str) -> None:
    """Record when a token was last used: at most once an hour per token and process, by
    a background write that is skipped while an importer holds the store."""
    from riskatlas.web.writer import writing

    seen: dict[str, float] = settings.cache.setdefault("token_use", {})
    now = time.monotonic()
    if now - seen.get(token_hash, -TOKEN_USE_INTERVAL) < TOKEN_USE_INTERVAL:
        return
    seen[token_hash] = now

    def write() -> None:
        try:
            with writing(settings, refresh=False) as atlas:
                atlas.store.connection.execute(
                    "UPDATE api_tokens SET last_used = ? WHERE token_hash = ?",
                    [auth.now(), token_hash])
        except StoreError as exc:
            log.info("token use not recorded: %s", exc)

    threading.Thread(target=write, name="riskatlas-token-use", daemon=True).start()


def restrict(atlas: Atlas) -> None:
    """Show only published cards on this request's connection (see
    :meth:`Store.show_published_only`); what it computes is kept apart from staff's."""
    if atlas.store.published_only:  # a reader kept from an earlier visitor's request
        return
    atlas.store.show_published_only()
    if atlas.store.memo is not None:
        atlas.store.memo = atlas.store.memo.scoped("published")


def set_session(response: Response, request: Request, settings: WebSettings,
                key: bytes, payload: dict[str, Any]) -> None:
    response.set_cookie(auth.COOKIE, auth.sign(payload, key), max_age=auth.SESSION_SECONDS,
                        httponly=True, samesite="lax", path="/",
                        secure=settings.secure_cookies or request.url.scheme == "https")


def form_session(request: Request, atlas: Atlas, settings: WebSettings,
                 response: Response) -> str:
    """The CSRF token for a form on this page; an anonymous visitor gets a session cookie
    holding one (the login form is protected too)."""
    payload = getattr(request.state, "session", None)
    if payload is None:
        payload = auth.session_payload(None)
        set_session(response, request, settings, session_key(atlas, settings), payload)
        request.state.session = payload
    return str(payload["c"])


def check_csrf(request: Request, submitted: str | None) -> None:
    """A form post must carry its session's token (403 otherwise)."""
    payload = getattr(request.state, "session", None)
    expected = str(payload["c"]) if payload else ""
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise auth.ForbiddenError("auth.error.csrf")


def require(viewer: Viewer, *roles: str) -> Viewer:
    """401 for anonymous visitors, 403 when the role is not among ``roles``."""
    if viewer.anonymous:
        raise auth.AuthError()
    if roles and viewer.role not in roles:
        raise auth.ForbiddenError("auth.error.role", role=viewer.role)
    return viewer
