"""Peers compare like with like: the kind of unit (administrative tier from the level's name
and depth, size, record density) comes first, then the hazard profile. On a real store with
Grenada (country → island → parish) and Nepal (development region → district → village
development committee) together."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import riskatlas
from conftest import shared, web_client
from riskatlas.advice.peers import (
    PeerRules,
    level_tier,
    nation_at_zero,
    peers,
    tier_range,
    tier_terms,
)
from riskatlas.assessment.peers import peer_features
from riskatlas.model.regions import region_of
from riskatlas.report import peers_view
from riskatlas.report.html import Text

PLACEHOLDER = re.compile(r"\{[a-z_]+\}|\bpeers\.[a-z_0-9]+")


@pytest.fixture(scope="module")
def both_db(nepal_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Nepal store with the Grenada export imported into it."""
    db = tmp_path_factory.mktemp("peers") / "both.duckdb"
    shutil.copyfile(nepal_db, db)
    with riskatlas.open(db) as atlas:
        atlas.import_paths([shared("desinventar/grd/DI_export_grd.zip")])
    return db


@pytest.fixture(scope="module")
def features(both_db: Path) -> pd.DataFrame:
    with riskatlas.open(both_db, read_only=True) as atlas:
        return peer_features(atlas)


def _parishes(features: pd.DataFrame) -> list[tuple[str, int, str]]:
    return [k for k in features.index if k[0] == "GRD" and k[1] == 2]


# ------------------------------------------------------------- the kind of a level


def test_level_names_mean_a_range_of_tiers_and_depth_picks_within_it():
    assert tier_range("Parish") == tier_range("Parishes") == (1, 3)
    assert tier_range("Village Development Committee") == (3, 4)
    assert tier_range("VDC") == (3, 4)
    assert tier_range("Sous-préfecture") == (2, 3)
    assert tier_range("Country") == (0, 0)
    assert tier_range("鄉鎮市區") == (1, 3)  # 鄉, 鎮, 市, 區: every one-character term
    assert tier_range("Level 2") is None and tier_range(None) is None
    # the depth below the nation, moved into what the name can mean
    assert level_tier(["Parish"], 2) == (2, "name")
    assert level_tier(["village"], 1) == (3, "name")  # a village is never first-order
    assert level_tier(["province"], 3) == (2, "name")
    assert level_tier([], 2) == (2, "structure")
    assert all(0 <= lo <= hi <= 4 for lo, hi in tier_terms().values())


def test_level_zero_is_the_nation_only_when_it_is_one_unit_named_or_coded_so():
    assert nation_at_zero("GRD", 1, "GRD", "Grenada", ["Country"])
    assert nation_at_zero("NPL", 1, "524", "Nepal", [])  # named after the country
    assert not nation_at_zero("NPL", 5, "1", "Eastern Region", ["region"])
    assert not nation_at_zero("BOL", 1, "06", "Tarija", [])  # one department only


def test_regions_cover_every_iso_country():
    import pycountry

    assert all(region_of(c.alpha_3) for c in pycountry.countries)
    grd, npl = region_of("GRD"), region_of("NPL")
    assert grd and grd.name_en == "Caribbean" and grd.name_in("zh-TW") == "加勒比海地區"
    assert npl and npl.name_en == "Southern Asia"
    assert region_of("XXX") is None


# ----------------------------------------------------------------- on real data


@pytest.mark.shared_data
def test_the_stores_levels_get_their_kind(features: pd.DataFrame):
    kinds = features.groupby(["country_iso3", "level"])[["level_name", "tier"]].first()
    assert kinds.loc[("GRD", 2), "level_name"] == "Parish"
    assert kinds.loc[("NPL", 2), "level_name"] == "village"
    # Grenada's level 0 is the nation: island 1, parish 2; Nepal's level 0 is its regions
    assert kinds["tier"].to_dict() == {("GRD", 0): 0, ("GRD", 1): 1, ("GRD", 2): 2,
                                       ("NPL", 0): 1, ("NPL", 1): 2, ("NPL", 2): 3}
    parish = features.loc[("GRD", 2, "GRD0101")]
    assert 30 < parish["area_km2"] < 120  # St George, from the boundaries


@pytest.mark.shared_data
def test_a_grenada_parish_has_parishes_as_peers_never_nepali_villages(features):
    """The rule: a peer is of the same administrative tier as the unit (a Grenadian parish,
    second-order in its gazetteer, against Nepal's village development committees, local
    units a tier below) and of a like record density; Nepal's districts share the tier but
    report some sixty times as many cards per unit-year, so they are left out too."""
    tier_of = features["tier"]
    for key in _parishes(features):
        found = peers(features, (key[0], key[2]), k=10, level=2)
        assert len(found), key
        assert set(found["tier"]) == {tier_of[key]}
        assert not ((found["country_iso3"] == "NPL") & (found["level"] == 2)).any(), key
        assert set(found["level_name"]) == {"Parish"}
        for close in found["close_by"]:
            assert close[0]["why"] == "kind" and close[0]["tier"] == tier_of[key]
    # the density rule is what keeps Nepal's districts out: loosened, they come in
    loose = peers(features, ("GRD", "GRD0101"), k=200, level=2,
                  rules=PeerRules(max_density_ratio=1e6))
    assert ((loose["country_iso3"] == "NPL") & (loose["level"] == 1)).any()
    assert not ((loose["country_iso3"] == "NPL") & (loose["level"] == 2)).any()
    # ... and the tier rule keeps the villages out whatever the density
    anything = peers(features, ("GRD", "GRD0101"), k=5000, level=2,
                     rules=PeerRules(max_density_ratio=1e6, max_tier_gap=1))
    assert ((anything["country_iso3"] == "NPL") & (anything["level"] == 2)).any()


