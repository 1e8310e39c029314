"""A likelihood as an optimiser sees it, with a budget of evaluations: so a fit can be capped."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Budgeted", "Exhausted"]

Array = NDArray[np.float64]


class Exhausted(Exception):
    """A likelihood fit used up its evaluations."""


class Budgeted:
    """The likelihood as the optimiser sees it: it counts down a budget of evaluations (raising
    `Exhausted` once spent) and remembers the best point evaluated, which is what a fit returns,
    with its Cholesky factor (so conditioning on the data afterwards costs nothing more)."""

    def __init__(self, likelihood: Callable[[Array], tuple[float, Array, tuple[Array, Array] | None]]) -> None:
        self.likelihood = likelihood
        self.budget = math.inf
        self.evaluations = 0
        self.first = math.nan
        self.theta: Array | None = None
        self.value = math.inf
        self.factor: tuple[Array, Array] | None = None

    def __call__(self, theta: Array) -> tuple[float, Array]:
        if self.budget < 1:
            raise Exhausted
        self.budget -= 1
        value, grad, factor = self.likelihood(theta)
        if self.evaluations == 0:
            self.first = value
        self.evaluations += 1
        if factor is not None and np.isfinite(value) and value < self.value:
            self.theta, self.value, self.factor = theta.copy(), value, factor
        return value, grad
