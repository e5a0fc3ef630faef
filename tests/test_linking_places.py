"""EM-DAT places to admin units (riskatlas.linking.places), on a small invented gazetteer."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import riskatlas
from riskatlas.analysis.methods import load_methods
from riskatlas.linking.places import (
    match_places,
    matched_units,
    place_key,
    review_list,
    split_location,
)
from riskatlas.linking.rules import LinkRules

RULES = LinkRules.of(load_methods())

# An invented country "ZZA": two regions, districts, and villages, one of them named like
# its district (the "X district" case) and one written with diacritics.
UNITS = pd.DataFrame([
    ("ZZA", 0, "1", "Northern Region", None, None),
    ("ZZA", 0, "2", "Southern Region", None, None),
    ("ZZA", 1, "101", "Kathmandu", None, "1"),
    ("ZZA", 1, "102", "Lalitpur", None, "1"),
    ("ZZA", 1, "103", "Sindhupalchowk", None, "1"),
    ("ZZA", 1, "201", "Bāglung", None, "2"),
    ("ZZA", 1, "202", "St George", None, "2"),
    ("ZZA", 2, "10101", "Kathmandu", None, "101"),
    ("ZZA", 2, "20101", "Lalitpur", None, "201"),  # a village named like another district
    ("ZZA", 2, "99999", "Kathmandu", None, "404"),  # an orphan
], columns=["country_iso3", "level", "code", "name", "name_en", "parent_code"])
LEVELS = pd.DataFrame([("ZZA", 0, "Region", None), ("ZZA", 1, "District", None),
                       ("ZZA", 2, "Village", None)],
                      columns=["country_iso3", "level", "name", "name_en"])


def _records(*rows: tuple[str, str | None, list[dict[str, object]] | None]) -> pd.DataFrame:
    out = []
    for record_id, location, units in rows:
        raw = {"Location": location or "", "Admin Units": json.dumps(units) if units else ""}
        out.append({"record_id": record_id, "country_iso3": "ZZA", "place": location,
                    "raw": json.dumps(raw)})
    return pd.DataFrame(out)


def _match(location: str | None, units: list[dict[str, object]] | None = None
           ) -> pd.DataFrame:
    return match_places(_records(("r", location, units)), UNITS, RULES, LEVELS)


def test_place_keys_fold_case_accents_level_words_and_abbreviations():
    abbreviations = RULES.abbreviations
    assert place_key("BĀGLUNG") == place_key("baglung") == "baglung"
    assert place_key("Gorkha districts") == place_key("Gorkha District") == "gorkha"
    assert place_key("St. George's Parish", abbreviations) == "st george"
    assert place_key("Saint George", abbreviations) == "st george"
    assert place_key("Central Development Region") == "central"
    assert place_key("District") == "district"  # a level word alone is the name


def test_locations_split_into_places_with_their_parenthesised_context():
    places = split_location("Kathmandu, Lalitpur (Bagmati province); Dhading and Nuwakot")
    named = [(p.text, p.role, p.context) for p in places]
    assert named == [("Kathmandu", "place", ("Bagmati province",)),
                     ("Lalitpur", "place", ("Bagmati province",)),
                     ("Bagmati province", "context", ()),
                     ("Dhading", "place", ()), ("Nuwakot", "place", ())]
    assert split_location(None) == split_location("") == []


def test_names_in_any_case_or_with_any_diacritics_match():
    m = _match("BAGLUNG, kathmandu").set_index("text")
    assert (m.loc["BAGLUNG", "code"], m.loc["BAGLUNG", "method"]) == ("201", "normalised")
    assert m.loc["kathmandu", "method"] == "exact"  # case aside, as written
    assert m.loc["kathmandu", "code"] == "101"  # the district, the coarsest of three


def test_x_district_prefers_the_district_and_x_village_the_village():
    m = _match("Lalitpur village").iloc[0]
    assert (m.code, m.level) == ("20101", 2)
    m = _match("Lalitpur district").iloc[0]
    assert (m.code, m.level, m.method) == ("102", 1, "normalised")


def test_list_with_parentheses_takes_the_unit_under_its_context():
    m = _match("Lalitpur (Southern region)").set_index("text")
    assert m.loc["Southern region", "code"] == "2"
    assert m.loc["Lalitpur", "code"] == "20101"  # the one under Southern Region
    assert m.loc["Lalitpur", "context"] == "Southern region"


def test_admin_units_json_matches_by_name_and_fuzzily_never_by_a_foreign_code():
    units = [{"adm1_code": 1, "adm1_name": "Northern"},           # code 1 is the region's too
             {"adm2_code": 202, "adm2_name": "Sindhupalchok"},    # 202 is St George here
             {"adm2_code": 5, "adm2_name": "Saint George"}]
    m = _match(None, units).set_index("text")
    assert (m.loc["Northern", "code"], m.loc["Northern", "method"]) == ("1", "code")
    fuzzy = m.loc["Sindhupalchok"]
    assert (fuzzy.code, fuzzy.method) == ("103", "fuzzy") and 0.85 <= fuzzy.score < 1
    assert m.loc["Saint George", "code"] == "202"
    assert set(m.source_level) == {"adm1", "adm2"}


def test_names_that_differ_in_a_number_never_match_fuzzily():
    units = pd.concat([UNITS, pd.DataFrame([("ZZA", 1, "301", "Tamghas 01", None, "2")],
                                           columns=UNITS.columns)], ignore_index=True)
    m = match_places(_records(("r", "Tamghas 02", None), ("s", "Tamghas 1", None)), units, RULES,
                     LEVELS).set_index("text")
    assert m.loc["Tamghas 02"].method == "unmatched"
    assert (m.loc["Tamghas 1"].code, m.loc["Tamghas 1"].method) == ("301", "fuzzy")


def test_unmatched_and_ambiguous_places_go_to_the_review_list():
    units = UNITS.assign(name=UNITS.name.where(UNITS.code != "101", "Kantipur"))
    # two villages named Kathmandu in the hierarchy (and an orphan, passed over)
    twin = pd.concat([units, pd.DataFrame([("ZZA", 2, "20102", "Kathmandu", None, "201")],
                                          columns=units.columns)])
    matches = match_places(_records(("r1", "Atlantis, Kathmandu", None),
                                    ("r2", "Lalitpur district", None)), twin, RULES, LEVELS)
    review = review_list(matches)
    assert set(review.text) == {"Atlantis", "Kathmandu"}
    row = review.set_index("text").loc["Kathmandu"]
    assert row.method == "ambiguous" and set(row.candidates.split()) == {"2:10101", "2:20102"}
    assert review.set_index("text").loc["Atlantis", "method"] == "unmatched"
    assert matched_units(matches, twin) == {"r2": {"1:102", "0:1"}}


def test_a_user_profile_may_extend_the_linking_windows(tmp_path):
    path = tmp_path / "methods.yaml"
    path.write_text("linking:\n  window_days:\n    flood: 4\n    hail: 1\n"
                    "  places:\n    abbreviations: {santo: sto}\n", encoding="utf-8")
    rules = LinkRules.of(load_methods(path))
    assert rules.window("flood") == 4 and rules.window("hail") == 1
    assert rules.window("nothing") == rules.default_window_days
    assert place_key("Santo Domingo", rules.abbreviations) == "sto domingo"
    path.write_text("linking:\n  link_scor: 0.5\n", encoding="utf-8")
    with pytest.raises(riskatlas.errors.MethodsError):
        load_methods(path)
