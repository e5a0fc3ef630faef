"""Events, hazard-specific risk, return periods, trends and Sendai indicators."""

from __future__ import annotations

import math

import numpy as np
import pytest

import riskatlas
from cards import card, store_with
from riskatlas.analysis.trend import mann_kendall


def test_cards_group_into_events_by_window_partial_dates_and_glide(tmp_path):
    db = store_with(tmp_path, [
        card(1, "FLOOD", 2005, "01", l1="0101", month=7, day=1),
        card(2, "FLOOD", 2005, "01", l1="0102", month=7, day=5),   # +4 days: same event
        card(3, "FLOOD", 2005, "01", l1="0101", month=7, day=20),  # +15 days: new event
        card(4, "FLOOD", 2005, "02", l1="0201", month=7, day=2),   # other province: new
        card(5, "EARTHQUAKE", 2006, "01", month=3, day=1),
        card(6, "EARTHQUAKE", 2006, "01", month=3, day=4),         # > 2 days: new event
        card(7, "LANDSLIDE", 2007, "01", month=8, day=""),         # month only: Aug 1–31
        card(8, "LANDSLIDE", 2007, "01", month=8, day=30),         # inside August: same
        card(9, "CYCLONE", 2008, "01", month=5, day=1, glide="TC-2008-000001-LKA"),
        card(10, "CYCLONE", 2008, "02", month=5, day=9, glide="TC-2008-000001-LKA"),
    ])
    with riskatlas.open(db, read_only=True) as atlas:
        ev = atlas.events()
    cards = sorted(ev.groupby("hazard")["cards"].apply(sorted).items())
    assert cards == [("earthquake", [1, 1]), ("flood", [1, 1, 2]), ("landslide", [2]),
                     ("storm", [2])]
    glide = ev[ev.hazard == "storm"].iloc[0]
    # a GLIDE number joins cards within one hazard group (the group is in the event id)
    assert glide.event_id == "LKA|storm|glide|TC-2008-000001-LKA" and glide.units == 2
    slide = ev[ev.hazard == "landslide"].iloc[0]
    assert str(slide.start_date)[:10] == "2007-08-01" and str(slide.end_date)[:10] == "2007-08-31"


def test_risk_frequency_intensive_split_and_return_levels(tmp_path):
    # ten years 2001–2010 of floods in one province; one intensive event (40 deaths)
    cards = [card(i, "FLOOD", 2000 + i, "01", deaths=1, destroyed=2) for i in range(1, 11)]
    cards.append(card(99, "FLOOD", 2005, "01", month=1, deaths=40))
    db = store_with(tmp_path, cards)
    with riskatlas.open(db, read_only=True) as atlas:
        risk = atlas.risk(level=0)
        levels = atlas.return_levels("deaths", "annual_max_event", level=0)
    row = risk.iloc[0]
    assert (row.years, row.events, row.intensive_events) == (10, 11, 1)
    assert row.events_per_year == pytest.approx(1.1)
    assert row.p_event_10y == pytest.approx(1 - math.exp(-11.0))
    assert row.deaths_per_year == pytest.approx(5.0)
    assert (row.deaths_intensive, row.deaths_extensive) == (40, 10)
    assert row.houses_destroyed_per_year == pytest.approx(2.0)
    rl = dict(zip(levels.return_period_years, levels.level, strict=True))
    basis = dict(zip(levels.return_period_years, levels.basis, strict=True))
    # T ≥ Y = 10: the largest year observed, flagged beyond the record (a lower bound)
    assert rl[10] == 40 and rl[5] == 1 and rl[25] == 40 and basis[25] == "beyond_record"


def test_mann_kendall_known_values():
    rising = mann_kendall(np.arange(10.0))
    assert rising.verdict == "increasing" and rising.slope_per_year == 1.0
    # S = 45, var = 10·9·25 / 18 = 125, z = 44 / √125
    assert rising.p_value == pytest.approx(math.erfc(44 / math.sqrt(125) / math.sqrt(2)))
    assert mann_kendall(np.arange(9.0)).verdict == "too_few_years"
    assert mann_kendall(np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3.0])).verdict == "no_trend"
    assert mann_kendall(np.zeros(12)).verdict == "no_trend"


def test_risk_trend_needs_ten_years(tmp_path):
    rising = [card(100 * y + k, "FLOOD", 2000 + y, "01", month=1 + k, deaths=y)
              for y in range(12) for k in range(y + 1)]
    db = store_with(tmp_path, rising)
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.risk(level=0).iloc[0].trend_events == "increasing"
        assert atlas.risk(level=0, year_from=2005).iloc[0].trend_events == "too_few_years"


def test_sendai_indicators_with_population(tmp_path):
    db = store_with(tmp_path, [
        card(1, "FLOOD", 2010, "01", deaths=3, missing=1, injured=10, damaged=5, destroyed=2,
             affected=100),
        card(2, "FLOOD", 2012, "01", deaths=1),
    ])
    population = tmp_path / "pop.csv"
    population.write_text("country_iso3,level,admin_code,year,population,households,gdp_usd\n"
                          "LKA,0,01,2010,200000,40000,\nLKA,0,01,2014,240000,,\n")
    with riskatlas.open(db) as atlas:
        atlas.import_population(population)
        s = atlas.sendai(level=0).set_index("year")
    y10, y12 = s.loc[2010], s.loc[2012]
    assert y10.population_basis == "reported" and y12.population_basis == "interpolated"
    assert y12.population == pytest.approx(220000)
    assert y10.household_size == 5  # 200,000 / 40,000
    assert y10.a1 == pytest.approx(4 * 1e5 / 200000)
    assert y10.b2 == pytest.approx(10 * 1e5 / 200000)
    assert y10.b3 == pytest.approx(5 * 5 * 1e5 / 200000)
    assert y10.b4 == pytest.approx(2 * 5 * 1e5 / 200000)
    assert y10.b1 == pytest.approx(y10.b2 + y10.b3 + y10.b4)
    assert y10.sdg_1_5_1 == pytest.approx((3 + 1 + 100) * 1e5 / 200000)
    assert y12.household_size == 5.5  # households carried from the nearest reported year


def test_sendai_without_population_says_so_and_c1_uses_gdp(tmp_path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2010, "01", deaths=1)])
    with riskatlas.open(db) as atlas:
        s = atlas.sendai()
        assert s.attrs["notes"] == ["analysis.note_no_population"]
        assert math.isnan(s.iloc[0].a1) and s.iloc[0].household_size == 4
        gdp = tmp_path / "gdp.csv"
        gdp.write_text("country_iso3,level,admin_code,year,population,gdp_usd\n"
                       "LKA,-1,LKA,2010,20000000,1000000\n")
        atlas.import_population(gdp)
        s = atlas.sendai()
    assert s.attrs["notes"] == []
    assert s.iloc[0].a1 == pytest.approx(1e5 / 2e7)
    assert math.isnan(s.iloc[0].c1_pct_gdp)  # no losses in USD reported on the card
    db2 = store_with(tmp_path, [card(1, "FLOOD", 2010, "01", usd=25000)], name="usd")
    with riskatlas.open(db2) as atlas:
        atlas.import_population(gdp)
        assert atlas.sendai().iloc[0].c1_pct_gdp == pytest.approx(2.5)
