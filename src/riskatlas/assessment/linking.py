"""The linked sources of a store, as the Python API and the assessment read them: the
events of two datasets joined by their stored links, the merged events with the source of
each figure and the completeness table (issue 17; :mod:`riskatlas.linking`).

A stored link names its events' member record ids (:mod:`riskatlas.services.links`), so
the events are formed again from the data and each link finds its events through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from riskatlas.linking import LinkRules, completeness, dataset_events, link_datasets
from riskatlas.linking import merged_events as merge_events
from riskatlas.linking.linker import LINK
from riskatlas.linking.merge import link_groups
from riskatlas.services import links as link_service

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses

# where the links behind a section come from: links reviewed and accepted, or (no link of
# the two datasets reviewed yet) the links the linker proposes
ACCEPTED, PROPOSED = "accepted", "proposed"


@dataclass(frozen=True)
class LinkedSources:
    """Two datasets' events and the links that join them (``from_event``, ``to_event``)."""

    from_dataset: int
    to_dataset: int
    names: tuple[str, str]
    left: pd.DataFrame
    right: pd.DataFrame
    links: pd.DataFrame
    basis: str = ACCEPTED


@dataclass(frozen=True)
class LinkingSection:
    """What a report shows of linked sources: completeness (per country, hazard group,
    year, kind and source) and the merged events (per figure, with its source)."""

    completeness: pd.DataFrame
    merged: pd.DataFrame
    pairs: list[dict[str, object]] = field(default_factory=list)  # from, to, names, basis

    @property
    def empty(self) -> bool:
        return not len(self.completeness)


def dataset_name(analyses: Analyses, dataset_id: int) -> str:
    """A dataset's source key (its name when it has none)."""
    t = analyses.table("datasets")
    rows = t.filter(t.dataset_id == dataset_id).select("source_key", "name") \
        .to_pyarrow().to_pylist()
    if not rows:
        return str(dataset_id)
    return str(rows[0]["source_key"] or rows[0]["name"] or dataset_id)


def linked(analyses: Analyses, from_dataset: int, to_dataset: int,
           statuses: Sequence[str] = ("accepted",)) -> LinkedSources:
    """The events of both datasets and their stored links in ``statuses``, each link
    pointing at the events that now hold its member records."""
    left = dataset_events(analyses, from_dataset)
    right = dataset_events(analyses, to_dataset)
    stored = link_service.stored_links(analyses.store, from_dataset=from_dataset,
                                       to_dataset=to_dataset, status=tuple(statuses))
    pairs = _current_pairs(stored, _event_of(left), _event_of(right))
    return LinkedSources(from_dataset, to_dataset, (dataset_name(analyses, from_dataset),
                                                    dataset_name(analyses, to_dataset)),
                         left, right, pairs)


def _event_of(events: pd.DataFrame) -> dict[str, str]:
    return {str(r): str(e) for e, ids in zip(events.event_id, events.record_ids, strict=True)
            for r in ids}


def _current_pairs(stored: pd.DataFrame, left: dict[str, str], right: dict[str, str]
                   ) -> pd.DataFrame:
    rows = []
    for link in stored.to_dict("records"):
        froms = sorted({left[r] for r in link["from_records"] if r in left})
        tos = sorted({right[r] for r in link["to_records"] if r in right})
        rows += [{"link_id": link["link_id"], "from_event": a, "to_event": b,
                  "status": link["status"]} for a in froms for b in tos]
    return pd.DataFrame(rows, columns=["link_id", "from_event", "to_event", "status"])


def merged(sources: LinkedSources, rule: str) -> pd.DataFrame:
    """The merged events of ``sources`` (one row per event and figure) with the dataset
    each figure comes from (``source_dataset``)."""
    frame = merge_events(sources.links, sources.left, sources.right, rule)
    members: dict[tuple[int, str], list[str]] = {}
    for node, number in link_groups(sources.links).items():
        side, _, event = node.partition(":")
        members.setdefault((number, side), []).append(event)
    for side in ("from", "to"):
        frame[f"{side}_events"] = [" ".join(sorted(members.get((int(n), side), [])))
                                   for n in frame.merged_id]
    names = {"from": sources.names[0], "to": sources.names[1]}
    frame.insert(1, "from_dataset", sources.names[0])
    frame.insert(2, "to_dataset", sources.names[1])
    frame["source_dataset"] = frame.source.map(names)
    return frame


def completeness_of(sources: LinkedSources) -> pd.DataFrame:
    """The completeness table of ``sources``, each source named by its dataset."""
    return completeness(sources.left, sources.right, sources.links, names=sources.names)


def source_pairs(analyses: Analyses, country: str | None,
                 datasets: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """(record-event dataset, other dataset) pairs holding records of ``country`` (all
    countries when None) among ``datasets`` (all when None): an EM-DAT dataset next to a
    national loss database."""
    rules = LinkRules.of(analyses.methods)
    records = analyses.table("records")
    if country:
        records = records.filter(records.country_iso3 == country)
    held = {int(r["dataset_id"]) for r in records.select("dataset_id").distinct()
            .to_pyarrow().to_pylist()
            if datasets is None or int(r["dataset_id"]) in set(datasets)}
    frame = analyses.datasets()
    kinds = {int(d): str(f) in rules.record_events_formats for d, f in
             zip(frame.dataset_id, frame.format, strict=True) if int(d) in held}
    return [(e, n) for e, is_e in sorted(kinds.items()) if is_e
            for n, is_n in sorted(kinds.items()) if not is_n]


def section(analyses: Analyses, country: str | None, lang: str = "en",
            datasets: Sequence[int] | None = None) -> LinkingSection | None:
    """The linked-sources section of an assessment of ``country`` (over ``datasets``; all
    when None): None unless the store holds both kinds of source for it. Per pair, the
    accepted links when any link of the pair was reviewed, else the links the linker
    proposes (not yet reviewed)."""
    pairs = source_pairs(analyses, country, datasets)
    if not pairs:
        return None
    rule = LinkRules.of(analyses.methods).best_estimate
    tables: list[pd.DataFrame] = []
    merges: list[pd.DataFrame] = []
    described: list[dict[str, object]] = []
    for from_dataset, to_dataset in pairs:
        reviewed = link_service.stored_links(analyses.store, from_dataset=from_dataset,
                                             to_dataset=to_dataset,
                                             status=link_service.DECIDED)
        if len(reviewed):
            sources = linked(analyses, from_dataset, to_dataset)
        else:
            found = link_datasets(analyses, from_dataset, to_dataset, lang=lang,
                                  settled=link_service.settled_places(analyses.store))
            proposed = found[found.status == LINK]
            sources = LinkedSources(from_dataset, to_dataset, (
                dataset_name(analyses, from_dataset), dataset_name(analyses, to_dataset)),
                found.attrs["from_events"], found.attrs["to_events"],
                proposed[["from_event", "to_event"]].reset_index(drop=True), PROPOSED)
        table = completeness_of(sources)
        if country:
            table = table[table.country_iso3 == country]
        tables.append(table)
        merge = merged(sources, rule)
        merge["merged_id"] += sum([int(m.merged_id.max()) for m in merges if len(m)])
        merges.append(merge)
        described.append({"from": sources.names[0], "to": sources.names[1],
                          "basis": sources.basis, "links": len(sources.links)})
    return LinkingSection(pd.concat(tables, ignore_index=True),
                          pd.concat(merges, ignore_index=True), described)
