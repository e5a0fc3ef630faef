"""Benchmark: where the time of one uncached web request goes, before and after.

Each endpoint of the realistic mix (``bench_web.py --mix realistic``) and the other
analysis endpoints (risk, events, sendai, the unit page) is asked through ``create_app``
(response cache off) + ``TestClient``, ``--repeat`` times with a different year window
each time, so no answer and no per-copy memo is reused: what a visitor's uncached request
costs. Every request's wall time is split into:

* ``compile``  -- Ibis → sqlglot → SQL text (``Backend.compile``);
* ``duckdb``   -- DuckDB running the SQL and handing Arrow back (incl. ``.cache()`` tables);
* ``convert``  -- Arrow → pandas in Ibis' ``execute``;
* ``build``    -- other Ibis work (building expressions), from stack samples (every 1 ms);
* ``python``   -- the rest: pandas/numpy, rendering, FastAPI (from the same samples).

Stores: the 1 M-record multi-country store of ``stores.build_multi`` (cached) and a tiny
store (Grenada, 162 cards). ``--baseline REV`` runs the same measurement on the source of
git revision REV (``git archive``, in ``work/requests/``), in the same run, and prints the
ratios. Results: ``results/requests.json``.

    .venv/bin/python benchmarks/bench_requests.py --baseline e41537b
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import machine, source_of  # noqa: E402
from stores import SHARED_DATA, build_multi  # noqa: E402

WORK = HERE / "work" / "requests"
RESULTS = HERE / "results" / "requests.json"
GRENADA = SHARED_DATA / "desinventar" / "grd" / "DI_export_grd.zip"
PHASES = ("compile", "duckdb", "convert", "build", "python")


def endpoints(country: str, unit: str, years: tuple[int, int]) -> dict[str, str]:
    """Endpoint → URL template ({y1}: a year window's end, different per repetition)."""
    y0 = years[0]
    w = f"country={country}&year_from={y0}&year_to={{y1}}"
    return {
        "api/profile": f"/api/profile?{w}&level=1&metric=deaths",
        "api/screen": f"/api/screen?{w}&level=1",
        "api/risk": f"/api/risk?{w}&level=1",
        "api/events": f"/api/events?{w}",
        "api/sendai": f"/api/sendai?{w}&level=1",
        "api/records": f"/api/records?{w}&page=3&page_size=50",
        "page/profile": f"/profile?{w}&level=1&metric=deaths",
        "page/screen": f"/screen?{w}&level=2",
        "page/unit": f"/unit/{country}/{unit}?{w}",
        "page/records": f"/records?{w}&page=3",
    }


# --- the measurement (in a child process, on the source tree it is given) -------------

class Phases:
    """Wall time of compile / DuckDB / conversion (patched Ibis backend) and stack
    samples of the request thread for the rest."""

    def __init__(self) -> None:
        self.timed = dict.fromkeys(("compile", "duckdb", "convert"), 0.0)
        self.samples: dict[str, int] = {}
        self.stop = threading.Event()

    def patch(self) -> None:
        from ibis.backends.duckdb import Backend

        compile_, execute, raw_sql = Backend.compile, Backend.execute, Backend.raw_sql
        me = self

        def timed_compile(self: Any, expr: Any, /, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return compile_(self, expr, **kw)
            finally:
                me.timed["compile"] += time.perf_counter() - t

        def timed_execute(self: Any, expr: Any, /, **kw: Any) -> Any:
            rel_of = self._to_duckdb_relation
            arrow: list[float] = []

            def relation(*a: Any, **k: Any) -> Any:
                rel = rel_of(*a, **k)
                table = rel.to_arrow_table
                t0 = time.perf_counter()
                out = table()
                arrow.append(time.perf_counter() - t0)
                rel_cached = type("R", (), {"to_arrow_table": lambda _s: out})()
                return rel_cached

            self._to_duckdb_relation = relation
            t, compiled = time.perf_counter(), me.timed["compile"]
            try:
                return execute(self, expr, **kw)
            finally:
                del self._to_duckdb_relation
                spent = time.perf_counter() - t - (me.timed["compile"] - compiled)
                inner = sum(arrow)
                me.timed["duckdb"] += inner
                me.timed["convert"] += spent - inner

        def timed_raw_sql(self: Any, query: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return raw_sql(self, query, **kw)
            finally:
                me.timed["duckdb"] += time.perf_counter() - t

        Backend.compile, Backend.execute, Backend.raw_sql = (
            timed_compile, timed_execute, timed_raw_sql)

    def sampler(self, interval: float = 0.001) -> None:
        """Classify the innermost frames of every busy thread but this one and the main."""
        me, main = threading.get_ident(), threading.main_thread().ident
        while not self.stop.wait(interval):
            for ident, frame in sys._current_frames().items():
                if ident in (me, main):
                    continue
                kind = classify(frame)
                if kind:
                    self.samples[kind] = self.samples.get(kind, 0) + 1


def classify(frame: Any) -> str | None:
    """What a thread is doing: None when idle (waiting in a pool or selector)."""
    names = []
    f = frame
    while f is not None:
        names.append((f.f_code.co_filename, f.f_code.co_name))
        f = f.f_back
    if names[0][1] in ("wait", "_worker", "select", "get", "_wait_for_tstate_lock"):
        return None
    for _, name in names:
        if name.startswith("timed_"):
            return "timed"  # counted by the timers
    file, name = names[0]
    if name in ("create_table", "_safe_raw_sql") or (
            file.endswith("store/store.py") and name in ("query", "scalar")):
        return "duckdb"  # SQL run outside Ibis' execute: a .cache() table, the browser
    for file, _ in names[:12]:
        if "/sqlglot/" in file or "/ibis/backends/" in file:
            return "compile"  # e.g. the SQL of a .cache() table
        if "/ibis/" in file:
            return "build"
    return "python"


def measure(db: str, urls: dict[str, list[str]], warm: dict[str, str]) -> dict[str, Any]:
    """Each endpoint's URLs once each (after its warm-up URL): wall ms and phases."""
    from fastapi.testclient import TestClient

    from riskatlas.web.app import create_app

    phases = Phases()
    phases.patch()
    out: dict[str, Any] = {}
    with TestClient(create_app(db, cache=False)) as http:
        for url in warm.values():  # the copy, imports, the records index
            http.get(url)
        sampler = threading.Thread(target=phases.sampler, daemon=True)
        sampler.start()
        for ep, todo in urls.items():
            runs = []
            for url in todo:
                phases.timed = dict.fromkeys(phases.timed, 0.0)
                phases.samples = {}
                t = time.perf_counter()
                status = http.get(url, headers={"accept-language": "en"}).status_code
                wall = time.perf_counter() - t
                rest = max(wall - sum(phases.timed.values()), 0.0)
                kinds = ("compile", "duckdb", "build", "python")
                n = sum(phases.samples.get(k, 0) for k in kinds)
                share = {k: rest * phases.samples.get(k, 0) / n if n else 0.0 for k in kinds}
                share["python"] = rest - share["compile"] - share["build"] - share["duckdb"]
                ms = {**phases.timed, "compile": phases.timed["compile"] + share["compile"],
                      "duckdb": phases.timed["duckdb"] + share["duckdb"],
                      "build": share["build"], "python": share["python"]}
                runs.append({"url": url, "status": status, "ms": wall * 1e3,
                             **{k: v * 1e3 for k, v in ms.items()}})
            out[ep] = {"runs": runs, **{k: statistics.median(r[k] for r in runs)
                                        for k in ("ms", *PHASES)},
                       "status": sorted({r["status"] for r in runs})}
        phases.stop.set()
    return out


def child(args: argparse.Namespace) -> None:
    spec = json.loads(Path(args.child).read_text())
    if "units" in spec:
        result = first_units(spec["db"], spec["units"], spec["prepare"])
    else:
        result = measure(spec["db"], spec["urls"], spec["warm"])
    Path(args.child).with_suffix(".out.json").write_text(json.dumps(result))


def first_units(db: str, units: list[str], prepare: int) -> dict[str, Any]:
    """Unit pages of a fresh app (response cache off), the first one cold: with
    ``prepare``, after the app prepared its copy (web/warm.py: the time it took is
    reported), else as the first request. Wall and CPU seconds of each page (the process,
    every thread; nothing else runs in it meanwhile)."""
    from fastapi.testclient import TestClient

    from riskatlas.web.app import create_app

    out: dict[str, Any] = {"prepare": prepare, "pages": []}
    app = create_app(db, cache=False, prepare=prepare)
    started, cpu0 = time.perf_counter(), time.process_time()
    with TestClient(app) as http:
        snapshots = app.state.settings.snapshots
        if prepare:
            snapshots.prepared.wait(600)
        out["prepare_wall_s"] = time.perf_counter() - started
        out["prepare_cpu_s"] = time.process_time() - cpu0
        for i, code in enumerate(units):
            lang = ("en", "zh-TW")[i % 2]
            wall, cpu = time.perf_counter(), time.process_time()
            status = http.get(f"/unit/NPL/{code}?level=1",
                              headers={"accept-language": lang}).status_code
            out["pages"].append({"code": code, "lang": lang, "status": status,
                                 "wall_s": time.perf_counter() - wall,
                                 "cpu_s": time.process_time() - cpu})
    return out


# Nepal's districts with many cards (level 1), none of them the one the preparation opens
# (the screen's first, 001003004 at the time of writing, is printed by the run)
FIRST_UNITS = ("002005027", "001003005", "001003015", "001003006")


def first_unit_pages(src: Path | None, label: str, repeat: int) -> dict[str, Any]:
    """:func:`first_units` on the real Nepal store, unprepared and prepared, ``repeat``
    fresh processes each (alternating), medians."""
    from stores import WORK as STORES
    from stores import build

    build(1)  # imports the Nepal store once (npl_base.duckdb)
    db = STORES / "npl_base.duckdb"
    runs: dict[str, list[dict[str, Any]]] = {"cold": [], "prepared": []}
    for _ in range(repeat):
        for name, prepare in (("cold", 0), ("prepared", 1)):
            spec = {"db": str(db), "units": list(FIRST_UNITS), "prepare": prepare}
            runs[name].append(run(f"units-{label}-{name}", src, spec))
    out: dict[str, Any] = {"runs": runs}
    for name, rs in runs.items():
        first = [r["pages"][0] for r in rs]
        later = [p for r in rs for p in r["pages"][1:]]
        out[name] = {"first_wall_s": statistics.median(p["wall_s"] for p in first),
                     "first_cpu_s": statistics.median(p["cpu_s"] for p in first),
                     "later_wall_s": statistics.median(p["wall_s"] for p in later),
                     "later_cpu_s": statistics.median(p["cpu_s"] for p in later),
                     "prepare_wall_s": statistics.median(r["prepare_wall_s"] for r in rs),
                     "prepare_cpu_s": statistics.median(r["prepare_cpu_s"] for r in rs),
                     "status": sorted({p["status"] for r in rs for p in r["pages"]})}
        o = out[name]
        print(f"{label} {name:<9} first unit page {o['first_wall_s']:.2f} s wall / "
              f"{o['first_cpu_s']:.2f} s CPU, later ones {o['later_wall_s']:.2f} / "
              f"{o['later_cpu_s']:.2f} s (prepared at start in {o['prepare_wall_s']:.1f} s "
              f"/ {o['prepare_cpu_s']:.1f} s CPU) status {o['status']}", flush=True)
    return out


# --- the parent ------------------------------------------------------------------------

def tiny_store() -> Path:
    db = WORK / "grenada.duckdb"
    if not db.exists():
        import riskatlas

        WORK.mkdir(parents=True, exist_ok=True)
        with riskatlas.open(db.with_suffix(".partial")) as atlas:
            atlas.import_paths([GRENADA])
        db.with_suffix(".partial").rename(db)
    return db


def run(label: str, src: Path | None, spec: dict[str, Any]) -> dict[str, Any]:
    path = WORK / f"spec-{label}.json"
    path.write_text(json.dumps(spec))
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    subprocess.run([sys.executable, __file__, "--child", str(path)], env=env, check=True,
                   timeout=3600)
    return dict(json.loads(path.with_suffix(".out.json").read_text()))


def plan(db: Path, country: str, unit: str, repeat: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    first, last = con.execute("SELECT min(start_year), max(start_year) FROM records WHERE "
                              "country_iso3 = ?", [country]).fetchone()
    con.close()
    templates = endpoints(country, unit, (first, last))
    urls = {ep: [u.format(y1=last - 1 - i) for i in range(repeat)] for ep, u in
            templates.items()}
    warm = {ep: u.format(y1=last) for ep, u in templates.items()}
    return {"db": str(db), "urls": urls, "warm": warm}


def table(label: str, results: dict[str, Any], base: dict[str, Any] | None) -> None:
    print(f"\n{label}: medians in ms" + (" (baseline → now, ratio)" if base else ""))
    head = f"{'endpoint':<13}" + "".join(f"{p:>9}" for p in ("wall", *PHASES))
    print(head + ("   before    ratio" if base else ""))
    for ep, r in results.items():
        line = f"{ep:<13}" + "".join(f"{r[p]:>9.0f}" for p in ("ms", *PHASES))
        if base and ep in base:
            line += f" {base[ep]['ms']:>8.0f} {base[ep]['ms'] / max(r['ms'], 1e-9):>7.2f}x"
        print(line + ("" if r["status"] == [200] else f"  status {r['status']}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="git revision to compare with, e.g. e41537b")
    parser.add_argument("--stores", default="tiny,large")
    parser.add_argument("--first-unit", action="store_true",
                        help="instead: the first unit pages of a fresh app on the Nepal "
                             "store, unprepared and prepared (web/warm.py)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not SHARED_DATA.exists():
        print(f"SKIP: {SHARED_DATA} is absent")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    if args.first_unit:
        print(f"load before: {os.getloadavg()}")
        units = {"now": first_unit_pages(None, "now", args.repeat)}
        print(f"load after: {os.getloadavg()}")
        if not args.no_save:
            (RESULTS.parent / "first_unit.json").write_text(json.dumps(
                {"machine": machine(), **units}, indent=1, default=str))
        return
    out: dict[str, Any] = {"machine": machine(), "baseline": args.baseline, "stores": {}}
    print(f"load before: {os.getloadavg()}")
    for name in args.stores.split(","):
        db = tiny_store() if name == "tiny" else build_multi(args.records)[0]
        country, unit = ("GRD", "GRD01") if name == "tiny" else ("NPL", "002005027")
        spec = plan(db, country, unit, args.repeat)
        now = run(f"{name}-now", None, spec)
        base = run(f"{name}-base", source_of(args.baseline, WORK), spec) if args.baseline else None
        table(f"{name} store ({db.name})", now, base)
        out["stores"][name] = {"db": db.name, "now": now, "baseline": base,
                               "load": os.getloadavg()}
    print(f"load after: {os.getloadavg()}")
    if not args.no_save:
        RESULTS.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
