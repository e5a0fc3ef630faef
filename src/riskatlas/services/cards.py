"""Data cards: create, edit, the approval workflow (card by card and per dataset), the
bookkeeping of uploads and the audit log, for the web app (and any other view).

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

Review per dataset (:func:`transition_dataset`): the card transition applied to all of a
dataset's cards in the source status, under the same rules (four eyes through
``card_authors``: an upload makes the uploader the author of its cards); one row of the
audit log for the decision (``dataset:<to>``: dataset, from, to, count, reason) and one
per card (``transition:<to>``, naming the decision).

An upload's cards arrive submitted; the uploader becomes the author of each and the audit
log gets an "upload" row per dataset, both in the import's own commit transaction
(:func:`upload_recorder`, passed as ``import_paths(on_commit=...)``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import catalogue, translate
from riskatlas.model.quality import ISSUES_KEY, QualityIssue, QualityPolicy
from riskatlas.model.schema import APPROVAL_STATUSES, record_columns
from riskatlas.services import places
from riskatlas.services.accounts import ForbiddenError
from riskatlas.services.audit import audit, next_id, now
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, HAY_FLAGS, card_values
from riskatlas.store.batch import BatchResult, OnCommit, insert_dataset, refresh_dataset

if TYPE_CHECKING:
    import duckdb

    from riskatlas.importer import FileResult
    from riskatlas.store.store import Store

    Connection = duckdb.DuckDBPyConnection


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


SOURCE_KEY = "WEB"
DATASET_NAME = "web entries"
DATASET_FORMAT = "web"
SOURCE_FILE = "web"

# the fields of the card form, in its order (canonical names)
PLACE_FIELDS = ("country_iso3", "level0_code", "level0_name", "level1_code", "level1_name",
                "level2_code", "level2_name", "place", "latitude", "longitude")
EVENT_FIELDS = ("start_year", "start_month", "start_day", "duration_days", "hazard_term",
                "event_name", "cause", "glide", "magnitude")
EFFECT_FIELDS = ("deaths", "missing", "injured", "victims", "affected", "evacuated",
                 "relocated", "houses_destroyed", "houses_damaged", "losses_local",
                 "losses_usd", "crops_ha", "livestock", "schools", "hospitals", "roads_km")
NOTE_FIELDS = ("sources", "comments")
FORM_FIELDS = (*PLACE_FIELDS, *EVENT_FIELDS, *EFFECT_FIELDS, *NOTE_FIELDS)
NUMBER_FIELDS = frozenset(("latitude", "longitude", "start_year", "start_month", "start_day",
                           "duration_days", *EFFECT_FIELDS))
UNKNOWN_IMPACTS = tuple(HAY_FLAGS.values())  # impacts a card may report as "unknown"
_FLAG_OF = {canon: flag for flag, canon in HAY_FLAGS.items()}
_COLUMNS = [name for name, _ in record_columns() if name != "extension"]
MAX_TEXT = 4000

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


class WorkflowError(RiskAtlasError):
    """A card or a transition that cannot be accepted (400, or the status it names)."""

    key = "workflow.error.generic"
    http_status = 400


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


@dataclass(frozen=True)
class Problem:
    """One problem of a card: its field, a message key and the message's values."""

    field: str
    key: str
    params: dict[str, Any]


def field_label(name: str, lang: str) -> str:
    """A card field's label on the form, in ``lang`` (a name the form lacks as it is)."""
    key = f"workflow.field.{name}"
    return translate(key, lang) if key in catalogue(lang) else name


def problem_text(problem: Problem, lang: str) -> str:
    """A problem's message (a field it names by its label), without record or file."""
    params = dict(problem.params)
    if isinstance(params.get("other"), str):
        params["other"] = field_label(params["other"], lang)
    return translate(problem.key, lang, **params)


