"""Issue 13, item 10: a served copy of the store is read under a bounded DuckDB memory
limit (DuckDB's default, 80 % of the machine, let the browser's index of a million records
peak at ~1.4 GB, which the process kept), and at most a few requests read it at once."""

from __future__ import annotations

from pathlib import Path

import duckdb

from riskatlas.web import deps
from riskatlas.web.snapshot import COPY_MEMORY_LIMIT, Snapshots


def _bytes(setting: str) -> float:
    number, unit = setting.split()
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "MB": 1e6,
                            "GB": 1e9}[unit]


def test_served_copy_has_a_memory_limit(tmp_path: Path) -> None:
    source = tmp_path / "store.duckdb"
    duckdb.connect(str(source)).close()
    snapshots = Snapshots(source, folder=tmp_path)
    copy = snapshots.acquire()
    try:
        limit = copy.connection.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit is not None
        assert _bytes(limit[0]) <= _bytes(COPY_MEMORY_LIMIT.replace("MB", " MB")) * 1.05
        # every reader of the copy (a cursor) shares it
        cursor = copy.connection.cursor()
        assert cursor.execute("SELECT current_setting('memory_limit')").fetchone() == limit
        cursor.close()
    finally:
        snapshots.release(copy)
        snapshots.close()


def test_readers_are_bounded() -> None:
    assert 1 <= deps.CONCURRENT_READERS <= 8
