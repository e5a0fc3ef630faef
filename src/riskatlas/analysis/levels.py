"""Empirical return levels of an annual series, with a bootstrap interval (numpy).

Input: per unit × hazard, every year of record with a loss (the year's value of the
quantity); the other years of record count as 0. Rule (docs/methods.md, "Return levels"):
the year values sorted from the largest, rank ``m`` has the Weibull plotting position
T = (Y + 1) / m, so the level of T sits at rank r = (Y + 1) / T, interpolated linearly
between the neighbouring ranks. From T = Y on the level is the largest year observed
("record"; for T > Y "beyond_record": a lower bound, nothing is extrapolated).

Interval: the years of record are resampled with replacement (the same draws for every
unit with Y years, so a unit's interval does not depend on what else is in scope) and
the rule applied to each draw; ``level_low`` and ``level_high`` are the percentiles of
the draws at (1 ∓ confidence) / 2. Work grows with the years that have a loss, not with
units × years: a draw is the number of times each year is picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads on first use, not for every command
    import pandas as pd

QUANTITIES = ("annual_total", "annual_max_event")
BASES = ("interpolated", "record", "beyond_record")
# cells (draws × years with a loss) handled at once: bounds memory on any store
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Bootstrap:
    draws: int
    confidence: float
    seed: int


@dataclass(frozen=True)
class Positions:
    """Where each return period T falls among Y ranked years."""

    periods: np.ndarray  # T
    lo: np.ndarray       # rank at or above r (1 = largest)
    hi: np.ndarray       # the next rank down
    weight: np.ndarray   # weight of ``hi`` in the interpolation
    basis: np.ndarray    # interpolated | record | beyond_record


def positions(years: int, periods: np.ndarray) -> Positions:
    """The Weibull rank r = (Y + 1) / T of each T, clamped to [1, Y]; T ≥ Y takes rank 1."""
    t = np.asarray(periods, dtype="float64")
    rank = np.where(t >= years, 1.0, np.clip((years + 1) / t, 1.0, float(years)))
    lo = np.floor(rank).astype("int64")
    hi = np.minimum(lo + 1, years)
    basis = np.where(t > years, "beyond_record", np.where(t == years, "record",
                                                          "interpolated"))
    return Positions(t, lo, hi, rank - lo, basis)


def ranked(values: np.ndarray, starts: np.ndarray, counts: np.ndarray,
           ranks: np.ndarray) -> np.ndarray:
    """The ``ranks``-th largest year value of each group in each draw: (ranks, draws, groups).

    ``values``: the years with a loss, group by group, largest first (``starts``: where
    each group begins); ``counts`` (draws × years with a loss): how often each year was
    picked. Years without a loss fill the rest of a draw, so a rank past the picked loss
    years is 0. The q-th largest is the first year j whose running count reaches q.
    """
    sizes = np.diff(np.append(starts, len(values)))
    group = np.repeat(np.arange(len(starts)), sizes)
    running = np.cumsum(counts, axis=1)
    before = np.where(starts > 0, running[:, np.maximum(starts - 1, 0)], 0)
    running -= before[:, group]
    out = np.empty((len(ranks), counts.shape[0], len(starts)))
    for i, q in enumerate(ranks):
        # per group: how many of its largest years are picked fewer than q times in all
        above = np.add.reduceat(running < q, starts, axis=1, dtype=np.int64)
        found = above < sizes
        out[i] = np.where(found, values[starts + np.minimum(above, sizes - 1)], 0.0)
    return out


def year_counts(years: int, boot: Bootstrap) -> np.ndarray:
    """How often each of ``years`` years is picked in each draw (draws × years); seeded by
    the methods profile and the record length only."""
    rng = np.random.default_rng([boot.seed, years])
    picks = rng.integers(0, years, size=(boot.draws, years))
    picks += np.arange(boot.draws)[:, None] * years
    return np.bincount(picks.ravel(), minlength=boot.draws * years).reshape(boot.draws, years)


def levels_of(values: np.ndarray, starts: np.ndarray, where: np.ndarray, counts: np.ndarray,
              at: Positions, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, low and high (groups × T) of groups sharing one record length; ``where``:
    each value's year as an offset into the period; ``counts``: the draws (draws × years)."""
    ranks = np.unique(np.concatenate([at.lo, at.hi[at.weight > 0]]))
    lo, hi = np.searchsorted(ranks, at.lo), np.searchsorted(ranks, at.hi)

    def interpolate(s: np.ndarray) -> np.ndarray:  # (ranks, draws, groups) → (T, draws, groups)
        return np.stack([s[lo[i]] if at.weight[i] == 0 else
                         s[lo[i]] * (1 - at.weight[i]) + s[hi[i]] * at.weight[i]
                         for i in range(len(at.periods))])

    level = interpolate(ranked(values, starts, np.ones((1, len(values)), "int64"), ranks))[:, 0]
    draws = interpolate(ranked(values, starts, counts[:, where], ranks))
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=1)
    return level.T, low.T, high.T


