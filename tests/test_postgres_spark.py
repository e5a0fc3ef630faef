"""Spark over a PostgreSQL store (issue 16, item 4): the analyses read the store's tables
through Spark's JDBC source, with no Parquet snapshot, and give DuckDB's answers. The
server is the tests' own (conftest ``postgres_server``); the driver is Debian's
libpostgresql-jdbc-java (./run installs it) or the jar $RISKATLAS_SPARK_JDBC_JAR names."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from conftest import require_spark, shared
from riskatlas.analysis.engine import JDBC_JAR, jdbc_partitions, jdbc_target
from riskatlas.errors import AnalysisError

GRENADA = "desinventar/grd/DI_export_grd.zip"
# trust authentication accepts any password: the URL carries one, which must never show
PASSWORD = "n0t-in-logs-7Q"


def test_jdbc_target_keeps_credentials_out_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGUSER", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url, props = jdbc_target("postgresql://atlas:p%40ss@db.example:5433/risk?sslmode=require")
    assert url == "jdbc:postgresql://db.example:5433/risk?sslmode=require"
    assert (props["user"], props["password"], props["driver"]) == (
        "atlas", "p@ss", "org.postgresql.Driver")
    url, props = jdbc_target("postgresql://h1:5432,h2:5432/risk?user=u&password=pw&a=b")
    assert url == "jdbc:postgresql://h1:5432,h2:5432/risk?a=b"
    assert (props["user"], props["password"]) == ("u", "pw")
    monkeypatch.setenv("PGPASSWORD", "from-env")
    url, props = jdbc_target("postgresql://atlas@[::1]/risk")
    assert url == "jdbc:postgresql://[::1]/risk" and props["password"] == "from-env"
    assert jdbc_target("postgresql:///risk")[0] == "jdbc:postgresql://localhost/risk"
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("RISKATLAS_SPARK_JDBC_PARTITIONS", bad)
        with pytest.raises(AnalysisError):
            jdbc_partitions(Any)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def grenada_pg(postgres_server: Any) -> str:
    """Grenada imported into PostgreSQL; its URL with a password."""
    url = str(postgres_server.database("grenada_spark"))
    with riskatlas.open(url) as atlas:
        atlas.import_paths([shared(GRENADA)])
    return url.replace("://postgres@", f"://postgres:{PASSWORD}@")


ANALYSES = {
    "profile": lambda a: a.profile(["records", "events", "deaths", "houses_destroyed"],
                                   level=0),
    "screen": lambda a: a.screen(level=0, all_hazards=True),
    "sendai": lambda a: a.sendai(level=0),
}
KEYS = {"profile": ["admin_code", "metric", "hazard"], "screen": ["rank"],
        "sendai": ["admin_code", "year"]}


@pytest.mark.spark
@pytest.mark.shared_data
@pytest.mark.slow
def test_spark_reads_postgresql_over_jdbc_as_duckdb_reads_its_store(
        grenada_pg: str, grenada_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from test_analysis_spark import same_rows

    require_spark()
    monkeypatch.setenv("RISKATLAS_SPARK_JDBC_PARTITIONS", "3")  # the partitioned read
    scratch = tmp_path / "tmp"  # where a snapshot folder would go
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    caplog.set_level(logging.DEBUG)
    with riskatlas.open(grenada_db, read_only=True) as duck, \
            riskatlas.open(grenada_pg, read_only=True, engine="spark") as spark:
        for name, run in ANALYSES.items():
            left, right = run(duck), run(spark)
            assert right.attrs["engine"] == "spark"
            same_rows(left, right, KEYS[name])
            assert left.attrs["methods_digest"] == right.attrs["methods_digest"], name
        engine: Any = spark.engine
        assert engine._dir is None
        plan = engine._session.sql("EXPLAIN SELECT record_id FROM records").collect()[0][0]
        assert "JDBCRelation" in plan and "numPartitions=3" in plan
        assert engine._session.table("records").rdd.getNumPartitions() == 3
        if JDBC_JAR.is_file():
            jars = [str(r[0]) for r in engine._session.sql("LIST JARS").collect()]
            assert any(j.endswith("/" + JDBC_JAR.name) for j in jars), jars
        assert PASSWORD not in plan
    assert not list(scratch.glob("riskatlas-spark-*"))
    assert "over JDBC" in caplog.text and PASSWORD not in caplog.text
