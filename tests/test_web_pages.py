"""The public dashboard's pages in English and Traditional Chinese: each renders, the
language switch changes the text, no message key leaks; and in headless Chromium (Debian's,
driven by Playwright) against a real uvicorn server: charts drawn, language switched, no
request leaves the server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_chromium, serving, web_client

# message keys or unformatted placeholders leaking into a page
LEAKS = re.compile(r"\b(web|report|column|class|metric|trend|indicator|analysis|browse|"
                   r"error|basis|measure_type|cost)\.[a-z_0-9]+\b(?!\.(css|json))"
                   r"|\{[a-z_]+\}")
CJK = re.compile(r"[\u4e00-\u9fff]")
PAGES = ("/", "/profile?country=GRD&level=2", "/screen?country=GRD&level=2",
         "/unit/GRD/GRD0101?level=2", "/unit/GRD/GRD01", "/records?country=GRD&q=flood",
         "/records?page=2", "/datasets")


@pytest.fixture(scope="module")
def grd(grenada_db: Path):
    with web_client(grenada_db, public_all=True) as client:  # every card, as imported
        yield client


def visible(html: str) -> str:
    """The page's text without tags (attribute values are checked separately)."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.shared_data
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_leaking_keys(grd, page: str, lang: str):
    response = grd.get(page, headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f'<html lang="{lang}">' in html
    assert not LEAKS.findall(html), LEAKS.findall(html)[:5]
    assert "None" not in visible(html) and "nan" not in visible(html).split()
    assert 'id="lang-switch"' in html
    chinese = len(CJK.findall(visible(html)))
    if lang == "zh-TW":
        assert chinese > 20
    else:
        assert chinese <= 2  # the switch label 中文


@pytest.mark.shared_data
def test_charts_maps_and_tables(grd):
    profile = grd.get("/profile?country=GRD").text
    assert profile.count('<svg class="chart bar') >= 4
    screen = grd.get("/screen?country=GRD&level=2").text
    assert '<svg class="map"' in screen and "/unit/GRD/GRD01" in screen
    unit = grd.get("/unit/GRD/GRD01?level=1").text
    assert '<svg class="chart bar' in unit and '<svg class="chart line"' in unit
    assert 'class="measure"' in unit
    overview = grd.get("/").text
    counted = grd.get("/api/profile?country=GRD&metric=records").json()["rows"]
    cards = int(sum(r["value"] for r in counted))  # published cards in the period
    assert "Grenada" in overview and f"{cards:,}" in overview and cards > 100


@pytest.mark.shared_data
def test_language_switch_link_changes_the_text(grd):
    en = grd.get("/screen?country=GRD", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    switch = re.search(r'id="lang-switch" href="([^"]+)"', en)
    assert switch
    href = switch.group(1).replace("&amp;", "&")
    assert "lang=zh-TW" in href and "country=GRD" in href
    zh = grd.get(href, headers={"Accept-Language": "en"}).text  # the link wins
    assert '<html lang="zh-TW">' in zh and "風險篩選" in zh
    back = re.search(r'id="lang-switch" href="([^"]+)"', zh)
    assert back and "lang=en" in back.group(1)
    assert "Screening" in grd.get(back.group(1).replace("&amp;", "&")).text
    # links inside the page keep the chosen language
    assert 'href="/records?lang=zh-TW"' in zh


def test_pages_on_an_empty_store(atlas):
    atlas.close()
    with web_client(atlas.store.path) as client:
        for page in ("/", "/records", "/datasets"):
            response = client.get(page)
            assert response.status_code == 200, page
            assert not LEAKS.findall(response.text)


def test_error_pages_are_html_for_browsers(atlas):
    atlas.close()
    with web_client(atlas.store.path) as client:
        response = client.get("/nowhere", headers={"Accept": "text/html",
                                                   "Accept-Language": "zh-TW"})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "錯誤 404" in response.text
        bad = client.get("/records?year_from=abc", headers={"Accept": "text/html"})
        assert bad.status_code == 400 and "abc" in bad.text
        assert client.get("/static/riskatlas.css").status_code == 200


# --- in a real browser ---

@pytest.fixture
def server(grenada_db: Path) -> Iterator[str]:
    """uvicorn serving the Grenada store in a thread on a free loopback port."""
    with serving(grenada_db) as url:
        yield url


@pytest.mark.shared_data
@pytest.mark.browser
def test_dashboard_in_chromium(server: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    artifacts = os.environ.get("RISKATLAS_TEST_ARTIFACTS")
    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(server)
                else outside.append(r.url))

        def shot(name: str) -> None:
            path = tmp_path / f"web-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

        page.goto(f"{server}/")
        assert page.locator("h1").inner_text() == "Disaster losses by country"
        assert page.locator("table.overview tbody tr").count() >= 1
        shot("overview-en")

        page.goto(f"{server}/screen?country=GRD&level=2")
        assert page.locator("table.screen tbody tr").count() >= 2
        assert page.locator("svg.map path").count() > 0
        shot("screen-en")
        page.locator("table.screen tbody tr a").first.click()
        page.wait_for_load_state("load")
        assert "/unit/GRD/" in page.url
        charts = page.locator("svg.chart")
        assert charts.count() >= 1 and page.locator("svg.chart rect").count() > 0
        box = charts.first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 10
        shot("unit-en")

        page.locator("#lang-switch").click()
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == "zh-TW"
        text = page.inner_text("body")
        assert len(CJK.findall(text)) > 50 and not LEAKS.findall(text)
        assert page.locator("svg.chart rect").count() > 0
        shot("unit-zh-TW")
        page.locator("header nav a", has_text="災害概況").click()
        page.wait_for_load_state("load")
        assert page.locator("svg.chart.bar").count() >= 4
        assert page.locator("html").get_attribute("lang") == "zh-TW"
        shot("profile-zh-TW")
        assert page.evaluate("getComputedStyle(document.querySelector('header.site'))"
                             ".backgroundColor") == "rgb(128, 0, 38)", "stylesheet served"
        assert outside == [], "the dashboard works offline"
        browser.close()
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        for path in shots:
            shutil.copy(path, Path(artifacts) / path.name)


@pytest.mark.shared_data
def test_a_screen_of_thousands_of_units_is_paged(nepal_db: Path):
    """Nepal's level-2 screen: the page shows 100 ranks at a time with previous and next
    links, the pages together list every ranked unit of the API once, in rank order, and a
    page beyond the last shows the last."""
    from riskatlas.web.routes_pages import PAGE_ROWS

    with web_client(nepal_db) as client:
        api = client.get("/api/screen?country=NPL&level=2").json()["rows"]
        ranks = sorted(r["rank"] for r in api if r["rank"] is not None)
        pages = -(-len(ranks) // PAGE_ROWS)
        assert pages >= 3
        shown = []
        for page in range(1, pages + 1):
            html = client.get(f"/screen?country=NPL&level=2&page={page}",
                              headers={"Accept-Language": "zh-TW"}).text
            table = html[html.index('<table class="screen"'):html.index("</table>")]
            got = [int(r) for r in re.findall(r'<tr[^>]*><td class="num">(\d+)</td>', table)]
            assert len(got) == (PAGE_ROWS if page < pages else len(ranks) - len(shown))
            shown += got
            assert ('rel="prev"' in html) == (page > 1)
            assert ('rel="next"' in html) == (page < pages)
            assert f"第 {page} 頁，共 {pages} 頁" in html
            assert f"中的第 {got[0]}–{got[-1]} 名" in html
        assert shown == ranks
        beyond = client.get(f"/screen?country=NPL&level=2&page={10**30}").text
        assert f"Page {pages} of {pages}" in beyond
        small = client.get("/screen?country=NPL&level=0").text
        assert 'class="pager"' not in small


@pytest.mark.shared_data
def test_a_profile_of_thousands_of_units_is_paged(nepal_db: Path):
    """Nepal's level-2 profile page lists 100 units at a time, largest total first; the
    pages together list every unit of the API's profile once."""
    from riskatlas.web.routes_pages import PAGE_ROWS

    with web_client(nepal_db) as client:
        rows = client.get("/api/profile?country=NPL&level=2&metric=deaths").json()["rows"]
        units = {r["admin_code"] for r in rows}
        pages = -(-len(units) // PAGE_ROWS)
        assert pages >= 3
        codes, totals = [], []
        for page in range(1, pages + 1):
            html = client.get(f"/profile?country=NPL&level=2&metric=deaths&page={page}").text
            body = html[html.index('<section id="units">'):html.index("</section>")]
            got = re.findall(r'<td class="code">([^<]*)</td><td class="num">([\d,.]+)</td>',
                             body)
            assert len(got) == (PAGE_ROWS if page < pages else len(units) - len(codes))
            codes += [code for code, _ in got]
            totals += [float(total.replace(",", "")) for _, total in got]
            assert ('rel="next"' in html) == (page < pages)
            assert f"Units {len(codes) - len(got) + 1}–{len(codes)} of {len(units)}" in html
        assert sorted(codes) == sorted(units) and totals == sorted(totals, reverse=True)
        small = client.get("/profile?country=NPL&level=0&metric=deaths").text
        assert 'class="pager"' not in small