class CardInvalidError(WorkflowError):
    """Every problem of a card at once (400), in the form's order of fields; the API adds
    them to its error as ``fields`` (:meth:`details`)."""

    key = "workflow.error.invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        order = {name: i for i, name in enumerate(FORM_FIELDS)}
        self.problems = sorted(problems, key=lambda p: order.get(p.field, len(order)))
        super().__init__(self.key, count=len(self.problems))

    def fields(self, lang: str) -> list[dict[str, str]]:
        return [{"field": p.field, "label": field_label(p.field, lang), "code": p.key,
                 "message": problem_text(p, lang)} for p in self.problems]

    def details(self, lang: str) -> dict[str, Any]:
        return {"fields": self.fields(lang)}

    def render(self, lang: str = "en") -> str:
        sep = translate("workflow.problem.sep", lang)
        listed = "; ".join(f"{f['label']}{sep}{f['message']}" for f in self.fields(lang))
        return translate(self.key, lang, count=len(self.problems), problems=listed)


# --- building a card --------------------------------------------------------------------

def clean_fields(values: Mapping[str, Any],
                 problems: list[Problem] | None = None) -> dict[str, Any]:
    """The submitted fields, checked for names and types (text or numbers); blank → None.
    A field that fails is left out and noted in ``problems`` (without: raised at once)."""
    found: list[Problem] = [] if problems is None else problems
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FORM_FIELDS:
            found.append(Problem(name, "workflow.problem.unknown_field", {}))
            continue
        if (value is not None and not isinstance(value, str | int | float)) \
                or isinstance(value, bool):
            found.append(Problem(name, "workflow.problem.bad_value", {}))
            continue
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and len(value) > MAX_TEXT:
                found.append(Problem(name, "workflow.problem.too_long", {"max": MAX_TEXT}))
                continue
        out[name] = value
    if problems is None and found:
        raise CardInvalidError(found)
    return out


def clean_unknown(values: Any, problems: list[Problem] | None = None) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or any(v not in UNKNOWN_IMPACTS for v in values):
        problem = Problem("unknown", "workflow.problem.bad_unknown",
                          {"impacts": ", ".join(UNKNOWN_IMPACTS)})
        if problems is None:
            raise CardInvalidError([problem])
        problems.append(problem)
        return []
    return sorted(set(values))


def _record_problems(issues: Sequence[QualityIssue]) -> list[Problem]:
    """The importers' issues of a card as problems, one per field: a value kept out for
    want of another field (a month without its year) is not listed when that field is,
    nor the sum of victims and affected when one of them is."""
    found = [Problem(i.field, i.rule, dict(i.params)) for i in issues]
    fields = {p.field for p in found if p.key != "record.needs_field"}
    out: dict[str, Problem] = {}
    for p in found:
        if p.key == "record.needs_field" and p.params.get("other") in fields:
            continue
        if p.field == "directly_affected" and fields & {"victims", "affected"}:
            continue
        out.setdefault(p.field, p)
    return list(out.values())


