"""Benchmark: hazard profile + city screening on ≥ 10 million records.

The 25,849 real Nepal records (../shared/data/desinventar/npl-xlsx) are imported and then
replicated in the store (new record ids, ``raw`` emptied) to ``--records`` (default
10,000,000). Each method then computes the same two results, in a fresh subprocess whose
process tree is sampled for RSS:

* ``riskatlas`` -- ``atlas.profile(6 metrics, level=1)`` + ``atlas.screen(level=1)`` on DuckDB
  (the screen also computes drivers and 1,000-draw rank stability);
* ``sql``       -- the same profile and screen as hand-written DuckDB SQL on the same store;
* ``pandas``    -- the same from a Parquet file of the needed columns, in pandas.

The parent checks that all methods agree (profile totals, screen order and scores), then
prints medians and ratios. Run ``python benchmarks/bench_analysis.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import machine, run_child, wait_until_idle  # noqa: E402
from stores import CORE, NEPAL, PARQUET_COLUMNS, build  # noqa: E402

RESULTS = HERE / "results" / "analysis.json"
METHODS = ("riskatlas", "sql", "pandas")
METRICS = ("records", "deaths", "injured", "directly_affected", "houses_destroyed",
           "houses_damaged")
TARGET_SQL_RATIO = 1.5     # RiskAtlas time / raw SQL time, at most
TARGET_PANDAS_SPEEDUP = 5  # pandas time / RiskAtlas time, at least
TARGET_PEAK_MB = 2000


# --- the methods (each runs in a child process) ----------------------------------------

def run_riskatlas(db: Path, parquet: Path) -> dict[str, Any]:
    # library imports stay outside the timing, as the baselines' duckdb and pandas do
    import ibis.backends.duckdb  # noqa: F401

    import riskatlas.api

    start = time.perf_counter()
    with riskatlas.open(db, read_only=True) as atlas:
        profile = atlas.profile(METRICS, level=1)
        screen = atlas.screen(level=1)
    end = time.perf_counter()
    return _digest(profile, screen, start, end)


PROFILE_SQL = f"""
WITH r AS (
  SELECT coalesce(country_iso3, 'XXX') AS c, coalesce(level1_code, '') AS u, level1_name,
         coalesce(hazard_group, 'unmapped:' || coalesce(hazard_term, '')) AS h, start_year,
         {', '.join(METRICS[1:])}
  FROM records),
agg AS (
  SELECT c, u, h, max(level1_name) AS admin_name, count(*)::DOUBLE AS records,
         {', '.join(f'coalesce(sum({m}), 0)::DOUBLE AS {m}' for m in METRICS[1:])}
  FROM r GROUP BY c, u, h),
long AS (UNPIVOT agg ON {', '.join(METRICS)} INTO NAME metric VALUE value),
cov AS (SELECT c, min(start_year) AS period_from, max(start_year) AS period_to FROM r GROUP BY c)
SELECT c AS country_iso3, u AS admin_code, admin_name, metric, h AS hazard, value,
       CASE WHEN sum(value) OVER w > 0 THEN value * 100.0 / sum(value) OVER w END AS share_pct,
       row_number() OVER (PARTITION BY c, u, metric ORDER BY value DESC, h) AS rank,
       period_from, period_to
FROM long JOIN cov USING (c)
WINDOW w AS (PARTITION BY c, u, metric)
"""

SCREEN_SQL = f"""
WITH r AS (
  SELECT coalesce(country_iso3, 'XXX') AS c, level1_code AS u, level1_name AS n,
         coalesce(hazard_group, 'unmapped:' || coalesce(hazard_term, '')) AS h, *
  FROM records WHERE coalesce(climate_related, false) AND coalesce(level1_code, '') <> ''),
cov AS (SELECT c, max(start_year) - min(start_year) + 1 AS years FROM r GROUP BY c),
seen AS (SELECT c, u, max(n) AS n FROM r GROUP BY c, u),
units AS (
  SELECT c, u, max(n) AS n FROM (
    SELECT * FROM seen UNION ALL
    SELECT a.country_iso3, a.code, a.name FROM admin_units a
    WHERE a.level = 1 AND a.country_iso3 IN (SELECT c FROM seen)) GROUP BY c, u),
uh AS (
  SELECT c, u, h, coalesce(sum(deaths), 0) + coalesce(sum(missing), 0) AS deaths_missing,
         coalesce(sum(injured), 0) AS injured,
         coalesce(sum(directly_affected), 0) AS directly_affected,
         coalesce(sum(houses_destroyed), 0) + 0.25 * coalesce(sum(houses_damaged), 0)
           AS houses_lost
  FROM r GROUP BY c, u, h),
