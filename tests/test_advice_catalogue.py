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
    Case,
    Catalogue,
    Measure,
    hazard_group,
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


# ----------------------------------------------------------------------------- tags and texts

# Words that show a text is about a reporting group: English as whole words (any case),
# zh-TW as forms that cannot hide inside other words (風 alone is in 風險 "risk", 火 alone
# in 火山 "volcano", 溫 alone in 溫室氣體 "greenhouse gas", 熱 alone in 熱點 "hot spot").
# A storm surge is coastal, not a storm; stormwater is a flood. "other" has no words: only
# a statement on every hazard supports it.
HAZARD_WORDS: dict[str, tuple[str, str]] = {
    "flood": (r"flood\w*|inundat\w*|waterlogg\w*", r"洪|淹|水患|水災|積水|行水區"),
    "storm": (r"storms?(?![- ]surge)|wind(?:s|storms?|breaks?)?|cyclones?|typhoons?|"
              r"hurricanes?|tornado\w*|gales?|hail(?:storms?)?|thunderstorms?",
              r"颱風|強風|暴風|風暴(?!潮)|颶風|龍捲風|風災|耐風|防風|氣旋|冰雹|雷雨"),
    "landslide": (r"landslides?|mudslides?|debris[- ]flows?|mud ?flows?|rock ?falls?|"
                  r"slopes?|hillsides?|mass movements?|soil erosion",
                  r"坡地|山坡|邊坡|山崩|崩塌|土石流|滑坡|落石|地滑"),
    "drought": (r"droughts?|dry (?:spells?|years?|periods?)|water shortages?",
                r"旱|枯水|缺水"),
    "extreme_temperature": (r"heat(?:waves?|stroke)?|hot|cold(?:[- ]waves?)?|cool(?:s|ing|er)?|"
                            r"temperatures?|frost\w*|snow\w*|freez\w*|blizzards?",
                            r"高溫|低溫|氣溫|溫度|降溫|熱浪|熱傷害|炎熱|酷熱|避暑|寒|霜|雪"),
    "wildfire": (r"(?:wild|bush)?fires?|fire[- ]\w+|burning",
                 r"火災|野火|林火|防火|滅火|消防|用火|燃燒|可燃物"),
    "coastal": (r"coast\w*|shore\w*|storm[- ]surges?|sea[- ]levels?|tid(?:al|es?)|"
                r"beach\w*|mangroves?|sea ?walls?|sea dikes?",
                r"海岸|沿海|濱海|暴潮|海平面|潮汐|紅樹林|沙灘|海堤"),
    "tsunami": (r"tsunamis?", r"海嘯"),
    "earthquake": (r"earthquakes?|seismic|quakes?|shaking", r"地震|震"),
    "volcanic": (r"volcan\w*|eruptions?|lava|ash ?falls?|lahars?", r"火山|噴發|熔岩"),
    "biological": (r"diseases?|epidemics?|outbreaks?|pandemics?|infect\w*|vectors?|"
                   r"mosquito\w*|dengue|malaria|cholera|pests?|locusts?|"
                   r"(?:wild[- ])?animals?|wildlife|biological",
                   r"疫|傳染病|病媒|蚊|登革熱|瘧疾|野生動物|動物|蟲害|生物災害"),
    "technological": (r"technological|industr\w*|chemicals?|toxic|hazardous (?:installations?|"
                      r"materials?|substances?)|explosions?|spills?|leaks?|"
                      r"(?:house|building|urban|structural) fires?",
                      r"人為災害|工業|化學|毒性|危險物品|爆炸|洩漏|外洩|住宅火災|建築火災"),
    "other": ("", ""),
}
# A statement that a measure serves every hazard, or every climate-related one.
EVERY_HAZARD = (r"\b(?:all|every|any|each|multiple)(?:[- ]\w+)? (?:hazards?|disasters?)\b|"
                r"\bmulti-hazard\b",
                r"(?:各類|各種|所有|每一起|每一種|任何|多種)(?:型)?災害|多重災害")
