"""What a configuration costs, learnt from results: the model behind `TPE(cost_aware=True)`.

A configuration's cost is read per unit of training: its trial's `cost` (with `prices`) or else its
wall time (`time_total_s`), divided by its `training_iteration`, so trials stopped early by a
scheduler teach the model as much as those that ran to their end. The model is a ridge regression
of the log of that rate on the top level's encoding of the configuration (numbers in the unit cube,
ordinals by their position, one column per option of a choice): costs are usually products of
factors (`width` x `layers` / `batch_size`), which a line in log space fits, and a line needs few
trials to be useful.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rung._numbers import is_number

__all__ = ["MIN_TRIALS", "CostModel"]

Array = NDArray[np.float64]

MIN_TRIALS = 5
"""Trials with a known cost before the model is used (before, every candidate costs the same)."""

RIDGE = 0.1
"""The ridge penalty on the weights (not the intercept), against few trials and many columns."""


def rate(result: dict[str, Any]) -> float | None:
    """The result's cost per training iteration: `cost` if there is one, else `time_total_s`."""
    spent = result.get("cost", result.get("time_total_s"))
    steps = result.get("training_iteration", 1)
    if not (is_number(spent) and is_number(steps)):
        return None
    spent, steps = float(spent), float(steps)
    if not (math.isfinite(spent) and spent > 0 and steps > 0):
        return None
    return spent / steps


class CostModel:
    """Ridge regression of log(cost per iteration) on encoded configurations.

    Args:
        numeric: how many leading columns are unit-cube numbers.
        ordinal_sizes: for each ordinal column after them, its number of cells.
        choice_sizes: for each choice (and grid) column after those, its number of options.
    """

    def __init__(self, numeric: int, ordinal_sizes: tuple[int, ...], choice_sizes: tuple[int, ...]) -> None:
        self.numeric = numeric
        self.ordinal_sizes = ordinal_sizes
        self.choice_sizes = choice_sizes
        self._rows: dict[int, tuple[Array, float]] = {}  # trial id -> (encoded config, log rate)
        self._weights: Array | None = None  # None: to be fitted (again) before the next prediction

    def observe(self, trial_id: int, row: Array, result: dict[str, Any]) -> None:
        """A result of a trial whose encoded configuration is `row`: its latest rate is kept."""
        found = rate(result)
        if found is not None:
            self._rows[trial_id] = (row, math.log(found))
            self._weights = None

    def features(self, rows: Array) -> Array:
        """The regression's columns for encoded rows: an intercept, the numbers, the ordinals
        scaled to [0, 1], and one indicator per option of each choice."""
        columns = [np.ones((len(rows), 1)), rows[:, : self.numeric]]
        for j, size in enumerate(self.ordinal_sizes):
            columns.append(rows[:, self.numeric + j : self.numeric + j + 1] / max(size - 1, 1))
        first = self.numeric + len(self.ordinal_sizes)
        for j, size in enumerate(self.choice_sizes):
            index = rows[:, first + j].astype(np.int64)
            columns.append((index[:, None] == np.arange(size)[None, :]).astype(float))
        return np.concatenate(columns, axis=1)

    def log_cost(self, rows: Array) -> Array | None:
        """The predicted log cost per iteration of each encoded row (None: too few trials yet)."""
        if len(self._rows) < MIN_TRIALS:
            return None
        if self._weights is None:
            x = self.features(np.stack([r for r, _ in self._rows.values()]))
            y = np.array([c for _, c in self._rows.values()])
            penalty = RIDGE * np.eye(x.shape[1])
            penalty[0, 0] = 0.0  # the intercept is the mean cost: not shrunk
            self._weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        predicted: Array = self.features(rows) @ self._weights
        return predicted
