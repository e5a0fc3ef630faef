"""The store on PostgreSQL (``riskatlas --db postgresql://…`` or ``$RISKATLAS_DB``).

A :class:`PgStore` is a :class:`~riskatlas.store.store.Store` whose ``connection`` is a
small adapter over psycopg offering what callers use of DuckDB's (``execute(sql, params)``
→ ``fetchall()``/``fetchone()``/``description``, ``executemany``): the SQL is written once,
in DuckDB's dialect, and translated by sqlglot (cached per statement; ``?`` placeholders
become ``$n``). The schema is the same ``STATEMENTS`` (riskatlas.store.ddl), translated.

Imports keep one code path: an :class:`~riskatlas.store.batch.ImportBatch` commits into a
scratch DuckDB that knows the ids of the records already stored, so reconciliation, set-aside
rows and idempotency are the DuckDB ones; the new dataset's rows then move into PostgreSQL
by COPY in one PostgreSQL transaction (a killed import leaves the database as it was).
Analyses read the tables through Ibis's postgres backend over the same connection.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from riskatlas.errors import StoreError
from riskatlas.paths import db_url
from riskatlas.store.batch import BatchResult, ImportBatch
from riskatlas.store.ddl import migrate, schema_current
from riskatlas.store.memo import Memo
from riskatlas.store.store import Store

if TYPE_CHECKING:
    import duckdb
    import psycopg

log = logging.getLogger(__name__)

# DuckDB-only clauses of the DDL, dropped before translation
_DUCKDB_ONLY = (" USING COMPRESSION zstd",)
# the tables whose rows belong to one dataset: what an import moves into PostgreSQL
DATASET_TABLES = ("datasets", "dataset_files", "records", "record_extensions", "quarantine",
                  "quality_issues", "admin_levels", "hazard_terms", "source_tables")
SCRATCH_PREFIX = "riskatlas-pg-import-"  # + pid: an import's scratch store and staging
# a schema change and an import's commit wait for one another (pg_advisory_xact_lock key)
SCHEMA_LOCK = 0x52495341  # "RISA"
# tables whose column names PostgreSQL keeps for itself (xmin, xmax: system columns): the
# rows live in another table under other names, and a view by the store's name shows them
# as the schema has them (PostgreSQL writes through such a simple view, upserts too)
RENAMED = {"admin_units": ("admin_unit_rows", {"xmin": "bbox_xmin", "xmax": "bbox_xmax"})}


def display_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=4096)
def translate(sql: str, texts: frozenset[int] = frozenset(),
              lists: frozenset[int] = frozenset()) -> str:
    """A DuckDB statement in PostgreSQL's dialect, its ``?`` placeholders as ``$1, $2, …``
    (``texts``: the numbers of those that receive text, typed where PostgreSQL cannot
    tell a type: a value of json_build_object; ``lists``: those that receive a list of
    texts, typed as ``text[]`` everywhere: unnest(?))."""
    import sqlglot
    from sqlglot.tokens import TokenType

    for clause in _DUCKDB_ONLY:
        sql = sql.replace(clause, "")
    dialect = sqlglot.Dialect.get_or_raise("duckdb")
    marks = [t.start for t in dialect.tokenize(sql) if t.token_type == TokenType.PLACEHOLDER]
    for n, start in reversed(list(enumerate(marks, start=1))):
        sql = f"{sql[:start]}:p{n}{sql[start + 1:]}"
    tree = sqlglot.parse_one(sql, read="duckdb")
    generator = _generator_class()()
    generator.texts, generator.lists = texts, lists
    return str(generator.generate(tree))


@lru_cache(maxsize=1)
def _generator_class() -> Any:
    from sqlglot import exp
    from sqlglot.dialects.postgres import Postgres

    class Generator(Postgres.Generator):
        texts: frozenset[int] = frozenset()
        lists: frozenset[int] = frozenset()

        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            number = int(expression.name[1:])
            return f"CAST(${number} AS TEXT[])" if number in self.lists else f"${number}"

        def jsonobject_sql(self, expression: exp.JSONObject | exp.JSONObjectAgg) -> str:
            """DuckDB's json_object(k, v, …) is PostgreSQL's json_build_object."""
            pairs = [self.sql(part) for kv in expression.expressions
                     for part in (kv.this, kv.expression)]
            pairs = [f"CAST({p} AS TEXT)" if p[1:].isdigit() and int(p[1:]) in self.texts
                     else p for p in pairs]
            return f"JSON_BUILD_OBJECT({', '.join(pairs)})"

    return Generator


class PgConnection:
    """What the store's callers use of a DuckDB connection, over one psycopg connection
    (autocommit: :meth:`Store.transaction` sends BEGIN and COMMIT itself)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.raw: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        _text_loaders(self.raw)
        # the analyses' queries (a chain of CTEs, windows, joins on event keys) are planned
        # from row estimates PostgreSQL cannot make for them, and it picked nested loops:
        # Nepal's events per unit took 43 s, with hash and merge joins 2.2 s; the services'
        # look-ups by key stay index scans (benchmarks/bench_postgres.py)
        self.raw.execute("SET enable_nestloop = off")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        import psycopg

        cursor = psycopg.RawCursor(self.raw)
        values = list(params) if params else None
        cursor.execute(translate(sql, *_kinds(values)), values)
        return PgCursor(cursor)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> PgCursor:
        import psycopg

        cursor = psycopg.RawCursor(self.raw)
        if rows:
            cursor.executemany(translate(sql, *_kinds(rows[0])), [list(r) for r in rows])
        return PgCursor(cursor)

    def cursor(self) -> PgConnection:
        return self

    def close(self) -> None:
        self.raw.close()


