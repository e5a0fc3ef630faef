"""Fetched tables (Arrow) summed and keyed for the numpy steps of analyses: a served copy's
kept sums are summed here, with no query, and the long forms of profiles and of what the
screen leaves out are worked out over units' rows by their codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from riskatlas.analysis.scope import UNIT_KEYS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa


def grouped(table: pa.Table, keys: Sequence[str],
            aggregates: Sequence[tuple[str, str]]) -> pa.Table:
    """``table`` per ``keys`` with each (column, ``sum``/``min``/``max``) of
    ``aggregates``, named as the column."""
    by = table.group_by(list(keys), use_threads=False).aggregate(list(aggregates))
    own = {f"{c}_{how}": c for c, how in aggregates}  # Arrow names them deaths_sum
    return by.rename_columns([own.get(c, c) for c in by.column_names])


def unit_codes(table: pa.Table) -> np.ndarray:
    """A code per unit (:data:`~riskatlas.analysis.scope.UNIT_KEYS`) of ``table``'s
    rows: 0, 1, … in order of appearance."""
    import pyarrow.compute as pc

    return codes(pc.binary_join_element_wise(*(table[c] for c in UNIT_KEYS), "\x1f"))


def codes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A code per distinct value of ``values``, for each of them (0, 1, … in order of
    appearance)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    indices = values.dictionary_encode(null_encoding="encode").indices  # none: a code too
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype="int64")


def floats(table: pa.Table, column: str) -> np.ndarray:
    """``table[column]`` as floats, 0 where none (or NaN, which imports never hold)."""
    import numpy as np

    values: np.ndarray = table[column].to_numpy(zero_copy_only=False).astype("float64")
    return np.where(np.isnan(values), 0.0, values)


def rows_in(frame: pd.DataFrame, table: pd.DataFrame, on: Sequence[str]) -> np.ndarray:
    """Per row of ``frame``: the position of the row of ``table`` (whose ``on`` values
    are distinct) with the same ``on`` values, −1 where none or a value is none: a left
    join's look-up without a join (a merge of thousands of units costs milliseconds).
    The values are joined by a control character (U+001F), which codes never hold."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def keys(f: pd.DataFrame) -> pa.Array:
        return pc.binary_join_element_wise(
            *(pa.array(f[c].astype("str"), pa.string()) for c in on), "\x1f")

    found = pc.index_in(keys(frame), value_set=keys(table), skip_nulls=True).fill_null(-1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype="int64")
