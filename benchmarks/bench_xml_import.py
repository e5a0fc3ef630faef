"""Benchmark: DesInventar XML import vs. lxml-iterparse and pandas.read_xml baselines.

Builds a large DesInventar XML (default 1,100 MB) by replicating the real Grenada cards and
extension rows with new keys, then measures, each in a fresh subprocess whose whole process
tree is sampled for RSS every 50 ms:

* ``riskatlas`` -- ``riskatlas.open(db).import_paths([xml])`` into a fresh DuckDB store;
* ``lxml``      -- ``lxml.etree.iterparse`` on one core -> Parquet (fichas + extension);
* ``pandas``    -- ``pandas.read_xml(iterparse=...)`` -> Parquet (card fields only).

Run ``python benchmarks/bench_xml_import.py --help``. MB means 10**6 bytes throughout.
Figures go to stdout and to ``benchmarks/results/xml_import.json`` (keyed by file size).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import MB, TreeSampler, run_child, wait_until_idle  # noqa: E402

WORK = HERE / "work"
RESULTS = HERE / "results" / "xml_import.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCE_ZIP = SHARED_DATA / "desinventar" / "grd" / "DI_export_grd.zip"
GENERATOR_VERSION = 1
TARGET_SPEEDUP = 2.0  # RiskAtlas throughput / lxml baseline throughput
TARGET_PEAK_MB = 500.0  # peak RSS of the whole RiskAtlas process tree
BATCH_ROWS = 50_000
PANDAS_PREFIX_MB = 100
METHODS = ("riskatlas", "lxml", "pandas")


# -- building the big file --------------------------------------------------------------
@dataclasses.dataclass
class Export:
    """The Grenada export cut into the parts the generator needs."""

    head: bytes  # everything up to and including the <fichas> opening tag
    cards: list[tuple[bytes, int, bytes]]  # (before key value, key, after key value)
    middle: bytes  # </fichas> ... <extension>
    ext_rows: list[tuple[bytes, int, bytes]]
    tail: bytes  # </extension> ... end of document
    card_fields: list[str]

    @property
    def replica_bytes(self) -> int:
        return sum(len(a) + len(str(k)) + len(b) for a, k, b in self.cards + self.ext_rows)


def _section_body(xml: bytes, name: bytes) -> tuple[int, int]:
    start = xml.index(b"<" + name + b">") + len(name) + 2
    return start, xml.index(b"</" + name + b">", start)


def _keyed_rows(body: bytes, key: bytes) -> tuple[list[tuple[bytes, int, bytes]], bytes]:
    """Split a section body into <TR> blocks, each cut around the value of ``key``, and
    the whitespace after the last block."""
    blocks = re.findall(rb"\s*<TR>.*?</TR>", body, re.S)
    joined = b"".join(blocks)
    if not body.startswith(joined) or body[len(joined):].strip():
        raise ValueError("unexpected content between rows")
    pattern = re.compile(rb"(<" + key + rb">)\s*(\d+)\s*(</" + key + rb">)")
    rows = []
    for block in blocks:
        found = pattern.search(block)
        if found is None:
            raise ValueError(f"row without <{key.decode()}>")
        rows.append((block[:found.end(1)], int(found.group(2)), block[found.start(3):]))
    return rows, body[len(joined):]


def load_export(path: Path = SOURCE_ZIP) -> Export:
    with zipfile.ZipFile(path) as archive:
        member = max((i for i in archive.infolist() if i.filename.lower().endswith(".xml")),
                     key=lambda i: i.file_size)
        xml = archive.read(member)
    f0, f1 = _section_body(xml, b"fichas")
    e0, e1 = _section_body(xml, b"extension")
    cards, after_cards = _keyed_rows(xml[f0:f1], b"clave")
    ext_rows, after_ext = _keyed_rows(xml[e0:e1], b"clave_ext")
    first = re.search(rb"<TR>(.*?)</TR>", xml[f0:f1], re.S)
    fields = [t.decode() for t in re.findall(rb"<([A-Za-z_]\w*)>", first.group(1))] if first else []
    return Export(xml[:f0], cards, after_cards + xml[f1:e0], ext_rows, after_ext + xml[e1:],
                  fields)


def _replica(rows: list[tuple[bytes, int, bytes]], offset: int) -> bytes:
    return b"".join(a + str(k + offset).encode() + b for a, k, b in rows)


def build_file(size_mb: int, export: Export) -> tuple[Path, dict[str, Any]]:
    """The generated XML for ``size_mb`` (reused when its recorded size matches)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"DI_export_grd_bench_{size_mb}mb.xml"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == GENERATOR_VERSION and meta.get("bytes") == path.stat().st_size:
            print(f"reusing {path} ({meta['bytes'] / MB:,.0f} MB, {meta['cards']:,} cards)")
            return path, meta
    fixed = len(export.head) + len(export.middle) + len(export.tail)
    replicas = max(1, math.ceil((size_mb * MB - fixed) / export.replica_bytes))
    stride = 10 ** len(str(max(k for _, k, _ in export.cards + export.ext_rows)))
    print(f"building {path} ({replicas} x {len(export.cards)} cards) ...", flush=True)
    started = time.perf_counter()
    partial = path.with_suffix(".xml.part")
    with partial.open("wb", buffering=8 * 1024 * 1024) as out:
        out.write(export.head)
        for k in range(replicas):
            out.write(_replica(export.cards, k * stride))
        out.write(export.middle)
        for k in range(replicas):
            out.write(_replica(export.ext_rows, k * stride))
        out.write(export.tail)
    os.replace(partial, path)
    meta = {"version": GENERATOR_VERSION, "size_mb": size_mb, "bytes": path.stat().st_size,
            "replicas": replicas, "cards": replicas * len(export.cards),
            "extension_rows": replicas * len(export.ext_rows), "source": str(SOURCE_ZIP)}
    meta_path.write_text(json.dumps(meta, indent=2))
    print(f"  built in {time.perf_counter() - started:.1f} s: {meta['bytes'] / MB:,.0f} MB")
    return path, meta


