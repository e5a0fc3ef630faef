"""Login throttling and server-side sessions (issue 13, items 4 and 5): proxy headers
trusted only from a named proxy, failed sign-ins limited per address and per account as
well as per (name, address), a limiter of bounded memory, and sessions kept in the store
so that signing out, a new password or a disabled account ends them at once."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import riskatlas
from cards import card, store_with
from conftest import PASSWORD, csrf_of, login, serving, web_client, web_user
from riskatlas.cli import app
from riskatlas.services import accounts
from riskatlas.web import auth
from test_web_api import assert_error

FIELDS = {"hazard_term": "FLOOD", "start_year": 2020, "deaths": 1}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])
    web_user(path, "ana", "collector")
    web_user(path, "adam", "admin")
    return path


def sessions(db: Path) -> list[tuple[Any, ...]]:
    with riskatlas.open(db, read_only=True) as atlas:
        return atlas.store.query("SELECT user_name, id_hash, csrf FROM sessions")


def store_key(db: Path) -> bytes:
    with riskatlas.open(db, read_only=True) as atlas:
        return bytes.fromhex(atlas.store.scalar(
            "SELECT value FROM meta WHERE key = 'web_session_key'"))


# --- proxy headers ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_trusts_proxy_headers_only_from_the_named_proxy(db: Path, monkeypatch):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default (and from
    $FORWARDED_ALLOW_IPS): ``riskatlas serve`` must trust it from nobody unless
    --forwarded-allow-ips names the proxy, with one worker or many."""
    import uvicorn
    import uvicorn.supervisors

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own variable: ignored
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append(kw))
    configs: list[uvicorn.Config] = []

    class Fake:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            configs.append(config)
            for sock in sockets:
                sock.close()

        def run(self) -> None:
            pass

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Fake)
    runner = CliRunner()
    for extra in ([], ["--workers", "2", "--port", str(_free_port())]):
        result = runner.invoke(app, ["serve", "--db", str(db), *extra])
        assert result.exit_code == 0, result.output
    assert runs[-1]["proxy_headers"] is False
    assert configs[-1].proxy_headers is False
    for extra in ([], ["--workers", "2", "--port", str(_free_port())]):
        result = runner.invoke(app, ["serve", "--db", str(db),
                                     "--forwarded-allow-ips", "10.1.2.3, 10.1.2.4", *extra])
        assert result.exit_code == 0, result.output
    assert runs[-1]["proxy_headers"] is True
    assert runs[-1]["forwarded_allow_ips"] == "10.1.2.3,10.1.2.4"
    assert configs[-1].proxy_headers is True
    assert configs[-1].forwarded_allow_ips == "10.1.2.3,10.1.2.4"


@contextmanager
def served(db: Path, forwarded_allow_ips: str) -> Iterator[tuple[str, Any]]:
    """A real uvicorn server configured as ``riskatlas serve`` configures it."""
    from riskatlas.cli.serve import proxy_options
    from riskatlas.web import create_app

    web = create_app(db)
    with serving(db, web, **proxy_options(forwarded_allow_ips)) as url:
        yield url, web


def _failed_logins(url: str, count: int) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url) as client:
        for i in range(count):
            csrf = csrf_of(client, "/login")
            statuses.append(client.post("/login", data={
                "name": "ana", "password": "wrong password", "csrf": csrf},
                headers={"X-Forwarded-For": f"10.0.0.{i + 1}"}).status_code)
    return statuses


def test_a_forged_forwarded_for_gives_no_fresh_attempts(db: Path):
    with served(db, "") as (url, web):
        assert _failed_logins(url, 6) == [401] * 5 + [429]
        assert web.state.settings.limiter.addresses() == {"127.0.0.1"}
    with served(db, "127.0.0.1") as (url, web):  # behind a proxy named by the operator
        assert _failed_logins(url, 6) == [401] * 6
        assert web.state.settings.limiter.addresses() == {f"10.0.0.{i}" for i in range(1, 7)}


# --- the limiter --------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_many_names_from_one_address_are_limited(db: Path):
    """Password spraying: 5 tries per (name, address) let one address try every name."""
    with web_client(db) as client:
        for i in range(20):
            assert login(client, f"user{i}", "wrong password").status_code == 401
        limited = login(client, "ana")  # a real name with its right password: still limited
        assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
        assert client.get("/api/me").json()["user"] is None


