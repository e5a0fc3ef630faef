"""The observation period (docs/methods.md, "Years of record"; analysis/period.py).

A documented rule over the years with cards, which stray early or late cards cannot
stretch: cards outside the period are left out of the analyses, counted in each result's
notes and listed; every result states the period it used; --from/--to win.
"""

from __future__ import annotations

import itertools
import shutil
import statistics
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

import riskatlas
from cards import card, store_with, write_cards
from conftest import on_both_engines
from riskatlas.analysis.methods import load_methods
from riskatlas.sources.registry import ReadOptions


def reference_period(counts: dict[int, int], max_gap: int, share: float) -> tuple[int, int]:
    """The rule of docs/methods.md in plain Python, apart from the Ibis code."""
    years = sorted(counts)
    runs = [[years[0]]]
    for before, year in itertools.pairwise(years):
        if year - before - 1 > max_gap:
            runs.append([year])
        else:
            runs[-1].append(year)
    main = max(runs, key=lambda run: (sum(counts[y] for y in run), run[-1]))
    median = statistics.median(counts[y] for y in main)
    kept = [y for y in main if counts[y] >= share * median]
    return kept[0], kept[-1]


def _methods(tmp_path: Path, **period: float) -> Path:
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump({"period": period}), encoding="utf-8")
    return path


def _sparse_then_continuous(tmp_path: Path) -> Path:
    """One card a decade 1900–1960, then three a year 1970–1989 (floods in one province)."""
    early = [card(i, "FLOOD", 1900 + 10 * i, "01", deaths=100) for i in range(7)]
    later = [card(100 + 3 * (y - 1970) + k, "FLOOD", y, "01", month=k + 2, deaths=1)
             for y in range(1970, 1990) for k in range(3)]
    return store_with(tmp_path, early + later)


def test_early_cards_a_decade_apart_do_not_stretch_the_period(tmp_path):
    db = _sparse_then_continuous(tmp_path)
    with riskatlas.open(db, read_only=True) as atlas:
        risk = atlas.risk(level=0)
        profile = atlas.profile(["records", "deaths"])
        outside = atlas.outside_period()
        periods = atlas.periods()
    row = risk.iloc[0]
    assert (row.period_from, row.period_to, row.years) == (1970, 1989, 20)
    assert row.events == 60 and row.events_per_year == pytest.approx(3.0)
    assert row.deaths_per_year == pytest.approx(3.0)  # not (700 + 60) / 90
    values = profile.set_index("metric")["value"]
    assert (values["records"], values["deaths"]) == (60, 60)
    # the seven early cards: counted, named and listed, never silently dropped
    assert sorted(outside["start_year"]) == list(range(1900, 1961, 10))
    assert set(outside["period_from"]) == {1970}
    assert risk.attrs["period"]["cards_outside"] == 7
    assert risk.attrs["note_params"]["analysis.outside_period_left_out"] == {
        "count": 7, "detail": "LKA 1970–1989: 7 (1900–1960)"}
    country = periods[periods["dataset_id"].isna()].iloc[0]
    assert (country.period_from, country.period_to, country.cards, country.outside) == (
        1970, 1989, 60, 7)


def test_the_rule_is_data_and_from_to_win(tmp_path):
    db = _sparse_then_continuous(tmp_path)
    with riskatlas.open(db, read_only=True, methods=_methods(tmp_path, max_gap_years=10)) as a:
        wide = a.risk(level=0).iloc[0]
    assert (wide.period_from, wide.period_to) == (1900, 1989)  # gaps of 9 years allowed
    with riskatlas.open(db, read_only=True) as atlas:
        def period(**bounds):
            row = atlas.risk(level=0, **bounds).iloc[0]
            return row.period_from, row.period_to, row.years
        assert period(year_from=1905) == (1905, 1989, 85)  # the user's start, cards in it
        assert period(year_to=2000) == (1970, 2000, 31)
        assert period(year_from=1950, year_to=1980) == (1950, 1980, 31)
        assert atlas.outside_period(year_from=1905).empty


