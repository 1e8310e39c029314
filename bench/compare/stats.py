"""Anytime regret from a run's reports, medians with bootstrap intervals, and time to reach a regret.

A run's regret at recorded time `t` is the table's best value minus the best value reported up to
`t` (infinite before the first report). Everything here works on the improvements of that running
best: `times` (increasing) and `regrets` (decreasing), as `regret_steps` makes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["median_ci", "regret_at", "regret_grid", "regret_steps", "time_to_reach", "upper_median"]


def regret_steps(t: Sequence[float], values: Sequence[float], best: float) -> tuple[np.ndarray, np.ndarray]:
    """The times at which the running best improved, and the regret from each on (mode "max").

    Args:
        t: recorded seconds of each report (any order).
        values: the reported values (NaN reports are ignored).
        best: the best value the table holds.

    Returns:
        `(times, regrets)`: increasing times and strictly decreasing regrets (`best - running best`).
    """
    if len(t) != len(values):
        raise ValueError(f"regret_steps needs one time per value; got {len(t)} times and {len(values)} values")
    order = np.argsort(np.asarray(t, dtype=np.float64), kind="stable")
    times = np.asarray(t, dtype=np.float64)[order]
    vals = np.asarray(values, dtype=np.float64)[order]
    keep_t: list[float] = []
    keep_r: list[float] = []
    running = -math.inf
    for when, value in zip(times.tolist(), vals.tolist(), strict=True):
        if value > running:  # False for NaN
            running = value
            if keep_t and keep_t[-1] == when:
                keep_r[-1] = best - value
            else:
                keep_t.append(when)
                keep_r.append(best - value)
    return np.array(keep_t), np.array(keep_r)


def regret_at(times: np.ndarray, regrets: np.ndarray, when: float) -> float:
    """The regret at `when` (reports at exactly `when` count); infinite before the first report."""
    index = int(np.searchsorted(times, when, side="right")) - 1
    return math.inf if index < 0 else float(regrets[index])


def regret_grid(times: np.ndarray, regrets: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """`regret_at` at every point of `grid`."""
    index = np.searchsorted(times, grid, side="right") - 1
    padded = np.concatenate([[math.inf], regrets])
    result: np.ndarray = padded[index + 1]
    return result


def time_to_reach(times: np.ndarray, regrets: np.ndarray, target: float, budget: float) -> float:
    """The first time the regret is at most `target` (within 1e-9), or infinity if not by `budget`."""
    reached = np.nonzero(regrets <= target + 1e-9)[0]
    if reached.size == 0 or times[reached[0]] > budget:
        return math.inf
    return float(times[reached[0]])


def upper_median(values: Sequence[float]) -> float:
    """The median of an odd count; the higher of the two middle values of an even count.

    A value one of the runs reached, so that at least half of them reach it.
    """
    if len(values) == 0:
        raise ValueError("upper_median needs at least one value; got none")
    ordered = sorted(values)
    return float(ordered[len(ordered) // 2])


def median_ci(
    values: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """The median of `values` and its percentile-bootstrap interval.

    The seeds' values are resampled with replacement `resamples` times (a generator seeded with
    `seed`, so the interval is reproducible); the interval holds the middle `level` of the
    resampled medians (order statistics, so infinite values, e.g. "not reached", stay exact).

    Returns:
        `(median, low, high)`.
    """
    if len(values) == 0:
        raise ValueError("median_ci needs at least one value; got none")
    if not 0 < level < 1:
        raise ValueError(f"median_ci needs 0 < level < 1; got level={level!r}")
    if resamples < 1:
        raise ValueError(f"median_ci needs resamples >= 1; got resamples={resamples!r}")
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    medians = np.sort(np.median(data[picks], axis=1))
    tail = (1 - level) / 2
    low = medians[math.floor(tail * resamples)]
    high = medians[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    return float(np.median(data)), float(low), float(high)