def test_one_account_from_many_addresses_is_limited():
    clock = Clock()
    limiter = auth.LoginLimiter(clock=clock)
    for i in range(limiter.per_name):
        limiter.check("ana", f"10.0.{i}.1")
        limiter.failed("ana", f"10.0.{i}.1")
    with pytest.raises(accounts.RateLimitedError):
        limiter.check("Ana", "192.168.1.1")  # any address, the name in any case
    limiter.check("bob", "192.168.1.1")  # others are not held up
    clock.now += limiter.window + 1
    limiter.check("ana", "192.168.1.1")


def test_the_limits_per_name_and_address_and_per_address():
    clock = Clock()
    limiter = auth.LoginLimiter(clock=clock)
    for _ in range(limiter.failures):
        limiter.failed("ana", "10.0.0.1")
    with pytest.raises(accounts.RateLimitedError) as err:
        limiter.check("ana", "10.0.0.1")
    assert err.value.params["minutes"] == 5
    limiter.check("ana", "10.0.0.2")
    for i in range(limiter.per_address):
        limiter.failed(f"n{i}", "10.0.0.3")
    with pytest.raises(accounts.RateLimitedError):
        limiter.check("zoe", "10.0.0.3")
    limiter.succeeded("ana", "10.0.0.1")
    limiter.check("ana", "10.0.0.1")


