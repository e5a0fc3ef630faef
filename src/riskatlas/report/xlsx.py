"""A fast XLSX writer for plain tables: one sheet per DataFrame, a bold header row.

The report's workbook holds every record and event behind its figures (about a million
cells for Nepal). xlsxwriter writes a cell at a time through several Python calls (about
5 s for Nepal); this writer builds each column's cells at once and each sheet's XML in one
pass (about ten times faster). It writes what the report needs of SpreadsheetML: numbers,
booleans, text as inline strings (control characters escaped as ``_xHHHH_``, as Excel and
xlsxwriter do), errors for infinite numbers, empty cells for missing values, an optional
width per column, the header row frozen, and nothing else (no formulas: text that starts
with "=" stays text).
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

MAX_TEXT = 32_767  # characters of a cell (Excel's limit)
SHEET_NAME = 31  # characters of a sheet name
_BAD_NAME = re.compile(r"[\[\]:*?/\\]")
_ESCAPE_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


@dataclass(frozen=True)
class Sheet:
    """One table: its rows, its header labels (None: the column names) and widths in
    characters (None: Excel's default)."""

    frame: pd.DataFrame
    headers: Sequence[str] | None = None
    widths: Sequence[float | None] | None = None


def write_workbook(path: Path, sheets: Mapping[str, pd.DataFrame | Sheet], *,
                   compresslevel: int = 1, rows: dict[int, Any] | None = None) -> Path:
    """``path``: one sheet per entry of ``sheets`` (name → table), in order; ``rows``: the
    rows of tables laid out before (:func:`sheet_xml`), shared by several workbooks."""
    named = [(_sheet_name(name, i), s if isinstance(s, Sheet) else Sheet(s))
             for i, (name, s) in enumerate(sheets.items())]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as z:
        z.writestr("[Content_Types].xml", _content_types(len(named)))
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("xl/workbook.xml", _workbook(name for name, _ in named))
        z.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(named)))
        z.writestr("xl/styles.xml", _STYLES)
        for i, (_, sheet) in enumerate(named, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", sheet_xml(sheet, rows))
    return path


def sheet_xml(sheet: Sheet, rows: dict[int, Any] | None = None) -> str:
    """The worksheet XML of one table (its rows built a column at a time with Arrow);
    ``rows``: the rows of tables laid out before, by table (the same DataFrame object:
    one table in several languages' workbooks differs only in its headers)."""
    frame = sheet.frame
    headers = list(sheet.headers) if sheet.headers is not None else [str(c) for c in
                                                                     frame.columns]
    letters = [column_letter(i) for i in range(max(len(headers), len(frame.columns)))]
    head = "".join(_text_cell(f"{letters[i]}1", h, ' s="1"') for i, h in enumerate(headers))
    kept = rows.get(id(frame)) if rows is not None else None
    if kept is None or kept[0] is not frame:  # (the frame is kept too: its id stays its)
        kept = (frame, _rows(frame, letters))
        if rows is not None:
            rows[id(frame)] = kept
    last = f"{letters[-1]}{len(frame) + 1}" if letters else "A1"
    cols = "".join(f'<col min="{i}" max="{i}" width="{w:.2f}" customWidth="1"/>'
                   for i, w in enumerate(sheet.widths or (), start=1) if w)
    return (_XML + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
            'main"><dimension ref="A1:' + last + '"/><sheetViews><sheetView workbookViewId='
            '"0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            + (f"<cols>{cols}</cols>" if cols else "") + f'<sheetData><row r="1">{head}</row>'
            + kept[1] + "</sheetData></worksheet>")


def _rows(frame: pd.DataFrame, letters: Sequence[str]) -> str:
    """The rows of ``frame`` (from row 2), each column's cells built at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(frame) or not len(frame.columns):
        return ""
    numbers = pa.array(np.arange(2, len(frame) + 2)).cast(pa.string())
    columns = [column_cells(frame.iloc[:, i], letters[i], numbers)
               for i in range(len(frame.columns))]
    return "".join(pc.binary_join_element_wise('<row r="', numbers, '">', *columns, "</row>",
                                               "").to_pylist())


# a text that starts or ends with what str.isspace() calls space (control characters
# apart: such text goes cell by cell), in Arrow's regular expressions (RE2)
_SPACED = r"^[\s\p{Z}\x{85}]|[\s\p{Z}\x{85}]$"


def column_cells(values: pd.Series, letter: str, numbers: Any) -> Any:
    """The cells of one column as an Arrow string array ("" for a missing value), given
    ``numbers``, the rows' numbers as Arrow strings: integers, whole numbers, booleans,
    plain text and dates a whole column at once; other numbers and mixed columns value by
    value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def cells(texts: Any, kind: str = "") -> Any:  # "" where a text is missing
        made = pc.binary_join_element_wise(f'<c r="{letter}', numbers, f'"{kind}><v>', texts,
                                           "</v></c>", "")
        return pc.fill_null(made, "")

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        return cells(pa.array(values.to_numpy(dtype="int8")).cast(pa.string()), ' t="b"')
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        if not np.isinf(array).any():
            present = ~np.isnan(array)
            if pd.api.types.is_integer_dtype(dtype) and present.all():
                texts = pa.array(values.to_numpy(dtype="int64")).cast(pa.string())
            elif _whole(array[present]):  # as %.16G writes them
                texts = pa.array(np.where(present, array, 0).astype("int64"),
                                 mask=~present).cast(pa.string())
            else:
                texts = pa.array([f"{v:.16G}" if v == v else None for v in array.tolist()],
                                 pa.string())
            return cells(texts)
    if pd.api.types.is_datetime64_dtype(dtype):
        stamps = pd.Series(values)
        if not ((stamps.dt.microsecond != 0) | (stamps.dt.nanosecond != 0)).any():
            texts = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")  # as str(Timestamp) writes
            values = pd.Series(np.where(stamps.isna(), None, texts.to_numpy(object)),
                               dtype=object)
    text = _arrow_text(values)
    if text is not None:
        text = pc.if_else(pc.equal(text, ""), None, text)
        spaced = pc.match_substring_regex(text, _SPACED)
        for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            text = pc.replace_substring(text, old, new)
        opening = pc.if_else(spaced, '" t="inlineStr"><is><t xml:space="preserve">',
                             '" t="inlineStr"><is><t>')
        made = pc.binary_join_element_wise(f'<c r="{letter}', numbers, opening, text,
                                           "</t></is></c>", "")
        return pc.fill_null(made, "")
    return pa.array([cell(f"{letter}{n}", v) for n, v in zip(
        numbers.to_pylist(), values.tolist(), strict=True)], pa.string())


def _arrow_text(values: pd.Series) -> Any:
    """The column as an Arrow string array when it holds text only (missing values as
    nulls) that needs XML escaping only (no control character, no "_x", none longer than
    a cell holds); else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values.dtype, pd.StringDtype):
        text = pa.array(values.array, from_pandas=True)
    elif values.dtype == object:
        items = values.tolist()
        if not {type(v) for v in items} <= {str, type(None), float} or any(
                isinstance(v, float) and v == v for v in items):
            return None
        text = pa.array(items, pa.string(), from_pandas=True)  # NaN: null
    else:
        return None
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = text.cast(pa.string())
    if text.null_count == len(text):
        return text
    if pc.any(pc.match_substring(text, "_x")).as_py() or pc.any(
            pc.match_substring_regex(text, _CONTROL.pattern)).as_py() or \
            pc.max(pc.utf8_length(text)).as_py() > MAX_TEXT:
        return None
    return text


def _whole(numbers: np.ndarray) -> bool:
    """Whether every number is whole, below 10¹⁵ and not -0 (%.16G writes its digits)."""
    return bool(np.all(np.trunc(numbers) == numbers) and np.all(np.abs(numbers) < 1e15)
                and not np.any(np.signbit(numbers) & (numbers == 0)))


def _plain_text(items: list[Any]) -> bool:
    """Whether every value is text (or None) that needs XML escaping only."""
    if not {type(v) for v in items} <= {str, type(None)}:
        return False
    joined = "".join(v for v in items if v is not None)
    return "_x" not in joined and not _CONTROL.search(joined) and all(
        len(v) <= MAX_TEXT for v in items if v is not None)


def _plain_cell(ref: str, text: str) -> str:
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def cell(ref: str, value: Any) -> str:
    """One cell of any value: "" when missing (or empty text, as xlsxwriter); dates and
    other values as their text."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, str)
                                                                and not value):
        return ""
    if isinstance(value, bool | np.bool_):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | np.integer):
        return f'<c r="{ref}"><v>{int(value)}</v></c>'
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return f'<c r="{ref}" t="e"><v>#DIV/0!</v></c>'
        return f'<c r="{ref}"><v>{number:.16G}</v></c>'
    return _text_cell(ref, value if isinstance(value, str) else str(value))