grid AS (
  SELECT units.c, units.u, hz.h,
         coalesce(deaths_missing, 0) / years AS deaths_missing,
         coalesce(injured, 0) / years AS injured,
         coalesce(directly_affected, 0) / years AS directly_affected,
         coalesce(houses_lost, 0) / years AS houses_lost
  FROM units CROSS JOIN (SELECT DISTINCT h FROM uh) hz
  LEFT JOIN uh USING (c, u, h) JOIN cov ON cov.c = units.c),
long AS (UNPIVOT grid ON deaths_missing, injured, directly_affected, houses_lost
         INTO NAME indicator VALUE raw),
capped AS (
  SELECT *, least(ln(raw + 1), coalesce(quantile_cont(CASE WHEN raw > 0 THEN ln(raw + 1) END,
    0.95) OVER (PARTITION BY h, indicator), 0)) AS xc FROM long),
normed AS (
  SELECT c, u, h, CASE WHEN max(xc) OVER w > min(xc) OVER w
    THEN (xc - min(xc) OVER w) * 10.0 / (max(xc) OVER w - min(xc) OVER w) ELSE 0 END AS norm
  FROM capped WINDOW w AS (PARTITION BY h, indicator)),
hazard AS (SELECT c, u, h, avg(norm) AS hazard_score FROM normed GROUP BY c, u, h),
score AS (
  SELECT c, u, 10 - exp(sum(ln(greatest(10 - hazard_score, 1e-9)))
                        / (SELECT count(DISTINCT h) FROM hazard)) AS score
  FROM hazard GROUP BY c, u),
quality AS (
  SELECT c, u, count(DISTINCT start_year) AS years_covered, count(*) AS cards,
         ({' + '.join(f'sum(coalesce({c}_unknown, false)::INT)' for c in CORE)})
           / (count(*) * {len(CORE)}) AS unknown_share,
         sum((approval_status IN ('validated', 'published'))::INT)::DOUBLE
           / nullif(count(approval_status), 0) AS approved_share
  FROM r GROUP BY c, u)
SELECT row_number() OVER (ORDER BY round(score, 9) DESC, c, u) AS rank, c AS country_iso3,
       u AS admin_code, n AS admin_name, score,
       CASE WHEN score >= 6.5 THEN 'very_high' WHEN score >= 5 THEN 'high'
            WHEN score >= 3.5 THEN 'medium' WHEN score >= 2 THEN 'low' ELSE 'very_low' END
         AS class, years_covered, cards, unknown_share, approved_share
