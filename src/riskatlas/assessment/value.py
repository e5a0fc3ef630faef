"""The value an assessment returns: every result behind one report, computed once, and
how well its data covers the scope (:class:`Coverage`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from riskatlas.advice.catalogue import CaseLibrary, Catalogue
from riskatlas.advice.engine import Advice, advice_frame
from riskatlas.analysis.profile import DEFAULT_METRICS
from riskatlas.assessment.linking import LinkingSection

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
    # screen already counts every hazard; a page's holds its ranks and scores only:
    # pipeline.screen_assessment), and what the climate screen leaves out
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
        """How well the data covers the scope (:func:`coverage`)."""
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


@dataclass(frozen=True)
class Coverage:
    """How well the data covers the scope (every figure read off the assessment)."""

    cards: int
    datasets: int
    period_from: int | None
    period_to: int | None
    years: int                  # of the period
    years_with_cards: int
    located: int                # cards located at the level
    units: int                  # units of the level
    units_with_cards: int
    grades: dict[str, int]      # data-quality grade → units with records
    flagged_cards: int          # cards with a value not taken as read
    population: bool            # population loaded for the units

    @property
    def located_pct(self) -> float:
        return 100.0 * self.located / self.cards if self.cards else 0.0


def coverage(a: Assessment) -> Coverage:
    """The data coverage of an assessment: cards, datasets, years with cards, cards located
    at the level, units with records, their quality grades, values not taken as read."""
    records, screen = a.records, a.screen
    first, last = a.period
    years = (last - first + 1) if first is not None and last is not None else 0
    dated = pd.to_datetime(records["start_date"]).dt.year if len(records) else pd.Series()
    code = f"level{a.level}_code"
    located = int(records[code].notna().sum()) if code in records.columns else 0
    with_cards = screen[screen["cards"].fillna(0) > 0] if len(screen) else screen
    grades = ({str(k): int(v) for k, v in with_cards["quality"].value_counts().sort_index()
               .items()} if len(with_cards) else {})
    flagged = int(a.quality["records"].sum()) if len(a.quality) else 0
    population = bool(len(a.risk) and a.risk["population"].notna().any())
    return Coverage(cards=len(records), datasets=int(records["dataset_id"].nunique())
                    if len(records) else 0, period_from=first, period_to=last, years=years,
                    years_with_cards=int(dated.nunique()), located=located,
                    units=len(screen), units_with_cards=len(with_cards), grades=grades,
                    flagged_cards=flagged, population=population)
