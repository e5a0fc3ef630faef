"""Commands that bring data in: import, fetch, population (``demo`` is in cli/demo.py)."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db
from riskatlas.cli.output import console, print_json_line
from riskatlas.cli.state import state
from riskatlas.i18n import translate

if TYPE_CHECKING:
    import riskatlas
    from riskatlas.importer import ColumnReport, FileResult, ImportSummary


def _reader_formats() -> str:
    """The formats of the installed readers: their entry points' names (none is loaded)."""
    from riskatlas.plugins import READERS, plugins

    return ", ".join(sorted({plugin.name for plugin in plugins(READERS)}))


def _expected_bytes(paths: list[Path]) -> int:
    """Bytes the readers will report: uncompressed members for zips."""
    from riskatlas.errors import LimitError
    from riskatlas.importer import check_zip, expand

    total = 0
    for path in expand(paths):
        try:
            check_zip(path)  # a zip bomb is for the import to refuse, in its own words
            with zipfile.ZipFile(path) as archive:
                total += sum(i.file_size for i in archive.infolist()
                             if i.filename.lower().endswith(".xml"))
        except (zipfile.BadZipFile, LimitError, OSError, EOFError):
            total += path.stat().st_size
    return total


def run_import(db: Path | None, paths: list[Path], *, lang: str, fmt: str | None = None,
               mapping: Path | None = None, country: str | None = None,
               as_json: bool = False, workers: int | None = None,
               synthetic: bool = False, strict: bool = False,
               crosswalks: list[Path] | None = None,
               columns: dict[str, str] | None = None) -> "list[FileResult]":
    """Import with a progress bar (unless JSON output), then print one line per file in
    ``lang``; ``crosswalks``: the user's crosswalk files, over the built-in one;
    ``columns``: field → column, from ``--column``."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    import riskatlas
    from riskatlas.importer import ReadOptions

    with riskatlas.open(db, crosswalks=crosswalks or ()) as atlas:
        options = ReadOptions(country=country.upper() if country else None, mapping=mapping,
                              workers=workers, synthetic=synthetic, strict=strict,
                              columns=dict(columns or {}))
        if as_json:
            results = atlas.import_paths(paths, format=fmt, options=options)
        else:
            # a bar only on a terminal (piped, it would leave an empty line)
            with Progress("[progress.description]{task.description}", BarColumn(),
                          DownloadColumn(), TimeRemainingColumn(), console=console,
                          transient=True, disable=not console.is_terminal) as progress:
                task = progress.add_task(translate("import.reading", lang),
                                         total=_expected_bytes(paths))
                options.progress = lambda n: progress.advance(task, n)
                results = atlas.import_paths(paths, format=fmt, options=options)
        if as_json:
            for result in results:
                print_json_line(result.as_dict())
        else:
            print_summaries(atlas, results, lang, crosswalks=bool(crosswalks))
    return results


def run_inspect(paths: list[Path], *, lang: str, fmt: str | None = None,
                columns: dict[str, str] | None = None, as_json: bool = False) -> None:
    """Show how the columns of each table would be read; no store is opened."""
    from riskatlas.errors import SourceFormatError
    from riskatlas.importer import ReadOptions, expand, inspect

    options = ReadOptions(columns=dict(columns or {}))
    for path in expand(paths):
        try:
            report = inspect(path, fmt, options)
        except SourceFormatError as exc:
            if exc.key != "import.no_inspect":
                raise
            if as_json:
                print_json_line({"path": str(path), "error": exc.render(lang)})
            else:
                console.print(exc.render(lang), style="yellow", highlight=False)
            continue
        if as_json:
            print_json_line(report.as_dict())
        else:
            _print_report(report, lang)
    if not as_json:
        console.print(translate("import.inspect_nothing_written", lang))


def _print_report(report: "ColumnReport", lang: str) -> None:
    from rich.table import Table

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    console.print(t("import.inspect_title", path=report.path, format=report.format,
                    row=report.header_row, layout=t(f"import.inspect_layout_{report.layout}")),
                  highlight=False)
    table = Table(show_lines=False)
    for title in ("column", "field", "kind", "match", "samples"):
        table.add_column(t(f"import.inspect_{title}"), overflow="fold")
    for column in report.columns:
        field = column["field"] or ""
        if column["canonical"] and column["canonical"] != field:
            field = f"{field} ({column['canonical']})"
        kind = t(f"import.inspect_kind_{column['kind']}") if column["kind"] else ""
        how = t(f"import.inspect_how_{column['how'] or 'none'}", score=column["score"])
        table.add_row(column["column"], field, kind, how, " | ".join(column["samples"]))
    console.print(table)
    if report.unmapped_columns:
        console.print(t("import.inspect_unmapped", columns=", ".join(report.unmapped_columns)),
                      highlight=False)
    for note in report.notes:
        params = {k: v for k, v in note.items() if k != "key"}
        console.print("  " + t(note["key"], **params), style="yellow", highlight=False)


def files_name(paths: "list[str]", lang: str) -> str:
    """Files as a line names them: the first one's name, and how many more."""
    first = Path(paths[0]).name
    if len(paths) == 1:
        return first
    return translate("import.more_files", lang, name=first, count=len(paths) - 1)


