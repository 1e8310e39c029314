"""TPE with several objectives (MOTPE, Ozaki et al. 2020/2022, as Optuna's `TPESampler` splits them).

TPE's model levels rank finished trials by one loss; with several objectives this module gives each
finished trial a loss whose order is MOTPE's: non-domination rank first (the front is rank 0), and
within a rank the order in which a greedy hypervolume subset selection (HSSP) picks the points, so
that the best `n` of this order are the `n` trials Optuna's MOTPE puts in its good group. Rank r's
trials get losses in [r, r + 1).
"""

from __future__ import annotations

import bisect

import numpy as np
from numpy.typing import NDArray

from rung.objectives import hypervolume, pareto_ranks

__all__ = ["motpe_losses"]

Array = NDArray[np.float64]
EPS = 1e-12
EXACT_MAX = 32
"""Above 2 objectives, ranks larger than this are ordered by their first objective rather than by
greedy hypervolume (each greedy step recomputes hypervolumes; 2 objectives need no such limit)."""


def reference_point(losses: Array) -> Array:
    """Optuna's reference point for a rank: 10% beyond its worst point in each objective."""
    worst = losses.max(axis=0)
    ref: Array = np.maximum(1.1 * worst, 0.9 * worst)
    ref[ref == 0] = EPS
    return ref


def hssp_order(losses: Array, count: int) -> list[int]:
    """The first `count` rows picked greedily, each adding the most hypervolume to those already picked
    (reference: `reference_point`); then the other rows by their first objective. Rows are mutually
    non-dominated (one rank)."""
    n = len(losses)
    count = min(count, n)
    ref = reference_point(losses)
    if losses.shape[1] == 2:
        picked = _greedy_2d(losses, ref, count)
    elif n <= EXACT_MAX:
        picked = _greedy_exact(losses, ref, count)
    else:
        picked = []
    taken = set(picked)
    rest = sorted((i for i in range(n) if i not in taken), key=lambda i: (tuple(losses[i]), i))
    return picked + rest


def _greedy_2d(losses: Array, ref: Array, count: int) -> list[int]:
    """Greedy HSSP on a 2-D front: a point's gain is the rectangle between it and its picked
    neighbours (by the first objective), so each step costs O(n log n)."""
    xs: list[float] = []  # the picked points' first objectives, sorted (their second ones fall)
    ys: list[float] = []
    picked: list[int] = []
    free = list(range(len(losses)))
    for _ in range(count):
        best, gain_best = -1, -1.0
        for i in free:
            x, y = float(losses[i, 0]), float(losses[i, 1])
            at = bisect.bisect_left(xs, x)
            right_x = xs[at] if at < len(xs) else float(ref[0])
            left_y = ys[at - 1] if at > 0 else float(ref[1])
            gain = max(right_x - x, 0.0) * max(left_y - y, 0.0)
            if gain > gain_best:  # ties: the lowest index
                best, gain_best = i, gain
        picked.append(best)
        free.remove(best)
        x = float(losses[best, 0])
        at = bisect.bisect_left(xs, x)
        xs.insert(at, x)
        ys.insert(at, float(losses[best, 1]))
    return picked


def _greedy_exact(losses: Array, ref: Array, count: int) -> list[int]:
    picked: list[int] = []
    free = list(range(len(losses)))
    volume = 0.0
    for _ in range(count):
        gains = [hypervolume(losses[[*picked, i]], ref) - volume for i in free]
        best = free[int(np.argmax(gains))]
        volume += max(gains)
        picked.append(best)
        free.remove(best)
    return picked


def motpe_losses(losses: Array, n_good: int) -> Array:
    """One loss per row (every column a loss) whose order is MOTPE's (see the module): rows ranked by
    non-domination until `n_good` are ranked, the rank where the good group ends ordered by greedy
    hypervolume (so are the ranks before it: their order weighs the good group; only the first `n_good`
    rows need it), the rows after it by their first objective."""
    n = len(losses)
    out = np.empty(n)
    if n == 0:
        return out
    ranks = pareto_ranks(losses, until=max(n_good, 1))
    below = 0
    for rank in range(int(ranks.max()) + 1):
        rows = np.flatnonzero(ranks == rank)
        if len(rows) == 0:
            continue
        if below < n_good:
            order = hssp_order(losses[rows], n_good - below)
        else:
            order = sorted(range(len(rows)), key=lambda i: (tuple(losses[rows[i]]), i))
        out[rows[order]] = rank + np.arange(len(rows)) / len(rows)
        below += len(rows)
    return out
