"""Copy a whole store between DuckDB and PostgreSQL (``riskatlas db copy SRC DST``).

Every table of the schema (the ``CREATE TABLE`` statements of :mod:`riskatlas.store.ddl`
and ``schema_migrations``) moves with all its rows, and every sequence keeps its next
value, so the copy is the same store: its web session key, migrations, audit log and
card authors too. Rows travel as CSV: DuckDB's ``COPY … TO`` or PostgreSQL's
``COPY … TO STDOUT`` writes a table, PostgreSQL's ``COPY … FROM STDIN`` or DuckDB's
``read_csv`` reads it (from DuckDB into PostgreSQL through
:func:`riskatlas.store.postgres.copy_rows`, the import's own mover).

All or nothing: on PostgreSQL the whole copy (the schema too) is one transaction; a DuckDB
target is built as a new file beside the target and renamed over it once complete. Before
that commit, each table is reconciled: its row count and a content digest (a sum of the
hashes of its rows, so independent of their order and of the order of the columns) read
back from the target must equal the source's; otherwise nothing is committed. The source
is read in one snapshot (PostgreSQL: a repeatable-read transaction; DuckDB: read-only).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from riskatlas.errors import StoreError
from riskatlas.paths import db_url
from riskatlas.store.ddl import MIGRATIONS_TABLE, SCHEMA_VERSION, STATEMENTS, stored_version
from riskatlas.store.store import left_by_dead

if TYPE_CHECKING:
    import duckdb

    from riskatlas.store.postgres import PgStore

# rows that every store has, even one with no data: they do not make a target "not empty"
BOOKKEEPING = ("meta", "schema_migrations")
# tables the web app derives from the others and makes again when missing (the record
# browser's index, riskatlas.services.browse): left out of a copy, named in its result
DERIVED_PREFIX = "web_"
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_SEQUENCE = re.compile(r"CREATE SEQUENCE IF NOT EXISTS (\w+)")
_FETCH = 5000  # rows per fetch while digesting
_MOD = 1 << 128


def schema_tables() -> tuple[str, ...]:
    """The store's tables, in the order of the schema (views excluded)."""
    return tuple(m.group(1) for s in (*STATEMENTS, MIGRATIONS_TABLE)
                 if (m := _TABLE.search(s)))


def schema_sequences() -> tuple[str, ...]:
    return tuple(m.group(1) for s in STATEMENTS if (m := _SEQUENCE.search(s)))


@dataclass(frozen=True)
class TableCopy:
    """One table copied: its rows and its content digest (equal on both sides)."""

    table: str
    rows: int
    digest: str


@dataclass(frozen=True)
class CopyResult:
    source: str
    target: str
    tables: tuple[TableCopy, ...]
    sequences: dict[str, int]  # the next value of each sequence, equal on both sides
    seconds: float
    left_out: tuple[str, ...] = ()  # derived tables of the source (DERIVED_PREFIX)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def row_digest(rows: Iterator[Sequence[Any]]) -> tuple[int, str]:
    """(count, digest) of rows: the sum modulo 2**128 of each row's BLAKE2b hash (of the
    repr of its values), so neither the order of the rows matters nor a duplicate row
    cancels out. Callers give the columns in one order (sorted by name)."""
    total = count = 0
    for row in rows:
        h = hashlib.blake2b(repr(tuple(row)).encode(), digest_size=16).digest()
        total = (total + int.from_bytes(h, "big")) % _MOD
        count += 1
    return count, f"{total:032x}"


# ----------------------------------------------------------------------------- the two sides


