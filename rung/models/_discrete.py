"""A greedy coordinate-wise search of an acquisition over the discrete dimensions of the encoded space.

L-BFGS-B (`maximize_acquisition`, `rung.search._ehvi.maximize`) moves a relaxation of the numeric
columns and snaps the result, and moves no one-hot column at all; random and local candidates
reach a discrete optimum only by chance. From the best few points, this search tries every
option of every discrete dimension in turn, the others held (each point's whole neighbourhood
scored in one call), and moves each point to its best neighbour while that improves the
acquisition, as Optuna's `GPSampler` searches its discrete parameters (`optuna/_gp/optim_mixed.py`:
every choice of a categorical, or of an integer with at most 16 values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Choice", "discrete_search", "distinct"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Choice:
    """One discrete dimension of the encoded space: where it starts and its options' encodings.

    Attributes:
        start: Its first column.
        values: (k, width): row i is option i's encoding in columns `start` to `start + width`
            (one column, the middle of a rank's cell, for an ordered choice; one-hot rows for a
            category).
    """

    start: int
    values: Array


def discrete_search(
    score: Callable[[Array], Array],
    starts: Array,
    choices: Sequence[Choice],
    budget: int,
) -> tuple[Array, Array]:
    """Steepest ascent of `score` from each of `starts` over single-dimension moves of `choices`.

    Each sweep scores, for every start that still improves, every point that differs from it in
    one discrete dimension (the sum of the options' counts); each moves to its best neighbour if
    that scores higher. Ends when no start improves or when the next sweep would score more than
    `budget` points in all (then the best starts the rest allows go on alone): the cost of a
    proposal is bounded by `budget` scored points, whatever the space.

    Returns:
        The points reached and their scores (one per start; the starts themselves if nothing
        improved or the budget allows no sweep).
    """
    points = starts.copy()
    values = score(points)
    if not choices or not len(points):
        return points, values
    size = sum(len(c.values) for c in choices)
    active = np.argsort(-values, kind="stable")
    while len(active) and budget >= size:
        active = active[: budget // size]
        budget -= size * len(active)
        neighbours = np.repeat(points[active, None, :], size, axis=1)
        offset = 0
        for choice in choices:
            k, width = choice.values.shape
            neighbours[:, offset : offset + k, choice.start : choice.start + width] = choice.values
            offset += k
        scores = score(neighbours.reshape(-1, points.shape[1])).reshape(len(active), size)
        best = np.argmax(scores, axis=1)
        top = scores[np.arange(len(active)), best]
        better = top > values[active]
        moved = active[better]
        points[moved] = neighbours[better, best[better]]
        values[moved] = top[better]
        active = moved
    return points, values


def distinct(points: Array, k: int) -> Array:
    """The first `k` distinct rows of `points` (fewer if there are fewer), in their order."""
    out: list[Array] = []
    for x in points:
        if len(out) == k:
            break
        if not any(np.array_equal(x, y) for y in out):
            out.append(x)
    return np.array(out).reshape(len(out), points.shape[1])
