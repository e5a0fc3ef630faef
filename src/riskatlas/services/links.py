"""Links between the events of two datasets (issue 17): proposed by the linker, accepted or
rejected by a reviewer, every decision audited.

:func:`propose` stores :func:`riskatlas.linking.link_datasets`'s pairs in ``links`` with
their members (``link_members``: the record ids of each side's event) and the EM-DAT
places in ``place_matches``. Event ids are formed from data (a card added to a chain
changes its event's id), so a pair proposed again is found again by its members: a link
sharing a record on each side keeps its id and its decision; proposals that the linker
no longer makes are dropped, decisions kept. :func:`decide` (validators and admins only)
accepts or rejects a link; :func:`settle_place` settles a place of the review list. Each
write and its audit row go in one :meth:`~riskatlas.store.store.Store.transaction`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from riskatlas.services.accounts import ForbiddenError
from riskatlas.services.audit import audit, now
from riskatlas.services.card_form import WorkflowError
from riskatlas.services.cards import REVIEWERS, Actor, clean_reason

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from riskatlas.analysis.methods import Methods
    from riskatlas.store.store import Store

STATUSES = ("proposed", "possible", "accepted", "rejected")
DECIDED = ("accepted", "rejected")
DECISIONS = {"accept": "accepted", "reject": "rejected", "accepted": "accepted",
             "rejected": "rejected"}
# the linker's verdict → the status of a new link
PROPOSED_AS = {"link": "proposed", "possible": "possible"}
FEATURES = ("from_event", "to_event", "country_iso3", "from_group", "to_group", "hazard",
            "hazard_basis", "date", "gap_days", "window_days", "place", "place_basis",
            "place_level", "shared_units", "of_units", "glide", "glide_from", "glide_to",
            "impacts", "deaths_from", "deaths_to", "score")
LINK_COLUMNS = ("link_id", "from_dataset", "to_dataset", *FEATURES, "proposed_as", "status",
                "methods_version", "methods_digest", "created_at", "decided_by",
                "decided_at", "reason")
PLACE_COLUMNS = ("record_id", "country_iso3", "origin", "role", "text", "context",
                 "source_level", "source_code", "level", "code", "unit_name", "method",
                 "score", "candidates")
REVIEW_METHODS = ("unmatched", "ambiguous")


class LinkNotFoundError(WorkflowError):
    key = "link.error.not_found"
    http_status = 404


class PlaceNotFoundError(WorkflowError):
    key = "link.error.no_place"
    http_status = 404


def check_reviewer(actor: Actor) -> None:
    """Validators and admins decide links and places; collectors and viewers may not."""
    if actor.anonymous or actor.role not in REVIEWERS:
        raise ForbiddenError("auth.error.role", role=actor.role or "—")


def decision_status(to: str) -> str:
    """accept / reject (or accepted / rejected) → the status a decision sets."""
    status = DECISIONS.get(str(to).strip().lower())
    if status is None:
        raise WorkflowError("link.error.bad_decision", decision=str(to)[:40],
                            decisions="accept, reject")
    return status


# ------------------------------------------------------------------------- propose


def propose(store: Store, from_dataset: int, to_dataset: int,
            methods: Methods | None = None, *, by: str = "cli",
            links: pd.DataFrame | None = None) -> dict[str, Any]:
    """Link the events of ``from_dataset`` to those of ``to_dataset`` (the linker under
    ``methods``, or its output ``links`` when given) and store the pairs, keeping the
    decisions already made (see the module docstring). Returns the counts: new, kept
    (found again), decided (found again with a decision), dropped, places."""
    if links is None:
        from riskatlas.analyses import Analyses
        from riskatlas.linking import link_datasets

        links = link_datasets(Analyses(store, methods=methods), from_dataset, to_dataset,
                              methods=methods, settled=settled_places(store))
    from_events = _members_of(links.attrs["from_events"])
    to_events = _members_of(links.attrs["to_events"])
    stamp = (links.attrs.get("methods_version"), links.attrs.get("methods_digest"))
    counts = {"new": 0, "kept": 0, "decided": 0, "dropped": 0, "places": 0}
    with store.transaction() as con:
        old = _old_links(con, from_dataset, to_dataset)
        claimed: set[int] = set()
        at = now()
        for pair in links.to_dict("records"):
            members = {"from": from_events.get(str(pair["from_event"]), [str(pair["from_event"])]),
                       "to": to_events.get(str(pair["to_event"]), [str(pair["to_event"])])}
            found = _found_again(old, members, claimed)
            values = [_cell(pair.get(c)) for c in FEATURES]
            proposed_as = str(pair["status"])
            if found is None:
                row = con.execute("SELECT nextval('link_seq')").fetchone()
                assert row is not None
                link_id = int(row[0])
                con.execute(
                    f"INSERT INTO links (link_id, from_dataset, to_dataset, {_names()}, "
                    "proposed_as, status, methods_version, methods_digest, created_at) "
                    f"VALUES ({', '.join('?' * (len(FEATURES) + 8))})",
                    [link_id, from_dataset, to_dataset, *values, proposed_as,
                     PROPOSED_AS.get(proposed_as, "possible"), *stamp, at])
                counts["new"] += 1
            else:
                link_id, status = found
                claimed.add(link_id)
                kept = status if status in DECIDED else PROPOSED_AS.get(proposed_as,
                                                                       "possible")
                con.execute(
                    f"UPDATE links SET {', '.join(_quoted(c) + ' = ?' for c in FEATURES)}, "
                    "proposed_as = ?, status = ?, methods_version = ?, methods_digest = ? "
                    "WHERE link_id = ?",
                    [*values, proposed_as, kept, *stamp, link_id])
                con.execute("DELETE FROM link_members WHERE link_id = ?", [link_id])
                counts["decided" if status in DECIDED else "kept"] += 1
            con.executemany("INSERT INTO link_members VALUES (?, ?, ?)",
                            [[link_id, side, rid] for side, ids in members.items()
                             for rid in sorted(set(ids))])
        stale = [i for i, (status, _) in old.items() if i not in claimed
                 and status not in DECIDED]
        if stale:
            marks = ", ".join("?" * len(stale))
            con.execute(f"DELETE FROM link_members WHERE link_id IN ({marks})", stale)
            con.execute(f"DELETE FROM links WHERE link_id IN ({marks})", stale)
        counts["dropped"] = len(stale)
        counts["places"] = _store_places(con, links.attrs.get("places"))
        audit(con, by, "links:propose", None, None,
              {"from_dataset": from_dataset, "to_dataset": to_dataset, **counts,
               "methods_version": stamp[0], "methods_digest": stamp[1]})
    return counts


def _names() -> str:
    return ", ".join(_quoted(c) for c in FEATURES)


def _quoted(column: str) -> str:
    return f'"{column}"'


def _cell(value: Any) -> Any:
    """A value the driver binds: NaN and pandas' NA as NULL, numpy scalars as Python."""
    import pandas as pd

    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _members_of(events: pd.DataFrame) -> dict[str, list[str]]:
    return {str(e): [str(r) for r in ids] for e, ids in
            zip(events.event_id, events.record_ids, strict=True)}