class _Side(ABC):
    """A store being read or written, whatever its engine."""

    label: str

    @abstractmethod
    def base_tables(self) -> set[str]:
        """The names of its tables as the schema has them."""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """A table's columns as the schema names them."""

    @abstractmethod
    def count(self, table: str) -> int: ...

    @abstractmethod
    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Sequence[Any]]:
        """A table's rows (these columns), in the caller's transaction."""

    @abstractmethod
    def next_value(self, sequence: str) -> int:
        """What the sequence's nextval() would give (without taking it)."""

    @abstractmethod
    def set_next(self, sequence: str, value: int) -> None: ...

    @abstractmethod
    def write_csv(self, table: str, columns: Sequence[str], path: Path) -> None: ...

    @abstractmethod
    def read_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        """Rows of a CSV file into a table; their number."""

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    def digest(self, table: str) -> tuple[int, str]:
        return row_digest(self.rows(table, sorted(self.columns(table))))


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(c if c == "1" else f'"{c}"' for c in columns)


class _Duck(_Side):
    def __init__(self, con: duckdb.DuckDBPyConnection, label: str) -> None:
        self.con = con
        self.label = label

    def base_tables(self) -> set[str]:
        return {str(r[0]) for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema = 'main' AND table_catalog = current_database()").fetchall()}

    def columns(self, table: str) -> list[str]:
        return [str(r[0]) for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name = ? "
            "ORDER BY ordinal_position", [table]).fetchall()]

    def count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Sequence[Any]]:
        # this connection (a cursor would be another transaction, blind to the copy's rows)
        result = self.con.execute(f"SELECT {_quoted(columns)} FROM {table}")
        while batch := result.fetchmany(_FETCH):
            yield from batch

    def next_value(self, sequence: str) -> int:
        start, step, last = self.con.execute(
            "SELECT start_value, increment_by, last_value FROM duckdb_sequences() "
            "WHERE sequence_name = ? AND database_name = current_database()",
            [sequence]).fetchall()[0]
        return int(start) if last is None else int(last) + int(step)

    def set_next(self, sequence: str, value: int) -> None:
        # DuckDB has no setval: the sequence is made again (no column defaults to it)
        self.con.execute(f"DROP SEQUENCE {sequence}")
        self.con.execute(f"CREATE SEQUENCE {sequence} START {int(value)}")

    def write_csv(self, table: str, columns: Sequence[str], path: Path) -> None:
        self.con.execute(f"COPY (SELECT {_quoted(columns)} FROM {table}) TO '{path}' "
                         "(FORMAT csv, HEADER false)")

    def read_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        """Rows of a CSV file written by either engine: a quoted empty value is an empty
        text, an unquoted one NULL; values are read as text and cast by the insert (t/f
        booleans, Infinity, JSON text as written); no line length limit to speak of."""
        spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
        row = self.con.execute(
            f"INSERT INTO {table} ({_quoted(columns)}) SELECT * FROM read_csv('{path}', "
            f"columns = {spec}, header = false, auto_detect = false, delim = ',', "
            "quote = '\"', escape = '\"', allow_quoted_nulls = false, "
            "max_line_size = 1073741824)").fetchone()
        return int(row[0]) if row else 0

    def execute(self, sql: str) -> None:
        self.con.execute(sql)


