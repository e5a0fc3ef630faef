"""A served copy of the store (the web app's readers, :mod:`riskatlas.web.snapshot`):
its connection, memory capped and without progress bars, the :class:`Memo` of what
readers compute from it while it does not change, and :func:`eager` for work done on it
ahead of requests (query shapes compiled at once: :mod:`riskatlas.analysis.compiled`),
whose templates a server keeps across its restarts (:func:`for_server`,
:func:`save_templates`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from riskatlas.analysis.compiled import eager, for_server, save_templates
from riskatlas.store.memo import Memo

if TYPE_CHECKING:
    import duckdb

__all__ = ["Memo", "connect_copy", "eager", "for_server", "save_templates"]


def connect_copy(path: Path, memory_limit: str, threads: int | None = None
                 ) -> duckdb.DuckDBPyConnection:
    """A connection to a private copy of a store, its memory capped at ``memory_limit``,
    its queries run on ``threads`` (None: DuckDB's default, every core)."""
    import duckdb

    # the allocator's background threads give freed memory back to the system: without
    # them a served worker kept ~170 MB its copy's preparation had freed (437 against
    # 269 MB of RSS once prepared). The setting is the process's (DuckDB's allocator on
    # Linux), not the copy's: every connection of a serving process has it.
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit, "allocator_background_threads": True}
    if threads is not None:
        config["threads"] = threads
    connection = duckdb.connect(str(path), config=config)
    connection.execute("SET enable_progress_bar = false")
    return connection