def _old_links(con: duckdb.DuckDBPyConnection, from_dataset: int, to_dataset: int
               ) -> dict[int, tuple[str, dict[str, set[str]]]]:
    """The stored links of two datasets: link id → (status, members per side)."""
    rows = con.execute(
        "SELECT l.link_id, l.status, m.side, m.record_id FROM links l LEFT JOIN "
        "link_members m ON m.link_id = l.link_id WHERE l.from_dataset = ? AND "
        "l.to_dataset = ?", [from_dataset, to_dataset]).fetchall()
    out: dict[int, tuple[str, dict[str, set[str]]]] = {}
    for link_id, status, side, record_id in rows:
        entry = out.setdefault(int(link_id), (str(status), {"from": set(), "to": set()}))
        if side in ("from", "to"):
            entry[1][side].add(str(record_id))
    return out


def _found_again(old: dict[int, tuple[str, dict[str, set[str]]]],
                 members: dict[str, list[str]], claimed: set[int]) -> tuple[int, str] | None:
    """The stored link sharing a record with each side of a new pair (decided ones
    first, then the lowest id), unless a pair of this proposal took it already."""
    hits = [(status not in DECIDED, link_id, status) for link_id, (status, sides)
            in old.items() if link_id not in claimed
            and sides["from"] & set(members["from"]) and sides["to"] & set(members["to"])]
    if not hits:
        return None
    _, link_id, status = min(hits)
    return link_id, status


def _store_places(con: duckdb.DuckDBPyConnection, places: pd.DataFrame | None) -> int:
    """The place matches of the proposal's record-event datasets, replacing the unsettled
    ones of their records (a settled place stays as settled)."""
    if places is None or not len(places):
        return 0
    records = sorted({str(r) for r in places.record_id})
    settled = {(str(r), str(o), str(t)) for r, o, t in con.execute(
        "SELECT record_id, origin, text FROM place_matches WHERE settled_by IS NOT NULL "
        "AND record_id IN (SELECT unnest(?))", [records]).fetchall()}
    con.execute("DELETE FROM place_matches WHERE settled_by IS NULL AND record_id IN "
                "(SELECT unnest(?))", [records])
    dataset_of = dict(con.execute(
        "SELECT record_id, dataset_id FROM records WHERE record_id IN (SELECT unnest(?))",
        [records]).fetchall())
    rows = []
    for p in places.to_dict("records"):
        key = (str(p["record_id"]), str(p["origin"]), str(p["text"]))
        if key in settled:
            continue
        rows.append([dataset_of.get(key[0]), *[_cell(p.get(c)) for c in PLACE_COLUMNS]])
    if rows:
        con.executemany(
            f"INSERT INTO place_matches (place_id, dataset_id, {', '.join(PLACE_COLUMNS)}) "
            f"VALUES (nextval('place_seq'), {', '.join('?' * (len(PLACE_COLUMNS) + 1))})",
            rows)
    return len(rows)