def test_a_served_copy_reads_windows_off_kept_sums_inside_the_period(tmp_path, monkeypatch):
    """A served copy reads the profile and the screen of every year window off sums kept
    per year of the scope: the cards outside the period stay out, as in a pass over them,
    and the queries run on the reader's own connection (never on one that every request
    thread shares)."""
    import ibis

    from riskatlas.store.memo import Memo

    class Refused:  # what reads only in-memory tables must still run on the reader's
        def __getattr__(self, name):
            raise AssertionError("a query ran on Ibis' default backend")

    db = _sparse_then_continuous(tmp_path)
    windows = [{}, {"year_from": 1950}, {"year_to": 1975}, {"year_from": 1905,
                                                            "year_to": 1980}]
    monkeypatch.setattr(ibis.options, "default_backend", Refused())
    with riskatlas.open(db, read_only=True) as atlas:
        def both():
            return [(atlas.profile(["records", "deaths"], level=level, **w),
                     atlas.screen(level=0, all_hazards=True, **w))
                    for w in windows for level in (None, 0)]
        plain = both()
        atlas.store.memo = Memo()  # as a served copy
        kept = both()
    for (profile, screen), (profile_kept, screen_kept) in zip(plain, kept, strict=True):
        pd.testing.assert_frame_equal(profile_kept, profile)
        pd.testing.assert_frame_equal(screen_kept, screen)
    values = kept[0][0].set_index("metric")["value"]
    assert (values["records"], values["deaths"]) == (60, 60)  # not the 7 early cards
    values = kept[2][0].set_index("metric")["value"]
    assert (values["records"], values["deaths"]) == (62, 260)  # 1950 and 1960 are in


def test_a_sparse_last_year_after_dense_years_is_outside(tmp_path):
    # 30 cards a year 1990–1999, then one card in 2001: a gap of one year, but a year with
    # under a tenth of the cards of the median year at the edge is not observed coverage
    cards = [card(30 * (y - 1990) + k, "FLOOD", y, "01", month=1 + k % 12, day=1 + k // 12)
             for y in range(1990, 2000) for k in range(30)]
    cards.append(card(999, "FLOOD", 2001, "01", deaths=5))
    db = store_with(tmp_path, cards)
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.periods()[["period_from", "period_to"]].iloc[0].tolist() == [1990, 1999]
        assert atlas.outside_period()["start_year"].tolist() == [2001]
    with riskatlas.open(db, read_only=True, methods=_methods(tmp_path, edge_share=0)) as a:
        assert a.periods()[["period_from", "period_to"]].iloc[0].tolist() == [1990, 2001]


def test_short_datasets(tmp_path):
    two_years = store_with(tmp_path, [card(1, "FLOOD", 2017, "01"), card(2, "STORM", 2018, "01"),
                                      card(3, "FLOOD", 2018, "01", month=9)], name="two")
    with riskatlas.open(two_years, read_only=True) as atlas:
        row = atlas.risk(level=0).iloc[0]
        assert (row.period_from, row.period_to, row.years) == (2017, 2018, 2)
        assert atlas.outside_period().empty
        assert "analysis.outside_period_left_out" not in atlas.risk(level=0).attrs["notes"]
    # two single cards ten years apart: equal runs, the later one is the period
    apart = store_with(tmp_path, [card(1, "FLOOD", 2005, "01"), card(2, "FLOOD", 2015, "01")],
                       name="apart")
    with riskatlas.open(apart, read_only=True) as atlas:
        assert atlas.periods()[["period_from", "period_to"]].iloc[0].tolist() == [2015, 2015]
        assert atlas.outside_period()["start_year"].tolist() == [2005]


def test_datasets_of_a_country_pool_and_each_has_its_own_period(tmp_path):
    dense = [card(10 * (y - 1990) + k, "FLOOD", y, "01", month=k + 1)
             for y in range(1990, 2010) for k in range(10)]
    db = store_with(tmp_path, dense, name="inventory")
    with riskatlas.open(db) as atlas:  # a second dataset: one card of 2024
        atlas.import_paths([write_cards(tmp_path / "late.csv",
                                        [card(5000, "FLOOD", 2024, "01", deaths=9)])],
                           options=ReadOptions(country="LKA"))
    with riskatlas.open(db, read_only=True) as atlas:
        periods = atlas.periods()
        ids = sorted(int(d) for d in periods["dataset_id"].dropna())
        late = atlas.risk(level=0, dataset=ids[1]).iloc[0]
        pooled = atlas.risk(level=0).iloc[0]
    rows = {None if np.isnan(float(r.dataset_id)) else int(r.dataset_id): r
            for r in periods.astype({"dataset_id": "float64"}).itertuples()}
    assert (rows[None].period_from, rows[None].period_to, rows[None].outside) == (1990, 2009, 1)
    assert (rows[ids[0]].period_from, rows[ids[0]].period_to) == (1990, 2009)
    assert (rows[ids[1]].period_from, rows[ids[1]].period_to) == (2024, 2024)
    assert (pooled.years, pooled.deaths) == (20, 0)  # analyses of the country: pooled
    assert (late.years, late.deaths) == (1, 9)       # of the one dataset: its own period


def _counted_years(db: Path) -> dict[int, int]:
    """Cards per year that the analyses count (the shipped profile's statuses), by SQL."""
    statuses = load_methods().statuses()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT start_year, count(*) FROM records WHERE start_year IS NOT NULL AND "
            "coalesce(approval_status, 'published') IN (SELECT unnest(?)) GROUP BY 1",
            [list(statuses)]).fetchall()
    return dict(rows)