def print_summaries(atlas: "riskatlas.Atlas", results: "list[FileResult]", lang: str, *,
                    crosswalks: bool = False) -> None:
    """One line per dataset imported (its files' counts summed) with its notes listed
    once, one line for the files skipped, and a total when there is more than one line."""
    from riskatlas.importer import summarise

    summaries = summarise(results)
    skipped = [Path(p).name for s in summaries if s.status == "skipped" for p in s.paths]
    for summary in summaries:
        if summary.status != "skipped":
            _print_summary(atlas, summary, lang, crosswalks=crosswalks)
    if skipped:
        console.print(translate("import.skipped_files", lang, count=len(skipped),
                                paths=translate("report.list_sep", lang).join(skipped)),
                      style="yellow", highlight=False)
    unmapped = sorted({term for r in results for term in r.unmapped_hazards})
    if unmapped:
        console.print(translate("import.unmapped", lang, terms=", ".join(unmapped)),
                      style="yellow")
    if len(summaries) > 1:
        done = [s for s in summaries if s.status == "imported"]
        console.print(translate(
            "import.total", lang, files=f"{len(results):,}", datasets=len(done),
            read=f"{sum(s.records_read for s in done):,}",
            imported=f"{sum(s.records_imported for s in done):,}",
            quarantined=f"{sum(s.records_quarantined for s in done):,}",
            unchanged=sum(len(s.paths) for s in summaries if s.status == "unchanged"),
            skipped=len(skipped)), style="bold", highlight=False)


def _print_summary(atlas: "riskatlas.Atlas", summary: "ImportSummary", lang: str, *,
                   crosswalks: bool) -> None:
    from riskatlas.api import json_params

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    name = files_name(summary.paths, lang)
    if summary.status == "unchanged":
        console.print(t("import.unchanged", path=name, dataset=summary.dataset_id),
                      highlight=False)
        if crosswalks:
            console.print("  " + t("import.crosswalk_not_applied", path=name),
                          style="yellow", highlight=False)
        return
    console.print(t("import.done", path=name, read=f"{summary.records_read:,}",
                    imported=f"{summary.records_imported:,}",
                    quarantined=f"{summary.records_quarantined:,}",
                    dataset=summary.dataset_id), highlight=False)
    if summary.fields_flagged:
        console.print("  " + t("import.flagged", count=f"{summary.fields_flagged:,}",
                               dataset=summary.dataset_id), style="yellow", highlight=False)
    for note in summary.notes:
        params = {k: v for k, v in note.items() if k != "key"}
        params.setdefault("path", name)
        console.print("  " + t(note["key"], **params), style="yellow", highlight=False)
    if summary.records_quarantined:
        files = {Path(p).name for p in summary.paths}
        rows = atlas.quarantine(summary.dataset_id)
        rows = rows[rows.source_file.isin(files)].head(10)
        console.print("  " + t("import.set_aside_header"))
        for row in rows.itertuples():
            params = json_params(row.reason_params)
            console.print(f"  - {row.source_file}: {row.record_ref}, {row.field}: "
                          f"{t(row.reason_key, **params)}", highlight=False)