def build_card(crosswalk: Any, native_key: str, fields: Mapping[str, Any],
               unknown: list[str], *, status: str, author: str,
               problems: list[Problem] | None = None,
               given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The canonical row of a web card, through the importers' DesInventar semantics and
    :class:`RecordBuilder`. Each value an import would not take as read is a problem, in
    ``problems`` (without: :class:`CardInvalidError` at once). ``given``: the fields as
    the author gave them, kept as the card's raw row (default ``fields``)."""
    row: dict[str, Any] = {CANONICAL_TO_CARD[k]: v for k, v in fields.items()
                           if k in CANONICAL_TO_CARD}
    for impact in unknown:
        row[_FLAG_OF[impact]] = "-1"
    values, unknown_impacts = card_values(row)
    for name, value in fields.items():  # fields DesInventar cards do not have
        if name not in CANONICAL_TO_CARD:
            values[name] = value
    values.update(native_key=native_key, approval_status=status, recorded_by=author)
    # every value is read as an import reads it; what an import would flag is refused,
    # all problems together (a fraction in a count too, instead of rounding it)
    builder = RecordBuilder(source_key=SOURCE_KEY, source_file=SOURCE_FILE, crosswalk=crosswalk,
                            policy=QualityPolicy(fractional="blank"))
    kept = fields if given is None else given
    raw: dict[str, Any] = {k: kept[k] for k in FORM_FIELDS if kept.get(k) is not None}
    if unknown:
        raw["unknown"] = unknown
    card = builder.build(values, row=1, record_ref=native_key, raw=raw,
                         unknown=unknown_impacts)
    found = _record_problems(card.pop(ISSUES_KEY, []))
    if problems is None and found:
        raise CardInvalidError(found)
    if problems is not None:
        problems += [p for p in found if p.field not in {q.field for q in problems}]
    return card


def store_countries(store: Store) -> list[str]:
    """The countries the store holds (its gazetteer's, its imported cards')."""
    return places.store_countries(store, f"{SOURCE_KEY}:")


def checked_card(store: Store, native_key: str, fields: Mapping[str, Any], unknown: Any, *,
                 status: str, author: str) -> dict[str, Any]:
    """A web card built from the submitted ``fields`` once its place is settled in the
    store's gazetteer (:mod:`riskatlas.services.places`); else :class:`CardInvalidError`
    listing every problem."""
    problems: list[Problem] = []
    given = clean_fields(fields, problems)
    flags = clean_unknown(unknown, problems)
    settled = dict(given)
    found = places.settle_country(settled, store_countries(store))
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


# --- the operations: the change and its audit row, one transaction ----------------------

def create(store: Store, actor: Actor, fields: Mapping[str, Any],
           unknown: Any = None) -> dict[str, Any]:
    """A new draft card by ``actor``; returns it."""
    if actor.role not in CREATORS:
        raise ForbiddenError("auth.error.role", role=actor.role)
    native = str(uuid.uuid4())
    with store.transaction() as con:
        card = checked_card(store, native, fields, unknown, status="draft", author=actor.name)
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
        previous = orjson.loads(before["raw"] or "{}")
        flags = previous.pop("unknown", [])
        card = checked_card(store, str(before["native_key"]), {**previous, **changes},
                            flags if unknown is None else unknown,
                            status=str(before["approval_status"]), author=author or actor.name)
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


def _reason(reason: str | None) -> str | None:
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
    reason = _reason(reason)
    with store.transaction() as con:
        before = _card(con, record_id)
        if before is None:
            raise CardNotFoundError(record=record_id)
        status = str(before["approval_status"])
        who = TRANSITIONS.get((status, to))
        if who is None:
            raise ConflictError("workflow.error.bad_transition", status=status, to=to)
        _may_transition(actor, who, author_of(con, record_id), record_id)
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
    allowed = allowed_transitions(actor, status, author, record_id)
    editable = (record_id.startswith(SOURCE_KEY + ":") and not actor.anonymous
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
    ``status``, default submitted or validated), a page of each, dates as text."""
    mine: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = []
    if "card_authors" in store.tables():
        records, authors = store.table("records"), store.table("card_authors")
        own = records.join(authors, "record_id").filter(authors.created_by == actor.name)
        mine = own.select(*LIST_COLUMNS).order_by("record_id").limit(LIST_LIMIT) \
            .to_pandas().to_dict("records")
    if actor.role in REVIEWERS:
        records = store.table("records")
        wanted = [status] if status in APPROVAL_STATUSES else ["submitted", "validated"]
        queue = (records.filter(records.approval_status.isin(wanted)).select(*LIST_COLUMNS)
                 .order_by("record_id").limit(LIST_LIMIT).to_pandas().to_dict("records"))
    for row in (*mine, *queue):
        row["start_date"] = str(row["start_date"])[:10]
    return mine, queue


# --- uploads ------------------------------------------------------------------------------

def upload_recorder(by: str, name: str, size: int) -> OnCommit:
    """What an upload adds to each dataset's commit, in its transaction (pass it as
    ``import_paths(on_commit=...)``): the uploader as the author of every card (four eyes:
    they may not review them) and the "upload" row of the audit log."""
    def record(con: Connection, result: BatchResult) -> None:
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
                  fmt: str | None) -> list[FileResult]:
    """Import an uploaded file as ``riskatlas import`` does, its cards awaiting review
    (an upload publishes nothing), the uploader their author; each dataset's authors and
    "upload" row in its own commit, an "upload" row alone for what committed nothing."""
    from riskatlas.importer import import_paths
    from riskatlas.sources.registry import ReadOptions

    options = ReadOptions(country=country.upper() if country else None, review=True)
    results = import_paths(store, [path], format=fmt, options=options,
                           on_commit=upload_recorder(by, path.name, size))
    others = [r.as_dict() for r in results if r.status != "imported"]
    if others:  # nothing committed for these (unchanged, skipped): noted apart
        note_upload(store, by, path.name, size, others)
    return results


# --- review per dataset ---------------------------------------------------------------

QUEUE = ("submitted", "validated")  # a dataset with cards in these awaits review
# the decisions the review page offers: (button, from, to)
DECISIONS = (("validate", ("submitted",), "validated"),
             ("publish", ("validated",), "published"),
             ("send-back", ("submitted", "validated"), "needs_revision"))


class DatasetNotFoundError(WorkflowError):
    key = "review.error.no_dataset"
    http_status = 404


def default_sources(to: str) -> tuple[str, ...]:
    """The statuses a decision moves when none is named: every one that may become ``to``
    but published (a published dataset is withdrawn only when asked by name)."""
    return tuple(s for (s, target) in TRANSITIONS if target == to and s != "published")


def check_decision(actor: Actor, who: str, authors: set[str | None],
                   dataset_id: int) -> None:
    """May ``actor`` make a transition that needs ``who`` ("author" or "review") on cards
    by ``authors`` (None: a card with no recorded author, e.g. imported by the CLI)?"""
    if who == "author":
        if actor.role == "admin" or (actor.role in CREATORS and authors == {actor.name}):
            return
        raise ForbiddenError("review.error.not_author", dataset=dataset_id)
    if actor.role not in REVIEWERS:
        raise ForbiddenError("auth.error.role", role=actor.role)
    if actor.name in authors:
        raise ForbiddenError("review.error.four_eyes", dataset=dataset_id)


def _sources(to: str, source: str | Sequence[str] | None) -> tuple[str, ...]:
    if to not in APPROVAL_STATUSES:
        raise WorkflowError("workflow.error.bad_status", status=to,
                            statuses=", ".join(APPROVAL_STATUSES))
    named = (source,) if isinstance(source, str) else tuple(source or ())
    for status in named:
        if status not in APPROVAL_STATUSES:
            raise WorkflowError("workflow.error.bad_status", status=status,
                                statuses=", ".join(APPROVAL_STATUSES))
    sources = tuple(dict.fromkeys(named)) or default_sources(to)
    for status in sources:
        if (status, to) not in TRANSITIONS:
            raise ConflictError("workflow.error.bad_transition", status=status, to=to)
    if not sources:
        raise ConflictError("workflow.error.bad_transition", status="—", to=to)
    return sources


def transition_dataset(store: Store, actor: Actor, dataset_id: int, to: str,
                       reason: str | None = None,
                       source: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Move every card of ``dataset_id`` in status ``source`` (default:
    :func:`default_sources`) to ``to``, in one transaction; returns the decision
    (dataset, from, to, count, counts per source status, its audit row id)."""
    sources = _sources(to, source)
    reason = _reason(reason)
    with store.transaction() as con:
        found = con.execute("SELECT name FROM datasets WHERE dataset_id = ?",
                            [dataset_id]).fetchone()
        if found is None:
            raise DatasetNotFoundError(dataset=dataset_id)
        marks = ", ".join("?" for _ in sources)
        where = f"dataset_id = ? AND approval_status IN ({marks})"
        groups = con.execute(
            "SELECT r.approval_status, a.created_by, count(*) FROM records r LEFT JOIN "
            "card_authors a ON a.record_id = r.record_id WHERE r.dataset_id = ? AND "
            f"r.approval_status IN ({marks}) GROUP BY 1, 2",
            [dataset_id, *sources]).fetchall()
        counts: dict[str, int] = {}
        for status, _, n in groups:
            counts[str(status)] = counts.get(str(status), 0) + int(n)
        if not counts:
            raise ConflictError("review.error.nothing", dataset=dataset_id,
                                statuses=", ".join(sources))
        for status in counts:
            check_decision(actor, TRANSITIONS[(status, to)],
                           {a for s, a, _ in groups if s == status}, dataset_id)
        if to == "needs_revision" and not reason:
            raise WorkflowError("workflow.error.reason_required")
        at, total = now(), sum(counts.values())
        decision = next_id(con)
        # one row per card, naming the decision, before the cards change
        con.execute(
            'INSERT INTO audit_log (id, "at", "user", action, record_id, before, after, '
            "reason) SELECT nextval('audit_seq'), ?, ?, ?, record_id, "
            "json_object('approval_status', approval_status), "
            "json_object('approval_status', ?, 'decision', ?), ? "
            f"FROM records WHERE {where} ORDER BY record_id",
            [at, actor.name, f"transition:{to}", to, decision, reason, dataset_id, *sources])
        con.execute(f"UPDATE records SET approval_status = ? WHERE {where}",
                    [to, dataset_id, *sources])
        summary = {"dataset_id": dataset_id, "dataset": found[0],
                   "from": [s for s in sources if s in counts], "to": to, "count": total}
        con.execute('INSERT INTO audit_log (id, "at", "user", action, record_id, before, '
                    "after, reason) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                    [decision, at, actor.name, f"dataset:{to}",
                     orjson.dumps({"counts": counts}).decode(),
                     orjson.dumps(summary).decode(), reason])
    return {**summary, "counts": counts, "reason": reason, "decision": decision}


