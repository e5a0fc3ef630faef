"""Natural Traditional Chinese (issue 15, item 3): every zh-TW text follows the glossary
(data/glossary.yaml: Taiwanese words, one word for a data card, no Simplified characters),
the tropical-cyclone word of the country's basin (颱風 NW Pacific, 颶風 Atlantic and E
Pacific, 氣旋 Indian Ocean and S Pacific), full-width punctuation in Chinese sentences and
a space where Chinese meets Latin letters or digits. Checked on the texts (message
catalogue, measures, cases, hazard and region names, templates) and on what people read:
the Grenada and Nepal zh-TW reports, a dashboard page and a CLI table."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from riskatlas.advice.catalogue import load_cases, load_measures
from riskatlas.i18n import (
    basin_of,
    basin_problems,
    basin_term,
    basin_text,
    catalogue,
    dataset_name,
    glossary,
    glossary_problems,
    join_mixed,
    punctuation_problems,
    spacing_problems,
    term_problems,
    translate,
)
from riskatlas.model.countries import country_name, iso3_codes
from riskatlas.model.regions import area

CJK = re.compile(r"[\u3400-\u9fff]")
DATA_CARD = "災情卡"

# ----------------------------------------------------------------------------- texts


def catalogue_problems(messages: Mapping[str, str]) -> dict[str, list[str]]:
    """Each zh-TW message that breaks the glossary (placeholders are checked once filled,
    in the rendered texts below), with what is wrong."""
    return {key: found for key, text in messages.items() if (found := glossary_problems(text))}


def test_glossary_is_consistent():
    g = glossary()
    ids = [t.id for t in g.terms]
    assert len(ids) == len(set(ids))
    for term in g.terms:
        assert term.preferred and term.forbidden, term.id
        for word in term.preferred:  # a preferred word is never itself a variant
            assert not any(v in word for v in term.forbidden if v not in term.allow), word
        for word in term.allow:  # an allowed compound holds a variant
            assert any(v in word for v in term.forbidden), word
    assert not g.simplified & set("".join(w for t in g.terms for w in t.preferred))
    for basin in g.basins:
        assert {"en", "zh-TW"} <= set(basin.terms), basin.id
        assert all(area(code) is not None for code in basin.m49), basin.id
    words = {b.terms["zh-TW"] for b in g.basins}
    assert words == {"颱風", "颶風", "氣旋"} and g.default["zh-TW"] == "熱帶氣旋"
    assert set(g.country_names) <= iso3_codes()
    assert country_name("TWN", "zh-TW") == "臺灣" and country_name("GRD", "zh-TW") == "格瑞那達"


@pytest.mark.parametrize(("iso3", "word"), [
    ("GRD", "颶風"), ("USA", "颶風"), ("MEX", "颶風"), ("HTI", "颶風"),  # Atlantic, E Pacific
    ("TWN", "颱風"), ("PHL", "颱風"), ("JPN", "颱風"), ("GUM", "颱風"),  # NW Pacific
    ("NPL", "氣旋"), ("BGD", "氣旋"), ("MMR", "氣旋"), ("MOZ", "氣旋"),  # Indian Ocean
    ("AUS", "氣旋"), ("FJI", "氣旋"),  # South Pacific
    ("FRA", "熱帶氣旋"), ("DMO", "熱帶氣旋"), (None, "熱帶氣旋")])  # no basin of its own
def test_basin_word_of_a_country(iso3, word):
    assert basin_term(iso3, "zh-TW") == word
    assert (basin_of(iso3) is None) == (word == "熱帶氣旋")
    assert basin_text("{cyclone}季前", "zh-TW", iso3) == f"{word}季前"


def test_basin_word_in_english_and_measures():
    assert basin_text("{Cyclone} and storm", "en", "GRD") == "Hurricane and storm"
    assert basin_text("{Cyclone} and storm", "en", "TWN") == "Typhoon and storm"
    assert basin_text("{Cyclone} and storm", "en") == "Tropical cyclone and storm"
    warning = load_measures()["cyclone-early-warning"]
    assert "颶風" in warning.for_country("GRD").name_in("zh-TW")
    assert "颱風" in warning.for_country("TWN").description_in("zh-TW")
    assert "熱帶氣旋" in warning.name_in("zh-TW") and "{" not in warning.name_in("en")
    assert warning.for_country("GRD") == warning  # the same measure, worded for Grenada


def test_message_catalogue_follows_the_glossary():
    assert catalogue_problems(catalogue("zh-TW")) == {}


def test_a_planted_bad_text_is_caught():
    """The checks fail on what they are meant to catch, each for its own reason."""
    planted = {**catalogue("zh-TW"),
               "report.planted_card": "共 {count} 筆紀錄卡",  # the card's other word
               "report.planted_flood": "主要災害為洪水",  # mainland flood
               "report.planted_cyclone": "颱風與強風預警",  # a basin word in a neutral text
               "report.planted_colon": "斯里蘭卡: 地震",  # half-width colon
               "report.planted_join": "造成Makwanpur",  # Chinese run into Latin
               "report.planted_simplified": "数据"}  # Simplified characters
    found = catalogue_problems(planted)
    assert set(found) == {k for k in planted if k.startswith("report.planted_")}
    assert "災情卡" in found["report.planted_card"][0]
    assert "水災" in found["report.planted_flood"][0]
    assert "颱風" in found["report.planted_cyclone"][0]
    assert "half-width" in found["report.planted_colon"][0]
    assert "Makwanpur" in found["report.planted_join"][0]
    assert "Simplified" in found["report.planted_simplified"][0]
    assert glossary_problems("颱風與強風預警", "TWN") == []  # right in Taiwan
    assert glossary_problems("颱風與強風預警", "GRD") != []  # not in Grenada
    assert glossary_problems("洪水預報與預警") == []  # a hydrological term stays


def test_measures_cases_and_names_follow_the_glossary():
    problems = []
    for m in load_measures():  # written for every country: {cyclone}, never a basin word
        for text in (m.name["zh-TW"], m.description["zh-TW"]):
            problems += [f"measure {m.id}: {p}" for p in glossary_problems(text)]
    for c in load_cases():  # about one place: the word of its basin
        for text in (c.place["zh-TW"], c.summary["zh-TW"], c.source["zh-TW"]):
            problems += [f"case {c.id}: {p}" for p in glossary_problems(text, c.country_iso3)]
    from riskatlas.model.hazards import reporting_groups
    from riskatlas.model.regions import _load

    names = [g.name_zh_tw for g in reporting_groups().values()]
    names += [a.name_zh for a in _load()[0].values()]
    names += [country_name(code, "zh-TW") for code in sorted(iso3_codes())]
    problems += [f"name {n}: {p}" for n in names for p in glossary_problems(n)]
    assert problems == []


TEMPLATE_DIRS = ("riskatlas.report", "riskatlas.web")


def test_templates_word_everything_through_the_catalogue():
    """No literal Chinese in the report and web templates and scripts: their words come
    from the catalogues checked above."""
    found = []
    for package in TEMPLATE_DIRS:
        root = Path(str(resources.files(package)))
        for path in [*root.rglob("*.j2"), *root.rglob("*.html"), *root.rglob("*.js")]:
            text = path.read_text("utf-8")
            found += [f"{path.name}: {p}" for p in glossary_problems(text)]
            found += [f"{path.name}: literal Chinese …{m.group()}…"
                      for m in re.finditer(r".{0,8}[\u4e00-\u9fff]+.{0,8}", text)]
    assert found == []


def test_one_word_for_a_data_card_in_report_web_and_cli():
    zh, en = catalogue("zh-TW"), catalogue("en")
    carded = {k for k, v in en.items() if re.search(r"\b(?:data )?cards?\b", v, re.I)}
    views = {prefix: [k for k in carded if k.startswith(prefix)]
             for prefix in ("report.", "web.", "workflow.", "cli_help.", "column.")}
    assert all(views.values()), views  # every view speaks of cards
    for keys in views.values():
        for key in keys:
            assert DATA_CARD in zh[key] or "卡" not in zh[key], (key, zh[key])


def test_mixed_text_is_joined_with_a_space():
    assert join_mixed("造成", "Makwanpur", " 62 % 的") == "造成 Makwanpur 62 % 的"
    assert join_mixed("臺中市", "的") == "臺中市的"
    shown = translate("report.reason_share", "zh-TW", hazard="LLUVIAS", unit="Makwanpur",
                      pct="62", metric="死亡", min=20)
    assert "LLUVIAS 造成 Makwanpur 62 %" in shown and glossary_problems(shown, "NPL") == []
    assert dataset_name("NPL_1.xlsx (+24 files)", "zh-TW") == "NPL_1.xlsx（另 24 個檔案）"
    assert dataset_name("NPL_1.xlsx (+24 files)", "en") == "NPL_1.xlsx (+24 files)"
    assert dataset_name("DI_export_grd.zip", "zh-TW") == "DI_export_grd.zip"


def test_drivers_name_each_hazard_once():
    from riskatlas.assessment.text import drivers_text

    drivers = [{"hazard": "landslide", "indicator": "deaths_missing", "share_pct": 61.7},
               {"hazard": "flood", "indicator": "deaths_missing", "share_pct": 20.0},
               {"hazard": "landslide", "indicator": "houses_lost", "share_pct": 18.3}]
    zh = drivers_text(drivers, "zh-TW")
    assert zh.count("坡地災害") == 1 and zh.count("水災") == 1, zh
    assert zh == "坡地災害（含土石流）：死亡＋失蹤 62 %、房屋損失 18 %；水災：死亡＋失蹤 20 %"
    assert glossary_problems(zh) == []
    assert drivers_text(drivers, "zh-TW", sep="; ", percent="%") == zh.replace(" %", "%")
    assert drivers_text(drivers, "en") == ("Landslide and mass movement · deaths + missing "
                                           "62 %, houses lost 18 %; Flood · deaths + missing 20 %")


# ----------------------------------------------------------------------------- rendered

_INLINE = {"a", "span", "b", "strong", "em", "i", "abbr", "small", "sup", "sub", "code",
           "bdi", "time", "mark", "q", "tspan", "label"}


class _Blocks(HTMLParser):
    """The text of a page cut at block elements (cells, paragraphs, SVG labels); the
    tooltips (SVG ``<title>``) apart, or only them."""

    def __init__(self, tooltips: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks = [""]
        self.skipped = ("script", "style", "head") + (() if tooltips else ("title",))
        self.skip = 0
        self.tooltips = tooltips
        self.inside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside.append(tag)
        if tag in self.skipped:
            self.skip += 1
        elif tag not in _INLINE:
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.inside:
            del self.inside[len(self.inside) - 1 - self.inside[::-1].index(tag):]
        if tag in self.skipped:
            self.skip -= 1
        elif tag not in _INLINE:
            self.blocks.append("")

    def handle_data(self, data: str) -> None:
        if not self.skip and (not self.tooltips or "title" in self.inside):
            self.blocks[-1] += data


def text_blocks(html: str, *, tooltips: bool = False) -> list[str]:
    """The Chinese blocks of text a page shows (``tooltips``: those of its hover texts)."""
    parser = _Blocks(tooltips)
    parser.feed(html)
    return [" ".join(b.split()) for b in parser.blocks if CJK.search(b)]


def _case_texts() -> set[str]:
    """Case summaries tell of their own place (the Bangladesh programme's 氣旋 in any
    report): checked against their own country's basin above."""
    return {" ".join(c.summary["zh-TW"].split()) for c in load_cases()}


