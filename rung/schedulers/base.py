"""The scheduler contract (when to continue, pause or stop a trial; what to run next) and FIFO."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from rung.objectives import Objectives
from rung.types import Decision, Pause, Start, Status, Suggestion, TrialInfo

__all__ = ["FIFO", "Scheduler"]


class Scheduler(abc.ABC):
    """Decides each trial's fate at every result, and what a free slot runs next.

    `next_trial` returns `Start(config=None)` for a new trial from the searcher, `Start(config,
    from_trial)` for a given config that starts from another trial's checkpoint, `Resume(trial_id)`
    for a paused trial (optionally with a new config, from another trial's checkpoint), `Stop(trial_id)`
    to end a paused trial, or None to leave the slot idle for now. Paused trials still paused when
    nothing runs and nothing starts end as STOPPED.

    Schedulers keep their own state from these calls only: on resume the tuner replays
    `on_trial_add`, `on_result` (decisions ignored) and `on_complete` from the store, so state derived
    from those calls (and from `trial.status`) is rebuilt exactly.
    """

    metric: str | None
    mode: str

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        """Bind to a run's objective."""
        self.metric = metric
        self.mode = mode
        self.seed = seed

    multi_objective: bool = False
    """Whether it compares trials by several objectives (`set_objectives`); `rung.run` refuses the others
    such a run."""

    def set_objectives(self, objectives: Objectives) -> None:  # noqa: B027 (optional hook)
        """Called after `setup` (whose `metric` and `mode` are then the first objective's) when the run
        has several objectives or constraints; a scheduler may ignore constraints (the tuner stops a
        trial that breaks a monotone one)."""

    def on_trial_add(self, trial: TrialInfo) -> None:  # noqa: B027 (optional hook)
        """A trial was created."""

    @abc.abstractmethod
    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        """CONTINUE, PAUSE (checkpoint kept, slot freed), STOP (early: STOPPED) or COMPLETE (TERMINATED).

        `Pause(copy_weights_from=k)` pauses too, and has the tuner copy trial k's newest checkpoint
        into this trial at once (PBT's exploit; the `Resume(..., from_trial=k)` that follows keeps it).
        """

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        """What a free slot should run; `new_allowed` is False once the searcher is done."""
        return Start() if new_allowed else None

    def on_complete(self, trial: TrialInfo, status: Status) -> None:  # noqa: B027 (optional hook)
        """The trial ended with `status` (TERMINATED, STOPPED or ERROR)."""

    def fidelity(self) -> tuple[str, list[float]] | None:
        """For multi-fidelity schedulers: the reported key that measures training, and its milestones.

        `rung.run` hands these to a searcher that can use them (BOHB-style: TPE then fits its model
        on the highest milestone with enough results). None for schedulers without milestones.
        """
        return None


class FIFO(Scheduler):
    """Runs every trial to its end, in the order the searcher proposes them."""

    multi_objective = True  # it compares nothing

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        return Decision.CONTINUE
