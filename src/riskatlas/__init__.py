"""RiskAtlas: regional, hazard-specific disaster risk from disaster-loss databases.

>>> import riskatlas
>>> with riskatlas.open("riskatlas.duckdb") as atlas:
...     atlas.import_paths(["DI_export_grd.zip"])
"""

from __future__ import annotations

__version__ = "0.1.0"

from riskatlas.api import Atlas, open  # noqa: E402
from riskatlas.errors import (  # noqa: E402
    MappingError,
    RecordError,
    RiskAtlasError,
    SourceFormatError,
    StoreError,
)

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
