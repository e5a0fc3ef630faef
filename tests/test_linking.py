"""Linking EM-DAT to DesInventar (riskatlas.linking) on the real Nepal and Grenada data.

The EM-DAT side is tests/data/emdat_linking.csv: EM-DAT-layout rows written from public
accounts of well-known disasters in both countries plus decoys (README there), imported
with the real importer next to the real DesInventar data. tests/data/
emdat_linking_labels.csv holds the hand-labelled pairs.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

import riskatlas
from conftest import TEST_DATA, shared
from riskatlas.linking import (
    LinkRules,
    completeness,
    dataset_events,
    explain,
    link_datasets,
    link_events,
    merged_events,
)
from riskatlas.linking.linker import LINK, glide_key, impacts_score, place_score
from riskatlas.linking.merge import best_source

pytestmark = pytest.mark.shared_data
FIXTURE = TEST_DATA / "emdat_linking.csv"
LABELS = TEST_DATA / "emdat_linking_labels.csv"


@pytest.fixture(scope="module")
def linked_db(nepal_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nepal (dataset 1), Grenada (2) and the EM-DAT fixture (3) in one store."""
    db = tmp_path_factory.mktemp("linking") / "linked.duckdb"
    shutil.copy(nepal_db, db)
    with riskatlas.open(db) as atlas:
        atlas.import_paths([shared("desinventar/grd/DI_export_grd.zip")])
        [result] = atlas.import_paths([FIXTURE])
        assert result.format == "emdat" and result.records_imported == 28
    return db


def _ids(atlas: riskatlas.api.Atlas) -> dict[str, int]:
    frame = atlas.datasets()
    return dict(zip(frame.source_key, frame.dataset_id, strict=True))


def _labels() -> list[dict[str, str]]:
    lines = [line for line in LABELS.read_text("utf-8").splitlines()
             if not line.startswith("#")]
    return list(csv.DictReader(lines))


def test_linker_finds_the_labelled_pairs(linked_db: Path) -> None:
    with riskatlas.open(linked_db, read_only=True) as atlas:
        ids = _ids(atlas)
        emdat = dataset_events(atlas, ids["EMDAT"])
        found: set[tuple[str, str]] = set()
        card_event: dict[str, str] = {}
        for source in ("DI-NPL", "DI-GRD"):
            links = link_datasets(atlas, ids["EMDAT"], ids[source])
            events = links.attrs["to_events"]
            card_event.update({card: event for event, cards in
                               zip(events.event_id, events.record_ids, strict=True)
                               for card in cards})
            proposed = links[links.status == LINK]
            found |= set(zip(proposed.from_event, proposed.to_event, strict=True))
    labels = _labels()
    assert {f"EMDAT:{row['emdat']}" for row in labels} == set(emdat.event_id)
    truth = {(f"EMDAT:{row['emdat']}", card_event[row["desinventar_card"]])
             for row in labels if row["desinventar_card"] != "none"}
    true_positives = found & truth
    precision = len(true_positives) / len(found)
    recall = len(true_positives) / len(truth)
    print(f"\nlinker on {len(labels)} labelled rows: {len(found)} links proposed, "
          f"{len(truth)} true pairs; precision {precision:.3f}, recall {recall:.3f}; "
          f"missed: {sorted(truth - found)}; wrong: {sorted(found - truth)}")
    assert precision >= 0.9 and recall >= 0.9


def test_links_say_why_in_both_languages(linked_db: Path) -> None:
    with riskatlas.open(linked_db, read_only=True) as atlas:
        ids = _ids(atlas)
        links = link_datasets(atlas, ids["EMDAT"], ids["DI-GRD"], lang="zh-TW")
        assert links.attrs["methods_version"] and len(links.attrs["places_to_review"])
    ivan = links[(links.from_event == "EMDAT:2004-9401-GRD") & (links.status == LINK)].iloc[0]
    assert ivan.glide == "equal" and ivan.place == 1.0 and ivan.hazard_basis == "same_code"
    assert "GLIDE 編號相同" in ivan.why
    english = explain(ivan, "en")
    assert english.startswith("score 1.00 (proposed link): same hazard type")
    assert "6 of 6 units in common at level 2" in english
    assert "same GLIDE number (TC-2004-000089-GRD)" in english
    assert "deaths consistent (39 and 33)" in english


def test_a_merged_event_names_the_source_of_each_figure(linked_db: Path) -> None:
    with riskatlas.open(linked_db, read_only=True) as atlas:
        ids = _ids(atlas)
        links = link_datasets(atlas, ids["EMDAT"], ids["DI-GRD"])
    emily = links[(links.from_event == "EMDAT:2005-9402-GRD") & (links.status == LINK)]
    assert len(emily) == 3  # the storm's cards (two GLIDE spellings) and its landslides
    merged = merged_events(emily, links.attrs["from_events"], links.attrs["to_events"])
    assert set(merged.merged_id) == {1}
    figure = merged.set_index("figure")
    # deaths: 1 in EM-DAT, 2 in DesInventar; damage: EM-DAT's 110 million is the larger
    assert (figure.loc["deaths", "value"], figure.loc["deaths", "source"]) == (2.0, "to")
    assert figure.loc["losses_usd", "source"] == "from"
    assert figure.loc["losses_usd", "value"] == 110_000_000
    assert figure.loc["houses_destroyed", "source"] == "to"  # EM-DAT has no such figure
    assert len(figure.loc["deaths", "source_events"].split()) == 3


