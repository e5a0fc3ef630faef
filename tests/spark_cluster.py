"""A Spark standalone cluster on 127.0.0.1 for tests and benchmarks: one master and N
workers, started with the ``bin/spark-class`` script that PySpark bundles (no Spark
download). ``cluster.master`` is the URL for ``$RISKATLAS_SPARK_MASTER``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_env() -> dict[str, str]:
    """The environment of the daemons and of a driver on this machine: loopback only,
    executors running this interpreter."""
    import pyspark

    home = str(Path(pyspark.__file__).parent)
    return {**os.environ, "SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_NO_DAEMONIZE": "1"}


class LocalCluster:
    """``with LocalCluster(workers=2) as cluster:`` a master and ``workers`` workers of
    ``cores`` cores and ``memory`` each; stopped (with their processes) on exit."""

    def __init__(self, folder: Path, *, workers: int = 2, cores: int = 1,
                 memory: str = "1g") -> None:
        self.folder = folder
        self.workers, self.cores, self.memory = workers, cores, memory
        self.port, self.ui_port = free_port(), free_port()
        self.master = f"spark://127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[Any] = []

    def _start(self, name: str, *args: str) -> None:
        env = spark_env()
        log = (self.folder / f"{name}.log").open("wb")
        self._logs.append(log)
        command = [str(Path(env["SPARK_HOME"]) / "bin" / "spark-class"), *args]
        self._procs.append(subprocess.Popen(command, env=env, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def state(self) -> dict[str, Any]:
        """The master's status page as JSON (workers, applications)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return dict(json.load(r))

    def __enter__(self) -> LocalCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(self.port), "--webui-port", str(self.ui_port))
        for n in range(self.workers):
            work = self.folder / f"worker{n}"
            work.mkdir(exist_ok=True)
            self._start(f"worker{n}", "org.apache.spark.deploy.worker.Worker",
                        "--host", "127.0.0.1", "--cores", str(self.cores), "--memory",
                        self.memory, "--webui-port", str(free_port()), "--work-dir", str(work),
                        self.master)
        try:
            self._wait_for_workers(timeout=120)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                break
            try:
                alive = [w for w in self.state().get("workers", []) if w["state"] == "ALIVE"]
                if len(alive) == self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        logs = {p.name: p.read_text(errors="replace")[-2000:]
                for p in self.folder.glob("*.log")}
        raise RuntimeError(f"the Spark cluster did not start: {logs}")

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        for log in self._logs:
            log.close()
