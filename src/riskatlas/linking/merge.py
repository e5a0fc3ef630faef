"""A merged event: the figures of linked events of two datasets, each with its source.

An EM-DAT record is often one disaster that a national database holds as several events
(a monsoon's floods per region), so a merged event is a connected group of accepted links:
every event of either side linked to one another. Each side's figures are summed over its
events; the best estimate of each figure follows the rule ``linking.best_estimate``:

- ``max`` (default): the larger of the two sides' figures. Each source misses what it was
  not told: a national database the units that sent no card, EM-DAT the small local losses
  under its entry criteria; neither over-counts by design, so the larger figure is the
  better lower bound. A side that reports no figure gives way to the other.
- ``from`` / ``to``: the first / second dataset's figure whenever it reports one.

Deaths are dead + missing on both sides (EM-DAT's Total Deaths counts both).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from riskatlas.linking.sides import FIGURES

RULES = ("max", "from", "to")
MERGED_COLUMNS = ["merged_id", "figure", "value", "source", "source_events", "from_value",
                  "to_value", "rule"]


def link_groups(links: pd.DataFrame) -> dict[str, int]:
    """Event id → merged-event number: the connected groups of ``links`` (from_event,
    to_event), numbered from 1 in order of their first event."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(links.from_event, links.to_event, strict=True):
        parent[root(f"from:{a}")] = root(f"to:{b}")
    roots: dict[str, int] = {}
    out: dict[str, int] = {}
    for node in sorted(parent):
        out[node] = roots.setdefault(root(node), len(roots) + 1)
    return out


def merged_events(links: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame,
                  rule: str = "max") -> pd.DataFrame:
    """One row per merged event and figure: the best estimate ``value``, the ``source``
    it comes from (``from``, ``to`` or none), the events behind it, both sides' sums and
    the ``rule``. ``links`` are the accepted links (from_event in ``left``, to_event in
    ``right``)."""
    if rule not in RULES:
        raise ValueError(f"best-estimate rule {rule!r}: use one of {', '.join(RULES)}")
    groups = link_groups(links)
    rows: list[dict[str, Any]] = []
    members: dict[int, dict[str, list[str]]] = {}
    for node, number in groups.items():
        side, _, event = node.partition(":")
        members.setdefault(number, {"from": [], "to": []})[side].append(event)
    for number, sides in sorted(members.items()):
        sums = {"from": _sums(left, sides["from"]), "to": _sums(right, sides["to"])}
        for figure in FIGURES:
            a, b = sums["from"][figure], sums["to"][figure]
            source = best_source(a, b, rule)
            rows.append({"merged_id": number, "figure": figure,
                         "value": {"from": a, "to": b}.get(source or ""),
                         "source": source,
                         "source_events": " ".join(sides[source]) if source else None,
                         "from_value": a, "to_value": b, "rule": rule})
    return pd.DataFrame(rows, columns=MERGED_COLUMNS)


def best_source(a: float | None, b: float | None, rule: str = "max") -> str | None:
    """Which side's figure is the best estimate (``from``, ``to``, or None when neither
    reports one) under ``rule``."""
    has_a, has_b = a is not None and not pd.isna(a), b is not None and not pd.isna(b)
    if not has_a or not has_b:
        return "from" if has_a else "to" if has_b else None
    if rule == "from":
        return "from"
    if rule == "to":
        return "to"
    return "from" if float(a) >= float(b) else "to"  # type: ignore[arg-type]


def _sums(events: pd.DataFrame, ids: Iterable[str]) -> dict[str, float | None]:
    chosen = events[events.event_id.isin(list(ids))]
    out: dict[str, float | None] = {}
    for figure in FIGURES:
        values = chosen[figure].dropna()
        out[figure] = float(values.sum()) if len(values) else None
    return out
