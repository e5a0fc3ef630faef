"""The record browser: any page of the records matching a filter, newest first (start
date descending, undated records last, then record id), quickly on millions of records.

Asked of the records table, page 800 of a million records sorted by (start_date,
record_id) sorts every match, wide rows and all (about 0.3 s). A served copy of the store
therefore gets an index on first use (``web_browse``): every record but its raw source
row, with its position ``seq`` in that order, stored in that order. For each filter the
browser then keeps the total and every 256th matching ``seq`` (the checkpoints), so a page
reads only the stretch of the index between two checkpoints, which DuckDB finds from its
zone maps. The filter is an Ibis expression over the index (user text only ever a bound
literal), compiled once per filter; totals, checkpoints and compiled filters live in the
copy's memo. A store read directly (``--no-snapshot``) gets the same index as a temporary
view, recomputed by each request: slower, same answers.

Who sees what: on a connection restricted to published cards (see
:meth:`riskatlas.store.store.Store.show_published_only`) the index is filtered the same
way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from riskatlas.analysis.scope import filter_records
from riskatlas.store import browse as index
from riskatlas.store.memo import Memo

if TYPE_CHECKING:
    from riskatlas.store.store import Store

TABLE = "web_browse"
ORDER = index.ORDER
STRIDE = 256  # matches between two checkpoints

# the columns of the browser's page (the API's rows carry every column but the raw row)
PAGE_COLUMNS = ("record_id", "dataset_id", "country_iso3", "level0_code", "level0_name",
                "level1_code", "level1_name", "level2_code", "level2_name", "place",
                "start_date", "hazard_term", "hazard_group", "deaths", "missing", "injured",
                "directly_affected", "houses_destroyed", "houses_damaged", "comments",
                "approval_status")


@dataclass(frozen=True)
class Matches:
    """What the browser keeps of one filter: its compiled SQL (every index column of the
    matching rows), the number of matches and every ``STRIDE``-th matching ``seq``."""

    sql: str
    total: int
    checkpoints: np.ndarray

    def window(self, offset: int, size: int) -> tuple[int, int | None, int]:
        """(first seq, seq past the end or None, matches to skip) around a page."""
        first = offset // STRIDE
        end = (offset + size - 1) // STRIDE + 1
        upper = int(self.checkpoints[end]) if end < len(self.checkpoints) else None
        return int(self.checkpoints[first]), upper, offset - first * STRIDE


def matching(records: Any, *, text: str | None = None, status: str | None = None,
             **filters: Any) -> Any:
    """Records (or index rows) matching the filters of :func:`filter_records`, an approval
    status, and a text found (any case) in their place or comments."""
    r = filter_records(records, **filters)
    if status:
        r = r.filter(r.approval_status == status)
    needle = (text or "").strip().lower()
    if needle:
        r = r.filter(r.place.fill_null("").lower().contains(needle)
                     | r.comments.fill_null("").lower().contains(needle))
    return r


def _index(store: Store) -> Memo:
    """The index (a table of a served copy, built once; a view of the store itself) and
    the memo to keep this request's filters in."""
    memo = store.memo
    if memo is None:
        index.make_index(store, TABLE, stored=False)  # unsorted: pages sort by seq
        return Memo()
    memo.shared(("browse.index",), lambda: index.make_index(store, TABLE, stored=True))
    return memo


def _matches(store: Store, published_only: bool, filters: dict[str, Any]) -> Matches:
    expr = matching(store.table(TABLE), **filters)
    if published_only:
        expr = expr.filter(expr.approval_status == "published")
    sql = _sql(store, expr)
    seqs = index.seq_numbers(store, sql)
    return Matches(sql, len(seqs), np.asarray(seqs[::STRIDE], dtype=np.int64))


def _sql(store: Store, expr: Any) -> str:
    """``expr`` in DuckDB's dialect: on a DuckDB store, through its backend with the SQL
    kept per filter shape (analysis/compiled.py: a filter differs from the last in its
    values only, and Ibis' compilation was most of a records page)."""
    import ibis

    if store.dialect != "duckdb":
        return str(ibis.to_sql(expr, dialect="duckdb"))
    from riskatlas.analysis.compiled import install

    install(store.ibis)
    return str(store.ibis.compile(expr))


def search(store: Store, *, page: int = 1, page_size: int = 50,
           columns: Sequence[str] | None = None, **filters: Any) -> tuple[int, pa.Table]:
    """(total, one page of the matching records), newest first (``ORDER_SQL``), with
    ``columns`` (default: every column but the raw source row)."""
    memo = _index(store)
    published_only = store.published_only
    key = (published_only, tuple(sorted((k, v) for k, v in filters.items()
                                        if v not in (None, ""))))
    found = memo.get(("browse", key), lambda: _matches(store, published_only, filters))
    names = list(columns) if columns else [
        c for c in memo.shared(("browse.columns",), lambda: store.table(TABLE).columns)
        if c != "seq"]
    offset = (max(page, 1) - 1) * page_size
    if offset >= found.total:
        return found.total, index.empty_page(store, TABLE, names)
    lower, upper, skip = found.window(offset, page_size)
    return found.total, index.read_page(store, found.sql, names, lower, upper,
                                        page_size, skip)


def all_records(store: Store, **filters: Any) -> pd.DataFrame:
    """Every matching record (no raw source row) in browser order, for the downloads."""
    import ibis

    r = matching(store.table("records"), **filters)
    newest = ibis.desc(r.start_date, nulls_first=False)
    return r.order_by([newest, r.record_id]).drop("raw").to_pandas()
