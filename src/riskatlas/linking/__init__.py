"""Linking the same disaster across sources (issue 17): DesInventar ↔ EM-DAT ↔ GLIDE.

- :mod:`~riskatlas.linking.places`: EM-DAT places (Admin Units JSON, Location) to the
  store's admin units, each match with its method and score; a review list of the rest.
- :mod:`~riskatlas.linking.sides`: the events of a dataset as the linker compares them.
- :mod:`~riskatlas.linking.linker`: candidate pairs, their features and score, in words.
- :mod:`~riskatlas.linking.merge`: merged events with the source of every figure.
- :mod:`~riskatlas.linking.completeness`: what each source captures of the other.

Thresholds, windows and weights are the methods profile's ``linking`` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from riskatlas.linking.completeness import completeness
from riskatlas.linking.linker import explain, explained, link_events
from riskatlas.linking.merge import merged_events
from riskatlas.linking.places import match_places, review_list
from riskatlas.linking.rules import LinkRules
from riskatlas.linking.sides import dataset_events

if TYPE_CHECKING:
    from riskatlas.analyses import Analyses
    from riskatlas.analysis.methods import Methods

__all__ = ["LinkRules", "completeness", "dataset_events", "explain", "explained",
           "link_datasets", "link_events", "match_places", "merged_events", "review_list"]


def link_datasets(analyses: Analyses, from_dataset: int, to_dataset: int, *,
                  lang: str = "en", keep_unlikely: bool = False,
                  methods: Methods | None = None, settled: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """The scored, explained candidate links between two datasets of a store's tables (an
    :class:`~riskatlas.analyses.Analyses`; ``methods`` replaces its profile); ``attrs``
    holds the methods stamp, both sides' events and the places of record-event datasets
    (EM-DAT) with their review list; ``settled``: the places a person settled
    (record_id, origin, text, settled_code), which count as the unit they name."""
    methods = methods or analyses.methods
    rules = LinkRules.of(methods)
    left = dataset_events(analyses, from_dataset, methods, settled)
    right = dataset_events(analyses, to_dataset, methods, settled)
    links = explained(link_events(left, right, rules, keep_unlikely=keep_unlikely), lang)
    places = pd.concat([side.attrs["places"] for side in (left, right)
                        if "places" in side.attrs] or [pd.DataFrame()], ignore_index=True)
    links.attrs.update(methods.stamp())
    links.attrs.update({"from_dataset": from_dataset, "to_dataset": to_dataset,
                        "from_events": left, "to_events": right, "places": places,
                        "places_to_review": review_list(places) if len(places) else places})
    return links