# -------------------------------------------------------------------------- decide


def decide(store: Store, actor: Actor, link_id: int, to: str,
           reason: str | None = None) -> dict[str, Any]:
    """Accept or reject link ``link_id`` (``to``: accept / reject): validators and admins
    only; the change and its audit row (``link:<status>``, before and after) in one
    transaction. Returns the link's new state."""
    check_reviewer(actor)
    status = decision_status(to)
    reason = clean_reason(reason)
    with store.transaction() as con:
        row = con.execute("SELECT status, from_dataset, to_dataset, from_event, to_event, "
                          "decided_by, reason FROM links WHERE link_id = ?",
                          [link_id]).fetchone()
        if row is None:
            raise LinkNotFoundError(link=link_id)
        before = dict(zip(("status", "from_dataset", "to_dataset", "from_event",
                           "to_event", "decided_by", "reason"), row, strict=True))
        at = now()
        con.execute("UPDATE links SET status = ?, decided_by = ?, decided_at = ?, "
                    "reason = ? WHERE link_id = ?", [status, actor.name, at, reason, link_id])
        after = {**before, "status": status, "decided_by": actor.name, "reason": reason}
        audit(con, actor.name, f"link:{status}", f"link:{link_id}", before, after, reason)
    return {"link_id": link_id, **after, "decided_at": str(at)[:19]}


def settle_place(store: Store, actor: Actor, place_id: int, code: str | None,
                 reason: str | None = None) -> dict[str, Any]:
    """Settle a place of the review list: the admin unit ``code`` it names (of its
    country, in the gazetteer), or none (``code`` None: no unit of the gazetteer); audited
    (``place:settled``)."""
    check_reviewer(actor)
    reason = clean_reason(reason)
    code = (code or "").strip() or None
    with store.transaction() as con:
        row = con.execute("SELECT record_id, country_iso3, text, method, code, settled_code "
                          "FROM place_matches WHERE place_id = ?", [place_id]).fetchone()
        if row is None:
            raise PlaceNotFoundError(place=place_id)
        before = dict(zip(("record_id", "country_iso3", "text", "method", "code",
                           "settled_code"), row, strict=True))
        name = None
        if code is not None:
            unit = con.execute("SELECT level, name FROM admin_units WHERE country_iso3 = ? "
                               "AND code = ? ORDER BY level LIMIT 1",
                               [row[1], code]).fetchone()
            if unit is None:
                raise WorkflowError("link.error.no_unit", code=code[:64],
                                    country=row[1] or "—")
            name = unit[1]
        con.execute("UPDATE place_matches SET settled_by = ?, settled_at = ?, "
                    "settled_code = ?, reason = ? WHERE place_id = ?",
                    [actor.name, now(), code, reason, place_id])
        after = {**before, "settled_code": code, "unit_name": name}
        audit(con, actor.name, "place:settled", str(row[0]), before, after, reason)
    return {"place_id": place_id, **after, "settled_by": actor.name}


# --------------------------------------------------------------------------- reads


def has_links(store: Store) -> bool:
    """Whether the store has the tables of links (a store made before them has not)."""
    return {"links", "link_members"} <= store.tables()


def stored_links(store: Store, *, from_dataset: int | None = None,
                 to_dataset: int | None = None,
                 status: str | Sequence[str] | None = None,
                 link_id: int | None = None) -> pd.DataFrame:
    """The stored links (every column of ``links``) with each side's member record ids
    (``from_records``, ``to_records``), by link id (Ibis; values bound as literals)."""
    import pandas as pd

    if not has_links(store):
        return pd.DataFrame(columns=[*LINK_COLUMNS, "from_records", "to_records"])
    t = store.table("links")
    if from_dataset is not None:
        t = t.filter(t.from_dataset == from_dataset)
    if to_dataset is not None:
        t = t.filter(t.to_dataset == to_dataset)
    if status:
        wanted = [status] if isinstance(status, str) else list(status)
        t = t.filter(t.status.isin(wanted))
    if link_id is not None:
        t = t.filter(t.link_id == link_id)
    frame = t.order_by("link_id").to_pandas()
    m = store.table("link_members")
    m = m.semi_join(t.select("link_id"), "link_id")
    members = m.group_by(["link_id", "side"]).aggregate(ids=m.record_id.collect()) \
        .to_pandas()
    by = {(int(i), str(s)): sorted(str(r) for r in ids) for i, s, ids in
          zip(members.link_id, members.side, members.ids, strict=True)}
    for side in ("from", "to"):
        frame[f"{side}_records"] = [by.get((int(i), side), []) for i in frame.link_id]
    return frame.reset_index(drop=True)


