"""Accounts: password and token hashing, server-side sessions and their signed cookies,
CSRF tokens, the login rate limit and the look-ups of users and tokens in the store.

- Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1, 16-byte random salt, 32-byte key),
  stored as ``scrypt$16384$8$1$<salt b64>$<key b64>`` and compared with
  ``hmac.compare_digest``. An unknown name costs the same hash, so timing does not tell
  whether a name exists.
- API tokens: 32 random bytes (``ra_…``), shown once; the store keeps their SHA-256 only
  (a random token needs no slow hash: it cannot be guessed from a dictionary).
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

import base64
import datetime as dt
import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from riskatlas.errors import RiskAtlasError

ROLES = ("viewer", "collector", "validator", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
RESERVED_NAMES = frozenset({"anonymous"})
SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES, KEY_BYTES = 2 ** 14, 8, 1, 16, 32
COOKIE = "riskatlas_session"
COOKIE_SALT = "riskatlas.web.session"  # itsdangerous: keeps these signatures apart
SESSION_SECONDS = 12 * 3600
FRESH_SECONDS = 30.0  # a session signed this recently may be newer than a reader's copy
MAX_COOKIE = 4096
TOKEN_PREFIX = "ra_"
MIN_PASSWORD = 8


class AuthError(RiskAtlasError):
    """Not signed in, or the credentials are not valid (401)."""

    key = "auth.error.unauthenticated"
    http_status = 401


class ForbiddenError(RiskAtlasError):
    """Signed in, but the role may not do this (403)."""

    key = "auth.error.forbidden"
    http_status = 403


class RateLimitedError(RiskAtlasError):
    """Too many failed logins for this name, from this address or for this account (429)."""

    key = "auth.error.rate_limited"
    http_status = 429


class AccountError(RiskAtlasError, ValueError):
    """A user name, role or password that cannot be accepted (400)."""

    key = "auth.error.bad_name"


# --- passwords and tokens ---------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` of a password, with a fresh random salt."""
    salt = os.urandom(SALT_BYTES)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                         p=SCRYPT_P, dklen=KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches a stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY_HASH).split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected) and stored is not None


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or "") or name.lower() in RESERVED_NAMES:
        raise AccountError("auth.error.bad_name", name=name)
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("auth.error.bad_role", role=role, roles=", ".join(ROLES))
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError("auth.error.short_password", min=MIN_PASSWORD)
    return password


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- the store's accounts (CLI and admin pages) -----------------------------------------

def add_user(con: Any, name: str, role: str, password: str | None) -> None:
    """Insert a user (parameters only); ``password`` None: the user can only use tokens."""
    check_name(name)
    check_role(role)
    if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
        raise AccountError("auth.error.user_exists", name=name)
    hashed = hash_password(check_password(password)) if password is not None else None
    con.execute("INSERT INTO users (name, role, password_hash, disabled, created_at) "
                "VALUES (?, ?, ?, false, ?)", [name, role, hashed, now()])


def _existing(con: Any, name: str) -> None:
    if not con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
        raise AccountError("auth.error.no_such_user", name=name)


def set_disabled(con: Any, name: str, disabled: bool = True) -> None:
    """Disable (and end every session of) a user, or enable them again."""
    _existing(con, name)
    con.execute("UPDATE users SET disabled = ? WHERE name = ?", [disabled, name])
    if disabled:
        end_sessions(con, name)


def set_role(con: Any, name: str, role: str) -> None:
    _existing(con, name)
    con.execute("UPDATE users SET role = ? WHERE name = ?", [check_role(role), name])


def set_password(con: Any, name: str, password: str | None) -> None:
    """A new password (None: tokens only); every session of the user ends."""
    _existing(con, name)
    hashed = hash_password(check_password(password)) if password is not None else None
    con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [hashed, name])
    end_sessions(con, name)


def revoke_tokens(con: Any, name: str) -> int:
    """Delete every API token of ``name``; returns how many there were."""
    _existing(con, name)
    count = con.execute("SELECT count(*) FROM api_tokens WHERE user_name = ?",
                        [name]).fetchall()[0][0]
    con.execute("DELETE FROM api_tokens WHERE user_name = ?", [name])
    return int(count)


def add_token(con: Any, name: str) -> str:
    """A new API token for ``name``; only its hash is stored. Returns the token."""
    row = con.execute("SELECT disabled FROM users WHERE name = ?", [name]).fetchone()
    if not row:
        raise AccountError("auth.error.no_such_user", name=name)
    if row[0]:
        raise AccountError("auth.error.user_disabled", name=name)
    token = new_token()
    con.execute("INSERT INTO api_tokens (token_hash, user_name, created_at) VALUES (?, ?, ?)",
                [token_hash(token), name, now()])
    return token


# --- sessions and their cookies ---------------------------------------------------------

def new_session(con: Any, name: str) -> tuple[str, str]:
    """A session of ``name`` in the store (its id hashed); returns (id, CSRF token). Expired
    sessions of every user are deleted on the way."""
    session_id, csrf, made = secrets.token_urlsafe(32), secrets.token_urlsafe(24), now()
    con.execute("DELETE FROM sessions WHERE expires_at <= ?", [made])
    con.execute("INSERT INTO sessions (id_hash, user_name, csrf, created_at, expires_at, "
                "last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                [token_hash(session_id), name, csrf, made,
                 made + dt.timedelta(seconds=SESSION_SECONDS), made])
    return session_id, csrf


def end_session(con: Any, id_hash: str) -> None:
    """Sign out: the session (by the hash of its id) is deleted."""
    con.execute("DELETE FROM sessions WHERE id_hash = ?", [id_hash])


def end_sessions(con: Any, name: str) -> int:
    """Delete every session of ``name``; returns how many there were."""
    count = con.execute("SELECT count(*) FROM sessions WHERE user_name = ?",
                        [name]).fetchall()[0][0]
    con.execute("DELETE FROM sessions WHERE user_name = ?", [name])
    return int(count)


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
