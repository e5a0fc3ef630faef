"""City screening on constructed stores with a known answer."""

from __future__ import annotations

import pytest

import riskatlas
from cards import card, store_with
from riskatlas.errors import MethodsError


def _district_cards() -> list[dict]:
    """Five provinces, 2001–2010. Province 03 suffers deadly landslides every year; the
    others have small floods, 02 a few small landslides."""
    cards, serial = [], 0
    for year in range(2001, 2011):
        for l0 in ("01", "02", "03", "04", "05"):
            serial += 1
            cards.append(card(serial, "FLOOD", year, l0, month=7, deaths=1 if l0 != "05" else 0,
                              injured=2, affected=50, damaged=3))
        serial += 1
        cards.append(card(serial, "LANDSLIDE", year, "03", month=9, deaths=25, injured=30,
                          affected=400, destroyed=40, damaged=60))
        if year % 3 == 0:
            serial += 1
            cards.append(card(serial, "LANDSLIDE", year, "02", month=9, deaths=1, affected=5))
    return cards


def test_known_dominant_hazard_ranks_first_with_its_driver(tmp_path):
    db = store_with(tmp_path, _district_cards())
    with riskatlas.open(db, read_only=True) as atlas:
        s = atlas.screen(level=0)
    top = s.iloc[0]
    assert top.admin_code == "03" and top["rank"] == 1
    assert top["class"] == "very_high" and top.score >= 6.5
    assert top.top_hazard == "landslide"
    assert {d["hazard"] for d in top.drivers} == {"landslide"}
    assert sum(d["share_pct"] for d in top.drivers) <= 100
    assert top.stability == 1.0
    assert s.iloc[-1].admin_code == "05"  # no deaths, no landslides
    assert list(s["rank"]) == [1, 2, 3, 4, 5]
    assert s.attrs["notes"] == ["analysis.note_absolute"] and set(s.basis) == {"absolute"}
    assert s.attrs["hazards"] == ["flood", "landslide"]
    assert (top.years_covered, top.quality) == (10, "B")  # A needs 20 years


def test_unit_dominating_every_indicator_is_always_in_the_top(tmp_path):
    cards = [card(i * 10 + k, hazard, 2000 + i, l0, month=m, deaths=d, injured=d, affected=d,
                  destroyed=d, damaged=d)
             for i in range(10)
             for k, (hazard, m) in enumerate((("FLOOD", 7), ("LANDSLIDE", 9)))
             for l0, d in (("A1", 1), ("B2", 2), ("C3", 50), ("D4", 3))]
    db = store_with(tmp_path, cards)
    methods = tmp_path / "methods.yaml"
    methods.write_text("screen:\n  top_n: 1\n  stability:\n    draws: 300\n")
    with riskatlas.open(db, read_only=True, methods=methods) as atlas:
        s = atlas.screen(level=0).set_index("admin_code")
    assert s.loc["C3", "stability"] == 1.0 and s.loc["C3", "rank"] == 1
    assert s.loc["C3", "score"] == pytest.approx(10.0, abs=1e-6)
    assert s.loc["A1", "stability"] == 0.0 and s.loc["A1", "class"] == "very_low"
    assert s.attrs["methods_source"] == "methods.yaml"


def test_population_turns_indicators_into_rates(tmp_path):
    db = store_with(tmp_path, _district_cards())
    pop = tmp_path / "pop.csv"
    # province 03 is large, so per 100,000 its landslide toll is small; 05 stays last
    rows = [f"LKA,0,{code},2005,{p}" for code, p in
            (("01", 10_000), ("02", 10_000), ("03", 50_000_000), ("04", 10_000), ("05", 10_000))]
    pop.write_text("country_iso3,level,admin_code,year,population\n" + "\n".join(rows) + "\n")
    with riskatlas.open(db) as atlas:
        atlas.import_population(pop)
        s = atlas.screen(level=0)
    assert set(s.basis) == {"per_capita"} and s.attrs["notes"] == []
    assert s.iloc[0].admin_code != "03"


def test_all_hazards_and_climate_only(tmp_path):
    db = store_with(tmp_path, [card(1, "EARTHQUAKE", 2001, "01", deaths=100),
                               card(2, "FLOOD", 2001, "02", deaths=1)])
    with riskatlas.open(db, read_only=True) as atlas:
        climate = atlas.screen(level=0)
        every = atlas.screen(level=0, all_hazards=True)
    assert climate.attrs["hazards"] == ["flood"] and climate.iloc[0].admin_code == "02"
    assert every.attrs["hazards"] == ["earthquake", "flood"]
    assert every.iloc[0].admin_code == "01"


def test_bad_methods_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("screen:\n  top_n: many\n")
    with pytest.raises(MethodsError,
                       match=r"bad\.yaml: setting 'screen\.top_n' must be of type int"):
        riskatlas.open(tmp_path / "x.duckdb", methods=bad)
    bad.write_text("screen:\n  weights: {}\n")
    with pytest.raises(MethodsError, match=r"unknown setting 'screen\.weights'"):
        riskatlas.open(tmp_path / "x.duckdb", methods=bad)


@pytest.mark.shared_data
def test_a_screens_ranks_alone_are_its_own(nepal_db):
    """What a page shows of the all-hazard screen, its ranks and scores worked out alone,
    is the screen's own, with a memo (read off a kept screen, or kept alone) and without;
    the screen page's climate screen with them is the one with the whole screen's."""
    import pandas as pd

    from riskatlas.assessment.pipeline import screens
    from riskatlas.store.memo import Memo

    scopes = [dict(level=2), dict(level=1, year_from=1990, year_to=2005),
              dict(level=2, year_to=1985)]
    for memo in (None, Memo()):
        with riskatlas.open(nepal_db, read_only=True) as atlas:
            atlas.store.memo = memo
            for s in scopes:
                scope = atlas.scope(**s)
                first = atlas.screen_ranks(all_hazards=True, scope=scope)
                whole = atlas.screen(all_hazards=True, scope=scope)
                again = atlas.screen_ranks(all_hazards=True, scope=scope)
                for got in (first, again):
                    pd.testing.assert_frame_equal(
                        got, whole[["rank", "country_iso3", "admin_code", "score"]])
                assert first["rank"].notna().sum() > 10
                paged, _, _ = screens(atlas, "zh-TW", scope, every_ranked=True)
                full, _, _ = screens(atlas, "zh-TW", scope)
                pd.testing.assert_frame_equal(paged, full)
                assert paged["all_hazards_rank"].notna().any()
