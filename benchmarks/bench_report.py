"""Benchmark: the full `riskatlas assess` report for Nepal (25,849 records, 25 xlsx parts).

Each run, in a fresh subprocess whose process tree is sampled for RSS, imports the 25 parts
into a new store and produces the whole report (analyses, advice and peers, HTML, CSV and
XLSX tables, PDF through Chromium while the tables are written), timing each phase. The
import of the same files is the baseline measured in the same run: the report's cost is
stated as a multiple of it.
Run ``python benchmarks/bench_report.py --help``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import machine, run_child, wait_until_idle  # noqa: E402

WORK = HERE / "work" / "report"
RESULTS = HERE / "results" / "report.json"
NEPAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "desinventar" / "npl-xlsx"
PHASES = ("import", "assess", "write")  # write: HTML, then PDF and tables in parallel


def child(lang: str) -> dict[str, Any]:
    import riskatlas.api  # library imports stay outside the timing
    from riskatlas.report.writer import write_report
    from riskatlas.sources.registry import ReadOptions

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    times: dict[str, float] = {}
    start = time.perf_counter()
    with riskatlas.open(WORK / "nepal.duckdb") as atlas:
        atlas.import_paths([NEPAL], options=ReadOptions(country="NPL"))
        times["import"] = time.perf_counter() - start
        mark = time.perf_counter()
        a = atlas.assess(country="NPL", lang=lang)
        times["assess"] = time.perf_counter() - mark
    mark = time.perf_counter()
    files = write_report(a, WORK)
    times["write"] = time.perf_counter() - mark
    if files.pdf is None:
        raise SystemExit(f"no PDF: {files.pdf_error}")
    return {"phases": times, "records": len(a.records), "units": len(a.screen),
            "level": a.level, "html_kb": files.html.stat().st_size / 1e3,
            "pdf_kb": files.pdf.stat().st_size / 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lang", default="en", choices=("en", "zh-TW"))
    parser.add_argument("--wait-idle", type=float, default=60.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.lang)), flush=True)
        return
    if not NEPAL.exists():
        print(f"SKIP: {NEPAL} is absent (real data in ../shared/data)")
        return
    runs = []
    for i in range(args.repeat):
        if args.wait_idle:
            wait_until_idle(args.wait_idle)
        run = run_child([sys.executable, __file__, "--child", "--lang", args.lang],
                        timeout=1800)
        runs.append(run)
        print(f"  run {i + 1}: " + (", ".join(f"{k} {v:.1f} s" for k, v in run["phases"].items())
                                    if "error" not in run else f"failed: {run['error']}"),
              flush=True)
    ok = [r for r in runs if "error" not in r]
    if not ok:
        sys.exit("every run failed")
    phases = {p: statistics.median(r["phases"][p] for r in ok) for p in PHASES}
    report_s = sum(v for k, v in phases.items() if k != "import")
    summary = {
        "records": ok[0]["records"], "units": ok[0]["units"], "level": ok[0]["level"],
        "lang": args.lang, "phases_s": phases, "report_s": report_s,
        "total_s": statistics.median(r["wall_s"] for r in ok),
        "report_vs_import": report_s / phases["import"],
        "peak_rss_tree_mb": max(r["peak_rss_tree_mb"] for r in ok),
        "other_processes_cores": statistics.median(r["other_processes_cores"] for r in ok),
        "html_kb": ok[0]["html_kb"], "pdf_kb": ok[0]["pdf_kb"], "repeats": len(ok)}
    print(f"\nNepal ({summary['records']:,} records, {summary['units']} units at level "
          f"{summary['level']}), report in {args.lang}, medians of {len(ok)} runs:")
    for phase, seconds in phases.items():
        print(f"  {phase:<7} {seconds:6.1f} s")
    print(f"  report (all but import) {report_s:.1f} s = {summary['report_vs_import']:.1f}× the "
          f"import; whole job {summary['total_s']:.1f} s wall; peak RSS "
          f"{summary['peak_rss_tree_mb']:,.0f} MB (with Chromium); others "
          f"{summary['other_processes_cores']:.2f} cores")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "report", "date": time.strftime(
        "%Y-%m-%dT%H:%M:%S"), "machine": machine(), "summary": summary, "runs": runs},
        indent=2) + "\n")
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
