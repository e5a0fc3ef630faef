"""Benchmark: start-up of the ``riskatlas`` console script (issue 14, item 6).

Two commands, each run ``--runs`` times as the real console script in a fresh process:

* ``riskatlas --help`` (target: median wall ≤ 0.3 s);
* ``riskatlas datasets`` on a Grenada store (162 cards; built once with
  ``riskatlas import`` of the Grenada export into ``work/cli/``; target ≤ 0.5 s).

``--baseline REV`` (default: the revision before the CLI was restructured) runs the same
commands on the source of git revision REV (``git archive`` into ``work/cli/src-REV``,
put first on PYTHONPATH), interleaved with the current runs so both see the same load.
Per command and source it prints the median and minimum wall time, the median CPU time
of the process, and which heavy modules (pandas, Ibis, pyarrow, DuckDB) the command
loaded (``python -X importtime``); then PASS or FAIL against the targets (the current
source's median wall). Results: ``results/cli.json``.

    .venv/bin/python benchmarks/bench_cli.py            # 21 runs each, ~1 min
    .venv/bin/python benchmarks/bench_cli.py --runs 5 --baseline HEAD~3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import busy_cpu_s, machine, source_of, wait_until_idle  # noqa: E402
from stores import SHARED_DATA  # noqa: E402

WORK = HERE / "work" / "cli"
RESULTS = HERE / "results" / "cli.json"
GRENADA = SHARED_DATA / "desinventar" / "grd" / "DI_export_grd.zip"
SCRIPT = Path(sys.executable).with_name("riskatlas")  # the venv's console script
BEFORE = "427c05d^"  # the CLI before issue 14's restructuring
TARGETS = {"--help": 0.3, "datasets": 0.5}  # median wall seconds
HEAVY = ("pandas", "ibis", "pyarrow", "duckdb", "numpy")


def grenada_store() -> Path:
    """The Grenada store, imported once by the console script."""
    db = WORK / "grd.duckdb"
    if not db.exists():
        partial = WORK / "grd-partial.duckdb"
        partial.unlink(missing_ok=True)
        subprocess.run([str(SCRIPT), "--lang", "en", "import", str(GRENADA), "--json",
                        "--db", str(partial)], check=True, capture_output=True, timeout=600)
        partial.rename(db)
    return db


def environment(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "RISKATLAS_LANG": "en", "COLUMNS": "100"}
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One run of the console script: (wall s, CPU s of the process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(SCRIPT), *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"riskatlas {' '.join(args)} failed: {done.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_modules(args: list[str], env: dict[str, str]) -> list[str]:
    """The heavy packages a command imports (``-X importtime`` of the same entry point)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import sys; from riskatlas.cli import main; sys.argv[0] = "
                           "'riskatlas'; main()", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    found = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in
             done.stderr.splitlines() if line.startswith("import time:")}
    return [m for m in HEAVY if m in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--baseline", default=BEFORE,
                        help=f"git revision to compare with (default {BEFORE}); '' for none")
    parser.add_argument("--wait-idle", type=float, default=60.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if not GRENADA.exists():
        print(f"SKIP: {GRENADA} is absent")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    db = grenada_store()
    commands = {"--help": ["--help"], "datasets": ["datasets", "--db", str(db)]}
    sources: dict[str, Path | None] = {"now": None}
    if args.baseline:
        sources["baseline"] = source_of(args.baseline, WORK)
    waited = wait_until_idle(args.wait_idle)
    print(f"waited {waited:.0f} s for idle CPUs; load {os.getloadavg()}")
    out: dict[str, Any] = {"machine": machine(), "baseline": args.baseline or None,
                           "runs": args.runs, "commands": {}}
    passed = True
    for name, argv in commands.items():
        samples: dict[str, list[tuple[float, float]]] = {s: [] for s in sources}
        for src in sources.values():  # one warm-up each: the page cache, .pyc files
            once(argv, environment(src))
        busy = busy_cpu_s()
        started = time.perf_counter()
        for _ in range(args.runs):
            for label, src in sources.items():  # interleaved: both see the same load
                samples[label].append(once(argv, environment(src)))
        span = time.perf_counter() - started
        ours = sum(c for runs in samples.values() for _, c in runs)
        others = max(0.0, busy_cpu_s() - busy - ours) / span
        result: dict[str, Any] = {"others_cores": round(others, 2)}
        print(f"\nriskatlas {name} ({args.runs} runs; other processes used "
              f"{others:.2f} cores meanwhile)")
        print(f"{'source':<10}{'median wall':>13}{'min wall':>10}{'median CPU':>12}  heavy")
        for label, src in sources.items():
            walls = [w for w, _ in samples[label]]
            cpus = [c for _, c in samples[label]]
            heavy = heavy_modules(argv, environment(src))
            result[label] = {"median_wall_s": round(statistics.median(walls), 3),
                             "min_wall_s": round(min(walls), 3),
                             "median_cpu_s": round(statistics.median(cpus), 3),
                             "heavy_modules": heavy}
            print(f"{label:<10}{statistics.median(walls):>12.3f}s{min(walls):>9.3f}s"
                  f"{statistics.median(cpus):>11.3f}s  {', '.join(heavy) or '-'}")
        median = result["now"]["median_wall_s"]
        ok = median <= TARGETS[name]
        passed &= ok
        result["target_s"] = TARGETS[name]
        result["pass"] = ok
        print(f"{'PASS' if ok else 'FAIL'}: median {median:.3f} s against {TARGETS[name]} s")
        out["commands"][name] = result
    print(f"\n{'PASS' if passed else 'FAIL'}: both targets" if passed else
          "\nFAIL: a target is missed")
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