FROM score JOIN units USING (c, u) LEFT JOIN quality USING (c, u)
ORDER BY rank
"""


def run_sql(db: Path, parquet: Path) -> dict[str, Any]:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)
    profile = con.sql(PROFILE_SQL).df()
    screen = con.sql(SCREEN_SQL).df()
    con.close()
    end = time.perf_counter()
    return _digest(profile, screen, start, end)


def run_pandas(db: Path, parquet: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    start = time.perf_counter()
    r = pd.read_parquet(parquet, columns=list(PARQUET_COLUMNS))
    r["c"] = r["country_iso3"].fillna("XXX")
    r["h"] = r["hazard_group"].fillna("unmapped:" + r["hazard_term"].fillna(""))
    # profile
    p = r.assign(u=r["level1_code"].fillna(""))
    agg = p.groupby(["c", "u", "h"], sort=False).agg(
        admin_name=("level1_name", "max"), records=("start_year", "size"),
        **{m: (m, "sum") for m in METRICS[1:]}).reset_index()
    long = agg.melt(["c", "u", "h", "admin_name"], list(METRICS), "metric", "value")
    long["value"] = long["value"].astype("float64")
    total = long.groupby(["c", "u", "metric"])["value"].transform("sum")
    long["share_pct"] = np.where(total > 0, long["value"] * 100 / total, np.nan)
    long = long.sort_values(["c", "u", "metric", "value", "h"],
                            ascending=[True, True, True, False, True])
    long["rank"] = long.groupby(["c", "u", "metric"]).cumcount() + 1
    profile = long.rename(columns={"c": "country_iso3", "u": "admin_code", "h": "hazard"})
    # screen
    s = r[r["climate_related"].fillna(False).astype(bool) & r["level1_code"].fillna("").ne("")]
    years = s.groupby("c")["start_year"].agg(lambda y: y.max() - y.min() + 1)
    s = s.assign(deaths_missing=s["deaths"].fillna(0) + s["missing"].fillna(0),
                 houses_lost=s["houses_destroyed"].fillna(0)
                 + 0.25 * s["houses_damaged"].fillna(0))
    indicators = ["deaths_missing", "injured", "directly_affected", "houses_lost"]
    uh = s.groupby(["c", "level1_code", "h"])[indicators].sum()
    units = s.groupby(["c", "level1_code"])["level1_name"].max()
    grid = pd.MultiIndex.from_tuples(
        [(c, u, h) for (c, u) in units.index for h in sorted(s["h"].unique())],
        names=["c", "level1_code", "h"])
    uh = uh.reindex(grid, fill_value=0).reset_index()
    uh[indicators] = uh[indicators].div(uh["c"].map(years), axis=0)
    long = uh.melt(["c", "level1_code", "h"], indicators, "indicator", "raw")
    long["x"] = np.log1p(long["raw"])
    cap = long["x"].where(long["x"] > 0).groupby([long["h"], long["indicator"]]).transform(
        lambda x: x.quantile(0.95)).fillna(0)
    long["xc"] = np.minimum(long["x"], cap)
    lo = long.groupby(["h", "indicator"])["xc"].transform("min")
    hi = long.groupby(["h", "indicator"])["xc"].transform("max")
    long["norm"] = np.where(hi > lo, (long["xc"] - lo) * 10 / (hi - lo), 0.0)
    hazard = long.groupby(["c", "level1_code", "h"])["norm"].mean().reset_index()
    n = hazard["h"].nunique()
    hazard["gap"] = np.log(np.maximum(10 - hazard["norm"], 1e-9))
    score = (10 - np.exp(hazard.groupby(["c", "level1_code"])["gap"].sum() / n)).rename("score")
    unknown = sum(s[f"{c}_unknown"].fillna(False).astype(int) for c in CORE)
    q = s.assign(unknown=unknown, approved=s["approval_status"].isin(
        ["validated", "published"]).astype(int)).groupby(["c", "level1_code"]).agg(
        years_covered=("start_year", "nunique"), cards=("start_year", "size"),
        unknown=("unknown", "sum"), approved=("approved", "sum"),
        with_status=("approval_status", "count"))
    screen = pd.concat([score, q], axis=1).reset_index()
    screen["unknown_share"] = screen["unknown"] / (screen["cards"] * len(CORE))
    screen["approved_share"] = screen["approved"] / screen["with_status"].replace(0, np.nan)
    screen = screen.assign(tie=screen["score"].round(9)).sort_values(
        ["tie", "c", "level1_code"], ascending=[False, True, True])
    screen["rank"] = np.arange(1, len(screen) + 1)
    screen["class"] = pd.cut(screen["score"], [-1, 2, 3.5, 5, 6.5, 11], right=False,
                             labels=["very_low", "low", "medium", "high", "very_high"])
    screen = screen.rename(columns={"c": "country_iso3", "level1_code": "admin_code"})
    end = time.perf_counter()
    return _digest(profile, screen, start, end)


def _digest(profile: Any, screen: Any, start: float, end: float) -> dict[str, Any]:
    """What the parent compares across methods."""
    import resource

    totals = profile.groupby("metric")["value"].sum()
    top = screen.sort_values("rank").head(10)
    return {"work_s": end - start, "profile_rows": len(profile), "screen_rows": len(screen),
            "profile_totals": {k: float(v) for k, v in totals.items()},
            "screen_top": [[str(c), round(float(s), 6)]
                           for c, s in zip(top["admin_code"], top["score"], strict=True)],
            "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000}


RUNNERS = {"riskatlas": run_riskatlas, "sql": run_sql, "pandas": run_pandas}


# --- the parent --------------------------------------------------------------------------

def measure(method: str, db: Path, parquet: Path, args: argparse.Namespace) -> dict[str, Any]:
    if args.wait_idle:
        wait_until_idle(args.wait_idle)
    cmd = [sys.executable, __file__, "--child", method, "--db", str(db),
           "--parquet", str(parquet)]
    run = run_child(cmd, timeout=args.timeout)
    run["method"] = method
    if "self_maxrss_mb" in run:
        run["peak_rss_main_mb"] = max(run["peak_rss_main_mb"], run.pop("self_maxrss_mb"))
    return run


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1].get("error"), "runs": runs}
    med = {k: statistics.median(r[k] for r in ok)
           for k in ("work_s", "wall_s", "peak_rss_tree_mb", "cpu_s", "other_processes_cores")}
    return {**med, "peak_rss_tree_mb_max": max(r["peak_rss_tree_mb"] for r in ok),
            "profile_rows": ok[0]["profile_rows"], "screen_rows": ok[0]["screen_rows"],
            "repeats": len(ok), "runs": runs}


def agreement(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Differences between the methods' results (an empty list: they agree)."""
    problems = []
    first = {m: next((r for r in rs if "error" not in r), None) for m, rs in runs.items()}
    ref = first.get("riskatlas")
    for method, run in first.items():
        if run is None or ref is None or method == "riskatlas":
            continue
        for key, value in ref["profile_totals"].items():
            if not math.isclose(value, run["profile_totals"].get(key, math.nan), rel_tol=1e-9):
                problems.append(f"{method}: profile total of {key} differs")
        if [c for c, _ in ref["screen_top"]] != [c for c, _ in run["screen_top"]]:
            problems.append(f"{method}: screen order differs")
        elif any(not math.isclose(a, b, abs_tol=1e-6) for (_, a), (_, b) in
                 zip(ref["screen_top"], run["screen_top"], strict=True)):
            problems.append(f"{method}: screen scores differ")
        if ref["profile_rows"] != run["profile_rows"]:
            problems.append(f"{method}: {run['profile_rows']} profile rows, "
                            f"RiskAtlas {ref['profile_rows']}")
    return problems


