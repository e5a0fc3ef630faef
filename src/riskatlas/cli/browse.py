"""Commands that look at the store: datasets, hazards, records, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

import riskatlas
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
    h,
    print_frame,
    t,
)
from riskatlas.export import FORMATS
from riskatlas.i18n import template
from riskatlas.model.hazards import CROSSWALK_COLUMNS

BROWSE_COLUMNS = ("record_id", "country_iso3", "level0_name", "level1_name", "level2_name",
                  "start_date", "date_precision", "hazard_term", "hips_code", "hazard_group",
                  "deaths", "injured", "affected", "houses_destroyed", "houses_damaged")
EXPORT_OUT = typer.Argument(..., help=h("export.out"))
OUTSIDE_TABLE = ("record_id", "dataset_id", "country_iso3", "start_date", "hazard_term",
                 "deaths", "period")
SUGGESTION_COLUMNS = ("hips_code", "hips_name", "hazard_group", "similarity", "resembles",
                      "source", "csv_line")


def _print_review(frame: Any, fmt: str) -> None:
    """The review list with its suggestions: csv has one row per term and suggestion; a
    table shows the list, the suggestions and then the crosswalk lines, ready to copy."""
    import pandas as pd

    review = frame.drop(columns=["suggestions", "hips_code", "hazard_group"])
    rows: list[dict[str, Any]] = []
    for term, suggestions in zip(review.to_dict("records"), frame["suggestions"], strict=True):
        rows += [{**term, "rank": n, **s} for n, s in enumerate(suggestions, 1)] or [term]
    long = pd.DataFrame(rows, columns=[*review.columns, "rank", *SUGGESTION_COLUMNS])
    long["rank"] = long["rank"].astype("Int64")
    if fmt == "csv":
        print_frame(long, fmt)
        return
    print_frame(review, fmt, title=t("browse.hazards_title"))
    found = long[long["hips_code"].notna()]
    if not found.empty:
        print_frame(found[["term", "rank", "hips_code", "hips_name", "hazard_group",
                           "similarity", "resembles"]], fmt, title=t("browse.suggestions_title"))
        console.print(t("browse.suggestion_lines"))
        console.print(",".join(CROSSWALK_COLUMNS), markup=False, highlight=False, soft_wrap=True)
        for line in found["csv_line"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    for term in long.loc[long["hips_code"].isna(), "term"]:
        console.print(t("browse.no_suggestion", term=term), style="yellow", markup=False)


def register(app: typer.Typer) -> None:
    @app.command(help=h("datasets.help"))
    def datasets(db: Path = DB_OPTION, fmt: str = FMT_OPTION) -> None:
        """List imported datasets with provenance and reconciliation counts."""
        with riskatlas.open(db, read_only=True) as atlas:
            frame = atlas.datasets()[["dataset_id", "name", "format", "source_key",
                                      "country_iso3", "records_read", "records_imported",
                                      "records_quarantined", "imported_at", "crosswalk_version",
                                      "importer_version", "synthetic"]]
        if fmt == "table":  # what fits a terminal; csv and json have every column
            frame = frame.assign(name=[f"{n} ({t('browse.synthetic')})" if s else n
                                       for n, s in zip(frame.name, frame.synthetic, strict=True)])
            frame = frame[["dataset_id", "name", "format", "country_iso3", "records_read",
                           "records_imported", "records_quarantined"]].rename(columns={
                "dataset_id": "id", "country_iso3": "country", "records_read": "read",
                "records_imported": "imported", "records_quarantined": "set_aside"})
        print_frame(frame, fmt, title=t("browse.datasets_title"))

    @app.command(help=h("quality.help"))
    def quality(dataset: int = DATASET_OPTION, db: Path = DB_OPTION,
                fmt: str = FMT_OPTION) -> None:
        """Values not taken as read, by rule and field, with examples of raw values."""
        with riskatlas.open(db, read_only=True) as atlas:
            frame = atlas.quality_summary(dataset)
        if frame.empty and fmt == "table":
            console.print(t("browse.no_quality_issues"))
            return
        if fmt == "table":
            frame = frame.assign(
                rule=[template(key, STATE.lang) for key in frame.rule],
                action=[t(f"quality.action.{a}") for a in frame.action],
                examples=[", ".join(map(repr, v)) for v in frame.examples]).rename(
                columns={"dataset_id": "id", "source_field": "source_column"})
        print_frame(frame, fmt, title=t("browse.quality_title"))

    @app.command(help=h("hazards.help"))
    def hazards(
        unmapped: bool = typer.Option(False, "--unmapped", help=h("hazards.unmapped")),
        db: Path = DB_OPTION, fmt: str = FMT_OPTION,
    ) -> None:
        """Source hazard terms and their HIPs 2025 code and reporting group."""
        with riskatlas.open(db, read_only=True) as atlas:
            frame = (atlas.hazard_suggestions(lang=STATE.lang) if unmapped
                     else atlas.hazard_terms())
        if unmapped and frame.empty and fmt == "table":
            console.print(t("browse.no_unmapped"))
            return
        if unmapped and fmt != "json":  # json keeps the suggestions nested in each term
            _print_review(frame, fmt)
            return
        print_frame(frame, fmt, title=t("browse.hazards_title"))

    @app.command(help=h("records.help"))
    def records(
        country: str = COUNTRY_OPTION, admin: str = ADMIN_OPTION, hazard: str = HAZARD_OPTION,
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION, dataset: int = DATASET_OPTION,
        page: int = typer.Option(1, "--page", min=1, help=h("records.page")),
        page_size: int = typer.Option(50, "--page-size", min=1, max=10_000,
                                      help=h("records.page_size")),
        db: Path = DB_OPTION, fmt: str = FMT_OPTION,
    ) -> None:
        """Browse records with filters, a page at a time."""
        filters: dict[str, Any] = {"country": country, "admin": admin, "hazard": hazard,
                                   "year_from": year_from, "year_to": year_to,
                                   "dataset": dataset}
        with riskatlas.open(db, read_only=True) as atlas:
            total = atlas.count_records(**filters)
            frame = atlas.records(limit=page_size, offset=(page - 1) * page_size,
                                  columns=BROWSE_COLUMNS, **filters)
        print_frame(frame, fmt, title=t("browse.records_title", page=page,
                                        pages=max(1, -(-total // page_size)), total=total))

    @app.command(help=h("periods.help"))
    def periods(
        outside: bool = typer.Option(False, "--outside", help=h("periods.outside")),
        country: str = COUNTRY_OPTION, year_from: int = FROM_OPTION, year_to: int = TO_OPTION,
        dataset: int = DATASET_OPTION, unapproved: bool = UNAPPROVED_OPTION,
        methods: Path = METHODS_OPTION, db: Path = DB_OPTION, fmt: str = FMT_OPTION,
    ) -> None:
        """Each country's period of record (and each dataset's), or the cards outside it."""
        scope: dict[str, Any] = {"country": country, "year_from": year_from,
                                 "year_to": year_to, "dataset": dataset,
                                 "include_unapproved": unapproved}
        with riskatlas.open(db, read_only=True, methods=methods) as atlas:
            if outside:
                frame = atlas.outside_period(**scope)
                if fmt == "table":  # what fits a terminal; csv and json have every column
                    frame = frame.assign(start_date=frame["start_date"].dt.date, period=[
                        f"{a}–{b}" for a, b in zip(frame.period_from, frame.period_to,
                                                   strict=True)])[list(OUTSIDE_TABLE)]
                print_frame(frame, fmt, title=t("browse.outside_title", total=len(frame)))
                return
            frame = atlas.periods(**scope)
        print_frame(frame, fmt, title=t("browse.periods_title"))

    @app.command(help=h("export.help"))
    def export(
        out: Path = EXPORT_OUT,
        fmt: str = typer.Option(None, "--format",
                                help=h("export.format", formats=", ".join(FORMATS))),
        country: str = COUNTRY_OPTION, hazard: str = HAZARD_OPTION,
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION,
        with_raw: bool = typer.Option(False, "--with-raw", help=h("export.with_raw")),
        overwrite: bool = typer.Option(False, "--overwrite", help=h("export.overwrite")),
        db: Path = DB_OPTION,
    ) -> None:
        """Export records with labels (hazard, HIPs and country names next to codes)."""
        from riskatlas.errors import RiskAtlasError

        fmt = (fmt or out.suffix.lstrip(".")).lower()
        if fmt not in FORMATS:
            raise RiskAtlasError("export.format", format=fmt, formats=", ".join(FORMATS))
        if out.exists() and not overwrite:
            raise RiskAtlasError("export.exists", path=str(out))
        with riskatlas.open(db, read_only=True) as atlas:
            count = atlas.export(out, fmt, lang=STATE.lang, with_raw=with_raw, country=country,
                                 hazard=hazard, year_from=year_from, year_to=year_to)
        console.print(t("export.done", count=count, path=out))
