"""Data cards entered on the web: create, edit, the approval workflow and the audit log.

A card's fields are DesInventar card fields under their canonical names. They are built
exactly as an import builds them: renamed to DesInventar fields and passed through
:func:`riskatlas.sources.desinventar_fields.card_values` (directly affected = victims +
affected, "reported but unknown" flags), then typed, validated and hazard-mapped by
:class:`riskatlas.sources.convert.RecordBuilder` with the store's crosswalk. The country
and admin units are checked against the store's gazetteer (:mod:`riskatlas.web.choices`).
A card is refused (400, :class:`CardInvalidError`) with EVERY problem at once: each value
an import would not take as read (with the importers' message), each field the form does
not have or a text too long, each unknown country or unit, named by its field.

Cards get ids ``WEB:<uuid>`` in one dataset per store, "web entries" (created on first
use, with provenance); their hazard terms join the store's term list, so unmapped terms
reach the review list (``riskatlas hazards --unmapped``). Every change writes a row of
``audit_log`` (before/after as JSON) in the same transaction as the change.

Workflow: draft → submitted → validated → published; a reviewer may send a submitted,
validated or published card back (needs_revision, with a reason); the author resubmits.
Authors (or admins) edit and submit; validators and admins review, never a card they
created (four eyes). Only cards entered on the web are edited here; imported cards are
corrected at their source and imported again, but they go through the same review.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import catalogue, translate
from riskatlas.model.quality import ISSUES_KEY, QualityIssue, QualityPolicy
from riskatlas.model.schema import APPROVAL_STATUSES, record_columns
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, HAY_FLAGS, card_values
from riskatlas.web import choices
from riskatlas.web.auth import ForbiddenError, now
from riskatlas.web.deps import Viewer

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


def checked_card(atlas: Any, native_key: str, fields: Mapping[str, Any], unknown: Any, *,
                 status: str, author: str) -> dict[str, Any]:
    """A web card built from the submitted ``fields`` once its place is settled in the
    store's gazetteer (:mod:`riskatlas.web.choices`); else :class:`CardInvalidError`
    listing every problem."""
    problems: list[Problem] = []
    given = clean_fields(fields, problems)
    flags = clean_unknown(unknown, problems)
    settled = dict(given)
    countries = choices.store_countries(atlas)
    found = choices.settle_country(settled, countries)
    gazetteer = choices.Gazetteer.of(atlas, None if found else settled.get("country_iso3"))
    found += choices.settle_place(gazetteer, settled)
    problems += [Problem(*f) for f in found]
    card = build_card(atlas.store.crosswalk, native_key, settled, flags, status=status,
                      author=author, problems=problems, given=given)
    if problems:
        raise CardInvalidError(problems)
    return card


# --- reading (inside a write transaction: parameters only) ------------------------------

def _card(con: Any, record_id: str) -> dict[str, Any] | None:
    cur = con.execute("SELECT * FROM records WHERE record_id = ?", [record_id])
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def author_of(con: Any, record_id: str) -> str | None:
    row = con.execute("SELECT created_by FROM card_authors WHERE record_id = ?",
                      [record_id]).fetchone()
    return str(row[0]) if row else None


def jsonable_card(card: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A card as JSON-ready values (dates ISO, raw kept as its JSON text)."""
    if card is None:
        return None
    return orjson.loads(orjson.dumps({k: v for k, v in card.items() if k != "extension"},
                                     default=str))  # type: ignore[no-any-return]


def audit(con: Any, user: str, action: str, record_id: str | None, before: Any, after: Any,
          reason: str | None = None) -> None:
    """One row of the audit log (the caller's transaction)."""
    con.execute('INSERT INTO audit_log (id, "at", "user", action, record_id, before, after, '
                "reason) VALUES (nextval('audit_seq'), ?, ?, ?, ?, ?, ?, ?)",
                [now(), user, action, record_id,
                 None if before is None else orjson.dumps(before, default=str).decode(),
                 None if after is None else orjson.dumps(after, default=str).decode(),
                 reason])


def web_dataset(atlas: Any) -> int:
    """The store's "web entries" dataset, created (with its provenance) on first use."""
    con = atlas.store.connection
    row = con.execute("SELECT dataset_id FROM datasets WHERE source_key = ? AND format = ? "
                      "ORDER BY dataset_id LIMIT 1", [SOURCE_KEY, DATASET_FORMAT]).fetchone()
    if row:
        return int(row[0])
    dataset_id = atlas.store.next_dataset_id()
    con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, false, 0)", [
        dataset_id, SOURCE_KEY, DATASET_NAME, DATASET_FORMAT, atlas.store.importer_version,
        atlas.store.crosswalk.version, None, now(),
        orjson.dumps([{"key": "workflow.dataset_note"}]).decode()])
    return dataset_id


def _refresh_dataset(con: Any, dataset_id: int) -> None:
    """The web dataset's counts and hazard terms (as an import records them)."""
    n = int(con.execute("SELECT count(*) FROM records WHERE dataset_id = ?",
                        [dataset_id]).fetchone()[0])
    con.execute("UPDATE datasets SET records_read = ?, records_imported = ? "
                "WHERE dataset_id = ?", [n, n, dataset_id])
    con.execute("DELETE FROM hazard_terms WHERE dataset_id = ?", [dataset_id])
    con.execute("""INSERT INTO hazard_terms SELECT dataset_id, hazard_term,
        any_value(hazard_term_en), NULL, any_value(hips_code), any_value(hazard_group),
        count(*), false FROM records WHERE dataset_id = ? GROUP BY dataset_id, hazard_term""",
                [dataset_id])


