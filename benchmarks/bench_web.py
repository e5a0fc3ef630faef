"""Benchmark: the web app (``riskatlas serve``) under a bounded loopback load.

The 25,849 real Nepal records are replicated to ``--records`` (default 1,000,000; the store
is shared with bench_analysis.py, see stores.py). For each server configuration
(``--workers``: 1 = the command's default, 2 = ``--workers 2``) the real CLI is started on
127.0.0.1 and a free port, its process tree sampled (RSS, CPU), and then:

1. warm-up, not counted: every endpoint once, the record browser once per filter (the
   first request copies the store, the first records request indexes the copy, the first
   of each filter counts its matches: what a server running for a while has done);
2. baseline: one client issues ``--baseline-requests`` of the mix sequentially;
3. load: ``--clients`` threads, each with its own ``httpx.Client``, issue up to
   ``--requests-per-client`` requests of the mix, stopping at ``--max-seconds``.

The mixes (``--mix``): ``repeated``, the JSON API (profile, screen, records pages with
hazard/year filters) and the HTML pages (profile, screen, records) about Nepal, no think
time; ``realistic``, 50 clients asking about random countries, units, hazards, years, pages
and languages, each thinking an exponential time of mean ``--think-s`` (2 s) between
requests, as people do; ``stress``, the realistic requests with no think time. Reported
per endpoint and overall: requests, errors (non-2xx or transport errors), throughput,
p50/p95/p99 latency, the same-run sequential p50/p95 (concurrency cost as a ratio), server
peak RSS and CPU, and ``others`` (cores busy with other processes). ``--profile`` adds an
in-process diagnosis (create_app + TestClient: per-endpoint time, cProfile of each
endpoint, the analyses timed on their own).
Run ``python benchmarks/bench_web.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import MB, TreeSampler, busy_cpu_s, machine, wait_until_idle  # noqa: E402
from stores import NEPAL, build_multi  # noqa: E402

WORK = HERE / "work" / "web"
RESULTS = HERE / "results" / "web.json"
TARGET_P95_MS = 150.0
TARGET_RSS_WORKER_MB = 600.0
COUNTRY = "NPL"
MIXES = ("repeated", "realistic", "stress")
# the realistic mix's clients model people: after each answer a client "thinks" (reads the
# page) for an exponentially distributed time of this mean before its next request, as load
# tools model users (Locust's wait_time, JMeter's timers, k6's sleep); real visitors of a
# dashboard read a page for longer, so this is on the busy side. The stress mix is the same
# requests with no think time (a closed loop: each client fires again at once).
THINK_S = 2.0
# endpoint → how its URLs vary (records pages and filters are drawn per request)
ENDPOINTS = ("api/profile", "api/screen", "api/records", "page/profile", "page/screen",
             "page/records")
RECORD_FILTERS = ("", "&hazard=flood", "&year_from=2000", "&hazard=landslide&year_from=1990",
                  "&hazard=storm&year_to=2005")


def url_of(endpoint: str, rng: random.Random, filters: str | None = None,
           page: int | None = None) -> str:
    """A URL of ``endpoint``; records pages and filters drawn unless given."""
    page = page or rng.choice((1, 2, 3, rng.randint(4, 100), rng.randint(100, 1000)))
    filters = rng.choice(RECORD_FILTERS) if filters is None else filters
    return {
        "api/profile": f"/api/profile?country={COUNTRY}&level=1&metric=deaths",
        "api/screen": f"/api/screen?country={COUNTRY}&level=1",
        "api/records": f"/api/records?country={COUNTRY}&page={page}&page_size=50{filters}",
        "page/profile": f"/profile?country={COUNTRY}&level=1&metric=deaths",
        "page/screen": f"/screen?country={COUNTRY}&level=1",
        "page/records": f"/records?country={COUNTRY}&page={page}{filters}",
    }[endpoint]


Request = tuple[str, str, str]  # endpoint, URL, Accept-Language ("" = none)


def mix(clients: int, per_client: int, seed: int,
        draw: Any = None) -> list[list[Request]]:
    """Each client's requests: the endpoints in turn (client c starts at endpoint c), so
    every endpoint gets the same share and the mix is even at any moment. ``draw(endpoint,
    rng)`` gives (URL, language); default: the repeated mix (Nepal, English)."""
    rng = random.Random(seed)
    draw = draw or (lambda ep, rng: (url_of(ep, rng), ""))
    return [[(ep := ENDPOINTS[(c + i) % len(ENDPOINTS)], *draw(ep, rng))
             for i in range(per_client)] for c in range(clients)]


# --- the realistic mix ---------------------------------------------------------------

METRICS = ("deaths", "injured", "missing", "directly_affected", "houses_destroyed",
           "houses_damaged", "records")
LANGUAGES = ("en", "zh-TW")


def catalogue(db: Path) -> dict[str, dict[str, Any]]:
    """What a visitor can ask about, per country of the published records: the levels
    with unit codes, the units of each level, the years and the hazard groups."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, dict[str, Any]] = {}
        rows = con.execute(
            "SELECT country_iso3, count(*), list(DISTINCT start_year ORDER BY start_year) "
            "FILTER (start_year IS NOT NULL), list(DISTINCT hazard_group ORDER BY "
            "hazard_group) FILTER (hazard_group IS NOT NULL), "
            "list(DISTINCT level1_code ORDER BY level1_code) FILTER (level1_code IS NOT NULL), "
            "list(DISTINCT level2_code ORDER BY level2_code) FILTER (level2_code IS NOT NULL) "
            "FROM records WHERE approval_status = 'published' AND country_iso3 IS NOT NULL "
            "GROUP BY ALL ORDER BY 2 DESC").fetchall()
        for iso, n, years, hazards, units1, units2 in rows:
            units = {lvl: list(u or []) for lvl, u in ((1, units1), (2, units2)) if u}
            out[iso] = {"records": n, "years": list(years or []),
                        "hazards": list(hazards or []), "units": units,
                        "levels": [0, *units]}
        return out
    finally:
        con.close()