# -- the measured work (run in a child process) -----------------------------------------
class TimedConnection:
    """A DuckDB connection proxy that records how long each statement takes."""

    def __init__(self, con: Any, log: list[dict[str, Any]]) -> None:
        self._con, self._log = con, log

    def _timed(self, method: str, sql: str, *args: Any) -> Any:
        start = time.time()
        result = getattr(self._con, method)(sql, *args)
        self._log.append({"sql": " ".join(sql.split())[:90], "start": start, "end": time.time()})
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed("executemany", sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _timed(phases: list[dict[str, Any]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            phases.append({"name": name, "start": start, "end": time.time()})
    return wrapper


def run_riskatlas(path: Path, out: Path, workers: int | None,
                  duckdb_settings: list[str]) -> dict[str, Any]:
    import riskatlas
    from riskatlas import importer
    from riskatlas.sources import registry
    from riskatlas.store.batch import ImportBatch

    phases: list[dict[str, Any]] = []
    sql_log: list[dict[str, Any]] = []
    importer.sha256_of = _timed(phases, "sha256", importer.sha256_of)  # type: ignore[assignment]
    for fmt, reader in registry.readers().items():
        registry.REGISTRY[fmt] = dataclasses.replace(reader, read=_timed(phases, "read",
                                                                          reader.read))
    ImportBatch.commit = _timed(phases, "commit", ImportBatch.commit)  # type: ignore[method-assign]
    db = out / "bench.duckdb"
    with riskatlas.open(db) as atlas:
        for setting in duckdb_settings:
            atlas.store.connection.execute(f"SET {setting}")
        atlas.store.connection = TimedConnection(  # type: ignore[assignment]
            atlas.store.connection, sql_log)
        (result,) = atlas.import_paths(
            [path], options=registry.ReadOptions(workers=workers))
    return {"records": result.records_read, "imported": result.records_imported,
            "quarantined": result.records_quarantined, "status": result.status,
            "db_mb": db.stat().st_size / MB, "phases": phases, "sql": sql_log}


def _rows_to_parquet(rows: Iterator[tuple[str, dict[str, str]]], out: Path) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pending: dict[str, list[dict[str, str]]] = {}
    writers: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def flush(section: str) -> None:
        batch = pending.pop(section, [])
        if not batch:
            return
        if section not in writers:
            schema = pa.schema([(name, pa.string()) for name in batch[0]])
            writers[section] = pq.ParquetWriter(out / f"{section}.parquet", schema)
        writers[section].write_table(pa.Table.from_pylist(batch, writers[section].schema))

    for section, row in rows:
        pending.setdefault(section, []).append(row)
        counts[section] = counts.get(section, 0) + 1
        if len(pending[section]) >= BATCH_ROWS:
            flush(section)
    for section in list(pending):
        flush(section)
    for writer in writers.values():
        writer.close()
    return counts


def run_lxml(path: Path, out: Path) -> dict[str, Any]:
    """The baseline: lxml iterparse on one core, constant memory, rows -> Parquet."""
    from lxml import etree

    def rows() -> Iterator[tuple[str, dict[str, str]]]:
        for _, elem in etree.iterparse(str(path), events=("end",), tag="TR"):
            parent = elem.getparent()
            section = parent.tag if parent is not None else ""
            if section in ("fichas", "extension"):
                yield section, {child.tag: child.text or "" for child in elem}
            elem.clear()
            while elem.getprevious() is not None:
                del parent[0]

    counts = _rows_to_parquet(rows(), out)
    return {"records": counts.get("fichas", 0), "extension_rows": counts.get("extension", 0)}


def run_pandas(path: Path, out: Path, fields: list[str]) -> dict[str, Any]:
    """pandas.read_xml in its memory-efficient iterparse mode, card fields only."""
    import pandas as pd

    frame = pd.read_xml(path, iterparse={"TR": fields}, parser="lxml")
    frame = frame.dropna(how="all")  # <TR>s of other sections have none of the card fields
    frame = frame[frame["clave"].notna()]
    frame.to_parquet(out / "fichas.parquet")
    return {"records": len(frame)}


def child_main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    started = time.time()
    if args.child == "riskatlas":
        result = run_riskatlas(Path(args.input), out, args.workers, args.duckdb_setting)
    elif args.child == "lxml":
        result = run_lxml(Path(args.input), out)
    else:
        result = run_pandas(Path(args.input), out, args.fields.split(","))
    import resource

    result.update(start=started, end=time.time(),
                  self_maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB)
    print("RESULT " + json.dumps(result), flush=True)


# -- measuring a child --------------------------------------------------------------------
def warm_cache(path: Path) -> float:
    """Read the file once so every method starts with it in the page cache."""
    started = time.perf_counter()
    with path.open("rb") as fh:
        while fh.read(8 * 1024 * 1024):
            pass
    return time.perf_counter() - started


def measure(method: str, path: Path, args: argparse.Namespace, fields: list[str],
            timeout: float) -> dict[str, Any]:
    out = WORK / f"out-{method}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method,
           "--input", str(path), "--out", str(out), "--fields", ",".join(fields)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    for setting in args.duckdb_setting:
        cmd += ["--duckdb-setting", setting]
    warmup = warm_cache(path)
    waited = wait_until_idle(args.wait_idle) if args.wait_idle else 0.0
    load_before = os.getloadavg()[0]

    def place(result: dict[str, Any], sampler: TreeSampler) -> dict[str, Any]:
        result["work_s"] = result.pop("end") - result.pop("start")
        if method == "riskatlas":
            result["phases"] = _phase_report(result.pop("phases"), sampler)
            result["slowest_sql"] = _sql_report(result.pop("sql"), sampler)
        return result

    run = run_child(cmd, timeout=timeout, sample_s=args.sample_ms / 1000, on_result=place)
    shutil.rmtree(out, ignore_errors=True)
    run.update({"method": method, "input": str(path), "input_mb": path.stat().st_size / MB,
                "cache_warmup_s": round(warmup, 2), "waited_for_idle_s": round(waited, 1),
                "load_before": load_before})
    if "self_maxrss_mb" in run:
        run["peak_rss_main_mb"] = max(run["peak_rss_main_mb"], run.pop("self_maxrss_mb"))
    return run


def _phase_report(phases: list[dict[str, Any]], sampler: TreeSampler) -> list[dict[str, Any]]:
    report = []
    for p in phases:
        report.append({"name": p["name"], "seconds": p["end"] - p["start"],
                       **sampler.window(p["start"], p["end"])})
    return report


def _sql_report(sql: list[dict[str, Any]], sampler: TreeSampler) -> list[dict[str, Any]]:
    slowest = sorted(sql, key=lambda s: s["start"] - s["end"])[:6]
    return [{"sql": s["sql"], "seconds": s["end"] - s["start"],
             "peak_rss_main_mb": sampler.window(s["start"], s["end"])["peak_rss_main_mb"]}
            for s in slowest]


# -- the report -----------------------------------------------------------------------------
def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats (peak RSS: also the maximum)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"method": runs[0]["method"], "error": runs[-1].get("error"), "runs": runs}
    med = {k: statistics.median(r[k] for r in ok) for k in
           ("wall_s", "peak_rss_tree_mb", "peak_rss_main_mb", "cpu_s", "cpu_main_s",
            "other_processes_cores")}
    input_mb, records = ok[0]["input_mb"], ok[0]["records"]
    return {"method": ok[0]["method"], "input": ok[0]["input"], "input_mb": input_mb,
            "records": records, **med, "mb_per_s": input_mb / med["wall_s"],
            "records_per_s": records / med["wall_s"],
            "peak_rss_tree_mb_max": max(r["peak_rss_tree_mb"] for r in ok),
            "repeats": len(ok), "runs": runs}


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    ra = summary.get("riskatlas", {}).get("mb_per_s")
    head = (f"{'method':<10} {'input MB':>9} {'cards':>9} {'wall s':>8} {'MB/s':>7} "
            f"{'cards/s':>9} {'peak tree MB':>13} {'peak main MB':>13} {'CPU s':>7} "
            f"{'RiskAtlas x':>11} {'others':>6}")
    print("\n" + head + "\n" + "-" * len(head))
    for method, s in summary.items():
        if "error" in s:
            print(f"{method:<10} failed: {s['error']}")
            continue
        ratio = f"{ra / s['mb_per_s']:.2f}" if ra else "-"
        print(f"{method:<10} {s['input_mb']:>9,.0f} {s['records']:>9,} {s['wall_s']:>8.1f} "
              f"{s['mb_per_s']:>7.1f} {s['records_per_s']:>9,.0f} {s['peak_rss_tree_mb']:>13,.0f} "
              f"{s['peak_rss_main_mb']:>13,.0f} {s['cpu_s']:>7.1f} {ratio:>11} "
              f"{s['other_processes_cores']:>6.2f}")
    print("RiskAtlas x = RiskAtlas MB/s / this method's MB/s; others = CPU cores used by "
          "processes outside the measured tree during the run (interference)")


def verdict(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ra, base = summary.get("riskatlas", {}), summary.get("lxml", {})
    checks: dict[str, Any] = {}
    if "mb_per_s" in ra and "mb_per_s" in base:
        speedup = ra["mb_per_s"] / base["mb_per_s"]
        checks["speedup_vs_lxml"] = {"value": round(speedup, 2), "target": TARGET_SPEEDUP,
                                     "pass": speedup >= TARGET_SPEEDUP}
    if "peak_rss_tree_mb_max" in ra:
        peak = ra["peak_rss_tree_mb_max"]
        checks["peak_rss_tree_mb"] = {"value": round(peak), "target": TARGET_PEAK_MB,
                                      "pass": peak <= TARGET_PEAK_MB}
    return checks


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_details(summary: dict[str, dict[str, Any]], checks: dict[str, Any]) -> None:
    pandas = summary.get("pandas", {})
    for run in pandas.get("runs", []):
        if run.get("note"):
            print(f"note (pandas): {run['note']}")
    ra = summary.get("riskatlas", {})
    if ra.get("runs"):
        last = ra["runs"][-1]
        print(f"\nRiskAtlas phases (last run; {last.get('processes')} processes, CPU main "
              f"{last['cpu_main_s']:.1f} s of {last['cpu_s']:.1f} s):")
        for p in last.get("phases", []):
            print(f"  {p['name']:<7} {p['seconds']:>7.1f} s  peak RSS tree "
                  f"{_fmt(p['peak_rss_tree_mb'])} MB, main {_fmt(p['peak_rss_main_mb'])} MB; "
                  "CPU main "
                  f"{_fmt(p['cpu_main_s'], '.1f')} s, all {_fmt(p['cpu_s'], '.1f')} s")
        print("  slowest SQL at commit:")
        for s in last.get("slowest_sql", []):
            print(f"    {s['seconds']:>6.2f} s  main RSS {_fmt(s['peak_rss_main_mb'])} MB  "
                  f"{s['sql']}")
    print()
    names = {"speedup_vs_lxml": "throughput vs lxml baseline (>= {t}x)",
             "peak_rss_tree_mb": "peak RSS of the import tree (<= {t:.0f} MB)"}
    for key, check in checks.items():
        print(f"{'PASS' if check['pass'] else 'FAIL'}  {names[key].format(t=check['target'])}: "
              f"{check['value']}")


def load_saved(size_mb: int, file_meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Methods measured earlier on the same file (a run of some methods completes them)."""
    if not RESULTS.exists():
        return {}
    saved = json.loads(RESULTS.read_text()).get("runs", {}).get(str(size_mb), {})
    if saved.get("file", {}).get("bytes") != file_meta["bytes"]:
        return {}
    return dict(saved.get("methods", {}))


def save(size_mb: int, file_meta: dict[str, Any], summary: dict[str, Any],
         checks: dict[str, Any], settings: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("benchmark", "xml_import")
    data.setdefault("runs", {})[str(size_mb)] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()},
        "settings": settings, "file": file_meta, "methods": summary, "targets": checks}
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"figures written to {RESULTS}")


def run_pandas_measurements(path: Path, args: argparse.Namespace, export: Export,
                            repeat: int) -> list[dict[str, Any]]:
    """pandas on the big file; on failure or timeout, on a ~100 MB file instead."""
    runs = [measure("pandas", path, args, export.card_fields, args.pandas_timeout)]
    if "error" not in runs[0]:
        runs += [measure("pandas", path, args, export.card_fields, args.pandas_timeout)
                 for _ in range(repeat - 1)]
        return runs
    reason = runs[0]["error"]
    print(f"  pandas on the full file failed ({reason}); using a {PANDAS_PREFIX_MB} MB file",
          flush=True)
    small, _ = build_file(PANDAS_PREFIX_MB, export)
    retry = [measure("pandas", small, args, export.card_fields, args.pandas_timeout)
             for _ in range(repeat)]
    for run in retry:
        run["note"] = (f"full {path.stat().st_size / MB:,.0f} MB run failed ({reason}); "
                       f"figures are for a {PANDAS_PREFIX_MB} MB file of the same rows")
    return [runs[0], *retry] if all("error" in r for r in retry) else retry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1100, help="size of the XML (10^6 B)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per method, medians reported (default 3 up to 300 MB, else 1)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--workers", type=int, default=None, help="RiskAtlas workers (default: "
                        "the importer's default)")
    parser.add_argument("--duckdb-setting", action="append", default=[],
                        help="e.g. \"memory_limit='256MB'\" (SET before the import; repeatable)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--pandas-timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--wait-idle", type=float, default=120,
                        help="before each run, wait up to this many seconds for the machine "
                        "to be idle (0: do not wait)")
    parser.add_argument("--sample-ms", type=float, default=50, help="RSS sampling interval")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON results")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--fields", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if not SOURCE_ZIP.exists():
        print(f"SKIP: the shared data is absent ({SOURCE_ZIP} not found); nothing measured")
        return
    try:
        import psutil  # noqa: F401
    except ModuleNotFoundError:
        print("SKIP: psutil is needed to sample RSS (pip install psutil)")
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if (args.workers or args.duckdb_setting) and not args.no_save:
        print("non-default --workers/--duckdb-setting: figures are not saved (experiment)")
        args.no_save = True
    repeat = args.repeat or (3 if args.size_mb <= 300 else 1)
    export = load_export()
    path, meta = build_file(args.size_mb, export)
    summary: dict[str, dict[str, Any]] = {}
    for method in methods:
        print(f"measuring {method} x{repeat} ...", flush=True)
        if method == "pandas":
            runs = run_pandas_measurements(path, args, export, repeat)
        else:
            runs = [measure(method, path, args, export.card_fields, args.timeout)
                    for _ in range(repeat)]
        for run in runs:
            state = run.get("error") or (f"{run['wall_s']:.1f} s, peak "
                                         f"{run['peak_rss_tree_mb']:,.0f} MB")
            print(f"  {method}: {state}", flush=True)
            if run.get("records") not in (None, meta["cards"]) and "note" not in run:
                print(f"  WARNING: {method} read {run['records']:,} cards, the file has "
                      f"{meta['cards']:,}")
        summary[method] = summarise(runs)
        summary[method]["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    earlier = {m: s for m, s in load_saved(args.size_mb, meta).items() if m not in summary}
    if earlier and not args.no_save:
        print("methods not run now, from earlier runs: " + ", ".join(
            f"{m} ({s.get('measured_at', '?')})" for m, s in earlier.items()))
        summary.update(earlier)
    summary = {m: summary[m] for m in METHODS if m in summary}
    checks = verdict(summary)
    print_table(summary)
    print_details(summary, checks)
    if not args.no_save:
        save(args.size_mb, meta, summary, checks,
             {"workers": args.workers, "duckdb_settings": args.duckdb_setting})


if __name__ == "__main__":
    main()
