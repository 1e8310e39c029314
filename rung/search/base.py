"""The searcher contract: what configuration to try next."""

from __future__ import annotations

import abc
from typing import Any

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

    def set_fidelity(self, time_attr: str, milestones: list[float]) -> None:  # noqa: B027 (optional hook)
        """Called after `setup` when the scheduler is multi-fidelity (HyperBand, ASHA): the key that
        measures training and the milestones at which trials are compared. Model-based searchers
        use it to learn from results at a common budget (BOHB); others ignore it."""

    @property
    def total(self) -> int | None:
        """How many configurations this searcher will propose in all, when known."""
        return None

    @abc.abstractmethod
    def suggest(self, trial_id: int) -> Config | None:
        """The configuration for new trial `trial_id`, or None when the search is done."""

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """A result of a running trial."""

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:  # noqa: B027
        """The trial ended with `status`; `result` is its last result (None if it reported nothing)."""
