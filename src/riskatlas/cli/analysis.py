"""Analysis commands: profile, events, risk, sendai, screen.

Each takes its scope from the shared scope options (:func:`scope_options`), calls the
matching :class:`riskatlas.api.Atlas` method and prints the result. The table view shows
the columns that fit a terminal; csv and json carry all. A caption states what was
counted, the period, the engine and the methods profile; with csv or json it goes to
stderr so that stdout stays machine-readable.
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db, Engine, Format, Methods, ScopeArgs, scope_options
from riskatlas.cli.output import TABLE_FORMATS, console, err_console, print_frame
from riskatlas.cli.state import state
from riskatlas.i18n import translate

if TYPE_CHECKING:  # pandas loads when a result is shown, not for every command
    import pandas as pd

    import riskatlas

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

# what a narrow terminal keeps first where that is not the table's order (the columns
# left out are named under the table; --format wide shows every column)
TABLE_PRIORITY = {
    "events": ("start_date", "hazard_name", "level0_name", "deaths", "cards", "event_id",
               "end_date", "units", "houses_destroyed", "intensive"),
    "risk": ("admin_name", "hazard_name", "events_per_year", "deaths_per_year",
             "p_event_10y", "trend_events", "trend_deaths", "deaths_per_100k",
             "intensive_events"),
    "sendai": ("admin_name", "year", "deaths", "missing", "a1", "b1", "d1", "sdg_1_5_1"),
}

# columns whose values are keys with a label in the catalogues (table view only)
VALUE_LABELS = {"metric": "metric", "class": "class", "trend_events": "trend",
                "trend_deaths": "trend", "population_basis": "basis",
                "basis": "return_basis", "quantity": "quantity"}
METRICS = ["records", "deaths", "injured", "directly_affected", "houses_destroyed",
           "houses_damaged"]


@scope_options(hazard=False, by=True)
def profile(
    ctx: typer.Context,
    metric: Annotated[list[str], typer.Option("--metric", help=h("profile.metric"))] = METRICS,
    top: Annotated[int | None, typer.Option("--top", min=1, help=h("profile.top"))] = None,
    *, scope: ScopeArgs,
    fmt: Format = "table", engine: Engine = "duckdb", methods: Methods = None, db: Db = None,
) -> None:
    """Hazard profile: each hazard's total and share (%) of each metric."""
    lang = state(ctx).lang
    with _open(db, engine, methods) as atlas:
        frame = atlas.profile(metric, top=top, lang=lang, scope=scope.on(atlas))
    _show(frame, fmt, lang)


@scope_options(level=None)
def events(
    ctx: typer.Context, *, scope: ScopeArgs,
    fmt: Format = "table", engine: Engine = "duckdb", methods: Methods = None, db: Db = None,
) -> None:
    """Data cards grouped into events (same hazard, first-level unit, time window)."""
    lang = state(ctx).lang
    with _open(db, engine, methods) as atlas:
        frame = atlas.events(lang=lang, scope=scope.on(atlas))
    _show(frame, fmt, lang)


@scope_options(by=True)
def risk(
    ctx: typer.Context,
    exceedance: Annotated[str | None, typer.Option("--exceedance",
                                                   help=h("risk.exceedance"))] = None,
    return_periods: Annotated[str | None, typer.Option(
        "--return-periods", help=h("risk.return_periods"))] = None,
    quantity: Annotated[str | None, typer.Option("--quantity", help=h("risk.quantity"))] = None,
    *, scope: ScopeArgs,
    fmt: Format = "table", engine: Engine = "duckdb", methods: Methods = None, db: Db = None,
) -> None:
    """Regional hazard-specific risk per unit × hazard: frequency, annual averages,
    intensive/extensive split, return periods and trends."""
    lang = state(ctx).lang
    with _open(db, engine, methods) as atlas:
        if exceedance:
            frame = atlas.exceedance(exceedance, quantity or "event", lang=lang,
                                     scope=scope.on(atlas))
        elif return_periods:
            frame = atlas.return_levels(return_periods, quantity, lang=lang,
                                        scope=scope.on(atlas))
        else:
            frame = atlas.risk(lang=lang, scope=scope.on(atlas))
    _show(frame, fmt, lang)


@scope_options()
def sendai(
    ctx: typer.Context, *, scope: ScopeArgs,
    fmt: Format = "table", engine: Engine = "duckdb", methods: Methods = None, db: Db = None,
) -> None:
    """Sendai Framework indicators (A-1 … D-3, SDG 1.5.1) per unit and year."""
    lang = state(ctx).lang
    with _open(db, engine, methods) as atlas:
        frame = atlas.sendai(lang=lang, scope=scope.on(atlas))
    _show(frame, fmt, lang)


