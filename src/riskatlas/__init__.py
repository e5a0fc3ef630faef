"""RiskAtlas: regional, hazard-specific disaster risk from disaster-loss databases.

>>> import riskatlas
>>> with riskatlas.open("riskatlas.duckdb") as atlas:
...     atlas.import_paths(["DI_export_grd.zip"])
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from riskatlas.errors import (
    MappingError,
    RecordError,
    RiskAtlasError,
    SourceFormatError,
    StoreError,
)

if TYPE_CHECKING:
    from riskatlas.api import Atlas, open

__all__ = [
    "Atlas",
    "MappingError",
    "RecordError",
    "RiskAtlasError",
    "SourceFormatError",
    "StoreError",
    "__version__",
    "open",
]


def __getattr__(name: str) -> Any:
    # the API (DuckDB, Ibis, pandas) is imported on first use, so that import workers,
    # which only parse, stay small
    if name in ("Atlas", "open", "api"):
        import importlib

        api = importlib.import_module("riskatlas.api")
        return api if name == "api" else getattr(api, name)
    raise AttributeError(name)
