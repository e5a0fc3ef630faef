"""Analysis results as DataFrames that say what they are.

Each result carries, in ``frame.attrs``, the analysis, its scope, the engine and the
methods profile (version and digest) it used, plus notes such as "absolute values: no
population loaded". Hazard keys get their names in the reader's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import NO_COUNTRY, UNMAPPED, Scope
from riskatlas.model.countries import country_name
from riskatlas.model.hazards import hips_types, reporting_groups


def hazard_name(key: str | None, lang: str = "en") -> str | None:
    """The name of a hazard key: a reporting group, a HIPs code or a source term."""
    if not isinstance(key, str):  # None, or NaN from a pandas column
        return None
    groups = reporting_groups()
    if key in groups:
        return groups[key].name(lang)
    hips = hips_types()
    if key in hips:
        return hips[key].name_en
    return key.removeprefix(UNMAPPED)


def labelled(frame: pd.DataFrame, *, analysis: str, scope: Scope, methods: Methods,
             engine: str, lang: str = "en", notes: Sequence[str] = (),
             extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """``frame`` with hazard and country names filled in and its provenance in attrs."""
    frame = frame.reset_index(drop=True)
    if "hazard" in frame.columns:
        names = {k: hazard_name(k, lang) for k in frame["hazard"].unique()}
        at = list(frame.columns).index("hazard") + 1
        frame.insert(at, "hazard_name", frame["hazard"].map(names))
    if "admin_name" in frame.columns and scope.level is None and len(frame):
        frame["admin_name"] = [
            country_name(c, lang) if c != NO_COUNTRY else c for c in frame["country_iso3"]]
    frame.attrs = {"analysis": analysis, "scope": scope.describe(), "engine": engine,
                   **methods.stamp(), "notes": list(notes), **(extra or {})}
    return frame


def sort_rows(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows in a stable order (engines return them in any order)."""
    present = [k for k in keys if k in frame.columns]
    return frame.sort_values(present, kind="stable").reset_index(drop=True) if present \
        else frame
