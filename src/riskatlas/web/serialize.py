"""DataFrames as JSON: records orient, NaN → null, dates ISO, provenance as ``meta``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from fastapi.responses import Response

from riskatlas.analysis.results import note_texts


def jsonable(value: Any) -> Any:
    """A value that JSON can hold: numpy scalars unwrapped, NaN/NaT → None, dates ISO."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):  # numpy's float64 too, which orjson refuses
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return jsonable(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def rows_of(frame: pd.DataFrame, *, for_orjson: bool = False) -> list[dict[str, Any]]:
    """The rows of ``frame`` as :func:`jsonable` dicts, converted a column at a time;
    ``for_orjson``: what orjson writes as it writes those (a column of plain JSON values,
    such as the screen's drivers, is left as it is: orjson writes NaN as null)."""
    names = [str(k) for k in frame.columns]
    columns = [_column(frame.iloc[:, i], for_orjson) for i in range(frame.shape[1])]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _column(col: pd.Series, for_orjson: bool) -> list[Any]:
    """:func:`jsonable` of every value of ``col``; numpy integers, booleans and floats
    without a per-value call, and (``for_orjson``) plain values as they are."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return col.tolist()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = col.to_numpy()
        return [v if ok else None for v, ok in zip(values.tolist(), np.isfinite(values),
                                                   strict=True)]
    values = col.tolist()
    if for_orjson:
        try:  # refuses what jsonable would change: dates, numpy and pandas values, keys
            # not strings, dataclasses (an Enum, which no result holds, is written as its
            # value where jsonable writes its name)
            orjson.dumps(values, option=orjson.OPT_PASSTHROUGH_DATETIME
                         | orjson.OPT_PASSTHROUGH_DATACLASS)
        except TypeError:
            pass
        else:
            return values
    return [jsonable(v) for v in values]


def meta_of(attrs: dict[str, Any], lang: str) -> dict[str, Any]:
    """A result's provenance (analysis, scope, engine, methods, notes: a frame's
    ``attrs``) and its language."""
    meta = jsonable(dict(attrs))
    meta["lang"] = lang
    meta["notes_text"] = note_texts([attrs], lang)
    return meta


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    """JSON by orjson: dates ISO, NaN null."""
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def table_response(frame: pd.DataFrame | pa.Table, lang: str,
                   attrs: dict[str, Any] | None = None, **extra: Any) -> Response:
    """``{"meta": {...}, "rows": [...]}`` (plus ``extra`` keys such as ``total``); the
    meta is ``attrs``, else the frame's. Rows of Arrow need no conversion."""
    rows = frame.to_pylist() if isinstance(frame, pa.Table) else rows_of(frame,
                                                                          for_orjson=True)
    meta = attrs if attrs is not None else getattr(frame, "attrs", {})
    return json_response({**extra, "meta": meta_of(meta, lang), "rows": rows})
