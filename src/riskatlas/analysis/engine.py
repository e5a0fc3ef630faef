"""Where the analyses run: the store's DuckDB (default) or Spark.

The analyses are Ibis expressions over the tables an engine hands out, so the same code
runs on both. Spark reads a Parquet lake directly (``riskatlas --lake DIR``, see
:mod:`riskatlas.lake`), or else a Parquet snapshot of the store's analysis columns taken
when it opens. Its master is ``local[2]`` unless ``$RISKATLAS_SPARK_MASTER`` (the CLI's
``--spark-master``) names another: ``local[N]``, a standalone cluster ``spark://host:port``
or Spark Connect ``sc://host:port``; ``$RISKATLAS_SPARK_CONF`` names a file of further
settings in the format of Spark's ``spark-defaults.conf`` (``key value`` per line, ``#``
comments), applied over RiskAtlas' defaults.
"""

from __future__ import annotations

import logging
import os
import re
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
        from riskatlas.analysis.compiled import install

        self.store = store
        # SQL kept per query shape (analysis/compiled.py), for DuckDB's dialect only (a
        # PostgreSQL store's analyses run on its own backend: riskatlas.store.postgres)
        if self.name == "duckdb" and store.ibis.name == "duckdb":
            install(store.ibis)

    @property
    def con(self) -> Any:
        return self.store.ibis

    def table(self, name: str) -> ir.Table:
        """The store's table (its schema read once per served copy: ``Store.table``)."""
        return self.store.table(name)

    def close(self) -> None:
        """Release what the engine holds (the store stays open)."""


class SparkEngine(Engine):
    """PySpark over a Parquet lake or a snapshot of the store."""

    name = "spark"

    def __init__(self, store: Store, *, session: Any = None) -> None:
        super().__init__(store)
        try:
            import ibis
            from pyspark.sql import SparkSession
        except ImportError:
            raise AnalysisError("analysis.no_spark") from None
        self._session = session or spark_session(SparkSession)
        self._con = ibis.pyspark.connect(self._session)
        self._dir: Path | None = None
        if store.lake is not None:
            self._read_lake(store.lake)
            return
        self._dir = Path(tempfile.mkdtemp(prefix="riskatlas-spark-"))
        for name in _TABLES:
            path = self._dir / f"{name}.parquet"
            store.connection.execute(
                f"COPY (SELECT {', '.join(self._columns(name))} FROM {name}) TO '{path}' "
                "(FORMAT parquet)")
            self._con.read_parquet(str(path), table_name=name)
        log.debug("spark snapshot of %s in %s", store.path, self._dir)

    def _columns(self, name: str) -> list[str]:
        drop = _HEAVY_COLUMNS.get(name, ())
        return [c for c in self.store.table(name).columns if c not in drop]

    def _read_lake(self, lake: Path) -> None:
        """The lake's tables as temporary views, read where they are (no copy); the
        partition folders are not read as columns (the files hold every column)."""
        from riskatlas.lake import manifest_of

        tables = manifest_of(lake)["tables"]
        for name in _TABLES:
            path = lake / tables[name]["path"]
            reader = self._session.read.option("recursiveFileLookup", "true")
            reader.parquet(str(path)).select(*self._columns(name)) \
                .createOrReplaceTempView(name)
        log.debug("spark reads the lake %s", lake)

    @property
    def con(self) -> Any:
        return self._con

    def table(self, name: str) -> ir.Table:
        return self._con.table(name)

    def close(self) -> None:
        for name in _TABLES:
            self._session.catalog.dropTempView(name)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


DEFAULT_MASTER = "local[2]"
SPARK_DEFAULTS = {  # RiskAtlas' settings, under those of $RISKATLAS_SPARK_CONF
    "spark.app.name": "riskatlas", "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4", "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false", "spark.ui.showConsoleProgress": "false"}


def spark_settings() -> dict[str, str]:
    """RiskAtlas' Spark settings with those of the file $RISKATLAS_SPARK_CONF over them."""
    settings = dict(SPARK_DEFAULTS)
    conf = os.environ.get("RISKATLAS_SPARK_CONF")
    if conf:
        try:
            lines = Path(conf).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AnalysisError("analysis.spark_conf", path=conf, reason=str(exc)) from exc
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, value = [*re.split(r"\s*[=\s]\s*", line, maxsplit=1), ""][:2]
            if not value:
                raise AnalysisError("analysis.spark_conf", path=conf,
                                    reason=f"line {number}: no value for {key}")
            settings[key] = value
    return settings


def spark_session(builder_cls: Any) -> Any:
    """A session on $RISKATLAS_SPARK_MASTER (``local[2]`` by default)."""
    master = os.environ.get("RISKATLAS_SPARK_MASTER") or DEFAULT_MASTER
    builder = builder_cls.builder
    if master.startswith("sc://"):
        try:
            builder = builder.remote(master)
        except ImportError as exc:  # Spark Connect's client needs grpcio
            raise AnalysisError("analysis.spark_connect", master=master,
                                reason=str(exc)) from None
    else:
        builder = builder.master(master)
    for key, value in spark_settings().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not master.startswith("sc://"):  # a Connect session has no SparkContext
        session.sparkContext.setLogLevel("ERROR")
    return session


def make_engine(name: str, store: Store) -> Engine:
    if name == "duckdb":
        return Engine(store)
    if name == "spark":
        return SparkEngine(store)
    raise AnalysisError("analysis.unknown_engine", engine=name, engines=", ".join(ENGINES))