def _kinds(values: Sequence[Any] | None) -> tuple[frozenset[int], frozenset[int]]:
    """The placeholders (numbered from 1) that receive a text, and a list of texts."""
    numbered = list(enumerate(values or (), start=1))
    return (frozenset(n for n, v in numbered if isinstance(v, str)),
            frozenset(n for n, v in numbered if isinstance(v, (list, tuple))
                      and all(isinstance(x, str) for x in v)))


class PgCursor:
    """A statement's result as DuckDB's driver gives it: a statement that returns no rows
    (INSERT, UPDATE, DELETE) fetches one row, the number of rows it changed."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    @property
    def description(self) -> Any:
        return self.cursor.description

    @property
    def rowcount(self) -> int:
        return int(self.cursor.rowcount)

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.cursor.description is None:
            return [(self.cursor.rowcount,)] if self.cursor.rowcount >= 0 else []
        return list(self.cursor.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        if self.cursor.description is None:
            rows = self.fetchall()
            return rows[0] if rows else None
        row = self.cursor.fetchone()
        return None if row is None else tuple(row)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


@lru_cache(maxsize=1)
def _ibis_backend() -> Any:
    """Ibis's postgres backend, compiling what PostgreSQL refuses or Ibis renders unlike
    DuckDB and Spark: a boolean cast to a 64-bit integer (a count of true values) goes
    through ``integer``; exp() underflows to 0; a text field of a row is its text; a
    percentile over a window is a plain aggregate (``_windowed``)."""
    import ibis.expr.datatypes as dt
    import sqlglot.expressions as sge
    from ibis.backends.postgres import Backend
    from ibis.backends.sql.compilers.postgres import PostgresCompiler

    class Compiler(PostgresCompiler):  # type: ignore[misc]
        def visit_Cast(self, op: Any, *, arg: Any, to: Any) -> Any:
            if op.arg.dtype.is_boolean() and to.is_integer() and not to.is_int32():
                return self.cast(self.cast(arg, dt.int32), to)
            return super().visit_Cast(op, arg=arg, to=to)

        visit_TryCast = visit_Cast

        def visit_Exp(self, op: Any, *, arg: Any) -> Any:
            """exp() of a large negative number is 0 (PostgreSQL raises an underflow)."""
            return self.if_(arg < sge.convert(-700), sge.convert(0.0), self.f.exp(arg))

        def visit_StructField(self, op: Any, *, arg: Any, field: str) -> Any:
            """A text field of an anonymous row (pivot_longer's names) as its text, not
            its JSON (Ibis casts the JSON value: '"deaths"')."""
            if not op.dtype.is_string():
                return super().visit_StructField(op, arg=arg, field=field)
            idx = op.arg.dtype.names.index(field) + 1
            return self.f.jsonb_extract_path_text(self.f.to_jsonb(arg), f"f{idx:d}")

        def visit_WindowFunction(self, op: Any, *, func: Any, **kw: Any) -> Any:
            return super().visit_WindowFunction(op, func=_windowed(func), **kw)

    class PgBackend(Backend):  # type: ignore[misc]
        compiler = Compiler()

    return PgBackend


def _windowed(func: Any) -> Any:
    """A percentile over a window: PostgreSQL's percentile_cont is an ordered-set
    aggregate, which takes no OVER; riskatlas_quantile (``_functions``) is a plain one."""
    import sqlglot.expressions as sge

    inner, where = (func.this, func.expression) if isinstance(func, sge.Filter) else (func, None)
    if not (isinstance(inner, sge.WithinGroup) and isinstance(inner.this, sge.PercentileCont)):
        return func
    arg = inner.expression.expressions[0].this
    call = sge.Anonymous(this="riskatlas_quantile", expressions=[
        sge.Cast(this=arg, to=sge.DataType.build("DOUBLE PRECISION")), inner.this.this])
    return sge.Filter(this=call, expression=where) if where is not None else call


def _text_loaders(con: psycopg.Connection[Any]) -> None:
    """Values as DuckDB's driver gives them: JSON as its text, numeric as int or float."""
    from psycopg.adapt import Loader
    from psycopg.types.string import TextLoader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data).decode()
            return int(text) if text.lstrip("-").isdigit() else float(text)

    for name in ("json", "jsonb"):
        con.adapters.register_loader(name, TextLoader)
    con.adapters.register_loader("numeric", NumberLoader)