def checks(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ra, sql, pd_ = (summary.get(m, {}) for m in METHODS)
    out: dict[str, Any] = {}
    if "work_s" in ra and "work_s" in sql:
        ratio = ra["work_s"] / sql["work_s"]
        out["time_vs_sql"] = {"value": round(ratio, 2), "target": f"<= {TARGET_SQL_RATIO}",
                              "pass": ratio <= TARGET_SQL_RATIO}
    if "work_s" in ra and "work_s" in pd_:
        speedup = pd_["work_s"] / ra["work_s"]
        out["speedup_vs_pandas"] = {"value": round(speedup, 1),
                                    "target": f">= {TARGET_PANDAS_SPEEDUP}",
                                    "pass": speedup >= TARGET_PANDAS_SPEEDUP}
    if "peak_rss_tree_mb_max" in ra:
        peak = ra["peak_rss_tree_mb_max"]
        out["peak_rss_mb"] = {"value": round(peak), "target": f"<= {TARGET_PEAK_MB}",
                              "pass": peak <= TARGET_PEAK_MB}
    return out


def report(summary: dict[str, dict[str, Any]], verdicts: dict[str, Any],
           problems: list[str]) -> None:
    head = (f"{'method':<10} {'work s':>8} {'wall s':>8} {'peak RSS MB':>12} {'CPU s':>7} "
            f"{'vs RiskAtlas':>12} {'others':>6}")
    print("\n" + head + "\n" + "-" * len(head))
    ra = summary.get("riskatlas", {}).get("work_s")
    for method, s in summary.items():
        if "error" in s:
            print(f"{method:<10} failed: {s['error']}")
            continue
        ratio = f"{s['work_s'] / ra:.2f}x" if ra else "-"
        print(f"{method:<10} {s['work_s']:>8.2f} {s['wall_s']:>8.2f} "
              f"{s['peak_rss_tree_mb_max']:>12,.0f} {s['cpu_s']:>7.1f} {ratio:>12} "
              f"{s['other_processes_cores']:>6.2f}")
    print("work s = time to open the store (or read the Parquet file) and compute both "
          "results (medians); wall s adds interpreter start and imports; others = CPU cores "
          "used by other processes during the run")
    print("results agree across methods" if not problems else
          "DISAGREEMENT: " + "; ".join(problems))
    for key, c in verdicts.items():
        print(f"{'PASS' if c['pass'] else 'FAIL'}  {key}: {c['value']} (target {c['target']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (medians)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="seconds to wait for idle CPUs before each run (0: don't)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(RUNNERS[args.child](args.db, args.parquet)), flush=True)
        return
    if not NEPAL.exists():
        print(f"SKIP: {NEPAL} is absent (real data in ../shared/data)")
        return
    db, parquet, meta = build(args.records)
    print(f"store: {meta['records']:,} records ({meta['base_records']:,} Nepal records × "
          f"{meta['copies']}), {meta['store_mb']:,.0f} MB; Parquet {meta['parquet_mb']:,.0f} MB")
    methods = args.methods.split(",")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for i in range(args.repeat):  # interleaved, so drift on a noisy machine hits all alike
        for method in methods:
            run = measure(method, db, parquet, args)
            runs[method].append(run)
            print(f"  run {i + 1} {method:<10} "
                  + (f"work {run['work_s']:.2f} s, peak {run['peak_rss_tree_mb']:,.0f} MB"
                     if "error" not in run else f"failed: {run['error']}"), flush=True)
    summary = {m: summarise(rs) for m, rs in runs.items()}
    problems = agreement(runs)
    verdicts = checks(summary)
    report(summary, verdicts, problems)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("benchmark", "analysis")
    data.setdefault("runs", {})[str(meta["records"])] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), "input": meta,
        "methods": summary, "agreement": problems or "ok", "targets": verdicts}
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
