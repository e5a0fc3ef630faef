"""Every dashboard page as people read it (issue 15, item 4): in Debian's Chromium (driven by
Playwright) at 390 px (a phone) and 1280 px (a laptop), in English and Traditional Chinese,
over a copy of Grenada's real export (maps, Chinese unit pages) with a draft card and an
administrator, so the staff pages have something to show. For each page:

- no horizontal scroll: ``document.documentElement.scrollWidth`` <= the viewport's width
  (wide tables and charts scroll inside their own frame, never the page);
- a clean accessibility check: axe-core (bundled from its npm package into node_modules by
  ``./run tests``, injected from there: no CDN) finds no serious or critical violation (at
  390 px, in both languages);
- readable chart labels: every SVG text is drawn at 11 px or more;
- Chinese table headers do not wrap one character per line (at most two lines);
- a skip link to the main content, and every data table with a caption and ``scope="col"``;
- no page cites the report's workbook (riskatlas-tables.xlsx), which web readers do not have.

Each page is loaded once per language and measured at both widths (the site has no
script: its layout follows the CSS alone, so resizing the viewport lays the page out as a
load at that width would). One browser, one server and two tabs (a visitor's and the
administrator's) serve the whole module; each page gets a few seconds. Screenshots of
every page at both widths go to RISKATLAS_TEST_ARTIFACTS/layout when that is set (nothing
asserts on them: without it none are taken)."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from conftest import PASSWORD, require_chromium, serving, web_user

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1280)
AXE_WIDTH = 390
LANGS = ("en", "zh-TW")
PAGE_TIMEOUT_MS = 15_000  # a page of this small store loads in well under a second
MIN_LABEL_PX = 11.0
CJK = re.compile(r"[\u3400-\u9fff]")

# (name, path, signed in as the administrator); {unit} and {card} filled in by the fixture
PAGES = [
    ("overview", "/", False), ("profile", "/profile", False),
    ("profile-units", "/profile?level=0", False), ("screen", "/screen", False),
    ("unit", "{unit}", False), ("records", "/records", False),
    ("datasets", "/datasets", False), ("login", "/login", False),
    ("cards", "/cards", True), ("card-new", "/cards/new", True), ("card", "/card?id={card}", True),
    ("upload", "/upload", True), ("review", "/review", True), ("links", "/links", True),
    ("links-places", "/links?tab=places", True),
    ("links-completeness", "/links?tab=completeness", True),
    ("audit", "/admin/audit", True), ("users", "/admin/users", True),
]


@dataclass(frozen=True)
class Admin:
    name: str = "adam"
    role: str = "admin"
    anonymous: bool = False
    staff: bool = True


def require_axe() -> Path:
    if not AXE.exists():
        reason = "axe-core is not installed (npm ci, as ./run tests does)"
        if os.environ.get("RISKATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_BROWSER=1 makes it mandatory")
        pytest.skip(reason)
    return AXE


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return answer.read().decode()


@pytest.fixture(scope="module")
def site(grenada_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A served copy of Grenada's store with an administrator and a draft card of theirs:
    {url, unit (a unit page's path), card (the card's id)}."""
    from riskatlas.services import cards

    folder = tmp_path_factory.mktemp("layout")
    db = folder / "grenada.duckdb"
    shutil.copy(grenada_db, db)
    web_user(db, "adam", "admin")
    with riskatlas.open(db) as atlas:
        made = cards.create(atlas.store, Admin(), {
            "country_iso3": "GRD", "start_year": 2004, "start_month": 9, "start_day": 7,
            "hazard_term": "HURRICANE", "deaths": 2, "comments": "Layout test card"})
    with serving(db) as url:
        screen = fetch(f"{url}/screen?lang=en")
        unit = re.search(r'href="(/unit/[^"?]+)', screen)
        assert unit, "the screen links no unit page"
        yield {"url": url, "unit": unit.group(1), "card": made["record_id"]}


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Chromium, and the signed-in administrator's cookies (storage state)."""
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    require_axe()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(60_000)  # signing in hashes a password: slow on purpose
        page.goto(f"{site['url']}/login?lang=en")
        page.fill("input[name=name]", "adam")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("load")
        assert "adam" in page.locator("#whoami").inner_text()
        state = context.storage_state()
        context.close()
        # the first, cold answers outside the browser's time per page: the public pages
        # once each (cached from then on: signing in changed the store, so not before)
        for _, path, staff in PAGES:
            for lang in LANGS if not staff else ():
                target = path.format(unit=site["unit"])
                fetch(f"{site['url']}{target}{'&' if '?' in target else '?'}lang={lang}")
        yield browser, state
        browser.close()


