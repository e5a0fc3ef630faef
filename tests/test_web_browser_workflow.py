"""The data-card workflow in headless Chromium (Debian's, driven by Playwright) against a
real uvicorn server: a collector signs in, fills in a card and submits it; a validator
signs in, validates and publishes it; an anonymous visitor then finds it in the records
browser and in the hazard profile; the language switch changes the page text. One
Chromium serves the module (each test its own server and browser contexts); screenshots
go to RISKATLAS_TEST_ARTIFACTS when that is set (nothing asserts on them)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cards import card, store_with
from conftest import PASSWORD, require_chromium, serving, web_user

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    # a new card must fall in the store's period of record (2001–2003) to count
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                               card(2, "LANDSLIDE", 2003, "01", deaths=1)])
    web_user(db, "ana", "collector")
    web_user(db, "vera", "validator")
    with serving(db) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, launched once for the module."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into RISKATLAS_TEST_ARTIFACTS, when that is set."""
    artifacts = os.environ.get("RISKATLAS_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(artifacts) / f"workflow-{name}.png"), full_page=True)


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The module's Chromium; the contexts a test opens are closed after it."""
    yield chromium
    for context in chromium.contexts:
        context.close()


def flood_deaths(page) -> str:
    """The flood row of the deaths table on the profile page."""
    section = page.locator("figure.profile").filter(has=page.locator("h2", has_text="Deaths"))
    return section.locator("tbody tr", has_text="Flood").first.inner_text()


def sign_in(server: str, page: Any, name: str) -> Any:
    """``page`` signed in as ``name`` through the login form."""
    page.goto(f"{server}/login?lang=en")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("load")
    assert name in page.locator("#whoami").inner_text()
    return page


@pytest.mark.browser
def test_card_workflow_in_chromium(server: str, browser: Any):
    visitor = browser.new_context(locale="en-GB").new_page()
    visitor.goto(f"{server}/profile?country=LKA&lang=en")
    before = flood_deaths(visitor)
    assert re.search(r"\b3\b", before), before
    shot(visitor, "profile-before")

    # the collector enters a card and submits it
    collector = browser.new_context(locale="en-GB")
    page = sign_in(server, collector.new_page(), "ana")
    page.goto(f"{server}/cards/new?lang=en")
    for name, value in (("country_iso3", "LKA"), ("level0_code", "01"),
                        ("level0_name", "Unit 01"), ("start_year", "2002"),
                        ("start_month", "11"), ("hazard_term", "FLOOD"),
                        ("deaths", "40"), ("affected", "120"),
                        ("comments", "Browser-entered flood <script>x</script>")):
        page.fill(f"[name={name}]", value)
    shot(page, "form-filled")
    page.click("#save")
    page.wait_for_load_state("load")
    record_id = page.locator("#record-id").inner_text()
    assert record_id.startswith("WEB:")
    assert page.locator("#status").inner_text() == "draft"
    page.click("#to-submitted")
    page.wait_for_load_state("load")
    assert page.locator("#status").inner_text() == "submitted"
    assert page.locator("#to-validated").count() == 0  # not for the author
    shot(page, "submitted")

    # not yet visible to visitors
    visitor.goto(f"{server}/records?q=Browser-entered&lang=en")
    assert visitor.locator("table.records tbody tr td.code").count() == 0

    # the validator finds it in the queue, validates and publishes it
    validator = browser.new_context(locale="en-GB")
    page = sign_in(server, validator.new_page(), "vera")
    page.goto(f"{server}/cards?lang=en")
    page.locator("#queue a", has_text=record_id).click()
    page.wait_for_load_state("load")
    page.click("#to-validated")
    page.wait_for_load_state("load")
    assert page.locator("#status").inner_text() == "validated"
    page.click("#to-published")
    page.wait_for_load_state("load")
    assert page.locator("#status").inner_text() == "published"
    shot(page, "published")

    # the visitor now sees it in the records browser and in the profile
    visitor.goto(f"{server}/records?q=Browser-entered&lang=en")
    assert visitor.locator("table.records tbody td.code", has_text=record_id).count() == 1
    assert "<script>x</script>" in visitor.locator("td.comments").first.inner_text()
    assert visitor.locator("td.comments script").count() == 0  # shown, not run
    shot(visitor, "records-after")
    visitor.goto(f"{server}/profile?country=LKA&lang=en")
    after = flood_deaths(visitor)
    assert after != before and re.search(r"\b43\b", after), after
    shot(visitor, "profile-after")

    # the language switch changes the page text
    visitor.locator("#lang-switch").click()
    visitor.wait_for_load_state("load")
    assert visitor.locator("html").get_attribute("lang") == "zh-TW"
    text = visitor.inner_text("body")
    assert len(CJK.findall(text)) > 30 and "登入" in text
    shot(visitor, "profile-zh-TW")


@pytest.mark.browser
def test_an_uploaded_dataset_is_reviewed_and_published_in_chromium(server: str, browser: Any,
                                                                   tmp_path: Path):
    """Issue 13, item 1: a collector uploads a DesInventar table through the upload page;
    visitors do not find its cards; a validator publishes the whole dataset from the review
    page (validate, then publish); visitors now find them (the anonymous answers cached
    before stay right: the cache is keyed on the store's files)."""
    from cards import write_cards

    upload = write_cards(tmp_path / "storms-2002.csv", [
        card(71, "STORM", 2002, "01", deaths=5, comments="Uploaded storm on the coast"),
        card(72, "STORM", 2002, "01", month=9, deaths=2,
             comments="Uploaded storm inland")])
    search = f"{server}/records?q=Uploaded+storm&lang=en"

    def found(page) -> int:
        page.goto(search)
        return page.locator("table.records tbody td.code").count()

    visitor = browser.new_context(locale="en-GB").new_page()
    assert found(visitor) == 0

    # the collector uploads the file: its cards arrive submitted
    page = sign_in(server, browser.new_context(locale="en-GB").new_page(), "ana")
    page.goto(f"{server}/upload?lang=en")
    page.set_input_files("#upload-form input[name=file]", str(upload))
    page.fill("#upload-form input[name=country]", "LKA")
    page.click("#upload-form button[type=submit]")
    page.wait_for_load_state("load")
    assert "2 of 2 records imported" in page.locator("#report").inner_text()
    assert page.locator("a[href^='/review']").count() == 0  # not a reviewer
    assert found(visitor) == 0  # submitted: not public

    # the validator publishes the whole dataset from the review page
    page = sign_in(server, browser.new_context(locale="en-GB").new_page(), "vera")
    page.goto(f"{server}/cards?lang=en")
    page.click("#review-link")
    page.wait_for_load_state("load")
    row = page.locator("#datasets tbody tr", has_text="storms-2002.csv")
    assert "ana" in row.inner_text() and "submitted: 2" in row.inner_text()
    assert row.locator("button[id^=publish-]").count() == 0  # validate first
    row.locator("button[id^=validate-]").click()
    page.wait_for_load_state("load")
    assert "2 cards" in page.locator("#done").inner_text()
    assert found(visitor) == 0  # validated: still not public
    row = page.locator("#datasets tbody tr", has_text="storms-2002.csv")
    row.locator("button[id^=publish-]").click()
    page.wait_for_load_state("load")
    assert "published" in page.locator("#done").inner_text()
    assert page.locator("#datasets tbody tr", has_text="storms-2002.csv").count() == 0
    shot(page, "review-published")

    # visitors now find both cards
    assert found(visitor) == 2
    assert "Uploaded storm inland" in visitor.locator("table.records tbody").inner_text()
