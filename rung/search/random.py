"""Random search: grid dimensions crossed, every other dimension sampled per trial."""

from __future__ import annotations

import numpy as np

from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config

__all__ = ["Grid", "Random"]


class Random(Searcher):
    """Random search.

    The grid dimensions (`rung.grid`) are crossed with each other and the whole grid is repeated
    `num_samples` times; every other dimension is sampled afresh for each trial. So a space with
    no grid dimension gives exactly `num_samples` trials.

    Example:
        >>> rung.run(train, space, metric="loss", search=rung.Random(seed=1))  # doctest: +SKIP
    """

    include_choices = False
    multi_objective = True  # it learns nothing

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        self._start_grid(include_choices=self.include_choices)
        self._rng = np.random.default_rng(self.seed)

    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        return None if point is None else self.space.sample(self._rng, fixed=point)

    def on_given(self, trial_id: int, config: Config) -> None:
        """Nothing to learn from: random and grid search take given configs as they come."""


class Grid(Random):
    """Grid search: `rung.grid` dimensions and every `rung.choice` of plain values are crossed.

    Continuous and integer dimensions are still sampled at random for each point; the whole grid
    is repeated `num_samples` times.

    Example:
        >>> space = {"opt": rung.choice(["sgd", "adam"]), "layers": rung.grid([1, 2, 3])}
        >>> rung.run(train, space, metric="loss", search=rung.Grid())  # doctest: +SKIP
    """

    include_choices = True

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
