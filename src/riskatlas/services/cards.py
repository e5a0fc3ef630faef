"""Data cards: create, edit, the approval workflow card by card, the bookkeeping of
uploads and the audit log, for the web app (and any other view).

A card's fields are DesInventar card fields under their canonical names. They are built
exactly as an import builds them: renamed to DesInventar fields and passed through
:func:`riskatlas.sources.desinventar_fields.card_values` (directly affected = victims +
affected, "reported but unknown" flags), then typed, validated and hazard-mapped by
:class:`riskatlas.sources.convert.RecordBuilder` with the store's crosswalk. The country
and admin units are checked against the store's gazetteer (:mod:`riskatlas.services.places`).
A card is refused (400, :class:`CardInvalidError`) with EVERY problem at once: each value
an import would not take as read (with the importers' message), each field the form does
not have or a text too long, each unknown country or unit, named by its field.

Cards get ids ``WEB:<uuid>`` in one dataset per store, "web entries" (created on first
use, with provenance, as an import's commit writes it: :func:`batch.insert_dataset`); its
counts and hazard terms are recomputed as a commit records them
(:func:`batch.refresh_dataset`), so unmapped terms reach the review list (``riskatlas
hazards --unmapped``). Every operation writes its change and its row of ``audit_log``
(before/after as JSON) in one :meth:`Store.transaction` (joining the caller's, if any).

Workflow: draft → submitted → validated → published; a reviewer may send a submitted,
validated or published card back (needs_revision, with a reason); the author resubmits.
Authors (or admins) edit and submit; validators and admins review, never a card they
created (four eyes). Only cards entered on the web are edited here; imported cards are
corrected at their source and imported again, but they go through the same review.

Review per dataset is :mod:`riskatlas.services.review`.

Country accounts (:func:`riskatlas.services.accounts.acting_countries`): collectors and
validators create, edit, submit, review and upload cards only of the countries they act
in (a 403 :class:`~riskatlas.services.accounts.CountryError` naming them); a card cannot
be moved to another country either. Admins act everywhere, and so does everyone on a
store with no country grant at all.

An upload's cards arrive submitted; the uploader becomes the author of each and the audit
log gets an "upload" row per dataset, both in the import's own commit transaction
(:func:`upload_recorder`, passed as ``import_paths(on_commit=...)``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from riskatlas.i18n import translate
from riskatlas.model.schema import APPROVAL_STATUSES, record_columns
from riskatlas.services import places
from riskatlas.services.accounts import (
    CountryError,
    ForbiddenError,
    acting_countries,
    country_scope,
    may_act_in,
    user_row,
)
from riskatlas.services.audit import audit, now
from riskatlas.services.card_form import (  # the card's names, importable here
    DATASET_FORMAT,
    DATASET_NAME,
    EFFECT_FIELDS,
    EVENT_FIELDS,
    FORM_FIELDS,
    MAX_TEXT,
    NOTE_FIELDS,
    NUMBER_FIELDS,
    PLACE_FIELDS,
    SOURCE_FILE,
    SOURCE_KEY,
    UNKNOWN_IMPACTS,
    CardInvalidError,
    Problem,
    WorkflowError,
    build_card,
    clean_fields,
    clean_unknown,
    field_label,
    problem_text,
)
from riskatlas.store.batch import BatchResult, OnCommit, insert_dataset, refresh_dataset

if TYPE_CHECKING:
    import duckdb

    from riskatlas.importer import FileResult
    from riskatlas.store.store import Store

    Connection = duckdb.DuckDBPyConnection


__all__ = ["CREATORS", "DATASET_FORMAT", "DATASET_NAME", "EDITABLE", "EFFECT_FIELDS",
           "EVENT_FIELDS", "FORM_FIELDS", "LIST_COLUMNS", "LIST_LIMIT", "MAX_TEXT", "NOTE_FIELDS",
           "NUMBER_FIELDS", "PLACE_FIELDS", "REVIEWERS", "SOURCE_FILE", "SOURCE_KEY",
           "TRANSITIONS", "UNKNOWN_IMPACTS", "Actor", "CardInvalidError", "CardNotFoundError",
           "ConflictError", "Problem", "WorkflowError", "allowed_transitions", "author_of",
           "build_card", "card_entry", "card_lists", "card_view", "check_upload_countries",
           "checked_card", "clean_fields",
           "clean_reason", "clean_unknown", "create", "edit", "field_label", "import_upload",
           "jsonable_card", "last_reason", "note_upload", "problem_text", "store_countries",
           "transition", "upload_recorder", "web_dataset"]


class Actor(Protocol):
    """Who acts: a user's name and role (the web's ``Viewer`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def anonymous(self) -> bool: ...

    @property
    def staff(self) -> bool: ...


_COLUMNS = [name for name, _ in record_columns() if name != "extension"]

EDITABLE = ("draft", "needs_revision")
# (from, to) → who may: the card's author (or an admin), or a reviewer who is not its author
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "submitted"): "author",
    ("needs_revision", "submitted"): "author",
    ("submitted", "validated"): "review",
    ("submitted", "needs_revision"): "review",
    ("validated", "published"): "review",
    ("validated", "needs_revision"): "review",
    ("published", "needs_revision"): "review",
}
REVIEWERS = ("validator", "admin")
CREATORS = ("collector", "validator", "admin")


class ConflictError(WorkflowError):
    """The card is not in a state that allows this (409); statuses in the reader's words."""

    key = "workflow.error.bad_transition"
    http_status = 409

    def render(self, lang: str = "en") -> str:
        return translate(self.key, lang, **{
            k: translate(f"workflow.state.{v}", lang) if v in APPROVAL_STATUSES else v
            for k, v in self.params.items()})


class CardNotFoundError(WorkflowError):
    key = "workflow.error.no_card"
    http_status = 404


def store_countries(store: Store) -> list[str]:
    """The countries the store holds (its gazetteer's, its imported cards')."""
    return places.store_countries(store, f"{SOURCE_KEY}:")


def checked_card(store: Store, native_key: str, fields: Mapping[str, Any], unknown: Any, *,
                 status: str, author: str,
                 countries: Collection[str] | None = None) -> dict[str, Any]:
    """A web card built from the submitted ``fields`` once its place is settled in the
    store's gazetteer (:mod:`riskatlas.services.places`); else :class:`CardInvalidError`
    listing every problem. ``countries``: those the author acts in (None: every one); a
    blank country is the only one of the store's they act in."""
    problems: list[Problem] = []
    given = clean_fields(fields, problems)
    flags = clean_unknown(unknown, problems)
    settled = dict(given)
    held = store_countries(store)
    if countries is not None:
        held = [c for c in held if c in countries]
    found = places.settle_country(settled, held)
    gazetteer = places.Gazetteer.of(store, None if found else settled.get("country_iso3"))
    found += places.settle_place(gazetteer, settled)
    problems += [Problem(*f) for f in found]
    card = build_card(store.crosswalk, native_key, settled, flags, status=status,
                      author=author, problems=problems, given=given)
    if problems:
        raise CardInvalidError(problems)
    return card


# --- reading inside a write transaction (parameters only) -------------------------------

def _card(con: Connection, record_id: str) -> dict[str, Any] | None:
    cur = con.execute("SELECT * FROM records WHERE record_id = ?", [record_id])
    rows = cur.fetchall()  # leaves no open result (Ibis reads follow on this connection)
    if not rows:
        return None
    return dict(zip([d[0] for d in cur.description or ()], rows[0], strict=True))


def author_of(con: Connection, record_id: str) -> str | None:
    rows = con.execute("SELECT created_by FROM card_authors WHERE record_id = ?",
                       [record_id]).fetchall()
    return str(rows[0][0]) if rows else None


def jsonable_card(card: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A card as JSON-ready values (dates ISO, raw kept as its JSON text)."""
    if card is None:
        return None
    out: dict[str, Any] = orjson.loads(orjson.dumps(
        {k: v for k, v in card.items() if k != "extension"}, default=str))
    return out


def web_dataset(store: Store, con: Connection) -> int:
    """The store's "web entries" dataset, created (with its provenance, as an import's
    commit writes it) on first use."""
    row = con.execute("SELECT dataset_id FROM datasets WHERE source_key = ? AND format = ? "
                      "ORDER BY dataset_id LIMIT 1", [SOURCE_KEY, DATASET_FORMAT]).fetchone()
    if row:
        return int(row[0])
    dataset_id = store.next_dataset_id()
    insert_dataset(con, dataset_id=dataset_id, source_key=SOURCE_KEY, name=DATASET_NAME,
                   format=DATASET_FORMAT, importer_version=store.importer_version,
                   crosswalk_version=store.crosswalk.version, country_iso3=None,
                   notes=[{"key": "workflow.dataset_note"}])
    return dataset_id


def _write_card(con: Connection, card: Mapping[str, Any], *, insert: bool) -> None:
    values = [card.get(c) for c in _COLUMNS]
    if insert:
        con.execute(f"INSERT INTO records ({', '.join(_COLUMNS)}) VALUES "
                    f"({', '.join('?' for _ in _COLUMNS)})", values)
    else:
        rest = [c for c in _COLUMNS if c != "record_id"]
        con.execute(f"UPDATE records SET {', '.join(f'{c} = ?' for c in rest)} "
                    "WHERE record_id = ?", [card.get(c) for c in rest] + [card["record_id"]])


def _within(actor: Actor, scope: Collection[str] | None, country: Any) -> None:
    """CountryError (403) unless ``country`` (a card's, or a value given for one) is among
    the countries ``actor`` acts in (``scope``; None: every one)."""
    code = str(country).strip().upper() if country is not None else None
    if not may_act_in(scope, code or None):
        raise CountryError(actor.name, code or None, scope or ())


def _given_country(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("country_iso3")
    return value.strip().upper() or None if isinstance(value, str) else None


# --- the operations: the change and its audit row, one transaction ----------------------

def create(store: Store, actor: Actor, fields: Mapping[str, Any],
           unknown: Any = None) -> dict[str, Any]:
    """A new draft card by ``actor`` in a country they act in; returns it."""
    if actor.role not in CREATORS:
        raise ForbiddenError("auth.error.role", role=actor.role)
    native = str(uuid.uuid4())
    with store.transaction() as con:
        scope = acting_countries(con, actor.name, actor.role)
        if _given_country(fields) is not None:  # refused before the card is checked
            _within(actor, scope, _given_country(fields))
        card = checked_card(store, native, fields, unknown, status="draft", author=actor.name,
                            countries=scope)
        _within(actor, scope, card.get("country_iso3"))
        card["dataset_id"] = web_dataset(store, con)
        card["recorded_on"] = dt.date.today().isoformat()
        _write_card(con, card, insert=True)
        con.execute("INSERT INTO card_authors (record_id, created_by, created_at) "
                    "VALUES (?, ?, ?)", [card["record_id"], actor.name, now()])
        refresh_dataset(con, card["dataset_id"], store.crosswalk)
        stored = _card(con, card["record_id"])
        audit(con, actor.name, "create", card["record_id"], None, jsonable_card(stored))
    return stored or card


def _may_edit(actor: Actor, card: Mapping[str, Any], author: str | None) -> None:
    if not str(card["record_id"]).startswith(SOURCE_KEY + ":"):
        raise WorkflowError("workflow.error.not_web_card", record=card["record_id"])
    if actor.role == "admin":
        return
    if actor.role not in CREATORS or author != actor.name:
        raise ForbiddenError("workflow.error.not_author", record=card["record_id"])
    if card["approval_status"] not in EDITABLE:
        raise ConflictError("workflow.error.not_editable", status=card["approval_status"])


def edit(store: Store, actor: Actor, record_id: str, changes: Mapping[str, Any],
         unknown: Any = None) -> dict[str, Any]:
    """Change some fields of a web card (None or "" clears one); returns the card."""
    with store.transaction() as con:
        before = _card(con, record_id)
        if before is None:
            raise CardNotFoundError(record=record_id)
        author = author_of(con, record_id)
        _may_edit(actor, before, author)
        scope = acting_countries(con, actor.name, actor.role)
        _within(actor, scope, before["country_iso3"])
        if _given_country(changes) is not None:  # nor moved to another country
            _within(actor, scope, _given_country(changes))
        previous = orjson.loads(before["raw"] or "{}")
        flags = previous.pop("unknown", [])
        card = checked_card(store, str(before["native_key"]), {**previous, **changes},
                            flags if unknown is None else unknown,
                            status=str(before["approval_status"]), author=author or actor.name,
                            countries=scope)
        _within(actor, scope, card.get("country_iso3"))
        for keep in ("record_id", "dataset_id", "source_file", "source_row", "recorded_on"):
            card[keep] = before[keep]
        _write_card(con, card, insert=False)
        refresh_dataset(con, int(before["dataset_id"]), store.crosswalk)
        after = _card(con, record_id)
        audit(con, actor.name, "edit", record_id, jsonable_card(before), jsonable_card(after))
    return after or card


def allowed_transitions(actor: Actor, status: str, author: str | None,
                        record_id: str) -> list[str]:
    """The statuses ``actor`` may move a card to (for the buttons on its page)."""
    out = []
    for (source, target), who in TRANSITIONS.items():
        if source != status or actor.anonymous:
            continue
        try:
            _may_transition(actor, who, author, record_id)
        except ForbiddenError:
            continue
        out.append(target)
    return out


def _may_transition(actor: Actor, who: str, author: str | None, record_id: str) -> None:
    if who == "author":
        if actor.role == "admin" or (actor.role in CREATORS and author == actor.name):
            return
        raise ForbiddenError("workflow.error.not_author", record=record_id)
    if actor.role not in REVIEWERS:
        raise ForbiddenError("auth.error.role", role=actor.role)
    if author is not None and author == actor.name:
        raise ForbiddenError("workflow.error.four_eyes", record=record_id)


def clean_reason(reason: str | None) -> str | None:
    """A reason given (stripped; None when blank), refused past MAX_TEXT."""
    text = (reason or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise WorkflowError("workflow.error.too_long", field="reason", max=MAX_TEXT)
    return text


def transition(store: Store, actor: Actor, record_id: str, to: str,
               reason: str | None = None) -> dict[str, Any]:
    """Move a card to status ``to``; sending back needs a reason. Returns the card."""
    if to not in APPROVAL_STATUSES:
        raise WorkflowError("workflow.error.bad_status", status=to,
                            statuses=", ".join(APPROVAL_STATUSES))
    reason = clean_reason(reason)
    with store.transaction() as con:
        before = _card(con, record_id)
        if before is None:
            raise CardNotFoundError(record=record_id)
        status = str(before["approval_status"])
        who = TRANSITIONS.get((status, to))
        if who is None:
            raise ConflictError("workflow.error.bad_transition", status=status, to=to)
        _may_transition(actor, who, author_of(con, record_id), record_id)
        _within(actor, acting_countries(con, actor.name, actor.role), before["country_iso3"])
        if to == "needs_revision" and not reason:
            raise WorkflowError("workflow.error.reason_required")
        con.execute("UPDATE records SET approval_status = ? WHERE record_id = ?",
                    [to, record_id])
        audit(con, actor.name, f"transition:{to}", record_id, {"approval_status": status},
              {"approval_status": to}, reason)
        after = _card(con, record_id)
    return after or dict(before, approval_status=to)


# --- reading (Ibis, over the cards the reader may see) -----------------------------------

def last_reason(store: Store, record_id: str) -> str | None:
    """Why the card was last sent back (for its author), from the audit log."""
    log = store.table("audit_log")
    rows = (log.filter((log.record_id == record_id) & (log.action == "transition:needs_revision"))
            .order_by(log.id.desc()).select("reason").limit(1).to_pandas())
    return str(rows["reason"].iloc[0]) if len(rows) and rows["reason"].iloc[0] else None


def card_view(store: Store, record_id: str, actor: Actor) -> dict[str, Any]:
    """A visible card (without its raw row) with its author, the reason it was last sent
    back (staff only), the moves open to ``actor`` and whether they may edit it."""
    records = store.table("records")
    rows = records.filter(records.record_id == record_id).drop("raw").to_pandas()
    if not len(rows):
        raise CardNotFoundError(record=record_id)
    card: dict[str, Any] = rows.to_dict("records")[0]
    author, reason = None, None
    if "card_authors" in store.tables():
        authors = store.table("card_authors")
        hit = authors.filter(authors.record_id == record_id).to_pandas()
        author = str(hit["created_by"].iloc[0]) if len(hit) else None
        if actor.staff:
            reason = last_reason(store, record_id)
    status = str(card["approval_status"])
    here = actor.anonymous or may_act_in(country_scope(store, actor.name, actor.role),
                                         card.get("country_iso3"))
    allowed = allowed_transitions(actor, status, author, record_id) if here else []
    editable = (here and record_id.startswith(SOURCE_KEY + ":") and not actor.anonymous
                and (actor.role == "admin" or (author == actor.name and status in EDITABLE)))
    return {"card": card, "author": author, "reason": reason, "allowed": allowed,
            "editable": editable}


def card_entry(store: Store, record_id: str) -> tuple[dict[str, Any], list[str]]:
    """The fields of a card as its author entered them (its raw row) and the impacts
    they reported as unknown: what its edit form shows."""
    records = store.table("records")
    raw = records.filter(records.record_id == record_id).select("raw").to_pandas()["raw"]
    values: dict[str, Any] = orjson.loads((raw.iloc[0] if len(raw) else None) or "{}")
    unknown = values.pop("unknown", [])
    return values, list(unknown)


LIST_COLUMNS = ("record_id", "start_date", "hazard_term", "hazard_group", "place",
                "level0_name", "approval_status", "deaths")
LIST_LIMIT = 500  # an upload makes its uploader the author of every card: a page


def card_lists(store: Store, actor: Actor, status: str | None = None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the cards ``actor`` authored, the cards waiting for them as a reviewer: in
    ``status``, default submitted or validated, of the countries they act in), a page of
    each, dates as text."""
    mine: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = []
    if "card_authors" in store.tables():
        records, authors = store.table("records"), store.table("card_authors")
        own = records.join(authors, "record_id").filter(authors.created_by == actor.name)
        mine = own.select(*LIST_COLUMNS).order_by("record_id").limit(LIST_LIMIT) \
            .to_pandas().to_dict("records")
    scope = country_scope(store, actor.name, actor.role)
    if actor.role in REVIEWERS and (scope is None or scope):
        records = store.table("records")
        wanted = [status] if status in APPROVAL_STATUSES else ["submitted", "validated"]
        waiting = records.filter(records.approval_status.isin(wanted))
        if scope is not None:
            waiting = waiting.filter(waiting.country_iso3.isin(sorted(scope)))
        queue = (waiting.select(*LIST_COLUMNS).order_by("record_id").limit(LIST_LIMIT)
                 .to_pandas().to_dict("records"))
    for row in (*mine, *queue):
        row["start_date"] = str(row["start_date"])[:10]
    return mine, queue


# --- uploads ------------------------------------------------------------------------------

def _role_of(con: Connection, name: str) -> str:
    """A user's role in the store ("" for a name that is no user)."""
    row = con.execute("SELECT role FROM users WHERE name = ?", [name]).fetchone()
    return str(row[0]) if row else ""


def check_upload_countries(con: Connection, by: str, role: str | None,
                           dataset_id: int) -> None:
    """CountryError (403) when a dataset's cards lie outside the countries the uploader
    acts in (``role`` None: theirs in the store)."""
    scope = acting_countries(con, by, _role_of(con, by) if role is None else role)
    if scope is None:
        return
    held = con.execute("SELECT DISTINCT country_iso3 FROM records WHERE dataset_id = ?",
                       [dataset_id]).fetchall()
    outside = sorted(str(c or "—") for (c,) in held if not may_act_in(scope, c))
    if outside:
        raise CountryError(by, ", ".join(outside), scope)


def upload_recorder(by: str, name: str, size: int, role: str | None = None) -> OnCommit:
    """What an upload adds to each dataset's commit, in its transaction (pass it as
    ``import_paths(on_commit=...)``): the check that its cards lie in the countries the
    uploader acts in (else the commit fails, leaving the store as it was), the uploader as
    the author of every card (four eyes: they may not review them) and the "upload" row of
    the audit log. ``role``: the uploader's (None: theirs in the store)."""
    def record(con: Connection, result: BatchResult) -> None:
        check_upload_countries(con, by, role, result.dataset_id)
        con.execute("INSERT INTO card_authors (record_id, created_by, created_at) "
                    "SELECT record_id, ?, ? FROM records WHERE dataset_id = ?",
                    [by, now(), result.dataset_id])
        audit(con, by, "upload", None, None, {
            "file": name, "size": size, "dataset_id": result.dataset_id,
            "files": [{"file": f.name, "read": f.read, "imported": f.imported,
                       "quarantined": f.quarantined, "flagged": f.flagged}
                      for f in result.files],
            "unmapped_hazards": result.unmapped_terms})
    return record


def note_upload(store: Store, by: str, name: str, size: int,
                results: list[dict[str, Any]]) -> None:
    """The "upload" row of files that committed nothing (unchanged, not recognised)."""
    with store.transaction() as con:
        audit(con, by, "upload", None, None, {"file": name, "size": size, "results": results})


def import_upload(store: Store, by: str, path: Path, size: int, *, country: str | None,
                  fmt: str | None, role: str | None = None) -> list[FileResult]:
    """Import an uploaded file as ``riskatlas import`` does, its cards awaiting review
    (an upload publishes nothing), the uploader their author; each dataset's authors and
    "upload" row in its own commit, an "upload" row alone for what committed nothing.
    Cards outside the countries the uploader (with ``role``; None: theirs in the store)
    acts in are refused: a country given, before reading; the file's, at commit."""
    from riskatlas.importer import import_paths
    from riskatlas.sources.registry import ReadOptions

    if country:
        user = user_row(store, by) if role is None else None
        scope = country_scope(store, by, role if role is not None
                              else str(user["role"]) if user else "")
        if not may_act_in(scope, country.upper()):
            raise CountryError(by, country.upper(), scope or ())
    options = ReadOptions(country=country.upper() if country else None, review=True)
    results = import_paths(store, [path], format=fmt, options=options,
                           on_commit=upload_recorder(by, path.name, size, role))
    others = [r.as_dict() for r in results if r.status != "imported"]
    if others:  # nothing committed for these (unchanged, skipped): noted apart
        note_upload(store, by, path.name, size, others)
    return results
