"""Where the store is, by the one rule every view uses (and light enough for start-up)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "riskatlas.duckdb"


def resolve_db(path: str | os.PathLike[str] | None) -> Path:
    """The store path: the argument, else $RISKATLAS_DB, else ./riskatlas.duckdb."""
    return Path(path or os.environ.get("RISKATLAS_DB") or DEFAULT_DB)