def _write_card(con: Any, card: Mapping[str, Any], *, insert: bool) -> None:
    values = [card.get(c) for c in _COLUMNS]
    if insert:
        con.execute(f"INSERT INTO records ({', '.join(_COLUMNS)}) VALUES "
                    f"({', '.join('?' for _ in _COLUMNS)})", values)
    else:
        rest = [c for c in _COLUMNS if c != "record_id"]
        con.execute(f"UPDATE records SET {', '.join(f'{c} = ?' for c in rest)} "
                    "WHERE record_id = ?", [card.get(c) for c in rest] + [card["record_id"]])


# --- the operations (each inside writer.writing) ----------------------------------------

def create(atlas: Any, viewer: Viewer, fields: Mapping[str, Any],
           unknown: Any = None) -> dict[str, Any]:
    """A new draft card by ``viewer``; returns it."""
    if viewer.role not in CREATORS:
        raise ForbiddenError("auth.error.role", role=viewer.role)
    con = atlas.store.connection
    native = str(uuid.uuid4())
    card = checked_card(atlas, native, fields, unknown, status="draft", author=viewer.name)
    card["dataset_id"] = web_dataset(atlas)
    card["recorded_on"] = dt.date.today().isoformat()
    _write_card(con, card, insert=True)
    con.execute("INSERT INTO card_authors VALUES (?, ?, ?)",
                [card["record_id"], viewer.name, now()])
    _refresh_dataset(con, card["dataset_id"])
    stored = _card(con, card["record_id"])
    audit(con, viewer.name, "create", card["record_id"], None, jsonable_card(stored))
    return stored or card


def _may_edit(viewer: Viewer, card: Mapping[str, Any], author: str | None) -> None:
    if not str(card["record_id"]).startswith(SOURCE_KEY + ":"):
        raise WorkflowError("workflow.error.not_web_card", record=card["record_id"])
    if viewer.role == "admin":
        return
    if viewer.role not in CREATORS or author != viewer.name:
        raise ForbiddenError("workflow.error.not_author", record=card["record_id"])
    if card["approval_status"] not in EDITABLE:
        raise ConflictError("workflow.error.not_editable", status=card["approval_status"])


def edit(atlas: Any, viewer: Viewer, record_id: str, changes: Mapping[str, Any],
         unknown: Any = None) -> dict[str, Any]:
    """Change some fields of a web card (None or "" clears one); returns the card."""
    con = atlas.store.connection
    before = _card(con, record_id)
    if before is None:
        raise CardNotFoundError(record=record_id)
    author = author_of(con, record_id)
    _may_edit(viewer, before, author)
    previous = orjson.loads(before["raw"] or "{}")
    flags = previous.pop("unknown", [])
    card = checked_card(atlas, str(before["native_key"]), {**previous, **changes},
                        flags if unknown is None else unknown,
                        status=str(before["approval_status"]), author=author or viewer.name)
    for keep in ("record_id", "dataset_id", "source_file", "source_row", "recorded_on"):
        card[keep] = before[keep]
    _write_card(con, card, insert=False)
    _refresh_dataset(con, int(before["dataset_id"]))
    after = _card(con, record_id)
    audit(con, viewer.name, "edit", record_id, jsonable_card(before), jsonable_card(after))
    return after or card


def allowed_transitions(viewer: Viewer, status: str, author: str | None,
                        record_id: str) -> list[str]:
    """The statuses ``viewer`` may move a card to (for the buttons on its page)."""
    out = []
    for (source, target), who in TRANSITIONS.items():
        if source != status or viewer.anonymous:
            continue
        try:
            _may_transition(viewer, who, author, record_id)
        except ForbiddenError:
            continue
        out.append(target)
    return out


def _may_transition(viewer: Viewer, who: str, author: str | None, record_id: str) -> None:
    if who == "author":
        if viewer.role == "admin" or (viewer.role in CREATORS and author == viewer.name):
            return
        raise ForbiddenError("workflow.error.not_author", record=record_id)
    if viewer.role not in REVIEWERS:
        raise ForbiddenError("auth.error.role", role=viewer.role)
    if author is not None and author == viewer.name:
        raise ForbiddenError("workflow.error.four_eyes", record=record_id)


def transition(atlas: Any, viewer: Viewer, record_id: str, to: str,
               reason: str | None = None) -> dict[str, Any]:
    """Move a card to status ``to``; sending back needs a reason. Returns the card."""
    if to not in APPROVAL_STATUSES:
        raise WorkflowError("workflow.error.bad_status", status=to,
                            statuses=", ".join(APPROVAL_STATUSES))
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_TEXT:
        raise WorkflowError("workflow.error.too_long", field="reason", max=MAX_TEXT)
    con = atlas.store.connection
    before = _card(con, record_id)
    if before is None:
        raise CardNotFoundError(record=record_id)
    status = str(before["approval_status"])
    who = TRANSITIONS.get((status, to))
    if who is None:
        raise ConflictError("workflow.error.bad_transition", status=status, to=to)
    _may_transition(viewer, who, author_of(con, record_id), record_id)
    if to == "needs_revision" and not reason:
        raise WorkflowError("workflow.error.reason_required")
    con.execute("UPDATE records SET approval_status = ? WHERE record_id = ?", [to, record_id])
    audit(con, viewer.name, f"transition:{to}", record_id, {"approval_status": status},
          {"approval_status": to}, reason)
    return _card(con, record_id) or dict(before, approval_status=to)


def last_reason(con_or_atlas: Any, record_id: str) -> str | None:
    """Why the card was last sent back (for its author), from the audit log (Ibis)."""
    log = con_or_atlas.table("audit_log")
    rows = (log.filter((log.record_id == record_id) & (log.action == "transition:needs_revision"))
            .order_by(log.id.desc()).select("reason").limit(1).to_pandas())
    return str(rows["reason"].iloc[0]) if len(rows) and rows["reason"].iloc[0] else None

