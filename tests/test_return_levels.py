"""Return levels: the quantity they count, the Weibull rule, consistency with the record
and the bootstrap interval (docs/methods.md, "Exceedance curves and return levels")."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import riskatlas
from cards import card, store_with
from riskatlas.analysis import levels
from riskatlas.analysis.levels import Bootstrap, positions, year_counts
from riskatlas.errors import AnalysisError, MethodsError

BOOT = Bootstrap(draws=300, confidence=0.9, seed=7)


def annual(rows: list[tuple[str, int, float]], years: int, start: int = 2001) -> pd.DataFrame:
    """Years with a loss of some units, over ``years`` years of record from ``start``."""
    return pd.DataFrame([{"unit": u, "year": y, "value": float(v), "years": years,
                          "period_from": start, "period_to": start + years - 1}
                         for u, y, v in rows])


def full_series(frame: pd.DataFrame, unit: str) -> np.ndarray:
    """Every year of record of ``unit``, 0 where it had no loss."""
    g = frame[frame.unit == unit]
    first, years = int(g.period_from.iloc[0]), int(g.years.iloc[0])
    out = np.zeros(years)
    out[g.year.to_numpy() - first] = g.value.to_numpy()
    return out


def rule(series: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """The documented rule, written independently: the Hyndman–Fan type 6 (Weibull)
    quantile at 1 − 1/T below Y years, the largest year from T = Y on."""
    years = len(series)
    return np.array([series.max() if t >= years else
                     np.quantile(series, 1 - 1 / t, method="weibull") for t in periods])


LOSSES = annual([("a", 2001, 3), ("a", 2004, 12), ("a", 2005, 1), ("a", 2009, 40),
                 ("a", 2013, 7), ("a", 2017, 7), ("a", 2020, 2),
                 ("b", 2003, 5)], years=20)
PERIODS = [1.5, 2, 5, 10, 15, 19.5, 50]


def test_levels_follow_the_weibull_rule_and_never_fall_below_the_record():
    out = levels.return_levels(LOSSES, ["unit"], PERIODS, BOOT)
    for unit in ("a", "b"):
        rows = out[out.unit == unit].sort_values("return_period_years")
        series = full_series(LOSSES, unit)
        # the configured periods and T = Y (20) itself
        assert list(rows.return_period_years) == [1.5, 2, 5, 10, 15, 19.5, 20, 50]
        np.testing.assert_allclose(rows.level, rule(series, rows.return_period_years.to_numpy()))
        assert (np.diff(rows.level) >= 0).all()  # a longer period never gives less
        top = rows[rows.return_period_years >= 20]
        assert (top.level == series.max()).all() and list(top.basis) == ["record",
                                                                          "beyond_record"]
        assert (rows[rows.return_period_years < 20].basis == "interpolated").all()
        assert rows.observed_max.iloc[0] == series.max()
    a = out[out.unit == "a"].set_index("return_period_years")
    # r = 21/10 = 2.1: between the 2nd (12) and 3rd (7) largest years
    assert a.level[10] == pytest.approx(12 - 0.1 * 5)
    assert (a.observed_max_year.iloc[0], a.years_with_loss.iloc[0]) == (2009, 7)


def test_bootstrap_interval_is_the_rule_on_resampled_years():
    out = levels.return_levels(LOSSES, ["unit"], PERIODS, BOOT)
    counts = year_counts(20, BOOT)
    periods = np.array([*PERIODS[:-1], 20, 50], dtype=float)
    for unit in ("a", "b"):
        series = full_series(LOSSES, unit)
        draws = np.array([rule(np.repeat(series, c), periods) for c in counts])
        low, high = np.quantile(draws, [0.05, 0.95], axis=0)
        rows = out[out.unit == unit].sort_values("return_period_years")
        np.testing.assert_allclose(rows.level_low, low)
        np.testing.assert_allclose(rows.level_high, high)
        assert (rows.level_low <= rows.level_high).all()


def test_a_units_interval_does_not_depend_on_the_scope_or_the_chunks(monkeypatch):
    both = levels.return_levels(LOSSES, ["unit"], PERIODS, BOOT)
    alone = levels.return_levels(LOSSES[LOSSES.unit == "b"], ["unit"], PERIODS, BOOT)
    pd.testing.assert_frame_equal(both[both.unit == "b"].reset_index(drop=True), alone)
    monkeypatch.setattr(levels, "CHUNK_CELLS", 1)  # one group at a time
    pd.testing.assert_frame_equal(levels.return_levels(LOSSES, ["unit"], PERIODS, BOOT), both)
    again = levels.return_levels(LOSSES, ["unit"], PERIODS, BOOT)
    pd.testing.assert_frame_equal(again, both)  # seeded: the same draws every time
    other = levels.return_levels(LOSSES, ["unit"], PERIODS, Bootstrap(300, 0.9, seed=8))
    assert not np.allclose(other.level_low, both.level_low) or not np.allclose(
        other.level_high, both.level_high)


def test_positions_clamp_to_the_record():
    at = positions(10, np.array([1.0, 2.0, 2.75, 10.0, 11.0]))
    assert list(at.lo) == [10, 5, 4, 1, 1] and list(at.weight) == [0, 0.5, 0, 0, 0]
    assert list(at.basis) == ["interpolated"] * 3 + ["record", "beyond_record"]


@pytest.fixture(scope="module")
def two_quantities(tmp_path_factory):
    """Ten years of floods in province 01; 2005 has two events (3 and 5 deaths) and the
    5-death one is split over two cards of the same day."""
    tmp = tmp_path_factory.mktemp("quantities")
    cards = [card(i, "FLOOD", 2000 + i, "01", month=6, deaths=1) for i in range(1, 11)]
    cards[4] = card(5, "FLOOD", 2005, "01", month=2, deaths=3)
    cards += [card(20, "FLOOD", 2005, "01", month=9, deaths=2),
              card(21, "FLOOD", 2005, "01", month=9, deaths=3)]
    return store_with(tmp, cards)


@pytest.mark.parametrize(("quantity", "largest"), [("annual_total", 8),
                                                   ("annual_max_event", 5)])
def test_quantity_annual_total_or_largest_event(two_quantities, quantity, largest):
    with riskatlas.open(two_quantities, read_only=True) as atlas:
        rl = atlas.return_levels("deaths", quantity, level=0)
        points = atlas.exceedance("deaths", quantity, level=0)
    assert rl.attrs["quantity"] == quantity and set(rl["quantity"]) == {quantity}
    assert rl.attrs["confidence"] == 0.9 and rl.attrs["bootstrap_draws"] == 1000
    assert {"level", "level_low", "level_high", "basis"} <= set(rl.columns)
    assert (rl.years == 10).all()
    record = rl[rl.return_period_years == 10].iloc[0]
    assert (record.level, record.basis, record.observed_max_year) == (largest, "record", 2005)
    top = points[points["rank"] == 1].iloc[0]
    assert (top.value, top.year, top.return_period_years) == (largest, 2005, 11)


def test_default_quantity_and_interval_come_from_the_methods_profile(two_quantities, tmp_path):
    profile = tmp_path / "methods.yaml"
    profile.write_text("risk:\n  return_levels:\n    quantity: annual_max_event\n"
                       "    bootstrap: {draws: 200, confidence: 0.5, seed: 3}\n")
    with riskatlas.open(two_quantities, read_only=True, methods=profile) as atlas:
        rl = atlas.return_levels("deaths", level=0)
        with pytest.raises(AnalysisError) as caught:
            atlas.return_levels("deaths", "annual_mean", level=0)
    assert rl.attrs["quantity"] == "annual_max_event" and rl.attrs["confidence"] == 0.5
    assert rl.attrs["bootstrap_draws"] == 200 and rl.attrs["bootstrap_seed"] == 3
    assert caught.value.key == "analysis.bad_quantity"
    assert "annual_max_event" in caught.value.render("zh-TW")
    profile.write_text("risk:\n  return_levels:\n    bootstrap: {confidence: 1.5}\n")
    with riskatlas.open(two_quantities, read_only=True, methods=profile) as atlas, \
            pytest.raises(MethodsError, match="confidence"):
        atlas.return_levels("deaths", level=0)


def st_george(atlas) -> str:
    """The admin code of the parish St George, as the store has it."""
    records = atlas.table("records")
    found = records.filter(records.level2_name == "St George").level2_code.to_pandas()
    assert found.nunique() == 1
    return str(found.iloc[0])


@pytest.mark.shared_data
@pytest.mark.parametrize("quantity", ["annual_total", "annual_max_event"])
def test_st_george_storm_levels_reach_the_2004_deaths(grenada_db, quantity):
    """Issue 12: St George's 100-year storm level was 4 deaths while its Sendai table shows
    21 deaths in 2004 (Hurricane Ivan)."""
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        code = st_george(atlas)
        sendai = atlas.sendai(level=2, admin=code).set_index("year")
        rl = atlas.return_levels("deaths", quantity, level=2, admin=code, hazard="storm")
    rl = rl[(rl.admin_code == code) & (rl.hazard == "storm")].sort_values("return_period_years")
    assert sendai.loc[2004, "deaths"] == 21
    years = int(rl.years.iloc[0])
    beyond = rl[rl.return_period_years >= years]
    assert len(beyond) >= 1 and (beyond.level >= 21).all()
    assert set(beyond.basis) <= {"record", "beyond_record"}
    assert (rl.observed_max == 21).all() and (rl.observed_max_year == 2004).all()
    assert (rl.level <= 21).all() and (np.diff(rl.level) >= 0).all()
    assert (rl.level_low <= rl.level_high).all() and (beyond.level_high == 21).all()
    within = rl[rl.return_period_years < years]
    assert (within.basis == "interpolated").all()
    assert rl.attrs["quantity"] == quantity


@pytest.mark.shared_data
@pytest.mark.slow
def test_cli_names_the_quantity_and_the_interval(grenada_db):
    outputs = {}
    for lang in ("en", "zh-TW"):
        done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", lang, "risk",
                               "--db", str(grenada_db), "--level", "2", "--hazard", "storm",
                               "--return-periods", "deaths", "--quantity",
                               "annual_max_event", "--format", "json"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs[lang] = done.stderr
        rows = json.loads(done.stdout)
        assert {r["quantity"] for r in rows} == {"annual_max_event"}
        assert all(r["level_low"] <= r["level_high"] for r in rows)
    assert "largest event of a year" in outputs["en"] and "90 %" in outputs["en"]
    assert "最大單一事件" in outputs["zh-TW"] and "90%" in outputs["zh-TW"]
    bad = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", "risk", "--db",
                          str(grenada_db), "--return-periods", "deaths", "--quantity", "mean"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Unknown quantity 'mean'" in bad.stderr


@pytest.mark.shared_data
@pytest.mark.slow
def test_report_names_the_quantity_and_the_interval_in_both_languages(grenada_db):
    import dataclasses

    from riskatlas.i18n import translate
    from riskatlas.report.html import render_html

    with riskatlas.open(grenada_db, read_only=True) as atlas:
        assessment = atlas.assess(level=2)
        code = st_george(atlas)
    assert code in set(assessment.top_units.admin_code)
    for lang in ("en", "zh-TW"):
        html = render_html(dataclasses.replace(assessment, lang=lang))
        unit = html[html.index(f'id="unit-{code}"'):]
        unit = unit[:unit.index("</section>")]
        caption = translate("analysis.levels_annual_total", lang,
                            metric=translate("metric.deaths", lang), confidence="90",
                            draws="1,000")
        assert caption in html  # once, in Methods
        assert translate("report.levels_note", lang, metric=translate("metric.deaths", lang),
                         confidence="90") in unit
        assert translate("report.levels_largest", lang, level="21", year=2004) in unit
        assert "0–21" in unit  # the interval of the storm levels near the record


@pytest.mark.shared_data
def test_web_api_passes_the_quantity(grenada_db):
    from conftest import web_client

    with web_client(grenada_db) as client:
        body = client.get("/api/risk", params={"return_periods": "deaths", "level": 2,
                                               "quantity": "annual_max_event"}).json()
        assert body["meta"]["quantity"] == "annual_max_event"
        assert body["meta"]["confidence"] == 0.9
        assert {"level_low", "level_high", "basis"} <= set(body["rows"][0])
        assert client.get("/api/risk", params={"return_periods": "deaths",  # not a quantity
                                               "quantity": "x"}).status_code == 422


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("level", [1, 2])
def test_nepal_levels_are_fast_and_follow_the_rule(nepal_db, level):
    with riskatlas.open(nepal_db, read_only=True) as atlas:
        start = time.perf_counter()
        rl = atlas.return_levels("deaths", level=level)
        took = time.perf_counter() - start
    groups = rl.groupby(["admin_code", "hazard"])
    assert groups.ngroups > (400 if level == 1 else 4000)
    assert took < 60, f"{groups.ngroups} unit × hazard pairs took {took:.1f} s"
    at_record = rl[rl.return_period_years >= rl.years]
    assert (at_record.level == at_record.observed_max).all()
    assert (rl.level <= rl.observed_max).all() and (rl.level_low <= rl.level_high).all()
    ordered = rl.sort_values(["admin_code", "hazard", "return_period_years"])
    steps = ordered.groupby(["admin_code", "hazard"])["level"].diff().dropna()
    assert (steps >= 0).all()  # a longer period never gives a lower level


@pytest.mark.shared_data
@pytest.mark.spark
@pytest.mark.slow
def test_return_levels_match_on_spark(grenada_db):
    from conftest import on_both_engines

    frames = on_both_engines(grenada_db, lambda atlas: atlas.return_levels("deaths", level=2))
    keys = ["admin_code", "hazard", "return_period_years"]
    duck, spark = (f.sort_values(keys).reset_index(drop=True) for f in frames)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False)
