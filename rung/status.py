"""What a live view sees of a run: a small frozen snapshot, built by the tuner when the view asks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rung.types import Status

__all__ = ["TrialRow", "TuningStatus"]


@dataclass(frozen=True, slots=True)
class TrialRow:
    """One trial as a live view shows it.

    Attributes:
        id: the trial's id.
        status: its status now.
        iteration: its latest `training_iteration`.
        config: its configuration now.
        result: the result shown: its latest one; for the best trial, the one that made it best.
            `config` and `result` are the tuner's own dicts, shared and not copied: read them only.
    """

    id: int
    status: Status
    iteration: int
    config: Mapping[str, Any]
    result: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TuningStatus:
    """A run at one moment: what the progress view draws (and all it can see of the tuner).

    Attributes:
        metric: the metric optimised (None: none).
        mode: "min" or "max".
        counts: trials by status, ended ones included (a status no trial has is left out).
        elapsed_s: seconds since this run of the tuner started, on its clock.
        running: the running trials with the lowest ids, at most as many as the view asked for.
        best: the trial with the best value of `metric` so far (None: no value yet). With several
            objectives, the best by the run's `scalarize` weights (None without weights).
        objectives: every objective when there are several (or constraints); else empty.
        plan: what the searcher and scheduler say they do, when they say (the default's `describe()`:
            which model proposes, pausing or stopping at which milestones); empty otherwise.
        cost: the money spent so far, in every run of the experiment (None: the run has no prices).
        cost_budget: the money it may spend (None: no cost budget).

    Example:
        >>> status = TuningStatus("loss", "min", {Status.TERMINATED: 3, Status.RUNNING: 1}, 2.5, (), None)
        >>> status.total
        4
    """

    metric: str | None
    mode: str
    counts: Mapping[Status, int]
    elapsed_s: float
    running: tuple[TrialRow, ...]
    best: TrialRow | None
    plan: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ()
    cost: float | None = None
    cost_budget: float | None = None

    @property
    def total(self) -> int:
        """How many trials there are, in any status."""
        return sum(self.counts.values())
