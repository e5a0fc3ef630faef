"""Analysis commands: profile, events, risk, sendai, screen.

Each parses the scope, calls the matching :class:`riskatlas.api.Atlas` method and prints
the result. The table view shows the columns that fit a terminal; csv and json carry all.
A caption states what was counted, the period, the engine and the methods profile; with
csv or json it goes to stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

import riskatlas
from riskatlas.analysis.engine import ENGINES
from riskatlas.analysis.levels import describe as describe_levels
from riskatlas.analysis.period import span_text
from riskatlas.analysis.results import note_texts, statuses_text
from riskatlas.analysis.scope import HAZARD_KEYS
from riskatlas.cli.common import (
    ADMIN_OPTION,
    COUNTRY_OPTION,
    DATASET_OPTION,
    DB_OPTION,
    FMT_OPTION,
    FROM_OPTION,
    HAZARD_OPTION,
    METHODS_OPTION,
    STATE,
    TO_OPTION,
    UNAPPROVED_OPTION,
    console,
    err_console,
    h,
    print_frame,
    t,
)

if TYPE_CHECKING:  # pandas loads when a result is shown, not for every command
    import pandas as pd

LEVEL_OPTION = typer.Option(None, "--level", min=0, max=2, help=h("option.level"))
BY_OPTION = typer.Option("group", "--by", help=h("option.by", keys=", ".join(HAZARD_KEYS)))
ENGINE_OPTION = typer.Option("duckdb", "--engine",
                             help=h("option.engine", engines=", ".join(ENGINES)))
METRIC_OPTION = typer.Option(["records", "deaths", "injured", "directly_affected",
                              "houses_destroyed", "houses_damaged"], "--metric",
                             help=h("profile.metric"))

TABLE_COLUMNS = {
    "profile": ("admin_name", "metric", "rank", "hazard_name", "value", "share_pct", "records"),
    "events": ("event_id", "hazard_name", "level0_name", "start_date", "end_date", "cards",
               "units", "deaths", "houses_destroyed", "intensive"),
    "risk": ("admin_name", "hazard_name", "events_per_year", "p_event_10y",
             "deaths_per_year", "intensive_events", "deaths_per_100k", "trend_events",
             "trend_deaths"),
    "exceedance": ("admin_name", "hazard_name", "rank", "event_id", "year", "value",
                   "return_period_years"),
    "return_levels": ("admin_name", "hazard_name", "return_period_years", "level",
                      "level_low", "level_high", "basis", "observed_max", "observed_max_year"),
    "sendai": ("admin_name", "year", "population", "population_basis", "deaths", "missing",
               "a1", "b1", "d1", "sdg_1_5_1"),
    "screen": ("rank", "admin_name", "score", "class", "drivers", "quality", "stability"),
}

# columns whose values are keys with a label in the catalogues (table view only)
VALUE_LABELS = {"metric": "metric", "class": "class", "trend_events": "trend",
                "trend_deaths": "trend", "population_basis": "basis",
                "basis": "return_basis", "quantity": "quantity"}


def register(app: typer.Typer) -> None:
    @app.command(help=h("profile.help"))
    def profile(
        metric: list[str] = METRIC_OPTION,
        top: int = typer.Option(None, "--top", min=1, help=h("profile.top")),
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION, level: int = LEVEL_OPTION,
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION, dataset: int = DATASET_OPTION,
        unapproved: bool = UNAPPROVED_OPTION,
        by: str = BY_OPTION, fmt: str = FMT_OPTION, engine: str = ENGINE_OPTION,
        methods: Path = METHODS_OPTION, db: Path = DB_OPTION,
    ) -> None:
        """Hazard profile: each hazard's total and share (%) of each metric."""
        scope = _scope(country, admin, level, year_from, year_to, dataset,
                       unapproved, hazard_key=by)
        with _open(db, engine, methods) as atlas:
            frame = atlas.profile(metric, top=top, lang=STATE.lang, **scope)
        _show(frame, fmt)

    @app.command(help=h("events.help"))
    def events(
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION, hazard: str = HAZARD_OPTION,
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION, dataset: int = DATASET_OPTION,
        unapproved: bool = UNAPPROVED_OPTION,
        fmt: str = FMT_OPTION, engine: str = ENGINE_OPTION, methods: Path = METHODS_OPTION,
        db: Path = DB_OPTION,
    ) -> None:
        """Data cards grouped into events (same hazard, first-level unit, time window)."""
        scope = _scope(country, admin, None, year_from, year_to, dataset,
                       unapproved, hazard=hazard)
        with _open(db, engine, methods) as atlas:
            frame = atlas.events(lang=STATE.lang, **scope)
        _show(frame, fmt)

    @app.command(help=h("risk.help"))
    def risk(
        exceedance: str = typer.Option(None, "--exceedance", help=h("risk.exceedance")),
        return_periods: str = typer.Option(None, "--return-periods",
                                           help=h("risk.return_periods")),
        quantity: str = typer.Option(None, "--quantity", help=h("risk.quantity")),
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION, level: int = LEVEL_OPTION,
        hazard: str = HAZARD_OPTION, year_from: int = FROM_OPTION, year_to: int = TO_OPTION,
        dataset: int = DATASET_OPTION,
        unapproved: bool = UNAPPROVED_OPTION, by: str = BY_OPTION, fmt: str = FMT_OPTION,
        engine: str = ENGINE_OPTION, methods: Path = METHODS_OPTION, db: Path = DB_OPTION,
    ) -> None:
        """Regional hazard-specific risk per unit × hazard: frequency, annual averages,
        intensive/extensive split, return periods and trends."""
        scope = _scope(country, admin, level, year_from, year_to, dataset,
                       unapproved, hazard=hazard, hazard_key=by)
        with _open(db, engine, methods) as atlas:
            if exceedance:
                frame = atlas.exceedance(exceedance, quantity or "event", lang=STATE.lang,
                                         **scope)
            elif return_periods:
                frame = atlas.return_levels(return_periods, quantity, lang=STATE.lang,
                                            **scope)
            else:
                frame = atlas.risk(lang=STATE.lang, **scope)
        _show(frame, fmt)

    @app.command(help=h("sendai.help"))
    def sendai(
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION, level: int = LEVEL_OPTION,
        hazard: str = HAZARD_OPTION, year_from: int = FROM_OPTION, year_to: int = TO_OPTION,
        dataset: int = DATASET_OPTION,
        unapproved: bool = UNAPPROVED_OPTION, fmt: str = FMT_OPTION, engine: str = ENGINE_OPTION,
        methods: Path = METHODS_OPTION, db: Path = DB_OPTION,
    ) -> None:
        """Sendai Framework indicators (A-1 … D-3, SDG 1.5.1) per unit and year."""
        scope = _scope(country, admin, level, year_from, year_to, dataset,
                       unapproved, hazard=hazard)
        with _open(db, engine, methods) as atlas:
            frame = atlas.sendai(lang=STATE.lang, **scope)
        _show(frame, fmt)

    @app.command(help=h("screen.help"))
    def screen(
        all_hazards: bool = typer.Option(False, "--all-hazards", help=h("screen.all_hazards")),
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION,
        level: int = typer.Option(None, "--level", min=0, max=2, help=h("screen.level")),
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION, dataset: int = DATASET_OPTION,
        unapproved: bool = UNAPPROVED_OPTION,
        fmt: str = FMT_OPTION, engine: str = ENGINE_OPTION, methods: Path = METHODS_OPTION,
        db: Path = DB_OPTION,
    ) -> None:
        """Rank units by a composite risk index, with class, drivers, data quality and
        rank stability."""
        scope = _scope(country, admin, level, year_from, year_to, dataset, unapproved)
        with _open(db, engine, methods) as atlas:
            frame = atlas.screen(all_hazards=all_hazards, lang=STATE.lang, **scope)
        _show(frame, fmt)


