"""DuckDB queries of Ibis run with one parse and bind instead of two.

Ibis runs a query as ``con.sql(text).to_arrow_table()``. In DuckDB 2's relation layer
``con.sql`` parses and binds the text to describe the relation it returns, and fetching
it parses, binds, plans and runs the text again. For the analyses' queries (several KB of
SQL over a few rows: a small country's, or a window of kept sums) the first bind is a
third of the query's time: an event-forming query of 13 KB takes 31 ms against 20 ms run
once. Fetching a large result costs the same either way. So a query fetched as Arrow is
submitted once (``duckdb._seam.submit``, what the relation's own fetch calls); anything
else a caller asks of the relation is asked of ``con.sql`` as before, and so is every
query on a DuckDB without that seam (or whose seam is called otherwise).
"""

from __future__ import annotations

import inspect
from typing import Any


def _the_seam() -> Any:
    """DuckDB's ``_seam`` module when it submits as this module calls it (its private
    API, DuckDB 2), else None: another DuckDB's own relations."""
    try:
        from duckdb import _seam as seam
        parameters = list(inspect.signature(seam.submit).parameters)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return seam if parameters[:4] == ["con", "sql", "values", "format"] else None


_seam = _the_seam()


class Submitted:
    """A query as Ibis' DuckDB backend uses a relation: fetched as Arrow with one
    submission; any other use goes to ``con.sql(text)``."""

    __slots__ = ("con", "text")

    def __init__(self, con: Any, text: str) -> None:
        self.con, self.text = con, text

    def to_arrow_table(self) -> Any:
        if _seam is None:
            return self.con.sql(self.text).to_arrow_table()
        return _seam.submit(self.con, self.text, None, "arrow").arrow_table()

    def __getattr__(self, name: str) -> Any:
        if name in Submitted.__slots__:  # unset (a copy): not the relation's
            raise AttributeError(name)
        return getattr(self.con.sql(self.text), name)


def install(backend: Any) -> None:
    """Make ``backend`` (an Ibis DuckDB backend) fetch its queries' results submitted
    once; a geospatial result keeps Ibis' way (it loads an extension first)."""
    plain = backend._to_duckdb_relation

    def to_relation(expr: Any, *, params: Any = None, limit: Any = None,
                    **kwargs: Any) -> Any:
        table = expr.as_table()
        if table.schema().geospatial:
            return plain(expr, params=params, limit=limit, **kwargs)
        backend._run_pre_execute_hooks(expr)
        return Submitted(backend.con, backend.compile(table, limit=limit, params=params,
                                                      **kwargs))

    backend._to_duckdb_relation = to_relation
