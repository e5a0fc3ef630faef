"""How the commands print: tables that fit the terminal, CSV, JSON lines, one-line errors.

One table formatter serves every command (:func:`print_frame`, :func:`print_table`):

- values are written by kind: numbers with thousands separators and one number of
  decimals per column (``16,316``, never ``16316.0`` beside ``8``), years and ids without
  separators; dates at their precision (``1971-03``, no ``00:00:00``), timestamps to the
  minute; yes/no in the reader's language;
- the table fits the terminal (``$COLUMNS``, else the console's width): headings and
  text wrap between words, numbers and dates never wrap, and when even that is too wide
  the least important columns are left out and named under the table;
  ``--format wide`` shows every column at its full width.

It works on plain Python values, so ``riskatlas datasets`` prints without pandas.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from riskatlas.i18n import translate

if TYPE_CHECKING:  # pandas loads when a frame is shown, not for every command
    import pandas as pd

console = Console()
err_console = Console(stderr=True)

TABLE_FORMATS = ("table", "wide")  # the text views; csv and json are for programs
MAX_DECIMALS = 3  # a column shows the fewest decimals (≤ 3) that its values need
WORD_CAP = 20  # a longer word (or unspaced CJK text) folds inside its cell
HEADING_CAP = 16  # likewise for a heading's words
FOLD_OVER = 16  # to keep a column, words longer than this may fold (down to TEXT_MIN)
TEXT_MIN = 24  # a column of text is not squeezed below this (unless its text is shorter)
GAP = 3  # cells between two columns: padding, rule, padding
# integer columns that name a year, an id or a level: no thousands separator
PLAIN_INTEGER = re.compile(r"(^|_)(id|year|from|to|level|rank)$")
# a date column and the column that says how much of it is known (unknown/year/month/day)
PRECISION_OF = {"start_date": "date_precision"}
PRECISION_FORMAT = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "unknown": ""}


def echo_error(message: str) -> None:
    err_console.print(f"[bold red]riskatlas:[/] {message}", highlight=False, soft_wrap=True)


# names made of a metric (or a number of years) and a pattern: column_pattern.<key>
COLUMN_PATTERNS = (
    (re.compile(r"trend_(\w+)_p"), "trend_p"), (re.compile(r"trend_(\w+)_slope"), "trend_slope"),
    (re.compile(r"trend_(\w+)"), "trend"), (re.compile(r"p_event_(\d+)y"), "p_event"),
    (re.compile(r"(\w+)_per_year"), "per_year"), (re.compile(r"(\w+)_per_100k"), "per_100k"),
    (re.compile(r"(\w+)_intensive"), "intensive"), (re.compile(r"(\w+)_extensive"), "extensive"),
)


def _label(key: str, lang: str) -> str | None:
    label = translate(key, lang)
    return None if label == key else label


def column_label(column: object, lang: str) -> str:
    """A column's heading: its ``column.<name>`` text, else its ``metric.<name>`` one
    (capitalised: "Directly affected"), else a pattern's with its metric ("Missing/year",
    "Trend (houses destroyed)"), else its name."""
    name = str(column)
    label = _label(f"column.{name}", lang) or _label(f"metric.{name}", lang)
    for pattern, key in COLUMN_PATTERNS:
        if label is not None:
            break
        found = pattern.fullmatch(name)
        metric = found and (found[1] if key == "p_event" else _label(f"metric.{found[1]}", lang))
        if metric:
            label = translate(f"column_pattern.{key}", lang, metric=metric, years=metric)
    return name if label is None else label[:1].upper() + label[1:]


def terminal_width() -> int:
    """The width to fit: ``$COLUMNS`` when set (read at each call), else the console's."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else console.size.width


# ------------------------------------------------------------------------ cell values

def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (without importing pandas)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pd.NA: its truth is ambiguous
        return True
    except ValueError:  # an array: a value, not a missing one
        return False


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def kind_of(values: Sequence[Any]) -> str:
    """``bool``, ``integer``, ``number``, ``date``, ``datetime`` or ``text``: what every
    present value of a column is."""
    present = [v for v in values if not is_missing(v)]
    if not present:
        return "text"
    if all(_is_bool(v) for v in present):
        return "bool"
    if all(isinstance(v, numbers.Real) and not _is_bool(v) for v in present):
        return "integer" if all(float(v).is_integer() for v in present) else "number"
    if all(isinstance(v, dt.datetime) for v in present):
        timed = any((v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0)
                    for v in present)
        return "datetime" if timed else "date"
    if all(isinstance(v, dt.date) for v in present):
        return "date"
    return "text"