def test_the_limiter_memory_is_bounded():
    clock = Clock()
    limiter = auth.LoginLimiter(clock=clock, max_keys=10_000)
    for i in range(100_000):
        limiter.failed(f"name{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        if i % 1000 == 0:
            clock.now += 0.01
        assert len(limiter) <= 10_000 or pytest.fail(f"{len(limiter)} keys after {i}")
    assert len(limiter) == 10_000
    clock.now += limiter.window + 1  # everything expired: dropped as the next come in
    limiter.failed("last", "10.9.9.9")
    assert len(limiter) <= 3
    # a name of any length costs a bounded key
    limiter.failed("x" * 1_000_000, "10.9.9.9")
    assert max(len(str(k)) for k in limiter.entries()) < 200


# --- server-side sessions -----------------------------------------------------------------

def test_get_login_writes_nothing_and_a_login_writes_one_hashed_session(db: Path):
    with web_client(db) as client:
        for _ in range(3):
            assert client.get("/login").status_code == 200
        assert sessions(db) == []
        login(client, "ana")
        rows = sessions(db)
        assert len(rows) == 1 and rows[0][0] == "ana"
        cookie = client.cookies.get(auth.COOKIE)
        assert rows[0][1] not in cookie  # the cookie carries the id, the store its hash
        session_id = auth.read_cookie(cookie, store_key(db)).session
        assert rows[0][1] == hashlib.sha256(session_id.encode()).hexdigest()
        assert session_id.encode() not in db.read_bytes()
        assert csrf_of(client) == rows[0][2]


def test_a_logged_out_session_is_dead(db: Path):
    with web_client(db) as client:
        login(client, "ana")
        stolen = client.cookies.get(auth.COOKIE)
        csrf = csrf_of(client)
        assert client.post("/logout", data={"csrf": csrf},
                           follow_redirects=False).status_code == 303
        assert sessions(db) == []
        client.cookies.set(auth.COOKIE, stolen)  # the cookie kept (or stolen) before
        assert client.get("/api/me").json()["user"] is None
        assert_error(client.post("/api/records", json=FIELDS,
                                 headers={"X-CSRF-Token": csrf}), 401)
        response = client.post("/cards/new", data={**{k: str(v) for k, v in FIELDS.items()},
                                                     "csrf": csrf}, follow_redirects=False)
        assert response.status_code in (303, 401, 403)
        assert "/login" in response.headers.get("location", "/login")


def same_app(client: Any) -> Any:
    """A second browser (its own cookies) on the same app (the same worker process)."""
    from fastapi.testclient import TestClient

    return TestClient(client.app)


def test_a_new_password_or_disabling_ends_every_session(db: Path):
    with web_client(db) as client, web_client(db) as other:
        admin = same_app(client)
        login(client, "ana")
        login(other, "ana")  # another worker process
        login(admin, "adam")
        csrf = csrf_of(admin, "/admin/users")
        admin.post("/admin/users", data={"op": "password", "name": "ana", "csrf": csrf,
                                         "password": "another long secret"})
        assert [r[0] for r in sessions(db)] == ["adam"]
        assert client.get("/api/me").json()["user"] is None  # at once in this process
        other.app.state.settings.snapshots.min_interval = 0.0  # its copy's next check
        assert other.get("/api/me").json()["user"] is None
        login(client, "ana", "another long secret")
        assert client.get("/api/me").json()["user"] == "ana"
        result = CliRunner().invoke(app, ["users", "password", "ana", "--password-stdin",
                                          "--db", str(db)], input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        assert [r[0] for r in sessions(db)] == ["adam"]
        client.app.state.settings.snapshots.refresh()  # another process wrote the store
        assert client.get("/api/me").json()["user"] is None
        login(client, "ana")
        assert CliRunner().invoke(app, ["users", "disable", "ana", "--db", str(db)]
                                  ).exit_code == 0
        assert [r[0] for r in sessions(db)] == ["adam"]
        assert CliRunner().invoke(app, ["users", "enable", "ana", "--db", str(db)]
                                  ).exit_code == 0
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me").json()["user"] is None  # enabling brings none back


def test_forged_and_altered_cookies_are_anonymous(db: Path):
    import itsdangerous

    with web_client(db) as client:
        login(client, "ana")
        good = client.cookies.get(auth.COOKIE)
        key = store_key(db)
        forged = [
            good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),  # signature altered
            itsdangerous.URLSafeTimedSerializer(b"guessed key", salt=auth.COOKIE_SALT
                                                ).dumps({"s": auth.read_cookie(good, key).session}),
            auth.write_cookie({"s": "not-a-session-of-this-store"}, key),  # unknown id
            auth.write_cookie({"u": "ana", "c": "x"}, key),  # the old cookie's claims
            "x" * 5000,
        ]
        for value in forged:
            client.cookies.set(auth.COOKIE, value)
            assert client.get("/api/me").json()["user"] is None, value[:60]
        client.cookies.set(auth.COOKIE, good)
        assert client.get("/api/me").json()["user"] == "ana"


def test_a_session_made_by_another_worker_counts_at_once(db: Path):
    """Worker processes each serve their own copy of the store: a session written by one
    is looked up in the store itself by another whose copy predates it."""
    with web_client(db) as first, web_client(db) as second:
        assert second.get("/api/me").json()["user"] is None  # its copy exists
        second.app.state.settings.snapshots.min_interval = 3600  # and is not refreshed
        login(first, "ana")
        second.cookies.set(auth.COOKIE, first.cookies.get(auth.COOKIE))
        assert second.get("/api/me").json()["user"] == "ana"
        first.post("/logout", data={"csrf": csrf_of(first, "/")})
        second.app.state.settings.snapshots.min_interval = 0.0
        assert second.get("/api/me").json()["user"] is None


def test_a_store_made_before_sessions_gets_the_table_at_the_first_sign_in(db: Path):
    with riskatlas.open(db) as atlas:
        con = atlas.store.connection
        con.execute("DROP TABLE sessions")
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with web_client(db) as client:
        assert client.get("/login").status_code == 200
        client.cookies.set(auth.COOKIE, auth.write_cookie({"s": "an id"}, store_key(db)))
        assert client.get("/api/me").json()["user"] is None  # no table yet: anonymous
        client.cookies.clear()
        assert login(client, "ana").status_code == 303
        assert client.get("/api/me").json()["user"] == "ana"
    assert [r[0] for r in sessions(db)] == ["ana"]


def test_a_session_use_is_recorded_at_most_hourly(db: Path):
    from riskatlas.errors import StoreError

    with web_client(db) as client:
        login(client, "ana")
        client.get("/api/me")
        with riskatlas.open(db) as atlas:  # no write right after signing in; now an old one
            (made, seen), = atlas.store.query("SELECT created_at, last_seen FROM sessions")
            assert made == seen
            atlas.store.connection.execute("UPDATE sessions SET last_seen = '2000-01-01'")
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me").json()["user"] == "ana"
        deadline, seen = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            time.sleep(0.2)  # the write runs in the background
            try:
                with riskatlas.open(db, read_only=True) as atlas:
                    seen = atlas.store.scalar("SELECT last_seen FROM sessions")
            except StoreError:
                continue
            if seen.year > 2000:
                break
    assert seen is not None and seen.year > 2000
