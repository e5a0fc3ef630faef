"""Shared measuring tools for the benchmarks: run a child process, sample the RSS and CPU of
its whole process tree, and account for other processes on a shared machine."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1_000_000
# every process a benchmark starts compiles its queries as a first run does (the compiled
# SQL kept across processes, analysis/compiled.py, would make figures depend on earlier
# runs); bench_assess measures that cache on purpose, with folders of its own
os.environ["RISKATLAS_SQL_CACHE"] = "off"


class TreeSampler(threading.Thread):
    """Samples the RSS (sum over the process and all its descendants) and CPU times."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        # (time, tree RSS MB, main RSS MB, main CPU s, tree CPU s)
        self.samples: list[tuple[float, float, float, float, float]] = []
        # (time, RSS MB of the largest process but the root when it has children, else
        # the root's): a server's workers, one by one
        self.workers: list[tuple[float, float]] = []
        self.cpu: dict[int, float] = {}
        self.max_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            tree = main = 0.0
            per_process: dict[int, float] = {}
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss = proc.memory_info().rss / MB
                        times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                tree += rss
                per_process[proc.pid] = rss
                if proc.pid == self.root.pid:
                    main = rss
                self.cpu[proc.pid] = times.user + times.system
            self.max_procs = max(self.max_procs, len(procs))
            children = [v for k, v in per_process.items() if k != self.root.pid]
            self.workers.append((time.time(), max(children or [main])))
            self.samples.append((time.time(), tree, main, self.cpu.get(self.root.pid, 0.0),
                                 sum(self.cpu.values())))
            self.stop.wait(self.interval)

    def window(self, start: float = 0.0, end: float = math.inf) -> dict[str, float | None]:
        """Peak RSS (tree, worker, main) and CPU seconds used (main, tree) between two
        times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            return {"peak_rss_tree_mb": None, "peak_rss_worker_mb": None,
                    "peak_rss_main_mb": None, "cpu_main_s": None, "cpu_s": None}
        before = [s for s in self.samples if s[0] < start] or [(0.0, 0.0, 0.0, 0.0, 0.0)]
        workers = [rss for t, rss in self.workers if start <= t <= end]
        return {"peak_rss_tree_mb": max(s[1] for s in inside),
                "peak_rss_worker_mb": max(workers, default=None),
                "peak_rss_main_mb": max(s[2] for s in inside),
                "cpu_main_s": inside[-1][3] - before[-1][3],
                "cpu_s": inside[-1][4] - before[-1][4]}

    def peak(self) -> tuple[float, float]:
        found = self.window()
        return found["peak_rss_tree_mb"] or 0.0, found["peak_rss_main_mb"] or 0.0


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def wait_until_idle(limit_s: float, busy_fraction: float = 0.15) -> float:
    """Wait (up to ``limit_s``) until other processes use < ``busy_fraction`` of the CPUs."""
    import psutil

    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if psutil.cpu_percent(interval=2.0) < busy_fraction * 100:
            break
    return time.perf_counter() - started


def run_child(cmd: list[str], *, timeout: float, sample_s: float = 0.05,
              on_result: Callable[[dict[str, Any], TreeSampler], dict[str, Any]] | None = None,
              ) -> dict[str, Any]:
    """Run ``cmd`` in its own session, sampling its process tree. The child reports its
    figures on a stdout line ``RESULT {json}``; they are merged into the returned dict,
    after ``on_result(result, sampler)`` when given (e.g. to place phases on the samples)."""
    busy_before = busy_cpu_s()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    sampler = TreeSampler(proc.pid, sample_s)
    sampler.start()
    cut = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cut = True
        os.killpg(proc.pid, 9)  # our own child's session: it and its workers
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    others = max(0.0, busy_cpu_s() - busy_before - sum(sampler.cpu.values()))
    tree_peak, main_peak = sampler.peak()
    run: dict[str, Any] = {
        "wall_s": wall, "peak_rss_tree_mb": tree_peak, "peak_rss_main_mb": main_peak,
        "cpu_s": sum(sampler.cpu.values()), "cpu_main_s": sampler.cpu.get(proc.pid, 0.0),
        "processes": sampler.max_procs, "timed_out": cut, "returncode": proc.returncode,
        "other_processes_cpu_s": others, "other_processes_cores": others / wall}
    line = next((x for x in reversed(stdout.splitlines()) if x.startswith("RESULT ")), None)
    if line is None:
        run["error"] = f"cut after {timeout:.0f} s" if cut else last_error(stderr)
        return run
    result = json.loads(line[len("RESULT "):])
    run.update(on_result(result, sampler) if on_result else result)
    return run


def last_error(stderr: str) -> str:
    """The line of a child's stderr that names its error (else its last line)."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()] or ["no output"]
    errors = [x for x in lines if re.search(r"(Error|Exception)\b.*:", x)]
    return (errors or lines)[-1][:300]


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def source_of(rev: str, work: Path) -> Path:
    """``src/`` of git revision ``rev`` (``git archive``), extracted once into
    ``work/src-<commit>``: a baseline measured in the same run puts it first on PYTHONPATH."""
    import shutil
    import tarfile

    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.strip()
    target = work / f"src-{commit}"
    if not (target / "riskatlas").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive, tmp = work / f"src-{commit}.tar", work / f"tmp-{commit}"
        subprocess.run(["git", "archive", "-o", str(archive), commit, "src"], cwd=repo,
                       check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        (tmp / "src" / "riskatlas").rename(target / "riskatlas")
        archive.unlink()
        shutil.rmtree(tmp)
    return target
