"""Plain data shared by every part: trial status, scheduler decisions and suggestions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Config",
    "Decision",
    "Resume",
    "Start",
    "Status",
    "Suggestion",
    "TrialInfo",
]

Config = dict[str, Any]
"""A resolved configuration: nested dicts of plain values."""


class Status(str, enum.Enum):
    """Where a trial is in its life.

    PENDING waits for a slot; RUNNING holds one; PAUSED gave its slot back with a checkpoint and may
    be resumed; TERMINATED ended on its own or by a `stop` criterion; STOPPED was stopped early by
    the scheduler; ERROR raised (after any retries).
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"

    @property
    def finished(self) -> bool:
        return self in (Status.TERMINATED, Status.STOPPED, Status.ERROR)


class Decision(str, enum.Enum):
    """A scheduler's answer to one reported result."""

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"


@dataclass(frozen=True)
class Start:
    """Start a new trial.

    Attributes:
        config: the configuration to run; None asks the searcher for one.
        from_trial: start from this trial's latest checkpoint (PBT's exploit step).
    """

    config: Config | None = None
    from_trial: int | None = None


@dataclass(frozen=True)
class Resume:
    """Resume a paused trial from its latest checkpoint (with an optional new config)."""

    trial_id: int
    config: Config | None = None


Suggestion = Start | Resume


@dataclass
class TrialInfo:
    """What searchers and schedulers see of a trial (the driver owns and updates it)."""

    id: int
    config: Config
    status: Status = Status.PENDING
    iteration: int = 0
    last_result: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
