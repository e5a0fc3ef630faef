"""The audit log: one row per change, written in the change's own transaction."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import duckdb

    from riskatlas.store.store import Store



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


def log_page(store: Store, *, user: str | None = None, action: str | None = None,
             record_id: str | None = None, since: dt.date | None = None,
             until: dt.date | None = None, page: int = 1, page_size: int = 50
             ) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of the audit log, newest first) matching the filters: a user, an
    action's start, a record, a first and a last day (Ibis; values bound as literals)."""
    if "audit_log" not in store.tables():
        return 0, []
    log = store.table("audit_log")
    if user:
        log = log.filter(log["user"] == user)
    if action:
        log = log.filter(log.action.startswith(action))
    if record_id:
        log = log.filter(log.record_id == record_id)
    if since:
        log = log.filter(log.at >= dt.datetime.combine(since, dt.time()))
    if until:
        log = log.filter(log.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time()))
    total = int(log.count().to_pandas())
    frame = log.order_by(log.id.desc()).limit(page_size, offset=(page - 1) * page_size) \
        .to_pandas()
    rows: list[dict[str, Any]] = frame.to_dict("records")
    return total, rows
