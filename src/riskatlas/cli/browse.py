"""Commands that look at the store: datasets, quality, hazards, records, periods, export."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import (
    Admin,
    Country,
    Dataset,
    Db,
    Format,
    Hazard,
    Methods,
    ScopeArgs,
    YearFrom,
    YearTo,
    scope_options,
)
from riskatlas.cli.output import TABLE_FORMATS, console, print_frame, print_table
from riskatlas.cli.state import state
from riskatlas.i18n import translate
from riskatlas.paths import is_postgres, resolve_db

if TYPE_CHECKING:
    import pandas as pd

BROWSE_COLUMNS = ("record_id", "country_iso3", "level0_name", "level1_name", "level2_name",
                  "start_date", "date_precision", "hazard_term", "hips_code", "hazard_group",
                  "deaths", "injured", "affected", "houses_destroyed", "houses_damaged")
# what a narrow terminal keeps of a record, most important first (the rest: --format wide)
RECORDS_PRIORITY = ("record_id", "start_date", "level1_name", "hazard_group", "deaths",
                    "level2_name", "affected", "houses_destroyed", "hazard_term", "injured",
                    "houses_damaged", "level0_name", "hips_code", "country_iso3")
OUTSIDE_TABLE = ("record_id", "dataset_id", "country_iso3", "start_date", "hazard_term",
                 "deaths", "period")
SUGGESTION_COLUMNS = ("hips_code", "hips_name", "hazard_group", "similarity", "resembles",
                      "source", "csv_line")
# the datasets table as a terminal shows it: (column, heading)
DATASETS_TABLE = (("dataset_id", "id"), ("name", "name"), ("format", "format"),
                  ("country_iso3", "country"), ("records_read", "read"),
                  ("records_imported", "imported"), ("records_quarantined", "set_aside"))
QUALITY_PRIORITY = ("rule", "field", "examples", "records", "action", "source_column", "id")
DATASETS_PRIORITY = ("id", "name", "country", "imported", "set_aside", "read", "format")
MORE_FILES = re.compile(r"(.+) \(\+(\d+) files\)")  # importer's name of a multi-file dataset
DATASETS_COLUMNS = ("dataset_id", "name", "format", "source_key", "country_iso3",
                    "records_read", "records_imported", "records_quarantined", "imported_at",
                    "crosswalk_version", "importer_version", "synthetic")


def _partition_keys() -> str:
    from riskatlas.lake import PARTITION_KEYS

    return ", ".join(PARTITION_KEYS)


def _export_formats() -> str:
    from riskatlas.export import FORMATS

    return ", ".join(FORMATS)


def _print_review(frame: Any, fmt: str, lang: str) -> None:
    """The review list with its suggestions: csv has one row per term and suggestion; a
    table shows the list, the suggestions and then the crosswalk lines, ready to copy."""
    import pandas as pd

    from riskatlas.model.hazards import CROSSWALK_COLUMNS

    review = frame.drop(columns=["suggestions", "hips_code", "hazard_group"])
    rows: list[dict[str, Any]] = []
    for term, suggestions in zip(review.to_dict("records"), frame["suggestions"], strict=True):
        rows += [{**term, "rank": n, **s} for n, s in enumerate(suggestions, 1)] or [term]
    long = pd.DataFrame(rows, columns=[*review.columns, "rank", *SUGGESTION_COLUMNS])
    long["rank"] = long["rank"].astype("Int64")
    if fmt == "csv":
        print_frame(long, fmt, lang=lang)
        return
    print_frame(review, fmt, title=translate("browse.hazards_title", lang), lang=lang)
    found = long[long["hips_code"].notna()]
    if not found.empty:
        print_frame(found[["term", "rank", "hips_code", "hips_name", "hazard_group",
                           "similarity", "resembles"]], fmt,
                    title=translate("browse.suggestions_title", lang), lang=lang)
        console.print(translate("browse.suggestion_lines", lang))
        console.print(",".join(CROSSWALK_COLUMNS), markup=False, highlight=False, soft_wrap=True)
        for line in found["csv_line"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    for term in long.loc[long["hips_code"].isna(), "term"]:
        console.print(translate("browse.no_suggestion", lang, term=term), style="yellow",
                      markup=False)


def _dataset_rows(db: Path | None) -> list[tuple[Any, ...]] | None:
    """The datasets table's rows as a terminal shows them, read with DuckDB alone (no
    Ibis, no pandas: ``riskatlas datasets`` starts in a fraction of the time); None when
    the rows need the full path (no such table)."""
    import duckdb

    from riskatlas.errors import StoreError

    if is_postgres(db):
        return None  # a PostgreSQL store: the full path
    path = resolve_db(db)
    if not path.exists():
        raise StoreError("store.missing", path=str(path))
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None  # the full path says why, in its words
    try:
        wanted = [column for column, _ in DATASETS_TABLE] + ["synthetic"]
        rows = con.table("datasets").order("dataset_id").select(*wanted).fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return rows


def dataset_name(name: Any, synthetic: bool, lang: str) -> Any:
    """A dataset's name in ``lang``: "first file (+N files)" as the import stored it in
    English, marked when synthetic (a missing name stays missing, or is the mark)."""
    many = MORE_FILES.fullmatch(name) if isinstance(name, str) else None
    if many:
        name = translate("import.more_files", lang, name=many[1], count=int(many[2]))
    if not synthetic:
        return name
    mark = f"({translate('browse.synthetic', lang)})"
    return f"{name} {mark}" if isinstance(name, str) else mark


def datasets(ctx: typer.Context, db: Db = None, fmt: Format = "table") -> None:
    """List imported datasets with provenance and reconciliation counts."""
    lang = state(ctx).lang
    title = translate("browse.datasets_title", lang)
    rows = _dataset_rows(db) if fmt == "table" else None
    if rows is not None:
        print_table([heading for _, heading in DATASETS_TABLE], (
            [i, dataset_name(name, s, lang), *rest] for i, name, *rest, s in rows),
            lang, title, priority=DATASETS_PRIORITY)
        return
    import riskatlas

    with riskatlas.open(db, read_only=True) as atlas:
        frame = atlas.datasets()[list(DATASETS_COLUMNS)]
    if fmt in TABLE_FORMATS:  # names in the reader's language
        frame = frame.assign(name=[dataset_name(n, s, lang)
                                   for n, s in zip(frame.name, frame.synthetic, strict=True)])
    if fmt == "table":  # what fits a terminal; wide, csv and json have every column
        frame = frame[[c for c, _ in DATASETS_TABLE]].rename(columns=dict(DATASETS_TABLE))
    print_frame(frame, fmt, title=title, lang=lang, priority=DATASETS_PRIORITY)


def quality(ctx: typer.Context, dataset: Dataset = None, db: Db = None,
            fmt: Format = "table") -> None:
    """Values not taken as read, by rule and field, with examples of raw values."""
    import riskatlas
    from riskatlas.i18n import template

    lang = state(ctx).lang
    with riskatlas.open(db, read_only=True) as atlas:
        frame = atlas.quality_summary(dataset)
    if frame.empty and fmt in TABLE_FORMATS:
        console.print(translate("browse.no_quality_issues", lang))
        return
    if fmt in TABLE_FORMATS:
        frame = frame.assign(
            rule=[template(key, lang) for key in frame.rule],
            action=[translate(f"quality.action.{a}", lang) for a in frame.action],
            examples=[", ".join(map(repr, v)) for v in frame.examples]).rename(
            columns={"dataset_id": "id", "source_field": "source_column"})
    print_frame(frame, fmt, title=translate("browse.quality_title", lang), lang=lang,
                priority=QUALITY_PRIORITY)


def hazards(
    ctx: typer.Context,
    unmapped: Annotated[bool, typer.Option("--unmapped", help=h("hazards.unmapped"))] = False,
    db: Db = None, fmt: Format = "table",
) -> None:
    """Source hazard terms and their HIPs 2025 code and reporting group."""
    import riskatlas

    lang = state(ctx).lang
    with riskatlas.open(db, read_only=True) as atlas:
        frame = (atlas.hazard_suggestions(lang=lang) if unmapped
                 else atlas.hazard_terms())
    if unmapped and frame.empty and fmt in TABLE_FORMATS:
        console.print(translate("browse.no_unmapped", lang))
        return
    if unmapped and fmt != "json":  # json keeps the suggestions nested in each term
        _print_review(frame, fmt, lang)
        return
    if fmt in TABLE_FORMATS and "hazard_group" in frame.columns:
        frame = frame.assign(hazard_group=group_names(frame["hazard_group"], lang))
    print_frame(frame, fmt, title=translate("browse.hazards_title", lang), lang=lang)


def group_names(groups: "pd.Series", lang: str) -> "pd.Series":
    """Reporting group keys as their names in ``lang`` (a missing group stays missing)."""
    from riskatlas.analysis.results import hazard_name

    return groups.map(lambda g: hazard_name(g, lang) if isinstance(g, str) else g)


def records(
    ctx: typer.Context,
    country: Country = None, admin: Admin = None, hazard: Hazard = None,
    year_from: YearFrom = None, year_to: YearTo = None, dataset: Dataset = None,
    page: Annotated[int, typer.Option("--page", min=1, help=h("records.page"))] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10_000,
                                           help=h("records.page_size"))] = 50,
    db: Db = None, fmt: Format = "table",
) -> None:
    """Browse records with filters, a page at a time."""
    import riskatlas

    filters: dict[str, Any] = {"country": country, "admin": admin, "hazard": hazard,
                               "year_from": year_from, "year_to": year_to,
                               "dataset": dataset}
    with riskatlas.open(db, read_only=True) as atlas:
        total = atlas.count_records(**filters)
        frame = atlas.records(limit=page_size, offset=(page - 1) * page_size,
                              columns=BROWSE_COLUMNS, **filters)
    lang = state(ctx).lang
    if fmt in TABLE_FORMATS:  # the group's name in the reader's language
        frame = frame.assign(hazard_group=group_names(frame["hazard_group"], lang))
    print_frame(frame, fmt, title=translate("browse.records_title", lang, page=f"{page:,}",
                                            pages=f"{max(1, -(-total // page_size)):,}",
                                            total=f"{total:,}"), lang=lang,
                priority=RECORDS_PRIORITY)


@scope_options(admin=False, level=None, hazard=False)
def periods(
    ctx: typer.Context,
    outside: Annotated[bool, typer.Option("--outside", help=h("periods.outside"))] = False,
    *, scope: ScopeArgs, methods: Methods = None, db: Db = None, fmt: Format = "table",
) -> None:
    """Each country's period of record (and each dataset's), or the cards outside it."""
    import riskatlas

    lang = state(ctx).lang
    with riskatlas.open(db, read_only=True, methods=methods) as atlas:
        if outside:
            frame: pd.DataFrame = atlas.outside_period(scope=scope.on(atlas))
            if fmt == "table":  # what fits a terminal; wide, csv and json: every column
                frame = frame.assign(period=[
                    f"{a}–{b}" for a, b in zip(frame.period_from, frame.period_to,
                                               strict=True)])[list(OUTSIDE_TABLE)]
            print_frame(frame, fmt, title=translate("browse.outside_title", lang,
                                                    total=len(frame)), lang=lang)
            return
        frame = atlas.periods(scope=scope.on(atlas))
    print_frame(frame, fmt, title=translate("browse.periods_title", lang), lang=lang)


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help=h("export.out"))],
    fmt: Annotated[str | None, typer.Option(
        "--format", help=h("export.format", formats=_export_formats))] = None,
    country: Country = None, hazard: Hazard = None,
    year_from: YearFrom = None, year_to: YearTo = None,
    with_raw: Annotated[bool, typer.Option("--with-raw", help=h("export.with_raw"))] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help=h("export.overwrite"))] = False,
    partition_by: Annotated[str | None, typer.Option(
        "--partition-by", help=h("export.partition_by", keys=_partition_keys))] = None,
    published_only: Annotated[bool, typer.Option(
        "--published-only", help=h("export.published_only"))] = False,
    db: Db = None,
) -> None:
    """Export records with labels (hazard, HIPs and country names next to codes), or the
    whole store as a Parquet lake (``--partition-by``)."""
    import riskatlas
    from riskatlas.errors import RiskAtlasError
    from riskatlas.export import FORMATS

    lang = state(ctx).lang
    if partition_by is not None:
        if any(v is not None for v in (country, hazard, year_from, year_to)):
            raise RiskAtlasError("export.lake_whole")
        export_lake(out, partition_by.split(","), published_only=published_only,
                    overwrite=overwrite, db=db, lang=lang)
        return
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise RiskAtlasError("export.format", format=fmt, formats=", ".join(FORMATS))
    if out.exists() and not overwrite:
        raise RiskAtlasError("export.exists", path=str(out))
    with riskatlas.open(db, read_only=True) as atlas:
        count = atlas.export(out, fmt, lang=lang, with_raw=with_raw, country=country,
                             hazard=hazard, year_from=year_from, year_to=year_to)
    console.print(translate("export.done", lang, count=count, path=out))


def export_lake(out: Path, keys: list[str], *, published_only: bool, overwrite: bool,
                db: Path | None, lang: str) -> None:
    """The store as a Parquet lake in the folder ``out`` (docs/lake.md)."""
    import riskatlas
    from riskatlas.lake import write_lake

    with riskatlas.open(db, read_only=True) as atlas:
        done = write_lake(atlas.store, out, partition_by=keys, published_only=published_only,
                          overwrite=overwrite)
    console.print(translate("lake.written", lang, path=out, records=done.tables["records"],
                            tables=len(done.tables), keys=",".join(done.partition_by) or "-"))
