"""A Parquet lake: the store's data tables as Parquet files that DuckDB, Spark or any other
engine reads without the DuckDB store (``riskatlas export --format lake``; ``riskatlas
--lake DIR``).

Layout of a lake folder::

    riskatlas-lake.json          what is where: tables, their columns and SQL types,
                                 partitioning, row counts, the store's schema version
    records/country=NPL/year=2001/data_0.parquet ...   the records, hive-partitioned
    datasets.parquet, admin_units.parquet, ...          the other tables, one file each

The partition folders are named by the keys asked (:data:`PARTITION_KEYS`: ``country``,
``year``, ``hazard``, ``dataset``, ``status``) and hold the key's value as text (``_none``
for a blank), so a reader that discovers partitions never sees a key whose type changes
from folder to folder; the files keep every records column, and readers take the columns
and their types from the manifest. A lake holds no accounts, sessions or audit log: it is data to
analyse, not a web store. It is written into a folder beside the target and renamed when
complete, so a failed export leaves no half lake.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from riskatlas.errors import RiskAtlasError, StoreError
from riskatlas.store.ddl import SCHEMA_VERSION, STATEMENTS, create_schema
from riskatlas.store.store import Store

MANIFEST = "riskatlas-lake.json"
LAKE_FORMAT = "riskatlas-lake/1"
# the data tables a lake holds (records partitioned, the others one file each)
TABLES = ("records", "record_extensions", "datasets", "dataset_files", "admin_units",
          "admin_levels", "hazard_terms", "population", "quality_issues", "quarantine")
# the keys a lake can be partitioned by → their records column
PARTITION_KEYS = {"country": "country_iso3", "year": "start_year", "hazard": "hazard_group",
                  "dataset": "dataset_id", "status": "approval_status"}
BLANK = "_none"  # the partition value of a blank key


class LakeError(RiskAtlasError):
    """A lake that cannot be written or read (the message names the folder)."""


@dataclass(frozen=True)
class LakeSummary:
    path: Path
    tables: dict[str, int]  # table → rows written
    partition_by: tuple[str, ...]


def partition_columns(keys: Sequence[str]) -> list[tuple[str, str]]:
    """(folder key, records column) of each asked key (:data:`PARTITION_KEYS`); the folder
    keys differ from the column names, so a reader's partition discovery never shadows a
    column with its text."""
    out: list[tuple[str, str]] = []
    for key in (k.strip() for k in keys if k.strip()):
        if key not in PARTITION_KEYS:
            raise LakeError("lake.bad_partition", key=key, keys=", ".join(PARTITION_KEYS))
        out.append((key, PARTITION_KEYS[key]))
    return out


def write_lake(store: Store, target: str | os.PathLike[str], *,
               partition_by: Sequence[str] = ("country", "year"),
               published_only: bool = False, overwrite: bool = False) -> LakeSummary:
    """Write the store's data tables as a lake at ``target`` (a new folder, or one to
    replace with ``overwrite``)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise LakeError("lake.exists", path=str(target))
    keys = partition_columns(partition_by)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        present = store.tables()
        tables = {name: _write_table(store, name, staging, keys, published_only)
                  for name in TABLES if name in present}
        manifest = {
            "format": LAKE_FORMAT, "schema_version": SCHEMA_VERSION,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "importer_version": store.importer_version, "source": str(store.path),
            "published_only": published_only,
            "tables": {name: {**entry, "columns": _columns(store, name)}
                       for name, entry in tables.items()}}
        (staging / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return LakeSummary(target, {n: int(e["rows"]) for n, e in tables.items()},
                       tuple(k for k, _ in keys))


def _columns(store: Store, table: str) -> list[list[str]]:
    rows = store.query("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_name = ? AND table_schema = 'main' "
                       "ORDER BY ordinal_position", [table])
    return [[str(name), str(kind)] for name, kind in rows]


def _write_table(store: Store, name: str, folder: Path,
                 keys: list[tuple[str, str]], published_only: bool) -> dict[str, Any]:
    source = store.stored(name)
    where = " WHERE approval_status = 'published'" if published_only and name == "records" \
        else ""
    rows = int(store.scalar(f"SELECT count(*) FROM {source}{where}"))
    con = store.connection
    if name != "records" or not keys or rows == 0:
        path = folder / (f"{name}.parquet" if name != "records" else "records/empty.parquet")
        path.parent.mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT * FROM {source}{where}) TO '{_sql_text(path)}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        return {"path": str(path.relative_to(folder)), "rows": rows, "partition_by": []}
    folder_keys = ", ".join(
        f"coalesce(NULLIF(trim(CAST({column} AS VARCHAR)), ''), '{BLANK}') AS \"{key}\""
        for key, column in keys)
    partition = ", ".join(f'"{key}"' for key, _ in keys)
    con.execute(f"COPY (SELECT *, {folder_keys} FROM {source}{where}) "
                f"TO '{_sql_text(folder / 'records')}' (FORMAT parquet, COMPRESSION zstd, "
                f"PARTITION_BY ({partition}))")
    return {"path": "records", "rows": rows,
            "partition_by": [[key, column] for key, column in keys]}


def _sql_text(path: Path | str) -> str:
    return str(path).replace("'", "''")


# --- reading ---------------------------------------------------------------------------

def is_lake(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()


def manifest_of(lake: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(lake) / MANIFEST
    try:
        manifest = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise LakeError("lake.unreadable", path=str(lake), reason=str(exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != LAKE_FORMAT:
        raise LakeError("lake.unreadable", path=str(lake),
                        reason=f"format is not {LAKE_FORMAT}")
    return manifest


def table_files(lake: str | os.PathLike[str], entry: dict[str, Any]) -> str:
    """The files of one table as a DuckDB or Spark path (a glob for partitioned ones)."""
    path = Path(lake) / entry["path"]
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)


def open_lake(lake: str | os.PathLike[str]) -> Store:
    """A read-only :class:`Store` whose tables are views over the lake's files (an
    in-memory DuckDB; the tables a lake does not hold are empty)."""
    import duckdb

    manifest = manifest_of(lake)
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute("BEGIN TRANSACTION")
        create_schema(con)
        for name, entry in manifest["tables"].items():
            if name not in TABLES:
                continue
            columns = ", ".join(f'CAST("{column}" AS {kind}) AS "{column}"'
                                for column, kind in entry["columns"])
            files = _sql_text(table_files(lake, entry))
            con.execute("DROP VIEW IF EXISTS records_full")  # it reads two lake tables
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM read_parquet('{files}',"
                        " hive_partitioning = false, union_by_name = true)")
        con.execute(next(s for s in STATEMENTS if "VIEW records_full" in s))
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.close()
        raise LakeError("lake.unreadable", path=str(lake), reason=str(exc)) from exc
    store = Store(lake, read_only=True, connection=con)
    store.lake = Path(lake)
    return store


def lake_or_store(path: str | os.PathLike[str] | None) -> Path | None:
    """The lake that ``path`` (or $RISKATLAS_LAKE when no path is given) names, if any."""
    chosen = path or os.environ.get("RISKATLAS_LAKE")
    if chosen and is_lake(chosen):
        return Path(chosen)
    if not path and os.environ.get("RISKATLAS_LAKE"):
        raise StoreError("store.missing", path=os.environ["RISKATLAS_LAKE"])
    return None
