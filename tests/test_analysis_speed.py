"""Work done once per scope (issue 13, item 10): the observation periods worked out once
per ``Atlas.scope`` and joined as a small table, a served copy's memo of what a scope's
results state, events tagged without a join when the cards are their own basis, and the
same answers as the expressions that compute everything (benchmarks/bench_requests.py
measures the time)."""

from __future__ import annotations

import pandas as pd
import pytest

import riskatlas
from riskatlas.analysis import period as period_module
from riskatlas.store.memo import Memo

pytestmark = pytest.mark.shared_data


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("country_iso3", "admin_code", "hazard", "metric", "event_id",
                        "year") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def test_periods_follow_the_scope(grenada_db):
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        sc = atlas.scope(country="GRD")
        assert sc.period_table is not None
        # level, unit, hazard and climate filter do not change a country's period
        for change in ({"level": 1}, {"admin": "GRD01"}, {"hazard": "flood"},
                       {"climate_only": True}, {"country": "GRD"}):
            assert sc.but(**change).period_table is sc.period_table, change
        # the years, datasets, statuses and country do
        for change in ({"year_from": 1990}, {"year_to": 2000}, {"dataset": 1},
                       {"statuses": None}, {"country": "NPL"}):
            assert sc.but(**change).period_table is None, change
        worked = sc.period_table.to_pandas()
        again = sc.but(period_table=None).periods(atlas.engine.table("records")).to_pandas()
        pd.testing.assert_frame_equal(worked, again, check_dtype=False)


@pytest.mark.parametrize("scope", [{"country": "GRD", "level": 1},
                                   {"country": "GRD", "level": 1, "year_from": 1980},
                                   {"country": "GRD", "level": 1, "admin": "GRD01"}])
def test_same_answers_as_computing_everything(grenada_db, monkeypatch, scope):
    """With the period table and the join-free event tags, the analyses answer exactly
    what the expressions that compute the periods in every query and always join the
    cards to their event tags answer."""
    from riskatlas.analysis import events, profile, risk

    with riskatlas.open(grenada_db, read_only=True) as atlas:
        records, population = atlas.engine.table("records"), atlas.engine.table("population")
        sc = atlas.scope(**scope)

        metrics = ["records", "deaths", "events"]

        def answers(s):
            return {
                "profile": profile.shaped(profile.unit_hazards(
                    records, s, atlas.methods, metrics).to_pyarrow(), metrics, None, s.level),
                "risk": risk.risk(records, population, s, atlas.methods).to_pandas(),
                "annual": risk.annual_series(records, s, atlas.methods).to_pandas(),
                "events": events.events(s.records(records), atlas.methods,
                                        basis=None if events.whole(s) else s.but(
                                            admin=None).records(records)).to_pandas()}

        fast = answers(sc)
        monkeypatch.setattr(events, "whole", lambda s: False)
        monkeypatch.setattr(profile, "whole", lambda s: False)
        monkeypatch.setattr(risk, "whole", lambda s: False)
        slow = answers(sc.but(period_table=None))
        for name in fast:
            assert len(fast[name]), name
            pd.testing.assert_frame_equal(_sorted(fast[name]), _sorted(slow[name]),
                                          obj=name)


def test_a_served_copy_works_out_a_scope_once(grenada_db, monkeypatch):
    """On a store with a memo (a served copy), two analyses of one scope at two levels
    work out its periods and its provenance once; without a memo, every call does."""
    calls = {"periods": 0, "summary": 0}
    periods, summary = period_module.periods, period_module.summary

    def counted(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr("riskatlas.analysis.scope.periods", counted("periods", periods))
    # Atlas.scope works them out on the cards per year of the scope's ledger (rule_of)
    monkeypatch.setattr(period_module, "rule_of", counted("periods", period_module.rule_of))
    monkeypatch.setattr(period_module, "summary", counted("summary", summary))
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        first = atlas.profile(["deaths"], country="GRD", year_from=1950)
        cold = dict(calls)
        atlas.store.memo = Memo()
        atlas.profile(["deaths"], country="GRD", year_from=1950)
        calls.update(periods=0, summary=0)
        second = atlas.profile(["deaths"], country="GRD", year_from=1950, level=1)
        atlas.risk(country="GRD", year_from=1950, level=1)
    assert cold == {"periods": 1, "summary": 1}
    assert calls == {"periods": 0, "summary": 0}
    assert second.attrs["period"] == first.attrs["period"]
    assert second.attrs["notes"] == first.attrs["notes"]


def test_top_of_takes_what_a_stable_sort_takes():
    """The screen's rank stability counts the top N of each draw with a partition; it
    picks exactly the units a stable sort, largest first, would (ties to the earlier)."""
    import numpy as np

    from riskatlas.analysis.screen import top_of

    rng = np.random.default_rng(7)
    for trial in range(200):
        rows, units = int(rng.integers(1, 20)), int(rng.integers(1, 50))
        n = int(rng.integers(0, units + 3))
        scores = (rng.integers(0, 4, size=(rows, units)) / 3 if trial % 2
                  else rng.random((rows, units)).round(2))
        if trial % 7 == 0:
            scores[0, 0] = np.nan
        order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        expected = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(expected, order, True, axis=1)
        assert (top_of(scores, n) == expected).all(), (trial, n)
