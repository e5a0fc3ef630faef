"""Per-dataset review (issue 13, item 1): an uploaded dataset arrives submitted; validators
move all its cards in one status at once (validate, publish, send back with a reason),
never a dataset they uploaded (four eyes); the audit log records the upload, in the same
transaction as the import, and every decision, with one row per card that traces back to
it. Each case was first a failing test."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest

import riskatlas
from cards import card, store_with, write_cards
from conftest import WEB_USERS, auth, csrf_of, login, web_client, web_user
from riskatlas.sources.registry import ReadOptions
from test_web_api import assert_error


def upload(client, token: str, tmp_path: Path, name: str = "upload.csv",
           serials: tuple[int, ...] = (7, 8)) -> int:
    """A collector's (or anyone's) upload of a few cards; returns its dataset."""
    content = write_cards(tmp_path / name, [card(s, "STORM", 2002, "02", deaths=s)
                                            for s in serials]).read_bytes()
    response = client.post("/api/upload", headers=auth(token), data={"country": "LKA"},
                           files={"file": (name, io.BytesIO(content), "text/csv")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["dataset_id"])


def decide(client, token: str, dataset: int, to: str, reason: str | None = None,
           source: str | None = None):
    body = {"to": to, **({"reason": reason} if reason else {}),
            **({"from": source} if source else {})}
    return client.post(f"/api/datasets/{dataset}/transition", json=body, headers=auth(token))


def public_total(client, query: str = "") -> int:
    return int(client.get(f"/api/records{query}").json()["total"])


def test_a_validator_publishes_an_uploaded_dataset(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["ana"], tmp_path)
    assert public_total(client) == 2 and public_total(client, f"?dataset={dataset}") == 0
    # a collector, a viewer and an anonymous caller may not decide
    for token in (tokens["ana"], tokens["cole"], tokens["vic"]):
        assert assert_error(decide(client, token, dataset, "validated"), 403)["code"] == \
            "auth.error.role"
    assert_error(client.post(f"/api/datasets/{dataset}/transition", json={"to": "validated"}),
                 401)
    # publishing needs validation first: the dataset's cards follow TRANSITIONS
    error = assert_error(decide(client, tokens["vera"], dataset, "published",
                                source="submitted"), 409)
    assert error["code"] == "workflow.error.bad_transition"
    assert_error(decide(client, tokens["vera"], dataset, "published"), 409)
    validated = decide(client, tokens["vera"], dataset, "validated")
    assert validated.status_code == 200, validated.text
    assert validated.json()["count"] == 2 and validated.json()["from"] == ["submitted"]
    assert public_total(client) == 2  # validated is not published
    published = decide(client, tokens["val"], dataset, "published")
    assert published.status_code == 200 and published.json()["count"] == 2
    assert public_total(client) == 4
    assert public_total(client, f"?dataset={dataset}") == 2
    serials = {r["serial"] for r in client.get("/api/records?page_size=100").json()["rows"]}
    assert {"7", "8"} <= serials
    # nothing left in that status
    error = assert_error(decide(client, tokens["val"], dataset, "published"), 409)
    assert error["code"] == "review.error.nothing"


def test_the_uploader_may_not_review_their_own_dataset(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["vera"], tmp_path)
    error = assert_error(decide(client, tokens["vera"], dataset, "validated"), 403)
    assert error["code"] == "review.error.four_eyes"
    # nor one card of it
    queued = client.get("/api/records?status=submitted", headers=auth(tokens["vera"])).json()
    one = queued["rows"][0]["record_id"]
    error = assert_error(client.post(f"/api/records/{one}/transition", json={"to": "validated"},
                                     headers=auth(tokens["vera"])), 403)
    assert error["code"] == "workflow.error.four_eyes"
    assert client.get(f"/api/records/{one}", headers=auth(tokens["vera"])).json()[
        "author"] == "vera"
    # an admin who uploaded is held to it as well; another validator may
    other = upload(client, tokens["adam"], tmp_path, "admin.csv", (21, 22))
    assert assert_error(decide(client, tokens["adam"], other, "validated"), 403)["code"] == \
        "review.error.four_eyes"
    assert decide(client, tokens["val"], dataset, "validated").status_code == 200
    assert decide(client, tokens["val"], other, "validated").status_code == 200


def test_sending_a_dataset_back_needs_a_reason_and_its_author_reads_it(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["ana"], tmp_path)
    error = assert_error(decide(client, tokens["vera"], dataset, "needs_revision"), 400)
    assert error["code"] == "workflow.error.reason_required"
    assert_error(decide(client, tokens["vera"], 999, "validated"), 404)
    # statuses and the body's shape are declared: 422 before anything is read
    for body in ({"to": "flying"}, {"to": 5}, {"to": "validated", "from": "nowhere"},
                 {"to": "validated", "colour": "red"}, {"to": "needs_revision",
                                                       "reason": "x" * 4001}):
        assert_error(client.post(f"/api/datasets/{dataset}/transition", json=body,
                                 headers=auth(tokens["vera"])), 422)
    assert_error(client.post(f"/api/datasets/{10 ** 30}/transition", json={"to": "validated"},
                             headers=auth(tokens["vera"])), 422)
    back = decide(client, tokens["vera"], dataset, "needs_revision", "dates from the wrong year")
    assert back.status_code == 200 and back.json()["count"] == 2
    mine = client.get("/api/records?status=needs_revision", headers=auth(tokens["ana"])).json()
    assert mine["total"] == 2
    view = client.get(f"/api/records/{mine['rows'][0]['record_id']}",
                      headers=auth(tokens["ana"])).json()
    assert view["reason"] == "dates from the wrong year"


def test_the_audit_log_has_the_upload_and_every_decision(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["ana"], tmp_path)
    decide(client, tokens["vera"], dataset, "validated")
    decide(client, tokens["val"], dataset, "published")
    log = client.get("/api/admin/audit", params={"page_size": 100},
                     headers=auth(tokens["adam"])).json()["rows"]
    uploads = [r for r in log if r["action"] == "upload"]
    assert len(uploads) == 1 and uploads[0]["user"] == "ana"
    assert uploads[0]["after"]["dataset_id"] == dataset
    assert uploads[0]["after"]["file"] == "upload.csv"
    decisions = [r for r in log if r["action"].startswith("dataset:")]
    assert [(r["action"], r["user"]) for r in decisions] == [("dataset:published", "val"),
                                                             ("dataset:validated", "vera")]
    latest = decisions[0]
    assert latest["record_id"] is None
    assert latest["after"] == {"dataset_id": dataset, "dataset": "upload.csv",
                               "from": ["validated"], "to": "published", "count": 2}
    # one row per card, naming its decision
    cards = [r for r in log if r["action"] == "transition:published"]
    assert len(cards) == 2 and {r["after"]["decision"] for r in cards} == {latest["id"]}
    assert all(r["before"] == {"approval_status": "validated"} for r in cards)
    history = client.get(f"/api/records/{cards[0]['record_id']}/history",
                         headers=auth(tokens["vera"])).json()
    assert [r["action"] for r in history["rows"]] == ["transition:published",
                                                      "transition:validated"]


def test_the_upload_row_is_written_with_the_import(site, tmp_path: Path, monkeypatch):
    """The upload's audit row and its cards' authorship commit with the import or not at
    all: a failure while writing them leaves no dataset behind."""
    client, tokens, db = site
    from riskatlas.services import cards as card_service

    def broken(*args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(card_service, "audit", broken)
    content = write_cards(tmp_path / "lost.csv", [card(9, "STORM", 2002, "02")]).read_bytes()
    with pytest.raises(RuntimeError):  # the test client raises what answered 500
        client.post("/api/upload", headers=auth(tokens["ana"]), data={"country": "LKA"},
                    files={"file": ("lost.csv", io.BytesIO(content), "text/csv")})
    for thread in threading.enumerate():  # the token's last use, written in the background
        if thread.name.endswith("-use"):
            thread.join(timeout=30)
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.count_records() == 2 and len(atlas.datasets()) == 1
        assert atlas.store.scalar("SELECT count(*) FROM card_authors") == 0


def test_the_review_list(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])
    # a CLI import asked for review appears too, without an uploader
    path = write_cards(tmp_path / "cli.csv", [card(31, "FLOOD", 2002, "01")])
    with riskatlas.open(db) as atlas:
        cli = atlas.import_paths([path], options=ReadOptions(country="LKA", review=True))[0]
    tokens = {name: web_user(db, name, role) for name, role in WEB_USERS.items()}
    with web_client(db) as client:
        _review_list(client, tokens, tmp_path, cli.dataset_id)


def _review_list(client, tokens: dict[str, str], tmp_path: Path, cli: int) -> None:
    dataset = upload(client, tokens["ana"], tmp_path)
    assert_error(client.get("/api/review", headers=auth(tokens["ana"])), 403)
    assert_error(client.get("/api/review"), 401)
    rows = client.get("/api/review", headers=auth(tokens["vera"])).json()["rows"]
    by_id = {r["dataset_id"]: r for r in rows}
    assert set(by_id) == {dataset, cli}  # the published import is not listed
    mine = by_id[dataset]
    assert mine["name"] == "upload.csv" and mine["authors"] == ["ana"]
    assert mine["counts"] == {"submitted": 2} and mine["imported_at"]
    assert by_id[cli]["authors"] == []
    assert decide(client, tokens["vera"], dataset, "validated").status_code == 200
    rows = client.get("/api/review", headers=auth(tokens["val"])).json()["rows"]
    assert {r["dataset_id"]: r["counts"] for r in rows}[dataset] == {"validated": 2}
    decide(client, tokens["val"], dataset, "published")
    rows = client.get("/api/review", headers=auth(tokens["val"])).json()["rows"]
    assert dataset not in {r["dataset_id"] for r in rows}


def test_the_review_page(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["ana"], tmp_path)
    assert client.get("/review", follow_redirects=False).status_code == 303  # sign in first
    login(client, "ana")
    assert client.get("/review").status_code == 403
    assert 'href="/review' not in client.get("/cards").text
    client.cookies.clear()
    login(client, "vera")
    assert 'href="/review' in client.get("/cards").text
    page = client.get("/review?lang=en")
    assert page.status_code == 200 and "upload.csv" in page.text and "ana" in page.text
    assert f'id="validate-{dataset}"' in page.text
    assert f'id="publish-{dataset}"' not in page.text  # nothing validated yet
    assert "資料集" in client.get("/review?lang=zh-TW").text
    csrf = csrf_of(client, "/review")
    # no reason: the page says so and nothing moves
    refused = client.post("/review/transition?lang=en", data={
        "csrf": csrf, "dataset": str(dataset), "to": "needs_revision", "reason": ""})
    assert refused.status_code == 400 and "Give a reason" in refused.text
    done = client.post("/review/transition?lang=en", data={
        "csrf": csrf, "dataset": str(dataset), "to": "validated", "from": "submitted"},
        follow_redirects=False)
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert re.search(r"2 cards? .*validated", page.text), page.text[-2000:]
    assert f'id="publish-{dataset}"' in page.text
    # without the form's token nothing happens
    assert client.post("/review/transition", data={
        "dataset": str(dataset), "to": "published"}).status_code == 403
    client.cookies.clear()
    login(client, "val")
    csrf = csrf_of(client, "/review")
    client.post("/review/transition", data={"csrf": csrf, "dataset": str(dataset),
                                            "to": "published", "from": "validated"})
    client.cookies.clear()
    assert public_total(client) == 4


def test_the_uploader_sees_no_buttons_for_their_dataset(site, tmp_path: Path):
    client, tokens, _ = site
    dataset = upload(client, tokens["vera"], tmp_path)
    login(client, "vera")
    page = client.get("/review?lang=en").text
    assert "upload.csv" in page and f'id="validate-{dataset}"' not in page
    assert f'id="own-{dataset}"' in page


def test_an_anonymous_answer_from_a_copy_behind_the_store_is_not_kept(tmp_path: Path):
    """A change by another process (a CLI import, another worker publishing a dataset)
    reaches this worker's copy within a second; an anonymous answer computed meanwhile from
    the older copy was kept under the changed store's key and served from then on, stale
    until the next change. Now only an answer read from a copy as new as the store is
    kept."""
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3),
                               card(2, "FLOOD", 2002, "01", deaths=3)])
    with web_client(db) as client:
        assert public_total(client) == 2
        with riskatlas.open(db) as atlas:  # within the copy's interval (1 s)
            atlas.store.connection.execute(
                "UPDATE records SET approval_status = 'submitted' WHERE source_row = 2")
        client.get("/api/records?page_size=10")  # may still read the older copy
        time.sleep(1.2)
        again = client.get("/api/records?page_size=10")
        assert again.json()["total"] == 1, again.headers.get("x-riskatlas-cache")
