"""Benchmark: `riskatlas assess` on Nepal's store (25,849 records), before vs after.

Each run is the whole command in a fresh process (``riskatlas assess --country NPL --lang
L --out DIR --db COPY``, with the PDF through Chromium) on a fresh copy of one Nepal store,
whose process tree (Chromium included) is sampled for CPU time and RSS. A run's wall time
is split into ``startup`` (interpreter and CLI imports), ``analyses`` (opening the store and
every analysis) and ``write`` (HTML, PDF, CSV and XLSX). Languages: ``en``, ``zh-TW`` and
``en,zh-TW`` (both from one run of the analyses, where the source can). ``--baseline REV``
runs the same commands on the source of git revision REV (``measure.source_of``) in the
same session, alternating with the current source run by run so that both see the same
load. Medians of ``--repeat`` runs; figures in ``results/assess.json``.

    .venv/bin/python benchmarks/bench_assess.py --baseline cfb861a~1
    .venv/bin/python benchmarks/bench_assess.py --now HEAD --baseline c964a8d \
        --langs en,zh-TW,en+zh-TW

``--now REV`` measures a committed revision instead of the working tree (which holds what
other sessions have not committed yet). The current source runs twice over: ``warm``, with
the compiled SQL that an earlier run of the same command left in its cache
(``$RISKATLAS_SQL_CACHE``, analysis/compiled.py; filled by one run before the measured ones),
and ``cold``, with an empty cache each run (a version's first run, which also fills it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import machine, run_child, source_of, wait_until_idle  # noqa: E402

WORK = HERE / "work" / "assess"
RESULTS = HERE / "results" / "assess.json"
NEPAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "desinventar" / "npl-xlsx"
PHASES = ("startup", "analyses", "write")


def child(args: argparse.Namespace) -> None:
    """One `riskatlas assess` in this process, with the writer timed."""
    started = time.perf_counter()
    import riskatlas.report.writer as writer
    from riskatlas.cli import main

    spent = {"write": 0.0}
    for name in ("write_report", "write_reports"):  # the baseline may have one only
        if hasattr(writer, name):
            setattr(writer, name, timed(getattr(writer, name), spent))
    sys.argv = ["riskatlas", "assess", "--country", "NPL", "--lang", args.lang, "--out",
                args.out, "--db", args.db]
    ready = time.perf_counter()
    try:
        main()
    except SystemExit as exc:
        if exc.code:
            raise
    done = time.perf_counter()
    pdfs = sorted(str(p.relative_to(args.out)) for p in Path(args.out).rglob("*.pdf"))
    print("RESULT " + json.dumps({"phases": {
        "startup": ready - started, "analyses": done - ready - spent["write"],
        "write": spent["write"]}, "pdfs": pdfs}), flush=True)


def unit_child(args: argparse.Namespace) -> None:
    """The web app's first unit pages on a fresh app (response cache off): the first one
    cold, then others of the same level in the other language and again (the unit page
    route, as bench_requests asks it)."""
    import resource

    from fastapi.testclient import TestClient

    from riskatlas.web.app import create_app

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    pages = []
    with TestClient(create_app(args.db, cache=False)) as http:
        for lang, code in zip(("en", "zh-TW", "en", "zh-TW"), UNITS, strict=True):
            wall, used = time.perf_counter(), cpu()
            status = http.get(f"/unit/NPL/{code}", headers={"accept-language": lang}
                              ).status_code
            pages.append({"lang": lang, "code": code, "status": status,
                          "wall_s": time.perf_counter() - wall, "cpu_s": cpu() - used})
    print("RESULT " + json.dumps({"pages": pages}), flush=True)


# Nepal's districts with the most cards (level 1)
UNITS = ("002005027", "001003005", "001003015", "001003004")


def timed(function: Any, spent: dict[str, float]) -> Any:
    def run(*a: Any, **k: Any) -> Any:
        mark = time.perf_counter()
        try:
            return function(*a, **k)
        finally:
            spent["write"] += time.perf_counter() - mark
    return run


def run_text(run: dict[str, Any]) -> str:
    others = f"others {run['other_processes_cores']:.2f} cores"
    if "pages" in run:
        return ", ".join(f"{p['lang']} {p['wall_s']:.1f} s / {p['cpu_s']:.1f} s CPU"
                         for p in run["pages"]) + f", {others}"
    return (f"wall {run['wall_s']:.1f} s, cpu {run['cpu_s']:.1f} s, " + ", ".join(
        f"{k} {v:.1f}" for k, v in run["phases"].items()) + f", {others}")


def nepal_store() -> Path:
    """The Nepal store, imported once (by the current source) and reused."""
    db = WORK / "nepal.duckdb"
    if not db.exists():
        import riskatlas
        from riskatlas.sources.registry import ReadOptions

        WORK.mkdir(parents=True, exist_ok=True)
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with riskatlas.open(partial) as atlas:
            atlas.import_paths([NEPAL], options=ReadOptions(country="NPL"))
        partial.rename(db)
    return db


def one_run(label: str, src: Path | None, lang: str, db: Path,
            sql_cache: str = "off") -> dict[str, Any]:
    """One command; ``sql_cache``: ``cold`` (an empty cache), ``warm`` (the one that the
    runs of this label fill) or ``off``."""
    copy = WORK / f"run-{label}.duckdb"
    shutil.copyfile(db, copy)
    out = WORK / f"out-{label}"
    shutil.rmtree(out, ignore_errors=True)
    cache = WORK / f"sql-cache-{label}"
    if sql_cache != "warm":
        shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, RISKATLAS_SQL_CACHE=str(cache) if sql_cache != "off" else "off")
    if src:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, __file__, "--child", "--lang", lang, "--out", str(out), "--db",
           str(copy)]
    old_env = os.environ.copy()
    if env:
        os.environ.update(env)
    try:
        run = run_child(cmd, timeout=1800)
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    copy.unlink(missing_ok=True)
    return run


def summary(runs: list[dict[str, Any]], langs: int) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1].get("error") if runs else "no run"}
    med = statistics.median
    if "pages" in ok[0]:  # unit pages: per page of the sequence
        return {"pages": [{"lang": p["lang"], "wall_s": med(r["pages"][i]["wall_s"] for r in ok),
                           "cpu_s": med(r["pages"][i]["cpu_s"] for r in ok),
                           "status": sorted({r["pages"][i]["status"] for r in ok})}
                          for i, p in enumerate(ok[0]["pages"])],
                "others_cores": med(r["other_processes_cores"] for r in ok), "repeats": len(ok)}
    return {"wall_s": med(r["wall_s"] for r in ok), "cpu_s": med(r["cpu_s"] for r in ok),
            "per_language_wall_s": med(r["wall_s"] for r in ok) / langs,
            "per_language_cpu_s": med(r["cpu_s"] for r in ok) / langs,
            "wall_runs_s": [r["wall_s"] for r in ok], "cpu_runs_s": [r["cpu_s"] for r in ok],
            "phases_s": {p: med(r["phases"][p] for r in ok) for p in PHASES},
            "peak_rss_tree_mb": max(r["peak_rss_tree_mb"] for r in ok),
            "others_cores": med(r["other_processes_cores"] for r in ok),
            "pdfs": ok[0]["pdfs"], "repeats": len(ok)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--lang", help=argparse.SUPPRESS)
    parser.add_argument("--langs", default="en,zh-TW,en+zh-TW,unit",
                        help="runs to make, comma separated; en+zh-TW: both in one run; "
                             "unit: the web app's first unit pages")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="git revision to compare with, e.g. cfb861a~1")
    parser.add_argument("--now", help="git revision measured as 'now' (default: the working "
                        "tree, with whatever others left uncommitted in it)")
    parser.add_argument("--single-language-baseline", action="store_true",
                        help="the baseline's --lang takes one language: no en+zh-TW run")
    parser.add_argument("--wait-idle", type=float, default=0.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.child:
        (unit_child if args.lang == "unit" else child)(args)
        return
    if not NEPAL.exists():
        print(f"SKIP: {NEPAL} is absent (real data in ../shared/data)")
        return
    db = nepal_store()
    base_src = source_of(args.baseline, WORK) if args.baseline else None
    now_src = source_of(args.now, WORK) if args.now else None
    # (variant, source, compiled-SQL cache): the current source warm and cold
    variants = [("warm", now_src, "warm"), ("cold", now_src, "cold"),
                *([("before", base_src, "off")] if base_src else [])]
    results: dict[str, dict[str, Any]] = {}
    for spec in args.langs.split(","):
        lang = spec.replace("+", ",")
        # a baseline whose --lang takes one language only (before cfb861a) skips en+zh-TW
        here = [v for v in variants if "+" not in spec or v[0] != "before"
                or not args.single_language_baseline]
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v, _, _ in here}
        # the warm cache: filled by one run of the command, not measured (and by the
        # process it forks when it ends: waited for)
        shutil.rmtree(WORK / f"sql-cache-warm-{spec}", ignore_errors=True)
        one_run(f"warm-{spec}", now_src, lang, db, "warm")
        wait_until_idle(30)
        for i in range(args.repeat):
            for variant, src, cache in here:  # alternating: all see the same load
                if args.wait_idle:
                    wait_until_idle(args.wait_idle)
                run = one_run(f"{variant}-{spec}", src, lang, db, cache)
                runs[variant].append(run)
                print(f"  {spec:<9} {variant:<6} run {i + 1}: " + (
                    run_text(run) if "error" not in run else f"failed: {run['error']}"),
                      flush=True)
        results[spec] = {v: {"summary": summary(r, lang.count(",") + 1), "runs": r}
                         for v, r in runs.items()}
    print(f"\nriskatlas assess, Nepal store, medians of {args.repeat} (wall / CPU of the "
          "process tree, s)")
    print(f"{'lang':<10}{'variant':<8}{'wall':>7}{'cpu':>7}{'wall/l':>7}{'cpu/l':>7}" + "".join(
        f"{p:>10}" for p in PHASES) + f"{'others':>8}")
    for spec, by_variant in results.items():
        for variant, found in by_variant.items():
            s = found["summary"]
            if "error" in s:
                print(f"{spec:<10}{variant:<8} failed: {s['error']}")
                continue
            if "pages" in s:
                print(f"{spec:<10}{variant:<8} " + ", ".join(
                    f"{p['lang']} {p['wall_s']:.1f} / {p['cpu_s']:.1f}" for p in s["pages"])
                    + f"  (wall / CPU of each page in turn; others {s['others_cores']:.2f})")
                continue
            print(f"{spec:<10}{variant:<8}{s['wall_s']:>7.1f}{s['cpu_s']:>7.1f}"
                  f"{s['per_language_wall_s']:>7.1f}{s['per_language_cpu_s']:>7.1f}" + "".join(
                      f"{s['phases_s'][p]:>10.1f}" for p in PHASES)
                  + f"{s['others_cores']:>8.2f}")
    if not args.no_save:  # the runs of other --langs saved before stay
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        runs = {**saved.get("results", {}), **{
            spec: {**found, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "baseline": args.baseline, "now": args.now, "load": os.getloadavg()}
            for spec, found in results.items()}}
        RESULTS.write_text(json.dumps({"benchmark": "assess", "machine": machine(),
                                       "results": runs}, indent=1) + "\n")
        print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
