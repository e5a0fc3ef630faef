"""Benchmark: ``riskatlas db copy`` between DuckDB and PostgreSQL, each way.

Stores: Grenada (the real DesInventar export: 162 cards, boundaries, source tables) and
Nepal (the 25 real xlsx parts, 25,849 records), imported once into ``work/db_copy/``, optionally
the replicated Nepal store of ``--records`` (raw rows emptied). A PostgreSQL server of the
tests' own (tests/postgres_server.py: loopback, fsync off) receives them. Each store is
copied ``--repeat`` times:

* ``duckdb→duckdb`` -- the baseline: the same code, DuckDB on both sides;
* ``duckdb→postgres`` -- into a new database;
* ``postgres→duckdb`` -- back into a new file (the round trip's second half).

Reported per direction: medians of wall time, of this process's CPU (user+sys) and of the
PostgreSQL server's CPU (every backend process), the ratio to the baseline, and apart the
time the reconciliation's digests take on one side (``digest``; a copy digests both).
The machine is shared: ``others`` is the CPU other processes took meanwhile. Results:
``results/db_copy.json``.

    .venv/bin/python benchmarks/bench_db_copy.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from measure import busy_cpu_s, machine  # noqa: E402
from stores import NEPAL, SHARED_DATA, build  # noqa: E402

WORK = HERE / "work" / "db_copy"
RESULTS = HERE / "results" / "db_copy.json"
GRENADA = SHARED_DATA / "desinventar" / "grd" / "DI_export_grd.zip"


def imported(name: str, source: Path, country: str | None = None) -> Path:
    """A store of one real source, imported once (cached in work/db_copy/)."""
    db = WORK / f"{name}.duckdb"
    if not db.exists():
        import riskatlas
        from riskatlas.sources.registry import ReadOptions

        with riskatlas.open(WORK / f"{name}.partial.duckdb") as atlas:
            atlas.import_paths([source], options=ReadOptions(country=country))
        (WORK / f"{name}.partial.duckdb").rename(db)
    return db


def replicated(records: int) -> Path:
    """stores.py's replicated Nepal store, copied here and brought to this schema version
    (the cache may predate it; a copy refuses another version)."""
    import shutil

    import riskatlas

    db = WORK / f"nepal_{records}.duckdb"
    if not db.exists():
        shutil.copyfile(build(records)[0], WORK / "partial.duckdb")
        riskatlas.open(WORK / "partial.duckdb").close()  # migrates
        (WORK / "partial.duckdb").rename(db)
    return db


def server_cpu(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and its living backends (a
    backend's CPU is read before its connection closes: see ``measured``)."""
    import psutil

    proc = psutil.Process(postmaster)
    total = 0.0
    for p in (proc, *proc.children(recursive=True)):
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def measured(source: str | Path, target: str | Path, postmaster: int) -> dict[str, float]:
    from riskatlas.store.transfer import copy_store

    others0, cpu0, pg0 = busy_cpu_s(), os.times(), server_cpu(postmaster)
    t0 = time.perf_counter()
    result = copy_store(source, target)
    wall = time.perf_counter() - t0
    cpu1, pg1, others1 = os.times(), server_cpu(postmaster), busy_cpu_s()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {"wall_s": wall, "cpu_s": cpu, "pg_cpu_s": pg1 - pg0, "rows": result.rows,
            "others_cpu_s": max(0.0, (others1 - others0) - cpu - (pg1 - pg0))}


def digest_s(db: Path) -> tuple[float, float]:
    """Seconds (wall, CPU) to digest every table of a DuckDB store once (what each side
    of a copy costs)."""
    from riskatlas.store.store import Store
    from riskatlas.store.transfer import _Duck, schema_tables

    with Store(db, read_only=True) as store:
        side = _Duck(store.connection, str(db))
        t0, c0 = time.perf_counter(), time.process_time()
        for table in schema_tables():
            side.digest(table)
        return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--records", type=int, default=0,
                        help="also copy the replicated Nepal store of this many records")
    parser.add_argument("--big-repeat", type=int, default=1,
                        help="repeats for the replicated store")
    args = parser.parse_args()
    from postgres_server import PostgresServer

    WORK.mkdir(parents=True, exist_ok=True)
    stores = {"grenada": imported("grenada", GRENADA),
              "nepal": imported("nepal", NEPAL, "NPL")}
    if args.records:
        stores[f"nepal_{args.records}"] = replicated(args.records)
    server = PostgresServer()
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    out: dict[str, Any] = {"machine": machine(), "repeat": args.repeat, "stores": {}}
    try:
        for name, db in stores.items():
            runs: dict[str, list[dict[str, float]]] = {}
            repeat = args.repeat if name in ("grenada", "nepal") else args.big_repeat
            for i in range(repeat):
                url = server.database(f"{name}_{i}")
                for direction, (src, dst) in {
                        "duckdb→duckdb": (db, WORK / f"{name}_{i}_copy.duckdb"),
                        "duckdb→postgres": (db, url),
                        "postgres→duckdb": (url, WORK / f"{name}_{i}_back.duckdb")}.items():
                    runs.setdefault(direction, []).append(measured(src, dst, postmaster))
                    print(name, direction, runs[direction][-1], flush=True)
                for suffix in ("copy", "back"):
                    (WORK / f"{name}_{i}_{suffix}.duckdb").unlink(missing_ok=True)
            base = statistics.median(r["wall_s"] for r in runs["duckdb→duckdb"])
            summary = {}
            for direction, rs in runs.items():
                med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                med["ratio_to_duckdb_copy"] = med["wall_s"] / base
                summary[direction] = med
            summary["digest_one_side_s"], summary["digest_one_side_cpu_s"] = digest_s(db)
            summary["store_mb"] = db.stat().st_size / 1e6
            out["stores"][name] = summary
    finally:
        server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    for name, summary in out["stores"].items():
        print(f"\n{name} ({summary['store_mb']:.0f} MB; digest of one side "
              f"{summary['digest_one_side_s']:.2f} s wall, "
              f"{summary['digest_one_side_cpu_s']:.2f} s CPU)")
        for direction, med in summary.items():
            if isinstance(med, dict):
                print(f"  {direction:17} {med['wall_s']:6.2f} s wall  {med['cpu_s']:6.2f} s CPU  "
                      f"PostgreSQL {med['pg_cpu_s']:5.2f} s CPU  x{med['ratio_to_duckdb_copy']:.2f}"
                      f"  ({med['rows']:,.0f} rows; others {med['others_cpu_s']:.1f} s CPU)")


if __name__ == "__main__":
    main()
