"""Where the store is, by the one rule every view uses (and light enough for start-up)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "riskatlas.duckdb"
PG_SCHEMES = ("postgresql://", "postgres://")


def resolve_db(path: str | os.PathLike[str] | None) -> Path:
    """The store path: the argument, else $RISKATLAS_DB, else ./riskatlas.duckdb."""
    return Path(path or os.environ.get("RISKATLAS_DB") or DEFAULT_DB)


def db_url(path: str | os.PathLike[str] | None) -> str | None:
    """The PostgreSQL URL the argument (else $RISKATLAS_DB) names, if it names one
    (``postgresql://user@host:port/database``); None for a DuckDB file."""
    text = os.fspath(path) if path else os.environ.get("RISKATLAS_DB") or ""
    if isinstance(path, Path) and text.startswith(("postgresql:/", "postgres:/")) \
            and not text.startswith(PG_SCHEMES):
        text = text.replace(":/", "://", 1)  # a URL that went through Path (one slash)
    return text if text.startswith(PG_SCHEMES) else None


def is_postgres(path: str | os.PathLike[str] | None) -> bool:
    return db_url(path) is not None
