"""Commands that bring data in: import, fetch, demo, population."""

from __future__ import annotations

import zipfile
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

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
from riskatlas.errors import LimitError
from riskatlas.importer import FileResult, expand
from riskatlas.sources.limits import check_zip
from riskatlas.sources.registry import ReadOptions, readers

IMPORT_PATHS = typer.Argument(..., exists=True, help=h("import.paths"))
MAPPING_OPTION = typer.Option(None, "--mapping", help=h("import.mapping"))
CROSSWALK_OPTION = typer.Option(None, "--crosswalk", exists=True, dir_okay=False,
                                help=h("import.crosswalk"))
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
               crosswalks: list[Path] | None = None) -> list[FileResult]:
    """Import with a progress bar (unless JSON output), then print one line per file;
    ``crosswalks``: the user's crosswalk files, over the built-in one."""
    with riskatlas.open(db, crosswalks=crosswalks or ()) as atlas:
        options = ReadOptions(country=country.upper() if country else None, mapping=mapping,
                              workers=workers, synthetic=synthetic, strict=strict)
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
        db: Path = DB_OPTION,
    ) -> None:
        """Import loss databases: DesInventar (XML/ZIP, flat, 8), EM-DAT, national tables."""
        run_import(db, paths, fmt=fmt, mapping=mapping, country=country, as_json=as_json,
                   workers=workers, strict=strict, crosswalks=crosswalks)

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
