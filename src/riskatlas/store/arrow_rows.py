"""Python values to Arrow columns without pyarrow's object conversion.

``pa.array(list)`` first asks whether the list is a pandas object, and to ask it imports
pandas (0.3 s, 40 MB) in a process that never uses it: the import's main process builds its
small tables (admin units, quality issues, section rows) this way instead. Text, integer and
float columns are built directly; any other type goes through ``pa.array``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_NUMPY = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32,
          pa.int64(): np.int64, pa.float32(): np.float32, pa.float64(): np.float64}


def column(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """One Arrow column of ``type_`` from Python values, None as null."""
    if type_ == pa.string():
        builder = pa.lib.StringBuilder()
        builder.append_values(values)  # str or UTF-8 bytes
        return builder.finish()
    dtype = _NUMPY.get(type_)
    if dtype is None:
        return pa.array(values, type_)
    n = len(values)
    null = np.fromiter((v is None for v in values), bool, n)
    data = np.fromiter((0 if v is None else v for v in values), dtype, n)
    nulls = int(null.sum())
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(type_, n, [validity, pa.py_buffer(data)], null_count=nulls)


def table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from row tuples in the schema's column order."""
    return pa.Table.from_arrays(
        [column([r[i] for r in rows], f.type) for i, f in enumerate(schema)], schema=schema)
