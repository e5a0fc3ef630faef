"""Mann-Kendall trend test with Sen's slope, for short annual series.

A trend is reported only with at least ``min_years`` values and a two-sided p-value below
``alpha``; otherwise the verdict says why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

Verdict = Literal["increasing", "decreasing", "no_trend", "too_few_years"]


@dataclass(frozen=True)
class Trend:
    verdict: Verdict
    p_value: float | None
    slope_per_year: float | None  # Sen's slope
    years: int


def mann_kendall(values: np.ndarray, *, min_years: int = 10, alpha: float = 0.05) -> Trend:
    """Trend of an annual series (one value per consecutive year, zeros included)."""
    x = np.asarray(values, dtype="float64")
    n = len(x)
    if n < min_years:
        return Trend("too_few_years", None, None, n)
    if x.min() == x.max():  # a constant series (most units' years without a loss)
        return Trend("no_trend", 1.0, 0.0, n)
    i, j, gaps = _pairs(n)
    diffs = x[j] - x[i]
    s = float(np.sign(diffs).sum())
    _, ties = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18
    if var <= 0:  # a constant series
        return Trend("no_trend", 1.0, 0.0, n)
    z = (s - math.copysign(1, s)) / math.sqrt(var) if s else 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    slope = float(np.median(diffs / gaps))
    if p >= alpha:
        return Trend("no_trend", p, slope, n)
    return Trend("increasing" if s > 0 else "decreasing", p, slope, n)


@lru_cache(maxsize=256)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The index pairs i < j of a series of ``n`` years and their distance j - i."""
    i, j = np.triu_indices(n, k=1)
    return i, j, (j - i).astype("float64")
