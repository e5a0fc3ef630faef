"""Commands that bring data in: import, fetch, demo, population."""

from __future__ import annotations

import zipfile
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

import riskatlas
from riskatlas.cli.common import (
    DB_OPTION,
    NO_PDF_OPTION,
    STATE,
    console,
    h,
    print_json_line,
    t,
)
from riskatlas.errors import LimitError, SourceFormatError
from riskatlas.importer import FileResult, expand
from riskatlas.sources.headers import ColumnReport, parse_overrides
from riskatlas.sources.limits import check_zip
from riskatlas.sources.registry import ReadOptions, inspect, readers

IMPORT_PATHS = typer.Argument(..., exists=True, help=h("import.paths"))
MAPPING_OPTION = typer.Option(None, "--mapping", help=h("import.mapping"))
CROSSWALK_OPTION = typer.Option(None, "--crosswalk", exists=True, dir_okay=False,
                                help=h("import.crosswalk"))
INSPECT_OPTION = typer.Option(False, "--inspect", help=h("import.inspect"))
COLUMN_OPTION = typer.Option(None, "--column", help=h("import.column"))
DEST_OPTION = typer.Option(Path("downloads"), "--dest", help=h("fetch.dest"))
DEMO_FOLDER_OPTION = typer.Option(None, "--folder", help=h("demo.folder"))
DEMO_OUT_OPTION = typer.Option(Path("riskatlas-report-demo"), "--out", help=h("demo.out"))
POPULATION_PATH = typer.Argument(..., exists=True, help=h("population.path"))


def _expected_bytes(paths: list[Path]) -> int:
    """Bytes the readers will report: uncompressed members for zips."""
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


def run_import(db: Path | None, paths: list[Path], *, fmt: str | None = None,
               mapping: Path | None = None, country: str | None = None,
               as_json: bool = False, workers: int | None = None,
               synthetic: bool = False, strict: bool = False,
               crosswalks: list[Path] | None = None,
               columns: dict[str, str] | None = None) -> list[FileResult]:
    """Import with a progress bar (unless JSON output), then print one line per file;
    ``crosswalks``: the user's crosswalk files, over the built-in one; ``columns``: field →
    column, from ``--column``."""
    with riskatlas.open(db, crosswalks=crosswalks or ()) as atlas:
        options = ReadOptions(country=country.upper() if country else None, mapping=mapping,
                              workers=workers, synthetic=synthetic, strict=strict,
                              columns=dict(columns or {}))
        if as_json:
            results = atlas.import_paths(paths, format=fmt, options=options)
        else:
            with Progress("[progress.description]{task.description}", BarColumn(),
                          DownloadColumn(), TimeRemainingColumn(), console=console,
                          transient=True) as progress:
                task = progress.add_task(t("import.reading"), total=_expected_bytes(paths))
                options.progress = lambda n: progress.advance(task, n)
                results = atlas.import_paths(paths, format=fmt, options=options)
        for result in results:
            if as_json:
                print_json_line(result.as_dict())
                continue
            _print_result(atlas, result)
            if crosswalks and result.status == "unchanged":
                console.print("  " + t("import.crosswalk_not_applied", path=result.path),
                              style="yellow")
        unmapped = sorted({term for r in results for term in r.unmapped_hazards})
        if unmapped and not as_json:
            console.print(t("import.unmapped", terms=", ".join(unmapped)), style="yellow")
    return results


def run_inspect(paths: list[Path], *, fmt: str | None = None,
                columns: dict[str, str] | None = None, as_json: bool = False) -> None:
    """Show how the columns of each table would be read; no store is opened."""
    options = ReadOptions(columns=dict(columns or {}))
    for path in expand(paths):
        try:
            report = inspect(path, fmt, options)
        except SourceFormatError as exc:
            if exc.key != "import.no_inspect":
                raise
            if as_json:
                print_json_line({"path": str(path), "error": exc.render(STATE.lang)})
            else:
                console.print(exc.render(STATE.lang), style="yellow", highlight=False)
            continue
        if as_json:
            print_json_line(report.as_dict())
        else:
            _print_report(report)
    if not as_json:
        console.print(t("import.inspect_nothing_written"))


def _print_report(report: ColumnReport) -> None:
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


