"""The searcher contract: what configuration to try next."""

from __future__ import annotations

import abc
from typing import Any

from rung.objectives import Objectives
from rung.space import Space
from rung.types import Config, Status

__all__ = ["Searcher"]


class Searcher(abc.ABC):
    """Proposes configurations. Deterministic given its seed and the events it has seen.

    The tuner calls `setup` once, then `suggest` for each new trial, `observe` for each result and
    `on_complete` when a trial ends. On resume the same calls are replayed from the store.
    """

    space: Space
    metric: str | None
    mode: str
    num_samples: int

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        """Bind to a run: its space, objective and the total number of samples."""
        self.space = space
        self.metric = metric
        self.mode = mode
        self.num_samples = num_samples
        if self.seed is None:
            self.seed = seed

    multi_objective: bool = False
    """Whether it learns several objectives (`set_objectives`); `rung.run` refuses the others such a run."""

    def set_objectives(self, objectives: Objectives) -> None:
        """Called after `setup` (whose `metric` and `mode` are then the first objective's) when the run
        has several objectives or constraints. The default keeps them as `self.objectives` and learns
        the first objective only; so a searcher must set `multi_objective = True` to be given several
        (and then learn them all); constraints it may ignore (the trials are still judged by them)."""
        self.objectives = objectives

    def set_fidelity(self, time_attr: str, milestones: list[float]) -> None:  # noqa: B027 (optional hook)
        """Called after `setup` when the scheduler is multi-fidelity (HyperBand, ASHA): the key that
        measures training and the milestones at which trials are compared. `rung.TPE` uses it to
        learn from results at a common budget (BOHB); the others ignore it."""

    @property
    def total(self) -> int | None:
        """How many configurations this searcher will propose in all, when known."""
        points = getattr(self, "_grid_points", None)
        return None if points is None else len(points) * self.num_samples

    # Grid dimensions: every searcher crosses them the same way, num_samples times over.
    def _start_grid(self, include_choices: bool = False) -> None:
        """Call in `setup`: proposals then go through the grid points in order, `num_samples` times."""
        self._grid_points: list[dict[tuple[str, ...], Any]] = self.space.grid_points(include_choices=include_choices)
        self.proposed = 0

    def _next_point(self) -> dict[tuple[str, ...], Any] | None:
        """The grid point (values of the grid paths) of the next proposal; None once all are proposed."""
        points = self._grid_points
        if self.proposed >= len(points) * self.num_samples:
            return None
        self.proposed += 1
        return dict(points[(self.proposed - 1) % len(points)])

    @abc.abstractmethod
    def suggest(self, trial_id: int) -> Config | None:
        """The configuration for new trial `trial_id`, or None when the search is done."""

    def on_given(self, trial_id: int, config: Config) -> None:
        """Trial `trial_id` runs `config`, which this searcher did not propose (`rung.run`'s
        `points_to_evaluate`): record it as if proposed, so that its results count like the others.
        A searcher that leaves this as it is cannot take such configs (`rung.run` says so)."""
        raise NotImplementedError(f"{type(self).__name__} cannot take configurations it did not propose")

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """A result of a running trial."""

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:  # noqa: B027
        """The trial ended with `status`; `result` is its last result (None if it reported nothing)."""
