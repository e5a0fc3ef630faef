"""Accounts: scrypt password hashes and hashed API tokens in the store, the login form with
its CSRF token and rate limit, session cookies (HttpOnly, SameSite=Lax, Secure), CSRF on
every form post, disabled users, the admin pages and the ``riskatlas users`` command."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import riskatlas
from cards import card, store_with
from conftest import PASSWORD, csrf_of, login, web_client, web_user
from riskatlas.cli import app
from riskatlas.errors import StoreError
from riskatlas.services import accounts
from riskatlas.web import auth
from test_web_api import assert_error


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])


def test_passwords_are_scrypt_hashes_and_tokens_are_hashed(db: Path):
    token = web_user(db, "ana", "collector")
    with riskatlas.open(db, read_only=True) as atlas:
        (stored,), = atlas.store.query("SELECT password_hash FROM users WHERE name = 'ana'")
        tokens = atlas.store.query("SELECT token_hash, user_name FROM api_tokens")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert PASSWORD not in stored
    assert tokens == [(hashlib.sha256(token.encode()).hexdigest(), "ana")]
    raw = db.read_bytes()
    assert PASSWORD.encode() not in raw and token.encode() not in raw
    assert accounts.verify_password(PASSWORD, stored)
    assert not accounts.verify_password(PASSWORD + "!", stored)
    assert not accounts.verify_password(PASSWORD, None)
    assert accounts.hash_password(PASSWORD) != accounts.hash_password(PASSWORD)  # salted


def test_accounts_are_checked(db: Path):
    with riskatlas.open(db) as atlas:
        con = atlas.store.connection
        for name, role, password, key in (
                ("anonymous", "admin", PASSWORD, "auth.error.bad_name"),
                ("a b", "admin", PASSWORD, "auth.error.bad_name"),
                ("ana", "boss", PASSWORD, "auth.error.bad_role"),
                ("ana", "admin", "short", "auth.error.short_password")):
            with pytest.raises(accounts.AccountError) as err:
                accounts.insert_user(con, name, role, password)
            assert err.value.key == key
        accounts.insert_user(con, "ana", "admin", PASSWORD)
        with pytest.raises(accounts.AccountError):
            accounts.insert_user(con, "ana", "admin", PASSWORD)


def test_login_sets_a_safe_cookie_and_logout_ends_it(db: Path):
    web_user(db, "ana", "collector")
    with web_client(db) as client:
        page = client.get("/login")
        assert page.status_code == 200 and 'name="csrf"' in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        response = login(client, "ana")
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert client.get("/api/me").json() == {"user": "ana", "role": "collector",
                                                "via": "session"}
        assert "ana" in client.get("/").text
        csrf = csrf_of(client, "/")
        assert client.post("/logout", data={"csrf": csrf},
                           follow_redirects=False).status_code == 303
        assert client.get("/api/me").json()["user"] is None
    with web_client(db, secure_cookies=True) as client:
        assert "secure" in client.get("/login").headers["set-cookie"].lower()


def test_wrong_password_and_forged_cookie(db: Path):
    web_user(db, "ana", "admin")
    with web_client(db) as client:
        response = login(client, "ana", "wrong password")
        assert response.status_code == 401 and "Wrong user name or password" in response.text
        login(client, "ana")
        value = client.cookies.get(auth.COOKIE)
        body, _, mac = value.rpartition(".")
        client.cookies.set(auth.COOKIE, body + "." + "0" * len(mac))
        assert client.get("/api/me").json()["user"] is None
        forged = auth.write_cookie({"s": "a session id"}, b"guessed key")
        client.cookies.set(auth.COOKIE, forged)
        assert client.get("/api/me").json()["user"] is None
        assert_error(client.get("/api/admin/users"), 401)


def test_csrf_is_required_on_every_form_post(db: Path):
    web_user(db, "ana", "collector")
    web_user(db, "adam", "admin")
    with web_client(db) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        for data in ({"name": "ana", "password": PASSWORD},
                     {"name": "ana", "password": PASSWORD, "csrf": token + "x"}):
            response = client.post("/login", data=data, follow_redirects=False)
            assert_error(response, 403)
        assert client.get("/api/me").json()["user"] is None
        login(client, "ana")
        fields = {"hazard_term": "FLOOD", "start_year": "2020", "deaths": "1"}
        for extra in ({}, {"csrf": "wrong"}):
            response = client.post("/cards/new", data={**fields, **extra},
                                   follow_redirects=False)
            assert assert_error(response, 403)["code"] == "auth.error.csrf"
        # the API with a session cookie needs the token in a header
        response = client.post("/api/records", json=fields)
        assert_error(response, 403)
        csrf = csrf_of(client)
        assert client.post("/api/records", json=fields,
                           headers={"X-CSRF-Token": csrf}).status_code == 201
        created = client.post("/cards/new", data={**fields, "csrf": csrf},
                              follow_redirects=False)
        assert created.status_code == 303 and "/card?id=WEB" in created.headers["location"]
        # the old session's token dies with it
        client.post("/logout", data={"csrf": csrf})
        login(client, "adam")
        response = client.post("/admin/users", data={"op": "add", "name": "eve",
                                                     "role": "admin", "password": PASSWORD,
                                                     "csrf": csrf}, follow_redirects=False)
        assert_error(response, 403)
        assert "eve" not in {u["name"] for u in client.get("/api/admin/users").json()["rows"]}


def test_login_rate_limit(db: Path):
    web_user(db, "ana", "collector")
    with web_client(db) as client:
        for _ in range(5):
            assert login(client, "ana", "nope nope").status_code == 401
        limited = login(client, "ana")  # even the right password, for a while
        assert limited.status_code == 429
        assert "Too many failed sign-ins" in limited.text
        assert client.get("/api/me").json()["user"] is None
        zh = client.post("/login?lang=zh-TW", data={"name": "ANA", "password": PASSWORD,
                                                   "csrf": csrf_of(client, "/login")})
        assert zh.status_code == 429 and "登入失敗次數過多" in zh.text
        client.app.state.settings.limiter.window = 0  # the window has passed
        assert login(client, "ana").status_code == 303


def test_disabled_users_lose_sessions_and_tokens(db: Path):
    token = web_user(db, "ana", "collector")
    with web_client(db) as client:
        login(client, "ana")
        assert client.get("/api/me").json()["user"] == "ana"
        with riskatlas.open(db) as atlas:
            accounts.set_disabled(atlas.store, "ana", by="test")
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me").json()["user"] is None
        assert_error(client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)


def test_admin_pages(db: Path):
    web_user(db, "adam", "admin")
    web_user(db, "ana", "collector")
    with web_client(db) as client:
        assert_error(client.get("/admin/audit"), 401)
        login(client, "ana")
        assert_error(client.get("/admin/audit"), 403)
        assert_error(client.get("/admin/users"), 403)
        html = client.get("/admin/audit", headers={"Accept": "text/html"})
        assert html.status_code == 403 and html.headers["content-type"].startswith("text/html")
        client.post("/logout", data={"csrf": csrf_of(client, "/")})
        login(client, "adam")
        csrf = csrf_of(client, "/admin/users")
        added = client.post("/admin/users", data={"op": "add", "name": "vera",
                                                  "role": "validator", "password": PASSWORD,
                                                  "csrf": csrf}, follow_redirects=False)
        assert added.status_code == 303
        made = client.post("/admin/users", data={"op": "token", "name": "vera",
                                                 "csrf": csrf})
        token = re.search(r"<code>(ra_[^<]+)</code>", made.text).group(1)
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "user"] == "vera"
        audit = client.get("/admin/audit?action=user")
        assert audit.status_code == 200 and "user.add" in audit.text
        assert "vera" in client.get("/admin/users").text


def test_users_command(db: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "ana", "--role", "collector",
                                 "--password-stdin", "--db", str(db)],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "ana" in result.output
    result = runner.invoke(app, ["users", "token", "ana", "--db", str(db)])
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ra_")
    listed = runner.invoke(app, ["users", "list", "--format", "json", "--db", str(db)])
    assert listed.exit_code == 0 and '"name":"ana"' in listed.stdout.replace(" ", "")
    assert "password" not in listed.stdout
    result = runner.invoke(app, ["users", "add", "bob", "--role", "chief",
                                 "--password-stdin", "--db", str(db)], input="x\n")
    assert result.exit_code != 0
    assert runner.invoke(app, ["users", "disable", "ana", "--db", str(db)]).exit_code == 0
    with web_client(db) as client:
        assert_error(client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)
        assert runner.invoke(app, ["users", "enable", "ana", "--db", str(db)]).exit_code == 0
        client.app.state.settings.snapshots.refresh()
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (me["user"], me["role"]) == ("ana", "collector")
        assert runner.invoke(app, ["users", "role", "ana", "validator", "--db", str(db)]
                             ).exit_code == 0
        assert runner.invoke(app, ["users", "role", "ana", "chief", "--db", str(db)]
                             ).exit_code == 1
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "role"] == "validator"
        revoked = runner.invoke(app, ["--lang", "zh-TW", "users", "revoke", "ana", "--db",
                                      str(db)])
        assert revoked.exit_code == 0 and "1 個 API 權杖" in revoked.output
        client.app.state.settings.snapshots.refresh()
        assert_error(client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)
    with riskatlas.open(db, read_only=True) as atlas:
        actions = [r[0] for r in atlas.store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["user.add", "token.create", "user.disable", "user.enable", "user.role",
                       "token.revoke"]


def test_a_new_password_ends_sessions(db: Path):
    web_user(db, "ana", "collector")
    web_user(db, "adam", "admin")
    with web_client(db) as client, web_client(db) as admin:
        login(client, "ana")
        assert client.get("/api/me").json()["user"] == "ana"
        login(admin, "adam")
        csrf = csrf_of(admin, "/admin/users")
        assert "Set password" in admin.get("/admin/users").text
        changed = admin.post("/admin/users", data={"op": "password", "name": "ana", "csrf": csrf,
                                                   "password": "another long secret"},
                             follow_redirects=False)
        assert changed.status_code == 303
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me").json()["user"] is None  # the old session ended
        login(client, "ana", "another long secret")
        assert client.get("/api/me").json()["user"] == "ana"
        role = admin.post("/admin/users", data={"op": "role", "name": "ana", "csrf": csrf,
                                                "role": "validator"}, follow_redirects=False)
        assert role.status_code == 303
        client.app.state.settings.snapshots.refresh()
        assert client.get("/api/me").json()["role"] == "validator"
        bad = admin.post("/admin/users", data={"op": "role", "name": "ana", "csrf": csrf,
                                               "role": "chief"})
        assert bad.status_code == 400 and "chief" in bad.text
    result = CliRunner().invoke(app, ["users", "password", "ana", "--password-stdin", "--db",
                                      str(db)], input="short\n")
    assert result.exit_code == 1 and "at least 8" in str(result.exception)


def test_token_use_is_recorded(db: Path):
    token = web_user(db, "ana", "collector")
    with web_client(db) as client:
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "user"] == "ana"
        deadline = time.monotonic() + 10
        used = None
        while used is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the write runs in the background
            try:
                with riskatlas.open(db, read_only=True) as atlas:
                    used = atlas.store.scalar("SELECT last_used FROM api_tokens")
            except StoreError:  # the background writer holds it right now
                continue
    assert used is not None
    listed = CliRunner().invoke(app, ["users", "list", "--format", "json", "--db", str(db)])
    assert str(used)[:10] in listed.stdout