def shown_problems(blocks: Iterable[str], iso3: str) -> Iterator[str]:
    cases = _case_texts()
    for block in blocks:
        yield from term_problems(block)
        yield from punctuation_problems(block)
        yield from spacing_problems(block)
        if not any(case in block for case in cases):  # a case speaks of its own place
            yield from basin_problems(block, iso3)
        if "{cyclone}" in block.lower():
            yield f"unworded token: {block[:60]}"


def _latin_words(text: str) -> set[str]:
    return set(re.findall(r"\b[a-z]{3,}\b", re.sub(r"\{[^}]*\}", "", text)))


def english_left(blocks: Iterable[str]) -> list[str]:
    """English words of the catalogue (not the commands and options the zh-TW catalogue
    names too) standing alone in zh-TW text: "(+24 files)", "來源 default"."""
    english = _latin_words(" ".join(catalogue("en").values()))
    english -= _latin_words(" ".join(catalogue("zh-TW").values()))
    return [f"{word}: …{block[:80]}…" for block in blocks
            for word in re.findall(r"(?<![\w./\-])[a-z]{3,}(?![\w./\-])", block)
            if word in english]


def test_a_planted_bad_page_is_caught():
    """The page checks find what a template or a renderer gets wrong, and leave a case
    about another basin alone."""
    page = ("<h2>颱風與強風預警</h2><p>造成<b>Makwanpur</b></p><table><tr><td>3 筆紀錄卡"
            "</td></tr></table><svg><text>水災: 22.9 %</text><title>水災: 1 %</title></svg>"
            "<p><b>孟加拉</b>：" + load_cases()["bangladesh-cyclone-preparedness-programme"]
            .summary["zh-TW"] + "</p>")
    found = list(shown_problems(text_blocks(page), "GRD"))
    assert len(found) == 4, found
    assert ["颱風" in found[0], "Makwanpur" in found[1], "紀錄卡" in found[2],
            "half-width" in found[3]] == [True] * 4
    tips = list(shown_problems(text_blocks(page, tooltips=True), "GRD"))
    assert len(tips) == 1 and "half-width" in tips[0]


