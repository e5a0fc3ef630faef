"""Benchmark: Spark reading a PostgreSQL store over JDBC, against Spark's Parquet snapshot of
a DuckDB store and against DuckDB itself (issue 16, item 4).

Grenada (the real DesInventar export, 162 cards) is imported into a DuckDB file and into a
PostgreSQL database (a server of the tests' own: tests/postgres_server.py, loopback). Then
profile (four metrics), screen (every hazard) and Sendai, country level, run ``--repeat``
times each way, each run in a newly opened store:

* ``duckdb``         -- the DuckDB store on its own engine (the default);
* ``postgres``       -- the PostgreSQL store on its own engine (Ibis' postgres backend);
* ``spark snapshot`` -- Spark over a Parquet snapshot of the DuckDB store (taken at open);
* ``spark jdbc``     -- Spark reading the PostgreSQL store through its JDBC source.

One Spark session (local[2], started and warmed once: its start is reported apart) serves
every Spark run. Reported: medians of wall seconds and CPU seconds (user+sys of this
process, its JVM and the PostgreSQL server's processes), ``open`` (the engine's start: the
snapshot's copy, the JDBC views) apart from the analyses, and ratios to DuckDB. Results
must equal DuckDB's (numbers to 1e-9), else the run fails. ``results/spark_jdbc.json``.

    .venv/bin/python benchmarks/bench_spark_jdbc.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from measure import machine  # noqa: E402

from test_postgres_spark import ANALYSES, KEYS  # noqa: E402  (the analyses the test compares)

RESULTS = HERE / "results" / "spark_jdbc.json"
GRENADA = Path(__file__).resolve().parents[2] / "shared/data/desinventar/grd/DI_export_grd.zip"


class Clock:
    """Wall and CPU seconds (this process, its children: the JVM, and the PG server)."""

    def __init__(self, server_pid: int) -> None:
        import psutil

        self.me, self.server = psutil.Process(), psutil.Process(server_pid)

    def cpu(self) -> float:
        import psutil

        total = 0.0
        for root in (self.me, self.server):
            for proc in (root, *root.children(recursive=True)):
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        return total

    def __call__(self) -> tuple[float, float]:
        return time.perf_counter(), self.cpu()


def run_once(db: str | Path, engine: str, clock: Clock) -> tuple[dict[str, Any], dict[str, Any]]:
    import riskatlas

    seconds: dict[str, Any] = {}
    frames = {}
    w0, c0 = clock()
    with riskatlas.open(db, read_only=True, engine=engine) as atlas:
        atlas.engine  # noqa: B018 (the engine starts: a snapshot, JDBC views)
        w1, c1 = clock()
        seconds["open"] = (w1 - w0, c1 - c0)
        for name, analysis in ANALYSES.items():
            w, c = clock()
            frames[name] = analysis(atlas)
            w2, c2 = clock()
            seconds[name] = (w2 - w, c2 - c)
    w3, c3 = clock()
    seconds["total"] = (w3 - w0, c3 - c0)
    return seconds, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import tempfile

    import riskatlas
    from postgres_server import PostgresServer
    from test_analysis_spark import _same

    folder = Path(tempfile.mkdtemp(prefix="bench-spark-jdbc-"))
    server = PostgresServer()
    try:
        pg = server.database("grenada")
        duck = folder / "grenada.duckdb"
        for db in (duck, pg):
            with riskatlas.open(db) as atlas:
                atlas.import_paths([GRENADA])
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        clock = Clock(pid)
        w, c = clock()
        from pyspark.sql import SparkSession

        from riskatlas.analysis.engine import jdbc_jars, spark_session
        from riskatlas.store.opening import open_store

        with open_store(pg, read_only=True) as store:  # the session as the JDBC way starts it
            spark_session(SparkSession, jars=jdbc_jars(store))
        w2, c2 = clock()
        start = (w2 - w, c2 - c)
        ways = {"duckdb": (duck, "duckdb"), "postgres": (pg, "duckdb"),
                "spark snapshot": (duck, "spark"), "spark jdbc": (pg, "spark")}
        for db, engine in ways.values():  # warm-up: first plans, JIT, connections
            run_once(db, engine, clock)
        runs: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
        reference: dict[str, Any] = {}
        for _ in range(args.repeat):
            for way, (db, engine) in ways.items():
                seconds, frames = run_once(db, engine, clock)
                runs[way].append(seconds)
                for name, frame in frames.items():
                    if way == "duckdb":
                        reference.setdefault(name, frame)
                    else:
                        _same(reference[name], frame, KEYS[name])
    finally:
        server.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    medians = {way: {part: [round(statistics.median(r[part][i] for r in rs), 3)
                            for i in (0, 1)] for part in rs[0]} for way, rs in runs.items()}
    base = medians["duckdb"]["total"]
    print(f"spark session start: {start[0]:.1f} s wall, {start[1]:.1f} s CPU")
    print(f"{'way':16} {'open':>13} " + " ".join(f"{n:>13}" for n in ANALYSES)
          + f" {'total':>13} {'x duckdb (wall/CPU)':>20}")
    for way, m in medians.items():
        cells = " ".join(f"{m[p][0]:6.2f}/{m[p][1]:6.2f}" for p in ("open", *ANALYSES, "total"))
        print(f"{way:16} {cells} {m['total'][0] / base[0]:9.1f} / {m['total'][1] / base[1]:.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": machine(), "repeat": args.repeat, "records": 162,
        "spark_start_s": [round(start[0], 2), round(start[1], 2)],
        "medians_wall_cpu_s": medians, "equal_to_duckdb": True}, indent=2) + "\n")


if __name__ == "__main__":
    main()
