"""The tables behind every figure of a report, as CSV files and one XLSX workbook.

Nested values (drivers, reasons, hazard scores) are written as JSON text. The ``records``
table lists every record in scope with its id, so any number traces back to data cards.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unicodedata import east_asian_width

import pandas as pd

from riskatlas.assessment.value import Assessment
from riskatlas.export import neutralised
from riskatlas.i18n import catalogue, translate
from riskatlas.report.xlsx import Sheet, write_workbook


def report_tables(a: Assessment) -> dict[str, pd.DataFrame]:
    peers = [frame.assign(unit_country=unit[0], unit_code=unit[1])
             for unit, frame in a.peers.items() if len(frame)]
    return {
        "screen": a.screen, "advice": a.advice_table(), "profile": a.profile,
        "unit_profile": a.unit_profile, "risk": a.risk, "return_levels": a.return_levels,
        "sendai": a.sendai, "unit_sendai": a.unit_sendai, "events": a.events,
        "peers": pd.concat(peers, ignore_index=True) if peers else pd.DataFrame(),
        "records": a.records, "datasets": a.datasets, "quality": a.quality,
        "national": a.national, "national_trends": a.national_trends,
        "unit_vs_national": a.unit_vs_national,
    }


def write_tables(a: Assessment, out: Path, *,
                 shared: dict[Any, Any] | None = None) -> tuple[Path, Path]:
    """CSV files in ``out/tables`` and ``out/riskatlas-tables.xlsx``; returns both paths.
    ``shared``: what tables written before had (:func:`write_tables_of`)."""
    kept: dict[Any, Any] = {} if shared is None else shared
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    tables = {name: _kept(kept, ("flat", name, id(frame)), frame, _flat)
              for name, frame in report_tables(a).items()}
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        written = kept.get(("csv", id(frame)))
        if written is not None and written[0] is frame:  # the same table: the same file
            shutil.copyfile(written[1], path)
        else:
            frame.to_csv(path, index=False)
            kept[("csv", id(frame))] = (frame, path)
    workbook = out / "riskatlas-tables.xlsx"
    write_workbook(workbook, {name: labelled_sheet(frame, a.lang)
                              for name, frame in tables.items()},
                   rows=kept.setdefault("rows", {}))
    return folder, workbook


def write_tables_of(assessments: Sequence[Assessment], outs: Sequence[Path]
                    ) -> list[tuple[Path, Path]]:
    """:func:`write_tables` of each assessment (one per language, say) in its folder: a
    table the assessments share (the same DataFrame, as the records are in every language)
    is flattened, written as CSV and laid out as XLSX rows once."""
    shared: dict[Any, Any] = {}
    return [write_tables(a, out, shared=shared) for a, out in zip(assessments, outs,
                                                                   strict=True)]


def _kept(kept: dict[Any, Any], key: Any, frame: pd.DataFrame,
          make: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``make(frame)``, once per ``frame`` object (kept with it, so that its id stays its)."""
    found = kept.get(key)
    if found is None or found[0] is not frame:
        found = kept[key] = (frame, make(frame))
    return found[1]  # type: ignore[no-any-return]


# --- the workbook's headers in the reader's language (the CSV files keep the names) --------

_SUFFIXES = (("_per_year", "per_year"), ("_per_100k", "per_100k"),
             ("_intensive", "intensive"), ("_extensive", "extensive"))
_PATTERNS = ((re.compile(r"trend_(\w+?)_p"), "trend_p"), (re.compile(r"trend_(\w+?)_slope"),
                                                        "trend_slope"),
             (re.compile(r"trend_(\w+)"), "trend"))
_LEVEL = re.compile(r"level(\d)_(code|name|units)")
_P_EVENT = re.compile(r"p_event_(\d+)y")
MAX_WIDTH = 60  # characters of a column's width
SAMPLE_ROWS = 100  # rows whose text sets a column's width


def header_label(column: str, lang: str) -> str:
    """A table column's header in ``lang``: the catalogue's label (``table_column.*``,
    then ``column.*``, then the metric's name), else worded from its parts
    ("deaths_per_year": "Deaths per year", "trend_deaths_p", "level1_code" …); a column
    the catalogue does not know keeps its name."""
    words = catalogue(lang)
    for key in (f"table_column.{column}", f"column.{column}"):
        if key in words:
            return words[key]
    if f"metric.{column}" in words:
        return _capital(words[f"metric.{column}"], lang)
    if found := _LEVEL.fullmatch(column):
        return translate(f"table_column_pattern.level_{found[2]}", lang, level=found[1])
    if found := _P_EVENT.fullmatch(column):
        return translate("table_column_pattern.p_event", lang, years=found[1])
    for pattern, key in _PATTERNS:
        if (found := pattern.fullmatch(column)) and f"metric.{found[1]}" in words:
            return _capital(translate(f"table_column_pattern.{key}", lang,
                                      metric=words[f"metric.{found[1]}"]), lang)
    for suffix, key in _SUFFIXES:
        base = column.removesuffix(suffix)
        if base != column and f"metric.{base}" in words:
            return _capital(translate(f"table_column_pattern.{key}", lang,
                                      metric=words[f"metric.{base}"]), lang)
    return column


def _capital(text: str, lang: str) -> str:
    return text[:1].upper() + text[1:] if lang == "en" else text


def text_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: East Asian wide characters count two."""
    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def labelled_sheet(frame: pd.DataFrame, lang: str) -> Sheet:
    """A table with its headers in ``lang`` and each column as wide as its header and
    its first rows' text (at most :data:`MAX_WIDTH`), so that no header wraps."""
    headers = [header_label(str(c), lang) for c in frame.columns]
    sample = frame.head(SAMPLE_ROWS)
    widths = []
    for header, column in zip(headers, sample.columns, strict=True):
        values = sample[column].dropna().astype(str)
        longest = max((text_width(v) for v in values), default=0)
        widths.append(float(min(MAX_WIDTH, max(text_width(header), longest, 6) + 2)))
    return Sheet(frame, headers=headers, widths=widths)


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts as JSON text; time zones dropped (Excel has none); text that a
    spreadsheet would run as a formula kept as text."""
    out = frame.copy()
    out.attrs = {}
    for column in out.columns:
        values = out[column]
        if values.dtype == object and any(isinstance(v, list | dict) for v in values):
            out[column] = values.map(_json)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_localize(None)
    return neutralised(out)  # no cell runs as a formula in a spreadsheet


def _json(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, list | dict) \
        else value
