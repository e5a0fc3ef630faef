"""Accounts: users and their roles, passwords, API tokens and sessions, for the CLI
(``riskatlas users``) and the web app alike.

- Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1, 16-byte random salt, 32-byte key),
  stored as ``scrypt$16384$8$1$<salt b64>$<key b64>`` and compared with
  ``hmac.compare_digest``. An unknown name costs the same hash, so timing does not tell
  whether a name exists.
- API tokens: 32 random bytes (``ra_…``), shown once; the store keeps their SHA-256 only
  (a random token needs no slow hash: it cannot be guessed from a dictionary).
- Sessions are rows of ``sessions``: the SHA-256 of an opaque random id, the user, the
  session's CSRF token, when it was made, expires (12 h) and was last seen. A new password
  or disabling the user ends all of theirs.
- Country accounts (``user_countries``, as UNDRR's DELTA has them on a shared server): a
  user belongs to one or more countries (ISO 3166 alpha-3 codes, or codes the store holds).
  The rule (:func:`acting_countries`): admins act in every country; on a store where no
  country was granted to anybody everyone acts everywhere (a laptop, as before country
  accounts); once any grant exists, a user acts only in the countries granted to them (a
  user without a grant, in none). Reading is not restricted by country: anonymous visitors
  see every country's published cards. The card services check the rule
  (:func:`check_country`).

Each account operation (:func:`add_user`, :func:`set_role`, :func:`set_password`,
:func:`set_disabled`, :func:`add_token`, :func:`revoke_tokens`, :func:`set_countries`)
writes its change and its audit row (``by``: who made it) in one :meth:`Store.transaction`.
The ``insert_*`` and ``update_*`` steps write inside a transaction the caller holds.
Look-ups read through Ibis (user text is only ever a bound literal); a store made before
accounts has no ``users``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from riskatlas.errors import RiskAtlasError
from riskatlas.model.countries import is_iso3
from riskatlas.services.audit import audit, now

if TYPE_CHECKING:
    import duckdb

    from riskatlas.store.store import Store

    Connection = duckdb.DuckDBPyConnection

__all__ = ["ROLES", "AccountError", "AuthError", "CountryError", "ForbiddenError",
           "RateLimitedError", "acting_countries", "add_token", "add_user", "check_countries",
           "check_country", "check_name", "check_password", "check_role", "country_scope",
           "end_session", "end_sessions", "granted_countries", "hash_password", "may_act_in",
           "new_session", "new_token", "now", "parse_countries", "revoke_tokens", "session_key",
           "session_row", "set_countries", "set_disabled", "set_password", "set_role",
           "token_hash", "token_user", "user_countries", "user_row", "users", "verify_password"]

ROLES = ("viewer", "collector", "validator", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
RESERVED_NAMES = frozenset({"anonymous"})
SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES, KEY_BYTES = 2 ** 14, 8, 1, 16, 32
SESSION_SECONDS = 12 * 3600
TOKEN_PREFIX = "ra_"
MIN_PASSWORD = 8
T = TypeVar("T")


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


class CountryError(ForbiddenError):
    """Signed in with a role that may do this, but not in this country (403)."""

    key = "auth.error.country"

    def __init__(self, user: str, country: str | None,
                 countries: Collection[str]) -> None:
        if countries:
            super().__init__("auth.error.country", user=user, country=country or "—",
                             countries=", ".join(sorted(countries)))
        else:
            super().__init__("auth.error.no_countries", user=user, country=country or "—")


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


def parse_countries(value: str | Iterable[str] | None) -> list[str]:
    """Country codes from ``"NPL,LKA"`` (or a list of codes): upper case, each once, sorted;
    blank: none."""
    parts = value.split(",") if isinstance(value, str) else list(value or ())
    return sorted({str(p).strip().upper() for p in parts if str(p).strip()})


def check_countries(value: str | Iterable[str] | None,
                    known: Callable[[], Collection[str]] = tuple) -> list[str]:
    """:func:`parse_countries`, each an ISO 3166 alpha-3 code or one of ``known()`` (the
    store's countries, asked only for a code that is not ISO); else AccountError (400)."""
    codes = parse_countries(value)
    odd = [c for c in codes if not is_iso3(c)]
    if odd:
        held = set(known())
        for code in odd:
            if code not in held:
                raise AccountError("auth.error.bad_country", country=code)
    return codes


def may_act_in(scope: Collection[str] | None, country: str | None) -> bool:
    """Whether a scope (None: every country) covers ``country``."""
    return scope is None or (country is not None and str(country).upper() in scope)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- steps: inside the caller's transaction ---------------------------------------------

def insert_user(con: Connection, name: str, role: str, password: str | None) -> None:
    """Insert a user; ``password`` None: the user can only use tokens."""
    check_name(name)
    check_role(role)
    if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
        raise AccountError("auth.error.user_exists", name=name)
    hashed = hash_password(check_password(password)) if password is not None else None
    con.execute("INSERT INTO users (name, role, password_hash, disabled, created_at) "
                "VALUES (?, ?, ?, false, ?)", [name, role, hashed, now()])


def _existing(con: Connection, name: str) -> None:
    if not con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
        raise AccountError("auth.error.no_such_user", name=name)


def update_disabled(con: Connection, name: str, disabled: bool = True) -> None:
    """Disable (and end every session of) a user, or enable them again."""
    _existing(con, name)
    con.execute("UPDATE users SET disabled = ? WHERE name = ?", [disabled, name])
    if disabled:
        end_sessions(con, name)


def update_role(con: Connection, name: str, role: str) -> None:
    _existing(con, name)
    con.execute("UPDATE users SET role = ? WHERE name = ?", [check_role(role), name])


def update_password(con: Connection, name: str, password: str | None) -> None:
    """A new password (None: tokens only); every session of the user ends."""
    _existing(con, name)
    hashed = hash_password(check_password(password)) if password is not None else None
    con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [hashed, name])
    end_sessions(con, name)


