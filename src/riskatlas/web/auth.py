"""Signing in on the web: session cookies, CSRF tokens and the login rate limit. The
accounts themselves live in :mod:`riskatlas.services.accounts`.

- Passwords and API tokens: see :mod:`riskatlas.services.accounts`.
- Sessions are rows of the store's ``sessions`` table, made at sign-in: an opaque random
  id (``secrets.token_urlsafe(32)``, of which the store keeps the SHA-256 only), the user,
  the session's CSRF token, when it was made, when it expires (12 h) and when it was last
  seen. Signing out deletes the row; a new password or disabling the user deletes all of
  theirs, so the cookie is dead at the next request. The cookie carries the id, signed
  with ``itsdangerous`` (key in the store's ``meta``, shared by every worker process);
  an anonymous visitor's cookie holds only the CSRF token of the login form, so showing
  that form writes nothing to the store.
- Failed sign-ins are limited per (name, address), per address whatever the names (password
  spraying) and per name from any address, in a bounded amount of memory
  (:class:`LoginLimiter`; DESIGN.md, "Web").
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadData, URLSafeTimedSerializer

# the accounts themselves (users, roles, passwords, tokens, sessions) are a service; their
# names stay importable from here. ``add_user`` and ``add_token`` are the steps that write
# in a transaction the caller holds (tests' fixtures hold a connection).
from riskatlas.services.accounts import (
    SESSION_SECONDS,
    RateLimitedError,
)
from riskatlas.services.audit import now as _now

now = _now

COOKIE = "riskatlas_session"
COOKIE_SALT = "riskatlas.web.session"  # itsdangerous: keeps these signatures apart
FRESH_SECONDS = 30.0  # a session signed this recently may be newer than a reader's copy
MAX_COOKIE = 4096


@dataclass(frozen=True)
class CookieValue:
    """A verified session cookie: a signed-in session's opaque id, or (anonymous) the CSRF
    token of the login form; ``signed_at`` in seconds since the epoch."""

    session: str | None
    csrf: str | None
    signed_at: float


def _serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=COOKIE_SALT)


def write_cookie(payload: dict[str, str], key: bytes) -> str:
    """``{"s": session id}`` or ``{"c": csrf token}``, signed with ``key`` and timestamped."""
    return str(_serializer(key).dumps(payload))


def read_cookie(value: str | None, key: bytes,
                max_age: int = SESSION_SECONDS) -> CookieValue | None:
    """The content of a cookie signed with ``key`` less than ``max_age`` seconds ago, else
    None (altered, forged, expired or malformed)."""
    if not value or len(value) > MAX_COOKIE:
        return None
    try:
        payload, signed = _serializer(key).loads(value, max_age=max_age,
                                                 return_timestamp=True)
    except (BadData, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    session, csrf = payload.get("s"), payload.get("c")
    if isinstance(session, str) and session:
        return CookieValue(session, None, signed.timestamp())
    if isinstance(csrf, str) and csrf:
        return CookieValue(None, csrf, signed.timestamp())
    return None


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


# --- login rate limit -------------------------------------------------------------------

Key = tuple[str, ...]
KEY_CHARS = 80  # a name is at most 64 characters: longer ones are cut, memory stays bounded


@dataclass
class LoginLimiter:
    """Failed logins within ``window`` seconds, at most: ``failures`` per (name, address),
    ``per_address`` per address whatever the names (password spraying), ``per_name`` per
    name from any address (one account attacked from many). Kept in the memory of each
    worker process, for at most ``max_keys`` keys: the least recently failed go first and
    expired ones are dropped as new failures come in (DESIGN.md, "Web")."""

    failures: int = 5
    window: float = 300.0
    per_address: int = 20
    per_name: int = 10
    max_keys: int = 10_000
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[Key, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def entries(self) -> list[Key]:
        with self._lock:
            return list(self._seen)

    def addresses(self) -> set[str]:
        """The client addresses seen (as the app saw them: after any proxy headers)."""
        return {key[1] for key in self.entries() if key[0] == "address"}

    def _limits(self, name: str, address: str) -> list[tuple[Key, int]]:
        name, address = name.lower()[:KEY_CHARS], address[:KEY_CHARS]
        return [(("name+address", name, address), self.failures),
                (("address", address), self.per_address), (("name", name), self.per_name)]

    def _recent(self, key: Key, now: float) -> deque[float] | None:
        times = self._seen.get(key)
        if times is not None:
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._seen[key]
                return None
        return times

    def check(self, name: str, address: str) -> None:
        """Raises :class:`RateLimitedError` while any of the limits is reached."""
        with self._lock:
            now = self.clock()
            waits = [times[0] + self.window - now for key, limit in self._limits(name, address)
                     if (times := self._recent(key, now)) is not None and len(times) >= limit]
        if waits:
            raise RateLimitedError(minutes=max(1, math.ceil(max(waits) / 60)))

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            now = self.clock()
            for key, limit in self._limits(name, address):
                times = self._recent(key, now)
                if times is None:
                    times = self._seen[key] = deque(maxlen=max(1, limit))
                times.append(now)
                self._seen.move_to_end(key)
            self._trim(now)

    def succeeded(self, name: str, address: str) -> None:
        """A right password forgets this (name, address)'s failures, not the others."""
        with self._lock:
            self._seen.pop(self._limits(name, address)[0][0], None)

    def _trim(self, now: float) -> None:
        """Drop expired keys (the least recently failed come first) and keep the bound."""
        while self._seen:
            key, times = next(iter(self._seen.items()))
            if times and times[-1] > now - self.window and len(self._seen) <= self.max_keys:
                break
            del self._seen[key]
