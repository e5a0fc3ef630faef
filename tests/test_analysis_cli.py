"""The analysis commands: JSON shapes, captions on stderr, translations, clear errors."""

from __future__ import annotations

import json

import pytest

from cards import card, store_with
from test_cli import Ran, run_cli


def run(*args: str, lang: str = "en") -> Ran:
    return run_cli("--lang", lang, *args)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    cards = [card(i, hazard, 2000 + i % 12, l0, month=1 + i % 12, deaths=i % 5,
                  destroyed=i % 7, affected=10 * i)
             for i, (hazard, l0) in enumerate([("FLOOD", "01"), ("LANDSLIDE", "02"),
                                                ("FLOOD", "02"), ("CYCLONE", "03")] * 15)]
    return store_with(tmp_path_factory.mktemp("cli"), cards)


def test_profile_json_rows_carry_metric_period_and_scope(db):
    done = run("profile", "--db", str(db), "--metric", "deaths", "--metric", "records",
               "--level", "0", "--format", "json")
    assert done.code == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {"hazard", "metric", "value", "share_pct", "country_iso3", "admin_code",
            "admin_name", "level", "period_from", "period_to"} <= set(rows[0])
    assert {r["metric"] for r in rows} == {"deaths", "records"}
    assert "Hazard profile · period 2000–2011 · level 0" in done.stderr  # caption off stdout


def test_screen_json_and_csv(db):
    done = run("screen", "--db", str(db), "--format", "json")
    assert done.code == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert {"admin_code", "admin_name", "rank", "score", "class", "drivers", "stability",
            "quality"} <= set(rows[0])
    assert {"hazard", "indicator", "share_pct"} <= set(rows[0]["drivers"][0])
    assert "absolute annual values" in done.stderr
    csv = run("screen", "--db", str(db), "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("rank,country_iso3,admin_code")


@pytest.mark.parametrize("command", [["risk", "--level", "0"], ["events"], ["sendai"],
                                     ["risk", "--return-periods", "deaths"]])
def test_every_analysis_prints_a_table_in_chinese(db, command):
    done = run(*command, "--db", str(db), lang="zh-TW")
    assert done.code == 0, done.stderr
    assert "方法" in done.stdout and "riskatlas-default" in done.stdout


def test_errors_are_one_line(db, tmp_path):
    done = run("profile", "--db", str(db), "--metric", "floods")
    assert done.code == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "Unknown metric 'floods'" in done.stderr
    bad = tmp_path / "m.yaml"
    bad.write_text("screen: [1, 2]\n")
    done = run("screen", "--db", str(db), "--methods", str(bad), lang="zh-TW")
    assert done.code == 1 and "m.yaml" in done.stderr and "設定" in done.stderr
    done = run("profile", "--db", str(db), "--from", "2010", "--to", "2001")
    assert done.code == 1 and "2010 is after 2001" in done.stderr


@pytest.mark.parametrize("command", [["risk", "--level", "0"], ["events"], ["screen"]])
def test_wide_shows_every_column_of_a_result(db, command):
    """``--format wide`` shows every column that json carries, under its heading, with
    nothing left out; the fitted table at 80 columns names what it leaves out."""
    from riskatlas.cli.output import column_label

    rows = json.loads(run(*command, "--db", str(db), "--format", "json").stdout)
    wide = run_cli("--lang", "en", *command, "--db", str(db), "--format", "wide",
                   env={"COLUMNS": "80"})
    assert wide.code == 0, wide.stderr
    flat = " ".join(wide.stdout.split())
    for column in rows[0]:
        assert column_label(column, "en") in flat, column
    assert "Not shown at this width" not in flat and "00:00:00" not in flat
    fitted = run_cli("--lang", "en", *command, "--db", str(db), env={"COLUMNS": "80"})
    assert all(len(line.rstrip()) <= 80 for line in fitted.stdout.splitlines())
