"""The Store: one DuckDB file, written through atomic import batches, read through Ibis."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from riskatlas.errors import StoreError
from riskatlas.model.hazards import Crosswalk, load_crosswalk
from riskatlas.paths import resolve_db
from riskatlas.store.batch import ImportBatch
from riskatlas.store.ddl import migrate, schema_current
from riskatlas.store.memo import Memo

T = TypeVar("T")

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)
LOCK_WAIT = 10.0  # seconds a writer waits for another process to let the file go


class Store:
    """A RiskAtlas store. Use as a context manager, or call :meth:`close`. (A PostgreSQL
    store is a :class:`riskatlas.store.postgres.PgStore`: :func:`open_store` picks.)"""

    dialect = "duckdb"  # the SQL of its connection (callers write DuckDB's; see PgStore)

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 read_only: bool = False, crosswalks: Sequence[Path] = (),
                 connection: duckdb.DuckDBPyConnection | None = None,
                 memo: Memo | None = None, lock_wait: float | None = None) -> None:
        """``connection``: use this connection to ``path`` (already open, e.g. a cursor of
        a served copy) instead of opening the file; ``memo``: values that stay valid while
        the file does not change (table schemas are kept there); ``lock_wait``: seconds a
        writer waits while another process holds the file (default ``LOCK_WAIT``, e.g. the
        web app copying it; readers never wait: only a writer can keep them out)."""
        self.path = resolve_db(path)
        self.read_only = read_only
        self.importer_version = _version()
        self.memo = memo
        self.published_only = False
        self.lake: Path | None = None  # set when the tables are views over a Parquet lake
        self._depth = 0  # transactions open on this connection (see :meth:`transaction`)
        self._crosswalk_files = tuple(crosswalks)
        import duckdb  # on first use: commands that open no store start faster

        try:
            if read_only and not self.path.exists():
                raise StoreError("store.missing", path=str(self.path))
            if connection is None:
                wait = 0.0 if read_only else LOCK_WAIT if lock_wait is None else lock_wait
                connection = _connect(self.path, read_only, wait)
                connection.execute("SET enable_progress_bar = false")
            self.connection = connection
        except duckdb.Error as exc:
            raise StoreError("store.cannot_open", path=str(self.path), reason=str(exc)) from exc
        self.migrated: list[int] = []  # the schema versions this opening applied
        if not read_only:
            if not schema_current(self.connection):
                self.migrated = self.upgrade()
            self._remove_stale_staging()
        log.debug("opened store %s", self.path)

    def upgrade(self) -> list[int]:
        """Apply the schema migrations the store lacks, in one transaction (a new store:
        every table); returns the versions applied (:func:`riskatlas.store.ddl.migrate`)."""
        with self.transaction() as con:
            return migrate(con)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        log.debug("closed store %s", self.path)

    @cached_property
    def ibis(self) -> Any:
        """An Ibis backend over the same connection, for portable analyses."""
        import ibis  # loaded on first query: an import does not need it

        return ibis.duckdb.from_connection(self.connection)

    def kept(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, kept in the store's memo under ``key`` when it has one (a served
        copy, which never changes); else computed each time."""
        return compute() if self.memo is None else self.memo.get(key, compute)

    def table(self, name: str) -> Any:
        """An Ibis table expression of a store table (its schema read once per memo)."""
        if self.memo is None:
            return self.ibis.table(name)
        import ibis.expr.operations as ops

        schema = self.memo.get(("schema", name), lambda: self.ibis.get_schema(name))
        return ops.DatabaseTable(name, schema=schema, source=self.ibis,
                                 namespace=ops.Namespace()).to_expr()

    @cached_property
    def crosswalk(self) -> Crosswalk:
        return load_crosswalk(self._crosswalk_files)

    def _staging_prefix(self) -> str:
        return f".{self.path.name}.import-"

    def _staging_folder(self) -> Path:
        """Where imports stage their rows: beside the store."""
        return self.path.resolve().parent

    def new_staging_dir(self) -> Path:
        """A folder for an import's staged rows (removed after it)."""
        return Path(tempfile.mkdtemp(prefix=f"{self._staging_prefix()}{os.getpid()}-",
                                     dir=self._staging_folder()))

    def _remove_stale_staging(self) -> None:
        """Staging folders left by a killed import (its process is gone)."""
        for folder in left_by_dead(self._staging_folder(), self._staging_prefix()):
            shutil.rmtree(folder, ignore_errors=True)
            log.debug("removed stale staging folder %s", folder)

    def next_dataset_id(self) -> int:
        return int(self.scalar("SELECT nextval('dataset_seq')"))

    def dataset_of_file(self, sha256: str) -> int | None:
        """The dataset that already holds a file with this hash, if any."""
        row = self.connection.execute(
            "SELECT dataset_id FROM dataset_files WHERE sha256 = ? LIMIT 1", [sha256]
        ).fetchone()
        return int(row[0]) if row else None

    @contextmanager
    def import_batch(self, **kwargs: Any) -> Iterator[ImportBatch]:
        """Stage one dataset; it is committed only if the block ends without an error."""
        if self.read_only:
            raise StoreError("store.read_only", path=str(self.path))
        batch = ImportBatch(self, crosswalk_version=self.crosswalk.version, **kwargs)
        log.debug("import batch %s started in %s", batch.dataset_id, batch.staging)
        try:
            yield batch
        except BaseException:
            batch.discard()
            log.debug("import batch %s discarded", batch.dataset_id)
            raise

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The only way to write: the block runs in one DuckDB transaction, committed when
        it ends and rolled back on any error (a change and its audit row together or not
        at all). A block inside another joins it: the outermost one commits."""
        if self.read_only:
            raise StoreError("store.read_only", path=str(self.path))
        con = self.connection
        if self._depth:
            self._depth += 1
            try:
                yield con
            finally:
                self._depth -= 1
            return
        con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def tables(self) -> set[str]:
        """The names of the store's tables and views (a store made before accounts has
        no ``users``)."""
        return {str(r[0]) for r in self.query(
            "SELECT table_name FROM information_schema.tables")}

    @cached_property
    def _database(self) -> str:
        return str(self.scalar("SELECT current_database()")).replace('"', '""')

    def stored(self, table: str) -> str:
        """The SQL name of a stored table, even where a temporary view shadows it."""
        return f'"{self._database}".main.{table}'

    def show_published_only(self) -> None:
        """From now on this connection sees published cards only: a temporary view
        ``records`` shadows the stored table for every query, Ibis or SQL (the web app's
        visitors); ``published_only`` tells code that reads stored tables directly."""
        self.connection.execute(
            f"CREATE OR REPLACE TEMP VIEW records AS SELECT * FROM {self.stored('records')} "
            "WHERE approval_status = 'published'")
        self.published_only = True

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first value of a query that returns one row (internal SQL only)."""
        rows = self.connection.execute(sql, list(params)).fetchall()  # leaves no open result
        if not rows:
            raise StoreError("error.store")
        return rows[0][0]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a parameterised SQL query (internal use: no user text in ``sql``)."""
        return self.connection.execute(sql, list(params)).fetchall()


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried with backoff for ``wait`` seconds while another process
    holds the file."""
    import duckdb

    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower() or time.monotonic() + pause > deadline:
                raise
            log.info("store %s held by another process: waiting", path)
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _version() -> str:
    """The package's version (riskatlas.__version__), read from the package already
    loaded: the store sits beneath the package's Python API, which imports it."""
    return str(sys.modules["riskatlas"].__version__)


def left_by_dead(folder: Path, prefix: str) -> Iterator[Path]:
    """The entries of ``folder`` named ``prefix`` + a process id + ``-`` or ``.`` + …
    whose process is gone (it was killed)."""
    for path in folder.glob(prefix + "*"):
        pid = path.name[len(prefix):].split("-", 1)[0].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            yield path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
