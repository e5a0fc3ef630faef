"""Two ``riskatlas serve`` processes on one PostgreSQL database (issue 16, item 1): a card
created through one is visible through the other at once, and an import running meanwhile
blocks neither (no private copy of the store: every worker reads and writes in place)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from cards import card, store_with
from conftest import auth, web_user

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

NEW = {"country_iso3": "LKA", "level0_code": "01", "start_year": 2002, "hazard_term": "FLOOD",
       "deaths": 4}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(url: str, folder: Path) -> Iterator[str]:
    """``riskatlas serve --db URL`` in its own process; yields its address."""
    port = _port()
    log = (folder / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "riskatlas", "serve", "--db", url,
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (folder / f"serve-{port}.log").read_text()
            try:
                if httpx.get(f"{address}/api/datasets", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer in 60 s"
            time.sleep(0.1)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_two_servers_share_one_database_while_an_import_runs(tmp_path: Path,
                                                             pg_url: str) -> None:
    from test_bad_input import _big_export

    store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)], db=pg_url)
    headers = auth(web_user(pg_url, "adam", "admin"))
    big = _big_export(tmp_path, 40)
    with ExitStack() as stack:
        one, two = (stack.enter_context(serving(pg_url, tmp_path)) for _ in range(2))
        public = httpx.get(f"{one}/api/datasets", timeout=30)  # a visitor's answer
        assert public.status_code == 200
        made = httpx.post(f"{one}/api/records", json=NEW, headers=headers, timeout=30)
        assert made.status_code == 201, made.text
        rid = made.json()["record"]["record_id"]
        seen = httpx.get(f"{two}/api/records/{rid}", headers=headers, timeout=30)
        assert seen.status_code == 200 and seen.json()["record"]["deaths"] == 4

        staging = tmp_path / "tmp"
        staging.mkdir()
        importer = subprocess.Popen(
            [sys.executable, "-m", "riskatlas", "import", str(big), "--db", pg_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "TMPDIR": str(staging)})
        answered = []
        while importer.poll() is None:  # both keep answering, and writing, meanwhile
            for address in (one, two):
                start = time.monotonic()
                page = httpx.get(f"{address}/api/datasets", headers=headers, timeout=30)
                assert page.status_code == 200
                answered.append(time.monotonic() - start)
            if len(answered) == 2:
                during = httpx.post(f"{two}/api/records", json={**NEW, "deaths": 5},
                                    headers=headers, timeout=30)
                assert during.status_code == 201, during.text
                rid2 = during.json()["record"]["record_id"]
                assert httpx.get(f"{one}/api/records/{rid2}", headers=headers,
                                 timeout=30).status_code == 200
            time.sleep(0.2)
        _out, err = importer.communicate()
        assert importer.returncode == 0, err
        assert len(answered) >= 4 and max(answered) < 10, answered
        totals = [httpx.get(f"{address}/api/datasets", headers=headers, timeout=30).json()
                  for address in (one, two)]
        assert totals[0] == totals[1] and len(totals[0]["rows"]) == 3  # cards, web, the import
        # a visitor asking again sees the import (no answer kept from before it)
        again = httpx.get(f"{one}/api/datasets", timeout=30)
        assert again.headers.get("x-riskatlas-cache") != "hit"
        assert len(again.json()["rows"]) > len(public.json()["rows"]), again.text