def delete_tokens(con: Connection, name: str) -> int:
    """Delete every API token of ``name``; returns how many there were."""
    _existing(con, name)
    row = con.execute("SELECT count(*) FROM api_tokens WHERE user_name = ?", [name]).fetchone()
    con.execute("DELETE FROM api_tokens WHERE user_name = ?", [name])
    return int(row[0]) if row else 0


def insert_token(con: Connection, name: str) -> str:
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


def granted_countries(con: Connection, name: str) -> list[str]:
    """The countries granted to ``name``, sorted."""
    rows = con.execute("SELECT country_iso3 FROM user_countries WHERE user_name = ? "
                       "ORDER BY country_iso3", [name]).fetchall()
    return [str(r[0]) for r in rows]


def acting_countries(con: Connection, name: str, role: str) -> frozenset[str] | None:
    """The countries ``name`` (with ``role``) acts in: None for every country (admins, and
    everyone on a store with no grant at all), else the countries granted to them."""
    if role == "admin":
        return None
    if not con.execute("SELECT 1 FROM user_countries LIMIT 1").fetchall():
        return None
    return frozenset(granted_countries(con, name))


def check_country(con: Connection, name: str, role: str, country: str | None) -> None:
    """CountryError (403) unless ``name`` acts in ``country`` (see :func:`acting_countries`)."""
    scope = acting_countries(con, name, role)
    if not may_act_in(scope, country):
        raise CountryError(name, country, scope or ())


def replace_countries(con: Connection, name: str, countries: Iterable[str],
                      by: str) -> tuple[list[str], list[str]]:
    """Grant ``name`` exactly ``countries`` (checked by the caller); returns (before,
    after)."""
    _existing(con, name)
    before, after = granted_countries(con, name), sorted(set(countries))
    con.execute("DELETE FROM user_countries WHERE user_name = ?", [name])
    at = now()
    for code in after:
        con.execute("INSERT INTO user_countries (user_name, country_iso3, granted_by, "
                    "granted_at) VALUES (?, ?, ?, ?)", [name, code, by, at])
    return before, after


