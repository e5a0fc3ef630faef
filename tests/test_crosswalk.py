"""The hazard taxonomy and crosswalk data files."""

from __future__ import annotations

import pytest

from riskatlas.errors import MappingError
from riskatlas.model.hazards import (
    Crosswalk,
    group_of_code,
    hips_types,
    is_climate_related,
    load_crosswalk,
    normalize_term,
)


def test_hips_2025_is_complete():
    types = hips_types()
    assert len(types) == 281
    assert types["GH0201"].name_en == "Earthquake"  # 2025 edition, not GH0101


def test_every_builtin_row_has_a_valid_code_and_group():
    crosswalk = load_crosswalk()
    assert "hazard_crosswalk@" in crosswalk.version and "emdat_crosswalk@" in crosswalk.version
    for match in crosswalk.entries.values():
        assert match.hips_code is None or match.hips_code in hips_types()


@pytest.mark.parametrize(("term", "code", "group"), [
    ("FLOOD", "MH0600", "flood"), ("Inondation fluviale", "MH0604", "flood"),
    ("Épidémie", "BI0101", "biological"), ("STRUCT.COLLAPSE", "TL0201", "technological"),
    ("banjir", "MH0600", "flood"), ("  tanah   longsor ", "GH0300", "landslide"),
    ("HURRICANE", "MH0309", "storm"), ("nat-hyd-flo-riv", "MH0604", "flood"),
])
def test_terms_match_case_accent_and_space_insensitively(term, code, group):
    match = load_crosswalk().match(term)
    assert match is not None and (match.hips_code, match.group) == (code, group)


def test_unknown_term_is_unmapped_not_other():
    crosswalk = load_crosswalk()
    assert crosswalk.match("VOLCANIC SMOG OF DOOM") is None
    assert crosswalk.match("whatever", "FLOOD").hips_code == "MH0600"  # English name tried


def test_user_file_extends_and_overrides(tmp_path):
    extra = tmp_path / "mine.csv"
    extra.write_text("# version: 7\nterm,hips_code,group,note\nBANJIR,MH0603,,local use\n"
                     "ANGIN KENCANG,MH0301,storm,\n", encoding="utf-8")
    crosswalk = load_crosswalk([extra])
    assert crosswalk.match("banjir").hips_code == "MH0603"
    assert crosswalk.match("banjir").group == "flood"  # derived from the code
    assert crosswalk.match("Angin kencang").group == "storm"
    assert crosswalk.version.endswith("+mine@7")


def test_invalid_rows_name_file_and_line():
    with pytest.raises(MappingError) as info:
        Crosswalk([("bad.csv", "term,hips_code,group\nFLOOD,GH0101,flood\n")])
    assert "bad.csv, line 2" in info.value.render("en") and "GH0101" in info.value.render("en")


def test_climate_flag_and_groups():
    assert is_climate_related("flood") is True
    assert is_climate_related("earthquake") is False
    assert is_climate_related("landslide", "SEISMIC ACTIVIT") is False
    assert is_climate_related(None) is None
    assert group_of_code("MH0601") == "coastal" and group_of_code("MH0604") == "flood"
    assert normalize_term("Épidémie ") == "epidemie"
