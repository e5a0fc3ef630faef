"""The tables behind every figure of a report, as CSV files and one XLSX workbook.

Nested values (drivers, reasons, hazard scores) are written as JSON text. The ``records``
table lists every record in scope with its id, so any number traces back to data cards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from riskatlas.assessment.value import Assessment
from riskatlas.export import neutralised


def report_tables(a: Assessment) -> dict[str, pd.DataFrame]:
    peers = [frame.assign(unit_country=unit[0], unit_code=unit[1])
             for unit, frame in a.peers.items() if len(frame)]
    return {
        "screen": a.screen, "advice": a.advice_table(), "profile": a.profile,
        "unit_profile": a.unit_profile, "risk": a.risk, "return_levels": a.return_levels,
        "sendai": a.sendai, "unit_sendai": a.unit_sendai, "events": a.events,
        "peers": pd.concat(peers, ignore_index=True) if peers else pd.DataFrame(),
        "records": a.records, "datasets": a.datasets, "quality": a.quality,
    }


def write_tables(a: Assessment, out: Path) -> tuple[Path, Path]:
    """CSV files in ``out/tables`` and ``out/riskatlas-tables.xlsx``; returns both paths."""
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    tables = {name: _flat(frame) for name, frame in report_tables(a).items()}
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    workbook = out / "riskatlas-tables.xlsx"
    _write_workbook(workbook, tables)
    return folder, workbook


def _write_workbook(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """One sheet per table, written row by row in constant memory (xlsxwriter); dates as
    ISO text, missing values as empty cells."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "nan_inf_to_errors": True,
                                           "strings_to_formulas": False})
    bold = book.add_format({"bold": True})
    for name, frame in tables.items():
        sheet = book.add_worksheet(name[:31])
        sheet.write_row(0, 0, [str(c) for c in frame.columns], bold)
        cells = frame.astype(object).where(frame.notna(), None)
        for i, row in enumerate(cells.itertuples(index=False, name=None), start=1):
            sheet.write_row(i, 0, [v if v is None or isinstance(v, int | float | str | bool)
                                   else str(v) for v in row])
    book.close()


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts as JSON text; time zones dropped (Excel has none); text that a
    spreadsheet would run as a formula kept as text."""
    out = frame.copy()
    out.attrs = {}
    for column in out.columns:
        values = out[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, list | dict)).any():
            out[column] = values.map(_json)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_localize(None)
    return neutralised(out)  # no cell runs as a formula in a spreadsheet


def _json(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, list | dict) \
        else value
