"""Accounts: password and token hashing, signed session cookies, CSRF tokens, the login
rate limit and the look-ups of users and tokens in the store.

- Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1, 16-byte random salt, 32-byte key),
  stored as ``scrypt$16384$8$1$<salt b64>$<key b64>`` and compared with
  ``hmac.compare_digest``. An unknown name costs the same hash, so timing does not tell
  whether a name exists.
- API tokens: 32 random bytes (``ra_…``), shown once; the store keeps their SHA-256 only
  (a random token needs no slow hash: it cannot be guessed from a dictionary).
- Sessions are signed cookies (HMAC-SHA256 with a key kept in the store's ``meta`` table,
  so every worker process shares it): the cookie holds the user name, the session's CSRF
  token, an expiry and a fingerprint of the user's password hash. Each request still
  looks the user up, so disabling a user or changing the password ends their sessions
  (DESIGN.md, "Web").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import orjson

from riskatlas.errors import RiskAtlasError

ROLES = ("viewer", "collector", "validator", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
RESERVED_NAMES = frozenset({"anonymous"})
SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES, KEY_BYTES = 2 ** 14, 8, 1, 16, 32
COOKIE = "riskatlas_session"
SESSION_SECONDS = 12 * 3600
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
    """Too many failed logins for this name from this address (429)."""

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


def fingerprint(password_hash: str | None) -> str:
    """A short digest of the password hash: a new password ends the old sessions."""
    return hashlib.sha256((password_hash or "").encode("utf-8")).hexdigest()[:16]


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
    _existing(con, name)
    con.execute("UPDATE users SET disabled = ? WHERE name = ?", [disabled, name])


def set_role(con: Any, name: str, role: str) -> None:
    _existing(con, name)
    con.execute("UPDATE users SET role = ? WHERE name = ?", [check_role(role), name])


def set_password(con: Any, name: str, password: str | None) -> None:
    """A new password (None: tokens only). The user's sessions end with the old one,
    since a session carries a fingerprint of the password hash it was opened with."""
    _existing(con, name)
    hashed = hash_password(check_password(password)) if password is not None else None
    con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [hashed, name])


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


# --- signed cookies ---------------------------------------------------------------------

def sign(payload: dict[str, Any], key: bytes) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii").rstrip("=")
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(value: str | None, key: bytes) -> dict[str, Any] | None:
    """The payload of a cookie signed with ``key`` and not expired, else None."""
    if not value or "." not in value or len(value) > 4096:
        return None
    body, _, mac = value.rpartition(".")
    expected = hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or float(payload.get("exp", 0)) < time.time():
        return None
    return payload


def session_payload(user: str | None, password_hash: str | None = None) -> dict[str, Any]:
    """A new session (new CSRF token): signed in as ``user``, or anonymous (None)."""
    return {"u": user, "c": secrets.token_urlsafe(24), "exp": int(time.time()) + SESSION_SECONDS,
            "h": fingerprint(password_hash) if user else ""}


# --- login rate limit -------------------------------------------------------------------

@dataclass
class LoginLimiter:
    """At most ``failures`` failed logins per (name, address) within ``window`` seconds.
    Kept in the memory of each worker process (DESIGN.md, "Web")."""

    failures: int = 5
    window: float = 300.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._seen[key]
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def check(self, name: str, address: str) -> None:
        """Raises :class:`RateLimitedError` while the limit is reached."""
        key = (name.lower(), address)
        with self._lock:
            times = self._recent(key)
            if len(times) >= self.failures:
                wait = int(times[0] + self.window - time.monotonic()) + 1
                raise RateLimitedError(minutes=max(1, -(-wait // 60)))

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            self._recent((name.lower(), address)).append(time.monotonic())

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._seen.pop((name.lower(), address), None)
