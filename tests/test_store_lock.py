"""A writer (an import, `riskatlas users`…) waits a few seconds for another process that
holds the store briefly, such as the web app copying it, then gives up with the store's
one-line message."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import riskatlas
from cards import card, store_with
from riskatlas.errors import StoreError


def hold(db: Path, folder: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the store for writing for ``seconds`` (once it holds it)."""
    flag = folder / "held"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, pathlib, time\n"
        f"c = duckdb.connect({str(db)!r})\n"
        f"pathlib.Path({str(flag)!r}).touch()\n"
        f"time.sleep({seconds})\n"
        "c.close()\n")])
    deadline = time.monotonic() + 30
    while not flag.exists():
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    return holder


def test_a_writer_waits_for_a_brief_holder(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])
    holder = hold(db, tmp_path, 1.0)
    started = time.monotonic()
    with riskatlas.open(db) as atlas:
        assert atlas.count_records() == 1
    waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert 0.5 < waited < 10


def test_a_writer_gives_up_and_readers_do_not_wait(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])
    holder = hold(db, tmp_path, 5.0)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as error:
            riskatlas.open(db, lock_wait=0.5)
        assert 0.3 < time.monotonic() - started < 3
        assert "lock" in str(error.value.params["reason"]).lower()
        started = time.monotonic()
        with pytest.raises(StoreError):
            riskatlas.open(db, read_only=True)
        assert time.monotonic() - started < 0.5
    finally:
        holder.kill()
        holder.wait(timeout=30)
