"""Open the store a path or URL names: a DuckDB file, or a PostgreSQL database."""

from __future__ import annotations

import os
from typing import Any

from riskatlas.paths import is_postgres
from riskatlas.store.store import Store


def open_store(path: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """``Store(path, **options)``, or a :class:`~riskatlas.store.postgres.PgStore` when
    ``path`` (else $RISKATLAS_DB) is a ``postgresql://`` URL."""
    if is_postgres(path):
        from riskatlas.store.postgres import PgStore

        return PgStore(path, **options)
    return Store(path, **options)