def explained_links(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """``frame`` (:func:`stored_links`) with ``why``: each score in words, in ``lang``."""
    from riskatlas.linking.linker import explain

    out = frame.copy()
    out["why"] = [explain({**row, "status": row.get("proposed_as") or "possible"}, lang)
                  for row in frame.to_dict("records")] if len(frame) else []
    return out


def places(store: Store, *, review: bool = True, dataset: int | None = None
           ) -> pd.DataFrame:
    """The stored place matches (``review``: only those of the review list, unmatched or
    ambiguous places not yet settled), by record."""
    import pandas as pd

    if "place_matches" not in store.tables():
        return pd.DataFrame(columns=["place_id", "dataset_id", *PLACE_COLUMNS,
                                     "settled_by", "settled_at", "settled_code", "reason"])
    t = store.table("place_matches")
    if review:
        t = t.filter(t.method.isin(REVIEW_METHODS) & t.settled_by.isnull())
    if dataset is not None:
        t = t.filter(t.dataset_id == dataset)
    return t.order_by(["record_id", "place_id"]).to_pandas()


def settled_places(store: Store) -> pd.DataFrame:
    """The places a person settled (record_id, origin, text, settled_code), which the
    linker takes as the unit they name (:func:`riskatlas.linking.sides.settle`)."""
    import pandas as pd

    columns = ["record_id", "origin", "text", "settled_code"]
    if "place_matches" not in store.tables():
        return pd.DataFrame(columns=columns)
    t = store.table("place_matches")
    return t.filter(t.settled_by.notnull()).select(*columns).to_pandas()


def link_pairs(store: Store, statuses: Iterable[str] = ("accepted",)
               ) -> list[tuple[int, int]]:
    """The (from, to) dataset pairs holding links in ``statuses``."""
    if not has_links(store):
        return []
    t = store.table("links")
    t = t.filter(t.status.isin(list(statuses)))
    rows = t.select("from_dataset", "to_dataset").distinct().order_by(
        ["from_dataset", "to_dataset"]).to_pyarrow().to_pylist()
    return [(int(r["from_dataset"]), int(r["to_dataset"])) for r in rows]


# the columns of an export of links (CSV), in this order
EXPORT_COLUMNS = ("link_id", "from_dataset", "to_dataset", "from_event", "to_event",
                  "country_iso3", "from_group", "to_group", "status", "score", "hazard",
                  "hazard_basis", "date", "gap_days", "window_days", "place", "place_basis",
                  "place_level", "shared_units", "of_units", "glide", "glide_from",
                  "glide_to", "impacts", "deaths_from", "deaths_to", "why", "from_records",
                  "to_records", "decided_by", "decided_at", "reason", "methods_version",
                  "methods_digest")


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Links (:func:`explained_links`) as a spreadsheet takes them: member ids joined by
    spaces, every text cell that a spreadsheet would run as a formula kept as text."""
    from riskatlas.export import neutralised

    out = frame.reindex(columns=list(EXPORT_COLUMNS)).copy()
    for side in ("from_records", "to_records"):
        out[side] = [" ".join(ids) if isinstance(ids, list | tuple) else ids
                     for ids in out[side]]
    return neutralised(out)


def links_csv(frame: pd.DataFrame) -> str:
    """:func:`export_frame` as CSV text."""
    return str(export_frame(frame).to_csv(index=False))


@dataclass(frozen=True)
class Operator:
    """Who decides from the command line: a user of the store (``--user``: their role)
    or, by default, the operator of the store file (``cli``, an administrator)."""

    name: str = "cli"
    role: str = "admin"
    anonymous: bool = False
    staff: bool = True


def operator(store: Store, user: str | None) -> Operator:
    """The :class:`Operator` named ``user`` (refused when unknown or disabled), else the
    store's operator."""
    from riskatlas.services.accounts import AuthError, user_row

    if not user:
        return Operator()
    row = user_row(store, user)
    if row is None or row.get("disabled"):
        raise AuthError("link.error.no_user", user=user[:80])
    return Operator(name=str(row["name"]), role=str(row["role"]))


__all__ = ["DECIDED", "EXPORT_COLUMNS", "LINK_COLUMNS", "STATUSES", "LinkNotFoundError",
           "Operator", "PlaceNotFoundError", "check_reviewer", "decide", "decision_status",
           "explained_links", "export_frame", "has_links", "link_pairs", "links_csv",
           "operator", "places", "propose", "settle_place", "settled_places", "stored_links"]