def awaiting_review(store: Store, actor: Actor) -> list[dict[str, Any]]:
    """The datasets with cards submitted or validated, newest first: name, format, date,
    counts per status, the authors of their cards (the uploader) and the decisions open to
    ``actor`` (Ibis, over the records ``actor`` may see)."""
    records = store.table("records")
    pending = records.filter(records.approval_status.isin(QUEUE)).select("dataset_id") \
        .distinct()
    cards = records.semi_join(pending, "dataset_id")
    counts = cards.group_by(["dataset_id", "approval_status"]).aggregate(n=cards.count()) \
        .to_pandas()
    datasets = store.table("datasets").semi_join(pending, "dataset_id").select(
        "dataset_id", "name", "format", "source_key", "country_iso3", "imported_at") \
        .order_by([store.table("datasets").imported_at.desc(), "dataset_id"]).to_pandas()
    authors: dict[int, list[str]] = {}
    mine: set[tuple[int, str]] = set()
    if "card_authors" in store.tables():
        a = store.table("card_authors")
        joined = cards.join(a, "record_id")
        per = joined.group_by(["dataset_id", "approval_status"]).aggregate(
            mine=(joined.created_by == actor.name).any(),
            names=joined.created_by.collect(distinct=True)).to_pandas()
        for row in per.itertuples():
            authors.setdefault(int(row.dataset_id), []).extend(str(n) for n in row.names)
            if row.mine:
                mine.add((int(row.dataset_id), str(row.approval_status)))
    out = []
    for d in datasets.to_dict("records"):
        key = int(d["dataset_id"])
        here = counts[counts["dataset_id"] == key]
        status_counts = {str(s): int(n) for s, n in zip(here["approval_status"], here["n"],
                                                        strict=True)}
        ordered = {s: status_counts[s] for s in APPROVAL_STATUSES if s in status_counts}
        actions, own = [], False
        for button, sources, to in DECISIONS:
            n = sum(ordered.get(s, 0) for s in sources)
            if not n or actor.role not in REVIEWERS:
                continue
            if any((key, s) in mine for s in sources if ordered.get(s)):
                own = True
                continue
            actions.append({"button": button, "from": list(sources), "to": to, "count": n})
        out.append({"dataset_id": key, "name": d["name"], "format": d["format"],
                    "source_key": d["source_key"], "country_iso3": d["country_iso3"],
                    "imported_at": str(d["imported_at"])[:19], "counts": ordered,
                    "authors": sorted(set(authors.get(key, []))), "actions": actions,
                    "own": own})
    return out
