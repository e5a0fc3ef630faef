"""Fetched tables (Arrow) summed and keyed for the numpy steps of analyses: a served copy's
kept sums are summed here, with no query; rows are found by their keys (a look-up, not a
join) and units numbered by them."""

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
    """``table`` per ``keys`` with each (column, Arrow aggregate: ``sum``, ``min``,
    ``count_distinct``…) of ``aggregates``, named as the column."""
    by = table.group_by(list(keys), use_threads=False).aggregate(list(aggregates))
    own = {f"{c}_{how}": c for c, how in aggregates}  # Arrow names them deaths_sum
    return by.rename_columns([own.get(c, c) for c in by.column_names])


def joined_keys(table: pa.Table, keys: Sequence[str], *, nones_match: bool = True
                ) -> pa.ChunkedArray:
    """``keys`` joined into one string per row by a control character (U+001F), which
    codes never hold; a value none is another (U+0000) when ``nones_match``, else the
    row's key is none."""
    import pyarrow.compute as pc

    nones = {"null_handling": "replace", "null_replacement": "\x00"} if nones_match else {}
    return pc.binary_join_element_wise(*(table[k].cast("string") for k in keys), "\x1f",
                                       **nones)


def found(table: pa.Table, among: pa.Table, keys: Sequence[str], *,
          nones_match: bool = True) -> pa.ChunkedArray:
    """Each row's position in ``among`` (whose ``keys`` are distinct) by ``keys``, none
    where absent (:func:`joined_keys`)."""
    import pyarrow.compute as pc

    return pc.index_in(joined_keys(table, keys, nones_match=nones_match),
                       value_set=joined_keys(among, keys, nones_match=nones_match
                                             ).combine_chunks(), skip_nulls=True)


def lookup(table: pa.Table, among: pa.Table, keys: Sequence[str], *,
           nones_match: bool = True) -> np.ndarray:
    """:func:`found` as numpy, −1 where absent."""
    import numpy as np

    positions = found(table, among, keys, nones_match=nones_match).fill_null(-1)
    return np.asarray(positions.to_numpy(), dtype="int64")


def rows_in(frame: pd.DataFrame, table: pd.DataFrame, on: Sequence[str]) -> np.ndarray:
    """:func:`lookup` of frames, a key with a value none matching nothing: a left join's
    look-up without a join (a merge of thousands of units costs milliseconds)."""
    import pyarrow as pa

    def keys(f: pd.DataFrame) -> pa.Table:
        return pa.table({c: pa.array(f[c].astype("str"), pa.string()) for c in on})

    return lookup(keys(frame), keys(table), on, nones_match=False)


def unit_codes(table: pa.Table) -> np.ndarray:
    """A code per unit (:data:`~riskatlas.analysis.scope.UNIT_KEYS`) of ``table``'s
    rows: 0, 1, … in order of appearance."""
    return codes(joined_keys(table, UNIT_KEYS))


def codes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A code per distinct value of ``values``, for each of them (0, 1, … in order of
    appearance; none a value too)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    indices = values.dictionary_encode(null_encoding="encode").indices
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype="int64")


def floats(table: pa.Table, column: str) -> np.ndarray:
    """``table[column]`` as floats, 0 where none (or NaN, which imports never hold)."""
    import numpy as np

    values: np.ndarray = table[column].to_numpy(zero_copy_only=False).astype("float64")
    return np.where(np.isnan(values), 0.0, values)
