"""The card service called directly (no web app): create, edit, transitions card by card
and per dataset, an upload's bookkeeping; each writes its change and its audit row in one
transaction, or neither; the web dataset's provenance and hazard terms as an import's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import riskatlas
from cards import card, store_with, write_cards
from riskatlas.services import cards, review
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.store import Store

NEW = {"country_iso3": "LKA", "level0_code": "01", "start_year": 2002, "start_month": 5,
       "start_day": 17, "hazard_term": "FLOOD", "deaths": 40, "victims": 10,
       "affected": "25", "comments": "river burst its banks"}
TABLES = ("records", "card_authors", "audit_log", "datasets", "hazard_terms")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    anonymous: bool = False

    @property
    def staff(self) -> bool:
        return self.role in cards.CREATORS


ANA, COLE, VERA, VIC = (User("ana", "collector"), User("cole", "collector"),
                        User("vera", "validator"), User("vic", "viewer"))


@pytest.fixture
def store(tmp_path: Path, new_db: Path | str) -> Any:
    """A two-card store, on each backend (conftest ``store_backend``)."""
    db = store_with(tmp_path, [card(1, "FLOOD", 2001, "01", deaths=3),
                               card(2, "LANDSLIDE", 2003, "01", deaths=1)], db=new_db)
    with riskatlas.open(db) as atlas:
        yield atlas.store


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(store.query(f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def actions(store: Store) -> list[tuple[Any, ...]]:
    return store.query('SELECT "user", action, record_id FROM audit_log ORDER BY id')


def broken(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("audit log unavailable")


def test_create_writes_the_card_its_author_its_audit_row_and_its_dataset(store: Store) -> None:
    made = cards.create(store, ANA, NEW)
    rid = made["record_id"]
    assert rid.startswith("WEB:") and made["approval_status"] == "draft"
    assert made["directly_affected"] == 35 and made["level0_name"] == "Unit 01"
    assert store.query("SELECT created_by FROM card_authors WHERE record_id = ?", [rid]) \
        == [("ana",)]
    assert actions(store) == [("ana", "create", rid)]
    (row,) = store.query("SELECT source_key, name, format, country_iso3, records_read, "
                         "records_imported, records_quarantined, notes, synthetic, "
                         "fields_flagged, imported_at IS NOT NULL FROM datasets "
                         "WHERE dataset_id = ?", [made["dataset_id"]])
    assert row[:7] == ("WEB", "web entries", "web", None, 1, 1, 0)
    assert json.loads(row[7]) == [{"key": "workflow.dataset_note"}]
    assert row[8:] == (False, 0, True)
    # the web dataset's terms as an import's commit records them
    terms = store.query("SELECT term, hips_code IS NOT NULL, hazard_group, records, "
                        "in_catalogue FROM hazard_terms WHERE dataset_id = ?",
                        [made["dataset_id"]])
    assert terms == [("FLOOD", True, "flood", 1, False)]
    second = cards.create(store, COLE, {**NEW, "hazard_term": "LANDSLIDE"})
    assert second["dataset_id"] == made["dataset_id"]  # one web dataset per store
    assert store.query("SELECT records_imported FROM datasets WHERE dataset_id = ?",
                       [made["dataset_id"]]) == [(2,)]


def test_a_failure_after_the_change_leaves_neither_change_nor_audit_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = cards.create(store, ANA, NEW)["record_id"]
    cards.transition(store, ANA, rid, "submitted")
    before = snapshot(store)
    monkeypatch.setattr(cards, "audit", broken)
    for operation in (lambda: cards.create(store, ANA, NEW),
                      lambda: cards.transition(store, VERA, rid, "validated"),
                      lambda: cards.transition(store, VERA, rid, "needs_revision", "why")):
        with pytest.raises(RuntimeError):
            operation()
        assert snapshot(store) == before and not store.in_transaction
    monkeypatch.undo()
    cards.transition(store, VERA, rid, "needs_revision", "the year is wrong")
    before = snapshot(store)
    monkeypatch.setattr(cards, "audit", broken)
    with pytest.raises(RuntimeError):
        cards.edit(store, ANA, rid, {"deaths": 41})
    assert snapshot(store) == before


def test_a_dataset_decision_fails_whole(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = int(store.scalar("SELECT min(dataset_id) FROM datasets"))
    store.query("UPDATE records SET approval_status = 'submitted'")
    before = snapshot(store)

    class NoJson:  # the decision's own row is the last write: it fails after the cards'
        @staticmethod
        def dumps(*args: Any, **kwargs: Any) -> bytes:
            assert store.query("SELECT DISTINCT approval_status FROM records") \
                == [("validated",)]  # the change is written when this row fails
            raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(review, "orjson", NoJson)
    with pytest.raises(RuntimeError):
        review.transition_dataset(store, VERA, dataset, "validated")
    assert snapshot(store) == before
    monkeypatch.undo()
    decision = review.transition_dataset(store, VERA, dataset, "validated")
    assert decision["count"] == 2 and decision["from"] == ["submitted"]
    assert store.query("SELECT DISTINCT approval_status FROM records") == [("validated",)]
    rows = actions(store)
    # the decision's row (its id taken first) and one per card, naming it
    assert [a for _, a, _ in rows] == ["dataset:validated"] + ["transition:validated"] * 2


def test_edit_and_the_workflow_rules(store: Store) -> None:
    rid = cards.create(store, ANA, NEW)["record_id"]
    with pytest.raises(cards.ForbiddenError):
        cards.edit(store, COLE, rid, {"deaths": 1})  # not the author
    with pytest.raises(cards.ForbiddenError):
        cards.create(store, VIC, NEW)  # viewers enter no card
    edited = cards.edit(store, ANA, rid, {"deaths": 41, "comments": ""})
    assert edited["deaths"] == 41 and edited["comments"] is None
    with pytest.raises(cards.CardInvalidError) as err:
        cards.edit(store, ANA, rid, {"start_day": "40", "level0_code": "99"})
    assert {p.field for p in err.value.problems} == {"start_day", "level0_code"}
    cards.transition(store, ANA, rid, "submitted")
    with pytest.raises(cards.ConflictError):
        cards.edit(store, ANA, rid, {"deaths": 2})  # submitted: no longer editable
    with pytest.raises(cards.ForbiddenError):
        cards.transition(store, ANA, rid, "validated")  # four eyes
    with pytest.raises(cards.WorkflowError) as sent:
        cards.transition(store, VERA, rid, "needs_revision")
    assert sent.value.key == "workflow.error.reason_required"
    cards.transition(store, VERA, rid, "needs_revision", "  the year is wrong ")
    assert cards.last_reason(store, rid) == "the year is wrong"
    view = cards.card_view(store, rid, ANA)
    assert view["author"] == "ana" and view["editable"] and view["allowed"] == ["submitted"]
    assert cards.card_view(store, rid, VERA)["allowed"] == []
    values, unknown = cards.card_entry(store, rid)
    assert values["deaths"] == 41 and "comments" not in values and unknown == []
    mine, queue = cards.card_lists(store, ANA)
    assert [r["record_id"] for r in mine] == [rid] and queue == []
    mine, queue = cards.card_lists(store, VERA, "needs_revision")
    assert mine == [] and [r["record_id"] for r in queue] == [rid]
    assert [a for _, a, _ in actions(store)] == [
        "create", "edit", "transition:submitted", "transition:needs_revision"]


def test_an_upload_writes_its_authors_and_audit_row_in_the_import_commit(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_cards(tmp_path / "upload.csv", [card(9, "STORM", 2002, "01")])
    options = ReadOptions(country="LKA", review=True)
    before = snapshot(store)
    monkeypatch.setattr(cards, "audit", broken)
    with pytest.raises(RuntimeError):
        riskatlas.api.Atlas(store).import_paths(
            [path], options=options, on_commit=cards.upload_recorder("ana", path.name, 1))
    assert snapshot(store) == before  # no dataset without its authors and audit row
    monkeypatch.undo()
    (result,) = riskatlas.api.Atlas(store).import_paths(
        [path], options=options, on_commit=cards.upload_recorder("ana", path.name, 1))
    assert store.query("SELECT created_by, count(*) FROM card_authors GROUP BY 1") \
        == [("ana", 1)]
    assert actions(store) == [("ana", "upload", None)]
    assert [r["dataset_id"] for r in review.awaiting_review(store, VERA)] == [
        result.dataset_id]
    with pytest.raises(cards.ForbiddenError):  # the uploader may not review their cards
        review.transition_dataset(store, User("ana", "validator"), result.dataset_id,
                                 "validated")
    cards.note_upload(store, "ana", path.name, 1, [{"status": "unchanged"}])
    assert actions(store)[-1] == ("ana", "upload", None)
