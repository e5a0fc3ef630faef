"""Benchmark: the store on DuckDB vs on PostgreSQL (issue 16, item 1).

Nepal (the 25 real xlsx parts, 25,849 records) is imported ``--repeat`` times into a new
DuckDB file and into a new PostgreSQL database (a server of the tests' own:
tests/postgres_server.py, loopback, fsync off); then the analyses (profile at level 1,
screen at level 1 over every hazard, Sendai and risk at level 0, events) run on each
store ``--repeat`` times, each run in a newly opened store, and their results are
compared (the test's rule: same rows, numbers equal to 1e-9).

Reported: medians of wall time, of this process's CPU (user+sys, with its finished child
processes: the xlsx reader's workers) and of the PostgreSQL
server's CPU (postmaster and backends), the ratio PostgreSQL / DuckDB, and ``others``:
CPU that other processes of this shared machine took meanwhile. Results:
``results/postgres.json``.

    .venv/bin/python benchmarks/bench_postgres.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_db_copy import server_cpu  # noqa: E402
from measure import busy_cpu_s, machine  # noqa: E402
from stores import NEPAL  # noqa: E402

WORK = HERE / "work" / "postgres"
RESULTS = HERE / "results" / "postgres.json"
ANALYSES: dict[str, Callable[[Any], Any]] = {
    "profile": lambda a: a.profile(["records", "events", "deaths", "houses_destroyed"],
                                   level=1),
    "screen": lambda a: a.screen(level=1, all_hazards=True),
    "sendai": lambda a: a.sendai(level=0),
    "risk": lambda a: a.risk(level=0),
    "events": lambda a: a.events(country="NPL"),
}


def measured(run: Callable[[], Any], postmaster: int) -> tuple[dict[str, float], Any]:
    others0, cpu0, pg0 = busy_cpu_s(), os.times(), server_cpu(postmaster)
    t0 = time.perf_counter()
    value = run()
    wall = time.perf_counter() - t0
    cpu1, pg1, others1 = os.times(), server_cpu(postmaster), busy_cpu_s()
    cpu = sum(getattr(cpu1, k) - getattr(cpu0, k)  # the readers' worker processes too
              for k in ("user", "system", "children_user", "children_system"))
    return {"wall_s": wall, "cpu_s": cpu, "pg_cpu_s": pg1 - pg0,
            "others_cpu_s": max(0.0, (others1 - others0) - cpu - (pg1 - pg0))}, value


def imported(db: str | Path) -> Any:
    import riskatlas
    from riskatlas.sources.registry import ReadOptions

    with riskatlas.open(db) as atlas:
        results = atlas.import_paths([NEPAL], options=ReadOptions(country="NPL"))
        return sum(r.records_imported for r in results)


def analysed(db: str | Path, name: str) -> Any:
    import riskatlas

    with riskatlas.open(db, read_only=True) as atlas:
        return ANALYSES[name](atlas)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from postgres_server import PostgresServer
    from test_postgres_store import _same

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    server = PostgresServer()
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    out: dict[str, Any] = {"machine": machine(), "repeat": args.repeat, "import": {},
                           "analyses": {}}
    try:
        stores: dict[str, str | Path] = {}
        runs: dict[str, list[dict[str, float]]] = {"duckdb": [], "postgres": []}
        for i in range(args.repeat):
            for backend in runs:
                db = WORK / f"nepal_{i}.duckdb" if backend == "duckdb" \
                    else server.database(f"nepal_{i}")
                run, records = measured(lambda db=db: imported(db), postmaster)
                run["records"] = records
                runs[backend].append(run)
                stores[backend] = db
                print("import", backend, run, flush=True)
        out["import"] = {b: medians(rs) for b, rs in runs.items()}
        out["import"]["ratio_wall"] = (out["import"]["postgres"]["wall_s"]
                                       / out["import"]["duckdb"]["wall_s"])
        for name in ANALYSES:
            timed: dict[str, list[dict[str, float]]] = {"duckdb": [], "postgres": []}
            frames = {}
            for _ in range(args.repeat):
                for backend in timed:
                    run, frames[backend] = measured(
                        lambda b=backend, n=name: analysed(stores[b], n), postmaster)
                    timed[backend].append(run)
            _same(frames["duckdb"], frames["postgres"])  # raises when they differ
            summary: dict[str, Any] = {b: medians(rs) for b, rs in timed.items()}
            summary["ratio_wall"] = summary["postgres"]["wall_s"] / summary["duckdb"]["wall_s"]
            summary["rows"] = len(frames["duckdb"])
            summary["equal"] = True
            out["analyses"][name] = summary
            print(name, summary, flush=True)
    finally:
        server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print("\nNepal import (median of", args.repeat, "runs)")
    for backend in ("duckdb", "postgres"):
        m = out["import"][backend]
        print(f"  {backend:8} {m['wall_s']:6.1f} s wall  {m['cpu_s']:6.1f} s CPU  "
              f"PostgreSQL {m['pg_cpu_s']:5.1f} s CPU  (others {m['others_cpu_s']:.0f} s CPU)")
    print("Analyses on Nepal (each in a newly opened store; results equal)")
    for name, s in out["analyses"].items():
        print(f"  {name:8} DuckDB {s['duckdb']['wall_s']:5.2f} s wall "
              f"{s['duckdb']['cpu_s']:5.2f} s CPU | PostgreSQL {s['postgres']['wall_s']:5.2f} "
              f"s wall {s['postgres']['cpu_s']:5.2f} s CPU + server "
              f"{s['postgres']['pg_cpu_s']:5.2f} s | x{s['ratio_wall']:.2f}")


if __name__ == "__main__":
    main()
