"""Links between sources under review (issue 17): stored, decided, audited, exported.

A small store (invented cards of a flat export and an EM-DAT-layout file written here)
checks the services, the web API and page and the report section quickly; the real Nepal
and Grenada data with tests/data/emdat_linking.csv check the CLI and the assessment
(marked ``shared_data``: they skip without ../shared/data).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from cards import card, store_with
from conftest import TEST_DATA, auth, csrf_of, login, web_client, web_user
from riskatlas.services import links
from riskatlas.services.accounts import ForbiddenError
from test_cli import run_cli

FIXTURE = TEST_DATA / "emdat_linking.csv"
VALIDATOR = links.Operator(name="vera", role="validator")


def _emdat_rows(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    """An EM-DAT-layout CSV (the fixture's header) holding ``rows``."""
    with FIXTURE.open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    path = tmp_path / "emdat_lka.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: row.get(name, "") for name in header})
    return path


def _emdat(number: str, kind: tuple[str, str, str, str], year: int, month: int, day: int,
           deaths: str, location: str) -> dict[str, str]:
    group, subgroup, dtype, subtype = kind
    return {"DisNo.": f"{year}-{number}-LKA", "Historic": "No", "Disaster Group": group,
            "Disaster Subgroup": subgroup, "Disaster Type": dtype,
            "Disaster Subtype": subtype, "ISO": "LKA", "Country": "Sri Lanka",
            "Location": location, "Start Year": str(year), "Start Month": str(month),
            "Start Day": str(day), "End Year": str(year), "End Month": str(month),
            "End Day": str(day), "Total Deaths": deaths}


FLOOD = ("Natural", "Hydrological", "Flood", "Riverine flood")
STORM = ("Natural", "Meteorological", "Storm", "Tropical cyclone")


def small_store(folder: Path, *, with_emdat: bool = True, db: Path | str | None = None
                ) -> Path:
    """Invented cards of Sri Lanka (a flood on 1 June 2001, a landslide in 2003) and,
    ``with_emdat``, EM-DAT rows: the same flood and a storm no card records (at ``db``:
    a DuckDB path or a PostgreSQL URL, by default a file in ``folder``)."""
    db = store_with(folder, [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
                             card(2, "LANDSLIDE", 2003, "01", deaths=1)], db=db)
    if with_emdat:
        rows = [_emdat("9901", FLOOD, 2001, 6, 1, "3", "Unit 01 province"),
                _emdat("9902", STORM, 2010, 11, 20, "40", "Atlantis")]
        with riskatlas.open(db) as atlas:
            [result] = atlas.import_paths([_emdat_rows(folder, rows)])
            assert result.format == "emdat" and result.records_imported == 2
    return db


@pytest.fixture
def proposed(tmp_path: Path) -> Path:
    """The small store with its links proposed (EM-DAT → the cards)."""
    return _proposed(small_store(tmp_path))


@pytest.fixture
def proposed_on(tmp_path: Path, new_db: Path | str) -> Path:
    """The same, on each backend (conftest ``store_backend``): the services' tests."""
    return _proposed(small_store(tmp_path, db=new_db))


def _proposed(db: Path) -> Path:
    with riskatlas.open(db) as atlas:
        found = atlas.link("EMDAT", _cards(atlas))
        assert found.attrs["counts"]["new"] == len(found) == 1
    return db


def _cards(atlas: Any) -> int:
    frame = atlas.datasets()
    return int(frame[frame.format != "emdat"].dataset_id.iloc[0])


def _audit(db: Path, action: str) -> list[tuple[Any, ...]]:
    with riskatlas.open(db, read_only=True) as atlas:
        return atlas.store.connection.execute(
            'SELECT "user", action, record_id, reason FROM audit_log WHERE action = ? '
            "ORDER BY id", [action]).fetchall()


# ------------------------------------------------------------------------ services


def test_a_link_is_proposed_explained_and_found_again_with_its_decision(proposed_on: Path
                                                                         ) -> None:
    proposed = proposed_on
    with riskatlas.open(proposed) as atlas:
        [link] = atlas.links().to_dict("records")
        assert link["status"] == "proposed" and link["from_event"] == "EMDAT:2001-9901-LKA"
        assert link["from_records"] == ["EMDAT:2001-9901-LKA"] and link["to_records"]
        assert link["why"].startswith("score ") and "periods overlap" in link["why"]
        assert link["methods_digest"] == atlas.methods.digest
        decision = links.decide(atlas.store, VALIDATOR, int(link["link_id"]), "accept",
                                "same flood")
        assert decision["status"] == "accepted" and decision["decided_by"] == "vera"
        # proposed again: the same link (its members), its decision kept
        again = atlas.link("EMDAT", _cards(atlas))
        assert again.attrs["counts"] == {**again.attrs["counts"], "new": 0, "decided": 1,
                                         "dropped": 0}
        [kept] = again.to_dict("records")
        assert (kept["link_id"], kept["status"], kept["reason"]) == (link["link_id"],
                                                                     "accepted", "same flood")
        merged = atlas.merged_events()
        deaths = merged[merged.figure == "deaths"].iloc[0]
        assert (deaths.value, deaths.from_value, deaths.to_value) == (3.0, 3.0, 3.0)
        table = atlas.completeness("EMDAT", _cards(atlas))
    emdat = table[table.source == "EMDAT"].set_index("hazard_group")
    assert emdat.loc["flood", "captured_events"] == 1
    assert emdat.loc["storm", "captured_events"] == 0  # the storm no card records
    [row] = _audit(proposed, "link:accepted")
    assert row == ("vera", "link:accepted", f"link:{link['link_id']}", "same flood")
    assert len(_audit(proposed, "links:propose")) == 2


def test_collectors_and_viewers_cannot_decide(proposed: Path) -> None:
    with riskatlas.open(proposed) as atlas:
        link_id = int(atlas.links().link_id.iloc[0])
        for role in ("collector", "viewer"):
            with pytest.raises(ForbiddenError):
                links.decide(atlas.store, links.Operator(name="ana", role=role), link_id,
                             "accept")
        with pytest.raises(links.LinkNotFoundError):
            links.decide(atlas.store, VALIDATOR, link_id + 100, "accept")
        with pytest.raises(links.WorkflowError):
            links.decide(atlas.store, VALIDATOR, link_id, "maybe")
        assert atlas.links().status.tolist() == ["proposed"]
    assert _audit(proposed, "link:accepted") == []


def test_a_place_of_the_review_list_is_settled_and_audited(proposed_on: Path) -> None:
    proposed = proposed_on
    with riskatlas.open(proposed) as atlas:
        review = links.places(atlas.store)
        assert len(review) >= 1 and set(review.method) <= {"unmatched", "ambiguous"}
        place = int(review.place_id.iloc[0])
        with pytest.raises(ForbiddenError):
            links.settle_place(atlas.store, links.Operator(name="ana", role="collector"),
                               place, "01")
        with pytest.raises(links.WorkflowError):
            links.settle_place(atlas.store, VALIDATOR, place, "no-such-unit")
        links.settle_place(atlas.store, VALIDATOR, place, "01", "the province")
        assert place not in set(links.places(atlas.store).place_id)
        atlas.link("EMDAT", _cards(atlas))  # proposed again: the settled place stays
        stored = links.places(atlas.store, review=False)
        assert stored[stored.place_id == place].settled_code.tolist() == ["01"]
        text = stored[stored.place_id == place].text.iloc[0]
        assert (stored.text == text).sum() == 1  # not matched again beside it
        # the linker takes a settled place as the unit it names
        from riskatlas.linking import dataset_events

        emdat = int(atlas.datasets().query("format == 'emdat'").dataset_id.iloc[0])
        record = stored[stored.place_id == place].record_id.iloc[0]
        before = dataset_events(atlas, emdat).set_index("event_id").units[record]
        after = dataset_events(atlas, emdat, settled=links.settled_places(atlas.store)) \
            .set_index("event_id").units[record]
        assert "0:01" in after - before
    assert [r[0] for r in _audit(proposed, "place:settled")] == ["vera"]


# ----------------------------------------------------------------------------- web


def test_the_links_api_review_and_csv(proposed: Path) -> None:
    tokens = {name: web_user(proposed, name, role) for name, role in
              (("ana", "collector"), ("vera", "validator"))}
    with web_client(proposed) as client:
        assert client.get("/api/links").status_code == 401
        listed = client.get("/api/links", params={"from": "EMDAT", "status": "proposed"},
                            headers=auth(tokens["ana"]))
        assert listed.status_code == 200, listed.text
        [row] = listed.json()["rows"]
        link_id = row["link_id"]
        assert row["why"] and row["from_records"] == ["EMDAT:2001-9901-LKA"]
        assert client.get("/api/links", params={"status": "unknown"},
                          headers=auth(tokens["ana"])).status_code == 422
        # a collector may not decide (403); a validator may, audited
        refused = client.post(f"/api/links/{link_id}/decision", json={"to": "accept"},
                              headers=auth(tokens["ana"]))
        assert refused.status_code == 403 and refused.json()["error"]["status"] == 403
        done = client.post(f"/api/links/{link_id}/decision",
                           json={"to": "reject", "reason": "=HYPERLINK(\"x\")"},
                           headers=auth(tokens["vera"]))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "rejected"
        assert client.post(f"/api/links/{link_id + 99}/decision", json={"to": "accept"},
                           headers=auth(tokens["vera"])).status_code == 404
        assert client.get("/api/links", params={"status": "rejected"},
                          headers=auth(tokens["ana"])).json()["rows"][0]["decided_by"] == "vera"
        exported = client.get("/api/links.csv", headers=auth(tokens["ana"]))
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        [line] = list(csv.DictReader(io.StringIO(exported.text)))
        assert line["status"] == "rejected" and line["reason"] == "'=HYPERLINK(\"x\")"
    assert [r[0] for r in _audit(proposed, "link:rejected")] == ["vera"]


def test_the_links_page_decides_with_the_session_token(proposed: Path) -> None:
    web_user(proposed, "cole", "collector")
    web_user(proposed, "val", "validator")
    with web_client(proposed) as client:
        assert client.get("/links", follow_redirects=False).status_code == 303
        login(client, "cole")
        assert client.get("/links").status_code == 403
    with web_client(proposed) as client:
        login(client, "val")
        page = client.get("/links")
        assert page.status_code == 200 and 'id="accept-1"' in page.text
        assert "EMDAT:2001-9901-LKA" in page.text
        # an API call with the session cookie needs its CSRF token
        assert client.post("/api/links/1/decision", json={"to": "accept"}).status_code == 403
        csrf = csrf_of(client, "/links")
        done = client.post("/links/decision", data={"csrf": csrf, "link": "1",
                                                    "to": "accept", "reason": "same"},
                           follow_redirects=False)
        assert done.status_code == 303 and "done=1" in done.headers["location"]
        assert 'id="done"' in client.get(done.headers["location"]).text
        shares = client.get("/links", params={"tab": "completeness"})
        assert shares.status_code == 200 and 'id="completeness"' in shares.text
        assert "<svg" in shares.text
        api = client.get("/api/links/completeness", params={"from": "EMDAT"}).json()
        flood = [r for r in api["rows"] if r["source"] == "EMDAT"
                 and r["hazard_group"] == "flood"]
        assert [r["captured_events"] for r in flood] == [1]
        places = client.get("/links", params={"tab": "places", "lang": "zh-TW"})
        assert places.status_code == 200 and "待審查的地點" in places.text
    assert [r[0] for r in _audit(proposed, "link:accepted")] == ["val"]


# -------------------------------------------------------------------------- report


def test_the_report_section_only_when_both_kinds_are_loaded(tmp_path: Path) -> None:
    from riskatlas.report.html import render_html

    (tmp_path / "both").mkdir()
    (tmp_path / "alone").mkdir()
    both = small_store(tmp_path / "both")
    alone = small_store(tmp_path / "alone", with_emdat=False)
    with riskatlas.open(both, read_only=True) as atlas:
        assessment = atlas.assess(country="LKA", level=1)
    assert assessment.linking is not None
    assert assessment.linking.pairs[0]["basis"] == "proposed"  # nothing reviewed yet
    html = render_html(assessment)
    assert 'id="linked-sources"' in html and 'id="merged-events"' in html
    assert any("counts in each" in note for note in assessment.notes)
    with riskatlas.open(alone, read_only=True) as atlas:
        assessment = atlas.assess(country="LKA", level=1)
    assert assessment.linking is None and not any("counts in each" in n
                                                  for n in assessment.notes)
    assert 'id="linked-sources"' not in render_html(assessment)


# --------------------------------------------------------------- real data (CLI)


@pytest.fixture(scope="module")
def nepal_linked(nepal_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nepal (dataset 1) and the EM-DAT fixture in one store."""
    db = tmp_path_factory.mktemp("nepal_links") / "linked.duckdb"
    shutil.copy(nepal_db, db)
    with riskatlas.open(db) as atlas:
        atlas.import_paths([FIXTURE])
    return db


@pytest.mark.shared_data
def test_the_cli_links_nepal_and_emdat(nepal_linked: Path, tmp_path: Path) -> None:
    out = tmp_path / "links.csv"
    ran = run_cli("link", "--from", "EMDAT", "--to", "DI-NPL", "--csv", str(out),
                  "--db", str(nepal_linked))
    assert ran.code == 0, ran.stderr
    assert "new links" in ran.stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    gorkha = [r for r in rows if r["from_event"] == "EMDAT:2015-9301-NPL"]
    assert gorkha and gorkha[0]["status"] == "proposed"
    assert gorkha[0]["hazard_basis"] == "same_code" and "periods overlap" in gorkha[0]["why"]
    link_id = gorkha[0]["link_id"]
    listed = run_cli("links", "list", "--status", "proposed", "--format", "csv", "--db",
                     str(nepal_linked))
    assert listed.code == 0 and f"\n{link_id}," in listed.stdout
    web_user(nepal_linked, "ana", "collector")
    refused = run_cli("links", "accept", link_id, "--user", "ana", "--db", str(nepal_linked))
    assert refused.code == 1 and "not allowed" in refused.stderr
    accepted = run_cli("--lang", "zh-TW", "links", "accept", link_id, "--reason", "Gorkha",
                       "--db", str(nepal_linked))
    assert accepted.code == 0 and "已接受" in accepted.stdout
    again = run_cli("link", "--from", "EMDAT", "--to", "DI-NPL", "--db", str(nepal_linked))
    assert again.code == 0 and "1 found again with their decision" in again.stdout
    places = run_cli("links", "places", "--format", "csv", "--db", str(nepal_linked))
    assert places.code == 0
    with riskatlas.open(nepal_linked, read_only=True) as atlas:
        table = atlas.completeness("EMDAT", "DI-NPL")
        merged = atlas.merged_events()
    quake = table[(table.hazard_group == "earthquake") & (table.year == 2015)
                  & (table.source == "EMDAT")]
    assert quake.captured_events.sum() == 1  # the main shock, accepted
    deaths = merged[merged.figure == "deaths"].iloc[0]
    assert deaths.source_dataset in ("EMDAT", "DI-NPL") and deaths.value > 8000


@pytest.mark.shared_data
def test_assess_adds_the_section_with_grenada_and_emdat(grenada_db: Path,
                                                        tmp_path: Path) -> None:
    from riskatlas.report.html import render_html

    db = tmp_path / "grd.duckdb"
    shutil.copy(grenada_db, db)
    with riskatlas.open(grenada_db, read_only=True) as atlas:
        plain = atlas.assess(country="GRD")
    assert plain.linking is None
    with riskatlas.open(db) as atlas:
        atlas.import_paths([FIXTURE])
        found = atlas.link("EMDAT", "DI-GRD")
        ivan = found[found.from_event == "EMDAT:2004-9401-GRD"].link_id.iloc[0]
        links.decide(atlas.store, VALIDATOR, int(ivan), "accept")
        assessment = atlas.assess(country="GRD")
    section = assessment.linking
    assert section is not None and section.pairs[0]["basis"] == "accepted"
    storm = section.completeness[(section.completeness.source == "EMDAT")
                                 & (section.completeness.year == 2004)]
    assert storm.captured_events.sum() == 1
    html = render_html(assessment)
    assert 'id="linked-sources"' in html and "EMDAT:2004-9401-GRD" in html
