"""The Parquet lake (issue 16, item 3): written from a store, read without it, same answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import riskatlas
from conftest import shared
from riskatlas.errors import RiskAtlasError
from riskatlas.lake import MANIFEST, manifest_of, write_lake

pytestmark = pytest.mark.shared_data
GRENADA = "desinventar/grd/DI_export_grd.zip"


@pytest.fixture(scope="module")
def grenada_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lake")
    db = folder / "grd.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([shared(GRENADA)])
        write_lake(atlas.store, folder / "lake")
    return db, folder / "lake"


def analyses(atlas: riskatlas.Atlas) -> dict[str, pd.DataFrame]:
    scope = atlas.scope(country="GRD", level=1)
    return {"profile": atlas.profile(scope=scope), "screen": atlas.screen(scope=scope),
            "sendai": atlas.sendai(scope=scope), "events": atlas.events(scope=scope),
            "periods": atlas.periods(), "datasets": atlas.datasets()}


def test_lake_answers_as_the_store(grenada_lake: tuple[Path, Path]) -> None:
    db, lake = grenada_lake
    with riskatlas.open(db, read_only=True) as store, riskatlas.open(lake=lake) as read:
        expected, got = analyses(store), analyses(read)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
        assert got[name].attrs.get("cards") == frame.attrs.get("cards"), name


def test_lake_keeps_every_table_row_and_value(grenada_lake: tuple[Path, Path]) -> None:
    db, lake = grenada_lake
    manifest = manifest_of(lake)
    assert manifest["tables"]["records"]["partition_by"] == [["country", "country_iso3"],
                                                             ["year", "start_year"]]
    assert (lake / "records" / "country=GRD").is_dir()
    with riskatlas.open(db, read_only=True) as store, riskatlas.open(lake=lake) as read:
        for name, entry in manifest["tables"].items():
            order = "ORDER BY ALL"
            a = store.store.connection.execute(f"SELECT * FROM {name} {order}").df()
            b = read.store.connection.execute(f"SELECT * FROM {name} {order}").df()
            assert len(a) == entry["rows"], name
            pd.testing.assert_frame_equal(b, a, obj=name)
        assert read.store.query("SELECT count(*) FROM records_full")[0][0] == 162


def test_lake_path_and_environment(grenada_lake: tuple[Path, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, lake = grenada_lake
    with riskatlas.open(lake) as atlas:  # a path naming a lake folder
        assert atlas.store.lake == lake and atlas.count_records() == 162
    monkeypatch.setenv("RISKATLAS_LAKE", str(lake))
    with riskatlas.open() as atlas:
        assert atlas.count_records() == 162
        with pytest.raises(RiskAtlasError, match=r"read-only"), atlas.store.transaction():
            pass


def test_lake_refuses_to_overwrite_and_bad_keys(grenada_lake: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    db, lake = grenada_lake
    with riskatlas.open(db, read_only=True) as atlas:
        with pytest.raises(RiskAtlasError) as exists:
            write_lake(atlas.store, lake)
        assert str(lake) in exists.value.render("en")
        with pytest.raises(RiskAtlasError) as bad:
            write_lake(atlas.store, tmp_path / "x", partition_by=["nonsense"])
        assert "nonsense" in bad.value.render("en")
        assert not (tmp_path / "x").exists()
        write_lake(atlas.store, tmp_path / "flat", partition_by=["hazard", "dataset"])
        published = atlas.store.scalar(
            "SELECT count(*) FROM records WHERE approval_status = 'published'")
        summary = write_lake(atlas.store, tmp_path / "public", published_only=True)
    assert summary.tables["records"] == published
    assert {p.name.split("=")[0] for p in (tmp_path / "flat" / "records").iterdir()} \
        == {"hazard"}
    assert all(p.name.startswith("dataset=")
               for p in next((tmp_path / "flat" / "records").iterdir()).iterdir())
    with riskatlas.open(lake=tmp_path / "public") as public:
        assert public.count_records() == published


def test_a_broken_lake_is_one_message(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(RiskAtlasError) as caught:
        riskatlas.open(lake=tmp_path)
    assert str(tmp_path) in caught.value.render("en")


@pytest.mark.spark
def test_spark_reads_the_lake_where_it_is(grenada_lake: tuple[Path, Path]) -> None:
    from conftest import require_spark

    require_spark()
    db, lake = grenada_lake
    with riskatlas.open(db, read_only=True) as store, \
            riskatlas.open(lake=lake, engine="spark") as spark:
        scope = store.scope(country="GRD", level=1)
        for name in ("profile", "screen", "sendai"):
            expected = getattr(store, name)(scope=scope)
            got = getattr(spark, name)(scope=spark.scope(country="GRD", level=1))
            assert got.attrs["engine"] == "spark"
            pd.testing.assert_frame_equal(
                got.sort_values(list(got.columns[:3])).reset_index(drop=True),
                expected.sort_values(list(got.columns[:3])).reset_index(drop=True),
                check_dtype=False, obj=name)
        assert spark.engine._dir is None  # type: ignore[attr-defined]  # no snapshot copy


def test_spark_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskatlas.analysis.engine import spark_settings

    conf = tmp_path / "spark.conf"
    conf.write_text("# a comment\nspark.executor.memory   2g\nspark.sql.shuffle.partitions=8\n")
    monkeypatch.setenv("RISKATLAS_SPARK_CONF", str(conf))
    settings = spark_settings()
    assert settings["spark.executor.memory"] == "2g"
    assert settings["spark.sql.shuffle.partitions"] == "8"
    assert settings["spark.sql.session.timeZone"] == "UTC"  # RiskAtlas' default kept
    conf.write_text("spark.executor.memory\n")
    with pytest.raises(RiskAtlasError) as caught:
        spark_settings()
    assert "line 1" in caught.value.render("en") and str(conf) in caught.value.render("en")


@pytest.mark.spark
@pytest.mark.slow
def test_a_standalone_cluster_reads_the_lake(grenada_lake: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    """A master and two workers on 127.0.0.1 (PySpark's own spark-class): the CLI's screen
    on the cluster equals DuckDB's on the store (bench_lake.py does profile, screen and
    Sendai on ten million records)."""
    import json
    import subprocess
    import sys

    from conftest import require_spark
    from spark_cluster import LocalCluster, spark_env
    from test_cli import run_cli

    require_spark()  # before spark_env(): the test JVM options go into the environment
    db, lake = grenada_lake

    def run(*args: str, **env: str) -> list[dict[str, object]]:
        done = subprocess.run([sys.executable, "-m", "riskatlas", *args, "--format", "json"],
                              capture_output=True, text=True, timeout=600,
                              env={**spark_env(), **env})
        assert done.returncode == 0, done.stderr[-3000:]
        return list(json.loads(done.stdout))

    command = ["screen", "--all-hazards", "--level", "1"]
    on_store = run_cli(*command, "--db", str(db), "--format", "json")  # DuckDB, in process
    assert on_store.code == 0, on_store.stderr
    with LocalCluster(tmp_path / "cluster", workers=2) as cluster:
        on_cluster = run(*command, "--db", str(lake), "--engine", "spark",
                         RISKATLAS_SPARK_MASTER=cluster.master, RISKATLAS_LANG="en")
        apps = cluster.state()["completedapps"] + cluster.state()["activeapps"]
    assert len(apps) == 1  # it ran on the cluster, not in local mode
    assert on_cluster == json.loads(on_store.stdout)


def test_cli_writes_and_reads_a_lake(grenada_db: Path, tmp_path: Path) -> None:
    import json
    import os

    from test_cli import run_cli

    lake = tmp_path / "lake"
    done = run_cli("export", str(lake), "--partition-by", "country,year", "--db",
                   str(grenada_db))
    assert done.code == 0, done.stderr
    assert "162" in done.stdout and (lake / MANIFEST).is_file()
    store = run_cli("screen", "--db", str(grenada_db), "--format", "json")
    read = run_cli("--lake", str(lake), "screen", "--format", "json")
    assert read.code == 0, read.stderr
    assert json.loads(read.stdout) == json.loads(store.stdout)
    assert "RISKATLAS_LAKE" not in os.environ  # for that command only
    refused = run_cli("export", str(tmp_path / "x"), "--partition-by", "year",
                      "--country", "GRD", "--db", str(grenada_db))
    assert refused.code == 1 and "--partition-by" in refused.stderr
    again = run_cli("--lang", "zh-TW", "export", str(lake), "--partition-by", "year",
                    "--db", str(grenada_db))
    assert again.code == 1 and "--overwrite" in again.stderr and "資料湖" in again.stderr
