"""Benchmark: ``riskatlas serve --workers 2`` on PostgreSQL against the same on DuckDB
(issue 16: "the web load benchmark on PostgreSQL with 2 workers").

The store is bench_web.py's: ``stores.build_multi(--records)`` (the real Nepal records
replicated to a million, plus the real Grenada and Sendai roll-up exports), copied into
``work/web_postgres/`` and brought to this schema version (the shared cache is left as it
is). A PostgreSQL server of this benchmark's own (Debian's binaries, initdb + pg_ctl as
tests/postgres_server.py does; loopback, data in ``work/web_postgres/pg/``, kept between
runs) receives the store through ``riskatlas db copy FILE URL`` (timed: wall, the copy's
CPU, the server's CPU; skipped when the database already holds the same records unless
``--recopy``). Then, in the same run, for each mix (``--mix``: repeated, realistic; the
realistic one with ``--realistic-clients`` ≥ 50 thinking clients) bench_web.run_config
drives ``riskatlas serve --workers 2`` first on the DuckDB file (the baseline: each worker
serves a private copy) and then on the PostgreSQL URL (every worker reads the database in
place: create_app turns snapshots off for postgresql:// stores). bench_web.py is imported,
not changed: its Server, clients, mixes and figures are used as they are; this file only
points its logs elsewhere and wraps its Phase to also sample the PostgreSQL server.

Reported per backend and mix: requests, errors, 4xx, cache hit rate, p50/p95, the same-run
sequential p50/p95, peak RSS per worker (the largest process of the serve tree but its
supervisor) and of the serve tree, server CPU (cores), PostgreSQL's own RSS (its process
tree summed: shared buffers are counted once per backend that touched them, so it is an
upper bound) and CPU, and ``others``: cores busy with every other process (this machine is
shared; the load average at the start is recorded too). Results:
``results/web_postgres.json``.

    .venv/bin/python benchmarks/bench_web_postgres.py                 # ~15 min
    .venv/bin/python benchmarks/bench_web_postgres.py --mix realistic --realistic-clients 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import bench_web  # noqa: E402
from measure import MB, TreeSampler, busy_cpu_s, machine  # noqa: E402
from stores import NEPAL, build_multi  # noqa: E402

WORK = HERE / "work" / "web_postgres"
RESULTS = HERE / "results" / "web_postgres.json"
DATABASE = "atlas"
WORKERS = 2


# --- the PostgreSQL server -----------------------------------------------------------

class Postgres:
    """A PostgreSQL server on loopback with its data in ``folder`` (kept between runs),
    as tests/postgres_server.py starts one, but with a serving-sized buffer cache and
    fsync on (a server's settings, not a test's)."""

    def __init__(self, folder: Path, shared_buffers: str) -> None:
        from postgres_server import PG_BIN

        self.bin, self.folder, self.data = PG_BIN, folder, folder / "data"
        self.port = bench_web.free_port()
        self._user: dict[str, Any] = {}
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._user = {"user": "postgres", "group": "postgres"}
            shutil.chown(folder, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C")
        options = (f"-h 127.0.0.1 -p {self.port} -k {folder} "
                   f"-c shared_buffers={shared_buffers} -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(folder / "log"), "-o", options,
                  "-w", "-t", "120", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(self.bin / tool), *args], check=True, capture_output=True,
                       cwd=self.folder, **self._user)

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"{self.url}/{database}", autocommit=True) as con:
            cur = con.execute(statement)
            return cur.fetchall() if cur.description else []

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def records_in(pg: Postgres, database: str) -> int | None:
    """Records of ``database``, or None when it is absent or holds no store."""
    if not pg.sql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
        return None
    try:
        return int(pg.sql("SELECT count(*) FROM records", database)[0][0])
    except Exception:  # no store there yet
        return None


def copy_in(db: Path, pg: Postgres, database: str) -> dict[str, Any]:
    """``riskatlas db copy FILE URL`` into a new database: wall, the copy's CPU (its
    process tree), the PostgreSQL server's CPU and ``others``."""
    pg.sql(f'DROP DATABASE IF EXISTS "{database}"')
    pg.sql(f'CREATE DATABASE "{database}"')
    cli = Path(sys.executable).parent / "riskatlas"
    cmd = [str(cli), "db", "copy", str(db), f"{pg.url}/{database}"]
    pg_sampler = TreeSampler(pg.pid, 0.2)
    pg_sampler.start()
    busy0, t0 = busy_cpu_s(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = TreeSampler(proc.pid, 0.2)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    for s in (sampler, pg_sampler):
        s.stop.set()
        s.join()
    cpu, pg_cpu = sum(sampler.cpu.values()), pg_sampler.window()["cpu_s"] or 0.0
    if proc.returncode:
        raise RuntimeError(f"riskatlas db copy failed ({proc.returncode}):\n{out}")
    others = max(0.0, busy_cpu_s() - busy0 - cpu - pg_cpu)
    return {"command": " ".join(cmd[1:]), "wall_s": wall, "cpu_s": cpu, "pg_cpu_s": pg_cpu,
            "peak_rss_mb": sampler.peak()[0],
            "pg_peak_rss_tree_mb": pg_sampler.window()["peak_rss_tree_mb"],
            "others_cores": others / wall, "output_tail": out.strip().splitlines()[-3:]}


def end_orphans(pg: Postgres, database: str) -> int:
    """End the queries still running in ``database`` once a server has stopped (a query
    whose client gave up runs on until it sends rows: no statement timeout is set), so
    that they do not load the next configuration; how many were ended."""
    rows = pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                  f"'{database}' AND pid <> pg_backend_pid()")
    return len(rows)