def end_sessions(con: Connection, name: str) -> int:
    """Delete every session of ``name``; returns how many there were."""
    row = con.execute("SELECT count(*) FROM sessions WHERE user_name = ?", [name]).fetchone()
    con.execute("DELETE FROM sessions WHERE user_name = ?", [name])
    return int(row[0]) if row else 0


# --- operations: the change and its audit row, one transaction -------------------------

def _audited(store: Store, by: str, action: str, change: Callable[[Connection], T],
             **details: Any) -> T:
    with store.transaction() as con:
        result = change(con)
        audit(con, by, action, None, None, details)
    return result


def add_user(store: Store, name: str, role: str, password: str | None, *, by: str,
             countries: str | Iterable[str] | None = None) -> None:
    """Add a user with a role (``password`` None: tokens only) and the countries they act
    in (none: see :func:`acting_countries`)."""
    codes = check_countries(countries, lambda: _store_countries(store))

    def change(con: Connection) -> None:
        insert_user(con, name, role, password)
        if codes:
            replace_countries(con, name, codes, by)

    _audited(store, by, "user.add", change, name=name, role=role, countries=codes)


def set_countries(store: Store, name: str, countries: str | Iterable[str] | None, *,
                  by: str) -> list[str]:
    """Grant ``name`` exactly these countries (none: take every grant away); the audit row
    (``user.countries``) holds the countries before and after. Returns them."""
    codes = check_countries(countries, lambda: _store_countries(store))
    with store.transaction() as con:
        before, after = replace_countries(con, name, codes, by)
        audit(con, by, "user.countries", None, {"name": name, "countries": before},
              {"name": name, "countries": after,
               "granted": sorted(set(after) - set(before)),
               "withdrawn": sorted(set(before) - set(after))})
    return after


def set_role(store: Store, name: str, role: str, *, by: str) -> None:
    _audited(store, by, "user.role", lambda con: update_role(con, name, role),
             name=name, role=role)


def set_password(store: Store, name: str, password: str | None, *, by: str) -> None:
    """A new password (None: tokens only); the user's open sessions end."""
    _audited(store, by, "user.password", lambda con: update_password(con, name, password),
             name=name)


def set_disabled(store: Store, name: str, disabled: bool = True, *, by: str) -> None:
    """Disable a user (their sessions end, their tokens stop working) or enable them."""
    action = "user.disable" if disabled else "user.enable"
    _audited(store, by, action, lambda con: update_disabled(con, name, disabled), name=name)


def add_token(store: Store, name: str, *, by: str) -> str:
    """A new API token of ``name`` (returned once; only its hash is kept)."""
    return _audited(store, by, "token.create", lambda con: insert_token(con, name), name=name)


def revoke_tokens(store: Store, name: str, *, by: str) -> int:
    """Delete every API token of ``name``; returns how many there were."""
    return _audited(store, by, "token.revoke", lambda con: delete_tokens(con, name),
                    name=name)


# --- sessions -----------------------------------------------------------------------------

def new_session(store: Store, name: str) -> tuple[str, str]:
    """A session of ``name`` in the store (its id hashed); returns (id, CSRF token). Expired
    sessions of every user are deleted on the way."""
    session_id, csrf, made = secrets.token_urlsafe(32), secrets.token_urlsafe(24), now()
    with store.transaction() as con:
        con.execute("DELETE FROM sessions WHERE expires_at <= ?", [made])
        con.execute("INSERT INTO sessions (id_hash, user_name, csrf, created_at, expires_at, "
                    "last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                    [token_hash(session_id), name, csrf, made,
                     made + dt.timedelta(seconds=SESSION_SECONDS), made])
    return session_id, csrf


def end_session(store: Store, id_hash: str) -> None:
    """Sign out: the session (by the hash of its id) is deleted."""
    with store.transaction() as con:
        con.execute("DELETE FROM sessions WHERE id_hash = ?", [id_hash])


_USE_UPDATES = {"token": "UPDATE api_tokens SET last_used = ? WHERE token_hash = ?",
                "session": "UPDATE sessions SET last_seen = ? WHERE id_hash = ?"}


def note_use(store: Store, kind: str, hashed: str) -> None:
    """When a token (``kind`` "token") or a session ("session") was last used: now."""
    with store.transaction() as con:
        con.execute(_USE_UPDATES[kind], [now(), hashed])