@pytest.mark.shared_data
def test_grenada_period_follows_the_rule(grenada_db):
    counts = _counted_years(grenada_db)
    rule = load_methods().get("period")
    first, last = reference_period(counts, rule["max_gap_years"], rule["edge_share"])
    assert min(counts) == 1771 and first > 1771 and last == max(counts)  # not 244 years
    outside = sum(n for y, n in counts.items() if not first <= y <= last)
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        results = {"profile": atlas.profile(), "risk": atlas.risk(level=1),
                   "sendai": atlas.sendai(), "screen": atlas.screen(level=1),
                   "events": atlas.events(), "exceedance": atlas.exceedance(),
                   "return_levels": atlas.return_levels()}
        listed = atlas.outside_period()
        assessment = atlas.assess(level=1)
    for name, frame in results.items():
        period = frame.attrs["period"]
        assert (period["period_from"], period["period_to"]) == (first, last), name
        assert period["by_country"][0]["years"] == last - first + 1, name
        if name != "screen":  # the screen counts climate-related hazards only
            assert period["cards_outside"] == outside, name
    for name in ("profile", "risk", "screen"):
        frame = results[name]
        assert set(frame["period_from"]) == {first} and set(frame["period_to"]) == {last}
    assert set(results["risk"]["years"]) == {last - first + 1}
    assert results["events"]["start_date"].dt.year.min() >= first
    assert len(listed) == outside and not listed["start_year"].between(first, last).any()
    assert assessment.period == (first, last)
    assert not assessment.records["start_date"].dt.year.lt(first).any()
    assert any(str(outside) in note and "riskatlas periods --outside" in note
               for note in assessment.notes)
    from riskatlas.report.html import context
    assert context(assessment)["period"] == f"{first}–{last}"