_REPORTS: dict[str, str] = {}


def _report(request: pytest.FixtureRequest, iso3: str) -> str:
    """The zh-TW report of Grenada or Nepal, rendered once per session (the assessment
    shared with the other files that read it: tests/assessed.py)."""
    from assessed import assessed
    from riskatlas.report.html import render_html

    if iso3 not in _REPORTS:
        db = request.getfixturevalue("grenada_db" if iso3 == "GRD" else "nepal_db")
        _REPORTS[iso3] = render_html(assessed(db, iso3, "zh-TW"))
    return _REPORTS[iso3]


@pytest.mark.shared_data
@pytest.mark.parametrize("iso3", ["GRD", "NPL"])
def test_report_in_zh_tw_follows_the_glossary(request, iso3):
    blocks = text_blocks(_report(request, iso3))
    assert sum(len(b) for b in blocks) > 2000
    assert list(shown_problems(blocks, iso3)) == []
    shown = "\n".join(blocks)
    assert DATA_CARD in shown
    if "強風預警" in shown:  # a storm warning for this country names its basin's word
        assert f"{basin_term(iso3, 'zh-TW')}與強風預警" in shown


@pytest.mark.shared_data
@pytest.mark.parametrize("iso3", ["GRD", "NPL"])
def test_report_tooltips_in_zh_tw_follow_the_glossary(request, iso3):
    """The hover texts of charts and maps (SVG titles) too."""
    blocks = text_blocks(_report(request, iso3), tooltips=True)
    assert blocks and list(shown_problems(blocks, iso3)) == []