# --- look-ups (Ibis) ----------------------------------------------------------------------

def _rows(expr: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows


def user_row(store: Store, name: str) -> dict[str, Any] | None:
    """The user ``name`` (name, role, password_hash, disabled, created_at), or None."""
    if not name or "users" not in store.tables():
        return None
    users = store.table("users")
    rows = _rows(users.filter(users.name == name))
    return rows[0] if rows else None


def token_user(store: Store, hashed: str) -> dict[str, Any] | None:
    """The user of the API token with this hash (name, role, disabled), in one query."""
    if not {"api_tokens", "users"} <= store.tables():
        return None
    tokens, users = store.table("api_tokens"), store.table("users")
    hit = tokens.filter(tokens.token_hash == hashed)
    rows = _rows(hit.join(users, hit.user_name == users.name)
                 .select(users.name, users.role, users.disabled))
    return rows[0] if rows else None


def session_row(store: Store, id_hash: str) -> dict[str, Any] | None:
    """The live session with this id hash and its user (name, role, disabled, csrf,
    last_seen)."""
    if not {"sessions", "users"} <= store.tables():
        return None
    sessions, users = store.table("sessions"), store.table("users")
    live = sessions.filter(sessions.id_hash == id_hash, sessions.expires_at > now())
    rows = _rows(live.join(users, live.user_name == users.name)
                 .select(users.name, users.role, users.disabled, live.csrf, live.last_seen))
    return rows[0] if rows else None


def _store_countries(store: Store) -> set[str]:
    """The countries the store holds (its gazetteer's and its cards')."""
    found: set[str] = set()
    for table in ("admin_units", "records"):
        t = store.table(table)
        found |= {c for c in t.select("country_iso3").distinct().to_pyarrow()
                  .column(0).to_pylist() if isinstance(c, str) and c}
    return found


def user_countries(store: Store) -> dict[str, list[str]]:
    """Each user with a grant: their countries, sorted."""
    if "user_countries" not in store.tables():
        return {}
    out: dict[str, list[str]] = {}
    for row in _rows(store.table("user_countries").order_by(["user_name", "country_iso3"])):
        out.setdefault(str(row["user_name"]), []).append(str(row["country_iso3"]))
    return out


def country_scope(store: Store, name: str, role: str) -> frozenset[str] | None:
    """:func:`acting_countries` read through Ibis (for pages: the choices of a form)."""
    if role == "admin" or "user_countries" not in store.tables():
        return None
    grants = store.table("user_countries")
    if not _rows(grants.select("user_name").limit(1)):
        return None
    return frozenset(str(r["country_iso3"]) for r in
                     _rows(grants.filter(grants.user_name == name).select("country_iso3")))


def session_key(store: Store) -> bytes | None:
    """The key that signs session cookies (the store's ``meta``), or None."""
    meta = store.table("meta")
    found = _rows(meta.filter(meta.key == "web_session_key").select("value"))
    return bytes.fromhex(str(found[0]["value"])) if found else None


def _plain(value: Any) -> Any:
    """A time as text (a date alone at midnight), other values as they are."""
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat()
    return value


def users(store: Store) -> list[dict[str, Any]]:
    """Every user without the password hash (name, role, disabled, created_at), with the
    number of their API tokens, when one was last used, the countries granted to them
    and whether they act in every country (:func:`acting_countries`)."""
    if "users" not in store.tables():
        return []
    tokens = _rows(store.table("api_tokens").select("user_name", "last_used"))
    grants = user_countries(store)
    out = []
    for row in _rows(store.table("users").drop("password_hash").order_by("name")):
        mine = [t for t in tokens if t["user_name"] == row["name"]]
        used = [t["last_used"] for t in mine if t["last_used"] is not None]
        out.append({**{k: _plain(v) for k, v in row.items()}, "tokens": len(mine),
                    "token_last_used": _plain(max(used)) if used else None,
                    "countries": grants.get(str(row["name"]), []),
                    "all_countries": row["role"] == "admin" or not grants})
    return out