CLIMATE_HAZARDS = (r"\b(?:weather|climate)(?:-related)?(?: or climate)? hazards?\b",
                   r"氣候相關災害|氣候災害|氣象或氣候")
# More groups than this is a general measure: it must be marked (and say it is) multi-hazard.
MAX_SPECIFIC_GROUPS = 3
LANGS = ("en", "zh-TW")


def _found(pattern: str, text: str, lang: str) -> bool:
    if not pattern:
        return False
    if lang == "en":
        pattern = rf"\b(?:{pattern})\b"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _statement(measure: Measure, lang: str) -> str:
    return f"{measure.name[lang]}. {measure.description[lang]}"


def _groups_named(text: str, lang: str, multi_hazard: bool) -> set[str]:
    """The reporting groups a text speaks of; for a multi-hazard measure, a statement on
    every hazard names them all, one on climate-related hazards names those."""
    i = LANGS.index(lang)
    groups = reporting_groups()
    named = {g for g, words in HAZARD_WORDS.items() if _found(words[i], text, lang)}
    if multi_hazard and _found(EVERY_HAZARD[i], text, lang):
        named |= set(groups)
    if multi_hazard and _found(CLIMATE_HAZARDS[i], text, lang):
        named |= {g for g, group in groups.items() if group.climate_related}
    return named


def _unsupported_tags(measure: Measure) -> list[str]:
    """What is wrong between a measure's hazard tags and its texts (empty: nothing)."""
    problems = []
    for i, lang in enumerate(LANGS):
        text = _statement(measure, lang)
        named = _groups_named(text, lang, measure.multi_hazard)
        problems += [f"{lang}: tag {h} ({hazard_group(h)}) is not in the text"
                     for h in measure.hazards if hazard_group(h) not in named]
        said = _found(EVERY_HAZARD[i], text, lang) or _found(CLIMATE_HAZARDS[i], text, lang)
        if measure.multi_hazard and not said:
            problems.append(f"{lang}: multi_hazard but the text does not say so")
    if len(measure.groups) > MAX_SPECIFIC_GROUPS and not measure.multi_hazard:
        problems.append(f"{len(measure.groups)} hazard groups but not multi_hazard")
    return problems


def test_every_reporting_group_has_words() -> None:
    groups = reporting_groups()
    assert set(HAZARD_WORDS) == set(groups)
    for group, words in HAZARD_WORDS.items():
        if group != "other":  # a group's own names are among its words
            assert _found(words[0], groups[group].name_en, "en"), group
            assert _found(words[1], groups[group].name_zh_tw, "zh-TW"), group


def test_every_measure_tag_is_supported_by_its_texts(catalogue: Catalogue) -> None:
    problems = {m.id: p for m in catalogue if (p := _unsupported_tags(m))}
    assert problems == {}


def test_multi_hazard_measures_are_marked_and_loaded(catalogue: Catalogue) -> None:
    general = {m.id for m in catalogue if m.multi_hazard}
    assert {"local-drr-plan", "disaster-loss-database", "public-awareness-drills"} <= general
    assert not catalogue["flood-temporary-shelters"].multi_hazard


def _loaded(tmp_path: Path, **changes: Any) -> Measure:
    data = {"version": "t", "measures": [_measure("x-1", **changes)]}
    return load_measures(_write(tmp_path, "m.yaml", data))["x-1"]


SHELTERS = {"en": "Temporary flood shelters", "zh-TW": "水患區臨時避難所"}
SHELTERS_TEXT = {"en": "Tell residents of flood-prone areas which shelter to use.",
                 "zh-TW": "通知淹水潛勢地區民眾前往避難收容處所。"}


