"""What a report is about: ``assess FILE…`` assesses what those files hold (their datasets
and country), several countries are never mixed, the statuses counted are the same in the
report, the CLI and the dashboard, and ranks are among units with records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import riskatlas
from cards import card, store_with, write_cards
from conftest import web_client
from riskatlas.errors import AnalysisError


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "riskatlas", "--lang", "en", *args, "--db",
                           str(db)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_countries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A store holding Nepal-like cards (imported first) and the Sri Lanka file to assess."""
    folder = tmp_path_factory.mktemp("two")
    nepal = write_cards(folder / "nepal_cards.csv", [
        card(i, "EARTHQUAKE", 2000 + i % 10, f"N{i % 4}", deaths=50 + i) for i in range(40)])
    lanka = write_cards(folder / "sri_lanka_cards.csv", [
        card(i, "LANDSLIDE" if i % 3 else "FLOOD", 2000 + i % 12, f"L{i % 12:02d}",
             deaths=i % 4, destroyed=i % 5) for i in range(60)])
    db = folder / "two.duckdb"
    with riskatlas.open(db) as atlas:
        atlas.import_paths([nepal])
    return db, nepal, lanka


def test_assess_of_one_file_reports_only_that_files_country(two_countries, tmp_path):
    db, _, lanka = two_countries
    copy = tmp_path / "s.duckdb"
    copy.write_bytes(db.read_bytes())
    out = tmp_path / "report"
    done = _cli(copy, "assess", str(lanka), "--out", str(out), "--no-pdf")
    assert done.returncode == 0, done.stderr
    html = (out / "riskatlas-report-en.html").read_text(encoding="utf-8")
    assert "Sri Lanka: sri_lanka_cards.csv" in html  # the title names country and file
    assert "Nepal" not in html and "Earthquake" not in html
    assert "published cards counted" in html
    screen = pd.read_csv(out / "tables" / "screen.csv", dtype=str)
    assert set(screen["country_iso3"]) == {"LKA"}, screen