class PgStore(Store):
    """A store in a PostgreSQL database (the same schema, services and analyses).
    ``read_only`` is kept by the store (no transaction, no import), not by the server:
    the analyses write temporary tables (Ibis's in-memory tables); a database role
    without write grants is the server's way."""

    dialect = "postgres"

    def __init__(self, path: str | Any = None, *, read_only: bool = False,
                 crosswalks: Sequence[Path] = (), connection: Any = None,
                 memo: Memo | None = None, lock_wait: float | None = None) -> None:
        url = db_url(path)
        if url is None:
            raise StoreError("store.cannot_open", path=str(path), reason="not a PostgreSQL URL")
        self.url = url
        self.path = Path(display_url(url))  # shown in messages; never a file
        self.read_only = read_only
        self.importer_version = _package_version()
        self.memo = memo
        self.published_only = False
        self.lake = None
        self._depth = 0
        self._crosswalk_files = tuple(crosswalks)
        import psycopg

        try:
            self.connection = cast("duckdb.DuckDBPyConnection",
                                   connection or PgConnection(url))
        except psycopg.Error as exc:
            raise StoreError("store.cannot_open", path=display_url(url),
                             reason=str(exc).strip()) from exc
        self.migrated: list[int] = []
        if not read_only:
            if not schema_current(self.connection):
                self.migrated = self.upgrade()
            self._remove_stale_staging()
        log.debug("opened store %s", self.path)

    @property
    def pg(self) -> PgConnection:
        return cast(PgConnection, self.connection)

    def upgrade(self) -> list[int]:
        """Apply the migrations this database lacks (one transaction; concurrent openers
        wait on an advisory lock); returns the versions applied."""
        with self.transaction() as con:
            con.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
            self._functions()
            self._renamed_tables()
            return migrate(con)

    def _renamed_tables(self) -> None:
        """The tables of ``RENAMED``, and their views, before the shared DDL (whose
        ``CREATE TABLE IF NOT EXISTS`` then finds the view and passes)."""
        import sqlglot
        from sqlglot import exp

        from riskatlas.store.ddl import STATEMENTS

        for table, (stored, names) in RENAMED.items():
            ddl = next(s for s in STATEMENTS if f"TABLE IF NOT EXISTS {table} " in s)
            tree = sqlglot.parse_one(ddl, read="duckdb")
            tree.this.this.set("this", exp.to_identifier(stored))
            columns = [d.name for d in tree.find_all(exp.ColumnDef)]
            for column in tree.find_all(exp.ColumnDef):
                if column.name in names:
                    column.set("this", exp.to_identifier(names[column.name]))
            self.pg.raw.execute(tree.sql(dialect="postgres"))
            shown = ", ".join(f"{names[c]} AS {c}" if c in names else c for c in columns)
            self.pg.raw.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {shown} "
                                f"FROM {stored}")

    def _functions(self) -> None:
        """Functions the shared SQL and the analyses use that PostgreSQL 15 lacks:
        any_value, and a percentile that works over a window (``_windowed``)."""
        run = self.pg.raw.execute
        if not run("SELECT 1 FROM pg_proc WHERE proname = 'any_value'").fetchone():
            run("""CREATE FUNCTION riskatlas_any(anyelement, anyelement) RETURNS anyelement
                LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)'""")
            run("""CREATE AGGREGATE any_value(anyelement)
                (SFUNC = riskatlas_any, STYPE = anyelement)""")
        # the state: the fraction, then the values (nulls skipped)
        run("""CREATE OR REPLACE FUNCTION riskatlas_quantile_step(s float8[], v float8,
            q float8) RETURNS float8[] LANGUAGE sql IMMUTABLE
            AS 'SELECT CASE WHEN v IS NULL THEN coalesce(s, ARRAY[q])
                            ELSE coalesce(s, ARRAY[q]) || v END'""")
        run("""CREATE OR REPLACE FUNCTION riskatlas_quantile_end(s float8[]) RETURNS float8
            LANGUAGE sql IMMUTABLE AS 'SELECT percentile_cont(s[1]) WITHIN GROUP
            (ORDER BY v) FROM unnest(s[2:]) v'""")
        run("""CREATE OR REPLACE AGGREGATE riskatlas_quantile(float8, float8) (
            SFUNC = riskatlas_quantile_step, STYPE = float8[],
            FINALFUNC = riskatlas_quantile_end)""")

    @cached_property
    def ibis(self) -> Any:
        return _ibis_backend().from_connection(self.pg.raw)

    def _staging_prefix(self) -> str:
        return SCRATCH_PREFIX

    def _staging_folder(self) -> Path:
        """The system's temporary folder (a database has no folder beside it)."""
        return Path(tempfile.gettempdir())

    def tables(self) -> set[str]:
        return {str(r[0]) for r in self.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema IN (current_schema(), 'pg_temp')")}

    @cached_property
    def _schema(self) -> str:
        return str(self.scalar("SELECT current_schema()")).replace('"', '""')

    def stored(self, table: str) -> str:
        return f'"{self._schema}".{table}'

    @contextmanager
    def import_batch(self, **kwargs: Any) -> Iterator[ImportBatch]:
        if self.read_only:
            raise StoreError("store.read_only", path=str(self.path))
        batch = PgImportBatch(self, **kwargs)
        try:
            yield batch
        except BaseException:
            batch.abandon()
            raise


class PgImportBatch(ImportBatch):
    """An import batch committed through a scratch DuckDB store, then moved into
    PostgreSQL in one transaction (the caller's ``on_commit`` rows join that one)."""

    def __init__(self, target: PgStore, **kwargs: Any) -> None:
        self.target = target
        self.folder = target.new_staging_dir()
        self.scratch = Store(self.folder / "scratch.duckdb",
                             crosswalks=target._crosswalk_files)
        try:
            super().__init__(self.scratch, crosswalk_version=target.crosswalk.version,
                             dataset_id=target.next_dataset_id(), **kwargs)
        except BaseException:
            self._close_scratch()
            raise

    def commit(self) -> BatchResult:
        on_commit, self.on_commit = self.on_commit, None
        try:
            _known_records(self.target, self.scratch)
            result = super().commit()  # reconciled in the scratch store, or an error
            with self.target.transaction() as con:
                move_dataset(self.scratch, self.target, self.dataset_id, self.folder)
                if on_commit is not None:
                    on_commit(con, result)
            return result
        finally:
            self._close_scratch()

    def abandon(self) -> None:
        """The import failed before its commit: nothing reached PostgreSQL."""
        self._close_scratch()

    def _close_scratch(self) -> None:
        self.scratch.close()
        self.discard()
        shutil.rmtree(self.folder, ignore_errors=True)


def _known_records(target: PgStore, scratch: Store) -> None:
    """The ids (and datasets) of the records already stored, in the scratch store's
    ``records``: what an import sets aside as already there."""
    import pyarrow as pa

    ids: list[str] = []
    datasets: list[int] = []
    cursor = target.pg.raw.execute("SELECT record_id, dataset_id FROM records")
    for record_id, dataset_id in cursor:
        ids.append(record_id)
        datasets.append(dataset_id)
    if not ids:
        return
    known = pa.table({"record_id": pa.array(ids, pa.string()),
                      "dataset_id": pa.array(datasets, pa.int64())})
    scratch.connection.register("known_records", known)
    scratch.connection.execute("INSERT INTO records (record_id, dataset_id) "
                               "SELECT record_id, dataset_id FROM known_records")
    scratch.connection.unregister("known_records")


def move_dataset(scratch: Store, target: PgStore, dataset_id: int, folder: Path) -> None:
    """A dataset's rows from the scratch store into PostgreSQL, by COPY, in the target's
    open transaction; admin units merge into those stored as an import merges them."""
    where = f"dataset_id = {int(dataset_id)}"
    for table in DATASET_TABLES:
        copy_rows(scratch.connection, target, table, where, folder)
    stored, names = RENAMED["admin_units"]
    target.pg.raw.execute(f"CREATE TEMP TABLE units_new (LIKE {stored}) ON COMMIT DROP")
    copy_rows(scratch.connection, target, "admin_units", where, folder,
              into="units_new")
    keep = ("name", "name_en", "parent_code", "centroid_lon", "centroid_lat", "xmin", "ymin",
            "xmax", "ymax", "geometry")
    target.pg.raw.execute(
        f"INSERT INTO {stored} SELECT * FROM units_new "
        "ON CONFLICT (country_iso3, level, code) DO UPDATE SET "
        + ", ".join(f"{names.get(c, c)} = coalesce(excluded.{names.get(c, c)}, "
                    f"{stored}.{names.get(c, c)})" for c in keep))


def columns_of(target: PgStore, table: str) -> list[str]:
    """The columns of a table as the schema names them (a renamed table's by its view)."""
    rows = target.query("SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = current_schema() AND table_name = ? "
                        "ORDER BY ordinal_position", [table])
    return [str(r[0]) for r in rows]


def copy_rows(source: Any, target: PgStore, table: str, where: str, folder: Path, *,
              into: str | None = None) -> int:
    """Rows of a DuckDB table into PostgreSQL by COPY (through a CSV file: DuckDB writes
    it, PostgreSQL reads it); ``into``: another table with the stored table's columns.
    Returns the number of rows."""
    stored, names = RENAMED.get(table, (table, {}))
    target_table = into or stored
    columns = columns_of(target, table)
    selected = ", ".join(f'"{c}"' for c in columns)
    written = ", ".join(f'"{names.get(c, c)}"' for c in columns)
    path = folder / f"{table}.csv"
    source.execute(f"COPY (SELECT {selected} FROM {table} WHERE {where}) TO "
                   f"'{path}' (FORMAT csv, HEADER false)")
    with target.pg.raw.cursor() as cursor:
        with cursor.copy(f"COPY {target_table} ({written}) FROM STDIN (FORMAT csv)") as copy, \
                path.open("rb") as file:
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        rows = int(cursor.rowcount)
    path.unlink()
    return rows


def _package_version() -> str:
    import sys

    return str(sys.modules["riskatlas"].__version__)


def drop_everything(url: str) -> None:
    """Remove every RiskAtlas table of the database (tests, ``db copy --replace``)."""
    with contextlib.closing(PgConnection(url)) as con:
        con.raw.execute("DROP SCHEMA public CASCADE")
        con.raw.execute("CREATE SCHEMA public")
