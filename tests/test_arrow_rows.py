"""Python rows to Arrow without loading pandas (riskatlas.store.arrow_rows)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa

from riskatlas.store import arrow_rows

SCHEMA = pa.schema([("name", pa.string()), ("level", pa.int32()), ("lon", pa.float64()),
                    ("row", pa.int64()), ("day", pa.date32())])
ROWS = [("Saint George's", 1, -61.7, 10**15, None),
        (None, None, None, None, None),
        ("臺中市", 2, 0.0, -3, None)]


def test_same_table_as_pyarrow_builds() -> None:
    got = arrow_rows.table(ROWS, SCHEMA)
    want = pa.table({f.name: [r[i] for r in ROWS] for i, f in enumerate(SCHEMA)}, schema=SCHEMA)
    assert got.equals(want)
    assert got.column("level").null_count == 1
    assert got.to_pylist()[1] == dict.fromkeys(SCHEMA.names)


def test_empty_and_bytes() -> None:
    assert arrow_rows.table([], SCHEMA).num_rows == 0
    assert arrow_rows.column([b"{\"a\": 1}", None], pa.string()).to_pylist() == ['{"a": 1}', None]


def test_the_commits_tables_leave_pandas_unloaded(tmp_path: Path) -> None:
    """The commit's small tables (units, issues, sections, quarantine) load no pandas."""
    script = textwrap.dedent("""
        import sys
        import pyarrow as pa
        from riskatlas.store import arrow_rows
        from riskatlas.store.batch import (ISSUE_SCHEMA, QUARANTINE_SCHEMA, SECTION_SCHEMA,
                                           UNIT_SCHEMA)
        for schema in (ISSUE_SCHEMA, QUARANTINE_SCHEMA, SECTION_SCHEMA, UNIT_SCHEMA):
            row = tuple(None if i % 2 else (1 if f.type != pa.string() else "x")
                        for i, f in enumerate(schema))
            arrow_rows.table([row] * 3, schema)
        print("pandas" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"
