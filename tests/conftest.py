"""Shared fixtures: the real data in ../shared/data and fresh stores.

Tests that need ../shared/data skip with a clear reason when it is absent; .ci/run sets
RISKATLAS_REQUIRE_SHARED_DATA=1, which turns those skips into failures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import riskatlas

SHARED_DATA = Path(os.environ.get("RISKATLAS_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")
TEST_DATA = Path(__file__).parent / "data"
# compiled SQL is not kept across processes in tests (analysis/compiled.py): every run
# compiles as a user's first one does; tests/test_compiled_sql.py checks the file
os.environ["RISKATLAS_SQL_CACHE"] = "off"
# every analysis an argument shape's recipe answers is also built, and its SQL compared
# (analysis/recipes.py; tests/test_recipes.py runs them as users do)
os.environ.setdefault("RISKATLAS_RECIPES", "check")


def shared(relative: str) -> Path:
    """A path in ../shared/data; skips (or fails when required) if it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"needs ../shared/data/{relative} (real DesInventar/national data), absent here"
        if os.environ.get("RISKATLAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_SHARED_DATA=1 makes it mandatory")
        pytest.skip(reason)
    return path


@pytest.fixture
def atlas(tmp_path: Path):
    """A fresh, empty store."""
    with riskatlas.open(tmp_path / "test.duckdb") as store:
        yield store


def _imported(tmp_path_factory: pytest.TempPathFactory, name: str, relative: str,
              country: str | None = None) -> Path:
    from riskatlas.sources.registry import ReadOptions

    source = shared(relative)
    db = tmp_path_factory.mktemp(name) / f"{name}.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([source], options=ReadOptions(country=country))
    return db


@pytest.fixture(scope="session")
def nepal_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the 25 Nepal xlsx parts (25,849 records), imported once per session."""
    return _imported(tmp_path_factory, "nepal", "desinventar/npl-xlsx", country="NPL")


@pytest.fixture(scope="session")
def grenada_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the Grenada DesInventar export (162 cards and boundaries)."""
    return _imported(tmp_path_factory, "grenada", "desinventar/grd/DI_export_grd.zip")


def on_both_engines(db: Path, run: Any) -> list[Any]:
    """``run(atlas)`` on the store at ``db`` with DuckDB, then with Spark (which it needs)."""
    require_spark()
    out = []
    for engine in ("duckdb", "spark"):
        with riskatlas.open(db, read_only=True, engine=engine) as atlas:
            out.append(run(atlas))
    return out


# The tests' Spark JVMs (this process's driver, CLI processes', a test cluster's daemons and
# executors) compile with the client compiler only and collect with the serial GC: their
# queries are tiny and the JVMs short-lived, and the optimising compiler's work was about
# half of their CPU (a screen of Grenada on Spark: 47-50 -> 24-27 CPU s). Results are the
# same; the benchmarks (not run by pytest) keep the JVM's defaults.
SPARK_TEST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def require_spark() -> None:
    """Skip (or fail when RISKATLAS_REQUIRE_SPARK=1, as in CI) without PySpark and Java;
    otherwise the JVMs started from now on take SPARK_TEST_JVM (through the environment,
    unless it sets PYSPARK_SUBMIT_ARGS or SPARK_DAEMON_JAVA_OPTS itself)."""
    import importlib.util
    import shutil

    missing = [what for what, ok in (("pyspark", importlib.util.find_spec("pyspark")),
                                     ("java", shutil.which("java"))) if not ok]
    if missing:
        reason = f"the Spark engine needs {' and '.join(missing)}, absent here"
        if os.environ.get("RISKATLAS_REQUIRE_SPARK") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_SPARK=1 makes it mandatory")
        pytest.skip(reason)
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", (
        f'--driver-java-options "{SPARK_TEST_JVM}" '
        f'--conf "spark.executor.extraJavaOptions={SPARK_TEST_JVM}" pyspark-shell'))
    os.environ.setdefault("SPARK_DAEMON_JAVA_OPTS", SPARK_TEST_JVM)