def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(exists=True, help=h("import.paths"))],
    fmt: Annotated[str | None, typer.Option(
        "--format", help=h("import.format", formats=_reader_formats))] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help=h("import.mapping"))] = None,
    crosswalks: Annotated[list[Path] | None, typer.Option(
        "--crosswalk", exists=True, dir_okay=False, help=h("import.crosswalk"))] = None,
    country: Annotated[str | None, typer.Option("--country", help=h("import.country"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=h("import.json"))] = False,
    workers: Annotated[int | None, typer.Option("--workers", help=h("import.workers"))] = None,
    strict: Annotated[bool, typer.Option("--strict", help=h("import.strict"))] = False,
    inspect_only: Annotated[bool, typer.Option("--inspect", help=h("import.inspect"))] = False,
    column: Annotated[list[str] | None, typer.Option("--column", help=h("import.column"))] = None,
    db: Db = None,
) -> None:
    """Import loss databases: DesInventar (XML/ZIP, flat, 8), EM-DAT, national tables."""
    from riskatlas.importer import parse_overrides

    lang = state(ctx).lang
    columns = parse_overrides(column or [])
    if inspect_only:
        run_inspect(paths, lang=lang, fmt=fmt, columns=columns, as_json=as_json)
        return
    run_import(db, paths, lang=lang, fmt=fmt, mapping=mapping, country=country,
               as_json=as_json, workers=workers, strict=strict, crosswalks=crosswalks,
               columns=columns)


def fetch(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=h("fetch.source"))],
    iso3: Annotated[str, typer.Argument(help=h("fetch.iso3"))],
    dest: Annotated[Path, typer.Option("--dest", help=h("fetch.dest"))] = Path("downloads"),
    base_url: Annotated[str | None, typer.Option("--base-url", help=h("fetch.base_url"))] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help=h("fetch.sha256"))] = None,
    no_import: Annotated[bool, typer.Option("--no-import", help=h("fetch.no_import"))] = False,
    db: Db = None,
) -> None:
    """Download a country's official DesInventar export (resumable), then import it."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from riskatlas.download import desinventar_url, download
    from riskatlas.errors import FetchError

    lang = state(ctx).lang
    if source.lower() != "desinventar":
        raise FetchError("fetch.unknown_source", source=source)
    try:
        url = desinventar_url(iso3, base_url)
    except ValueError as exc:
        raise FetchError("fetch.network", url=iso3, reason=str(exc)) from None
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / url.rsplit("/", 1)[-1]
    with Progress("[progress.description]{task.description}", BarColumn(),
                  DownloadColumn(), TimeRemainingColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(translate("fetch.downloading", lang, url=url), total=None)
        got = download(url, target, expected_sha256=sha256,
                       progress=lambda done, total: progress.update(task, completed=done,
                                                                    total=total))
    key = "fetch.cached" if got.from_cache else "fetch.saved"
    console.print(translate(key, lang, path=got.path, size=got.size, sha256=got.sha256),
                  highlight=False)
    if not no_import:
        run_import(db, [got.path], lang=lang, country=iso3)


def population(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, help=h("population.path"))],
    db: Db = None,
) -> None:
    """Load population by admin unit and year (for per-100,000 rates)."""
    import riskatlas

    with riskatlas.open(db) as atlas:
        count = atlas.import_population(path)
    console.print(translate("population.loaded", state(ctx).lang, count=count, path=path))