def return_levels(annual: pd.DataFrame, keys: list[str], periods: list[float],
                  boot: Bootstrap) -> pd.DataFrame:
    """Return levels per group of ``keys`` × T (the configured periods and Y itself).

    ``annual``: one row per group × year with a loss: ``keys``, ``year``, ``value`` (> 0),
    ``years``, ``period_from``, ``period_to`` (the years of record of the group).
    """
    import pandas as pd

    columns = [*keys, "return_period_years", "level", "level_low", "level_high", "basis",
               "years", "period_from", "period_to", "years_with_loss", "observed_max",
               "observed_max_year"]
    annual = annual[(annual["year"] >= annual["period_from"])
                    & (annual["year"] <= annual["period_to"])]
    if not len(annual):
        return pd.DataFrame(columns=columns)
    annual = annual.sort_values([*keys, "value", "year"], ascending=[True] * len(keys)
                                + [False, False], kind="stable").reset_index(drop=True)
    frames = []
    for years, rows in annual.groupby("years", sort=True):
        y = int(years)
        at = positions(y, np.array(sorted({*map(float, periods), float(y)})))
        first = rows.drop_duplicates(keys)  # each group's largest year
        starts_all = np.flatnonzero(~rows.duplicated(keys).to_numpy())
        counts = year_counts(y, boot)
        parts = []
        for a, b in _chunks(starts_all, len(rows), boot.draws, len(at.periods)):
            chunk = rows.iloc[starts_all[a]:(starts_all[b] if b < len(starts_all)
                                             else len(rows))]
            starts = starts_all[a:b] - starts_all[a]
            where = (chunk["year"] - chunk["period_from"]).to_numpy("int64")
            parts.append(levels_of(chunk["value"].to_numpy("float64"), starts, where,
                                   counts, at, boot.confidence))
        level, low, high = (np.concatenate([p[i] for p in parts]) for i in range(3))
        n = len(at.periods)
        sizes = np.diff(np.append(starts_all, len(rows)))
        out = first.loc[:, [*keys, "years", "period_from", "period_to"]].reset_index(drop=True)
        out = out.loc[out.index.repeat(n)].reset_index(drop=True)
        out["return_period_years"] = np.tile(at.periods, len(first))
        out["level"], out["level_low"], out["level_high"] = (
            level.ravel(), low.ravel(), high.ravel())
        out["basis"] = np.tile(at.basis, len(first))
        out["years_with_loss"] = np.repeat(sizes, n)
        out["observed_max"] = np.repeat(first["value"].to_numpy("float64"), n)
        out["observed_max_year"] = np.repeat(first["year"].to_numpy("int64"), n)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)[columns]


def describe(attrs: dict[str, Any], lang: str) -> str:
    """What return levels count (the quantity) and their interval, from a result's attrs,
    in ``lang``; "" for another result."""
    from riskatlas.i18n import translate

    if attrs.get("analysis") != "return_levels" or "quantity" not in attrs:
        return ""
    return translate(f"analysis.levels_{attrs['quantity']}", lang,
                     metric=translate(f"metric.{attrs['metric']}", lang),
                     confidence=f"{100 * attrs['confidence']:g}",
                     draws=f"{attrs['bootstrap_draws']:,}")


def _chunks(starts: np.ndarray, total: int, draws: int, periods: int
            ) -> list[tuple[int, int]]:
    """Runs of whole groups (indices into ``starts``) holding at most CHUNK_CELLS draws ×
    years with a loss, and draws × groups × (3 T) values at once."""
    ends = np.append(starts[1:], total)
    cells = max(CHUNK_CELLS // max(draws, 1), 1)
    groups = max(CHUNK_CELLS // max(draws * 3 * periods, 1), 1)
    bounds, a = [], 0
    while a < len(starts):
        b = int(np.searchsorted(ends, starts[a] + cells, side="right"))
        b = min(max(b, a + 1), a + groups)
        bounds.append((a, b))
        a = b
    return bounds
