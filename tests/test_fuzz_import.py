"""A seeded mutation fuzz test of the importers over real files: each mutated file either
imports with records read = imported + set aside, or stops with a RiskAtlas error (one
line naming the file). Never an unexpected exception, never over 60 s, never over 500 MB.

The imports run in one child process (a fresh store each), so the parent measures the
child's memory and time as a user would see them; the seed is printed on failure.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import TEST_DATA, shared

MUTATIONS = int(os.environ.get("RISKATLAS_FUZZ_MUTATIONS", "200"))
SEED = int(os.environ.get("RISKATLAS_FUZZ_SEED", "20261206"))
BUDGET_S = 150  # the whole run
MAX_RSS = 500 * 2**20
MAX_RUN_S = 60

CHILD = r"""
import json, sys, time, traceback
from pathlib import Path
import riskatlas
from riskatlas.errors import RiskAtlasError
from riskatlas.sources.registry import ReadOptions

for line in sys.stdin:
    job = json.loads(line)
    path, db = Path(job["path"]), Path(job["db"])
    start = time.monotonic()
    out = {"path": job["path"]}
    try:
        with riskatlas.open(db) as atlas:
            results = atlas.import_paths([path], format=job.get("format"), options=ReadOptions(
                country=job.get("country"), mapping=Path(job["mapping"]) if job.get("mapping")
                else None))
        out["ok"] = [[r.records_read, r.records_imported, r.records_quarantined,
                      r.fields_read, r.fields_accepted, r.fields_flagged] for r in results]
    except RiskAtlasError as exc:
        out["error"] = exc.key
        out["message"] = exc.render("en")
    except Exception:
        out["crash"] = traceback.format_exc()
    out["seconds"] = time.monotonic() - start
    print(json.dumps(out), flush=True)
"""


def _seeds(tmp: Path) -> list[dict[str, str]]:
    """Small real inputs of every reader: the Grenada XML (first 40 cards), a flat export
    written from it, the Indonesian national table (first 300 rows, with its mapping), and
    the EM-DAT and mapped fixtures."""
    with zipfile.ZipFile(shared("desinventar/grd/DI_export_grd.zip")) as archive:
        xml = archive.read("DI_export_grd.xml").decode("utf-8")
    start, end = xml.index("<fichas>"), xml.index("</fichas>")
    rows = xml[start:end].split("</TR>")[:40]
    small = xml[:start] + "</TR>".join(rows) + "</TR>\n" + xml[end:]
    (tmp / "DI_export_grd.xml").write_text(small, encoding="utf-8")
    flat = tmp / "grd_flat.csv"
    flat.write_text("serial,clave,year,month,day,event,place,deaths,injured,houses destroyed\n"
                    + "".join(f"{i},{100 + i},20{i % 20:02d},{1 + i % 12},{1 + i % 28},"
                              f"{'FLOOD' if i % 2 else 'LANDSLIDE'},Place {i},{i % 5},{i % 3},"
                              f"{i % 7}\n" for i in range(60)), encoding="utf-8")
    idn = shared("idn-dibi-province/clean_DIBI_BNPB.csv")
    with idn.open(encoding="utf-8", errors="replace") as fh:
        head = "".join(line for _, line in zip(range(300), fh, strict=False))
    (tmp / "clean_DIBI_BNPB.csv").write_text(head, encoding="utf-8")
    return [
        {"path": str(tmp / "DI_export_grd.xml")},
        {"path": str(flat), "country": "GRD"},
        {"path": str(tmp / "clean_DIBI_BNPB.csv"), "mapping": "idn-dibi-province"},
        {"path": str(TEST_DATA / "emdat_2023.csv")},
        {"path": str(TEST_DATA / "mapped_example.csv"),
         "mapping": str(TEST_DATA / "mapped_example.yaml"), "format": "mapped"},
    ]


TOKENS = (b"1e300", b"12345678901234567890123", b"-1", b"0.0328", b"\x00", b'"', b"\n",
          b",", b";", b"</TR>", b"<TR>", b"\xff\xfe", b"NaN", b"-999999999999", b" " * 4096)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits: flip, insert, delete, duplicate, truncate or splice in
    a token known to trouble parsers."""
    for _ in range(rng.randint(1, 3)):
        n = len(data)
        at = rng.randrange(max(n, 1))
        kind = rng.choice(("flip", "insert", "delete", "duplicate", "truncate", "token"))
        if kind == "flip" and n:
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        elif kind == "insert":
            data = data[:at] + rng.randbytes(rng.randint(1, 16)) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + rng.randint(1, 64):]
        elif kind == "duplicate":
            data = data[:at] + data[at:at + rng.randint(1, 2000)] + data[at:]
        elif kind == "truncate":
            data = data[:at]
        else:
            data = data[:at] + rng.choice(TOKENS) + data[at:]
    return data


@pytest.mark.shared_data
@pytest.mark.slow
def test_mutated_real_files_import_or_fail_cleanly(tmp_path):
    import psutil

    seeds = _seeds(tmp_path)
    rng = random.Random(SEED)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             bufsize=1)
    watch = psutil.Process(child.pid)
    peak, outcomes, began = 0, {"ok": 0, "error": 0}, time.monotonic()
    try:
        for i in range(MUTATIONS):
            seed = rng.choice(seeds)
            source = Path(seed["path"])
            path = tmp_path / f"m{i:04d}" / source.name
            path.parent.mkdir()
            path.write_bytes(mutate(source.read_bytes(), rng))
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps({**seed, "path": str(path),
                                          "db": str(path.parent / "s.duckdb")}) + "\n")
            deadline = time.monotonic() + MAX_RUN_S
            line = ""
            while not line:
                peak = max(peak, watch.memory_info().rss)
                assert time.monotonic() < deadline, f"mutation {i} of {source.name} hung"
                line = _read_line(child, 0.05)
            out = json.loads(line)
            where = f"seed {SEED}, mutation {i} of {source.name}"
            assert "crash" not in out, f"{where}:\n{out['crash']}"
            if "error" in out:
                assert out["error"] not in ("import.unreconciled", "import.fields_unreconciled"
                                            ), f"{where}: {out['message']}"
                assert "\n" not in out["message"] and path.name in out["message"], where
                outcomes["error"] += 1
            else:
                for read, imported, aside, fields, accepted, flagged in out["ok"]:
                    assert read == imported + aside, where
                    assert fields == accepted + flagged, where
                outcomes["ok"] += 1
            assert peak <= MAX_RSS, f"{where}: {peak / 2**20:.0f} MB"
            if time.monotonic() - began > BUDGET_S:
                break
    finally:
        child.kill()
        child.communicate()
    print(f"fuzz: {sum(outcomes.values())} mutations, {outcomes['ok']} imported, "
          f"{outcomes['error']} refused with a message, peak RSS {peak / 2**20:.0f} MB, "
          f"{time.monotonic() - began:.0f} s")
    assert sum(outcomes.values()) >= min(MUTATIONS, 50)


def _read_line(child: subprocess.Popen[str], timeout: float) -> str:
    import select

    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    if not ready:
        assert child.poll() is None, f"the import process died:\n{child.stderr.read()}"  # type: ignore[union-attr]
        return ""
    return child.stdout.readline()
