"""``riskatlas demo``: import the bundled synthetic export and assess it."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from pathlib import Path
from typing import Annotated

import typer

from riskatlas.cli.assess import report
from riskatlas.cli.data import run_import
from riskatlas.cli.help import h
from riskatlas.cli.options import Db, NoPdf, scope_args
from riskatlas.cli.output import console
from riskatlas.cli.state import state
from riskatlas.i18n import translate

DEMO_COUNTRY = "DMO"  # the fictitious Demoland of riskatlas.demo


def demo(
    ctx: typer.Context,
    db: Db = None,
    folder: Annotated[Path | None, typer.Option("--folder", help=h("demo.folder"))] = None,
    out: Annotated[Path, typer.Option("--out", help=h("demo.out"))] = Path(
        "riskatlas-report-demo"),
    no_pdf: NoPdf = False,
) -> None:
    """Import the bundled SYNTHETIC demo export (fictitious Demoland) and assess it:
    the report goes to --out."""
    from riskatlas.demo import demo_path

    lang = state(ctx).lang
    path = demo_path(folder)
    console.print(translate("demo.synthetic", lang, path=path), style="bold yellow")
    run_import(db, [path], lang=lang, country=DEMO_COUNTRY, synthetic=True)
    report(db, out, scope_args(country=DEMO_COUNTRY), lang=lang, pdf=not no_pdf)