def realistic(countries: dict[str, dict[str, Any]], main_share: float = 0.5) -> Any:
    """``draw(endpoint, rng)`` of the realistic mix: a country (the largest with
    probability ``main_share``, else any other, uniformly), a language, a level and unit
    of that country, a hazard, a year window and a page, each optional."""
    names = list(countries)
    main, others = names[0], names[1:] or names

    def draw(endpoint: str, rng: random.Random) -> tuple[str, str]:
        iso = main if rng.random() < main_share else rng.choice(others)
        c = countries[iso]
        q: list[str] = [f"country={iso}"]
        kind = endpoint.split("/")[1]
        if c["years"] and rng.random() < 0.5:
            y0 = rng.choice(c["years"])
            q += [f"year_from={y0}", f"year_to={rng.choice([y for y in c['years'] if y >= y0])}"]
        if kind in ("profile", "screen"):
            level = rng.choice(c["levels"] if kind == "profile" else c["levels"][-2:])
            q.append(f"level={level}")
        if kind == "profile":
            q.append(f"metric={rng.choice(METRICS)}")
        if kind == "records":
            if c["hazards"] and rng.random() < 0.4:
                q.append(f"hazard={rng.choice(c['hazards'])}")
            if c["units"] and rng.random() < 0.2:
                q.append(f"admin={rng.choice(c['units'][rng.choice(list(c['units']))])}")
            r = rng.random()
            page = 1 if r < 0.4 else rng.randint(2, 10) if r < 0.8 else rng.randint(11, 1000)
            q.append(f"page={page}")
            if endpoint.startswith("api/"):
                q.append("page_size=50")
        path = {"api": "/api/", "page": "/"}[endpoint.split("/")[0]] + kind
        return f"{path}?{'&'.join(q)}", rng.choice(LANGUAGES)

    return draw


