"""Review per dataset: the datasets awaiting review, and one decision moving every card of
a dataset that is in a status to the next one.

A dataset decision is the card transition of :data:`cards.TRANSITIONS` applied to all of
the dataset's cards in the source status, under the same rules: reviewers (validators,
admins) decide, never on cards they entered or uploaded (four eyes, through
``card_authors``: an upload makes the uploader the author of its cards); sending back
needs a reason. One transaction writes the cards' new status, one row of the audit log
for the decision (``dataset:<to>``: dataset, from, to, count, reason) and one per card
(``transition:<to>``, naming the decision), so a card's history and the reason it was
sent back read the same as after a card-by-card review.

Country accounts (:func:`riskatlas.services.accounts.acting_countries`): a decision moves
only the dataset's cards of the countries the reviewer acts in, and the list shows only
those; a dataset with none of theirs in that status is refused (403,
:class:`~riskatlas.services.accounts.CountryError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from riskatlas.model.schema import APPROVAL_STATUSES
from riskatlas.services.accounts import (
    CountryError,
    ForbiddenError,
    acting_countries,
    country_scope,
)
from riskatlas.services.audit import next_id, now
from riskatlas.services.cards import (
    CREATORS,
    REVIEWERS,
    TRANSITIONS,
    Actor,
    ConflictError,
    WorkflowError,
    clean_reason,
)

if TYPE_CHECKING:
    from riskatlas.store.store import Store

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
    :func:`default_sources`) of the countries ``actor`` acts in to ``to``, in one
    transaction; returns the decision (dataset, from, to, count, counts per source status,
    its audit row id)."""
    sources = _sources(to, source)
    reason = clean_reason(reason)
    with store.transaction() as con:
        found = con.execute("SELECT name FROM datasets WHERE dataset_id = ?",
                            [dataset_id]).fetchone()
        if found is None:
            raise DatasetNotFoundError(dataset=dataset_id)
        marks = ", ".join("?" for _ in sources)
        scope = acting_countries(con, actor.name, actor.role)
        countries = sorted(scope or ())  # only the cards of the reviewer's countries
        where = (f"dataset_id = ? AND approval_status IN ({marks})"
                 f"{_within('country_iso3', scope)}")
        groups = con.execute(
            "SELECT r.approval_status, a.created_by, count(*) FROM records r LEFT JOIN "
            "card_authors a ON a.record_id = r.record_id WHERE r.dataset_id = ? AND "
            f"r.approval_status IN ({marks}){_within('r.country_iso3', scope)} GROUP BY 1, 2",
            [dataset_id, *sources, *countries]).fetchall()
        counts: dict[str, int] = {}
        for status, _, n in groups:
            counts[str(status)] = counts.get(str(status), 0) + int(n)
        if not counts and scope is not None:
            _outside(con, actor, scope, dataset_id, sources)
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
            [at, actor.name, f"transition:{to}", to, decision, reason, dataset_id, *sources,
             *countries])
        con.execute(f"UPDATE records SET approval_status = ? WHERE {where}",
                    [to, dataset_id, *sources, *countries])
        summary = {"dataset_id": dataset_id, "dataset": found[0],
                   "from": [s for s in sources if s in counts], "to": to, "count": total}
        if scope is not None:  # the countries the decision was limited to
            summary["countries"] = countries
        con.execute('INSERT INTO audit_log (id, "at", "user", action, record_id, before, '
                    "after, reason) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                    [decision, at, actor.name, f"dataset:{to}",
                     orjson.dumps({"counts": counts}).decode(),
                     orjson.dumps(summary).decode(), reason])
    return {**summary, "counts": counts, "reason": reason, "decision": decision}


def _within(column: str, scope: frozenset[str] | None) -> str:
    """The SQL condition (after AND) keeping ``column`` in ``scope``; its values are bound
    in sorted order (None: no condition)."""
    if scope is None:
        return ""
    return f" AND {column} IN ({', '.join('?' for _ in scope)})" if scope else " AND 1 = 0"


def _outside(con: Any, actor: Actor, scope: frozenset[str], dataset_id: int,
             sources: Sequence[str]) -> None:
    """CountryError when the dataset has cards in ``sources``, none in ``scope``."""
    marks = ", ".join("?" for _ in sources)
    held = con.execute(f"SELECT DISTINCT country_iso3 FROM records WHERE dataset_id = ? AND "
                       f"approval_status IN ({marks})", [dataset_id, *sources]).fetchall()
    if held:
        raise CountryError(actor.name, ", ".join(sorted(str(c or "—") for (c,) in held)),
                           scope)


def awaiting_review(store: Store, actor: Actor) -> list[dict[str, Any]]:
    """The datasets with cards submitted or validated, newest first: name, format, date,
    counts per status, the authors of their cards (the uploader) and the decisions open to
    ``actor`` (Ibis, over the records ``actor`` may see, of the countries they act in)."""
    records = store.table("records")
    scope = country_scope(store, actor.name, actor.role)
    if scope is not None:
        records = records.filter(records.country_iso3.isin(sorted(scope))) if scope \
            else records.limit(0)
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