def _scope(country: str | None, admin: str | None, level: int | None, year_from: int | None,
           year_to: int | None, dataset: int | None, unapproved: bool,
           **extra: Any) -> dict[str, Any]:
    return {"country": country, "admin": admin, "level": level, "year_from": year_from,
            "year_to": year_to, "dataset": dataset, "include_unapproved": unapproved, **extra}


def _open(db: Path | None, engine: str, methods: Path | None) -> riskatlas.Atlas:
    return riskatlas.open(db, read_only=True, engine=engine, methods=methods)


def _show(frame: pd.DataFrame, fmt: str) -> None:
    caption = caption_of(frame)
    about = describe_levels(frame.attrs, STATE.lang)  # what return levels count
    if fmt == "table":
        view = frame[[c for c in TABLE_COLUMNS[frame.attrs["analysis"]] if c in frame.columns]]
        if "drivers" in view.columns:
            view = view.assign(drivers=view["drivers"].map(drivers_text))
        if "stability" in view.columns:  # a share of weight draws, read as a percentage
            import pandas as pd

            from riskatlas.report.html import percent

            view = view.assign(stability=view["stability"].map(
                lambda v: percent(v) if pd.notna(v) else "—"))
        for column, prefix in VALUE_LABELS.items():
            if column in view.columns:
                view = view.assign(**{column: view[column].map(
                    lambda v, p=prefix: t(f"{p}.{v}") if isinstance(v, str) else v)})
        numeric = view.select_dtypes("number").columns
        view = view.assign(**{c: view[c].round(3) for c in numeric})
        if "share_pct" in view.columns:
            view = view.assign(share_pct=view["share_pct"].round(1))
        if frame.attrs["analysis"] == "return_levels":  # not the admin level
            view = view.rename(columns={"level": "return_level"})
        print_frame(view, fmt, title=caption)
        if about:
            console.print(about, highlight=False)
        for note in note_texts([frame.attrs], STATE.lang):
            console.print(note)
        return
    err_console.print(caption, highlight=False, soft_wrap=True)
    if about:
        err_console.print(about, highlight=False, soft_wrap=True)
    for note in note_texts([frame.attrs], STATE.lang):
        err_console.print(note, highlight=False)
    if fmt == "csv" and "drivers" in frame.columns:
        frame = frame.assign(drivers=frame["drivers"].map(
            lambda d: json.dumps(d, ensure_ascii=False)))
    print_frame(frame, fmt)


def caption_of(frame: pd.DataFrame) -> str:
    """What a result counts: analysis, period, scope, engine and methods profile."""
    a = frame.attrs
    scope = a["scope"]
    period = span_text(a["period"]) if "period" in a else "-"  # the rule's, every result
    if period == "-" and "period_from" in frame.columns and len(frame):
        period = f"{int(frame['period_from'].min())}–{int(frame['period_to'].max())}"
    level = t("analysis.country_level") if scope["level"] is None else scope["level"]
    return t("analysis.caption", analysis=t(f"analysis.name_{a['analysis']}"),
             period=period or "-", level=level, engine=a["engine"],
             statuses=statuses_text(scope.get("statuses"), STATE.lang),
             methods=f"{a['methods_version']} ({a['methods_digest']})")


def drivers_text(drivers: list[dict[str, Any]]) -> str:
    from riskatlas.analysis.results import hazard_name

    return "; ".join(f"{hazard_name(d['hazard'], STATE.lang)} · "
                     f"{t('indicator.' + d['indicator'])} {d['share_pct']:.0f}%"
                     for d in drivers)