@pytest.mark.shared_data
def test_each_peer_is_explained_in_both_languages(features):
    found = peers(features, ("GRD", "GRD0101"), k=3, level=2)
    assert len(found) == 3
    for lang in ("en", "zh-TW"):
        t = Text(lang)
        for close in found["close_by"]:
            texts = peers_view.why_texts(close, t)
            assert len(texts) == len(close) and not any(PLACEHOLDER.search(x) for x in texts)
        items = peers_view.peer_items(found, t)
        assert all(i["why"] and i["kind"] == "Parish" for i in items)
    en = peers_view.why_texts(found.iloc[0]["close_by"], Text("en"))
    assert en[0] == "same kind of unit: Parish (second-order subdivision)"
    assert any(x.startswith("same top hazards:") for x in en)
    zh = peers_view.why_texts(found.iloc[0]["close_by"], Text("zh-TW"))
    assert zh[0] == "同類地區：Parish（二級行政區）"


@pytest.mark.shared_data
def test_within_keeps_peers_in_the_country_or_the_region(features):
    district = ("NPL", "005015071")  # Kailali
    everywhere = peers(features, district, k=5, level=1)
    assert set(everywhere["level"]) == {1} and len(everywhere) == 5
    home = peers(features, district, k=5, level=1, within="country")
    assert set(home["country_iso3"]) == {"NPL"}
    region = peers(features, district, k=5, level=1, within="region")
    assert all(region_of(c).code == "034" for c in region["country_iso3"])  # type: ignore
    # a parish within its region: the Caribbean holds only Grenada here
    caribbean = peers(features, ("GRD", "GRD0101"), k=5, level=2, within="region")
    assert set(caribbean["country_iso3"]) == {"GRD"}
    with pytest.raises(ValueError):
        peers(features, district, level=1, within="continent")


@pytest.mark.shared_data
def test_no_peer_of_the_same_kind_is_an_empty_list_with_a_reason(features, grenada_db):
    nation = peers(features, ("GRD", "GRD"), level=0)  # Grenada as a whole: no other nation
    assert not len(nation)
    reason = nation.attrs["reason"]
    assert reason["key"] == "peers.reason_no_kind" and reason["params"]["tiers"] > 0
    text = peers_view.reason_text(reason, Text("en"))
    assert text.startswith("No loaded unit is of the same kind as Grenada (Country, "
                           "national level)")
    assert not PLACEHOLDER.search(peers_view.reason_text(reason, Text("zh-TW")))
    missing = peers(features, ("GRD", "NOPE"))
    assert missing.attrs["reason"]["key"] == "peers.reason_unlocated"
    with web_client(grenada_db, public_all=True) as client:  # the API says why, in words
        body = client.get("/api/peers", params={"country": "GRD", "admin": "GRD",
                                                "level": 0}).json()
    assert body["rows"] == [] and body["meta"]["reason_text"].startswith(
        "No loaded unit is of the same kind as Grenada")


@pytest.mark.shared_data
def test_api_cli_and_pages_give_peers_with_links(both_db: Path, tmp_path: Path):
    with web_client(both_db, public_all=True) as client:
        body = client.get("/api/peers", params={"country": "GRD", "admin": "GRD0101",
                                                "level": 2, "k": 3, "within": "region",
                                                "lang": "zh-TW"}).json()
        assert body["meta"]["scope"]["within"] == "region" and len(body["rows"]) == 3
        assert body["rows"][0]["why"][0].startswith("同類地區")
        assert client.get("/api/peers", params={"country": "GRD", "admin": "GRD0101",
                                                "within": "world"}).status_code == 422
        page = client.get("/unit/GRD/GRD0101?level=2").text
    first = body["rows"][0]["admin_code"]
    assert f'href="/unit/GRD/{first}?level=2"' in page
    assert "same kind of unit: Parish" in page
    done = subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", "peers", "NPL",
                           "005015071", "--within", "country", "--k", "2", "--format", "json",
                           "--db", str(both_db)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = pd.read_json(__import__("io").StringIO(done.stdout))
    assert len(rows) == 2 and set(rows["country_iso3"]) == {"NPL"}
    assert "Peers of Kailali (district, second-order subdivision, Nepal)" in done.stderr


@pytest.mark.shared_data
def test_report_peers_link_to_their_sections(grenada_db: Path):
    from riskatlas.report.html import unit_pages

    with riskatlas.open(grenada_db, read_only=True) as atlas:
        a = atlas.assess(country="GRD", level=2, top=8)
    pages = unit_pages(a, Text("en"))
    sections = {p["code"] for p in pages}
    linked = [(p["code"], q) for p in pages for q in p["peers"]]
    assert linked, "parishes have peers"
    for _, peer in linked:
        assert peer["anchor"] == (f"unit-{peer['code']}" if peer["code"] in sections else None)
    assert any(peer["anchor"] for _, peer in linked)
    assert all(peer["country_iso3"] == "GRD" for _, peer in linked)
