"""Rows as JSON a column at a time (web/serialize.py) give what a call per value gives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pandas as pd

from riskatlas.web.serialize import jsonable, rows_of


def _per_value(frame: pd.DataFrame) -> list[dict]:
    return [{str(k): jsonable(v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def test_rows_of_every_kind_of_column():
    rng = np.random.default_rng(3)
    n = 40
    floats = rng.normal(size=n) * 1e6
    floats[::5], floats[1::7], floats[2::11] = np.nan, np.inf, -np.inf
    frame = pd.DataFrame({
        "i": rng.integers(-5, 5, n), "u": rng.integers(0, 9, n).astype("uint8"),
        "b": rng.random(n) < 0.5, "f": floats, "f32": floats.astype("float32"),
        "I": pd.array([None if k % 3 == 0 else k for k in range(n)], dtype="Int64"),
        "B": pd.array([None if k % 4 == 0 else k % 2 == 0 for k in range(n)],
                      dtype="boolean"),
        "s": [None if k % 6 == 0 else f"u{k}" for k in range(n)],
        "d": [{"hazard": "flood", "x": np.float64(k) if k % 2 else np.nan} for k in range(n)],
        "l": [[np.int64(k), None] for k in range(n)],
        "t": pd.to_datetime(["2001-02-03", "2004-05-06 07:08:09", None, "1999-12-31"] * 10,
                            format="ISO8601"),
        "date": [dt.date(2000, 1, 1 + k % 28) for k in range(n)],
        7: np.arange(n, dtype="int32"),
    })
    got, expected = rows_of(frame), _per_value(frame)
    assert got == expected
    assert orjson.dumps(rows_of(frame, for_orjson=True)) == orjson.dumps(expected)
    assert [type(v) for v in got[3].values()] == [type(v) for v in expected[3].values()]
    assert rows_of(frame.iloc[:0]) == []


def test_columns_of_plain_values_are_written_as_jsonable_makes_them():
    """Columns of plain Python values (the screen's drivers and hazard scores) go to orjson
    as they are; the JSON is that of a call per value, whatever else a column holds."""
    n = 12
    frame = pd.DataFrame({
        "drivers": [[{"hazard": "flood", "share_pct": 12.5, "value": float("nan") if k % 3
                      else float("inf"), "score": k}] for k in range(n)],
        "scores": [{"flood": 1.5, "storm": -0.0} for _ in range(n)],
        "mixed": [1, "a", None, float("nan"), True, [1, 2], (3, 4), {"k": None}, 2.5, "",
                  -7, {"n": {"m": [float("-inf")]}}],
        "dated": [{"day": dt.date(2000, 1, 2)}] * n,  # dates: a call per value
        "stamps": [[pd.Timestamp("2001-01-01")]] * n,
        "numpy": [{"x": np.int64(3)}] * n,
        "keys": [{1: "a", 2.5: "b"}] * n,  # keys that are not strings
    })
    got, expected = rows_of(frame, for_orjson=True), _per_value(frame)
    assert orjson.dumps(got) == orjson.dumps(expected)
    assert rows_of(frame) == expected
