"""Events formed once per country and period (issue 15, item 6): on a store with a memo (a
served copy, a pipeline run), the cards' events (``Analyses.event_tags``) and the events
per unit (``Analyses.unit_events``) are worked out once and joined as in-memory tables;
the answers are exactly those of the expressions that form them in every query."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

import riskatlas
from riskatlas.analysis import events as events_module
from riskatlas.analysis import profile as profile_module
from riskatlas.analysis import risk as risk_module
from riskatlas.store.memo import Memo

pytestmark = pytest.mark.shared_data


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("country_iso3", "admin_code", "hazard", "metric", "event_id",
                        "year", "return_period_years") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _answers(atlas: riskatlas.Atlas, **scope: object) -> dict[str, pd.DataFrame]:
    sc = atlas.scope(**scope)
    return {"profile": atlas.profile(["records", "deaths", "events"], scope=sc),
            "risk": atlas.risk(scope=sc),
            "levels": atlas.return_levels("deaths", scope=sc),
            "annual": atlas.annual_series(scope=sc),
            "events": atlas.events(scope=sc)}


@pytest.mark.parametrize("scope", [{"country": "GRD", "level": 1},
                                   {"country": "GRD", "level": 2, "admin": "GRD0101"},
                                   {"country": "GRD", "level": 1, "hazard": "storm"}])
def test_kept_events_answer_what_forming_them_answers(grenada_db, scope):
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        formed = _answers(atlas, **scope)
        atlas.store.memo = Memo()
        kept = _answers(atlas, **scope)
        assert atlas.unit_events(atlas.scope(**scope)) is not None
    for name, frame in formed.items():
        assert len(frame) or name == "levels", name
        pd.testing.assert_frame_equal(_sorted(kept[name]), _sorted(frame), obj=name)
        assert kept[name].attrs == frame.attrs, name


def _count_event_forming(monkeypatch) -> dict[str, int]:
    """``{"n": …}``: how often the events are formed from here on (builds of the events,
    without recipes, whose first call also builds a probe)."""
    monkeypatch.setenv("RISKATLAS_RECIPES", "off")
    calls = {"n": 0}
    card_events = events_module.card_events

    def counted(*a, **k):
        calls["n"] += 1
        return card_events(*a, **k)

    for module in (events_module, profile_module, risk_module):
        monkeypatch.setattr(module, "card_events", counted)
    return calls


def test_unit_pages_form_the_events_of_their_country_once(nepal_db, monkeypatch):
    """Two districts' profile, risk and return levels on a served copy: the events of the
    country are formed once (the first unit), not three times a unit."""
    calls = _count_event_forming(monkeypatch)
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        atlas.store.memo = Memo()
        codes = atlas.screen(country="NPL", level=1)["admin_code"].head(2)
        for code in codes:
            sc = atlas.scope(country="NPL", level=1, admin=code)
            atlas.profile(["records", "events"], scope=sc)
            atlas.risk(scope=sc)
            atlas.return_levels("deaths", scope=sc)
    assert calls["n"] == 1


def test_a_country_profile_forms_its_events_in_its_own_query(grenada_db):
    """A country's or a level's profile reads the cards' events once: it forms them in its
    query rather than keep them apart (a query more), and takes them when kept."""
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        atlas.store.memo = Memo()
        sc = atlas.scope(country="GRD", level=1)
        alone = atlas.profile(["records", "events"], scope=sc)
        assert not [k for k in atlas.store.memo._values if k[-1][1] == "event_tags"]
        atlas.risk(scope=sc)  # keeps them
        assert atlas.event_tags(sc, kept_only=True) is not None
        after = atlas.profile(["events", "records"], scope=sc)
    pd.testing.assert_frame_equal(_sorted(after), _sorted(alone))


def test_a_report_forms_the_events_of_its_country_once(grenada_db, monkeypatch):
    """``riskatlas assess`` (its profiles, risk, return levels, screens and peers) forms
    the events of its country and period once, whatever reads them first."""
    calls = _count_event_forming(monkeypatch)
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        atlas.assess(country="GRD", level=1)
    assert calls["n"] == 1


def test_no_memo_no_kept_tables(grenada_db):
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        sc = atlas.scope(country="GRD", level=1, admin="GRD01")
        assert atlas.event_tags(sc) is None and atlas.unit_events(sc) is None


@pytest.mark.spark
@pytest.mark.slow
def test_kept_events_on_spark_answer_as_on_duckdb(grenada_db):
    """The kept tables are in-memory Ibis tables: Spark joins them as DuckDB does."""
    from conftest import on_both_engines

    def run(atlas: riskatlas.Atlas) -> dict[str, pd.DataFrame]:
        atlas.store.memo = Memo()
        return _answers(atlas, country="GRD", level=2, admin="GRD0101")

    duck, spark = on_both_engines(grenada_db, run)
    for name, frame in duck.items():
        a, b = _sorted(frame), _sorted(spark[name])
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        for column in a.columns:
            try:  # DuckDB sums some integer columns as decimals, Spark as floats
                left, right = (pd.to_numeric(f[column]).astype("float64") for f in (a, b))
            except (TypeError, ValueError):
                left = right = None
            if left is not None and right is not None:
                pd.testing.assert_series_equal(left, right, check_names=False, rtol=1e-9,
                                               atol=1e-9)
            else:
                assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), \
                    (name, column)


def test_windows_holding_the_same_cards_share_their_events(grenada_db):
    """Two year windows whose cards are the same (one starts in a gap between years with
    cards) share the events kept for the first; the second's answers are those of forming
    its events."""
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        years = sorted(atlas.records(limit=None, columns=["start_year"])["start_year"]
                       .dropna().astype(int).unique())
        gaps = [(a, b) for a, b in itertools.pairwise(years) if b - a > 1]
        assert gaps, years
        before, after = gaps[len(gaps) // 2]
        first = {"country": "GRD", "level": 1, "year_from": before + 1, "year_to": years[-1]}
        second = {**first, "year_from": after}
        other = {**first, "year_from": before}  # one more year of cards: events of its own
        formed = [_answers(atlas, **second), _answers(atlas, **other)]
        atlas.store.memo = Memo()
        _answers(atlas, **first)
        kept = [_answers(atlas, **second)]
        tags = [k for k in atlas.store.memo._values if k[-1][1] == "event_tags"]
        assert len(tags) == 1
        kept.append(_answers(atlas, **other))
        tags = [k for k in atlas.store.memo._values if k[-1][1] == "event_tags"]
        assert len(tags) == 2
    for got, expected in zip(kept, formed, strict=True):
        for name, frame in expected.items():
            pd.testing.assert_frame_equal(_sorted(got[name]), _sorted(frame), obj=name)
            assert got[name].attrs == frame.attrs, name


def test_events_are_formed_from_the_columns_they_read(grenada_db):
    """The cards' events are built over the scope's columns and EVENT_COLUMNS only: an
    expression over all ninety record columns costs twice the Python to build."""
    from riskatlas.analysis.scope import SCOPE_COLUMNS

    with riskatlas.open(grenada_db, read_only=True) as atlas:
        sc = atlas.scope(country="GRD", level=1, year_from=2000, year_to=2010)
        records = atlas.engine.table("records")
        exprs = {"event_tags": events_module.event_tags(records, sc, atlas.methods),
                 "unit_events": risk_module.unit_events(records, sc, atlas.methods),
                 "profile": profile_module.unit_hazards(records, sc, atlas.methods,
                                                        ["deaths", "events"])}
        read = {*SCOPE_COLUMNS, *events_module.EVENT_COLUMNS, *risk_module.RISK_METRICS}
        unread = [c for c in records.columns if c not in read]
        assert "raw" in unread and "comments" in unread
        for name, expr in exprs.items():
            sql = atlas.engine.con.compile(expr)
            assert not [c for c in unread if f'"{c}"' in sql], name