# --- the server ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``riskatlas serve`` in its own session, with its process tree sampled."""

    def __init__(self, db: Path, workers: int, log: Path, sample_s: float) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cli = Path(sys.executable).parent / "riskatlas"
        cmd = [str(cli), "serve", "--db", str(db), "--host", "127.0.0.1",
               "--port", str(self.port)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        self.cmd = cmd
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.sampler = TreeSampler(self.proc.pid, sample_s)
        self.sampler.start()

    def wait_ready(self, timeout: float) -> float:
        import httpx

        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(self.base + "/api/", timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not answering after {timeout:.0f} s; see {self.log}")

    def settle(self, timeout: float, idle_cores: float = 0.1, span: float = 2.0) -> float:
        """Wait until the server's tree uses under ``idle_cores`` over ``span`` seconds
        (``riskatlas serve`` prepares its copy's pages in the background when it starts:
        web/warm.py); seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            t0 = time.time()
            time.sleep(span)
            cpu = self.sampler.window(t0, time.time())["cpu_s"] or 0.0
            if cpu / span < idle_cores:
                break
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # lifespan shutdown removes copies
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.sampler.stop.set()
        self.sampler.join()
        self._log_file.close()

    def log_errors(self) -> int:
        text = self.log.read_text(errors="replace")
        return text.count("Traceback") + text.count(" 500 Internal")


# --- the clients ---------------------------------------------------------------------

STALE = "connection closed by the server before an answer"


class Connection:
    """A minimal HTTP/1.1 keep-alive client on a socket. The load generator shares the
    machine's cores with the server: httpx costs about 1 ms of Python per request, so 20
    httpx threads took most of a core and their GIL queue was measured as the server's
    latency. This costs some 50 µs (GET only; answers must carry Content-Length)."""

    def __init__(self, base: str, timeout: float) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        return self.sock

    def _read(self, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise ConnectionError(STALE if not self.buffer else "connection closed by the "
                                  "server during an answer")
        self.buffer += chunk

    def get(self, path: str, lang: str = "") -> tuple[int, int, str]:
        """(status, body bytes, the X-RiskAtlas-Cache header or ""); on any error the
        connection is dropped and re-opened by the next request. A kept-alive connection
        that the server closed while the client was idle (uvicorn closes them after 5 s,
        and thinking clients wait longer) is re-opened and the GET sent again, as
        browsers and HTTP libraries do, when no byte of an answer had come."""
        reused = self.sock is not None
        try:
            return self._get(path, lang)
        except ConnectionError as exc:  # incl. a reset or broken pipe when sending
            if not reused or not (str(exc) == STALE or isinstance(
                    exc, BrokenPipeError | ConnectionResetError)):
                raise
        return self._get(path, lang)

    def _get(self, path: str, lang: str) -> tuple[int, int, str]:
        extra = f"Accept-Language: {lang}\r\n" if lang else ""
        try:
            sock = self._connect()
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n"
                         .encode())
            while b"\r\n\r\n" not in self.buffer:
                self._read(sock)
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            headers = dict(line.lower().split(b":", 1) for line in lines[1:])
            if b"content-length" not in headers:
                raise ConnectionError("answer without Content-Length")
            size = int(headers[b"content-length"])
            while len(self.buffer) < size:
                self._read(sock)
            self.buffer = self.buffer[size:]
            cache = headers.get(b"x-riskatlas-cache", b"").strip().decode()
            return int(lines[0].split()[1]), size, cache
        except (OSError, ValueError):
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def client(base: str, requests: list[Request], max_s: float, timeout: float,
           start: threading.Barrier, out: list[dict[str, Any]], think_s: float = 0.0,
           seed: int = 0) -> None:
    """Issue ``requests`` one after another on one connection until ``max_s`` seconds
    after the start (requests in flight then are finished). ``think_s`` > 0: before each
    request the client waits an exponentially distributed time of that mean (the first
    one too, so clients do not all start at once)."""
    connection = Connection(base, timeout)
    rng = random.Random(seed)
    start.wait()
    deadline = time.perf_counter() + max_s
    for endpoint, url, lang in requests:
        if think_s > 0:
            time.sleep(min(rng.expovariate(1.0 / think_s),
                           max(0.0, deadline - time.perf_counter())))
        if time.perf_counter() >= deadline:
            break
        sent = time.perf_counter()
        status, error, size, cache = None, None, 0, ""
        try:
            status, size, cache = connection.get(url, lang)
        except (OSError, ValueError) as exc:
            error = type(exc).__name__
        out.append({"endpoint": endpoint, "url": url, "lang": lang, "status": status,
                    "error": error, "bytes": size, "cache": cache, "sent": sent,
                    "ms": (time.perf_counter() - sent) * 1e3})
    connection.close()


def run_clients(base: str, lists: list[list[Request]], max_s: float,
                timeout: float, think_s: float = 0.0,
                seed: int = 0) -> tuple[list[dict[str, Any]], float]:
    """Every list in its own thread with its own connection (clients think ``think_s``
    on average between requests); (results, wall seconds)."""
    out: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(lists) + 1)
    threads = [threading.Thread(target=client, daemon=True,
                                args=(base, reqs, max_s, timeout, barrier, out, think_s,
                                      seed * 1000 + i))
               for i, reqs in enumerate(lists)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return out, time.perf_counter() - started


class Phase:
    """Wall time, server CPU/RSS, the benchmark's own CPU and other processes' CPU."""

    def __init__(self, server: Server) -> None:
        import psutil

        self.server = server
        self.me = psutil.Process()

    def __enter__(self) -> Phase:
        self.t0, self.busy0 = time.time(), busy_cpu_s()
        self.own0 = sum(self.me.cpu_times()[:2])
        return self

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.time()
        time.sleep(self.server.sampler.interval * 2)  # one more sample after the end
        self.figures = self.server.sampler.window(self.t0, time.time())
        wall = self.t1 - self.t0
        own = sum(self.me.cpu_times()[:2]) - self.own0
        server = self.figures["cpu_s"] or 0.0
        others = max(0.0, busy_cpu_s() - self.busy0 - server - own)
        self.figures.update({"wall_s": wall, "client_cpu_s": own,
                             "server_cores": server / wall if wall else 0.0,
                             "others_cores": others / wall if wall else 0.0})


# --- figures -------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation, as numpy's default)."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(rows: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """Latency percentiles; errors (5xx or no answer) and refusals (4xx: e.g. a filter
    that leaves nothing to analyse) apart; the cache hit rate of the answers that went
    through the response cache."""
    ms = [r["ms"] for r in rows]
    errors = [r for r in rows if r["status"] is None or r["status"] >= 500]
    refused = [r for r in rows if r["status"] is not None and 300 <= r["status"] < 500]
    hits = sum(r.get("cache") == "hit" for r in rows)
    misses = sum(r.get("cache") == "miss" for r in rows)
    return {"requests": len(rows), "errors": len(errors),
            "error_kinds": sorted({str(r["error"] or r["status"]) for r in errors}),
            "refused": len(refused), "refused_kinds": sorted({str(r["status"])
                                                               for r in refused}),
            "cache_hits": hits, "cache_misses": misses,
            "cache_hit_rate": hits / (hits + misses) if hits + misses else None,
            "throughput_rps": len(rows) / wall if wall else None,
            "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "p99_ms": pct(ms, 99),
            "mean_ms": statistics.fmean(ms) if ms else None, "max_ms": max(ms, default=None),
            "mean_kb": statistics.fmean(r["bytes"] for r in rows) / 1e3 if rows else None}


def by_endpoint(rows: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    out = {ep: stats([r for r in rows if r["endpoint"] == ep], wall) for ep in ENDPOINTS}
    out["overall"] = stats(rows, wall)
    return out


# --- one configuration ---------------------------------------------------------------

def run_config(db: Path, workers: int, args: argparse.Namespace, name: str = "repeated",
               draw: Any = None) -> dict[str, Any]:
    """One server configuration under one mix: ``repeated`` (the default arguments),
    ``realistic`` (``draw`` from :func:`realistic`, ``--realistic-*`` arguments, clients
    thinking ``--think-s`` on average between requests) or ``stress`` (the realistic
    mix with no think time)."""
    import httpx

    if args.wait_idle:
        waited = wait_until_idle(args.wait_idle)
        print(f"  waited {waited:.0f} s for idle CPUs", flush=True)
    drawn = name in ("realistic", "stress")
    think = args.think_s if name == "realistic" else 0.0
    if drawn:
        clients, per_client, max_s = (args.realistic_clients, args.realistic_requests,
                                      args.realistic_seconds)
    else:
        clients, per_client, max_s = args.clients, args.requests_per_client, args.max_seconds
    lists = mix(clients, per_client, args.seed, draw)
    server = Server(db, workers, WORK / f"server-{name}-w{workers}.log", args.sample_ms / 1000)
    result: dict[str, Any] = {"mix": name, "workers": workers, "think_s": think,
                              "command": " ".join(server.cmd[1:])}
    try:
        result["ready_s"] = server.wait_ready(args.start_timeout)
        print(f"  server ready in {result['ready_s']:.1f} s (port {server.port})", flush=True)
        result["settled_s"] = server.settle(args.start_timeout * 3)
        # what a prepared worker holds between requests (its last second idle)
        result["settled_rss_worker_mb"] = server.sampler.window(
            time.time() - 1.0, time.time())["peak_rss_worker_mb"]
        print(f"  server idle after {result['settled_s']:.1f} s more (preparing its copy), "
              f"RSS per worker then {result['settled_rss_worker_mb'] or 0:,.0f} MB",
              flush=True)

        # warm-up: every endpoint once per worker (parallel, so each worker gets some),
        # the record browser once per filter (on its last page, which the load never asks)
        rng = random.Random(args.seed + 1)
        warm = [[(ep, url_of(ep, rng, filters, 20000), "")
                 for ep in ENDPOINTS
                 for filters in (RECORD_FILTERS if "records" in ep else ("",))]
                for _ in range(workers)]
        with Phase(server) as phase:
            rows, wall = run_clients(server.base, warm, args.timeout * 2, args.timeout)
        result["warmup"] = {**phase.figures, "requests": len(rows),
                            "errors": sum(r["status"] != 200 for r in rows),
                            "slowest_ms": max((r["ms"] for r in rows), default=None)}
        print(f"  warm-up: {len(rows)} requests in {wall:.1f} s", flush=True)

        # baseline: one client, sequential, the same requests taken from each endpoint
        # in turn (so every endpoint gets the same share)
        # (realistic: other draws of the same mix, so that the load does not meet the
        # baseline's answers in the cache)
        pool_lists = lists if not drawn else mix(
            clients, max(1, args.baseline_requests // clients + 1), args.seed + 2, draw)
        pool = {ep: [r for reqs in pool_lists for r in reqs if r[0] == ep]
                for ep in ENDPOINTS}
        base_list = [pool[ep][i] for i in range(per_client * clients)
                     for ep in ENDPOINTS if i < len(pool[ep])][:args.baseline_requests]
        with Phase(server) as phase:
            rows, wall = run_clients(server.base, [base_list], max_s, args.timeout)
        result["baseline"] = {"endpoints": by_endpoint(rows, wall), **phase.figures}
        b = result["baseline"]["endpoints"]["overall"]
        print(f"  baseline: {b['requests']} sequential requests in {wall:.1f} s, "
              f"p50 {b['p50_ms']:.0f} ms, p95 {b['p95_ms']:.0f} ms", flush=True)

        # load: N concurrent clients (thinking between requests in the realistic mix)
        with Phase(server) as phase:
            rows, wall = run_clients(server.base, lists, max_s, args.timeout, think,
                                     args.seed)
        planned = sum(len(x) for x in lists)
        result["load"] = {"clients": len(lists), "planned": planned,
                          "not_sent": planned - len(rows),
                          "endpoints": by_endpoint(rows, wall), **phase.figures}
        o = result["load"]["endpoints"]["overall"]
        print(f"  load: {o['requests']} requests ({planned - len(rows)} not sent) in "
              f"{wall:.1f} s, {o['throughput_rps']:.1f} req/s, p95 {o['p95_ms']:.0f} ms",
              flush=True)
        refused = [r for r in rows if r["status"] is not None and 300 <= r["status"] < 500]
        result["load"]["refused_examples"] = [f"{r['status']} {r['url']}"
                                              for r in refused[:5]]
        slow = sorted(rows, key=lambda r: -r["ms"])[:10]
        result["load"]["slowest"] = [f"{r['ms']:.0f} ms {r['cache'] or '-'} {r['url']}"
                                     for r in slow]
        if args.keep_requests:
            result["load"]["requests"] = [{k: r[k] for k in ("endpoint", "url", "lang",
                                                             "status", "cache", "ms")}
                                          for r in rows]
        for key in ("peak_rss_tree_mb", "peak_rss_worker_mb"):
            result[key] = max(result[p][key] or 0 for p in ("warmup", "baseline", "load"))
        result["processes"] = server.sampler.max_procs
    except (RuntimeError, httpx.HTTPError) as exc:
        result["error"] = str(exc)
        print(f"  failed: {exc}", flush=True)
    finally:
        server.stop()
        result["server_log_errors"] = server.log_errors()
    return result


# --- in-process diagnosis ------------------------------------------------------------

def diagnose(db: Path, top: int = 14) -> dict[str, Any]:
    """Each endpoint through create_app + TestClient (median of 3 after a warm-up, and a
    cProfile of one request), then the analyses behind them timed on their own."""
    import cProfile
    import io
    import pstats

    import fastapi.routing
    from fastapi.testclient import TestClient

    import riskatlas
    from riskatlas.store.store import Store
    from riskatlas.web import browse, data
    from riskatlas.web.app import create_app
    from riskatlas.web.snapshot import Snapshots

    # sync endpoints run in a worker thread, which cProfile does not follow: profile the
    # endpoint function inside that thread (a patch of this process only)
    active: list[cProfile.Profile] = []
    original = fastapi.routing.run_in_threadpool

    async def in_threadpool(func: Any, *a: Any, **kw: Any) -> Any:
        def profiled(*a: Any, **kw: Any) -> Any:
            if not active:
                return func(*a, **kw)
            return active[0].runcall(func, *a, **kw)
        return await original(profiled, *a, **kw)

    fastapi.routing.run_in_threadpool = in_threadpool  # type: ignore[assignment]
    out: dict[str, Any] = {"endpoints": {}, "analyses": {}}
    rng = random.Random(7)
    with TestClient(create_app(db, cache=False)) as http:  # the work, not the cache
        for ep in ENDPOINTS:
            url = url_of(ep, rng)
            http.get(url)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                status = http.get(url).status_code
                times.append((time.perf_counter() - t0) * 1e3)
            prof = cProfile.Profile()
            active.append(prof)
            http.get(url)
            active.clear()
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.sort_stats("cumulative").print_stats(top)
            funcs = []
            for (file, line, name), (_, ncalls, tt, ct, _) in st.stats.items():  # type: ignore[attr-defined]
                if "riskatlas" in file or name in ("execute", "to_pandas", "sql",
                                                    "connect", "fetch_arrow_table"):
                    funcs.append({"function": f"{Path(file).name}:{line}:{name}",
                                  "calls": ncalls, "cum_ms": ct * 1e3, "self_ms": tt * 1e3})
            funcs.sort(key=lambda f: -f["cum_ms"])
            out["endpoints"][ep] = {"url": url, "status": status,
                                    "median_ms": statistics.median(times),
                                    "top_functions": funcs[:top]}
            print(f"\n=== {ep}  {url}  median {statistics.median(times):.0f} ms")
            for f in funcs[:top]:
                print(f"  {f['cum_ms']:>8.1f} ms cum {f['self_ms']:>7.1f} self "
                      f"{f['calls']:>6}x  {f['function']}")

    def timed(name: str, fn: Any, n: int = 3) -> None:
        fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        out["analyses"][name] = statistics.median(times)

    timed("riskatlas.open + close (read-only)",
          lambda: riskatlas.open(db, read_only=True).close())
    with riskatlas.open(db, read_only=True) as atlas:
        scope = {"country": COUNTRY, "level": 1}
        timed("atlas.profile(deaths, level=1)", lambda: atlas.profile(["deaths"], **scope))
        timed("atlas.profile(REPORT_METRICS) (page, whole country)",
              lambda: atlas.profile(list(data.REPORT_METRICS), country=COUNTRY))
        timed("  the same without 'events'", lambda: atlas.profile(
            [m for m in data.REPORT_METRICS if m != "events"], country=COUNTRY))
        timed("  'events' alone", lambda: atlas.profile(["events"], country=COUNTRY))
        timed("atlas.screen(level=1)", lambda: atlas.screen(**scope))
        timed("data.countries (distinct over all records)", lambda: data.countries(atlas))
        timed("browse.search page 800 hazard=flood (the store itself)",
              lambda: browse.search(atlas, page=800, country=COUNTRY, hazard="flood"))
        timed("units_of(level 1) (screen page's maps)",
              lambda: data.units_of(atlas, 1, COUNTRY))
    snapshots = Snapshots(db)
    started = time.perf_counter()
    copy = snapshots.acquire()
    out["analyses"]["served copy: file copy"] = (time.perf_counter() - started) * 1e3
    store = Store(copy.path, read_only=True, connection=copy.connection.cursor(),
                  memo=copy.memo)
    with riskatlas.api.Atlas(store) as served:
        started = time.perf_counter()
        browse.search(served, country=COUNTRY)
        out["analyses"]["served copy: first search (builds the browser index)"] = (
            time.perf_counter() - started) * 1e3
        timed("browse.search page 800 hazard=flood (served copy, memo warm)",
              lambda: browse.search(served, page=800, country=COUNTRY, hazard="flood"))
        timed("browse.search random page (served copy, memo warm)",
              lambda: browse.search(served, page=rng.randint(1, 20000), country=COUNTRY))
    snapshots.release(copy)
    snapshots.close()
    fastapi.routing.run_in_threadpool = original  # type: ignore[assignment]
    print("\n=== analyses on their own (median of 3, ms)")
    for name, ms in out["analyses"].items():
        print(f"  {ms:>8.1f}  {name}")
    return out


# --- report --------------------------------------------------------------------------

def fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None else format(v, spec)


def report(configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for name, c in configs.items():
        if "error" in c:
            print(f"\n{name}: failed: {c['error']}")
            continue
        load, base = c["load"], c["baseline"]["endpoints"]
        think = c.get("think_s") or 0.0
        print(f"\n{name} — {load['clients']} clients"
              f"{f' thinking {think:g} s on average' if think else ''}, "
              f"{load['wall_s']:.1f} s, "
              f"server peak RSS {c['peak_rss_tree_mb']:,.0f} MB (tree of "
              f"{c['processes']} processes; per worker {c['peak_rss_worker_mb']:,.0f} MB, "
              f"{c.get('settled_rss_worker_mb') or 0:,.0f} MB once prepared), "
              f"server CPU {load['cpu_s']:.1f} s "
              f"({load['server_cores']:.2f} cores), client CPU {load['client_cpu_s']:.1f} s, "
              f"others {load['others_cores']:.2f} cores")
        head = (f"{'endpoint':<13} {'req':>5} {'err':>4} {'4xx':>4} {'hit %':>5} "
                f"{'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'seq p50':>8} "
                f"{'seq p95':>8} {'p50 x':>6} {'p95 x':>6}")
        print(head + "\n" + "-" * len(head))
        for ep, s in load["endpoints"].items():
            b = base.get(ep, {})
            r50 = s["p50_ms"] / b["p50_ms"] if s["p50_ms"] and b.get("p50_ms") else None
            r95 = s["p95_ms"] / b["p95_ms"] if s["p95_ms"] and b.get("p95_ms") else None
            hit = None if s["cache_hit_rate"] is None else s["cache_hit_rate"] * 100
            print(f"{ep:<13} {s['requests']:>5} {s['errors']:>4} {s['refused']:>4} "
                  f"{fmt(hit):>5} {fmt(s['throughput_rps'], '.2f'):>6} {fmt(s['p50_ms']):>7} "
                  f"{fmt(s['p95_ms']):>7} {fmt(s['p99_ms']):>7} {fmt(b.get('p50_ms')):>8} "
                  f"{fmt(b.get('p95_ms')):>8} {fmt(r50, '.1f'):>6} {fmt(r95, '.1f'):>6}")
        if load["not_sent"]:
            print(f"({load['not_sent']} planned requests not sent: --max-seconds reached)")
        overall = load["endpoints"]["overall"]
        p95, rss = overall["p95_ms"], c["peak_rss_worker_mb"]
        verdicts[name] = {"p95_ms": {"value": round(p95), "target": f"< {TARGET_P95_MS:.0f}",
                                     "pass": p95 < TARGET_P95_MS},
                          "errors": {"value": overall["errors"], "target": "0",
                                     "pass": overall["errors"] == 0},
                          "rss_per_worker_mb": {"value": round(rss),
                                                "target": f"<= {TARGET_RSS_WORKER_MB:.0f}",
                                                "pass": rss <= TARGET_RSS_WORKER_MB}}
        rate = overall["cache_hit_rate"]
        print(f"cache: {fmt(None if rate is None else rate * 100, '.1f')} % of the answers "
              f"from the response cache ({overall['cache_hits']} hits, "
              f"{overall['cache_misses']} misses); 4xx: {overall['refused']} "
              f"{' '.join(load.get('refused_examples', [])[:3])}")
        for line in load.get("slowest", [])[:5]:
            print(f"  slow: {line}")
        worst = max(ENDPOINTS, key=lambda e: load["endpoints"][e]["p95_ms"] or 0)
        print(f"seq = requests of the same mix from one client, one at a time (same run); "
              f"x = concurrent ÷ sequential; err = 5xx or no answer; 4xx = refused (e.g. "
              f"nothing to analyse); hit % = answers from the response cache; slowest "
              f"endpoint: {worst}")
        for key, v in verdicts[name].items():
            print(f"{'PASS' if v['pass'] else 'FAIL'}  {key}: {v['value']} "
                  f"(target {v['target']})")
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1",
                        help="server configurations, comma-separated (1 = default; e.g. 1,2)")
    parser.add_argument("--mix", default=",".join(MIXES),
                        help="load mixes, comma-separated: repeated (the Nepal questions of "
                             "the first benchmark, mostly cached), realistic (random "
                             "countries, units, hazards, years, pages and languages; "
                             "clients think between requests), stress (the realistic "
                             "requests with no think time)")
    parser.add_argument("--clients", type=int, default=20, help="repeated mix")
    parser.add_argument("--requests-per-client", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="stop sending new requests after this (baseline and load)")
    parser.add_argument("--think-s", type=float, default=THINK_S,
                        help="realistic mix: mean think time between a client's requests "
                             "(exponential; the stress mix uses none)")
    parser.add_argument("--realistic-clients", type=int, default=50)
    parser.add_argument("--realistic-seconds", type=float, default=30.0)
    parser.add_argument("--realistic-requests", type=int, default=100_000,
                        help="per client, at most (the realistic mix is bounded by time)")
    parser.add_argument("--main-share", type=float, default=0.5,
                        help="realistic mix: share of requests about the largest country")
    parser.add_argument("--baseline-requests", type=int, default=36,
                        help="sequential requests of the same mix (same run)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-idle", type=float, default=30.0,
                        help="seconds to wait for idle CPUs before each configuration")
    parser.add_argument("--sample-ms", type=float, default=100.0)
    parser.add_argument("--profile", action="store_true",
                        help="also diagnose in-process (cProfile per endpoint, analyses)")
    parser.add_argument("--profile-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-requests", action="store_true",
                        help="store every load request in the JSON")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if not NEPAL.exists():
        print(f"SKIP: {NEPAL} is absent (real data in ../shared/data)")
        return
    db, meta = build_multi(args.records)
    print(f"store: {meta['records']:,} records ({meta['base_records']:,} Nepal records × "
          f"{meta['copies']}, and {', '.join(meta['other_files'])}: "
          f"{len(meta['countries'])} countries), {meta['store_mb']:,.0f} MB", flush=True)
    countries = catalogue(db)
    configs: dict[str, dict[str, Any]] = {}
    if not args.profile_only:
        for mix_name in args.mix.split(","):
            draw = (realistic(countries, args.main_share)
                    if mix_name in ("realistic", "stress") else None)
            for workers in (int(w) for w in args.workers.split(",")):
                name = f"{mix_name} workers={workers}"
                print(f"{name}:", flush=True)
                configs[name] = run_config(db, workers, args, mix_name, draw)
    verdicts = report(configs)
    diagnosis = diagnose(db) if args.profile or args.profile_only else None
    if args.no_save:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved.setdefault("benchmark", "web")
    entry = saved.setdefault("runs", {}).setdefault(str(meta["records"]), {})
    entry.update({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
                  "input": meta, "settings": {k: v for k, v in vars(args).items()
                                              if k not in ("no_save",)}})
    entry.setdefault("configs", {}).update(configs)
    entry.setdefault("targets", {}).update(verdicts)
    if diagnosis is not None:
        entry["diagnosis"] = diagnosis
    RESULTS.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    print(f"figures written to {RESULTS} (RSS in MB of {MB:,} bytes)")


if __name__ == "__main__":
    main()