class _Pg(_Side):
    def __init__(self, store: PgStore, label: str) -> None:
        from riskatlas.store.postgres import RENAMED

        self.store = store
        self.raw = store.pg.raw
        self.label = label
        self.renamed = RENAMED
        self._cursors = 0

    def base_tables(self) -> set[str]:
        stored = {v[0]: k for k, v in self.renamed.items()}
        return {stored.get(str(r[0]), str(r[0])) for r in self.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE "
            "table_schema = current_schema() AND table_type = 'BASE TABLE'").fetchall()}

    def columns(self, table: str) -> list[str]:
        from riskatlas.store.postgres import columns_of

        return columns_of(self.store, table)

    def count(self, table: str) -> int:
        row = self.raw.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Sequence[Any]]:
        """Rows through a server-side cursor (the caller's transaction is open)."""
        self._cursors += 1
        with self.raw.cursor(name=f"riskatlas_copy_{self._cursors}") as cursor:
            cursor.itersize = _FETCH
            cursor.execute(f"SELECT {_quoted(columns)} FROM {table}")
            while batch := cursor.fetchmany(_FETCH):
                yield from batch

    def next_value(self, sequence: str) -> int:
        row = self.raw.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
        assert row is not None
        return int(row[0]) + 1 if row[1] else int(row[0])

    def set_next(self, sequence: str, value: int) -> None:
        self.raw.execute("SELECT setval(%s, %s, false)", [sequence, int(value)])

    def write_csv(self, table: str, columns: Sequence[str], path: Path) -> None:
        with self.raw.cursor() as cursor, path.open("wb") as file, cursor.copy(
                f"COPY (SELECT {_quoted(columns)} FROM {table}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                file.write(chunk)

    def read_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        stored, names = self.renamed.get(table, (table, {}))
        written = ", ".join(f'"{names.get(c, c)}"' for c in columns)
        with self.raw.cursor() as cursor:
            with cursor.copy(f"COPY {stored} ({written}) FROM STDIN (FORMAT csv)") as copy, \
                    path.open("rb") as file:
                while chunk := file.read(1 << 20):
                    copy.write(chunk)
            return int(cursor.rowcount)

    def execute(self, sql: str) -> None:
        self.raw.execute(sql)

    def identity(self) -> tuple[Any, ...]:
        """This session (server process and its start), database and schema: what the
        other side finds in ``pg_stat_activity`` when both are one store."""
        row = self.raw.execute(
            "SELECT pid, backend_start, datname, current_schema() FROM pg_stat_activity "
            "WHERE pid = pg_backend_pid()").fetchone()
        return tuple(row or ())

    def sessions(self) -> set[tuple[Any, ...]]:
        """The identities of the sessions open on this database and schema."""
        return {tuple(r) for r in self.raw.execute(
            "SELECT pid, backend_start, datname, current_schema() FROM pg_stat_activity "
            "WHERE datname = current_database()").fetchall()}


# ----------------------------------------------------------------------------- the copy


def display(location: str | os.PathLike[str]) -> str:
    """A store's name for messages (a URL without its password)."""
    url = db_url(location)
    if url is None:
        return str(location)
    from riskatlas.store.postgres import display_url

    return display_url(url)


def copy_store(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
               overwrite: bool = False,
               on_table: Callable[[TableCopy], None] | None = None) -> CopyResult:
    """Copy the store at ``source`` to ``target`` (DuckDB files or ``postgresql://`` URLs,
    either way): every table and sequence, in one transaction on the target, reconciled
    table by table (rows and content digest) before it is committed. A target that holds
    data is refused unless ``overwrite``. ``on_table`` is told of each table copied."""
    started = time.perf_counter()
    src_url, dst_url = db_url(source), db_url(target)
    if (src_url or Path(source).resolve()) == (dst_url or Path(target).resolve()):
        raise StoreError("store.copy.same", path=display(source))
    if src_url is None and not Path(source).exists():
        raise StoreError("store.missing", path=str(source))
    with _reading(source) as src:
        tables, left_out = _source_tables(src)
        if dst_url is not None:
            copied, sequences = _into_postgres(src, dst_url, tables, overwrite, on_table)
        else:
            copied, sequences = _into_duckdb(src, Path(target), tables, overwrite, on_table)
    return CopyResult(display(source), display(target), tuple(copied), sequences,
                      time.perf_counter() - started, left_out)


@contextlib.contextmanager
def _reading(location: str | os.PathLike[str]) -> Iterator[_Side]:
    """The source, read in one snapshot."""
    from riskatlas.store.opening import open_store

    store = open_store(location, read_only=True)
    try:
        if db_url(location) is None:
            yield _Duck(store.connection, display(location))
            return
        from riskatlas.store.postgres import PgStore

        assert isinstance(store, PgStore)
        store.pg.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _exact_text(store)
        try:
            yield _Pg(store, display(location))
        finally:
            store.pg.raw.execute("ROLLBACK")
    finally:
        store.close()


def _exact_text(store: PgStore) -> None:
    """For this transaction, values as text that read back exactly, whatever the server's
    settings: floats in their shortest exact form, dates and times in ISO form."""
    store.pg.raw.execute("SET LOCAL extra_float_digits = 3")
    store.pg.raw.execute("SET LOCAL DateStyle = 'ISO, YMD'")


def _source_tables(src: _Side) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The schema's tables and the source's derived ones, after checking the source is a
    store of this schema version with no other table (which a copy would lose)."""
    found = stored_version(cast("duckdb.DuckDBPyConnection", _Execute(src)))
    if found > SCHEMA_VERSION:
        raise StoreError("store.newer_schema", found=found, supported=SCHEMA_VERSION)
    if found != SCHEMA_VERSION:
        raise StoreError("store.copy.version", path=src.label, found=found,
                         supported=SCHEMA_VERSION)
    tables = schema_tables()
    present = src.base_tables()
    derived = tuple(sorted(t for t in present if t.startswith(DERIVED_PREFIX)))
    if unknown := sorted(present - set(tables) - set(derived)):
        raise StoreError("store.copy.unknown_tables", path=src.label,
                         tables=", ".join(unknown))
    if missing := [t for t in tables if t not in present]:
        raise StoreError("store.copy.version", path=src.label,
                         found=f"{found} ({', '.join(missing)}?)", supported=SCHEMA_VERSION)
    return tables, derived


class _Execute:
    """``execute(sql, params).fetchall()/fetchone()`` over a side (for ddl.stored_version,
    which takes a connection)."""

    def __init__(self, side: _Side) -> None:
        self.side = side

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if isinstance(self.side, _Pg):
            return self.side.store.connection.execute(sql, params)
        assert isinstance(self.side, _Duck)
        return self.side.con.execute(sql, params)


def _occupied(side: _Side, tables: Sequence[str]) -> list[str]:
    """The tables of a target holding rows (bookkeeping rows apart)."""
    present = side.base_tables()
    return [t for t in tables if t in present and t not in BOOKKEEPING and side.count(t)]


def _fill(src: _Side, dst: _Side, tables: Sequence[str], folder: Path,
          on_table: Callable[[TableCopy], None] | None,
          mover: Callable[[str, list[str]], int] | None = None
          ) -> tuple[list[TableCopy], dict[str, int]]:
    """Every table's rows and every sequence's next value from ``src`` into ``dst`` (whose
    schema is fresh), then the reconciliation; raises if any table differs."""
    for table in BOOKKEEPING:  # the fresh schema's own rows give way to the source's
        dst.execute(f"DELETE FROM {table}")
    copied = []
    for table in tables:
        columns = src.columns(table)
        if sorted(columns) != sorted(theirs := dst.columns(table)):
            raise StoreError("store.copy.columns", table=table, source=", ".join(columns),
                             target=", ".join(theirs))
        if mover is not None:
            moved = mover(table, columns)
        else:
            path = folder / f"{table}.csv"
            src.write_csv(table, columns, path)
            moved = dst.read_csv(table, columns, path)
            path.unlink()
        rows, digest = src.digest(table)
        got_rows, got_digest = dst.digest(table)
        if (rows, digest) != (got_rows, got_digest) or moved != rows:
            raise StoreError("store.copy.mismatch", table=table, rows=rows, copied=got_rows)
        copied.append(TableCopy(table, rows, digest))
        if on_table is not None:
            on_table(copied[-1])
    sequences = {}
    for sequence in schema_sequences():
        value = src.next_value(sequence)
        dst.set_next(sequence, value)
        if dst.next_value(sequence) != value:
            raise StoreError("store.copy.mismatch", table=sequence, rows=value,
                             copied=dst.next_value(sequence))
        sequences[sequence] = value
    return copied, sequences


def _into_postgres(src: _Side, url: str, tables: Sequence[str], overwrite: bool,
                   on_table: Callable[[TableCopy], None] | None
                   ) -> tuple[list[TableCopy], dict[str, int]]:
    """The copy in one PostgreSQL transaction: the schema dropped and made again, then
    the rows; an error or a killed process leaves the database as it was."""
    from riskatlas.store.postgres import SCHEMA_LOCK, PgStore, copy_rows

    store = PgStore(url, read_only=True)  # opened without creating the schema: ...
    store.read_only = False  # ... that is made in the copy's own transaction
    folder = Path(tempfile.mkdtemp(prefix="riskatlas-copy-"))
    try:
        dst = _Pg(store, display(url))
        with store.transaction():
            if isinstance(src, _Pg) and src.identity() in dst.sessions():
                # the source under another name: its snapshot would block the drop forever
                raise StoreError("store.copy.same", path=dst.label)
            dst.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
            _exact_text(store)
            if (occupied := _occupied(dst, tables)) and not overwrite:
                raise StoreError("store.copy.not_empty", path=dst.label,
                                 tables=", ".join(occupied))
            _drop_schema(dst)
            store.upgrade()  # joins this transaction
            mover = None
            if isinstance(src, _Duck):  # the import's own mover: DuckDB → CSV → COPY
                duck = src.con
                mover = functools.partial(_copy_rows, copy_rows, duck, store, folder)
            return _fill(src, dst, tables, folder, on_table, mover)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def _copy_rows(copy_rows: Callable[..., int], source: Any, store: PgStore, folder: Path,
               table: str, columns: list[str]) -> int:
    """:func:`riskatlas.store.postgres.copy_rows` of a whole table (it reads the columns
    from the target, by name)."""
    return copy_rows(source, store, table, "true", folder)


def _drop_schema(dst: _Pg) -> None:
    """The store's tables, views and sequences, and the tables derived from them (which
    would be stale); nothing else of the schema."""
    stored = {name: table for name, (table, _n) in dst.renamed.items()}
    ours = {*schema_tables(), *stored.values(), "records_full"}
    for name, kind in dst.raw.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = current_schema()").fetchall():
        if name in ours or name.startswith(DERIVED_PREFIX):
            what = "VIEW" if kind == "VIEW" else "TABLE"
            dst.raw.execute(f"DROP {what} IF EXISTS {name} CASCADE")
    for sequence in schema_sequences():
        dst.raw.execute(f"DROP SEQUENCE IF EXISTS {sequence}")


def _into_duckdb(src: _Side, target: Path, tables: Sequence[str], overwrite: bool,
                 on_table: Callable[[TableCopy], None] | None
                 ) -> tuple[list[TableCopy], dict[str, int]]:
    """The copy into a new DuckDB file beside the target, renamed over it when complete
    and reconciled (a failed or killed copy leaves the target as it was)."""
    import duckdb

    from riskatlas.store.store import Store

    _remove_stale_copies(target)
    if target.exists():
        try:  # a writer elsewhere keeps it (and the copy) out; its log is replayed
            con = duckdb.connect(str(target))
        except duckdb.Error as exc:
            raise StoreError("store.cannot_open", path=str(target), reason=str(exc)) from exc
        with contextlib.closing(con):
            occupied = _occupied(_Duck(con, str(target)), tables)
        if occupied and not overwrite:
            raise StoreError("store.copy.not_empty", path=str(target),
                             tables=", ".join(occupied))
    partial = target.parent / f".{target.name}.copy-{os.getpid()}.duckdb"
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.copy-{os.getpid()}-",
                                   dir=target.resolve().parent))
    done = False
    try:
        store = Store(partial)
        try:
            with store.transaction() as con:
                result = _fill(src, _Duck(con, str(target)), tables, folder, on_table)
        finally:
            store.close()
        Path(f"{target}.wal").unlink(missing_ok=True)  # the old file's, if any
        os.replace(partial, target)
        done = True
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if not done:
            partial.unlink(missing_ok=True)
            Path(f"{partial}.wal").unlink(missing_ok=True)


def _remove_stale_copies(target: Path) -> None:
    """Files of a copy to ``target`` whose process is gone (it was killed)."""
    for path in left_by_dead(target.resolve().parent, f".{target.name}.copy-"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