@pytest.mark.parametrize(
    ("hazards", "description", "expected"),
    [
        # a storm tag on a flood text, as a group or as a HIPs code (tropical cyclone)
        (["flood", "storm"], SHELTERS_TEXT,
         ["en: tag storm (storm) is not in the text",
          "zh-TW: tag storm (storm) is not in the text"]),
        (["MH0309"], SHELTERS_TEXT, ["en: tag MH0309 (storm)", "zh-TW: tag MH0309 (storm)"]),
        # the text says it in one language only
        (["flood", "storm"], {**SHELTERS_TEXT, "en": "Flood and typhoon shelters."},
         ["zh-TW: tag storm (storm)"]),
        # a storm surge is coastal, 風險 is "risk", 火山 is a volcano
        (["storm", "wildfire"],
         {"en": "Shelters from storm surge and volcanic ash.", "zh-TW": "降低暴潮風險與火山灰。"},
         ["en: tag storm", "en: tag wildfire", "zh-TW: tag storm", "zh-TW: tag wildfire"]),
        # many groups named one by one, but not marked multi-hazard
        (["flood", "storm", "landslide", "earthquake"],
         {"en": "Shelters for floods, typhoons, landslides and earthquakes.",
          "zh-TW": "因應洪水、颱風、土石流與地震的避難所。"},
         ["4 hazard groups but not multi_hazard"]),
    ],
)
def test_a_tag_the_text_does_not_support_is_caught(
        tmp_path: Path, hazards: list[str], description: dict[str, str],
        expected: list[str]) -> None:
    problems = _unsupported_tags(_loaded(tmp_path, name=SHELTERS, description=description,
                                         hazards=hazards))
    assert len(problems) == len(expected), problems
    assert all(p.startswith(e) for p, e in zip(problems, expected, strict=True)), problems


def test_multi_hazard_must_be_marked_and_said(tmp_path: Path) -> None:
    every = {"en": "Drills for every hazard the area faces.",
             "zh-TW": "針對地區面臨的各類災害辦理演練。"}
    hazards = ["flood", "storm", "landslide", "earthquake", "other"]
    marked = _loaded(tmp_path, hazards=hazards, description=every, multi_hazard=True)
    assert marked.multi_hazard and _unsupported_tags(marked) == []
    # unmarked, "every hazard" supports no tag: each must be named
    unmarked = _loaded(tmp_path, hazards=hazards, description=every)
    assert not unmarked.multi_hazard
    assert _unsupported_tags(unmarked) == [
        *(f"{lang}: tag {h} ({h}) is not in the text" for lang in LANGS for h in hazards),
        "5 hazard groups but not multi_hazard"]
    silent = _loaded(tmp_path, hazards=["flood"], multi_hazard=True,
                     description={"en": "Flood drills.", "zh-TW": "淹水演練。"})
    assert _unsupported_tags(silent) == ["en: multi_hazard but the text does not say so",
                                         "zh-TW: multi_hazard but the text does not say so"]
    # "climate-related hazards" covers the climate-related groups, not earthquakes
    climate = _loaded(tmp_path, hazards=["flood", "drought", "earthquake"], multi_hazard=True,
                      description={"en": "Adapt to the climate-related hazards that rise.",
                                   "zh-TW": "因應上升中的氣候相關災害。"})
    assert _unsupported_tags(climate) == ["en: tag earthquake (earthquake) is not in the text",
                                          "zh-TW: tag earthquake (earthquake) is not in the text"]


def test_multi_hazard_must_be_a_boolean(tmp_path: Path) -> None:
    data = {"version": "t", "measures": [_measure("x-1", multi_hazard="yes")]}
    with pytest.raises(CatalogueError) as error:
        load_measures(_write(tmp_path, "m.yaml", data))
    _assert_one_line(error, "m.yaml", "x-1", "multi_hazard")


# ----------------------------------------------------------------------------- case texts

