"""Data-card management through the API: create and edit with the importers' validation,
the approval workflow and its roles (401/403 in the one error shape), four eyes, what
anonymous visitors see, the audit log, uploads (size limit, XML entities refused), escaping
of stored text and a store held by an importer."""

from __future__ import annotations

import io
from pathlib import Path

import riskatlas
from cards import card, store_with, write_cards
from conftest import WEB_USERS, auth, holding_store, login, web_client, web_user
from test_web_api import INJECTIONS, assert_error

SCRIPT = "<script>alert(1)</script> road cut"
NEW = {"country_iso3": "LKA", "level0_code": "01", "level0_name": "Unit 01",
       "start_year": 2002, "start_month": 5, "start_day": 17, "hazard_term": "FLOOD",
       "deaths": 40, "victims": 10, "affected": "25", "houses_destroyed": 2,
       "comments": "river burst its banks"}


def create(client, token: str, **changes) -> dict:
    response = client.post("/api/records", json={**NEW, **changes}, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()["record"]


def move(client, token: str, record_id: str, to: str, reason: str | None = None):
    return client.post(f"/api/records/{record_id}/transition",
                       json={"to": to, **({"reason": reason} if reason else {})},
                       headers=auth(token))


def deaths(client, headers=None, *, unapproved: bool = False) -> float:
    query = "country=LKA&metric=deaths" + ("&include_unapproved=true" if unapproved else "")
    rows = client.get(f"/api/profile?{query}", headers=headers).json()["rows"]
    return sum(r["value"] for r in rows)


def test_the_whole_workflow_and_what_visitors_see(site):
    client, tokens, _ = site
    assert client.get("/api/records").json()["total"] == 2
    assert deaths(client) == 4
    rec = create(client, tokens["ana"])
    rid = rec["record_id"]
    assert rid.startswith("WEB:") and len(rid) == 40
    assert rec["approval_status"] == "draft" and rec["hazard_group"] == "flood"
    assert rec["hips_code"] and rec["directly_affected"] == 35  # victims + affected
    assert rec["start_date"] == "2002-05-17" and rec["recorded_by"] == "ana"
    # the draft is hidden from visitors and viewers, everywhere; staff see it
    assert client.get("/api/records").json()["total"] == 2
    assert client.get("/api/records", headers=auth(tokens["vic"])).json()["total"] == 2
    assert deaths(client) == 4
    assert client.get("/api/records", headers=auth(tokens["vera"])).json()["total"] == 3
    drafts = client.get("/api/records?status=draft", headers=auth(tokens["vera"])).json()
    assert [r["record_id"] for r in drafts["rows"]] == [rid]
    assert client.get("/api/records?status=draft").json()["total"] == 0
    # analyses count published cards, for staff too, unless they ask for every status
    assert deaths(client, auth(tokens["vera"])) == 4
    assert deaths(client, auth(tokens["vera"]), unapproved=True) == 44
    assert deaths(client, unapproved=True) == 4  # visitors never see the draft
    assert_error(client.get(f"/api/records/{rid}"), 404)
    assert client.get(f"/api/records/{rid}", headers=auth(tokens["ana"])).json()[
        "transitions"] == ["submitted"]
    # the web dataset, with provenance; visitors are not told of the draft
    datasets = client.get("/api/datasets", headers=auth(tokens["vera"])).json()["rows"]
    web = [d for d in datasets if d["source_key"] == "WEB"]
    assert len(web) == 1 and web[0]["name"] == "web entries" and web[0]["format"] == "web"
    assert web[0]["records_imported"] == web[0]["records_visible"] == 1
    assert rec["dataset_id"] == web[0]["dataset_id"]
    public = [d for d in client.get("/api/datasets").json()["rows"] if d["source_key"] == "WEB"]
    assert (public[0]["records_read"], public[0]["records_imported"]) == (0, 0)

    assert move(client, tokens["ana"], rid, "submitted").json()["record"][
        "approval_status"] == "submitted"
    assert move(client, tokens["vera"], rid, "validated").status_code == 200
    assert deaths(client) == 4  # validated is not published
    assert move(client, tokens["val"], rid, "published").status_code == 200
    assert client.get("/api/records").json()["total"] == 3
    assert deaths(client) == 44
    assert client.get(f"/api/records/{rid}").json()["record"]["deaths"] == 40
    assert "Only published" in client.get("/records").text

    # a second card in the same dataset
    other = create(client, tokens["cole"], hazard_term="LANDSLIDE")
    assert other["dataset_id"] == rec["dataset_id"]


def test_records_page_filters_by_status_for_staff(site):
    client, tokens, _ = site
    rid = create(client, tokens["ana"])["record_id"]
    visitor = client.get("/records?status=draft")
    assert 'name="status"' not in visitor.text and rid not in visitor.text
    login(client, "vera")
    drafts = client.get("/records?status=draft&lang=zh-TW")
    assert 'name="status"' in drafts.text and rid in drafts.text and "草稿" in drafts.text
    assert rid not in client.get("/records?status=published").text
    assert rid in client.get("/records").text


def test_validation_is_the_importers(site):
    client, tokens, _ = site
    # numbers as text (as a form sends them) reach the importers' rules: 400
    for changes, code in (({"start_year": None}, "record.no_year"),
                          ({"start_year": "1200"}, "record.year_out_of_range"),
                          ({"deaths": "-1"}, "record.negative"),
                          ({"deaths": "many"}, "record.not_a_number"),
                          ({"deaths": "2.5"}, "record.not_integer"),
                          ({"start_month": "13"}, "record.month_out_of_range"),
                          ({"latitude": "123"}, "record.out_of_range"),
                          ({"hazard_term": " "}, "record.no_hazard")):
        response = client.post("/api/records", json={**NEW, **changes},
                               headers=auth(tokens["ana"]))
        error = assert_error(response, 400)
        assert error["code"] == "workflow.error.invalid", changes
        assert [f["code"] for f in error["fields"]] == [code], changes
    # values beyond the body's declared bounds never reach them: 422 (test_api_bounds.py)
    for changes in ({"start_year": 1200}, {"deaths": -1}, {"deaths": 2.5}, {"colour": "red"},
                    {"deaths": [1]}, {"unknown": ["colour"]}):
        response = client.post("/api/records", json={**NEW, **changes},
                               headers=auth(tokens["ana"]))
        assert assert_error(response, 422)["code"] == "web.error.invalid_parameter", changes
    assert client.get("/api/records", headers=auth(tokens["adam"])).json()["total"] == 2
    # reported but unknown impacts (DesInventar's hay_* flags)
    rec = create(client, tokens["ana"], deaths=None, unknown=["deaths"])
    assert rec["deaths"] is None and rec["deaths_unknown"] is True


def test_unmapped_hazard_terms_reach_the_review_list(site):
    client, tokens, _ = site
    rec = create(client, tokens["ana"], hazard_term="Sky falling")
    assert rec["hazard_group"] is None and rec["hips_code"] is None
    unmapped = client.get("/api/hazards?unmapped=true", headers=auth(tokens["vera"])).json()
    assert "Sky falling" in {r["term"] for r in unmapped["rows"]}
    # visitors are not shown the draft's term, nor counts of unpublished cards
    public = client.get("/api/hazards").json()["rows"]
    assert "Sky falling" not in {r["term"] for r in public}
    assert sum(r["records"] for r in public) == client.get("/api/records").json()["total"]


def test_401_and_403_in_the_one_shape(site):
    client, tokens, _ = site
    rid = create(client, tokens["ana"])["record_id"]
    for response in (client.post("/api/records", json=NEW),
                     client.post("/api/records", json=NEW, headers=auth("ra_forged")),
                     client.post("/api/records", json=NEW,
                                 headers={"Authorization": "Basic YTpi"}),
                     client.patch(f"/api/records/{rid}", json={"deaths": 1}),
                     client.post(f"/api/records/{rid}/transition", json={"to": "submitted"}),
                     client.get("/api/admin/audit"), client.get("/api/admin/users")):
        error = assert_error(response, 401)
        assert error["code"] in ("auth.error.unauthenticated", "auth.error.bad_token")
        assert response.headers["www-authenticate"].startswith("Bearer")
    # a viewer may not create
    error = assert_error(client.post("/api/records", json=NEW, headers=auth(tokens["vic"])),
                         403)
    assert error["code"] == "auth.error.role"
    # a validator may not edit someone's draft, nor another collector
    for who in ("vera", "cole", "vic"):
        response = client.patch(f"/api/records/{rid}", json={"deaths": 1},
                                headers=auth(tokens[who]))
        assert assert_error(response, 403)["code"] in ("workflow.error.not_author",
                                                       "auth.error.role"), who
    # only the author submits
    assert_error(move(client, tokens["cole"], rid, "submitted"), 403)
    assert_error(move(client, tokens["vera"], rid, "submitted"), 403)
    assert move(client, tokens["ana"], rid, "submitted").status_code == 200
    # a collector may not validate, publish or send back
    for to in ("validated", "needs_revision"):
        error = assert_error(move(client, tokens["cole"], rid, to, "why"), 403)
        assert error["code"] == "auth.error.role"
    # non-admins may not read the audit log nor the users
    for who in ("ana", "vera", "vic"):
        assert_error(client.get("/api/admin/audit", headers=auth(tokens[who])), 403)
        assert_error(client.get("/api/admin/users", headers=auth(tokens[who])), 403)
    # a submitted card is no longer editable by its author
    error = assert_error(client.patch(f"/api/records/{rid}", json={"deaths": 1},
                                      headers=auth(tokens["ana"])), 409)
    assert error["code"] == "workflow.error.not_editable"


def test_four_eyes(site):
    client, tokens, _ = site
    for author, other in (("ana", "vera"), ("vera", "val"), ("adam", "vera")):
        rid = create(client, tokens[author])["record_id"]
        assert move(client, tokens[author], rid, "submitted").status_code == 200
        error = assert_error(move(client, tokens[author], rid, "validated"), 403)
        assert error["code"] in ("workflow.error.four_eyes", "auth.error.role")
        assert move(client, tokens[other], rid, "validated").status_code == 200
        assert_error(move(client, tokens[author], rid, "published"), 403)


def test_sent_back_with_a_reason_edited_and_resubmitted(site):
    client, tokens, _ = site
    rid = create(client, tokens["ana"])["record_id"]
    edited = client.patch(f"/api/records/{rid}", json={"deaths": 41, "affected": ""},
                          headers=auth(tokens["ana"]))
    assert edited.status_code == 200, edited.text
    rec = edited.json()["record"]
    assert rec["deaths"] == 41 and rec["affected"] is None and rec["directly_affected"] == 10
    assert rec["record_id"] == rid and rec["approval_status"] == "draft"
    assert assert_error(move(client, tokens["ana"], rid, "published"), 409)["code"] == \
        "workflow.error.bad_transition"
    assert_error(move(client, tokens["ana"], rid, "flying"), 422)  # not a status
    assert move(client, tokens["ana"], rid, "submitted").status_code == 200
    error = assert_error(move(client, tokens["vera"], rid, "needs_revision"), 400)
    assert error["code"] == "workflow.error.reason_required"
    assert move(client, tokens["vera"], rid, "needs_revision", "deaths unsourced") \
        .status_code == 200
    view = client.get(f"/api/records/{rid}", headers=auth(tokens["ana"])).json()
    assert view["reason"] == "deaths unsourced" and view["transitions"] == ["submitted"]
    assert client.patch(f"/api/records/{rid}", json={"sources": "Police report"},
                        headers=auth(tokens["ana"])).status_code == 200
    assert move(client, tokens["ana"], rid, "submitted").status_code == 200
    # imported cards are corrected at their source, but reviewed here too
    imported = client.get("/api/records", headers=auth(tokens["adam"])).json()["rows"][0]
    error = assert_error(client.patch(f"/api/records/{imported['record_id']}",
                                      json={"deaths": 9}, headers=auth(tokens["adam"])), 400)
    assert error["code"] == "workflow.error.not_web_card"
    assert move(client, tokens["adam"], imported["record_id"], "needs_revision", "check") \
        .status_code == 200


def test_every_change_is_audited_and_admins_browse_it(site):
    client, tokens, _ = site
    rid = create(client, tokens["ana"])["record_id"]
    client.patch(f"/api/records/{rid}", json={"deaths": 41}, headers=auth(tokens["ana"]))
    move(client, tokens["ana"], rid, "submitted")
    move(client, tokens["vera"], rid, "needs_revision", "wrong place")
    body = client.get("/api/admin/audit", params={"record_id": rid},
                      headers=auth(tokens["adam"])).json()
    rows = body["rows"]
    assert body["total"] == 4
    assert [r["action"] for r in rows] == ["transition:needs_revision", "transition:submitted",
                                           "edit", "create"]
    assert [r["user"] for r in rows] == ["vera", "ana", "ana", "ana"]
    create_row, edit_row = rows[3], rows[2]
    assert create_row["before"] is None and create_row["after"]["deaths"] == 40
    assert create_row["after"]["record_id"] == rid
    assert edit_row["before"]["deaths"] == 40 and edit_row["after"]["deaths"] == 41
    assert rows[0]["before"] == {"approval_status": "submitted"}
    assert rows[0]["after"] == {"approval_status": "needs_revision"}
    assert rows[0]["reason"] == "wrong place"
    # filters and paging
    assert client.get("/api/admin/audit", params={"user": "vera"},
                      headers=auth(tokens["adam"])).json()["total"] == 1
    assert client.get("/api/admin/audit", params={"action": "transition"},
                      headers=auth(tokens["adam"])).json()["total"] == 2
    page = client.get("/api/admin/audit", params={"page_size": 1, "page": 2},
                      headers=auth(tokens["adam"])).json()
    assert page["pages"] >= 4 and len(page["rows"]) == 1
    for attack in INJECTIONS:
        assert client.get("/api/admin/audit", params={"user": attack, "record_id": attack},
                          headers=auth(tokens["adam"])).json()["total"] == 0
    users = client.get("/api/admin/users", headers=auth(tokens["adam"])).json()["rows"]
    assert {u["name"] for u in users} == set(WEB_USERS)
    assert all("password_hash" not in u for u in users)
    assert all(u["tokens"] == 1 for u in users)


def test_injection_strings_as_record_ids(site):
    client, tokens, db = site
    for attack in INJECTIONS:
        assert_error(client.get(f"/api/records/{attack}", headers=auth(tokens["adam"])), 404)
        assert_error(move(client, tokens["adam"], attack, "submitted"), 404)
        assert_error(client.patch(f"/api/records/{attack}", json={"deaths": 1},
                                  headers=auth(tokens["adam"])), 404)
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.count_records() == 2


def test_stored_script_is_escaped_on_pages(site):
    client, tokens, _ = site
    rid = create(client, tokens["ana"], comments=SCRIPT, place="<b>bold</b>")["record_id"]
    for to, who in (("submitted", "ana"), ("validated", "vera"), ("published", "vera")):
        assert move(client, tokens[who], rid, to).status_code == 200
    for url in ("/records?q=road", f"/card?id={rid}"):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text and "<b>bold</b>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; road cut" in page.text


# --- uploads ---

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE DESINVENTAR [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<DESINVENTAR><fichas><TR><clave>1</clave><evento>&xxe;</evento><fechano>2001</fechano>
</TR></fichas></DESINVENTAR>
"""


def upload(client, token: str, name: str, content: bytes, **fields):
    return client.post("/api/upload", headers=auth(token), data=fields,
                       files={"file": (name, io.BytesIO(content), "application/octet-stream")})


def test_upload_imports_and_reports(site, tmp_path: Path):
    client, tokens, _ = site
    csv = write_cards(tmp_path / "more.csv", [card(7, "STORM", 2002, "02", deaths=2),
                                              card(8, "FLOOD", 1200, "01")]).read_bytes()
    assert_error(upload(client, tokens["vic"], "more.csv", csv), 403)
    assert_error(client.post("/api/upload", files={"file": ("a.csv", b"x")}), 401)
    response = upload(client, tokens["ana"], "../../more.csv", csv, country="lka")
    assert response.status_code == 200, response.text
    report = response.json()
    item = report["files"][0]
    assert item["path"] == "more.csv"
    assert (item["records_read"], item["records_imported"], item["records_quarantined"]) \
        == (2, 2, 0)
    # year 1200 costs the card its date, not its place in the store
    # (and its month and day, which need the year)
    assert item["fields_flagged"] == 3 and item["set_aside"] == []
    assert any("1200" in f["reason"] for f in item["flagged"])
    assert all(f["field"] for f in item["flagged"])
    assert "2 of 2 records imported" in item["message"]
    # an upload publishes nothing: its cards await review, hidden from visitors
    assert client.get("/api/records").json()["total"] == 2
    queued = client.get("/api/records?status=submitted", headers=auth(tokens["vera"])).json()
    assert queued["total"] == 2 and {r["serial"] for r in queued["rows"]} == {"7", "8"}
    storm = next(r["record_id"] for r in queued["rows"] if r["serial"] == "7")
    assert move(client, tokens["vera"], storm, "validated").status_code == 200
    assert client.get("/api/records").json()["total"] == 2  # validated is not published
    assert move(client, tokens["val"], storm, "published").status_code == 200
    assert client.get("/api/records").json()["total"] == 3
    again = upload(client, tokens["ana"], "more.csv", csv).json()
    assert again["files"][0]["status"] == "unchanged"
    audit = client.get("/api/admin/audit", params={"action": "upload"},
                       headers=auth(tokens["adam"])).json()
    assert audit["total"] == 2 and audit["rows"][0]["user"] == "ana"


def test_xml_with_an_external_entity_is_refused(site):
    client, tokens, db = site
    response = upload(client, tokens["ana"], "evil.xml", XXE)
    error = assert_error(response, 400)
    assert error["code"] == "workflow.upload.doctype" and "DOCTYPE" in error["message"]
    assert "root:" not in response.text
    zipped = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zipped, "w") as archive:  # inside a zip: the reader refuses it
        archive.writestr("DI_export_evil.xml", XXE)
    response = upload(client, tokens["ana"], "evil.zip", zipped.getvalue())
    assert response.status_code == 400, response.text
    assert "DOCTYPE" in response.json()["error"]["message"]
    with riskatlas.open(db, read_only=True) as atlas:
        assert atlas.count_records() == 2 and len(atlas.datasets()) == 1


def test_upload_size_limit(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01")])
    token = web_user(db, "ana", "collector")
    with web_client(db, max_upload_mb=1) as client:
        error = assert_error(upload(client, token, "big.csv", b"x" * (2 * 1024 * 1024)), 413)
        assert error["code"] == "workflow.upload.too_large"


# --- the store held by an importer ---

def test_a_write_while_an_importer_holds_the_store_is_503(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01")])
    token = web_user(db, "ana", "collector")
    with web_client(db, write_wait=0.3, retry_after=9) as client:
        assert client.get("/api/records").status_code == 200  # the copy exists
        with holding_store(db, tmp_path) as holder:
            busy = client.post("/api/records", json=NEW, headers=auth(token))
            assert assert_error(busy, 503)["code"] == "web.error.store_busy"
            assert busy.headers["retry-after"] == "9"
            assert client.get("/api/records").status_code == 200  # readers keep reading
            holder.communicate(b"", timeout=30)
            created = client.post("/api/records", json=NEW, headers=auth(token))
            assert created.status_code == 201
            # the write is visible to the very next read (the copy was refreshed)
            assert client.get("/api/records", headers=auth(token)).json()["total"] == 2


def test_public_all_shows_every_card(tmp_path: Path):
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3)])
    token = web_user(db, "ana", "collector")
    with web_client(db, public_all=True) as client:
        create(client, token)
        assert client.get("/api/records").json()["total"] == 2
        assert deaths(client) == 3  # the analyses count published cards, as the report
        assert deaths(client, unapproved=True) == 43
        assert "Every imported record is shown" in client.get("/records").text


def test_the_cache_never_keeps_an_answer_sent_with_any_cookie(site):
    """Two Cookie headers, a staff session first and another cookie second, once made the
    staff answer the anonymous one (issue 13): no request with a cookie or an Authorization
    header is served from or stored in the cache."""
    client, tokens, _ = site
    create(client, tokens["ana"])
    login(client, "vera")
    session = client.cookies.get("riskatlas_session")
    assert session
    client.cookies.clear()
    headers = [("cookie", f"riskatlas_session={session}"), ("cookie", "other=1")]
    staff = client.get("/api/records?status=draft", headers=headers)
    assert staff.json()["total"] == 1 and "x-riskatlas-cache" not in staff.headers
    for odd in ([("Cookie", "other=1")], [("authorization", "Bearer nothing")]):
        answer = client.get("/api/records?status=draft", headers=odd)
        assert "x-riskatlas-cache" not in answer.headers
    anonymous = client.get("/api/records?status=draft")
    assert anonymous.json()["total"] == 0 and anonymous.headers["x-riskatlas-cache"] == "miss"


def test_a_huge_page_number_is_a_422_or_the_last_page(site):
    """page=10^30 once answered 500 (issue 13)."""
    client, tokens, _ = site
    huge = str(10 ** 30)
    for path in ("/api/records", "/api/admin/audit"):
        response = client.get(path, params={"page": huge}, headers=auth(tokens["adam"]))
        assert assert_error(response, 422)["status"] == 422
    login(client, "adam")
    for path in ("/records", "/admin/audit"):
        assert client.get(path, params={"page": str(10 ** 6 + 1)}).status_code == 200


def test_security_headers_on_every_response_and_no_store_when_signed_in(site):
    client, tokens, _ = site
    for path in ("/", "/login", "/api/profile", "/api/nothing", "/static/riskatlas.css"):
        client.cookies.clear()  # /login sets a CSRF cookie: a cookie makes it private
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers.get("cache-control") != "no-store", path
    signed = client.get("/api/records", headers=auth(tokens["vera"]))
    assert signed.headers["cache-control"] == "no-store"
    login(client, "vera")
    assert client.get("/cards").headers["cache-control"] == "no-store"


def test_a_lone_surrogate_in_a_body_is_a_422_naming_the_field(site):
    """A JSON body with "\\ud800" once answered 500 (issue 13)."""
    client, tokens, _ = site
    body = b'{"country_iso3": "LKA", "level0_code": "01", "start_year": 2002, ' \
           b'"hazard_term": "\\ud800"}'
    response = client.post("/api/records", content=body, headers={
        **auth(tokens["ana"]), "content-type": "application/json"})
    error = assert_error(response, 422)
    assert error["code"] == "web.error.bad_text" and "hazard_term" in error["message"]
