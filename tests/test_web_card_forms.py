"""The data-card form and its validation (issue 13, item 8 and defect 7): country, admin
units and hazard offered from the store's gazetteer and the hazard taxonomy, an unknown
unit refused where the country has a gazetteer, every problem of a card reported at once
with the field's label in the reader's language (form and API), and statuses and hazard
names translated on the card pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import riskatlas
from cards import card, store_with, write_cards
from conftest import csrf_of, login, web_client, web_user
from riskatlas.i18n import translate
from riskatlas.services import cards
from riskatlas.sources.registry import ReadOptions

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
GOOD = {"country_iso3": "LKA", "level0_code": "01", "start_year": "2002",
        "hazard_term": "FLOOD", "deaths": "4"}
# a card with six problems at once
BAD = {"country_iso3": "LKA", "level0_code": "01", "start_year": "", "hazard_term": "",
       "deaths": "-3", "injured": "abc", "start_month": "13", "latitude": "123"}
BAD_FIELDS = {"deaths", "injured", "start_year", "hazard_term", "start_month", "latitude"}


@pytest.fixture
def site(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                               card(2, "LANDSLIDE", 2003, "02", l1="0201", deaths=1)])
    tokens = {name: web_user(db, name, role) for name, role in
              (("ana", "collector"), ("vera", "validator"))}
    with web_client(db) as client:
        yield client, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_form(client, path: str, fields: dict[str, str], lang: str = "en"):
    return client.post(f"{path}?lang={lang}", data={**fields, "csrf": csrf_of(client)},
                       follow_redirects=False)


def invalid(response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "workflow.error.invalid" and error["status"] == status
    assert not UUID.search(error["message"]) and "WEB:" not in error["message"]
    return {f["field"]: f for f in error["fields"]}


def test_the_api_reports_every_problem_at_once_with_labels(site):
    client, tokens = site
    fields = invalid(client.post("/api/records?lang=zh-TW", json=BAD,
                                 headers=bearer(tokens["ana"])))
    assert set(fields) == BAD_FIELDS
    codes = {name: f["code"] for name, f in fields.items()}
    assert codes == {"deaths": "record.negative", "injured": "record.not_a_number",
                     "start_year": "record.no_year", "hazard_term": "record.no_hazard",
                     "start_month": "record.month_out_of_range",
                     "latitude": "record.out_of_range"}
    for name, f in fields.items():
        assert f["label"] == translate(f"workflow.field.{name}", "zh-TW")
        assert f["message"] and not UUID.search(f["message"])
    # the message names every field by its label, none by its key
    response = client.post("/api/records?lang=zh-TW", json=BAD, headers=bearer(tokens["ana"]))
    message = response.json()["error"]["message"]
    assert all(translate(f"workflow.field.{n}", "zh-TW") in message for n in BAD_FIELDS)
    assert not re.search(r"\b(deaths|injured|start_year|hazard_term)\b", message)
    # nothing was stored
    assert client.get("/api/records", headers=bearer(tokens["vera"])).json()["total"] == 2


def test_the_domain_lists_structural_problems_too(tmp_path: Path):
    """What the API's body model may already refuse (422) is refused by the workflow too,
    with the rest: the forms and any other caller share its rules."""
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01")])
    body = {**GOOD, "colour": "red", "deaths": [1], "comments": "x" * 5000, "start_day": "40",
            "start_month": "2", "injured": "2.5"}
    with riskatlas.open(db) as atlas, pytest.raises(cards.CardInvalidError) as caught:
        cards.checked_card(atlas.store, "n1", body, ["colour"], status="draft",
                              author="ana")
    fields = {f["field"]: f for f in caught.value.fields("en")}
    assert {n: f["code"] for n, f in fields.items()} == {
        "colour": "workflow.problem.unknown_field", "deaths": "workflow.problem.bad_value",
        "comments": "workflow.problem.too_long", "start_day": "record.day_out_of_range",
        "injured": "record.not_integer", "unknown": "workflow.problem.bad_unknown"}
    assert list(fields)[-2:] == ["colour", "unknown"]  # the form's order, then the rest
    assert fields["comments"]["message"] == "at most 4000 characters"
    # a day kept out for want of a month is not listed when the month is
    with riskatlas.open(db) as atlas, pytest.raises(cards.CardInvalidError) as caught:
        cards.checked_card(atlas.store, "n2", {**GOOD, "start_month": "x", "start_day": "3"},
                              None, status="draft", author="ana")
    assert [f["field"] for f in caught.value.fields("en")] == ["start_month"]


def test_an_edit_reports_every_problem_too(site):
    client, tokens = site
    created = client.post("/api/records", json=GOOD, headers=bearer(tokens["ana"]))
    rid = created.json()["record"]["record_id"]
    fields = invalid(client.patch(f"/api/records/{rid}", json={"deaths": "-1", "start_year": "",
                                                               "level1_code": "0999"},
                                  headers=bearer(tokens["ana"])))
    assert set(fields) == {"deaths", "start_year", "level1_code"}
    assert client.get(f"/api/records/{rid}", headers=bearer(tokens["ana"])).json()[
        "record"]["deaths"] == 4


def test_the_form_shows_every_problem_by_label_in_the_readers_language(site):
    client, _ = site
    login(client, "ana")
    page = post_form(client, "/cards/new", BAD, lang="zh-TW")
    assert page.status_code == 400
    problems = re.findall(r'<li data-field="([a-z0-9_]+)">(.*?)</li>', page.text)
    assert {name for name, _ in problems} == BAD_FIELDS
    for name, text in problems:
        text = re.sub(r"<[^>]+>", "", text)
        assert text.startswith(translate(f"workflow.field.{name}", "zh-TW")), text
        assert not UUID.search(text) and name not in text
    assert "web：" not in page.text and "WEB:" not in page.text
    # the values are kept, and each bad field is marked
    assert 'value="abc"' in page.text
    assert len(re.findall(r'aria-invalid="true"', page.text)) == len(BAD_FIELDS)


def test_an_unknown_admin_code_is_refused_where_the_country_has_a_gazetteer(site):
    client, tokens = site
    for changes, field in (({"level1_code": "0199"}, "level1_code"),
                           ({"level0_code": "77"}, "level0_code"),
                           ({"level1_name": "Unit 9999"}, "level1_name"),
                           ({"level0_code": "02", "level1_code": "0101"}, "level1_code"),
                           ({"country_iso3": "XXZ"}, "country_iso3")):
        fields = invalid(client.post("/api/records", json={**GOOD, **changes},
                                     headers=bearer(tokens["ana"])))
        assert set(fields) == {field}, changes
        expected = ("unknown_country" if field == "country_iso3" else
                    "unknown_unit_name" if field == "level1_name" else
                    "not_under" if "level0_code" in changes and "level1_code" in changes
                    else "unknown_unit")
        assert fields[field]["code"] == f"workflow.problem.{expected}", changes
    # a known unit: the levels above and the names come from the gazetteer
    rec = client.post("/api/records", json={**GOOD, "level0_code": "", "level1_code": "0101"},
                      headers=bearer(tokens["ana"])).json()["record"]
    assert (rec["level0_code"], rec["level0_name"], rec["level1_name"]) == \
        ("01", "Unit 01", "Unit 0101")
    # a name alone finds its code; a level the gazetteer lacks takes codes as given
    rec = client.post("/api/records", json={**GOOD, "level1_name": "unit 0101",
                                            "level2_code": "010101"},
                      headers=bearer(tokens["ana"])).json()["record"]
    assert (rec["level1_code"], rec["level2_code"]) == ("0101", "010101")


def test_a_country_without_a_gazetteer_takes_codes_as_given(site):
    client, tokens = site
    response = client.post("/api/records", json={**GOOD, "country_iso3": "npl",
                                                  "level0_code": "X1", "level1_code": "X1-9"},
                           headers=bearer(tokens["ana"]))
    assert response.status_code == 201, response.text
    assert response.json()["record"]["country_iso3"] == "NPL"
    assert response.json()["record"]["level1_code"] == "X1-9"
    # the store's one country is the default
    rec = client.post("/api/records", json={k: v for k, v in GOOD.items()
                                            if k != "country_iso3"},
                      headers=bearer(tokens["ana"])).json()["record"]
    assert rec["country_iso3"] == "LKA"


def test_a_card_needs_a_country_when_the_store_has_several(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01")])
    with riskatlas.open(db) as atlas:
        atlas.import_paths([write_cards(tmp_path / "npl.csv", [card(2, "FLOOD", 2001, "05")])],
                           options=ReadOptions(country="NPL"))
    token = web_user(db, "ana", "collector")
    with web_client(db) as client:
        body = {k: v for k, v in GOOD.items() if k not in ("country_iso3", "level0_code")}
        fields = invalid(client.post("/api/records", json=body, headers=bearer(token)))
        assert fields["country_iso3"]["code"] == "workflow.problem.no_country"
        login(client, "ana")
        page = client.get("/cards/new?lang=en").text
        assert '<option value="LKA"' in page and '<option value="NPL"' in page
        assert '<datalist id="units-0"></datalist>' in page  # which country's?
        # the units listed are those of the country chosen (the form's "show units" button)
        refreshed = post_form(client, "/cards/new", {"country_iso3": "npl", "deaths": "-1",
                                                     "refresh": "1"})
        assert refreshed.status_code == 200 and 'aria-invalid' not in refreshed.text
        units = re.search(r'<datalist id="units-0">(.*?)</datalist>', refreshed.text).group(1)
        assert re.findall(r'value="([^"]+)"', units) == ["05"]
        assert 'value="-1"' in refreshed.text
        assert client.get("/api/records", headers=bearer(token)).json()["total"] == 2


def test_the_form_offers_the_gazetteer_and_the_taxonomy(site):
    client, _ = site
    login(client, "ana")
    page = client.get("/cards/new?lang=zh-TW").text
    for name, options in (("country_iso3", "countries"), ("level0_code", "units-0"),
                          ("level1_code", "units-1"), ("level2_code", "units-2"),
                          ("hazard_term", "hazards")):
        assert re.search(rf'name="{name}"[^>]*list="{options}"', page), name
        assert f'<datalist id="{options}">' in page
    units = re.search(r'<datalist id="units-1">(.*?)</datalist>', page, re.S).group(1)
    assert re.findall(r'value="([^"]+)"', units) == ["0101", "0201"]
    assert "Unit 0101" in units
    hazards = re.search(r'<datalist id="hazards">(.*?)</datalist>', page, re.S).group(1)
    flood = re.search(r'<option value="FLOOD" label="([^"]+)"', hazards)
    assert flood and "水災" in flood.group(1)
    assert len(re.findall("<option", hazards)) > 100  # the crosswalk's terms too
    # the store's one country is filled in
    assert re.search(r'name="country_iso3"[^>]*value="LKA"', page)
    # no script needed, nothing from elsewhere
    assert "<script" not in page and "http" not in re.sub(r'href="[^"]*"', "", page)


def test_statuses_and_hazards_are_translated_on_card_pages(site):
    client, tokens = site
    rid = client.post("/api/records", json=GOOD, headers=bearer(tokens["ana"])).json()[
        "record"]["record_id"]
    client.post(f"/api/records/{rid}/transition", json={"to": "submitted"},
                headers=bearer(tokens["ana"]))
    login(client, "ana")
    page = client.get(f"/card?id={rid}&lang=zh-TW").text
    cells = dict(re.findall(r'<td class="([a-z0-9_]+)">(.*?)</td>', page))
    assert cells["approval_status"] == translate("workflow.state.submitted", "zh-TW")
    assert "水災" in cells["hazard_group"] and "flood" not in cells["hazard_group"]
    assert "Sri Lanka" not in cells["country_iso3"] and "斯里蘭卡" in cells["country_iso3"]
    listing = client.get("/cards?lang=zh-TW").text
    assert "水災" in listing and ">submitted<" not in listing
    english = client.get(f"/card?id={rid}&lang=en").text
    assert ">Flood" in english and ">submitted<" in english
    # a conflict names the status in the reader's language
    response = client.patch(f"/api/records/{rid}?lang=zh-TW", json={"deaths": 1},
                            headers=bearer(tokens["ana"]))
    assert response.status_code == 409
    assert translate("workflow.state.submitted", "zh-TW") in response.json()["error"]["message"]


@pytest.mark.browser
def test_the_form_in_chromium(tmp_path: Path):
    """In a real browser: the lists are there without any script, a refused card shows
    every problem by its label next to its field, Enter in a field saves (not "show
    units"), and the saved card reads in the reader's language."""
    from playwright.sync_api import sync_playwright

    from conftest import PASSWORD, require_chromium, serving

    chromium = require_chromium()
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3)])
    web_user(db, "ana", "collector")
    with serving(db) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-TW").new_page()
        page.goto(f"{url}/login?lang=zh-TW")
        page.fill("input[name=name]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("load")
        page.goto(f"{url}/cards/new?lang=zh-TW")
        assert page.input_value("[name=country_iso3]") == "LKA"
        assert page.locator("#hazards option[value=FLOOD]").count() == 1
        assert page.eval_on_selector("[name=level1_code]", "e => e.list.id") == "units-1"
        for name, value in (("deaths", "-3"), ("injured", "abc"), ("level1_code", "0199")):
            page.fill(f"[name={name}]", value)
        page.click("#save")
        page.wait_for_load_state("load")
        problems = page.locator("#problems li").all_inner_texts()
        assert len(problems) == 5, problems  # deaths, injured, unit, year, hazard
        assert any(t.startswith(translate("workflow.field.start_year", "zh-TW")) for t in problems)
        assert page.locator("[aria-invalid=true]").count() == 5
        assert page.input_value("[name=injured]") == "abc"
        page.screenshot(path=str(tmp_path / "card-form-problems.png"), full_page=True)
        for name, value in (("deaths", "3"), ("injured", ""), ("level1_code", "0101"),
                            ("start_year", "2002"), ("hazard_term", "FLOOD")):
            page.fill(f"[name={name}]", value)
        page.press("[name=hazard_term]", "Enter")
        page.wait_for_load_state("load")
        assert page.locator("#record-id").inner_text().startswith("WEB:")
        assert page.locator("td.approval_status").inner_text() == translate(
            "workflow.state.draft", "zh-TW")
        assert "水災" in page.locator("td.hazard_group").inner_text()
        assert page.locator("td.level1_name").inner_text() == "Unit 0101"
        browser.close()


def test_the_records_page_reads_its_filter_choices_once_per_served_copy(tmp_path: Path):
    """The gazetteer, the unit options and the hazard groups of the records page are read
    once per served copy (a memo): the second page asks the store nothing, and gives the
    same choices; a code asked for that the gazetteer lacks is still offered. Without a
    memo (the live store) every call reads them."""
    from riskatlas.store.memo import Memo
    from riskatlas.web import choices

    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                               card(2, "LANDSLIDE", 2003, "02", l1="0201", deaths=1)])
    with riskatlas.open(db, read_only=True) as atlas:
        read: list[str] = []
        table = atlas.store.table
        atlas.store.table = lambda name, *a, **k: read.append(name) or table(name, *a, **k)

        def choose(lang: str, admin: str | None = None) -> tuple[list, list]:
            return (choices.unit_filter_options(atlas, "lka", admin),
                    choices.hazard_group_options(atlas, None, lang))

        plain = choose("en")
        assert {"admin_units", "records"} <= set(read)
        read.clear()
        assert choose("en") == plain and read  # no memo: read again
        atlas.store.memo = Memo()
        first = choose("en")
        assert first == plain
        read.clear()
        assert choose("en") == plain and choose("zh-TW")[0] == plain[0]
        assert [name for name, _ in choose("zh-TW")[1]] != [] and not read
        units, _ = choose("en", admin="9999")
        assert units[-1] == (-1, [("9999", "9999")]) and not read
        assert [code for _, code_names in plain[0] for code, _ in code_names] == [
            "01", "02", "0101", "0201"]