# Openings that point at another case or at something the page does not show.
ANAPHORA = (
    re.compile(r"^(?:the same|this|that|these|those|it|its|they|their|there|here|also|"
               r"likewise|similarly|another|in addition|moreover|the (?:above|former|latter|"
               r"previous|analysis|study|report|source|government|city|country))\b", re.I),
    re.compile(r"^(?:同一|同樣|同上|此|這|該|其|上述|前述|另|亦|也|政府|當地|該國|該市)"),
)
# References to another entry anywhere in a summary.
ELSEWHERE = (
    re.compile(r"\b(?:the same (?:analysis|study|report|source|data|survey)|as above|"
               r"(?:the )?(?:previous|above) case)\b", re.I),
    re.compile(r"同一(?:分析|研究|報告|資料|調查)|同上|上述(?:分析|研究|報告)|前述(?:分析|研究|報告)"),
)


def _place_named(case: Case, lang: str) -> bool:
    """The summary names the place: English its first part ("Taichung" of "Taichung,
    Taiwan"); zh-TW, written country then city (臺灣臺中市), the whole or its last 3+ characters."""
    summary = case.summary[lang]
    place = re.sub(r"（[^）]*）|\([^)]*\)", "", case.place[lang]).strip()
    if lang == "en":
        return re.search(rf"\b{re.escape(place.split(',')[0].strip())}\b", summary) is not None
    return place in summary or any(place[i:] in summary for i in range(len(place) - 2))


def _case_text_problems(case: Case) -> list[str]:
    problems = []
    for i, lang in enumerate(LANGS):
        summary = case.summary[lang].strip()
        if ANAPHORA[i].search(summary) or ELSEWHERE[i].search(summary):
            problems.append(f"{lang}: refers to another text")
        if not _place_named(case, lang):
            problems.append(f"{lang}: does not name {case.place[lang]}")
    return problems


def test_every_case_summary_stands_on_its_own(catalogue: Catalogue) -> None:
    cases = load_cases(measures=catalogue)
    assert {c.id: p for c in cases if (p := _case_text_problems(c))} == {}


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"en": "The same analysis ranked landslides first in Sri Lanka.",
          "zh-TW": "同一分析顯示斯里蘭卡以土石流為首要災害。"},
         ["en: refers to another text", "zh-TW: refers to another text"]),
        ({"en": "This programme installed landslide warnings in Sri Lanka.",
          "zh-TW": "此計畫於斯里蘭卡設置土石流預警。"},
         ["en: refers to another text", "zh-TW: refers to another text"]),
        ({"en": "Landslides came first, according to the same analysis.",
          "zh-TW": "該國以土石流為首要災害。"},
         ["en: refers to another text", "en: does not name Sri Lanka",
          "zh-TW: refers to another text", "zh-TW: does not name 斯里蘭卡"]),
        ({"en": "An ICLEI analysis of UNDP disaster data ranked landslides first in Sri Lanka.",
          "zh-TW": "ICLEI 分析 UNDP 災害數據，指出斯里蘭卡以土石流為首要災害。"}, []),
    ],
)
def test_a_summary_that_leans_on_another_is_caught(summary: dict[str, str],
                                                  expected: list[str]) -> None:
    case = Case("c", {"en": "Sri Lanka", "zh-TW": "斯里蘭卡"}, "LKA", None, 2016,
                ("landslide",), ("landslide-early-warning",), summary,
                {"en": "Tests", "zh-TW": "測試"})
    assert _case_text_problems(case) == expected


def test_a_city_is_named_by_its_own_name() -> None:
    place = {"en": "Taichung, Taiwan", "zh-TW": "臺灣臺中市"}
    named = Case("c", place, "TWN", "Taichung", None, ("flood",), ("local-drr-plan",),
                 {"en": "Taichung presented its plan.", "zh-TW": "臺中市簡報其計畫。"},
                 {"en": "Tests", "zh-TW": "測試"})
    assert _case_text_problems(named) == []
    unnamed = Case("c", place, "TWN", "Taichung", None, ("flood",), ("local-drr-plan",),
                   {"en": "Taiwan presented a plan.", "zh-TW": "臺灣簡報一項計畫。"},
                   {"en": "Tests", "zh-TW": "測試"})
    assert _case_text_problems(unnamed) == ["en: does not name Taichung, Taiwan",
                                            "zh-TW: does not name 臺灣臺中市"]
