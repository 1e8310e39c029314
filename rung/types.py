"""Plain data shared by every part: configs, trial status, scheduler decisions and suggestions."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Config",
    "Decision",
    "Pause",
    "Resume",
    "Start",
    "Status",
    "Stop",
    "StopFn",
    "Suggestion",
    "TrialInfo",
    "flatten",
]

Config = dict[str, Any]
"""A resolved configuration: nested dicts of plain values."""

StopFn = Callable[[int, dict[str, Any]], bool]
"""`stop=` as a function: `(trial_id, result) -> True` ends the trial."""


def flatten(config: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """A nested config as one level: `{"opt": {"lr": 0.1}}` gives `{"opt.lr": 0.1}` (with sep=".")."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, sep, f"{prefix}{key}{sep}"))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Status(str, enum.Enum):
    """Where a trial is in its life.

    PENDING waits for a slot; RUNNING holds one; PAUSED gave its slot back with a checkpoint and may
    be resumed; TERMINATED ended on its own, by a `stop` criterion, or at the scheduler's end of
    training (ASHA's or HyperBand's `max_t`); STOPPED was stopped early by the scheduler; ERROR raised
    (after any retries). INTERRUPTED is what results (`rung.load`), `rung show` and the dashboard say
    of a trial left RUNNING or PENDING by a run that no longer runs (Ctrl-C, a killed driver): the
    store keeps RUNNING, and a resume restarts it from its last checkpoint.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    INTERRUPTED = "INTERRUPTED"

    @property
    def finished(self) -> bool:
        return self in (Status.TERMINATED, Status.STOPPED, Status.ERROR)


class Decision(str, enum.Enum):
    """A scheduler's answer to one reported result.

    CONTINUE lets the trial go on; PAUSE frees its slot (checkpoint kept, it may be resumed); STOP
    ends it early (STOPPED); COMPLETE ends it because it trained as far as the scheduler trains any
    trial (TERMINATED, as if it had returned). Executors see STOP for both. A scheduler may answer
    `Pause(copy_weights_from=k)` instead of PAUSE: the same, with another trial's weights to go on from.
    """

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"
    COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class Pause:
    """PAUSE, to continue later from a copy of another trial's weights (PBT's exploit).

    The tuner copies the newest checkpoint of trial `copy_weights_from` into the paused trial at
    once, so that what that trial trains while this one waits does not leak in; the
    `Resume(trial_id, config=..., from_trial=copy_weights_from)` that follows keeps the copy (a
    `Resume` naming another trial, or none, puts the trial's own checkpoint back first).

    Attributes:
        copy_weights_from: the trial whose newest checkpoint the paused trial continues from.
    """

    copy_weights_from: int


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
    """Resume a paused trial.

    Attributes:
        trial_id: the paused trial.
        config: a new configuration to continue with (PBT's explore step); None keeps its own.
        from_trial: continue from a copy of this trial's latest checkpoint instead of its own (PBT's
            exploit step); its iteration count goes on from its own.
    """

    trial_id: int
    config: Config | None = None
    from_trial: int | None = None


@dataclass(frozen=True)
class Stop:
    """End a paused trial as STOPPED (it was not promoted and never will be)."""

    trial_id: int


Suggestion = Start | Resume | Stop


@dataclass(slots=True)
class TrialInfo:
    """What searchers and schedulers see of a trial (the driver owns and updates it).

    `checkpoint_iteration` is the iteration of the trial's newest checkpoint (None: it has none, so a
    paused trial would train again from its start); the tuner sets it before it asks the scheduler.
    """

    id: int
    config: Config
    status: Status = Status.PENDING
    iteration: int = 0
    last_result: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    checkpoint_iteration: int | None = None
