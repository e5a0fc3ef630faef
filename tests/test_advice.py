"""Advice and peers on a constructed store with a known answer."""

from __future__ import annotations

import riskatlas
from cards import card, write_cards
from riskatlas.sources.registry import ReadOptions


def _district_cards(start: int, profile: dict[str, tuple[str, int, int]]) -> list[dict]:
    """Ten years of cards; ``profile``: district → (dominant hazard, its deaths, flood deaths)."""
    cards, serial = [], start
    for year in range(2001, 2011):
        for district, (hazard, deaths, flood) in profile.items():
            serial += 1
            cards.append(card(serial, hazard, year, district[:2], l1=district, month=8,
                              deaths=deaths, injured=deaths, affected=20 * deaths,
                              destroyed=deaths))
            serial += 1
            cards.append(card(serial, "FLOOD", year, district[:2], l1=district, month=6,
                              deaths=flood, affected=40, damaged=5))
    return cards


def test_landslide_district_gets_landslide_early_warning_and_its_twin_as_peer(tmp_path):
    home = _district_cards(0, {"0101": ("LANDSLIDE", 12, 1), "0102": ("FLOOD", 1, 3),
                               "0201": ("CYCLONE", 2, 2), "0202": ("FLOOD", 0, 4)})
    # another country: one district built like 0101, one unlike it
    abroad = _district_cards(1000, {"9901": ("LANDSLIDE", 10, 1), "9902": ("DROUGHT", 3, 0)})
    db = tmp_path / "advice.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([write_cards(tmp_path / "home.csv", home)],
                           options=ReadOptions(country="LKA"))
        atlas.import_paths([write_cards(tmp_path / "abroad.csv", abroad)],
                           options=ReadOptions(country="NPL"))
        a = atlas.assess(country="LKA", level=1, top=4)
        peers = atlas.peers("LKA", "0101", level=1, k=3)
    screen = a.screen.set_index("admin_code")
    assert screen.loc["0101", "top_hazard"] == "landslide"
    measures = a.advice_for(("LKA", "0101"))
    ids = [m.measure.id for m in measures]
    assert "landslide-early-warning" in ids
    warning = measures[ids.index("landslide-early-warning")]
    assert warning.hazard == "landslide" and warning.priority > 0.5
    share = [r for r in warning.reasons if r.kind == "share"]
    assert share and share[0].values["metric"] == "deaths" and share[0].values["pct"] > 75
    assert warning.cases, "the case library names where it was done (Sri Lanka)"
    assert ids.index("landslide-early-warning") < len(ids) // 2 + 1  # ranked by the driver
    # the twin abroad is the closest peer; the drought district is not in the top 3
    assert (peers.iloc[0].country_iso3, peers.iloc[0].admin_code) == ("NPL", "9901")
    assert "9902" not in set(peers["admin_code"])
    assert a.peers[("LKA", "0101")].iloc[0].admin_code == "9901"
    table = a.advice_table()
    assert {"measure_id", "reasons", "cases", "priority"} <= set(table.columns)
    # a flood district gets flood measures, not landslide warning
    flood_ids = [m.measure.id for m in a.advice_for(("LKA", "0202"))]
    assert "landslide-early-warning" not in flood_ids and flood_ids
