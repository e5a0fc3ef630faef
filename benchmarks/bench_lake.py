"""Benchmark: the analyses on a Parquet lake, DuckDB against a Spark standalone cluster.

The 25,849 real Nepal records are replicated to ``--records`` (default 10,000,000; the
store of stores.py, cached) and written as a lake partitioned by country and year
(``riskatlas.lake.write_lake``, cached in ``work/lake/``). Then profile, screen and Sendai
(country NPL, level 1) run, each ``--repeat`` times:

* ``duckdb store``  -- the DuckDB store (the default engine, what a laptop runs);
* ``duckdb lake``   -- DuckDB over the lake's files (``riskatlas --lake DIR``);
* ``spark cluster`` -- Spark on a standalone cluster on 127.0.0.1 (one master, ``--workers``
  workers of ``--cores`` cores, from PySpark's bundled scripts: tests/spark_cluster.py)
  reading the lake where it is: a fresh driver process per run, so JVM start, session and
  plan are part of the first analysis and reported apart (``start``).

The results of every method must equal the store's (numbers to 1e-9), else the run fails.
Timings are medians of the repeats; the machine is shared and noisy: ``others`` says how
many cores other processes took meanwhile. Results: ``results/lake.json``.

    .venv/bin/python benchmarks/bench_lake.py                      # 10 M records
    .venv/bin/python benchmarks/bench_lake.py --records 200000 --repeat 1   # a quick try
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from measure import busy_cpu_s, machine  # noqa: E402
from stores import build  # noqa: E402

WORK = HERE / "work" / "lake"
RESULTS = HERE / "results" / "lake.json"
ANALYSES = ("profile", "screen", "sendai")

# the child that runs the analyses in its own process (a fresh Spark driver each time)
CHILD = r"""
import pickle, sys, time
t0 = time.perf_counter()
import riskatlas
path, engine, out = sys.argv[1], sys.argv[2], sys.argv[3]
analyses = sys.argv[4].split(",")
with riskatlas.open(path, read_only=True, engine=engine) as atlas:
    atlas.engine  # the engine starts (Spark: session on the master, lake views)
    started = time.perf_counter() - t0
    scope = atlas.scope(country="NPL", level=1)
    frames, seconds = {}, {}
    for name in analyses:
        t = time.perf_counter()
        frames[name] = getattr(atlas, name)(scope=scope)
        seconds[name] = time.perf_counter() - t
with open(out, "wb") as f:
    pickle.dump({"start": started, "seconds": seconds, "frames": frames}, f)
"""


def lake_of(records: int) -> tuple[Path, Path, dict[str, Any]]:
    """The replicated store and its lake (cached)."""
    db, _, meta = build(records)
    lake = WORK / f"npl_{records}"
    if not (lake / "riskatlas-lake.json").exists():
        import riskatlas
        from riskatlas.lake import write_lake

        print(f"writing the lake of {records:,} records (once) ...", flush=True)
        t = time.perf_counter()
        with riskatlas.open(db, read_only=True) as atlas:
            write_lake(atlas.store, lake, overwrite=True)
        print(f"  {time.perf_counter() - t:.1f} s", flush=True)
    meta["lake_mb"] = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 1e6
    return db, lake, meta


def run_child(path: Path, engine: str, analyses: list[str], env: dict[str, str]
              ) -> dict[str, Any]:
    out = WORK / f"child-{engine}.pickle"
    cpu0, t0 = busy_cpu_s(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), engine, str(out),
                           ",".join(analyses)], env=env, capture_output=True, text=True,
                          timeout=7200)
    if done.returncode:
        raise RuntimeError(f"{engine} on {path} failed:\n{done.stderr[-4000:]}")
    wall = time.perf_counter() - t0
    with out.open("rb") as f:
        result: dict[str, Any] = pickle.load(f)
    out.unlink()
    result["wall"] = wall
    result["others"] = max(0.0, (busy_cpu_s() - cpu0) / wall) if wall else 0.0
    return result


def same(a: Any, b: Any, name: str) -> None:
    """The frames agree: same rows in a stable order, numbers to 1e-9."""
    import pandas as pd

    keys = [c for c in ("country_iso3", "admin_code", "metric", "hazard", "year", "rank")
            if c in a.columns]
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        raise AssertionError(f"{name}: shapes differ {a.shape} vs {b.shape}")
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            pd.testing.assert_series_equal(x.astype("float64"), y.astype("float64"),
                                           check_names=False, rtol=1e-9, atol=1e-9)
        elif x.astype(str).tolist() != y.astype(str).tolist():
            raise AssertionError(f"{name}: column {column} differs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="3g", help="memory per worker")
    parser.add_argument("--analyses", default=",".join(ANALYSES))
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    analyses = args.analyses.split(",")
    WORK.mkdir(parents=True, exist_ok=True)
    db, lake, meta = lake_of(args.records)
    print(f"{meta['records']:,} records: store {meta['store_mb']:,.0f} MB, "
          f"lake {meta['lake_mb']:,.0f} MB", flush=True)

    from spark_cluster import LocalCluster, spark_env

    env = spark_env()
    runs: dict[str, list[dict[str, Any]]] = {"duckdb store": [], "duckdb lake": [],
                                             "spark cluster": []}
    with LocalCluster(WORK / "cluster", workers=args.workers, cores=args.cores,
                      memory=args.memory) as cluster:
        spark_env_ = {**env, "RISKATLAS_SPARK_MASTER": cluster.master,
                      "RISKATLAS_SPARK_CONF": str(WORK / "spark.conf")}
        (WORK / "spark.conf").write_text(
            f"spark.executor.memory {args.memory}\nspark.driver.memory 2g\n"
            f"spark.sql.shuffle.partitions {2 * args.workers * args.cores}\n"
            # the replicated records compress ~40×: Spark, estimating sizes from the files,
            # broadcast millions of rows through the driver (2 GB heap, full GCs for 20 min)
            "spark.sql.autoBroadcastJoinThreshold -1\n")
        for i in range(args.repeat):  # interleaved: the machine's noise hits all alike
            for method, path, engine, extra in (("duckdb store", db, "duckdb", env),
                                                ("duckdb lake", lake, "duckdb", env),
                                                ("spark cluster", lake, "spark", spark_env_)):
                result = run_child(path, engine, analyses, extra)
                runs[method].append(result)
                print(f"  run {i + 1} {method:14} start {result['start']:6.1f} s  " + "  ".join(
                    f"{n} {result['seconds'][n]:7.1f} s" for n in analyses)
                    + f"  (others {result['others']:.2f})", flush=True)
    reference = runs["duckdb store"][0]["frames"]
    for method, results in runs.items():
        for result in results:
            for name in analyses:
                same(reference[name], result["frames"][name], f"{method} {name}")
    print("every method's results equal the store's")
    summary = {method: {"start": statistics.median(r["start"] for r in results),
                        **{n: statistics.median(r["seconds"][n] for r in results)
                           for n in analyses},
                        "others": statistics.median(r["others"] for r in results)}
               for method, results in runs.items()}
    print(f"\n| method | start s | {' | '.join(f'{n} s' for n in analyses)} | others |")
    print(f"|---|---:|{'---:|' * len(analyses)}---:|")
    for method, s in summary.items():
        print(f"| {method} | {s['start']:.1f} | "
              + " | ".join(f"{s[n]:.1f}" for n in analyses) + f" | {s['others']:.2f} |")
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"machine": machine(), "records": meta["records"],
                                       "store_mb": meta["store_mb"],
                                       "lake_mb": meta["lake_mb"],
                                       "workers": args.workers, "cores": args.cores,
                                       "memory": args.memory, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
