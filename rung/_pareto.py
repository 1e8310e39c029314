"""Pareto dominance on losses (rows of a 2-D array, every column minimised): non-domination ranks,
the epsilon-net order MO-ASHA breaks ties with, and exact hypervolume. Re-exported by `rung.objectives`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["epsilon_net_order", "front_of", "hypervolume", "pareto_ranks"]

Array = NDArray[np.float64]


def pareto_ranks(losses: Array, until: int | None = None) -> NDArray[np.intp]:
    """Each row's non-domination rank: 0 for the rows no other row dominates, 1 for those only rank-0
    rows dominate, and so on (a row dominates another when it is <= in every column and < in one).

    `until`: stop once at least this many rows are ranked; the rest get the next rank (what a caller
    that needs only the best `until` rows reads, as Optuna's MOTPE does). Rows must be finite.
    """
    n = len(losses)
    ranks = np.full(n, -1, dtype=np.intp)
    left = np.arange(n)
    rank, ranked = 0, 0
    while len(left):
        dominated = _dominated(losses[left])
        ranks[left[~dominated]] = rank
        ranked += int((~dominated).sum())
        left = left[dominated]
        rank += 1
        if until is not None and ranked >= until:
            break
    ranks[left] = rank
    return ranks


def front_of(losses: Array, row: int) -> tuple[int, NDArray[np.intp]]:
    """How many rows rank before `row`'s non-domination rank, and the rows of that rank (peeling
    fronts only until `row`'s is reached: what one decision of MO-ASHA needs)."""
    left = np.arange(len(losses))
    before = 0
    while True:
        dominated = _dominated(losses[left])
        front = left[~dominated]
        if row in front:
            return before, front
        before += len(front)
        left = left[dominated]


def _dominated(points: Array) -> NDArray[np.bool_]:
    """Which rows some other row dominates."""
    if points.shape[1] == 2:
        return _dominated_2d(points)
    dominated = np.zeros(len(points), dtype=bool)
    for i in range(len(points)):
        le = np.all(points <= points[i], axis=1)
        lt = np.any(points < points[i], axis=1)
        dominated[i] = bool(np.any(le & lt))
    return dominated


def _dominated_2d(points: Array) -> NDArray[np.bool_]:
    """Which rows of an n x 2 array some other row dominates: one sort, and a running minimum of the
    second column (vectorised: schedulers ask this at every result)."""
    order = np.lexsort((points[:, 1], points[:, 0]))  # by the first column, ties by the second
    first, second = points[order, 0], points[order, 1]
    # Dominated: some row before it in this order (first <=, and second <= when first is equal) has a
    # second value <= its own; an equal row dominates neither, so equal rows share their first's answer.
    before = np.minimum.accumulate(np.concatenate(([math.inf], second[:-1])))
    sorted_dominated = second >= before
    if len(order) > 1:
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        sorted_dominated = sorted_dominated[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    dominated = np.zeros(len(points), dtype=bool)
    dominated[order] = sorted_dominated
    return dominated


def epsilon_net_order(points: Array) -> NDArray[np.intp]:
    """An order of the rows that spreads them out: the row best in the first column, then each time
    the row farthest (Euclidean, columns scaled to [0, 1] over these rows) from those already taken.

    MO-ASHA (Schmucker et al. 2021) breaks ties within a non-dominated front so (Clarkson's epsilon-net):
    the first rows of the order cover the front, rather than crowding one end of it.
    """
    n = len(points)
    if n <= 1:
        return np.arange(n)
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / np.where(high > low, high - low, 1.0)
    first = int(np.lexsort((np.arange(n), scaled[:, 0]))[0])
    order = [first]
    nearest = np.linalg.norm(scaled - scaled[first], axis=1)
    nearest[first] = -1.0
    for _ in range(n - 1):
        pick = int(np.argmax(nearest))  # ties: the lowest index
        order.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[pick], axis=1))
        nearest[order] = -1.0
    return np.array(order, dtype=np.intp)


def hypervolume(points: Array, reference: Sequence[float] | Array) -> float:
    """The volume dominated by the rows (losses) and bounded by `reference` (rows not below it in
    every column add nothing). Exact: a sweep in two dimensions, slicing along the last column above."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if len(ref) == 1:
        return float(ref[0] - pts[:, 0].min())
    if len(ref) == 2:
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        volume, floor = 0.0, float(ref[1])
        for a, b in pts:
            if b < floor:
                volume += (ref[0] - a) * (floor - b)
                floor = float(b)
        return volume
    # Slices along the last column: between consecutive values, the (m-1)-volume of the rows below.
    pts = pts[np.argsort(pts[:, -1])]
    volume = 0.0
    for i in range(len(pts)):
        top = ref[-1] if i + 1 == len(pts) else pts[i + 1, -1]
        if top > pts[i, -1]:
            volume += hypervolume(pts[: i + 1, :-1], ref[:-1]) * (top - pts[i, -1])
    return float(volume)
