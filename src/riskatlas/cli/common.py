"""State and helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from riskatlas.i18n import DEFAULT_LANGUAGE, translate

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class _State:
    lang: str = DEFAULT_LANGUAGE
    debug: bool = False


STATE = _State()
console = Console()
err_console = Console(stderr=True)

DB_OPTION = typer.Option(None, "--db", help="Store file (default: $RISKATLAS_DB or "
                         "./riskatlas.duckdb).")
FMT_OPTION = typer.Option("table", "--format", help="Output: table, csv or json.")
# record filters shared by the browsing and analysis commands
COUNTRY_OPTION = typer.Option(None, "--country", help="ISO3 country.")
ADMIN_OPTION = typer.Option(None, "--admin", help="Admin unit code (any level).")
HAZARD_OPTION = typer.Option(None, "--hazard", help="Reporting group, HIPs code or source term.")
FROM_OPTION = typer.Option(None, "--from", help="First year.")
TO_OPTION = typer.Option(None, "--to", help="Last year.")
DATASET_OPTION = typer.Option(None, "--dataset", help="Dataset id.")


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
