"""Where the analyses run: the store's DuckDB (default) or Spark.

The analyses are Ibis expressions over the tables an engine hands out, so the same code
runs on both. Spark reads a Parquet lake directly (``riskatlas --lake DIR``, see
:mod:`riskatlas.lake`), a PostgreSQL store through its JDBC source (PostgreSQL's JDBC
driver: Debian's, or the jar ``$RISKATLAS_SPARK_JDBC_JAR`` names), or else a Parquet
snapshot of the DuckDB store's analysis columns taken when it opens. Its master is
``local[2]`` unless ``$RISKATLAS_SPARK_MASTER`` (the CLI's ``--spark-master``) names
another: ``local[N]``, a standalone cluster ``spark://host:port`` or Spark Connect
``sc://host:port``; ``$RISKATLAS_SPARK_CONF`` names a file of further
settings in the format of Spark's ``spark-defaults.conf`` (``key value`` per line, ``#``
comments), applied over RiskAtlas' defaults.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from riskatlas.errors import AnalysisError
from riskatlas.store.store import Store

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")
# columns the analyses never read: left out of Spark snapshots
_HEAVY_COLUMNS = {"records": ("raw",), "admin_units": ("geometry",)}
_TABLES = ("records", "admin_units", "population", "datasets")
# PostgreSQL's JDBC driver from Debian's libpostgresql-jdbc-java ($RISKATLAS_SPARK_JDBC_JAR
# names another jar); records read per partition of the records table (Spark reads the
# partitions in parallel, one connection each); rows fetched per round trip
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
JDBC_ROWS_PER_PARTITION = 250_000
JDBC_FETCH_SIZE = "10000"


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
    """PySpark over a Parquet lake, a PostgreSQL store (JDBC) or a snapshot of the store."""

    name = "spark"

    def __init__(self, store: Store, *, session: Any = None) -> None:
        super().__init__(store)
        try:
            import ibis
            from pyspark.sql import SparkSession
        except ImportError:
            raise AnalysisError("analysis.no_spark") from None
        jars = jdbc_jars(store) if store.dialect == "postgres" else []
        self._session = session or spark_session(SparkSession, jars=jars)
        self._con = ibis.pyspark.connect(self._session)
        self._register_before_caching()
        self._dir: Path | None = None
        if store.lake is not None:
            self._read_lake(store.lake)
            return
        if store.dialect == "postgres":
            add_jars(self._session, jars)  # a session started earlier without them
            self._read_postgres(store)
            return
        self._dir = Path(tempfile.mkdtemp(prefix="riskatlas-spark-"))
        for name in _TABLES:
            path = self._dir / f"{name}.parquet"
            store.connection.execute(
                f"COPY (SELECT {', '.join(self._columns(name))} FROM {name}) TO '{path}' "
                "(FORMAT parquet)")
            self._con.read_parquet(str(path), table_name=name)
        log.debug("spark snapshot of %s in %s", store.path, self._dir)

    def _register_before_caching(self) -> None:
        """Ibis' PySpark backend runs a ``.cache()`` without registering the in-memory
        tables it reads (a scope's periods): register them first, as its queries do."""
        con = self._con
        create = con._create_cached_table

        def create_cached(name: str, expr: Any) -> Any:
            con._run_pre_execute_hooks(expr)
            return create(name, expr)

        con._create_cached_table = create_cached

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

    def _read_postgres(self, store: Store) -> None:
        """The PostgreSQL store's tables as temporary views over Spark's JDBC source, read
        from the database at each query (no copy; the analysis columns only, pruned by
        Spark); the records table in partitions split by a hash of ``record_id``."""
        from riskatlas.store.postgres import display_url

        db = str(getattr(store, "url", ""))  # a PgStore's
        url, properties = jdbc_target(db)
        for name in _TABLES:
            parts = jdbc_partitions(store) if name == "records" else 1
            where = [f"abs(hashtext(record_id) % {parts}) = {k}" for k in range(parts)]
            try:
                with _py4j_quiet():  # its debug log shows every value sent, the password too
                    frame = self._session.read.jdbc(
                        url, store.stored(name), properties=properties,
                        predicates=where if parts > 1 else None)
            except Exception as exc:  # Py4J's and Spark's errors: the first line says why
                raise AnalysisError("analysis.jdbc", url=display_url(db),
                                    reason=str(exc).strip().splitlines()[0]) from None
            frame = frame.select(*self._columns(name))
            if name == "records" and store.published_only:  # its temporary view is PG's
                frame = frame.where("approval_status = 'published'")
            frame.createOrReplaceTempView(name)
        log.debug("spark reads %s over JDBC", display_url(db))

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


def spark_session(builder_cls: Any, jars: list[Path] | None = None) -> Any:
    """A session on $RISKATLAS_SPARK_MASTER (``local[2]`` by default), with ``jars`` on
    its class path beside those of the settings' ``spark.jars``."""
    master = os.environ.get("RISKATLAS_SPARK_MASTER") or DEFAULT_MASTER
    settings = spark_settings()
    if jars:
        named = [j for j in settings.get("spark.jars", "").split(",") if j]
        settings["spark.jars"] = ",".join([*named, *(str(j) for j in jars
                                                      if str(j) not in named)])
    builder = builder_cls.builder
    if master.startswith("sc://"):
        try:
            builder = builder.remote(master)
        except ImportError as exc:  # Spark Connect's client needs grpcio
            raise AnalysisError("analysis.spark_connect", master=master,
                                reason=str(exc)) from None
    else:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not master.startswith("sc://"):  # a Connect session has no SparkContext
        session.sparkContext.setLogLevel("ERROR")
    return session


def jdbc_jars(store: Store) -> list[Path]:
    """The PostgreSQL JDBC driver's jar for Spark: $RISKATLAS_SPARK_JDBC_JAR, else Debian's
    when installed, unless the Spark settings name a driver (``spark.jars`` or
    ``spark.jars.packages``); none if neither (the cluster's class path then holds it)."""
    from riskatlas.store.postgres import display_url

    named = os.environ.get("RISKATLAS_SPARK_JDBC_JAR")
    if named:
        if not Path(named).is_file():
            raise AnalysisError("analysis.jdbc", url=display_url(str(getattr(store, "url", ""))),
                                reason=f"$RISKATLAS_SPARK_JDBC_JAR: no file {named}")
        return [Path(named)]
    settings = spark_settings()
    if "postgresql" in settings.get("spark.jars", "") + settings.get("spark.jars.packages", ""):
        return []
    return [JDBC_JAR] if JDBC_JAR.is_file() else []


def add_jars(session: Any, jars: list[Path]) -> None:
    """Jars a running session lacks (one started before they were asked for), added by
    ``ADD JAR``; a Spark Connect server needs them on its own class path."""
    if not jars or type(session).__module__.startswith("pyspark.sql.connect"):
        return
    held = {Path(urlsplit(str(row[0])).path).name for row in session.sql("LIST JARS").collect()}
    for jar in jars:
        if jar.name not in held:
            session.sql("ADD JAR '{}'".format(str(jar).replace("'", "\\'")))


def jdbc_target(url: str) -> tuple[str, dict[str, str]]:
    """Spark's JDBC URL and connection properties for a ``postgresql://`` URL. The user and
    password (from the URL, else $PGUSER and $PGPASSWORD, as libpq reads them) go into the
    properties, never into the JDBC URL; hosts, port, database and the other parameters
    (e.g. ``sslmode``) stay in it (several ``host:port`` separated by commas too)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    user, password = query.pop("user", None), query.pop("password", None)
    if parts.username:
        user = unquote(parts.username)
    if parts.password is not None:
        password = unquote(parts.password)
    hosts = parts.netloc.rpartition("@")[2] or "localhost"  # JDBC has no Unix sockets
    target = f"jdbc:postgresql://{hosts}{parts.path or '/'}"
    if query:
        target += "?" + urlencode(query)
    properties = {"driver": "org.postgresql.Driver", "fetchsize": JDBC_FETCH_SIZE}
    user = user or os.environ.get("PGUSER")
    password = password if password is not None else os.environ.get("PGPASSWORD")
    if user:
        properties["user"] = user
    if password is not None:
        properties["password"] = password
    return target, properties


@contextlib.contextmanager
def _py4j_quiet() -> Iterator[None]:
    """Py4J's loggers above DEBUG for a while (they log each command sent to the JVM)."""
    py4j = logging.getLogger("py4j")
    level = py4j.level
    py4j.setLevel(max(py4j.getEffectiveLevel(), logging.INFO))
    try:
        yield
    finally:
        py4j.setLevel(level)


def jdbc_partitions(store: Store) -> int:
    """How many partitions Spark reads the records table in: $RISKATLAS_SPARK_JDBC_PARTITIONS,
    else one per JDBC_ROWS_PER_PARTITION records."""
    named = os.environ.get("RISKATLAS_SPARK_JDBC_PARTITIONS")
    if named:
        if not named.isdigit() or int(named) < 1:
            raise AnalysisError("analysis.jdbc_partitions", value=named)
        return int(named)
    rows = int(store.scalar(f"SELECT count(*) FROM {store.stored('records')}"))
    return max(1, -(-rows // JDBC_ROWS_PER_PARTITION))


def make_engine(name: str, store: Store) -> Engine:
    if name == "duckdb":
        return Engine(store)
    if name == "spark":
        return SparkEngine(store)
    raise AnalysisError("analysis.unknown_engine", engine=name, engines=", ".join(ENGINES))