def test_several_countries_ask_for_one(two_countries, tmp_path):
    db, _, lanka = two_countries
    copy = tmp_path / "s.duckdb"
    copy.write_bytes(db.read_bytes())
    with riskatlas.open(copy) as atlas:
        atlas.import_paths([lanka])
        with pytest.raises(AnalysisError) as caught:
            atlas.assess()
        assert caught.value.key == "assess.several_countries"
        assert "LKA (60)" in caught.value.render("en") and "NPL (40)" in caught.value.render("en")
        assert atlas.assess(country="npl").country == "NPL"
    done = _cli(copy, "assess", "--out", str(tmp_path / "out"), "--no-pdf")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "--country" in done.stderr and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def with_drafts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve published cards and three drafts of the same units."""
    db = store_with(tmp_path_factory.mktemp("drafts"), [
        card(i, "FLOOD", 2000 + i, f"U{i % 3}", deaths=1) for i in range(12)])
    with riskatlas.open(db) as atlas:
        atlas.store.connection.execute(
            "UPDATE records SET approval_status = 'draft', deaths = 100 "
            "WHERE record_id IN (SELECT record_id FROM records ORDER BY record_id LIMIT 3)")
    return db


def test_drafts_are_left_out_by_default_and_counted_on_request(with_drafts):
    with riskatlas.open(with_drafts, read_only=True) as atlas:
        default = atlas.profile(["records", "deaths"], country="LKA")
        every = atlas.profile(["records", "deaths"], country="LKA", include_unapproved=True)
    assert default.attrs["scope"]["statuses"] == ["published"]
    assert every.attrs["scope"]["statuses"] is None
    records = dict(zip(default["metric"], default["value"], strict=True))
    assert records == {"records": 9, "deaths": 9}
    assert dict(zip(every["metric"], every["value"], strict=True)) == {"records": 12,
                                                                       "deaths": 309}
    assert default.attrs["notes"] == ["analysis.statuses_left_out"]
    assert default.attrs["note_params"]["analysis.statuses_left_out"]["count"] == 3
    assert every.attrs["notes"] == []


def test_report_cli_and_dashboard_count_the_same_statuses(with_drafts):
    with riskatlas.open(with_drafts, read_only=True) as atlas:
        report = atlas.assess(level=0)
    staff_screen = report.screen.set_index("admin_code")["score"].round(6).to_dict()
    done = _cli(with_drafts, "screen", "--level", "0", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "3 cards of other approval statuses" in done.stderr
    import json

    cli = {r["admin_code"]: round(r["score"], 6) for r in json.loads(done.stdout)}
    assert cli == staff_screen
    with web_client(with_drafts) as client:  # anonymous visitors: published cards only
        api = client.get("/api/screen?country=LKA&level=0").json()
    assert {r["admin_code"]: round(r["score"], 6) for r in api["rows"]} == staff_screen


def test_an_unknown_status_is_named():
    with pytest.raises(AnalysisError) as caught:
        riskatlas.api.Scope(statuses=("approved",))
    assert "approved" in caught.value.render("en") and "published" in caught.value.render("en")


def test_ranks_are_among_units_with_records(tmp_path):
    """Units of the gazetteer without records are listed after the ranked ones, unranked;
    no score is negative zero."""
    db = store_with(tmp_path, [card(i, "FLOOD", 2000 + i, f"U{i % 2}", deaths=i % 3)
                               for i in range(10)])
    with riskatlas.open(db) as atlas:
        atlas.store.connection.execute(
            "INSERT INTO admin_units (country_iso3, level, code, name) VALUES "
            "('LKA', 0, 'U7', 'Quiet unit'), ('LKA', 0, 'U8', 'Another quiet unit')")
        screen = atlas.screen(country="LKA", level=0)
    ranked = screen[screen["rank"].notna()]
    assert set(ranked["admin_code"]) == {"U0", "U1"}
    assert list(ranked["rank"]) == [1, 2]
    quiet = screen[screen["rank"].isna()]
    assert set(quiet["admin_code"]) == {"U7", "U8"}
    assert list(screen.index[screen["rank"].isna()]) == [2, 3]  # listed after the ranked
    assert not any(str(s).startswith("-") for s in screen["score"])


def test_a_scope_value_and_scope_keywords_give_the_same_answers(two_countries):
    """Analyses take their scope as a value (the web's dependency, Atlas.assess) or as
    keywords (the CLI); both mean the same, and mixing them is refused."""
    db, _, _ = two_countries
    with riskatlas.open(db, read_only=True) as atlas:
        scope = atlas.scope_of(country="npl", level=1, year_from=2001)
        assert scope.statuses == atlas.counted_statuses() and scope.period_table is None
        by_value = atlas.risk(scope=scope)
        by_keywords = atlas.risk(country="npl", level=1, year_from=2001)
        pd.testing.assert_frame_equal(by_value, by_keywords)
        assert by_value.attrs == by_keywords.attrs
        assert atlas.scope_of(include_unapproved=True).statuses is None
        with pytest.raises(TypeError, match="country"):
            atlas.profile(scope=scope, country="NPL")


def test_the_pipeline_takes_analyses_and_a_scope_not_an_atlas(two_countries):
    """assessment.pipeline.assess runs on the read side of a store (Analyses) over a Scope,
    and Atlas.assess is that call: the same plain value either way."""
    from riskatlas.analyses import Analyses
    from riskatlas.assessment.pipeline import assess
    from riskatlas.assessment.value import Assessment

    db, _, _ = two_countries
    with riskatlas.open(db, read_only=True) as atlas:
        reader = Analyses(atlas.store, methods=atlas.methods)
        direct = assess(reader, reader.scope_of(), top=3)
        via_api = atlas.assess(top=3)
    assert isinstance(direct, Assessment) and not isinstance(reader, riskatlas.Atlas)
    assert (direct.country, direct.level) == (via_api.country, via_api.level)
    assert direct.country == "NPL" and len(direct.screen)
    for name in ("profile", "risk", "screen", "records", "unit_sendai"):
        pd.testing.assert_frame_equal(getattr(direct, name), getattr(via_api, name))
    assert [a.measure.id for a in direct.advice] == [a.measure.id for a in via_api.advice]


def test_one_drivers_text_for_every_view():
    """The report, the dashboard and the CLI word a unit's drivers with one function."""
    from riskatlas.assessment.text import drivers_text

    drivers = [{"hazard": "flood", "indicator": "deaths_missing", "share_pct": 61.7},
               {"hazard": "unmapped:LLUVIAS", "indicator": "houses_lost", "share_pct": 38.3}]
    assert drivers_text(drivers, "en") == (
        "Flood · deaths + missing 62 %; LLUVIAS · houses lost 38 %")
    assert drivers_text(drivers, "zh-TW") == (
        "水災：死亡＋失蹤 62 %；LLUVIAS：房屋損失 38 %")
    assert drivers_text(drivers, "en", sep="; ", percent="%") == (
        "Flood · deaths + missing 62%; LLUVIAS · houses lost 38%")
    assert drivers_text([], "en") == ""


def test_the_level_chosen_is_the_shallowest_with_ten_units(tmp_path):
    """The cities or districts of the data: the shallowest level with 10 units with
    records in the scope's country and years (else the deepest with any), the same with
    a memo (a served copy) as without, per year window."""
    from riskatlas.assessment.pipeline import choose_level
    from riskatlas.store.memo import Memo

    # 4 provinces throughout; 12 districts before 2000, 3 in 2005, none in 2008
    cards = [card(k, "FLOOD", 1990 + k % 10, f"0{k % 4}", l1=f"0{k % 4}{k % 12:02d}")
             for k in range(1, 40)]
    cards += [card(100 + k, "FLOOD", 2005, f"0{k % 4}", l1=f"0{k % 3}99") for k in range(9)]
    cards += [card(200 + k, "FLOOD", 2008, f"0{k % 4}") for k in range(9)]
    db = store_with(tmp_path, cards)
    expected = {(None, None): 1, (1990, 1999): 1, (2000, None): 1, (2006, None): 0}
    for memo in (None, Memo()):
        with riskatlas.open(db, read_only=True) as atlas:
            atlas.store.memo = memo
            for (y0, y1), level in expected.items():
                scope = atlas.scope_of(country="LKA", year_from=y0, year_to=y1)
                assert choose_level(atlas, scope) == level, (y0, y1, memo)
