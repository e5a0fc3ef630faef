"""The same analyses on DuckDB and on Spark (local mode) give the same results."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import on_both_engines, require_spark

pytestmark = [pytest.mark.spark, pytest.mark.shared_data, pytest.mark.slow]


def _both(db, run):
    out = on_both_engines(db, run)
    for frame, engine in zip(out, ("duckdb", "spark"), strict=True):
        assert frame.attrs["engine"] == engine
    return out


def same_rows(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    assert len(a) == len(b) > 0
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for column in a.columns:
        left, right = a[column], b[column]
        if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
            pd.testing.assert_series_equal(left.astype("float64"), right.astype("float64"),
                                           check_names=False, rtol=1e-9, atol=1e-9)
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), column


@pytest.mark.parametrize("store", ["grenada_db", "nepal_db"])
def test_profile_sendai_and_screen_match(store, request):
    db = request.getfixturevalue(store)
    level = 0 if store == "grenada_db" else 1
    duck, spark = _both(db, lambda a: a.profile(["records", "events", "deaths",
                                                 "houses_destroyed"], level=level))
    same_rows(duck, spark, ["admin_code", "metric", "hazard"])
    duck, spark = _both(db, lambda a: a.sendai(level=0))
    same_rows(duck, spark, ["admin_code", "year"])
    duck, spark = _both(db, lambda a: a.screen(level=level, all_hazards=True))
    same_rows(duck, spark, ["rank"])
    assert duck.attrs["methods_digest"] == spark.attrs["methods_digest"]


def test_risk_and_events_match_on_nepal(nepal_db):
    duck, spark = _both(nepal_db, lambda a: a.risk(level=0))
    same_rows(duck, spark, ["admin_code", "hazard"])
    duck, spark = _both(nepal_db, lambda a: a.events(country="NPL"))
    same_rows(duck, spark, ["event_id"])


def test_cli_engine_option(grenada_db):
    require_spark()
    import json
    import subprocess
    import sys

    rows = {}
    for engine in ("duckdb", "spark"):
        done = subprocess.run([sys.executable, "-m", "riskatlas", "screen", "--db",
                               str(grenada_db), "--all-hazards", "--engine", engine,
                               "--format", "json"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert f"engine {engine}" in done.stderr
        rows[engine] = [(r["admin_code"], round(r["score"], 9)) for r in json.loads(done.stdout)]
    assert rows["duckdb"] == rows["spark"]
