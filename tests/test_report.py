"""`riskatlas assess` end to end on real exports: HTML opened in headless Chromium (Debian's
chromium driven by Playwright), the PDF turned into page images with pdftoppm."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_chromium, shared

pytestmark = [pytest.mark.shared_data, pytest.mark.slow, pytest.mark.browser]

# message keys or unformatted placeholders leaking into a page
LEAKS = re.compile(r"\b(report|column|class|metric|trend|indicator|assess|analysis)\.[a-z_0-9]+\b"
                   r"|\{[a-z_]+\}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def require_browser() -> str:
    """Chromium and Playwright (conftest), plus pdftoppm for the PDF pages."""
    chromium = require_chromium()
    if not shutil.which("pdftoppm"):
        reason = "the report tests need pdftoppm (poppler-utils), absent here"
        if os.environ.get("RISKATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_BROWSER=1 makes it mandatory")
        pytest.skip(reason)
    return chromium


def assess(source: Path, out: Path, db: Path, lang: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "riskatlas", "assess", str(source), "--db",
                           str(db), "--out", str(out), "--lang", lang, *args],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_html(html: Path, chromium: str, shots: Path, *, lang: str, maps: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        assert [u for u in requests if not u.startswith("file:")] == [], "works offline"
        charts = page.locator("svg.chart")
        assert charts.count() >= 4
        assert page.locator("svg.chart rect").count() > 0  # bars were drawn
        box = charts.first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 10
        if maps:
            assert page.locator("svg.map path").count() > 0
        else:
            assert page.locator("svg.map").count() == 0
        text = page.inner_text("body")
        assert not LEAKS.findall(text), LEAKS.findall(text)[:5]
        empty = page.evaluate("""() => [...document.querySelectorAll('h1,h2,h3,th,li,svg text')]
                                  .filter(e => !e.textContent.trim()).length""")
        assert empty == 0
        if lang == "zh-TW":
            assert len(CJK.findall(text)) > 200
            assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK TC\"', '災害風險')")
        page.screenshot(path=str(shots / f"{html.stem}-top.png"))
        page.screenshot(path=str(shots / f"{html.stem}-full.png"), full_page=True)
        browser.close()


def check_pdf(pdf: Path, shots: Path, paper: str = "A4") -> None:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    assert f"({paper})" in info, info  # "Page size: 595.92 x 842.88 pts (A4)"
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(shots / pdf.stem)],
                   check=True, timeout=300)
    pages = sorted(shots.glob(f"{pdf.stem}-*.png"))
    assert len(pages) >= 3
    assert all(p.stat().st_size > 2_000 for p in pages[:3])  # not blank


def _artifacts(tmp_path: Path, name: str) -> Path:
    """Screenshots go to $RISKATLAS_TEST_ARTIFACTS/name when set (kept), else tmp_path."""
    root = os.environ.get("RISKATLAS_TEST_ARTIFACTS")
    folder = Path(root) / name if root else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_assess_grenada_report(tmp_path, lang):
    chromium = require_browser()
    out = tmp_path / "report"
    stdout = assess(shared("desinventar/grd/DI_export_grd.zip"), out, tmp_path / "g.duckdb",
                    lang)
    assert "riskatlas-report" in stdout
    shots = _artifacts(tmp_path, f"grenada-{lang}")
    html = out / f"riskatlas-report-{lang}.html"
    check_html(html, chromium, shots, lang=lang, maps=True)
    check_pdf(out / f"riskatlas-report-{lang}.pdf", shots)
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"profile", "screen", "advice", "risk", "sendai", "records", "peers",
            "quality"} <= tables
    from riskatlas.i18n import translate

    assert translate("report.data_quality", lang) in html.read_text("utf-8")
    from openpyxl import load_workbook

    book = load_workbook(out / "riskatlas-tables.xlsx", read_only=True)
    assert {"screen", "records", "advice"} <= set(book.sheetnames)
    # every number traces back: a row per card counted (default statuses) dated inside the
    # period of record, + header; the cards outside it are in the notes (riskatlas periods)
    import riskatlas

    with riskatlas.open(tmp_path / "g.duckdb", read_only=True) as atlas:
        counted = atlas.periods(by_dataset=False).iloc[0]
    assert counted.period_from > 1771 and counted.outside > 0
    assert book["records"].max_row == 1 + counted.cards


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_assess_nepal_report(tmp_path_factory, lang):
    chromium = require_browser()
    tmp = tmp_path_factory.mktemp(f"nepal-{lang}")
    out = tmp / "report"
    letter = lang == "zh-TW"  # --paper letter on one of the two runs
    stdout = assess(shared("desinventar/npl-xlsx"), out, tmp / "n.duckdb", lang,
                    "--country", "NPL", *(["--paper", "letter"] if letter else []))
    assert ("Units at highest risk" if lang == "en" else "風險最高") in stdout
    shots = _artifacts(tmp, f"nepal-{lang}")
    check_html(out / f"riskatlas-report-{lang}.html", chromium, shots, lang=lang, maps=False)
    check_pdf(out / f"riskatlas-report-{lang}.pdf", shots, "letter" if letter else "A4")
