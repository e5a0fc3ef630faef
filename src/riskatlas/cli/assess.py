"""``riskatlas assess``: the main job. Import the inputs, assess, write the report."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from riskatlas.cli.analysis import drivers_text
from riskatlas.cli.data import run_import
from riskatlas.cli.help import h
from riskatlas.cli.options import (
    Db,
    Engine,
    Methods,
    NoPdf,
    ScopeArgs,
    Unapproved,
    scope_options,
)
from riskatlas.cli.output import console
from riskatlas.cli.state import state
from riskatlas.errors import ReportError
from riskatlas.i18n import translate


@scope_options(admin=False, level="assess.level", hazard=False, dataset=False,
               unapproved=False)
def assess(
    ctx: typer.Context,
    inputs: Annotated[list[Path] | None, typer.Argument(help=h("assess.inputs"))] = None,
    *, scope: ScopeArgs,
    top: Annotated[int, typer.Option("--top", min=1, help=h("assess.top"))] = 5,
    out: Annotated[Path, typer.Option("--out", help=h("assess.out"))] = Path("riskatlas-report"),
    lang: Annotated[str | None, typer.Option("--lang", help=h("assess.lang"))] = None,
    no_pdf: NoPdf = False,
    measures: Annotated[list[Path], typer.Option("--measures", help=h("assess.measures"))] = [],  # noqa: B006
    cases: Annotated[list[Path], typer.Option("--cases", help=h("assess.cases"))] = [],  # noqa: B006
    paper: Annotated[str, typer.Option("--paper", help=h("assess.paper"))] = "a4",
    unapproved: Unapproved = False, engine: Engine = "duckdb",
    methods: Methods = None, db: Db = None,
) -> None:
    """Import, assess and write a bilingual report: HTML, PDF, CSV and XLSX tables."""
    from riskatlas.report.html import PAPERS

    st = state(ctx)
    if paper.lower() not in PAPERS:  # refused before anything is imported or computed
        raise ReportError("assess.bad_paper", paper=paper)
    langs = report_languages(lang) if lang else [st.lang]
    st.lang = langs[0]  # the (first) report's language is also that of the messages
    datasets: list[int] = []  # FILE… : the report is about what those files hold
    if inputs:
        results = run_import(db, list(inputs), lang=st.lang, country=scope.scope.country)
        datasets = [r.dataset_id for r in results if r.dataset_id is not None]
    report(db, out, replace(scope, include_unapproved=unapproved), datasets=datasets,
           top=top, lang=st.lang, pdf=not no_pdf, engine=engine, methods=methods,
           measures=measures, cases=cases, paper=paper.lower(), langs=langs)


def report_languages(value: str) -> list[str]:
    """The report languages of ``--lang``: one ("zh-TW", "zh_TW") or several, comma
    separated ("en,zh-TW"), each once; an unknown one is refused."""
    from riskatlas.i18n import LANGUAGES, normalize_language

    langs: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        tag = part.replace("_", "-").split(".")[0].lower()
        if not part or not (tag.startswith("zh") or tag.startswith("en")):
            raise ReportError("assess.bad_lang", lang=part or value)
        found = normalize_language(part)
        if found in LANGUAGES and found not in langs:
            langs.append(found)
    return langs


def report(db: Path | None, out: Path, scope: ScopeArgs, *, datasets: Sequence[int] = (),
           top: int = 5, lang: str = "en", pdf: bool = True, engine: str = "duckdb",
           methods: Path | None = None, measures: Sequence[Path] = (),
           cases: Sequence[Path] = (), paper: str = "a4",
           langs: Sequence[str] | None = None) -> None:
    """Assess the store over ``scope`` (the records of ``datasets`` when given), write the
    report folder and print where it is and what it found. With several ``langs`` the
    analyses run once and each language's report goes to ``out/<lang>``; the steps are
    shown in ``lang`` as they start."""
    import riskatlas
    from riskatlas.assessment.pipeline import STEPS, assess_languages
    from riskatlas.report.pdf import Browser
    from riskatlas.report.writer import WRITE_STEPS, write_reports

    langs = list(langs or [lang])

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    steps = [*STEPS, *(s for s in WRITE_STEPS if pdf or s != "pdf")]

    def progress(name: str) -> None:
        console.print(t("assess.step", n=steps.index(name) + 1, total=len(steps),
                        step=t(f"assess.step_{name}")), style="dim", highlight=False)

    with ExitStack() as stack:
        # Chromium starts while the analyses run, ready to print when the pages are
        browser = Browser.start() if pdf else None
        if browser is not None:
            stack.callback(browser.close)
        with riskatlas.open(db, engine=engine, methods=methods) as atlas:
            asked = scope.on(atlas).but(dataset=tuple(sorted(set(datasets))) or None)
            found = assess_languages(atlas, asked, langs, top=top, measures=measures,
                                     cases=cases, progress=progress)
        outs = [out] if len(langs) == 1 else [out / x for x in langs]
        written = write_reports([found[x] for x in langs], outs, pdf=pdf, paper=paper,
                                progress=progress, browser=browser)
    for files in written:
        console.print(t("assess.written", html=files.html, tables=files.tables,
                        workbook=files.workbook), soft_wrap=True)  # paths stay whole
        if files.pdf:
            console.print(t("assess.pdf", pdf=files.pdf), soft_wrap=True)
        elif files.pdf_error:
            console.print(files.pdf_error, style="yellow")
    assessment = found[lang if lang in found else langs[0]]
    console.print(t("assess.top_title", level=assessment.level), style="bold")
    for u in assessment.top_units.head(3).to_dict("records"):
        console.print(t("assess.top_unit", rank=u["rank"], unit=u["admin_name"]
                        or u["admin_code"], score=f"{u['score']:.1f}",
                        cls=t(f"class.{u['class']}"), drivers=drivers_text(u["drivers"], lang)))
        for item in assessment.advice_for((u["country_iso3"], u["admin_code"]))[:3]:
            console.print(t("assess.top_measure", measure=item.measure.name_in(lang)))
