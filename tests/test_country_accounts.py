"""Country accounts (issue 16, item 2), as UNDRR's DELTA has them on a shared server:
users belong to countries; collectors and validators create, edit, submit, review,
publish and upload cards only of theirs (403 with a message in both languages, nothing
written); admins act everywhere; on a store with no grant at all everyone does (a
laptop); anonymous visitors see every country's published cards; grants are audited.
Checked through the services, the web app and the CLI, on a store holding Sri Lanka and
Nepal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from cards import card, store_with, write_cards
from conftest import auth, csrf_of, login, web_client, web_user
from riskatlas.importer import import_paths
from riskatlas.services import accounts, cards, review
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.store import Store
from test_cli import run_cli
from test_services_cards import User
from test_web_api import assert_error

LKA = {"country_iso3": "LKA", "level0_code": "01", "start_year": 2002, "start_month": 5,
       "hazard_term": "FLOOD", "deaths": 4}
NPL = {**LKA, "country_iso3": "NPL", "level0_code": "02"}
TABLES = ("records", "card_authors", "audit_log", "datasets", "user_countries")




ANA, NINA, VERA, VAL, ADAM = (User("ana", "collector"), User("nina", "collector"),
                              User("vera", "validator"), User("val", "validator"),
                              User("adam", "admin"))


def two_countries(tmp_path: Path) -> Path:
    """A store with two cards of Sri Lanka (unit 01) and two of Nepal (unit 02)."""
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3),
                               card(2, "LANDSLIDE", 2003, "01", deaths=1)], name="lka")
    with riskatlas.open(db) as atlas:
        atlas.import_paths([write_cards(tmp_path / "npl.csv", [
            card(1, "FLOOD", 2004, "02", deaths=7), card(2, "FIRE", 2005, "02", deaths=2)])],
            options=ReadOptions(country="NPL"))
    return db


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with riskatlas.open(two_countries(tmp_path)) as atlas:
        for user in (ANA, NINA, VERA, VAL, ADAM):
            accounts.add_user(atlas.store, user.name, user.role, None, by="t")
        yield atlas.store


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


def grant(store: Store, **countries: str) -> None:
    for name, codes in countries.items():
        accounts.set_countries(store, name, codes, by="adam")


def refused(call: Any, store: Store) -> accounts.CountryError:
    """``call()`` refused for its country (403), writing nothing."""
    before = snapshot(store)
    with pytest.raises(accounts.CountryError) as caught:
        call()
    assert caught.value.http_status == 403
    assert snapshot(store) == before and not store.in_transaction
    return caught.value


# --- services --------------------------------------------------------------------------------

def test_with_no_grant_anywhere_everyone_acts_everywhere(store: Store) -> None:
    assert store.query("SELECT count(*) FROM user_countries") == [(0,)]
    made = [cards.create(store, ANA, fields) for fields in (LKA, NPL)]
    assert [c["country_iso3"] for c in made] == ["LKA", "NPL"]
    for c in made:
        cards.transition(store, ANA, c["record_id"], "submitted")
        cards.transition(store, VERA, c["record_id"], "validated")
        cards.transition(store, VAL, c["record_id"], "published")
    assert {row["name"]: row["all_countries"] for row in accounts.users(store)} == dict.fromkeys(
        ("adam", "ana", "nina", "val", "vera"), True)


def test_a_collector_creates_and_submits_only_in_their_countries(store: Store) -> None:
    grant(store, ana="NPL", vera="LKA")
    mine = cards.create(store, ANA, NPL)
    error = refused(lambda: cards.create(store, ANA, LKA), store)
    assert error.render("en") == "ana acts only in NPL: LKA is outside them."
    assert error.render("zh-TW") == "ana 只能處理 NPL 的資料：LKA 不在其中。"
    # a blank country is the only one of the store's the collector acts in
    blank = cards.create(store, ANA, {k: v for k, v in NPL.items() if k != "country_iso3"})
    assert blank["country_iso3"] == "NPL"
    # nor moved to another country, nor edited or submitted once the grant is withdrawn
    refused(lambda: cards.edit(store, ANA, mine["record_id"], {"country_iso3": "LKA"}), store)
    cards.edit(store, ANA, mine["record_id"], {"deaths": 5})
    grant(store, ana="LKA")
    refused(lambda: cards.edit(store, ANA, mine["record_id"], {"deaths": 6}), store)
    refused(lambda: cards.transition(store, ANA, mine["record_id"], "submitted"), store)
    # an admin acts everywhere, granted or not
    cards.transition(store, ADAM, mine["record_id"], "submitted")
    assert cards.create(store, ADAM, LKA)["country_iso3"] == "LKA"


def test_once_any_grant_exists_a_user_without_one_acts_nowhere(store: Store) -> None:
    grant(store, ana="NPL")
    error = refused(lambda: cards.create(store, NINA, NPL), store)
    assert "nina acts in no country of this store (NPL included)" in error.render("en")
    assert "riskatlas users set nina --country ISO3" in error.render("zh-TW")
    rows = {row["name"]: row for row in accounts.users(store)}
    assert (rows["ana"]["countries"], rows["ana"]["all_countries"]) == (["NPL"], False)
    assert (rows["nina"]["countries"], rows["nina"]["all_countries"]) == ([], False)
    assert rows["adam"]["all_countries"]  # admins: every country
    grant(store, ana="")  # the last grant withdrawn: everyone everywhere again
    assert cards.create(store, NINA, LKA)["country_iso3"] == "LKA"


def test_a_validator_reviews_only_cards_of_their_countries(store: Store) -> None:
    grant(store, ana="LKA,NPL", vera="LKA", val="NPL")
    npl, lka = cards.create(store, ANA, NPL), cards.create(store, ANA, LKA)
    for c in (npl, lka):
        cards.transition(store, ANA, c["record_id"], "submitted")
    refused(lambda: cards.transition(store, VERA, npl["record_id"], "validated"), store)
    cards.transition(store, VAL, npl["record_id"], "validated")
    error = refused(lambda: cards.transition(store, VERA, npl["record_id"], "published"), store)
    assert error.render("en") == "vera acts only in LKA: NPL is outside them."
    refused(lambda: cards.transition(store, VERA, npl["record_id"], "needs_revision", "why"),
            store)
    cards.transition(store, VAL, npl["record_id"], "published")
    # the card page offers them no move on a card outside their countries
    assert cards.card_view(store, lka["record_id"], VERA)["allowed"] == [
        "validated", "needs_revision"]
    assert cards.card_view(store, lka["record_id"], VAL)["allowed"] == []
    assert not cards.card_view(store, npl["record_id"], User("ana", "collector"))["editable"]
    # the reviewer's queue holds their countries' cards only
    assert [r["record_id"] for r in cards.card_lists(store, VERA)[1]] == [lka["record_id"]]
    assert cards.card_lists(store, VAL)[1] == []


def test_a_dataset_decision_moves_only_the_reviewers_countries(store: Store) -> None:
    grant(store, ana="LKA,NPL", vera="LKA", val="NPL")
    web = [cards.create(store, ANA, f) for f in (LKA, NPL, NPL)]  # one web dataset
    for c in web:
        cards.transition(store, ANA, c["record_id"], "submitted")
    dataset = web[0]["dataset_id"]
    listed = {d["dataset_id"]: d for d in review.awaiting_review(store, VERA)}
    assert listed[dataset]["counts"] == {"submitted": 1}
    done = review.transition_dataset(store, VERA, dataset, "validated")
    assert (done["count"], done["countries"]) == (1, ["LKA"])
    statuses = dict(store.query("SELECT country_iso3, list(DISTINCT approval_status) "
                                "FROM records WHERE dataset_id = ? GROUP BY 1", [dataset]))
    assert statuses == {"LKA": ["validated"], "NPL": ["submitted"]}
    # an imported dataset of Nepal: nothing of the LKA validator's
    nepal = store.query("SELECT dataset_id FROM datasets WHERE country_iso3 = 'NPL'")[0][0]
    store.connection.execute("UPDATE records SET approval_status = 'validated' "
                             "WHERE dataset_id = ?", [nepal])
    assert nepal not in {d["dataset_id"] for d in review.awaiting_review(store, VERA)}
    error = refused(lambda: review.transition_dataset(store, VERA, nepal, "published"), store)
    assert error.params["country"] == "NPL"
    assert review.transition_dataset(store, VAL, nepal, "published")["count"] == 2


def test_an_upload_of_another_country_is_refused_and_writes_nothing(
        store: Store, tmp_path: Path) -> None:
    grant(store, ana="NPL")
    path = write_cards(tmp_path / "more.csv", [card(9, "FLOOD", 2010, "01", deaths=1)])
    # the country given with the upload, before the file is read
    refused(lambda: cards.import_upload(store, "ana", path, 10, country="LKA", fmt=None), store)
    # the file's own country, at its commit (its transaction is rolled back)
    options = ReadOptions(country="LKA", review=True)
    before = snapshot(store)
    with pytest.raises(accounts.CountryError):
        import_paths(store, [path], options=options,
                     on_commit=cards.upload_recorder("ana", path.name, 1))
    assert snapshot(store) == before
    results = cards.import_upload(store, "ana", path, 10, country="NPL", fmt=None)
    assert [r.records_imported for r in results] == [1]
    lka = write_cards(tmp_path / "lka.csv", [card(10, "FLOOD", 2011, "01", deaths=1)])
    assert cards.import_upload(store, "adam", lka, 10, country="LKA", fmt=None)[0] \
        .records_imported == 1


def test_grants_are_checked_and_audited(store: Store) -> None:
    with pytest.raises(accounts.AccountError) as bad:
        accounts.set_countries(store, "ana", "NPL,XQZ", by="adam")
    assert bad.value.params == {"country": "XQZ"}
    with pytest.raises(accounts.AccountError):
        accounts.set_countries(store, "nobody", "NPL", by="adam")
    assert accounts.set_countries(store, "ana", " npl, lka,NPL", by="adam") == ["LKA", "NPL"]
    assert accounts.set_countries(store, "ana", ["LKA"], by="adam") == ["LKA"]
    accounts.add_user(store, "rita", "validator", None, by="adam", countries="NPL")
    rows = store.query('SELECT "user", action, before, after FROM audit_log '
                       "WHERE action IN ('user.countries', 'user.add') AND \"user\" = 'adam' "
                       "ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("adam", "user.countries"),
                                            ("adam", "user.countries"), ("adam", "user.add")]
    assert json.loads(rows[0][2]) == {"name": "ana", "countries": []}
    assert json.loads(rows[0][3]) == {"name": "ana", "countries": ["LKA", "NPL"],
                                      "granted": ["LKA", "NPL"], "withdrawn": []}
    assert json.loads(rows[1][3])["withdrawn"] == ["NPL"]
    assert json.loads(rows[2][3])["countries"] == ["NPL"]
    assert store.query("SELECT user_name, country_iso3, granted_by FROM user_countries "
                       "ORDER BY ALL") == [("ana", "LKA", "adam"), ("rita", "NPL", "adam")]


def test_a_failure_after_a_grant_leaves_neither_grant_nor_audit_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(store)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(accounts, "audit", broken)
    for call in (lambda: accounts.set_countries(store, "ana", "NPL", by="t"),
                 lambda: accounts.add_user(store, "bob", "collector", None, by="t",
                                           countries="NPL")):
        with pytest.raises(RuntimeError):
            call()
        assert snapshot(store) == before


# --- web ---------------------------------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Any:
    db = two_countries(tmp_path)
    roles = {"ana": "collector", "vera": "validator", "val": "validator", "adam": "admin"}
    tokens = {name: web_user(db, name, role) for name, role in roles.items()}
    with riskatlas.open(db) as atlas:
        grant(atlas.store, ana="NPL", vera="LKA", val="NPL")
    with web_client(db) as client:
        yield client, tokens, db


def test_web_a_collector_of_nepal_cannot_create_or_submit_a_sri_lanka_card(site: Any) -> None:
    client, tokens, _ = site
    for lang, text in (("en", "ana acts only in NPL: LKA is outside them."),
                       ("zh-TW", "ana 只能處理 NPL 的資料：LKA 不在其中。")):
        error = assert_error(client.post(f"/api/records?lang={lang}", json=LKA,
                                         headers=auth(tokens["ana"])), 403)
        assert (error["code"], error["message"]) == ("auth.error.country", text)
    made = client.post("/api/records", json=NPL, headers=auth(tokens["ana"]))
    assert made.status_code == 201, made.text
    rid = made.json()["record"]["record_id"]
    moved = client.patch(f"/api/records/{rid}", json={"country_iso3": "LKA"},
                         headers=auth(tokens["ana"]))
    assert assert_error(moved, 403)["code"] == "auth.error.country"
    # an admin acts in Sri Lanka too; the collector of Nepal may not upload its cards
    other = client.post("/api/records", json=LKA, headers=auth(tokens["adam"])).json()
    answer = client.post(f"/api/records/{other['record']['record_id']}/transition",
                         json={"to": "submitted"}, headers=auth(tokens["adam"]))
    assert answer.status_code == 200
    upload = client.post("/api/upload?lang=zh-TW", headers=auth(tokens["ana"]),
                         data={"country": "LKA"},
                         files={"file": ("lka.csv", io.BytesIO(
                             b"Serial;Year;Event\n1;2001;FLOOD\n"), "text/csv")})
    assert "只能處理 NPL" in assert_error(upload, 403)["message"]


def test_web_a_validator_of_sri_lanka_cannot_publish_a_nepal_card(site: Any) -> None:
    client, tokens, _ = site
    rid = client.post("/api/records", json=NPL, headers=auth(tokens["ana"])).json()[
        "record"]["record_id"]

    def move(who: str, to: str) -> Any:
        return client.post(f"/api/records/{rid}/transition", json={"to": to},
                           headers=auth(tokens[who]))

    assert move("ana", "submitted").status_code == 200
    assert assert_error(move("vera", "validated"), 403)["code"] == "auth.error.country"
    assert move("val", "validated").status_code == 200
    error = assert_error(move("vera", "published"), 403)
    assert error["message"] == "vera acts only in LKA: NPL is outside them."
    assert move("val", "published").status_code == 200
    # the dataset decision too, and the review list shows vera nothing of Nepal
    nepal = next(d["dataset_id"] for d in client.get("/api/datasets").json()["rows"]
                 if d["country_iso3"] == "NPL")
    assert all(r["country_iso3"] != "NPL" for r in client.get(
        "/api/review", headers=auth(tokens["vera"])).json()["rows"])
    decision = client.post(f"/api/datasets/{nepal}/transition", headers=auth(tokens["vera"]),
                           json={"to": "needs_revision", "from": "published", "reason": "?"})
    assert assert_error(decision, 403)["code"] == "auth.error.country"
    # anonymous visitors see every country's published cards
    shown = client.get("/api/records?page_size=100").json()
    assert {r["country_iso3"] for r in shown["rows"]} == {"LKA", "NPL"}
    assert rid in {r["record_id"] for r in shown["rows"]}


def test_web_the_card_form_offers_only_the_users_countries(site: Any) -> None:
    client, _, _ = site
    login(client, "ana")
    page = client.get("/cards/new?lang=en").text
    offered = re.search(r'<datalist id="countries">(.*?)</datalist>', page, re.S)
    assert offered and re.findall(r'value="([A-Z]{3})"', offered.group(1)) == ["NPL"]
    assert 'name="country_iso3" list="countries" autocomplete="off" value="NPL"' in page
    assert "You enter cards of: NPL." in page
    # a refused card of another country: the form again, 403, saying why
    answer = client.post("/cards/new?lang=zh-TW", data={**{k: str(v) for k, v in LKA.items()},
                                                        "csrf": csrf_of(client)})
    assert answer.status_code == 403 and "ana 只能處理 NPL 的資料" in answer.text
    upload = client.get("/upload?lang=en").text
    assert "Only files with cards of your countries are accepted: NPL." in upload


def test_web_admins_grant_countries_and_the_audit_log_records_it(site: Any) -> None:
    client, tokens, _ = site
    login(client, "adam")
    page = client.get("/admin/users?lang=en").text
    assert "Once any user has a country" in page
    posted = client.post("/admin/users?lang=en", follow_redirects=False, data={
        "csrf": csrf_of(client, "/admin/users"), "op": "countries", "name": "vera",
        "countries": "lka,npl"})
    assert posted.status_code == 303, posted.text
    bad = client.post("/admin/users?lang=zh-TW", data={
        "csrf": csrf_of(client, "/admin/users"), "op": "countries", "name": "vera",
        "countries": "XQZ"})
    assert bad.status_code == 400 and "「XQZ」不是國家代碼" in bad.text
    rows = {r["name"]: r for r in client.get("/api/admin/users",
                                             headers=auth(tokens["adam"])).json()["rows"]}
    assert rows["vera"]["countries"] == ["LKA", "NPL"] and rows["adam"]["all_countries"]
    log = client.get("/api/admin/audit?action=user.countries",
                     headers=auth(tokens["adam"])).json()["rows"]
    assert log[0]["user"] == "adam" and "NPL" in json.dumps(log[0]["after"])


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_users_add_set_and_list_countries(tmp_path: Path) -> None:
    db = str(two_countries(tmp_path))
    added = run_cli("users", "add", "ana", "--role", "collector", "--no-password",
                    "--country", "npl,LKA", "--db", db)
    assert added.code == 0, added.stdout
    assert "ana now acts in: LKA, NPL." in added.stdout
    assert run_cli("users", "add", "adam", "--role", "admin", "--no-password",
                   "--db", db).code == 0
    listed = run_cli("users", "list", "--db", db)
    assert re.search(r"ana\W+collector\W+LKA, NPL", listed.stdout), listed.stdout
    assert re.search(r"adam\W+administrator\W+every country", listed.stdout), listed.stdout
    zh = run_cli("--lang", "zh-TW", "users", "set", "ana", "--role", "validator",
                 "--country", "NPL", "--db", db)
    assert zh.code == 0 and "ana 現在所屬的國家：NPL。" in zh.stdout, zh.stdout
    bad = run_cli("users", "set", "ana", "--role", "admin", "--country", "XQZ", "--db", db)
    assert bad.code == 1 and "'XQZ' is not a country code" in bad.stderr  # neither is set
    assert run_cli("users", "set", "ana", "--db", db).code == 1
    as_csv = run_cli("users", "list", "--format", "csv", "--db", db)
    assert "ana,validator,NPL," in as_csv.stdout, as_csv.stdout
    cleared = run_cli("users", "set", "ana", "--country", "", "--db", db)
    assert "ana now acts in: none." in cleared.stdout
    with riskatlas.open(db, read_only=True) as atlas:
        actions = [r[0] for r in atlas.store.query(
            "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["user.add", "user.add", "user.role", "user.countries",
                       "user.countries"]