def database_mb(pg: Postgres, database: str) -> float:
    return float(pg.sql(f"SELECT pg_database_size('{database}')")[0][0]) / MB


# --- bench_web's phases, with the PostgreSQL server sampled too ----------------------

PG_SAMPLER: TreeSampler | None = None


class Phase(bench_web.Phase):
    """bench_web.Phase, plus the PostgreSQL server's CPU and RSS over the same window
    (taken out of ``others``, which is then every process but the serve tree, this
    benchmark and PostgreSQL)."""

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if PG_SAMPLER is None:
            return
        pg = PG_SAMPLER.window(self.t0, time.time())
        wall = self.figures["wall_s"]
        cpu = pg["cpu_s"] or 0.0
        self.figures.update({"pg_cpu_s": cpu, "pg_cores": cpu / wall if wall else 0.0,
                             "pg_peak_rss_tree_mb": pg["peak_rss_tree_mb"],
                             "pg_peak_rss_backend_mb": pg["peak_rss_worker_mb"],
                             "others_cores": max(0.0, self.figures["others_cores"]
                                                 - (cpu / wall if wall else 0.0))})


def run(store: str | Path, backend: str, mix_name: str, args: argparse.Namespace,
        draw: Any) -> dict[str, Any]:
    """bench_web.run_config for ``riskatlas serve --db STORE --workers 2`` (its log in
    ``work/web_postgres/<backend>/``)."""
    bench_web.WORK = WORK / backend
    bench_web.Phase = Phase  # type: ignore[misc]
    # bench_web's Server puts str(db) on the command line: a URL passes as it is
    result = bench_web.run_config(store, WORKERS, args, mix_name, draw)  # type: ignore[arg-type]
    result["backend"] = backend
    for key in ("pg_peak_rss_tree_mb", "pg_peak_rss_backend_mb"):
        values = [result[p].get(key) for p in ("warmup", "baseline", "load")
                  if isinstance(result.get(p), dict)]
        if any(v is not None for v in values):
            result[key] = max(v or 0.0 for v in values)
    return result


def summary(configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: the figures the README's table shows."""
    rows = []
    for name, c in configs.items():
        if "error" in c or "load" not in c:
            rows.append({"config": name, "error": c.get("error", "no load phase")})
            continue
        load = c["load"]
        o, b = load["endpoints"]["overall"], c["baseline"]["endpoints"]["overall"]
        rows.append({
            "config": name, "requests": o["requests"], "wall_s": load["wall_s"],
            "errors": o["errors"], "refused": o["refused"], "hit_rate": o["cache_hit_rate"],
            "p50_ms": o["p50_ms"], "p95_ms": o["p95_ms"], "seq_p50_ms": b["p50_ms"],
            "seq_p95_ms": b["p95_ms"], "rss_worker_mb": c["peak_rss_worker_mb"],
            "rss_tree_mb": c["peak_rss_tree_mb"], "server_cores": load["server_cores"],
            "pg_rss_tree_mb": c.get("pg_peak_rss_tree_mb"),
            "pg_rss_backend_mb": c.get("pg_peak_rss_backend_mb"),
            "pg_cores": load.get("pg_cores"), "others_cores": load["others_cores"]})
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    f = bench_web.fmt
    head = (f"{'configuration':<30} {'req':>5} {'err':>4} {'4xx':>4} {'hit%':>5} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'seq p50':>7} {'seq p95':>7} {'RSS/wkr':>8} "
            f"{'cores':>5} {'PG RSS':>7} {'PG cores':>8} {'others':>6}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['config']:<30} failed: {r['error']}")
            continue
        hit = None if r["hit_rate"] is None else r["hit_rate"] * 100
        print(f"{r['config']:<30} {r['requests']:>5} {r['errors']:>4} {r['refused']:>4} "
              f"{f(hit):>5} {f(r['p50_ms']):>7} {f(r['p95_ms']):>7} {f(r['seq_p50_ms']):>7} "
              f"{f(r['seq_p95_ms']):>7} {f(r['rss_worker_mb']):>8} "
              f"{f(r['server_cores'], '.2f'):>5} {f(r['pg_rss_tree_mb']):>7} "
              f"{f(r['pg_cores'], '.2f'):>8} {f(r['others_cores'], '.2f'):>6}")
    print("RSS/wkr = peak RSS of the largest serve worker (MB); cores = the serve tree's "
          "CPU ÷ wall; PG RSS = the PostgreSQL tree's peak RSS summed (an upper bound); "
          "others = cores busy with every other process")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--mix", default="repeated,realistic",
                   help="bench_web mixes, comma-separated (repeated, realistic, stress)")
    p.add_argument("--backends", default="duckdb,postgres")
    p.add_argument("--shared-buffers", default="256MB", help="PostgreSQL's buffer cache")
    p.add_argument("--recopy", action="store_true",
                   help="copy the store into PostgreSQL even when it is there already")
    # bench_web.run_config's settings (same names and defaults as bench_web.py's)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests-per-client", type=int, default=50)
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--think-s", type=float, default=bench_web.THINK_S)
    p.add_argument("--realistic-clients", type=int, default=50)
    p.add_argument("--realistic-seconds", type=float, default=30.0)
    p.add_argument("--realistic-requests", type=int, default=100_000)
    p.add_argument("--main-share", type=float, default=0.5)
    p.add_argument("--baseline-requests", type=int, default=36)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=10.0)
    p.add_argument("--sample-ms", type=float, default=100.0)
    p.add_argument("--keep-requests", action="store_true")
    p.add_argument("--no-save", action="store_true")
    return p.parse_args()


