"""``riskatlas assess``: the main job. Import the inputs, assess, write the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

import riskatlas
from riskatlas.cli.analysis import ENGINE_OPTION, drivers_text
from riskatlas.cli.common import (
    COUNTRY_OPTION,
    DB_OPTION,
    FROM_OPTION,
    METHODS_OPTION,
    NO_PDF_OPTION,
    STATE,
    TO_OPTION,
    UNAPPROVED_OPTION,
    console,
    h,
    t,
)
from riskatlas.cli.data import run_import

INPUTS_ARGUMENT = typer.Argument(None, help=h("assess.inputs"))
OUT_OPTION = typer.Option(Path("riskatlas-report"), "--out", help=h("assess.out"))
MEASURES_OPTION = typer.Option([], "--measures", help=h("assess.measures"))
CASES_OPTION = typer.Option([], "--cases", help=h("assess.cases"))


def register(app: typer.Typer) -> None:
    @app.command(help=h("assess.help"))
    def assess(
        inputs: list[Path] = INPUTS_ARGUMENT,
        country: str = COUNTRY_OPTION,
        level: int = typer.Option(None, "--level", min=0, max=2, help=h("assess.level")),
        year_from: int = FROM_OPTION, year_to: int = TO_OPTION,
        top: int = typer.Option(5, "--top", min=1, help=h("assess.top")),
        out: Path = OUT_OPTION,
        lang: str = typer.Option(None, "--lang", help=h("assess.lang")),
        no_pdf: bool = NO_PDF_OPTION,
        measures: list[Path] = MEASURES_OPTION, cases: list[Path] = CASES_OPTION,
        unapproved: bool = UNAPPROVED_OPTION, engine: str = ENGINE_OPTION,
        methods: Path = METHODS_OPTION, db: Path = DB_OPTION,
    ) -> None:
        """Import, assess and write a bilingual report: HTML, PDF, CSV and XLSX tables."""
        from riskatlas.i18n import normalize_language

        if lang:  # the report's language is also the language of the messages
            STATE.lang = normalize_language(lang)
        datasets: list[int] = []  # FILE… : the report is about what those files hold
        if inputs:
            results = run_import(db, list(inputs), country=country)
            datasets = [r.dataset_id for r in results if r.dataset_id is not None]
        report(db, out, country=country, level=level, year_from=year_from, year_to=year_to,
               top=top, lang=STATE.lang, pdf=not no_pdf, engine=engine, methods=methods,
               measures=measures, cases=cases, datasets=datasets,
               include_unapproved=unapproved)


def report(db: Path | None, out: Path, *, country: str | None = None, level: int | None = None,
           year_from: int | None = None, year_to: int | None = None, top: int = 5,
           lang: str = "en", pdf: bool = True, engine: str = "duckdb",
           methods: Path | None = None, measures: Sequence[Path] = (),
           cases: Sequence[Path] = (), datasets: Sequence[int] = (),
           include_unapproved: bool = False) -> None:
    """Assess the store, write the report folder and print where it is and what it found."""
    from riskatlas.report.writer import write_report

    with riskatlas.open(db, engine=engine, methods=methods) as atlas:
        console.print(t("assess.running"))
        assessment = atlas.assess(country=country, level=level, year_from=year_from,
                                  year_to=year_to, lang=lang, top=top, measures=measures,
                                  cases=cases, datasets=datasets,
                                  include_unapproved=include_unapproved)
        files = write_report(assessment, out, pdf=pdf)
    console.print(t("assess.written", html=files.html, tables=files.tables,
                    workbook=files.workbook), soft_wrap=True)  # paths stay whole
    if files.pdf:
        console.print(t("assess.pdf", pdf=files.pdf), soft_wrap=True)
    elif files.pdf_error:
        console.print(files.pdf_error, style="yellow")
    console.print(t("assess.top_title", level=assessment.level), style="bold")
    for u in assessment.top_units.head(3).to_dict("records"):
        console.print(t("assess.top_unit", rank=u["rank"], unit=u["admin_name"]
                        or u["admin_code"], score=f"{u['score']:.1f}",
                        cls=t(f"class.{u['class']}"), drivers=drivers_text(u["drivers"])))
        for item in assessment.advice_for((u["country_iso3"], u["admin_code"]))[:3]:
            console.print(t("assess.top_measure", measure=item.measure.name_in(STATE.lang)))
