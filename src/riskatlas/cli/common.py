"""State and helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from riskatlas.i18n import DEFAULT_LANGUAGE, default_language, normalize_language, translate

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class _State:
    lang: str = DEFAULT_LANGUAGE
    debug: bool = False


STATE = _State()
console = Console()
err_console = Console(stderr=True)


def help_language(argv: Sequence[str]) -> str:
    """The language of the ``--help`` texts: ``--lang X`` or ``--lang=X`` in ``argv``, else
    :func:`default_language`. Help is built at import, before Typer parses the options."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--lang="):
            return normalize_language(arg.partition("=")[2])
        if arg == "--lang" and i + 1 < len(argv):
            return normalize_language(argv[i + 1])
    return default_language()


HELP_LANGUAGE = help_language(sys.argv[1:])


def h(key: str, **params: Any) -> str:
    """The ``--help`` text ``cli_help.<key>`` of the catalogues, in :data:`HELP_LANGUAGE`."""
    return translate("cli_help." + key, HELP_LANGUAGE, **params)


DB_OPTION = typer.Option(None, "--db", help=h("option.db"))
FMT_OPTION = typer.Option("table", "--format", help=h("option.format"))
# record filters shared by the browsing and analysis commands
COUNTRY_OPTION = typer.Option(None, "--country", help=h("option.country"))
ADMIN_OPTION = typer.Option(None, "--admin", help=h("option.admin"))
HAZARD_OPTION = typer.Option(None, "--hazard", help=h("option.hazard"))
FROM_OPTION = typer.Option(None, "--from", help=h("option.from"))
TO_OPTION = typer.Option(None, "--to", help=h("option.to"))
DATASET_OPTION = typer.Option(None, "--dataset", help=h("option.dataset"))
UNAPPROVED_OPTION = typer.Option(False, "--include-unapproved",
                                 help=h("option.include_unapproved"))
NO_PDF_OPTION = typer.Option(False, "--no-pdf", help=h("option.no_pdf"))
METHODS_OPTION = typer.Option(None, "--methods", help=h("option.methods"))


def t(key: str, **params: Any) -> str:
    """A message in the user's language."""
    return translate(key, STATE.lang, **params)


def echo_error(message: str) -> None:
    err_console.print(f"[bold red]riskatlas:[/] {message}", highlight=False, soft_wrap=True)


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None) -> None:
    """A DataFrame as a rich table, CSV or a JSON array of row objects."""
    import pandas as pd

    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    else:
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            key = f"column.{column}"
            label = t(key)
            table.add_column(str(column) if label == key else label, overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*("" if pd.isna(v) else str(v) for v in row))
        console.print(table)


def print_json_line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