def test_completeness_on_nepal_and_the_fixture(linked_db: Path) -> None:
    with riskatlas.open(linked_db, read_only=True) as atlas:
        ids = _ids(atlas)
        links = link_datasets(atlas, ids["EMDAT"], ids["DI-NPL"])
    proposed = links[links.status == LINK]
    table = completeness(links.attrs["from_events"], links.attrs["to_events"], proposed,
                         names=("EM-DAT", "DesInventar"))
    npl = table[table.country_iso3 == "NPL"]
    assert set(npl.kind) == {"intensive", "extensive"}
    assert set(npl.source) == {"EM-DAT", "DesInventar"}
    quake_2015 = npl[(npl.hazard_group == "earthquake") & (npl.year == 2015)].set_index(
        ["source", "kind"])
    # EM-DAT: the main shock (captured) and the 12 May aftershock (not in DesInventar)
    em = quake_2015.loc[("EM-DAT", "intensive")]
    assert (em.events, em.captured_events, em.share_events) == (2, 1, 0.5)
    di = quake_2015.loc[("DesInventar", "intensive")]
    assert (di.events, di.captured_events, di.share_deaths) == (1, 1, 1.0)
    # DesInventar's extensive events (small, frequent) are what EM-DAT misses
    di_all = npl[npl.source == "DesInventar"].groupby("kind")[["events",
                                                               "captured_events"]].sum()
    extensive = di_all.loc["extensive"]
    assert extensive.events > 5000 and extensive.captured_events / extensive.events < 0.01
    assert (npl.captured_events <= npl.events).all()
    shares = npl.share_deaths.dropna()
    assert ((shares >= 0) & (shares <= 1)).all()


def test_features_one_by_one() -> None:
    rules = LinkRules.of(riskatlas.analysis.methods.load_methods())
    assert glide_key("TC-2004-000089-GRD") == glide_key("TTC-2004-89") == ("2004", 89)
    assert glide_key("none") is None
    assert place_score({"0:A", "1:A1", "2:A11"}, {"0:A", "1:A1"}, rules)[:2] == (1.0, "units")
    assert place_score({"0:A", "1:A1"}, {"0:A", "1:A2"}, rules)[:2] == (0.25, "parent")
    assert place_score({"0:A", "1:A1"}, {"0:B", "1:B1"}, rules)[:2] == (0.0, "apart")
    assert place_score(set(), {"0:B"}, rules)[:2] == (0.5, "country")
    assert impacts_score(100, 250, rules) == 1.0
    assert impacts_score(0, 99, rules) == pytest.approx(0.03)
    assert impacts_score(float("nan"), 3, rules) == 0.5
    assert best_source(3, 5) == "to" and best_source(3, None) == "from"
    assert best_source(3, 5, "from") == "from" and best_source(None, None) is None


def test_pairs_need_the_same_country_compatible_hazards_and_the_window() -> None:
    rules = LinkRules.of(riskatlas.analysis.methods.load_methods())

    def events(*rows: tuple[str, str, str, int, int]) -> pd.DataFrame:
        return pd.DataFrame([{"event_id": e, "country_iso3": c, "hazard_group": g,
                              "hips_codes": [], "day_from": a, "day_to": b, "glides": [],
                              "units": set(), "deaths": 1.0} for e, c, g, a, b in rows])

    left = events(("q", "AAA", "earthquake", 100, 100), ("f", "AAA", "flood", 100, 105))
    right = events(("q1", "AAA", "earthquake", 101, 101),   # within a day
                   ("q2", "AAA", "earthquake", 103, 103),   # too late for an earthquake
                   ("q3", "BBB", "earthquake", 100, 100),   # another country
                   ("d1", "AAA", "drought", 100, 300),      # a hazard unrelated to both
                   ("f1", "AAA", "flood", 114, 120),        # 9 days after: within 10
                   ("s1", "AAA", "storm", 104, 104))        # a storm's flood: related
    pairs = link_events(left, right, rules, keep_unlikely=True)
    assert set(zip(pairs.from_event, pairs.to_event, strict=True)) == {
        ("q", "q1"), ("f", "f1"), ("f", "s1")}
    storm = pairs.set_index("to_event").loc["s1"]
    assert storm.hazard_basis == "related_group" and storm.window_days == 3
    # landslides whose cards name an earthquake as their cause are the earthquake's
    slides = events(("l1", "AAA", "landslide", 100, 100), ("l2", "AAA", "landslide", 100, 100))
    slides["seismic"] = [True, False]
    basis = link_events(left, slides, rules, keep_unlikely=True)
    basis = basis[basis.from_event == "q"].set_index("to_event")
    assert basis.loc["l1", "hazard_basis"] == "caused_by"
    assert basis.loc["l2", "hazard_basis"] == "related_group"
    assert basis.loc["l1", "hazard"] > basis.loc["l2", "hazard"]