@scope_options(level="screen.level", hazard=False)
def screen(
    ctx: typer.Context,
    all_hazards: Annotated[bool, typer.Option("--all-hazards",
                                              help=h("screen.all_hazards"))] = False,
    *, scope: ScopeArgs,
    fmt: Format = "table", engine: Engine = "duckdb", methods: Methods = None, db: Db = None,
) -> None:
    """Rank units by a composite risk index, with class, drivers, data quality and
    rank stability."""
    lang = state(ctx).lang
    with _open(db, engine, methods) as atlas:
        frame = atlas.screen(all_hazards=all_hazards, lang=lang, scope=scope.on(atlas))
    _show(frame, fmt, lang)


def _open(db: Path | None, engine: str, methods: Path | None) -> "riskatlas.Atlas":
    import riskatlas

    return riskatlas.open(db, read_only=True, engine=engine, methods=methods)


def _show(frame: "pd.DataFrame", fmt: str, lang: str) -> None:
    from riskatlas.analyses import describe_levels
    from riskatlas.analysis.results import note_texts

    caption = caption_of(frame, lang)
    about = describe_levels(frame.attrs, lang)  # what return levels count
    if fmt in TABLE_FORMATS:
        print_frame(table_view(frame, lang, wide=fmt == "wide"), fmt, title=caption,
                    lang=lang, priority=TABLE_PRIORITY.get(frame.attrs["analysis"], ()))
        if about:
            console.print(about, highlight=False)
        for note in note_texts([frame.attrs], lang):
            console.print(note, highlight=False)
        return
    err_console.print(caption, highlight=False, soft_wrap=True)
    if about:
        err_console.print(about, highlight=False, soft_wrap=True)
    for note in note_texts([frame.attrs], lang):
        err_console.print(note, highlight=False)
    if fmt == "csv" and "drivers" in frame.columns:
        frame = frame.assign(drivers=frame["drivers"].map(
            lambda d: json.dumps(d, ensure_ascii=False)))
    print_frame(frame, fmt, lang=lang)


def table_view(frame: "pd.DataFrame", lang: str, *, wide: bool = False) -> "pd.DataFrame":
    """What a terminal shows of a result: the analysis's table columns (every column
    when ``wide``), keys as labels in ``lang``, drivers and stability as text."""
    import pandas as pd

    from riskatlas.report.html import percent

    analysis = frame.attrs["analysis"]
    view = frame if wide else frame[[c for c in TABLE_COLUMNS[analysis] if c in frame.columns]]
    if "drivers" in view.columns:
        view = view.assign(drivers=view["drivers"].map(lambda d: drivers_text(d, lang)))
    if "stability" in view.columns:  # a share of weight draws, read as a percentage
        view = view.assign(stability=view["stability"].map(
            lambda v: percent(v) if pd.notna(v) else "—"))
    for column, prefix in VALUE_LABELS.items():
        if column in view.columns:
            view = view.assign(**{column: view[column].map(
                lambda v, p=prefix: translate(f"{p}.{v}", lang) if isinstance(v, str)
                else v)})
    if "share_pct" in view.columns:  # shares to a tenth of a percent
        view = view.assign(share_pct=view["share_pct"].round(1))
    if analysis == "return_levels":  # not the admin level
        view = view.rename(columns={"level": "return_level"})
    return view


def caption_of(frame: "pd.DataFrame", lang: str) -> str:
    """What a result counts: analysis, period, scope, engine and methods profile."""
    from riskatlas.analyses import span_text
    from riskatlas.analysis.results import statuses_text

    a = frame.attrs
    scope = a["scope"]
    period = span_text(a["period"]) if "period" in a else "-"  # the rule's, every result
    if period == "-" and "period_from" in frame.columns and len(frame):
        period = f"{int(frame['period_from'].min())}–{int(frame['period_to'].max())}"
    level = translate("analysis.country_level", lang) if scope["level"] is None \
        else scope["level"]
    return translate("analysis.caption", lang,
                     analysis=translate(f"analysis.name_{a['analysis']}", lang),
                     period=period or "-", level=level, engine=a["engine"],
                     statuses=statuses_text(scope.get("statuses"), lang),
                     methods=f"{a['methods_version']} ({a['methods_digest']})")


def drivers_text(drivers: list[dict[str, Any]], lang: str) -> str:
    """A screened unit's drivers on one line of a terminal table."""
    from riskatlas.assessment.text import drivers_text as worded

    return worded(drivers, lang, sep="; ", percent="%")
