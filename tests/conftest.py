"""Shared fixtures: the real data in ../shared/data and fresh stores.

Tests that need ../shared/data skip with a clear reason when it is absent; .ci/run sets
RISKATLAS_REQUIRE_SHARED_DATA=1, which turns those skips into failures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import riskatlas

SHARED_DATA = Path(os.environ.get("RISKATLAS_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")
TEST_DATA = Path(__file__).parent / "data"


def shared(relative: str) -> Path:
    """A path in ../shared/data; skips (or fails when required) if it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"needs ../shared/data/{relative} (real DesInventar/national data), absent here"
        if os.environ.get("RISKATLAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason + "; RISKATLAS_REQUIRE_SHARED_DATA=1 makes it mandatory")
        pytest.skip(reason)
    return path


@pytest.fixture
def atlas(tmp_path: Path):
    """A fresh, empty store."""
    with riskatlas.open(tmp_path / "test.duckdb") as store:
        yield store