def _add_stray_card(db: Path, year: int) -> str:
    """One published card dated ``year`` in a dataset of its own (as a web entry would be):
    a copy of a Kathmandu flood card of 1972 with deaths and houses destroyed."""
    record = f"WEB:stray-{year}"
    with riskatlas.open(db) as atlas:
        con = atlas.store.connection
        new = int(con.execute("SELECT max(dataset_id) + 1 FROM datasets").fetchone()[0])
        con.execute("INSERT INTO datasets SELECT * REPLACE (? AS dataset_id) FROM datasets "
                    "ORDER BY dataset_id LIMIT 1", [new])
        source = con.execute("SELECT record_id FROM records WHERE level1_code = '002005027' "
                             "AND hazard_group = 'flood' ORDER BY record_id LIMIT 1").fetchone()
        con.execute("""INSERT INTO records SELECT * REPLACE (? AS record_id, ? AS dataset_id,
            ? AS start_year, 7 AS start_month, 1 AS start_day, make_date(?, 7, 1) AS start_date,
            NULL AS end_date, 'day' AS date_precision, 'published' AS approval_status,
            12 AS deaths, 300 AS houses_destroyed) FROM records WHERE record_id = ?""",
                    [record, new, year, year, source[0]])
    return record


@pytest.mark.shared_data
def test_one_stray_card_keeps_nepals_period_and_scores(nepal_db, tmp_path):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        before_screen = atlas.screen(level=1)
        before_risk = atlas.risk(level=1)
    db = tmp_path / "nepal-stray.duckdb"
    shutil.copy(nepal_db, db)
    record = _add_stray_card(db, 2024)
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.records(limit=None, columns=["start_year"])["start_year"].max() == 2024
        after_screen = atlas.screen(level=1)
        after_risk = atlas.risk(level=1)
        listed = atlas.outside_period()
        assessment = atlas.assess(level=1)
    assert (before_risk["period_from"].min(), before_risk["period_to"].max()) == (1971, 2016)
    assert (after_risk["period_from"].min(), after_risk["period_to"].max()) == (1971, 2016)
    assert set(after_risk["years"]) == {46}
    keys = ["country_iso3", "admin_code"]
    b, a = (f.sort_values(keys).reset_index(drop=True) for f in (before_screen, after_screen))
    assert b[keys].equals(a[keys])
    assert a["score"].tolist() == pytest.approx(b["score"].tolist(), abs=1e-12)
    assert a["rank"].tolist() == b["rank"].tolist()
    risk_cols = ["events", "deaths_per_year", "houses_destroyed_per_year", "events_per_year"]
    assert after_risk[risk_cols].equals(before_risk[risk_cols])
    assert listed["record_id"].tolist() == [record]
    assert after_risk.attrs["note_params"]["analysis.outside_period_left_out"] == {
        "count": 1, "detail": "NPL 1971–2016: 1 (2024)"}
    assert "analysis.outside_period_left_out" not in before_risk.attrs["notes"]
    assert assessment.period == (1971, 2016)
    assert record not in set(assessment.records["record_id"])


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.shared_data
def test_the_rule_runs_on_spark(grenada_db):
    (duck, duck_out), (spark, spark_out) = on_both_engines(grenada_db, lambda atlas: (
        atlas.periods(), atlas.outside_period()["record_id"].tolist()))
    assert duck.astype(str).equals(spark.astype(str))
    assert duck_out == spark_out and duck_out


def test_cli_lists_periods_and_every_caption_states_the_period(tmp_path):
    import json
    import subprocess
    import sys

    db = _sparse_then_continuous(tmp_path)

    def run(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", lang, *args,
                               "--db", str(db)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    rows = json.loads(run("periods", "--format", "json").stdout)
    assert [(r["dataset_id"], r["period_from"], r["period_to"], r["outside"]) for r in rows] \
        == [(None, 1970, 1989, 7), (1, 1970, 1989, 7)]
    outside = run("periods", "--outside", "--format", "csv").stdout.splitlines()
    assert len(outside) == 1 + 7 and outside[0].startswith("record_id,dataset_id")
    events = run("events", "--format", "csv")  # no period columns: the caption says it
    assert "period 1970–1989" in events.stderr
    assert "7 cards dated outside the period of record" in events.stderr
    assert "LKA 1970–1989: 7 (1900–1960)" in events.stderr
    chinese = run("risk", "--level", "0", "--format", "csv", lang="zh-TW").stderr
    assert "紀錄期間之外" in chinese and "1970–1989" in chinese
