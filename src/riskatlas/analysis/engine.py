"""Where the analyses run: the store's DuckDB (default) or Spark in local mode.

The analyses are Ibis expressions over the tables an engine hands out, so the same code
runs on both. The Spark engine reads a Parquet snapshot of the store's analysis columns
(taken when it opens); for data that outgrows one machine, point a cluster's session at
Parquet files of the same schema.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.errors import AnalysisError
from riskatlas.store.store import Store

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")
# columns the analyses never read: left out of Spark snapshots
_HEAVY_COLUMNS = {"records": ("raw",), "admin_units": ("geometry",)}
_TABLES = ("records", "admin_units", "population", "datasets")


class Engine:
    """Ibis tables for the analyses on one backend."""

    name = "duckdb"

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def con(self) -> Any:
        return self.store.ibis

    def table(self, name: str) -> ir.Table:
        """The store's table (its schema read once per served copy: ``Store.table``)."""
        return self.store.table(name)

    def close(self) -> None:
        """Release what the engine holds (the store stays open)."""


class SparkEngine(Engine):
    """PySpark in local mode over a Parquet snapshot of the store."""

    name = "spark"

    def __init__(self, store: Store, *, session: Any = None) -> None:
        super().__init__(store)
        try:
            import ibis
            from pyspark.sql import SparkSession
        except ImportError:
            raise AnalysisError("analysis.no_spark") from None
        self._session = session or _local_session(SparkSession)
        self._session.sparkContext.setLogLevel("ERROR")
        self._con = ibis.pyspark.connect(self._session)
        self._dir = Path(tempfile.mkdtemp(prefix="riskatlas-spark-"))
        for name in _TABLES:
            path = self._dir / f"{name}.parquet"
            drop = _HEAVY_COLUMNS.get(name, ())
            columns = [c for c in store.table(name).columns if c not in drop]
            store.connection.execute(
                f"COPY (SELECT {', '.join(columns)} FROM {name}) TO '{path}' (FORMAT parquet)")
            self._con.read_parquet(str(path), table_name=name)
        log.debug("spark snapshot of %s in %s", store.path, self._dir)

    @property
    def con(self) -> Any:
        return self._con

    def table(self, name: str) -> ir.Table:
        return self._con.table(name)

    def close(self) -> None:
        for name in _TABLES:
            self._session.catalog.dropTempView(name)
        shutil.rmtree(self._dir, ignore_errors=True)


def _local_session(builder_cls: Any) -> Any:
    return (builder_cls.builder.master("local[2]").appName("riskatlas")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def make_engine(name: str, store: Store) -> Engine:
    if name == "duckdb":
        return Engine(store)
    if name == "spark":
        return SparkEngine(store)
    raise AnalysisError("analysis.unknown_engine", engine=name, engines=", ".join(ENGINES))