# what the page measures of itself: widths, small SVG text, wrapped Chinese headers, tables
MEASURE = """(minimum) => {
  const doc = document.documentElement;
  const small = [];
  for (const el of document.querySelectorAll('svg text')) {
    const m = el.getScreenCTM();
    if (!m || !el.textContent.trim() || el.getClientRects().length === 0) continue;
    const px = parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b);
    if (px < minimum) small.push([el.textContent.trim().slice(0, 30), Math.round(px * 10) / 10]);
  }
  const wrapped = [];
  for (const th of document.querySelectorAll('th')) {
    const text = th.innerText.trim();
    const head = th.closest('thead');  // a phone's stacked table hides its header row
    if (head && head.getBoundingClientRect().width < 2) continue;
    if (!/[\\u3400-\\u9fff].*[\\u3400-\\u9fff]/.test(text)) continue;
    const range = document.createRange();
    range.selectNodeContents(th);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (tops.size > 2) wrapped.push([text, tops.size]);
  }
  const tables = [...document.querySelectorAll('main table')].map(t => ({
    id: t.id || t.className,
    caption: !!(t.caption && t.caption.innerText.trim()),
    heads: t.querySelectorAll('thead th').length,
    scoped: t.querySelectorAll('thead th[scope=col]').length}));
  const skip = document.querySelector('a.skip-link[href="#main"]');
  const workbook = document.body.innerText.includes('riskatlas-tables.xlsx');
  return {scroll: Math.max(doc.scrollWidth, document.body.scrollWidth), inner: window.innerWidth,
          small, wrapped, tables, workbook, skip: !!skip && !!document.getElementById('main')};
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot into RISKATLAS_TEST_ARTIFACTS/layout, when that is set."""
    artifacts = os.environ.get("RISKATLAS_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts, "layout").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(artifacts, "layout", f"{name}.png")), full_page=True)


@pytest.fixture(scope="module")
def tabs(browser: tuple[Any, dict[str, Any]]) -> Iterator[dict[bool, Any]]:
    """A visitor's tab and the signed-in administrator's (by ``staff``), reused by every
    page: a new browser context per page cost as much as the page's checks."""
    chromium, state = browser
    # bypass_csp: the site's policy (script-src 'self') would refuse the injected axe-core
    contexts = {staff: chromium.new_context(viewport={"width": WIDTHS[-1], "height": 900},
                                            bypass_csp=True,
                                            storage_state=state if staff else None)
                for staff in (False, True)}
    try:
        pages = {staff: context.new_page() for staff, context in contexts.items()}
        for page in pages.values():
            page.set_default_timeout(PAGE_TIMEOUT_MS)
        yield pages
    finally:
        for context in contexts.values():
            context.close()


def problems_of(m: dict[str, Any], violations: list[dict[str, Any]]) -> list[str]:
    """What is wrong with a page measured at one width (MEASURE's ``m``)."""
    problems = []
    if m["scroll"] > m["inner"]:
        problems.append(f"scrolls sideways ({m['scroll']} px)")
    if violations:
        problems.append(f"axe-core: {len(violations)} serious or critical")
    if m["small"]:
        problems.append(f"chart labels under {MIN_LABEL_PX} px")
    if m["wrapped"]:
        problems.append("Chinese headers wrapped")
    if m["workbook"]:  # the report's workbook: web readers do not have it
        problems.append("cites riskatlas-tables.xlsx")
    if not m["skip"]:
        problems.append("no skip link to #main")
    if any(t["heads"] and not (t["caption"] and t["scoped"] == t["heads"])
           for t in m["tables"]):
        problems.append("a table without a caption or scope=col")
    return problems


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("name", "path", "staff"), PAGES, ids=[p[0] for p in PAGES])
def test_page_fits_and_passes_axe(site: dict[str, Any], tabs: dict[bool, Any], name: str,
                                  path: str, staff: bool, lang: str):
    """The page in ``lang`` at every width of WIDTHS (the widest first, as loaded), and
    axe-core at AXE_WIDTH."""
    page = tabs[staff]
    target = path.format(unit=site["unit"], card=site["card"])
    sep = "&" if "?" in target else "?"
    widths = sorted(WIDTHS, reverse=True)
    page.set_viewport_size({"width": widths[0], "height": 900})
    answer = page.goto(f"{site['url']}{target}{sep}lang={lang}", wait_until="load")
    assert answer is not None and answer.status == 200, (target, answer and answer.status)
    assert page.locator("html").get_attribute("lang") == lang
    reports, problems = [], []
    for width in widths:
        if width != widths[0]:
            page.set_viewport_size({"width": width, "height": 900})
        m = page.evaluate(MEASURE, MIN_LABEL_PX)
        assert m["inner"] == width, (target, width, m["inner"])
        shoot(page, f"{name}-{lang}-{width}")
        # axe-core once per page and language, on the phone's layout (the same colours and
        # markup as the laptop's, with the scrolling frames and stacked tables besides)
        violations = axe_violations(page) if width == AXE_WIDTH else []
        reports.append({"width": width, **m, "axe": violations})
        problems += [f"{width} px: {p}" for p in problems_of(m, violations)]
    report = json.dumps({"page": target, "lang": lang, "widths": reports},
                        ensure_ascii=False)
    assert not problems, f"{'; '.join(problems)}: {report}"


