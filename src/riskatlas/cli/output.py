"""How the commands print: rich tables, CSV, JSON lines, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from riskatlas.i18n import translate

if TYPE_CHECKING:  # pandas loads when a frame is shown, not for every command
    import pandas as pd

console = Console()
err_console = Console(stderr=True)


def echo_error(message: str) -> None:
    err_console.print(f"[bold red]riskatlas:[/] {message}", highlight=False, soft_wrap=True)


def column_label(column: object, lang: str) -> str:
    """A column's heading: its ``column.<name>`` text, else its name."""
    key = f"column.{column}"
    label = translate(key, lang)
    return str(column) if label == key else label


def print_table(columns: Sequence[object], rows: Iterable[Sequence[str]], lang: str,
                title: str | None = None) -> None:
    """Rows of text as a rich table under the columns' headings."""
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column_label(column, lang), overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None,
                lang: str = "en") -> None:
    """A DataFrame as a rich table, CSV or a JSON array of row objects."""
    import pandas as pd

    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    else:
        print_table(list(frame.columns),
                    (["" if pd.isna(v) else str(v) for v in row]
                     for row in frame.itertuples(index=False)), lang, title)


def print_json_line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
