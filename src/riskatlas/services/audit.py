"""The audit log: one row per change, written in the change's own transaction."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import duckdb



def now() -> dt.datetime:
    """The time of a change: UTC, naive (as the store keeps it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def audit(con: duckdb.DuckDBPyConnection, user: str, action: str, record_id: str | None,
          before: Any, after: Any, reason: str | None = None) -> None:
    """One row of the audit log (before/after as JSON), in the caller's transaction."""
    con.execute('INSERT INTO audit_log (id, "at", "user", action, record_id, before, after, '
                "reason) VALUES (nextval('audit_seq'), ?, ?, ?, ?, ?, ?, ?)",
                [now(), user, action, record_id, _json(before), _json(after), reason])


def next_id(con: duckdb.DuckDBPyConnection) -> int:
    """A new audit row id (a decision's, named by the rows written under it)."""
    row = con.execute("SELECT nextval('audit_seq')").fetchone()
    assert row is not None
    return int(row[0])