def decimals_of(values: Sequence[float]) -> int:
    """The fewest decimals (≤ MAX_DECIMALS) that show every value as it is to
    MAX_DECIMALS decimals."""
    needed = 0
    for value in values:
        exact = round(float(value), MAX_DECIMALS)
        while needed < MAX_DECIMALS and abs(round(exact, needed) - exact) > 1e-9:
            needed += 1
    return needed


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def cell_texts(name: str, values: Sequence[Any], lang: str,
               precisions: Sequence[Any] | None = None) -> tuple[str, list[str]]:
    """A column's kind and its values as a terminal shows them (``precisions``: how much
    of each date is known, for a date column with such a column beside it)."""
    kind = kind_of(values)
    present = [v for v in values if not is_missing(v)]
    if kind == "bool":
        yes, no = translate("terminal.yes", lang), translate("terminal.no", lang)
        write: Any = lambda v: yes if v else no  # noqa: E731
    elif kind == "integer":
        plain = PLAIN_INTEGER.search(name) is not None
        write = (lambda v: str(int(v))) if plain else (lambda v: f"{int(v):,}")
    elif kind == "number":
        places = decimals_of(present)
        write = lambda v: f"{round(float(v), places) + 0.0:,.{places}f}"  # noqa: E731
    elif kind == "datetime":
        write = lambda v: v.strftime("%Y-%m-%d %H:%M")  # noqa: E731
    elif kind == "date":
        write = lambda v: v.strftime("%Y-%m-%d")  # noqa: E731
    else:
        write = _text
    texts = ["" if is_missing(v) else write(v) for v in values]
    if kind in ("date", "datetime") and precisions is not None:
        texts = [v.strftime(PRECISION_FORMAT.get(str(p), "%Y-%m-%d")) if text and not
                 is_missing(p) else text for v, p, text in zip(values, precisions, texts,
                                                               strict=True)]
    return kind, texts


# ------------------------------------------------------------------------- the layout

@dataclass
class Column:
    """One column as shown: its name, heading, kind, cell texts and widths."""

    name: str
    heading: str
    kind: str
    texts: list[str]

    @property
    def wraps(self) -> bool:
        return self.kind == "text"

    @property
    def natural(self) -> int:
        """Its width with nothing wrapped."""
        return max([cell_len(self.heading), *map(cell_len, self.texts)])

    @property
    def heading_minimum(self) -> int:
        """The width of its heading's longest word (a longer one folds)."""
        return min(max(map(cell_len, self.heading.split() or [""])), HEADING_CAP)

    @property
    def minimum(self) -> int:
        """The narrowest it can be without breaking a word (or folding a long one)."""
        if not self.wraps:
            return max([self.heading_minimum, *map(cell_len, self.texts)])
        word = min(max([cell_len(w) for t in self.texts for w in t.split()] or [0]), WORD_CAP)
        return min(self.natural, max(self.heading_minimum, word, self._text_floor))

    @property
    def _text_floor(self) -> int:
        """TEXT_MIN, or the longest text when shorter: text is not squeezed to a sliver."""
        return min(TEXT_MIN, max(map(cell_len, self.texts), default=0))

    @property
    def least(self) -> int:
        """The narrowest it can be at all: text may fold its words longer than FOLD_OVER
        (a file name); a heading, a number, a date or a shorter word never breaks."""
        if not self.wraps:
            return self.minimum
        words = [n for t in self.texts for w in t.split() if (n := cell_len(w)) <= FOLD_OVER]
        return min(self.minimum, max([self.heading_minimum, self._text_floor, *words]))


