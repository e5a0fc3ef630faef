"""The report's pages (issue 15, item 1): a first page that stands alone, national trends,
each unit against the national average, the screening table's top in the body and every
unit in the annex, tidy sources, and Nepal's PDF in at most 20 pages in both languages
(pdfinfo counts them, pdftotext reads page 1, pdftoppm saves the pages as PNG images).

Nepal is assessed once per language for the module (the store is the session's
``nepal_db``); the HTML checks need no browser, the PDF checks need Chromium and poppler.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from assessed import assessed
from riskatlas.assessment.national import ALL, COMPARED
from riskatlas.assessment.value import Assessment, coverage
from riskatlas.i18n import translate
from riskatlas.model.countries import country_name
from riskatlas.report import html as report
from riskatlas.report.text import Text

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

MAX_PAGES = 20
LANGS = ("en", "zh-TW")


@pytest.fixture(scope="module")
def nepal(nepal_db: Path) -> dict[str, Assessment]:
    """Nepal's assessment (admin level 1, the default top 5) in both languages (shared
    with the other files that read it: tests/assessed.py)."""
    return {lang: assessed(nepal_db, "NPL", lang) for lang in LANGS}


def rows_of(page: str, table_id: str) -> list[str]:
    """The body rows of the table with ``table_id`` in ``page``."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, table_id
    return re.findall(r"<tr[ >].*?</tr>", found.group(1), re.S)


# --- national figures, read off the assessment --------------------------------------------

def test_national_series_count_every_event_once(nepal):
    a = nepal["en"]
    first, last = a.period
    total = a.national[a.national["hazard"] == ALL]
    assert list(total["year"]) == list(range(first, last + 1))  # every year, zeros too
    years = pd.to_datetime(a.events["start_date"]).dt.year
    inside = a.events[(years >= first) & (years <= last)]
    assert total["events"].sum() == len(inside)
    assert total["deaths"].sum() == pytest.approx(inside["deaths"].fillna(0).sum())
    per_hazard = a.national[a.national["hazard"] != ALL].groupby("year")["events"].sum()
    assert (per_hazard.reindex(total["year"], fill_value=0).to_numpy()
            == total["events"].to_numpy()).all()
    trends = a.national_trends.set_index(["hazard", "series"])
    assert trends.at[(ALL, "events"), "total"] == len(inside)
    assert set(trends["trend"]) <= {"increasing", "decreasing", "no_trend", "too_few_years"}


def test_units_against_the_national_average(nepal):
    a = nepal["en"]
    versus = a.unit_vs_national
    with_cards = a.screen[a.screen["cards"].fillna(0) > 0]
    assert set(versus["figure"]) == set(COMPARED)
    assert versus["admin_code"].nunique() == len(with_cards)
    for figure in COMPARED:
        rows = versus[versus["figure"] == figure]
        sums = a.risk.groupby("admin_code")[figure].sum()
        assert rows["value"].to_numpy() == pytest.approx(
            sums.reindex(rows["admin_code"], fill_value=0).to_numpy())
        assert rows["average"].iloc[0] == pytest.approx(rows["value"].mean())
        assert rows["ratio"].to_numpy() == pytest.approx(
            (rows["value"] / rows["average"]).to_numpy())


def test_coverage_read_off_the_assessment(nepal):
    a = nepal["en"]
    cov = coverage(a)
    assert cov.cards == len(a.records) == a.coverage.cards
    assert cov.located == a.records["level1_code"].notna().sum()
    assert cov.units == len(a.screen)
    assert sum(cov.grades.values()) == cov.units_with_cards
    assert cov.flagged_cards == a.quality["records"].sum()
    assert cov.years == a.period[1] - a.period[0] + 1 >= cov.years_with_cards


# --- the HTML: summary, body, annex, sources ----------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_summary_numbers_come_from_the_assessment(nepal, lang):
    """Change the figures the summary reads and the summary changes with them: nothing
    on it is written in."""
    a = nepal[lang]
    t = Text(lang)
    page = report.render_html(a)
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    for key in ("summary", "summary_hazards", "summary_units", "summary_measures",
                "summary_coverage"):
        assert translate(f"report.{key}", lang) in summary, key
    assert t.num(len(a.records)) in summary
    top = a.top_units.iloc[0]
    assert top["admin_name"] in summary and f"{top['score']:.1f}" in summary
    events = a.national_trends.set_index(["hazard", "series"]).at[(ALL, "events"), "total"]
    assert t.num(events) in summary
    # the same page from other figures: ten times the events, one unit renamed
    trends = a.national_trends.copy()
    trends.loc[trends["series"] == "events", "total"] *= 10
    screen = a.screen.copy()
    screen.loc[screen["admin_code"] == top["admin_code"], "admin_name"] = "Elsewhere"
    changed = report.summary_view(dataclasses.replace(a, national_trends=trends,
                                                      screen=screen), t)
    assert t.num(events * 10) in str(changed["figures"])
    assert changed["units"][0]["unit"] == "Elsewhere"


@pytest.mark.parametrize("lang", LANGS)
def test_screen_top_in_body_every_unit_in_annex(nepal, lang):
    a = nepal[lang]
    page = report.render_html(a)
    with_cards = int((a.screen["cards"].fillna(0) > 0).sum())
    body = page.split('<section id="screen">')[1].split("</section>")[0]
    assert len(re.findall(r"<tr[ >]", body.split("<tbody>")[1])) == min(report.SCREEN_ROWS,
                                                                         with_cards)
    assert len(rows_of(page, "annex-screen")) == with_cards
    names = a.screen[a.screen["cards"].fillna(0) > 0]["admin_name"]
    annex = page.split('<section id="annex"')[1]
    assert all(name in annex for name in names)
    # every table repeats its header row on a new page: a thead, and CSS saying so
    assert page.count("<table") == page.count("<thead>")
    assert "thead { display: table-header-group; }" in page
    assert "break-after: avoid" in page and "break-inside: avoid" in page


