"""The accounts service called directly (no web app, no CLI): each operation writes its
change and its audit row in one transaction, or neither; Store.transaction joins an outer
block; look-ups and the users' list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import riskatlas
from riskatlas.services import accounts
from riskatlas.store.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def store(new_db: Path | str) -> Any:
    """A new store, on each backend (conftest ``store_backend``)."""
    with riskatlas.open(new_db) as atlas:
        yield atlas.store


def audit_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.query('SELECT "user", action, after FROM audit_log ORDER BY id')


def test_each_operation_writes_its_change_and_audit_row(store: Store) -> None:
    accounts.add_user(store, "ana", "collector", PASSWORD, by="adam")
    accounts.set_role(store, "ana", "validator", by="adam")
    token = accounts.add_token(store, "ana", by="adam")
    accounts.set_password(store, "ana", PASSWORD + "!", by="adam")
    accounts.set_disabled(store, "ana", True, by="adam")
    accounts.set_disabled(store, "ana", False, by="adam")
    assert accounts.revoke_tokens(store, "ana", by="adam") == 1
    assert [(user, action) for user, action, _ in audit_rows(store)] == [
        ("adam", "user.add"), ("adam", "user.role"), ("adam", "token.create"),
        ("adam", "user.password"), ("adam", "user.disable"), ("adam", "user.enable"),
        ("adam", "token.revoke")]
    assert '"role":"collector"' in audit_rows(store)[0][2].replace(" ", "")
    user = accounts.user_row(store, "ana")
    assert user is not None and user["role"] == "validator" and not user["disabled"]
    assert accounts.verify_password(PASSWORD + "!", user["password_hash"])
    assert token.startswith("ra_") and accounts.token_user(store, accounts.token_hash(token)) \
        is None  # revoked
    assert token not in str(store.query("SELECT * FROM api_tokens"))


@pytest.mark.parametrize("operation", [
    lambda s: accounts.add_user(s, "bob", "viewer", PASSWORD, by="t"),
    lambda s: accounts.set_role(s, "ana", "admin", by="t"),
    lambda s: accounts.set_password(s, "ana", PASSWORD + "?", by="t"),
    lambda s: accounts.set_disabled(s, "ana", True, by="t"),
    lambda s: accounts.add_token(s, "ana", by="t"),
    lambda s: accounts.revoke_tokens(s, "ana", by="t"),
])
def test_a_failure_after_the_change_leaves_neither_change_nor_audit_row(
        store: Store, monkeypatch: pytest.MonkeyPatch, operation: Any) -> None:
    accounts.add_user(store, "ana", "collector", PASSWORD, by="t")
    accounts.add_token(store, "ana", by="t")
    accounts.new_session(store, "ana")
    tables = ("users", "api_tokens", "sessions", "audit_log")
    before = {t: sorted(store.query(f"SELECT * FROM {t}"), key=repr) for t in tables}

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(accounts, "audit", broken)  # fails after the change is written
    with pytest.raises(RuntimeError):
        operation(store)
    assert {t: sorted(store.query(f"SELECT * FROM {t}"), key=repr) for t in tables} == before
    assert not store.in_transaction


def test_refused_changes_write_nothing(store: Store) -> None:
    accounts.add_user(store, "ana", "collector", PASSWORD, by="t")
    for call, key in ((lambda: accounts.add_user(store, "ana", "admin", PASSWORD, by="t"),
                       "auth.error.user_exists"),
                      (lambda: accounts.set_role(store, "ana", "boss", by="t"),
                       "auth.error.bad_role"),
                      (lambda: accounts.set_role(store, "nobody", "admin", by="t"),
                       "auth.error.no_such_user"),
                      (lambda: accounts.set_password(store, "ana", "short", by="t"),
                       "auth.error.short_password")):
        with pytest.raises(accounts.AccountError) as err:
            call()
        assert err.value.key == key
    assert len(audit_rows(store)) == 1


def test_sessions_end_with_a_new_password_or_a_disabled_user(store: Store) -> None:
    accounts.add_user(store, "ana", "collector", PASSWORD, by="t")
    session_id, csrf = accounts.new_session(store, "ana")
    row = accounts.session_row(store, accounts.token_hash(session_id))
    assert row is not None and row["name"] == "ana" and row["csrf"] == csrf
    accounts.set_password(store, "ana", PASSWORD + "!", by="t")
    assert accounts.session_row(store, accounts.token_hash(session_id)) is None
    second, _ = accounts.new_session(store, "ana")
    accounts.set_disabled(store, "ana", by="t")
    assert accounts.session_row(store, accounts.token_hash(second)) is None
    accounts.set_disabled(store, "ana", False, by="t")
    third, _ = accounts.new_session(store, "ana")
    accounts.end_session(store, accounts.token_hash(third))
    assert store.query("SELECT count(*) FROM sessions") == [(0,)]


def test_a_disabled_user_gets_no_token_and_the_list_shows_tokens(store: Store) -> None:
    accounts.add_user(store, "ana", "collector", None, by="t")  # tokens only
    accounts.add_user(store, "bob", "viewer", PASSWORD, by="t")
    accounts.add_token(store, "ana", by="t")
    accounts.add_token(store, "ana", by="t")
    accounts.set_disabled(store, "bob", by="t")
    with pytest.raises(accounts.AccountError) as err:
        accounts.add_token(store, "bob", by="t")
    assert err.value.key == "auth.error.user_disabled"
    listed = accounts.users(store)
    assert [(u["name"], u["role"], u["disabled"], u["tokens"]) for u in listed] == [
        ("ana", "collector", False, 2), ("bob", "viewer", True, 0)]
    assert all("password_hash" not in u and isinstance(u["created_at"], str) for u in listed)


def test_an_inner_transaction_joins_the_outer_one(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        accounts.add_user(store, "ana", "collector", PASSWORD, by="t")  # its own block
        assert store.in_transaction
        raise RuntimeError("the outer block fails after the inner one ended")
    assert accounts.user_row(store, "ana") is None and audit_rows(store) == []
    with store.transaction():
        accounts.add_user(store, "ana", "collector", PASSWORD, by="t")
    assert accounts.user_row(store, "ana") is not None and len(audit_rows(store)) == 1


def test_a_read_only_store_refuses_to_write(new_db: Path | str) -> None:
    from riskatlas.errors import StoreError

    db = new_db
    riskatlas.open(db).close()
    with riskatlas.open(db, read_only=True) as atlas, pytest.raises(StoreError):
        accounts.add_user(atlas.store, "ana", "collector", PASSWORD, by="t")
