"""The value an assessment returns: every result behind one report, computed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from riskatlas.advice.catalogue import CaseLibrary, Catalogue
from riskatlas.advice.engine import Advice, advice_frame
from riskatlas.analysis.profile import DEFAULT_METRICS
from riskatlas.assessment.linking import LinkingSection

if TYPE_CHECKING:
    from riskatlas.assessment.national import Coverage

REPORT_METRICS = (*DEFAULT_METRICS[:1], "events", *DEFAULT_METRICS[1:])


@dataclass(frozen=True)
class Assessment:
    """The results behind one report (all frames carry their scope in ``attrs``)."""

    country: str | None
    level: int
    year_from: int | None
    year_to: int | None
    lang: str
    datasets: pd.DataFrame
    profile: pd.DataFrame          # whole scope (country level), every report metric
    unit_profile: pd.DataFrame     # per unit of ``level``
    risk: pd.DataFrame             # per unit × hazard
    return_levels: pd.DataFrame    # deaths, per unit × hazard × T
    sendai: pd.DataFrame           # per country × year
    unit_sendai: pd.DataFrame      # per unit × year
    events: pd.DataFrame
    annual: pd.DataFrame           # per unit × hazard × year: events and deaths
    screen: pd.DataFrame           # climate-related hazards (methods screen.climate_only)
    advice: list[Advice]
    peers: dict[tuple[str, str], pd.DataFrame]
    units: pd.DataFrame            # gazetteer of the level, with GeoJSON where loaded
    records: pd.DataFrame          # the records behind every figure (ids and values)
    catalogue: Catalogue
    cases: CaseLibrary
    top: int
    notes: list[str] = field(default_factory=list)  # in ``lang``
    statuses: tuple[str, ...] | None = None  # approval statuses counted (None: every one)
    # every hazard: the all-hazard screen next to the climate-related one (empty when the
    # screen already counts every hazard), and what the climate screen leaves out
    all_screen: pd.DataFrame = field(default_factory=pd.DataFrame)
    outside: pd.DataFrame = field(default_factory=pd.DataFrame)       # whole scope
    unit_outside: pd.DataFrame = field(default_factory=pd.DataFrame)  # per unit
    dataset_scope: tuple[int, ...] | None = None  # the datasets asked for (assess FILE…)
    # values not taken as read, by dataset, rule and field (Atlas.quality_summary)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    # linked sources (issue 17): when the store holds a national loss database and EM-DAT
    # for the country, what each captures of the other and the merged events, each figure
    # with its source (assessment.linking.LinkingSection); None otherwise
    linking: LinkingSection | None = None
    # national figures (assessment.national.with_national): per hazard ("all": every
    # hazard) × year of the whole scope; their trends; each unit against the national
    # average unit of its level
    national: pd.DataFrame = field(default_factory=pd.DataFrame)
    national_trends: pd.DataFrame = field(default_factory=pd.DataFrame)
    unit_vs_national: pd.DataFrame = field(default_factory=pd.DataFrame)

    @cached_property
    def coverage(self) -> Coverage:
        """How well the data covers the scope (assessment.national.coverage)."""
        from riskatlas.assessment.national import coverage

        return coverage(self)

    @property
    def top_units(self) -> pd.DataFrame:
        return self.screen[self.screen["rank"].notna()].sort_values("rank").head(self.top)

    @property
    def period(self) -> tuple[int | None, int | None]:
        p = self.profile
        if not len(p):
            return self.year_from, self.year_to
        return int(p["period_from"].min()), int(p["period_to"].max())

    def advice_table(self) -> pd.DataFrame:
        return advice_frame(self.advice, self.lang)

    def advice_for(self, unit: tuple[str, str]) -> list[Advice]:
        return [a for a in self.advice if (a.country_iso3, a.admin_code) == unit]

    @classmethod
    def of(cls, *, lang: str, catalogue: Catalogue, cases: CaseLibrary,
           country: str | None = None, level: int = 0, year_from: int | None = None,
           year_to: int | None = None, top: int = 0, **parts: object) -> Assessment:
        """An assessment holding only some results (a web page renders one part of a
        report): every frame not given is empty, no advice, no peers."""
        empty = pd.DataFrame()
        frames = {name: empty for name in FRAMES}
        values: dict[str, object] = {"advice": [], "peers": {}, **frames, **parts}
        return cls(country=country, level=level, year_from=year_from, year_to=year_to,
                   lang=lang, catalogue=catalogue, cases=cases, top=top,
                   **values)  # type: ignore[arg-type]


# the frames an assessment always holds (possibly empty)
FRAMES = ("datasets", "profile", "unit_profile", "risk", "return_levels", "sendai",
          "unit_sendai", "events", "annual", "screen", "units", "records")