def _print_result(atlas: riskatlas.Atlas, result: FileResult) -> None:
    if result.status == "skipped":
        console.print(t("import.skipped_unknown", path=result.path), style="yellow")
        return
    if result.status == "unchanged":
        console.print(t("import.unchanged", path=result.path, dataset=result.dataset_id))
        return
    console.print(t("import.done", path=result.path, read=result.records_read,
                    imported=result.records_imported, quarantined=result.records_quarantined,
                    dataset=result.dataset_id))
    if result.fields_flagged:
        console.print("  " + t("import.flagged", count=result.fields_flagged,
                               dataset=result.dataset_id), style="yellow")
    for note in result.notes:
        params = {k: v for k, v in note.items() if k != "key"}
        params.setdefault("path", Path(result.path).name)
        console.print("  " + t(note["key"], **params), style="yellow")
    if result.records_quarantined:
        rows = atlas.quarantine(result.dataset_id)
        rows = rows[rows.source_file == Path(result.path).name].head(10)
        console.print("  " + t("import.set_aside_header"))
        for row in rows.itertuples():
            params = riskatlas.api.json_params(row.reason_params)
            console.print(f"  - {row.source_file}: {row.record_ref}, {row.field}: "
                          f"{t(row.reason_key, **params)}", highlight=False)


def register(app: typer.Typer) -> None:
    formats = ", ".join(sorted(readers()))

    @app.command("import", help=h("import.help"))
    def import_(
        paths: list[Path] = IMPORT_PATHS,
        fmt: str = typer.Option(None, "--format", help=h("import.format", formats=formats)),
        mapping: Path = MAPPING_OPTION,
        crosswalks: list[Path] = CROSSWALK_OPTION,
        country: str = typer.Option(None, "--country", help=h("import.country")),
        as_json: bool = typer.Option(False, "--json", help=h("import.json")),
        workers: int = typer.Option(None, "--workers", help=h("import.workers")),
        strict: bool = typer.Option(False, "--strict", help=h("import.strict")),
        inspect_only: bool = INSPECT_OPTION,
        column: list[str] = COLUMN_OPTION,
        db: Path = DB_OPTION,
    ) -> None:
        """Import loss databases: DesInventar (XML/ZIP, flat, 8), EM-DAT, national tables."""
        columns = parse_overrides(column or [])
        if inspect_only:
            run_inspect(paths, fmt=fmt, columns=columns, as_json=as_json)
            return
        run_import(db, paths, fmt=fmt, mapping=mapping, country=country, as_json=as_json,
                   workers=workers, strict=strict, crosswalks=crosswalks, columns=columns)

    @app.command(help=h("fetch.help"))
    def fetch(
        source: str = typer.Argument(..., help=h("fetch.source")),
        iso3: str = typer.Argument(..., help=h("fetch.iso3")),
        dest: Path = DEST_OPTION,
        base_url: str = typer.Option(None, "--base-url", help=h("fetch.base_url")),
        sha256: str = typer.Option(None, "--sha256", help=h("fetch.sha256")),
        no_import: bool = typer.Option(False, "--no-import", help=h("fetch.no_import")),
        db: Path = DB_OPTION,
    ) -> None:
        """Download a country's official DesInventar export (resumable), then import it."""
        from riskatlas.download import desinventar_url, download
        from riskatlas.errors import FetchError

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
                      transient=True) as progress:
            task = progress.add_task(t("fetch.downloading", url=url), total=None)
            got = download(url, target, expected_sha256=sha256,
                           progress=lambda done, total: progress.update(task, completed=done,
                                                                        total=total))
        key = "fetch.cached" if got.from_cache else "fetch.saved"
        console.print(t(key, path=got.path, size=got.size, sha256=got.sha256), highlight=False)
        if not no_import:
            run_import(db, [got.path], country=iso3)

    @app.command(help=h("demo.help"))
    def demo(
        db: Path = DB_OPTION,
        folder: Path = DEMO_FOLDER_OPTION,
        out: Path = DEMO_OUT_OPTION,
        no_pdf: bool = NO_PDF_OPTION,
    ) -> None:
        """Import the bundled SYNTHETIC demo export (fictitious Demoland) and assess it:
        the report goes to --out."""
        from riskatlas.cli.assess import report
        from riskatlas.demo import demo_path

        path = demo_path(folder)
        console.print(t("demo.synthetic", path=path), style="bold yellow")
        run_import(db, [path], country="DMO", synthetic=True)
        report(db, out, country="DMO", lang=STATE.lang, pdf=not no_pdf)

    @app.command(help=h("population.help"))
    def population(
        path: Path = POPULATION_PATH,
        db: Path = DB_OPTION,
    ) -> None:
        """Load population by admin unit and year (for per-100,000 rates)."""
        with riskatlas.open(db) as atlas:
            count = atlas.import_population(path)
        console.print(t("population.loaded", count=count, path=path))