def test_records_newest_first_and_filtered_by_name(tmp_path: Path):
    """The records page lists the newest cards first (undated last) and filters by the
    names people know: units and hazard groups in selects (issue 15, item 4)."""
    from cards import card, store_with
    from conftest import web_client

    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                               card(2, "LANDSLIDE", 2003, "02", deaths=1),
                               card(3, "FLOOD", 2002, "02", month=11, deaths=2),
                               card(4, "FLOOD", 2002, "01", month=2, deaths=5)])
    with web_client(db) as client:
        page = client.get("/records", params={"lang": "en"}).text
        dates = re.findall(r'<td data-label="Start"[^>]*>([^<]+)</td>', page)
        assert dates == sorted(dates, reverse=True) and len(dates) == 4, dates
        admin = re.search(r'<select name="admin">(.*?)</select>', page, re.S)
        hazard = re.search(r'<select name="hazard">(.*?)</select>', page, re.S)
        assert admin and '<option value="01">Unit 01</option>' in admin.group(1)
        assert '<option value="0101">Unit 0101 — Unit 01</option>' in admin.group(1)
        assert hazard and '<option value="flood">Flood</option>' in hazard.group(1)
        assert "Landslide" in hazard.group(1)
        page = client.get("/records", params={"lang": "zh-TW", "admin": "02",
                                              "hazard": "flood"}).text
        assert len(re.findall(r'<tr><td class="code"', page)) == 1
        assert '<option value="02" selected>' in page
        assert '<option value="flood" selected>' in page
        # the profile offers the downloads it cites, and they answer
        page = client.get("/profile", params={"lang": "en"}).text
        assert "riskatlas-tables.xlsx" not in page and "the downloads on this page" in page
        links = re.findall(r'href="(/download/records\.(?:csv|xlsx)[^"]*)"', page)
        assert len(links) == 2
        for link in links:
            assert client.get(link.replace("&amp;", "&")).status_code == 200


@pytest.mark.shared_data
def test_overview_is_map_first_and_maps_lead_to_unit_pages(grenada_db: Path):
    """The overview opens on the screening map of Grenada (boundaries in its export), above
    the key-figures table; each unit of the overview's and the screen's maps links to its
    page in the reader's language, and the page answers."""
    from conftest import web_client

    with web_client(grenada_db) as client:
        home = client.get("/", params={"lang": "zh-TW"}).text
        assert 0 < home.find('<svg class="map"') < home.find('<table class="overview"')
        links = re.findall(r'<a [^>]*href="(/unit/GRD/[^"]+)"', home)
        assert len(links) >= 7 and all("lang=zh-TW" in link for link in links)
        assert client.get(links[0].replace("&amp;", "&")).status_code == 200
        screen = client.get("/screen", params={"lang": "en", "country": "GRD"}).text
        maps = screen[screen.find('id="maps"'):]
        assert len(re.findall(r'<a [^>]*href="/unit/GRD/[^"]+lang=en"', maps)) >= 14