def _text_cell(ref: str, text: str, style: str = "") -> str:
    text = text[:MAX_TEXT]
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    if "_x" in text:
        text = _ESCAPE_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return (f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{escape(text)}</t></is>'
            "</c>")


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def _sheet_name(name: str, index: int) -> str:
    clean = _BAD_NAME.sub("_", str(name)).strip("'")[:SHEET_NAME]
    return clean or f"Sheet{index + 1}"


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ROOT_RELS = (
    _XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>")
_STYLES = (
    _XML + '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/>'
    '<sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill>'
    '<patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
    '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/>'
    '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
    'borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" '
    'fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" '
    'borderId="0" xfId="0" applyFont="1"/></cellXfs><cellStyles count="1"><cellStyle '
    'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _content_types(sheets: int) -> str:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{main}'
                    '.worksheet+xml"/>' for i in range(1, sheets + 1))
    return (_XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{main}.sheet.main+xml"/><Override PartName="/xl/styles.xml" '
            f'ContentType="{main}.styles+xml"/>{parts}</Types>')


def _workbook(names: Any) -> str:
    sheets = "".join(f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{i}" '
                     f'r:id="rId{i}"/>' for i, n in enumerate(names, start=1))
    return (_XML + '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
            'main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships"><bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>'
            "</workbook>")


def _workbook_rels(sheets: int) -> str:
    base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rels = "".join(f'<Relationship Id="rId{i}" Type="{base}/worksheet" '
                   f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, sheets + 1))
    return (_XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships">{rels}<Relationship Id="rId{sheets + 1}" Type="{base}/styles" '
            'Target="styles.xml"/></Relationships>')