@pytest.mark.shared_data
@pytest.mark.parametrize("iso3", ["GRD", "NPL"])
def test_report_in_zh_tw_leaves_no_english(request, iso3):
    """Dataset names ('（另 24 個檔案）'), screened hazards and the methods' source worded."""
    assert english_left(text_blocks(_report(request, iso3))) == []


def test_english_left_is_caught():
    shown = "資料來源：a.xlsx (+24 files)"
    assert english_left([shown]) == [f"files: …{shown}…"]
    assert english_left(["「riskatlas quality」列出", "St George 的死亡"]) == []


@pytest.mark.shared_data
def test_cli_in_zh_tw_follows_the_glossary(grenada_db):
    from test_cli import run_cli

    for command in (("screen", "--level", "1"), ("profile", "--metric", "deaths"),
                    ("risk", "--level", "1"), ("sendai",), ("peers", "GRD", "GRD01"),
                    ("periods",), ("datasets",)):
        done = run_cli("--lang", "zh-TW", *command, "--db", str(grenada_db))
        assert done.code == 0, done.stderr
        lines = [" ".join(line.replace("│", " ").split())
                 for line in (done.stdout + done.stderr).splitlines() if CJK.search(line)]
        assert lines and list(shown_problems(lines, "GRD")) == [], command


_DASHBOARD: list[str] = []


def _dashboard(request: pytest.FixtureRequest) -> list[str]:
    """The text blocks of the zh-TW dashboard pages of Grenada, fetched once."""
    from conftest import web_client

    if not _DASHBOARD:
        with web_client(request.getfixturevalue("grenada_db"), public_all=True) as client:
            for page in ("/unit/GRD/GRD01?level=1", "/records?country=GRD", "/datasets",
                         "/profile?country=GRD", "/"):
                html = client.get(page, headers={"Accept-Language": "zh-TW"}).text
                _DASHBOARD.extend(text_blocks(html))
    return _DASHBOARD


@pytest.mark.shared_data
def test_dashboard_in_zh_tw_follows_the_glossary(request):
    blocks = _dashboard(request)
    wrong = [p for p in shown_problems(blocks, "GRD") if not p.startswith("half-width")]
    assert wrong == []
    assert DATA_CARD in "\n".join(blocks)


@pytest.mark.shared_data
def test_dashboard_punctuation_in_zh_tw(request):
    assert [p for p in shown_problems(_dashboard(request), "GRD")
            if p.startswith("half-width")] == []