def require_chromium() -> str:
    """Debian's Chromium and Playwright (never ``playwright install``); skip without them,
    or fail when RISKATLAS_REQUIRE_BROWSER=1 (as in CI)."""
    from riskatlas.report.pdf import find_chromium

    missing = [] if find_chromium() else ["chromium"]
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip)")
    if missing:
        reason = f"the browser tests need {', '.join(missing)}, absent here"
        if os.environ.get("RISKATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_BROWSER=1 makes it mandatory")
        pytest.skip(reason)
    return str(find_chromium())


def web_client(db: Path, **options: object):
    """A TestClient over ``create_app(db)`` (Starlette's deprecation of httpx silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette 1.x: "use httpx2" (a UserWarning)
        from fastapi.testclient import TestClient

    from riskatlas.web import create_app

    return TestClient(create_app(db, **options))  # type: ignore[arg-type]


PASSWORD = "correct horse battery"


def web_user(db: Path, name: str, role: str, password: str | None = PASSWORD) -> str:
    """Add a user of the web app to a store; returns a new API token of theirs."""
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        con = atlas.store.connection
        accounts.insert_user(con, name, role, password)
        return accounts.insert_token(con, name)


def login(client, name: str, password: str = PASSWORD):
    """Sign a TestClient in through the login form (CSRF token from the page)."""
    import re

    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": csrf.group(1), "next": "/"},
                       follow_redirects=False)


def csrf_of(client, path: str = "/cards/new") -> str:
    """The session's CSRF token, read from a page's form."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


WEB_USERS = {"ana": "collector", "cole": "collector", "vera": "validator", "val": "validator",
             "adam": "admin", "vic": "viewer"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """A web app over a two-card store with a user of every role: (client, tokens, db)."""
    from cards import card, store_with

    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                               card(2, "LANDSLIDE", 2003, "01", deaths=1)])
    tokens = {name: web_user(db, name, role) for name, role in WEB_USERS.items()}
    with web_client(db) as client:
        yield client, tokens, db


def auth(token: str) -> dict[str, str]:
    """The header of an API call with ``token``."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def serving(db: Path, web: Any = None, **config: Any) -> Iterator[str]:
    """uvicorn serving ``web`` (default ``create_app(db)``) in a thread on a free loopback
    port, with uvicorn ``config`` options; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    from riskatlas.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(web or create_app(db), host="127.0.0.1", port=port,
                                        log_level="warning", **config))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


@contextmanager
def holding_store(db: Path, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the store open for writing (as an import does), until exit."""
    import time

    flag = folder / "store-held"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, pathlib, sys\n"
        f"c = duckdb.connect({str(db)!r})\n"
        f"pathlib.Path({str(flag)!r}).touch()\n"
        "sys.stdin.read()\n"
        "c.close()\n")], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield holder  # ``holder.communicate(b"")`` lets the store go early
    finally:
        if holder.poll() is None:
            holder.communicate(b"", timeout=30)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server of the tests' own on loopback (tests/postgres_server.py); skips
    without PostgreSQL's binaries or psycopg, or fails when RISKATLAS_REQUIRE_POSTGRES=1
    (as in CI)."""
    from postgres_server import PostgresServer, binaries_missing

    reason = binaries_missing()
    if reason:
        if os.environ.get("RISKATLAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_POSTGRES=1 makes it mandatory")
        pytest.skip(reason)
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: Any) -> str:
    """The URL of a new, empty PostgreSQL database (a store is made on first open)."""
    return str(postgres_server.database())


@pytest.fixture(params=["duckdb", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Each store test once per backend: the embedded DuckDB file, then PostgreSQL."""
    return str(request.param)


@pytest.fixture
def new_db(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Where a new store goes on the test's backend: a DuckDB file, or a PostgreSQL URL."""
    if store_backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "store.duckdb"
