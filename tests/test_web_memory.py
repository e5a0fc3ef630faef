"""Issue 13, item 10: a served copy of the store is read under a bounded DuckDB memory
limit (DuckDB's default, 80 % of the machine, let the browser's index of a million records
peak at ~1.4 GB, which the process kept), and at most a few requests read it at once."""

from __future__ import annotations

import platform
import threading
import time
from pathlib import Path

import duckdb
import pytest

from conftest import web_client
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
        # and what its queries free goes back to the system (the allocator's background
        # threads): a prepared worker held ~180 MB more without
        assert cursor.execute(
            "SELECT current_setting('allocator_background_threads')").fetchone() == (True,)
        cursor.close()
    finally:
        snapshots.release(copy)
        snapshots.close()


def test_readers_are_bounded() -> None:
    assert 1 <= deps.CONCURRENT_READERS <= 8


def test_analyses_at_once_are_bounded_and_record_pages_pass(
        grenada_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six profile requests at once: at most CONCURRENT_ANALYSES run together, and a
    records page answers while they wait."""
    from riskatlas.api import Atlas

    running, most = [0], [0]
    lock = threading.Lock()
    real = Atlas.profile

    def slow(self: Atlas, *args: object, **kw: object) -> object:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)
            return real(self, *args, **kw)  # type: ignore[arg-type]
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Atlas, "profile", slow)
    with web_client(grenada_db, cache=False) as http:
        http.get("/records")  # the copy and the browser's index
        answers: list[int] = []
        threads = [threading.Thread(target=lambda y=y: answers.append(http.get(
            f"/api/profile?country=GRD&year_to={2000 + y}").status_code)) for y in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        started = time.perf_counter()
        assert http.get("/records?page=2").status_code == 200
        waited = time.perf_counter() - started
        for t in threads:
            t.join()
    assert answers == [200] * 6
    assert most[0] <= deps.CONCURRENT_ANALYSES
    assert waited < 0.9  # not behind the six profiles (~1 s of sleeping alone)


def test_workers_share_the_cores_among_their_copies(tmp_path: Path) -> None:
    """Two workers on two cores: each copy's queries on one DuckDB thread, not two (the
    workers' threads contended); one worker keeps every core."""
    from riskatlas.web.snapshot import copy_threads

    assert copy_threads(1) is None
    assert copy_threads(2, cores=2) == 1 and copy_threads(2, cores=8) == 4
    assert copy_threads(16, cores=2) == 1
    source = tmp_path / "store.duckdb"
    duckdb.connect(str(source)).close()
    snapshots = Snapshots(source, folder=tmp_path, threads=copy_threads(2, cores=2))
    copy = snapshots.acquire()
    try:
        cursor = copy.connection.cursor()
        assert cursor.execute("SELECT current_setting('threads')").fetchone() == (1,)
        cursor.close()
    finally:
        snapshots.release(copy)
        snapshots.close()


_FREED = """
import os
import sys
import numpy as np
import pyarrow as pa
from riskatlas.web import memory
if sys.argv[1] == "served":
    memory.give_freed_memory_back()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = np.ones(8 << 20, dtype=np.uint8)  # mapped; freeing it raises glibc's threshold
del block
block = np.ones(8 << 20, dtype=np.uint8)  # then from the heap, below what follows
pinned = np.ones(1000)
before = rss()
del block
print(pa.default_memory_pool().backend_name, (before - rss()) >> 20)
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists()
                    or platform.libc_ver()[0] != "glibc",
                    reason="RSS read from /proc; glibc's allocator")
def test_a_serving_process_gives_freed_memory_back(grenada_db: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker (``riskatlas serve``) allocates Arrow's buffers with the system allocator
    and maps large blocks, so what an analysis frees leaves its RSS (web/memory.py)."""
    import subprocess
    import sys

    from riskatlas.web import app as web_app
    from riskatlas.web import memory

    freed = {}
    for mode in ("plain", "served"):
        run = subprocess.run([sys.executable, "-c", _FREED, mode], capture_output=True,
                             text=True, timeout=120, check=True)
        pool, mb = run.stdout.split()
        freed[mode] = (pool, int(mb))
    assert freed["served"] == ("system", 8)
    assert freed["plain"][1] < 8  # the defaults kept it
    calls: list[str] = []
    monkeypatch.setattr(memory, "give_freed_memory_back", lambda: calls.append("freed"))
    monkeypatch.setattr(memory, "collect_rarely", lambda: calls.append("collect"))
    monkeypatch.setenv("RISKATLAS_DB", str(grenada_db))
    monkeypatch.setenv("RISKATLAS_WEB_PREPARE", "0")
    web_app.app_from_environment()
    assert calls == ["freed", "collect"]


_COLLECT = """
import gc, json
from riskatlas.web import memory
import riskatlas.web.app
before = gc.get_threshold()
memory.collect_rarely()
print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))
"""


def test_a_serving_process_collects_garbage_rarely() -> None:
    """A worker leaves what it holds once started out of the collector's scans and runs
    young collections after 20,000 allocations, not Python's 700 (web/memory.py)."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _COLLECT], capture_output=True, text=True,
                         timeout=120, check=True)
    before, after, frozen = json.loads(run.stdout)
    assert before == [700, 10, 10] and after == [20_000, 20, 20]
    assert frozen > 10_000  # the modules and what they hold