@pytest.mark.parametrize("lang", LANGS)
def test_each_unit_against_the_national_average(nepal, lang):
    a = nepal[lang]
    units = report.unit_pages(a, Text(lang))
    assert len(units) == len(a.top_units)
    for u in units:
        assert u["versus"] and 'class="chart bar versus"' in u["versus"]["chart"]
        ratio = a.unit_vs_national[(a.unit_vs_national["admin_code"] == u["code"])
                                   & (a.unit_vs_national["figure"] == "events_per_year")]
        assert translate("report.ratio", lang, ratio=f"{ratio['ratio'].iloc[0]:.1f}") \
            in u["versus"]["chart"]
    national = report.national_view(a, Text(lang))
    assert len(national["charts"]) == 2
    assert all('class="chart line trend"' in c["svg"] for c in national["charts"])


def test_sources_name_the_country_and_the_minute(nepal):
    a = nepal["zh-TW"]
    rows = report.source_rows(a, Text("zh-TW"))
    assert [r["dataset_id"] for r in rows] == sorted(a.records["dataset_id"].unique())
    for r in rows:
        assert r["country"] == country_name("NPL", "zh-TW") != "NPL"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r["imported_at"])
    # a dataset with no card counted (another country's) is not a source of this report
    other = a.datasets.assign(dataset_id=a.datasets["dataset_id"] + 100, country_iso3=None)
    more = dataclasses.replace(a, datasets=pd.concat([a.datasets, other]))
    assert len(report.source_rows(more, Text("zh-TW"))) == len(rows)
    page = report.render_html(a)
    sources = page.split('id="methods"')[1].split("</table>")[0]
    assert "nan" not in sources and "NaT" not in sources


# --- the PDF --------------------------------------------------------------------------------

def require_pdf_tools() -> None:
    from conftest import require_chromium

    require_chromium()
    missing = [tool for tool in ("pdfinfo", "pdftotext", "pdftoppm") if not shutil.which(tool)]
    if missing:
        reason = f"the page tests need {', '.join(missing)} (poppler-utils), absent here"
        if os.environ.get("RISKATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_BROWSER=1 makes it mandatory")
        pytest.skip(reason)


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def page_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf),
                           "-"], capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
def test_nepal_pdf_pages(nepal, lang, tmp_path):
    """At most 20 A4 pages, the summary alone on page 1; the pages saved as images."""
    require_pdf_tools()
    from riskatlas.report.html import render_html
    from riskatlas.report.pdf import html_to_pdf

    a = nepal[lang]
    html = tmp_path / f"nepal-{lang}.html"
    html.write_text(render_html(a), encoding="utf-8")
    pdf = html_to_pdf(html, tmp_path / f"nepal-{lang}.pdf")
    pages = pdf_pages(pdf)
    assert pages <= MAX_PAGES, f"{pages} pages"
    first = re.sub(r"\s+", " ", page_text(pdf, 1))
    t = Text(lang)
    for key in ("summary", "summary_hazards", "summary_units", "summary_measures",
                "summary_coverage"):
        assert translate(f"report.{key}", lang) in first, key
    assert t.num(len(a.records)) in first
    for name in a.top_units["admin_name"]:
        assert name in first
    # the summary stands alone: the next section starts on page 2
    second = re.sub(r"\s+", " ", page_text(pdf, 2))
    assert second.strip().startswith(translate("report.national", lang))
    folder = Path(os.environ["RISKATLAS_TEST_ARTIFACTS"]) / f"pages-{lang}" \
        if os.environ.get("RISKATLAS_TEST_ARTIFACTS") else tmp_path / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(folder / "page")],
                   check=True, timeout=300)
    images = sorted(folder.glob("page-*.png"))
    assert len(images) == pages
    assert all(p.stat().st_size > 2_000 for p in images)  # not blank


# --- the workbook -----------------------------------------------------------------------------

SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


@pytest.mark.parametrize("lang", LANGS)
def test_workbook_headers_in_the_readers_language(nepal, lang, tmp_path):
    """Every sheet's headers are labels in the report's language, each column at least as
    wide as its header (no "排/名"); the CSV files keep the column names."""
    import zipfile

    from openpyxl import load_workbook

    from riskatlas.i18n import CJK_CHAR
    from riskatlas.report.tables import text_width, write_tables

    folder, workbook = write_tables(nepal[lang], tmp_path)
    book = load_workbook(workbook, read_only=True)
    assert {"national", "national_trends", "unit_vs_national"} <= set(book.sheetnames)
    with zipfile.ZipFile(workbook) as z:
        for i, name in enumerate(book.sheetnames, start=1):
            headers = [c.value for c in next(book[name].iter_rows(max_row=1))]
            if not headers or headers == [None]:
                continue  # an empty table
            assert not [h for h in headers if SNAKE.fullmatch(str(h))], name
            if lang == "zh-TW":  # Chinese, or a code such as "A-2" or "D-1"
                assert all(CJK_CHAR.search(h) or re.fullmatch(r"[A-Z]-\d.*", h)
                           for h in headers), (name, headers)
            head = z.open(f"xl/worksheets/sheet{i}.xml").read(1 << 16).decode("utf-8", "ignore")
            widths = [float(w) for w in re.findall(r'<col [^>]*width="([\d.]+)"', head)]
            assert len(widths) == len(headers), name
            assert all(w >= text_width(h) for w, h in zip(widths, headers, strict=True))
    assert (folder / "screen.csv").read_text("utf-8").startswith("rank,country_iso3,")
