"""Every hazard stays visible: the screen counts climate-related hazards, and the report, the
dashboard and the unit pages say what it leaves out, with the all-hazard screen beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

import riskatlas
from cards import card, store_with
from conftest import web_client
from riskatlas.errors import EmptyScopeError
from riskatlas.report.html import render_html


@pytest.fixture(scope="module")
def quake_country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Earthquakes cause 90 % of deaths, all in unit Q; floods are spread over F1–F3."""
    cards = [card(1, "EARTHQUAKE", 2005, "Q", month=3, deaths=900, destroyed=700)]
    cards += [card(10 + i, "FLOOD", 2000 + i, f"F{1 + i % 3}", deaths=10, destroyed=5)
              for i in range(10)]
    cards += [card(30 + i, "FLOOD", 2001 + i, "Q", deaths=0, destroyed=1) for i in range(2)]
    return store_with(tmp_path_factory.mktemp("quake"), cards, country="NPL")


def test_the_summary_names_what_the_climate_screen_leaves_out(quake_country):
    with riskatlas.open(quake_country, read_only=True) as atlas:
        a = atlas.assess(level=0)
    outside = a.outside.set_index(["hazard", "metric"])["share_pct"]
    assert outside[("earthquake", "deaths")] == pytest.approx(90.0)
    assert outside[("earthquake", "houses_destroyed")] == pytest.approx(700 / 752 * 100)
    html = render_html(a)
    assert "it leaves out Earthquake: 90 % of deaths" in html
    assert 'id="every-hazard"' in html
    # the earthquake unit ranks last on climate-related hazards, near the top on all
    q = a.screen.set_index("admin_code").loc["Q"]
    assert q["rank"] == 4 and q["all_hazards_rank"] <= 2
    every = a.all_screen.set_index("admin_code")
    assert every.at["Q", "climate_rank"] == 4 and every.at["Q", "rank"] <= 2
    assert "Outside the climate-related screen: Earthquake" in html  # Q's unit page


def test_a_country_with_no_climate_hazard_is_screened_on_every_hazard(tmp_path):
    db = store_with(tmp_path, [card(i, "EARTHQUAKE", 2000 + i, f"U{i % 2}", deaths=5 + i)
                               for i in range(6)], country="TWN")
    with riskatlas.open(db, read_only=True) as atlas:
        with pytest.raises(EmptyScopeError) as caught:
            atlas.screen(level=0)
        assert caught.value.key == "analysis.no_climate_records"
        assert "--all-hazards" in caught.value.render("en")
        a = atlas.assess(level=0)
    assert a.screen.attrs["scope"]["climate_only"] is False
    assert len(a.top_units) == 2 and a.top_units.iloc[0]["score"] > 0
    assert a.top_units.iloc[0]["drivers"][0]["hazard"] == "earthquake"
    assert any("counts every hazard" in n for n in a.notes)


def test_the_dashboard_shows_the_all_hazard_rank_and_what_is_left_out(quake_country):
    with web_client(quake_country) as client:
        page = client.get("/screen?country=NPL&level=0&lang=en").text
        unit = client.get("/unit/NPL/Q?level=0&lang=en").text
    assert "All hazards: score (rank)" in page and "it leaves out Earthquake" in page
    assert "Outside the climate-related screen: Earthquake" in unit
