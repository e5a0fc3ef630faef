"""The record browser of the web app: :mod:`riskatlas.services.browse` over a request's
store (a served copy keeps the browser's index and filters in its memo)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from riskatlas.api import Atlas
from riskatlas.services import browse as service
from riskatlas.services.browse import ORDER, PAGE_COLUMNS, STRIDE, TABLE, matching

__all__ = ["ORDER", "PAGE_COLUMNS", "STRIDE", "TABLE", "all_records", "matching", "search"]


def search(atlas: Atlas, *, page: int = 1, page_size: int = 50,
           columns: Sequence[str] | None = None, **filters: Any) -> tuple[int, pa.Table]:
    """(total, one page of the matching records), newest first, with
    ``columns`` (default: every column but the raw source row)."""
    return service.search(atlas.store, page=page, page_size=page_size, columns=columns,
                          **filters)


def all_records(atlas: Atlas, **filters: Any) -> pd.DataFrame:
    """Every matching record (no raw source row) in browser order, for the downloads."""
    return service.all_records(atlas.store, **filters)
