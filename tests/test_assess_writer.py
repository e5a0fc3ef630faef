"""Writing a report in parallel: the tables in a forked process (their result or their
error comes back), and one Chromium started ahead that prints every page over the
DevTools pipe, the same PDF as ``chromium --print-to-pdf``."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from riskatlas.errors import ReportError
from riskatlas.report.writer import forked

PAGE = """<!doctype html><html lang="zh-TW"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 12mm; } h2 { break-before: page; } .band { background: #c33; }
</style></head><body><h1>RiskAtlas 測試</h1><p class="band">坡地災害（含土石流）</p>
<h2>Second</h2><p>page two</p><h2>Third</h2><p>page three</p></body></html>"""


def _answer(x: int) -> tuple[int, int]:
    return x * 2, os.getpid()


def _fails(key: str) -> None:
    raise ReportError(key, reason="forked")


def test_forked_returns_the_result_computed_in_another_process():
    job = forked(_answer, 21)
    value, pid = job()
    assert value == 42
    assert pid != os.getpid()  # it ran elsewhere (Linux forks)


def test_forked_raises_the_childs_error_in_the_parent():
    job = forked(_fails, "report.pdf_failed")
    with pytest.raises(ReportError) as raised:
        job()
    assert raised.value.key == "report.pdf_failed"
    assert raised.value.params == {"reason": "forked"}


def _pdf_text(pdf: Path) -> tuple[int, str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(x.split()[-1] for x in info.splitlines() if x.startswith("Pages:")))
    size = next(x for x in info.splitlines() if x.startswith("Page size:"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return pages, size + text


@pytest.mark.browser
def test_a_browser_started_ahead_prints_what_print_to_pdf_prints(tmp_path, monkeypatch):
    from conftest import require_chromium
    from riskatlas.report.pdf import Browser, html_to_pdf

    require_chromium()
    profiles = tmp_path / "profiles"  # where the browsers' profile folders go
    profiles.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(profiles))
    html = tmp_path / "page.html"
    html.write_text(PAGE, encoding="utf-8")
    alone = html_to_pdf(html, tmp_path / "alone.pdf")
    browser = Browser.start()
    assert browser is not None
    with browser:
        ahead = html_to_pdf(html, tmp_path / "ahead.pdf", browser=browser)
        again = browser.print_pdf(html, tmp_path / "again.pdf")  # a second tab
    assert not browser.alive
    pages, text = _pdf_text(ahead)
    assert pages == 3 and "A4" in text and "坡地災害（含土石流）" in text
    assert (pages, text) == _pdf_text(alone) == _pdf_text(again)
    if subprocess.run(["which", "pdftoppm"], capture_output=True).returncode == 0:
        for name in ("alone", "ahead"):  # the same pixels
            subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / f"{name}.pdf"),
                            str(tmp_path / name)], check=True)
        for shot in sorted(tmp_path.glob("alone-*.png")):
            other = tmp_path / shot.name.replace("alone", "ahead")
            assert shot.read_bytes() == other.read_bytes(), shot.name
    assert not any(profiles.iterdir())  # their profile folders removed


@pytest.mark.browser
def test_a_print_out_of_time_is_a_report_error_and_leaves_no_profile(tmp_path, monkeypatch):
    from conftest import require_chromium
    from riskatlas.report.pdf import html_to_pdf

    require_chromium()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    html = tmp_path / "page.html"
    html.write_text(PAGE, encoding="utf-8")
    with pytest.raises(ReportError) as raised:
        html_to_pdf(html, tmp_path / "late.pdf", timeout=0.05)
    assert raised.value.key == "report.pdf_failed" and raised.value.params["reason"] == "0.05 s"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


@pytest.mark.browser
def test_a_page_that_cannot_load_is_a_report_error_and_a_gone_browser_falls_back(tmp_path):
    from conftest import require_chromium
    from riskatlas.report.pdf import Browser, html_to_pdf

    require_chromium()
    browser = Browser.start()
    assert browser is not None
    with browser:
        with pytest.raises(ReportError):
            browser.print_pdf(tmp_path / "missing.html", tmp_path / "missing.pdf", timeout=60)
        assert browser.alive  # one page's failure leaves the browser printing
        browser._process.kill()
        deadline = time.monotonic() + 10
        while browser.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        html = tmp_path / "page.html"
        html.write_text(PAGE, encoding="utf-8")
        pdf = html_to_pdf(html, tmp_path / "page.pdf", browser=browser)  # its own Chromium
    assert _pdf_text(pdf)[0] == 3


def _reference_sheet(frame):
    """The worksheet rows as the cell-by-cell writer builds them (xlsx.cell per value)."""
    from riskatlas.report.xlsx import cell, column_letter

    letters = [column_letter(i) for i in range(len(frame.columns))]
    return "".join(
        f'<row r="{n}">' + "".join(cell(f"{letters[i]}{n}", v) for i, v in enumerate(row))
        + "</row>" for n, row in enumerate(frame.itertuples(index=False, name=None), start=2))


def test_the_columnar_xlsx_cells_are_those_written_value_by_value():
    import numpy as np
    import pandas as pd

    from riskatlas.report.xlsx import Sheet, sheet_xml

    rng = np.random.default_rng(15)
    texts = [" lead", "trail ", "a&b<c>\"'", "", None, "\u3000全形", "x\xa0", "\x85",
             "tab\there", "line\nbreak", "\u2028", "坡地災害（含土石流）", "'=1+2", "ok"]
    escaped = [*texts, "_x0041_", "bell\x07"]  # these go value by value
    n = 400
    frame = pd.DataFrame({
        "int": rng.integers(-10**12, 10**12, n),
        "float": rng.choice([0.1 + 0.2, -0.0, 1e16, 3.0, np.nan, 1 / 3, 1e15 - 1, -7.0], n),
        "whole": rng.choice([1.0, np.nan, 25.0, -3.0], n),
        "nullable": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
        "bool": rng.choice([True, False], n),
        "str": pd.array(rng.choice(np.array(texts, dtype=object), n), dtype="str"),
        "object": pd.Series(rng.choice(np.array(texts, dtype=object), n), dtype=object),
        "escaped": pd.array(rng.choice(np.array(escaped, dtype=object), n), dtype="str"),
        "mixed": pd.Series(rng.choice(np.array([1, "a", None, 2.5, True, np.nan], dtype=object),
                                      n), dtype=object),
        "date": pd.to_datetime(rng.choice(["2011-01-02", None, "1999-12-31 10:00:01"], n),
                               format="ISO8601").astype("datetime64[s]"),
        "stamp": pd.to_datetime(rng.choice(["2011-01-02 00:00:00.5", None], n),
                                format="ISO8601"),
    })
    xml = sheet_xml(Sheet(frame))
    body = xml[xml.index("</row>") + len("</row>"):xml.index("</sheetData>")]
    assert body == _reference_sheet(frame)


def test_tables_both_languages_share_are_flattened_and_laid_out_once(tmp_path, monkeypatch):
    import zipfile
    from types import SimpleNamespace

    import pandas as pd

    from riskatlas.report import tables, xlsx

    records = pd.DataFrame({"record_id": ["a:1", "a:2"], "deaths": [3, 0]})
    frames = {"en": {"records": records, "events": pd.DataFrame({"hazard_name": ["Flood"]})},
              "zh-TW": {"records": records, "events": pd.DataFrame({"hazard_name": ["水災"]})}}
    monkeypatch.setattr(tables, "report_tables", lambda a: frames[a.lang])
    calls = {"flat": 0, "rows": 0}

    def counting(function, key):
        def counted(*args):
            calls[key] += 1
            return function(*args)
        return counted

    monkeypatch.setattr(tables, "_flat", counting(tables._flat, "flat"))
    monkeypatch.setattr(xlsx, "_rows", counting(xlsx._rows, "rows"))
    langs = [SimpleNamespace(lang="en"), SimpleNamespace(lang="zh-TW")]
    written = tables.write_tables_of(langs, [tmp_path / "en", tmp_path / "zh-TW"])
    assert calls == {"flat": 3, "rows": 3}  # records once, each language's events
    (en, en_book), (zh, zh_book) = written
    assert (en / "records.csv").read_bytes() == (zh / "records.csv").read_bytes()
    assert "水災" in (zh / "events.csv").read_text(encoding="utf-8")
    sheets = {}
    for lang, book in (("en", en_book), ("zh-TW", zh_book)):
        with zipfile.ZipFile(book) as z:
            sheets[lang] = z.read("xl/worksheets/sheet1.xml").decode()
    for lang, sheet in sheets.items():  # the same rows under each language's headers
        assert tables.header_label("deaths", lang) in sheet
        assert sheet.split("</row>", 1)[1] == sheets["en"].split("</row>", 1)[1]