def main() -> None:
    global PG_SAMPLER
    args = parse()
    if not NEPAL.exists():
        print(f"SKIP: {NEPAL} is absent (real data in ../shared/data)")
        return
    from postgres_server import binaries_missing

    if (why := binaries_missing()) is not None:
        print(f"SKIP: {why}")
        return
    load_avg = os.getloadavg()
    print(f"load average at start: {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}",
          flush=True)
    source, meta = build_multi(args.records)
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / source.name
    if not db.exists() or db.stat().st_mtime < source.stat().st_mtime:
        import riskatlas

        shutil.copyfile(source, WORK / "partial.duckdb")
        riskatlas.open(WORK / "partial.duckdb").close()  # migrates to this schema version
        (WORK / "partial.duckdb").rename(db)
    print(f"store: {meta['records']:,} records, {db.stat().st_size / MB:,.0f} MB ({db})",
          flush=True)
    countries = bench_web.catalogue(db)
    pg = Postgres(WORK / "pg", args.shared_buffers)
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
                           "load_average_at_start": load_avg, "input": meta,
                           "workers": WORKERS, "settings": vars(args), "configs": {}}
    try:
        url = f"{pg.url}/{DATABASE}"
        found = records_in(pg, DATABASE)
        if args.recopy or found != meta["records"]:
            print(f"riskatlas db copy {db.name} → PostgreSQL ...", flush=True)
            out["db_copy"] = copy_in(db, pg, DATABASE)
            c = out["db_copy"]
            print(f"  {c['wall_s']:.0f} s wall, copy CPU {c['cpu_s']:.1f} s, PostgreSQL "
                  f"CPU {c['pg_cpu_s']:.1f} s, others {c['others_cores']:.2f} cores",
                  flush=True)
        else:
            print(f"PostgreSQL already holds the {found:,} records (--recopy to copy again)")
        out["postgres"] = {"database_mb": database_mb(pg, DATABASE),
                           "shared_buffers": args.shared_buffers,
                           "version": pg.sql("SHOW server_version")[0][0]}
        print(f"PostgreSQL database: {out['postgres']['database_mb']:,.0f} MB", flush=True)
        PG_SAMPLER = TreeSampler(pg.pid, args.sample_ms / 1000)
        PG_SAMPLER.start()
        stores: dict[str, str | Path] = {"duckdb": db, "postgres": url}
        for mix_name in args.mix.split(","):
            draw = (bench_web.realistic(countries, args.main_share)
                    if mix_name in ("realistic", "stress") else None)
            for backend in args.backends.split(","):
                name = f"{mix_name} {backend} workers={WORKERS}"
                before = os.getloadavg()
                print(f"{name}: (load average {before[0]:.2f})", flush=True)
                out["configs"][name] = run(stores[backend], backend, mix_name, args, draw)
                out["configs"][name]["load_average_before"] = before
                if backend == "postgres":
                    out["configs"][name]["orphan_queries_ended"] = end_orphans(pg, DATABASE)
    finally:
        if PG_SAMPLER is not None:
            PG_SAMPLER.stop.set()
        pg.stop()
    bench_web.report(out["configs"])
    out["summary"] = summary(out["configs"])
    print_summary(out["summary"])
    if args.no_save:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved.setdefault("benchmark", "web_postgres")
    saved.setdefault("runs", {}).setdefault(str(meta["records"]), {})[out["date"]] = out
    RESULTS.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    print(f"figures written to {RESULTS} (MB of {MB:,} bytes)")


if __name__ == "__main__":
    main()
