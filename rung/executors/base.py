"""The executor contract: where trials run.

An executor holds `capacity` slots. The tuner submits a `Job` to a free slot, polls for events
(`Reported`, `Ended`), answers each `Reported` with a decision once the result is stored, and may
stop a trial outright. Executors never touch the store, the searcher or the scheduler.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rung.clock import Clock, RealClock
from rung.session import Job
from rung.types import Config, Decision

__all__ = ["Ended", "Event", "Executor", "Reported"]


@dataclass(frozen=True)
class Reported:
    """A trial reported a result and waits for `Executor.reply`."""

    trial_id: int
    result: dict[str, Any]
    checkpoint: bytes | None


@dataclass(frozen=True)
class Ended:
    """A trial's run ended: kind is "completed", "interrupted" (paused/stopped), "error", or
    "abandoned": stopped, it did not end, and the executor cannot end it (a thread); `error` says so."""

    trial_id: int
    kind: str
    error: str | None = None


Event = Reported | Ended


class Executor(abc.ABC):
    """Runs trials. Subclasses: ProcessExecutor (default), ThreadExecutor, RayExecutor, SimulatedExecutor."""

    capacity: int
    clock: Clock = RealClock()
    """The time trials run in; the tuner measures budgets with it."""
    durable_answers: bool = True
    """Commit the store before every answer to a trial (what makes a returned `report()` durable).
    A simulator, whose trials are replays, lets the tuner commit in batches instead."""

    def prepare(self) -> None:  # noqa: B027 (an optional hook: most executors need nothing before start)
        """Begin what the slots need whatever the objective (`rung.run` calls it first, so that it
        goes on while the searcher, the scheduler and the store are set up); `start` follows, or
        `shutdown` if the run cannot start. Nothing by default."""

    @abc.abstractmethod
    def start(self, fn: Callable[[Config], Any]) -> None:
        """Prepare the slots to run `fn`; calling it again with the same function does nothing."""

    @abc.abstractmethod
    def submit(self, job: Job) -> None:
        """Run a job in a free slot (the caller keeps count of free slots)."""

    @abc.abstractmethod
    def poll(self, timeout: float | None) -> list[Event]:
        """Events that arrived, waiting up to `timeout` seconds for the first one."""

    @abc.abstractmethod
    def reply(self, trial_id: int, decision: Decision) -> None:
        """Answer a `Reported` event; the trial's `report()` returns (or raises) after this."""

    @abc.abstractmethod
    def stop(self, trial_id: int) -> None:
        """End a running trial now; an `Ended` event follows."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Release every slot; running trials are abandoned."""
