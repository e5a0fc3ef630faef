"""A served copy of the store (the web app's readers, :mod:`riskatlas.web.snapshot`):
its connection, memory capped and without progress bars, and the :class:`Memo` of what
readers compute from it while it does not change."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from riskatlas.store.memo import Memo

if TYPE_CHECKING:
    import duckdb

__all__ = ["Memo", "connect_copy"]


def connect_copy(path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A connection to a private copy of a store, its memory capped at ``memory_limit``."""
    import duckdb

    connection = duckdb.connect(str(path), config={"memory_limit": memory_limit})
    connection.execute("SET enable_progress_bar = false")
    return connection