def fit(columns: list[Column], width: int, priority: Sequence[str] = ()
        ) -> tuple[list[Column], list[int], list[Column]]:
    """The columns that fit ``width``, their widths, and the columns left out: the least
    important first (``priority``: names, most important first; the others after them,
    in their order), never the most important one. Long words fold before a column is
    left out; the width to spare goes first to whole words, then to unwrapped text."""
    rank = {name: i for i, name in enumerate(priority)}
    order = sorted(range(len(columns)),
                   key=lambda i: (rank.get(columns[i].name, len(rank)), i))
    kept = list(order)
    while len(kept) > 1 and sum(columns[i].least for i in kept) + GAP * (len(kept) - 1) \
            > width:
        kept.pop()
    shown = [columns[i] for i in sorted(kept)]
    widths = [c.least for c in shown]
    spare = width - sum(widths) - GAP * (len(shown) - 1)
    # whole words first, then text unwrapped, then headings unwrapped: each time the
    # column furthest from its target widens, one cell at a time
    for target, which in ((lambda c: c.minimum, lambda c: True),
                          (lambda c: c.natural, lambda c: c.wraps),
                          (lambda c: c.natural, lambda c: True)):
        while spare > 0:
            short = [i for i, c in enumerate(shown) if widths[i] < target(c) and which(c)]
            if not short:
                break
            i = min(short, key=lambda i: (widths[i] / target(shown[i]), i))
            widths[i] += 1
            spare -= 1
    hidden = [columns[i] for i in sorted(set(order) - set(kept))]
    return shown, widths, hidden


def render(columns: list[Column], widths: list[int]) -> Table:
    table = Table(box=box.MINIMAL_HEAVY_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1))
    for column, width in zip(columns, widths, strict=True):
        # nothing is set no_wrap (it would crop a heading): a number's or a date's
        # width holds its longest text, so only headings and text wrap
        table.add_column(column.heading, width=width, overflow="fold",
                         justify="right" if column.kind in ("integer", "number") else "left")
    for row in zip(*(c.texts for c in columns), strict=True):
        table.add_row(*row)
    return table


def print_columns(names: Sequence[str], values: Sequence[Sequence[Any]], lang: str, *,
                  title: str | None = None, fmt: str = "table",
                  priority: Sequence[str] = (), headings: Sequence[str] | None = None,
                  out: Console | None = None) -> None:
    """Columns of values (one sequence per column) as a table under their headings:
    fitted to the terminal (``fmt="table"``) or every column in full (``"wide"``)."""
    out = out or console
    by_name = dict(zip(names, values, strict=True))
    columns: list[Column] = []
    for i, name in enumerate(names):
        precision = PRECISION_OF.get(name)
        kind, texts = cell_texts(name, values[i], lang, by_name.get(precision or ""))
        heading = headings[i] if headings else column_label(name, lang)
        columns.append(Column(name, heading, kind, texts))
    if fmt != "wide":  # the precision is in the dates themselves
        columns = [c for c in columns
                   if not (c.name in PRECISION_OF.values() and _dated_by(c.name, names))]
    hidden: list[Column] = []
    if fmt == "wide":
        shown, widths = columns, [c.natural for c in columns]
    else:
        shown, widths, hidden = fit(columns, terminal_width(), priority)
    if title:
        out.print(title, style="bold", highlight=False)
    full = sum(widths) + GAP * max(len(widths) - 1, 0)
    was = out._width  # the console renders no wider than its width: the table's, here
    out.width = max(full, 1)
    try:
        out.print(render(shown, widths), crop=False)
    finally:
        out._width = was
    if hidden:
        out.print(translate("terminal.hidden_columns", lang,
                            columns=translate("report.list_sep", lang).join(
                                c.heading for c in hidden)),
                  style="dim", highlight=False)


def _dated_by(precision: str, names: Sequence[str]) -> bool:
    return any(PRECISION_OF.get(n) == precision for n in names)


def print_table(columns: Sequence[object], rows: Iterable[Sequence[Any]], lang: str,
                title: str | None = None, *, fmt: str = "table",
                priority: Sequence[str] = ()) -> None:
    """Rows of values as a table under the columns' headings (``column.<name>``)."""
    names = [str(c) for c in columns]
    data = list(rows)
    values = [[row[i] for row in data] for i in range(len(names))]
    print_columns(names, values, lang, title=title, fmt=fmt, priority=priority)


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None,
                lang: str = "en", *, priority: Sequence[str] = ()) -> None:
    """A DataFrame as a table (fitted, or ``wide``), CSV or a JSON array of row objects."""
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    else:
        names = [str(c) for c in frame.columns]
        values = [frame.iloc[:, i].tolist() for i in range(len(names))]
        print_columns(names, values, lang, title=title, fmt=fmt, priority=priority)


def print_json_line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
