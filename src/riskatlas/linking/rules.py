"""The linking rules of the methods profile (``linking`` in ``data/methods.yaml``).

Every threshold, window and weight of :mod:`riskatlas.linking` comes from here, so a
user's ``--methods`` file can change them and every result states the profile it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riskatlas.analysis.methods import Methods


@dataclass(frozen=True)
class LinkRules:
    """The ``linking`` section of a methods profile, typed."""

    record_events_formats: tuple[str, ...]
    window_days: Mapping[str, int]
    default_window_days: int
    related_groups: Mapping[str, tuple[str, ...]]
    hazard_scores: Mapping[str, float]
    weights: Mapping[str, float]
    glide: Mapping[str, float]
    unknown_place: float
    parent_place: float
    unknown_impacts: float
    impact_factor: float
    link_score: float
    review_score: float
    best_estimate: str
    fuzzy_score: float
    abbreviations: Mapping[str, str]
    intensive: Mapping[str, float]

    @classmethod
    def of(cls, methods: Methods) -> LinkRules:
        s: dict[str, Any] = methods.get("linking")
        places = s["places"]
        return cls(
            record_events_formats=tuple(str(f) for f in s["record_events_formats"]),
            window_days={str(k): int(v) for k, v in s["window_days"].items()},
            default_window_days=int(s["default_window_days"]),
            related_groups={str(k): tuple(str(g) for g in v)
                            for k, v in s["related_groups"].items()},
            hazard_scores={str(k): float(v) for k, v in s["hazard_scores"].items()},
            weights={str(k): float(v) for k, v in s["weights"].items()},
            glide={str(k): float(v) for k, v in s["glide"].items()},
            unknown_place=float(s["unknown_place"]),
            parent_place=float(s["parent_place"]),
            unknown_impacts=float(s["unknown_impacts"]),
            impact_factor=float(s["impact_factor"]),
            link_score=float(s["link_score"]),
            review_score=float(s["review_score"]),
            best_estimate=str(s["best_estimate"]),
            fuzzy_score=float(places["fuzzy_score"]),
            abbreviations={str(k): str(v) for k, v in places["abbreviations"].items()},
            intensive={str(k): float(v) for k, v in methods.get("intensive").items()},
        )

    def window(self, group: str | None) -> int:
        """Days two periods of ``group`` may lie apart and still be one disaster."""
        return self.window_days.get(group or "", self.default_window_days)

    def related(self, a: str | None, b: str | None) -> bool:
        """Whether one disaster can bring reporting groups ``a`` and ``b`` together."""
        if not a or not b:
            return False
        return b in self.related_groups.get(a, ()) or a in self.related_groups.get(b, ())
