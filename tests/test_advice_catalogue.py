"""The measure catalogue and the case library: shipped files, validation, overrides, look-ups."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskatlas.advice.catalogue import (
    TRIGGER_KINDS,
    Catalogue,
    load_cases,
    load_measures,
)
from riskatlas.errors import CatalogueError, RiskAtlasError, UnknownHazardError
from riskatlas.model.hazards import hips_types, reporting_groups

SEED_MEASURES = (
    "flood-temporary-shelters",
    "public-awareness-drills",
    "landslide-early-warning",
    "soil-water-conservation",
    "rainwater-harvesting",
    "retention-ponds-drainage-channels",
    "volunteer-response-teams",
    "ecological-conservation",
    "wetland-corridors-river-restoration",
    "smart-city-information-platform",
    "climate-action-plan-ghg-inventory",
)
SEED_CASES = {
    "indonesia-flood-shelters-awareness": "IDN",
    "sri-lanka-landslide-early-warning": "LKA",
    "cambodia-retention-ponds-volunteers": "KHM",
    "taichung-flood-earthquake-preparedness": "TWN",
    "kaohsiung-love-river-wetland-corridors": "TWN",
    "yokohama-tsunashima-smart-town": "JPN",
    "melaka-ghg-inventory-resilience-pledge": "MYS",
}
SEED_SOURCE = "Taichung City Government delegation report on ICLEI Resilient Cities Asia-Pacific"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("riskatlas.data").joinpath(name).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _measure(measure_id: str, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": measure_id,
        "name": {"en": "Test measure", "zh-TW": "測試措施"},
        "description": {"en": "A measure for tests.", "zh-TW": "測試用的措施。"},
        "type": "preparedness",
        "hazards": ["flood"],
        "triggers": [{"hazard_rank": {"max_rank": 3}}],
        "sendai_targets": ["a"],
        "co_benefits": ["health"],
        "cost_class": "low",
        "references": ["Sendai Framework for Disaster Risk Reduction 2015–2030"],
    }
    entry.update(changes)
    return entry


def _assert_one_line(error: pytest.ExceptionInfo[CatalogueError], file: str, entry: str,
                     field: str, *more: str) -> None:
    """The message is one line naming file, entry and field, in both languages."""
    en, zh = str(error.value), error.value.render("zh-TW")
    assert "\n" not in en and "\n" not in zh
    assert file in en and f": entry {entry}, field {field}: " in en, en
    assert file in zh and f"：項目 {entry}，欄位 {field}：" in zh, zh
    for part in more:
        assert part in en and part in zh, (part, en, zh)


# ----------------------------------------------------------------------------- shipped files


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_measures()


def test_shipped_files_load_and_validate(catalogue: Catalogue) -> None:
    cases = load_cases(measures=catalogue)
    assert catalogue.version == "2026.11.1" and cases.version == "2026.11.1"
    assert catalogue.source == ("riskatlas:data/measures.yaml",)
    assert cases.source == ("riskatlas:data/cases.yaml",)
    assert len(catalogue) >= 35
    assert len(cases) >= len(SEED_CASES)
    assert _shipped("measures.yaml")["version"] == "2026.11.1"
    assert next(iter(_shipped("measures.yaml"))) == "version"


def test_every_seed_measure_and_case_is_present(catalogue: Catalogue) -> None:
    assert [m for m in SEED_MEASURES if m not in catalogue] == []
    cases = load_cases(measures=catalogue)
    for case_id, iso3 in SEED_CASES.items():
        case = cases[case_id]
        assert case.country_iso3 == iso3
        assert case.source["en"].startswith(SEED_SOURCE)
        assert CJK.search(case.source["zh-TW"])


def test_every_text_has_both_languages(catalogue: Catalogue) -> None:
    texts = [t for m in catalogue for t in (m.name, m.description)]
    texts += [t for c in load_cases(measures=catalogue) for t in (c.place, c.summary, c.source)]
    for text in texts:
        assert set(text) == {"en", "zh-TW"}
        assert text["en"].strip() and not CJK.search(text["en"]), text
        assert CJK.search(text["zh-TW"]), text


def test_measures_use_known_vocabularies(catalogue: Catalogue) -> None:
    groups, codes = reporting_groups(), hips_types()
    for measure in catalogue:
        assert all(h in groups or h in codes for h in measure.hazards), measure.id
        assert measure.triggers and all(t.kind in TRIGGER_KINDS for t in measure.triggers)
        assert measure.references and measure.sendai_targets
    trends = [t for m in catalogue for t in m.triggers if t.kind == "trend"]
    assert trends and all(isinstance(t.params["extensive_only"], bool) for t in trends)
    covered = {g for m in catalogue for g in m.groups}
    assert covered >= set(groups) - {"other"}


def test_landslide_early_warning_has_the_default_triggers(catalogue: Catalogue) -> None:
    triggers = {(t.kind, tuple(sorted(t.params.items())))
                for t in catalogue["landslide-early-warning"].triggers}
    assert ("share", (("metric", "deaths"), ("min_pct", 25))) in triggers
    assert ("hazard_rank", (("max_rank", 10),)) in triggers
    assert ("annual", (("metric", "deaths_per_year"), ("min", 1))) in triggers


# ----------------------------------------------------------------------------- rejections


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_measure_without_chinese_is_rejected(tmp_path: Path, field: str) -> None:
    data = _shipped("measures.yaml")
    entry = data["measures"][3]
    del entry[field]["zh-TW"]
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", entry["id"], f"{field}.zh-TW")


@pytest.mark.parametrize("field", ["place", "summary", "source"])
def test_a_case_without_a_language_is_rejected(tmp_path: Path, field: str) -> None:
    data = _shipped("cases.yaml")
    entry = data["cases"][1]
    entry[field]["en"] = "  "
    with pytest.raises(CatalogueError) as error:
        load_cases(_write(tmp_path, "c.yaml", data))
    _assert_one_line(error, "c.yaml", entry["id"], f"{field}.en")


def test_unknown_hazard_is_rejected(tmp_path: Path) -> None:
    data = {"version": "t", "measures": [_measure("x-1", hazards=["flood", "GH0101"])]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "x-1", "hazards[1]", "GH0101")


def test_unknown_group_is_rejected(tmp_path: Path) -> None:
    data = {"version": "t", "measures": [_measure("x-1", hazards=["floods"])]}
    with pytest.raises(CatalogueError, match=r"hazards\[0\].*floods"):
        load_measures(_write(tmp_path, "m.yaml", data))


def test_duplicate_id_is_rejected(tmp_path: Path) -> None:
    data = {"version": "t", "measures": [_measure("x-1"), _measure("x-2"), _measure("x-1")]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "#2", "id", "x-1")


def test_bad_trigger_kind_is_rejected(tmp_path: Path) -> None:
    triggers = [{"share": {"metric": "deaths", "min_pct": 10}}, {"ranking": {"max_rank": 3}}]
    data = {"version": "t", "measures": [_measure("x-1", triggers=triggers)]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "x-1", "triggers[1]", "ranking", "hazard_rank")


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        ({"share": {"metric": "deaths", "min_pct": 120}}, "triggers[0].share.min_pct"),
        ({"share": {"metric": "people", "min_pct": 10}}, "triggers[0].share.metric"),
        ({"hazard_rank": {"max_rank": 0}}, "triggers[0].hazard_rank.max_rank"),
        ({"trend": {"series": "events"}}, "triggers[0].trend.direction"),
        ({"annual": {"metric": "deaths_per_year", "min": 1, "max": 3}}, "triggers[0].annual.max"),
        ({"share": {"metric": "deaths", "min_pct": 5}, "annual": {"metric": "deaths_per_year",
                                                                 "min": 1}}, "triggers[0]"),
    ],
)
def test_bad_trigger_parameters_are_rejected(tmp_path: Path, trigger: dict[str, Any],
                                             field: str) -> None:
    data = {"version": "t", "measures": [_measure("x-1", triggers=[trigger])]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "x-1", field)


def test_entry_without_an_id_is_named_by_index(tmp_path: Path) -> None:
    bad = _measure("x-2")
    del bad["id"]
    data = {"version": "t", "measures": [_measure("x-1"), bad]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "#1", "id")


def test_unknown_measure_in_a_case_is_rejected(tmp_path: Path) -> None:
    data = _shipped("cases.yaml")
    entry = data["cases"][0]
    entry["measures"] = [*entry["measures"], "no-such-measure"]
    with pytest.raises(CatalogueError) as error:
        load_cases(_write(tmp_path, "c.yaml", data))
    position = len(entry["measures"]) - 1
    _assert_one_line(error, "c.yaml", entry["id"], f"measures[{position}]", "no-such-measure")


def test_unreadable_files_are_rejected_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "m.yaml"
    broken.write_text("version: [\n  measures: {", "utf-8")
    with pytest.raises(CatalogueError) as error:
        load_measures(broken)
    assert "\n" not in str(error.value) and "m.yaml" in error.value.render("zh-TW")
    with pytest.raises(CatalogueError, match=r"missing\.yaml"):
        load_measures(tmp_path / "missing.yaml")
    assert isinstance(error.value, ValueError) and isinstance(error.value, RiskAtlasError)


def test_unexpected_field_is_rejected(tmp_path: Path) -> None:
    data = {"version": "t", "measures": [_measure("x-1", priority=3)]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "x-1", "priority")


# ----------------------------------------------------------------------------- user files


def test_a_user_file_replaces_the_shipped_catalogue(tmp_path: Path) -> None:
    data = {"version": "mine-1", "measures": [_measure("x-1"), _measure("x-2")]}
    path = _write(tmp_path, "m.yaml", data)
    mine = load_measures(path)
    assert [m.id for m in mine] == ["x-1", "x-2"]
    assert mine.version == "mine-1" and mine.source == (str(path),)
    case = {"id": "case-1", "place": {"en": "Somewhere", "zh-TW": "某地"},
            "country_iso3": "TWN", "year": None, "hazards": ["flood"], "measures": ["x-2"],
            "summary": {"en": "A test.", "zh-TW": "測試。"},
            "source": {"en": "Tests", "zh-TW": "測試"}}
    cases = load_cases(_write(tmp_path, "c.yaml", {"version": "c-1", "cases": [case]}), mine)
    assert [c.id for c in cases.for_measure("x-2")] == ["case-1"]
    assert cases["case-1"].city is None and cases["case-1"].url is None


def test_extra_files_extend_and_override(tmp_path: Path) -> None:
    override = _measure("landslide-early-warning", cost_class="high",
                        name={"en": "Local landslide warning", "zh-TW": "在地坡地災害預警"})
    first = _write(tmp_path, "a.yaml", {"version": "a-1", "measures": [override]})
    second = _write(tmp_path, "b.yaml", {"version": "b-1",
                                         "measures": [_measure("x-1"), _measure("x-2")]})
    third = _write(tmp_path, "c.yaml", {"version": "c-1",
                                        "measures": [_measure("x-1", cost_class="medium")]})
    merged = load_measures(extra=[first, second, third])
    shipped = load_measures()
    assert len(merged) == len(shipped) + 2
    assert merged["landslide-early-warning"].name_in("zh-TW") == "在地坡地災害預警"
    assert merged["landslide-early-warning"].cost_class == "high"
    assert merged["x-1"].cost_class == "medium"
    assert merged.version == "2026.11.1+a-1+b-1+c-1"
    assert merged.source == ("riskatlas:data/measures.yaml", str(first), str(second), str(third))
    # a case may name a measure that only a user file adds
    case = {"id": "case-x", "place": {"en": "Here", "zh-TW": "這裡"}, "country_iso3": "TWN",
            "year": 2020, "hazards": ["MH0603"], "measures": ["x-2"],
            "summary": {"en": "Test.", "zh-TW": "測試。"},
            "source": {"en": "Tests", "zh-TW": "測試"}, "url": "https://example.org/case"}
    more = _write(tmp_path, "cases.yaml", {"version": "u-1", "cases": [case]})
    cases = load_cases(measures=merged, extra=[more])
    assert "case-x" in cases and "indonesia-flood-shelters-awareness" in cases
    assert cases.version == "2026.11.1+u-1"
    with pytest.raises(CatalogueError, match="x-2"):
        load_cases(measures=shipped, extra=[more])


def test_an_extra_file_cannot_repeat_an_id_within_itself(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", {"version": "a", "measures": [_measure("x"), _measure("x")]})
    with pytest.raises(CatalogueError, match=r"a\.yaml"):
        load_measures(extra=[path])


# ----------------------------------------------------------------------------- look-ups


def test_for_hazard(catalogue: Catalogue) -> None:
    landslide = [m.id for m in catalogue.for_hazard("landslide")]
    assert "landslide-early-warning" in landslide and "slope-bioengineering" in landslide
    assert "heat-action-plan" not in landslide
    # cooling-centres is listed only with MH0501 (heatwave): it matches its group
    assert catalogue["cooling-centres"].hazards == ("MH0501",)
    assert "cooling-centres" in [m.id for m in catalogue.for_hazard("extreme_temperature")]
    # a HIPs code is read as its reporting group
    wildlife = [m.id for m in catalogue.for_hazard("BI0604")]
    assert {"wildlife-early-alerts", "wildlife-barriers-land-use"} <= set(wildlife)
    assert wildlife == [m.id for m in catalogue.for_hazard("biological")]
    with pytest.raises(UnknownHazardError):
        catalogue.for_hazard("floods")


def test_for_measure_and_case_helpers(catalogue: Catalogue) -> None:
    cases = load_cases(measures=catalogue)
    ids = [c.id for c in cases.for_measure("landslide-early-warning")]
    assert "sri-lanka-landslide-early-warning" in ids
    assert cases.for_measure("no-such-measure") == []
    assert "kaohsiung-love-river-wetland-corridors" in [
        c.id for c in cases.for_hazard("flood")]
    assert cases["taichung-flood-earthquake-preparedness"].place_in("zh-TW") == "臺灣臺中市"
    for case in cases:
        assert all(m in catalogue for m in case.measures)


def test_language_helpers(catalogue: Catalogue) -> None:
    measure = catalogue["rainwater-harvesting"]
    assert measure.name_in("en") == "Rainwater harvesting"
    assert measure.name_in("zh-TW") == measure.name_in("zh-Hant") == "雨水貯留利用"
    assert measure.name_in("fr") == "Rainwater harvesting"
    assert CJK.search(measure.description_in("zh_TW.UTF-8"))
    assert hash(measure) == hash(catalogue["rainwater-harvesting"])
