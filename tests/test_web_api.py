"""The open JSON API (`riskatlas serve`): every endpoint's shape on the real Grenada export,
one error shape for every failure, injection strings in every filter, escaping of stored
text, and reading while another process holds the store for an import."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import riskatlas
from cards import card, store_with
from conftest import holding_store, web_client

INJECTIONS = ("' OR 1=1 --", '"; DROP TABLE records; --')
SCRIPT = "<script>alert(1)</script> flooded road"
ENDPOINTS = {  # path → (query, the analysis named in meta)
    "/api/profile": ("country=GRD&level=1&metric=deaths&metric=records", "profile"),
    "/api/events": ("country=GRD&year_from=1990", "events"),
    "/api/risk": ("country=GRD&level=1", "risk"),
    "/api/sendai": ("country=GRD", "sendai"),
    "/api/screen": ("country=GRD&level=2&all_hazards=true", "screen"),
    "/api/advice": ("country=GRD&level=2&top=3", "advice"),
    "/api/peers": ("country=GRD&admin=GRD0101&level=2&k=3", "peers"),
    "/api/records": ("country=GRD&hazard=flood&page_size=5", "records"),
    "/api/datasets": ("", "datasets"),
    "/api/hazards": ("", "hazards"),
}
ANALYSES = {"profile", "events", "risk", "sendai", "screen", "advice", "peers"}


@pytest.fixture(scope="module")
def grd(grenada_db: Path):
    with web_client(grenada_db, public_all=True) as client:  # every card, as imported
        yield client


@pytest.fixture(scope="module")
def cards_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("webcards")
    return store_with(folder, [
        card(1, "FLOOD", 2001, "01", l1="0101", deaths=3, affected=100, comments=SCRIPT),
        card(2, "LANDSLIDE", 2003, "01", l1="0102", deaths=1, destroyed=4),
        card(3, "FLOOD", 2005, "02", l1="0201", deaths=0, affected=40,
             comments="bridge washed away"),
        card(4, "DROUGHT", 2010, "02", l1="0202", affected=1000),
    ])


@pytest.fixture(scope="module")
def small(cards_db: Path):
    with web_client(cards_db) as client:
        yield client


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    # a refused data card adds its problems, each with its field (test_web_card_forms.py)
    assert set(body["error"]) - {"fields"} == {"code", "message", "status"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] and body["error"]["message"]
    assert not re.search(r"\{[a-z_]+\}", body["error"]["message"]), "unformatted placeholder"
    return body["error"]


# --- shapes ---

@pytest.mark.shared_data
@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_every_endpoint_answers_meta_and_rows(grd, path: str):
    query, analysis = ENDPOINTS[path]
    response = grd.get(f"{path}?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "NaN" not in response.text and "Infinity" not in response.text
    body = response.json()
    assert isinstance(body["rows"], list) and body["rows"], path
    assert isinstance(body["rows"][0], dict)
    meta = body["meta"]
    assert meta["analysis"] == analysis and meta["lang"] == "en"
    if analysis in ANALYSES:
        assert {"scope", "engine", "methods_version", "methods_digest", "notes"} <= set(meta)
        assert meta["engine"] == "duckdb"


@pytest.mark.shared_data
def test_records_page_total_dates_and_nulls(grd):
    body = grd.get("/api/records?country=grd&page=2&page_size=7").json()
    assert body["total"] == 162 and body["page"] == 2 and body["page_size"] == 7
    assert body["pages"] == 24 and len(body["rows"]) == 7
    row = body["rows"][0]
    assert "raw" not in row and row["country_iso3"] == "GRD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["start_date"])
    assert any(v is None for r in body["rows"] for v in r.values())  # NaN → null
    flood = grd.get("/api/records?hazard=flood&year_from=2000&year_to=2010").json()
    assert flood["total"] == len(flood["rows"]) > 0
    assert {r["hazard_group"] for r in flood["rows"]} == {"flood"}
    assert all(2000 <= int(r["start_date"][:4]) <= 2010 for r in flood["rows"])


@pytest.mark.shared_data
def test_events_dates_are_iso(grd):
    rows = grd.get("/api/events?country=GRD").json()["rows"]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["start_date"]) for r in rows)


@pytest.mark.shared_data
def test_screen_rows_keep_drivers_and_advice_has_reasons(grd):
    rows = grd.get("/api/screen?country=GRD&level=1").json()["rows"]
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    assert isinstance(rows[0]["drivers"], list) and rows[0]["drivers"][0]["hazard"]
    # counts are JSON numbers, whatever type the engine sums them in
    assert all(type(r["cards"]) is int or r["cards"] is None for r in rows)
    assert all(type(r["years_covered"]) in (int, float) or r["years_covered"] is None
               for r in rows)
    advice = grd.get("/api/advice?country=GRD&level=1&top=1").json()
    assert advice["meta"]["catalogue"] and advice["rows"]
    assert all(r["reasons"] and r["measure_id"] for r in advice["rows"])


@pytest.mark.shared_data
def test_language_from_query_or_accept_language(grd):
    en = grd.get("/api/profile?country=GRD&metric=deaths").json()["rows"]
    zh = grd.get("/api/profile?country=GRD&metric=deaths&lang=zh-TW").json()
    header = grd.get("/api/profile?country=GRD&metric=deaths",
                     headers={"Accept-Language": "zh-Hant-TW,zh;q=0.9,en;q=0.5"}).json()
    assert zh["meta"]["lang"] == header["meta"]["lang"] == "zh-TW"
    assert re.search(r"[\u4e00-\u9fff]", zh["rows"][0]["hazard_name"])
    assert zh["rows"][0]["hazard_name"] == header["rows"][0]["hazard_name"]
    assert not re.search(r"[\u4e00-\u9fff]", en[0]["hazard_name"])
    error = grd.get("/api/profile?metric=nope", headers={"Accept-Language": "zh-TW"})
    assert re.search(r"[\u4e00-\u9fff]", assert_error(error, 400)["message"])


def test_openapi_lists_every_endpoint(small):
    spec = small.get("/openapi.json").json()
    assert set(ENDPOINTS) <= set(spec["paths"])
    for path in ENDPOINTS:
        assert "get" in spec["paths"][path]
    params = {p["name"] for p in spec["paths"]["/api/records"]["get"]["parameters"]}
    assert {"country", "admin", "hazard", "year_from", "year_to", "dataset", "page",
            "page_size", "lang"} <= params
    assert not [p for p in spec["paths"] if not p.startswith("/api/")], "pages stay out"


# --- errors: one shape ---

@pytest.mark.parametrize(("url", "status"), [
    ("/api/profile?level=7", 422),
    ("/api/profile?year_from=abc", 422),
    ("/api/records?page=0", 422),
    ("/api/records?page_size=100000", 422),
    ("/api/peers?country=LKA", 422),
    ("/api/profile?metric=nope", 400),
    ("/api/profile?by=colour", 422),
    ("/api/sendai?year_from=2010&year_to=2000", 400),
    ("/api/risk?exceedance=nope", 400),
    ("/api/nope", 404),
    ("/nope", 404),
])
def test_bad_requests_give_the_one_error_shape(small, url: str, status: int):
    error = assert_error(small.get(url), status)
    if status == 422:
        assert error["code"] == "web.error.invalid_parameter"
    if status == 404:
        assert error["code"] == "web.error.not_found"


def test_error_codes_name_the_message(small):
    assert assert_error(small.get("/api/profile?metric=nope"), 400)["code"] == \
        "analysis.bad_metric"
    assert assert_error(small.post("/api/profile"), 405)["code"] == \
        "web.error.method_not_allowed"
    error = assert_error(small.get("/unit/LKA/9999?level=1"), 404)
    assert error["code"] == "web.error.unit_not_found"


def test_a_missing_store_is_503_without_its_path(tmp_path: Path):
    with web_client(tmp_path / "absent.duckdb") as client:
        error = assert_error(client.get("/api/datasets"), 503)
    assert error["code"] == "web.error.store_unavailable"
    assert str(tmp_path) not in error["message"]


# --- injection and escaping ---

def _snapshot(db: Path) -> tuple[int, list[str]]:
    with riskatlas.open(db, read_only=True) as atlas:
        tables = sorted(r[0] for r in atlas.store.query(
            "SELECT table_name FROM information_schema.tables"))
        return atlas.count_records(), tables


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_strings_in_every_filter_find_nothing(small, cards_db: Path, attack: str):
    before = _snapshot(cards_db)
    for name in ("country", "admin", "hazard", "status", "q"):
        body = small.get("/api/records", params={name: attack}).json()
        assert (body["total"], body["rows"]) == (0, []), name
    for path in ("/api/profile", "/api/events", "/api/risk", "/api/sendai"):
        for name in ("country", "admin", "hazard"):
            if path == "/api/profile" and name == "hazard":
                continue
            response = small.get(path, params={name: attack})
            # nothing matches: an empty scope, answered with 404 and the error shape
            assert response.status_code == 404, (path, name, response.text)
            assert response.json()["error"]["code"] == "analysis.empty_scope", (path, name)
    response = small.get("/api/peers", params={"country": attack, "admin": attack, "level": 1})
    assert response.status_code == 200 and response.json()["rows"] == []
    for name in ("country", "admin", "hazard", "status", "q"):
        page = small.get("/records", params={name: attack})
        assert page.status_code == 200
        assert attack not in page.text  # reflected in the form, but escaped
    assert _snapshot(cards_db) == before


def test_text_search_and_stored_script_is_escaped(small):
    body = small.get("/api/records", params={"q": "BRIDGE"}).json()
    assert body["total"] == 1 and body["rows"][0]["comments"] == "bridge washed away"
    assert small.get("/api/records", params={"q": "%"}).json()["total"] == 0  # not LIKE
    assert small.get("/api/records", params={"q": "<script>"}).json()["rows"][0]["comments"] \
        == SCRIPT
    page = small.get("/records", params={"q": "flooded"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; flooded road" in page.text
    reflected = small.get("/records", params={"admin": "<b>x</b>", "q": '"><script>'})
    assert "<b>x</b>" not in reflected.text and '"><script>' not in reflected.text


def test_downloads_carry_labels_and_filters(small):
    csv = small.get("/download/records.csv?hazard=flood&lang=zh-TW")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.strip().splitlines()
    assert len(lines) == 3 and "hazard_group_label" in lines[0]
    assert "水災" in csv.text
    xlsx = small.get("/download/records.xlsx?year_from=2004")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert_error(small.get("/download/records.exe"), 404)


# --- concurrency ---

def test_many_concurrent_readers(small):
    urls = ["/api/records?page_size=2", "/api/profile", "/api/screen?level=1", "/records",
            "/api/datasets"] * 4
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda u: small.get(u).status_code, urls))
    assert codes == [200] * len(urls)


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_writer_holding_the_store_gives_503_then_recovers(cards_db: Path, tmp_path: Path,
                                                           snapshot: bool):
    with holding_store(cards_db, tmp_path) as holder, \
            web_client(cards_db, lock_wait=0.3, retry_after=7, snapshot=snapshot) as client:
        busy = client.get("/api/datasets")
        error = assert_error(busy, 503)
        assert error["code"] == "web.error.store_busy"
        assert busy.headers["retry-after"] == "7"
        holder.communicate(b"", timeout=30)
        assert client.get("/api/datasets").status_code == 200


def test_serve_command_is_registered():
    from typer.testing import CliRunner

    from riskatlas.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--host" in result.output


def test_imports_are_not_locked_out_and_show_up(tmp_path: Path):
    """Readers read a copy: an import commits while requests run, and the next request
    after it sees the new records."""
    from cards import write_cards
    from riskatlas.sources.registry import ReadOptions

    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=1)])
    with web_client(db) as client:
        assert client.get("/api/records").json()["total"] == 1
        folder = client.app.state.settings.snapshots.folder
        assert len(list(folder.glob("*.duckdb"))) == 1
        with riskatlas.open(db) as atlas:  # the importer gets the store at once
            atlas.import_paths([write_cards(tmp_path / "more.csv", [
                card(7, "STORM", 2002, "02", deaths=2), card(8, "FLOOD", 2003, "01")])],
                options=ReadOptions(country="LKA"))
        time.sleep(1.1)
        assert client.get("/api/records").json()["total"] == 3
        assert len(list(folder.glob("*.duckdb"))) == 1, "old copies are removed"
    assert not folder.exists(), "copies are removed at shutdown"


def test_anonymous_answers_are_cached_until_the_store_changes(tmp_path):
    """Same question, same store: the second answer comes from the cache; any change to the
    store (here a population import) makes the next answer fresh."""
    import riskatlas
    from cards import card, store_with
    from conftest import web_client

    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=2)])
    client = web_client(db)
    first = client.get("/api/profile?metric=deaths")
    second = client.get("/api/profile?metric=deaths")
    assert first.headers["x-riskatlas-cache"] == "miss"
    assert second.headers["x-riskatlas-cache"] == "hit" and second.json() == first.json()
    assert client.get("/api/profile?metric=records").headers["x-riskatlas-cache"] == "miss"
    signed = client.get("/api/profile?metric=deaths", headers={"Authorization": "Bearer x"})
    assert "x-riskatlas-cache" not in signed.headers  # never cached for signed-in callers
    population = tmp_path / "pop.csv"
    population.write_text("country_iso3,level,admin_code,year,population\nLKA,0,01,2001,1000\n")
    with riskatlas.open(db) as atlas:
        atlas.import_population(population)
    # not from the cache (nor kept while this worker's copy is older than the store)
    assert client.get("/api/profile?metric=deaths").headers.get("x-riskatlas-cache") != "hit"
