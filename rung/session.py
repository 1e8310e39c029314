"""The trial side: `report()`, `get_checkpoint()` and the code that runs one trial.

The same code runs in every executor. A trial talks to the driver through a `Channel`: each
`report()` sends the result (and a pickled checkpoint) and blocks until the driver has committed it
to the store and answered with the scheduler's decision. Returning from `report()` therefore means
the result is durable; a PAUSE or STOP answer unwinds the objective with `TrialInterrupt`.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cloudpickle

from rung._numbers import is_number
from rung.errors import SessionError
from rung.types import Config, Decision

__all__ = ["Channel", "Job", "TrialInterrupt", "failure", "get_checkpoint", "get_trial_id", "report", "run_trial"]

AUTO_KEYS = ("training_iteration", "time_this_iter_s", "time_total_s", "timestamp")


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run (or resume) one trial."""

    trial_id: int
    config: Config
    checkpoint: bytes | None = None
    iteration: int = 0
    time_total: float = 0.0
    log_path: str | None = None
    metric: str | None = None
    """`rung.run`'s metric: a number the objective returns is reported as its value."""


class Channel(Protocol):
    """How a running trial reaches the driver."""

    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision: ...


class TrialInterrupt(BaseException):
    """Raised out of `report()` when the driver pauses or stops the trial.

    A BaseException, so that an objective's `except Exception` does not swallow it.
    """

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.value)
        self.decision = decision


class _Session:
    def __init__(self, job: Job, channel: Channel) -> None:
        self.trial_id = job.trial_id
        self.iteration = job.iteration
        self.time_total = job.time_total
        self._checkpoint_bytes = job.checkpoint
        self._checkpoint: Any = None
        self._loaded = job.checkpoint is None
        self._channel = channel
        self._last = time.time()
        self.metric = job.metric

    def report(self, metrics: Mapping[str, Any], checkpoint: Any = None) -> None:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"report() needs a dict of metrics; got {type(metrics).__name__}")
        now = time.time()
        took = now - self._last
        self.iteration += 1
        self.time_total += took
        result = {str(k): v for k, v in metrics.items()}
        if self.metric in result and not is_number(result[self.metric]):
            value = result[self.metric]
            raise TypeError(
                f"report() needs the metric {self.metric!r} to be a number; got {value!r} ({type(value).__name__})"
            )
        result["training_iteration"] = self.iteration
        result["time_this_iter_s"] = took
        result["time_total_s"] = self.time_total
        result["timestamp"] = now
        data = None if checkpoint is None else cloudpickle.dumps(checkpoint)
        decision = self._channel.report(self.trial_id, result, data)
        if data is not None:
            self._checkpoint_bytes, self._checkpoint, self._loaded = data, checkpoint, True
        # Time spent waiting for the driver is not the trial's own work.
        self._last = time.time()
        if decision is not Decision.CONTINUE:
            raise TrialInterrupt(decision)

    def get_checkpoint(self) -> Any:
        if not self._loaded:
            assert self._checkpoint_bytes is not None
            self._checkpoint = cloudpickle.loads(self._checkpoint_bytes)
            self._loaded = True
        return self._checkpoint


_current: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("rung_session", default=None)


def _session(fn: str) -> _Session:
    session = _current.get()
    if session is None:
        raise SessionError(f"rung.{fn}() was called outside a trial; call it from the objective that rung.run() runs")
    return session


def report(metrics: Mapping[str, Any], *, checkpoint: Any = None) -> None:
    """Report one result of the running trial (one training iteration).

    Blocks until the driver has stored the result. `training_iteration` (1-based), `time_this_iter_s`,
    `time_total_s` and `timestamp` are added. If the scheduler pauses or stops the trial, this raises
    `TrialInterrupt`, which ends the objective; do not catch it.

    Args:
        metrics: metric name -> value, e.g. `{"loss": 0.3, "acc": 0.91}`.
        checkpoint: any picklable object to resume from later (see `get_checkpoint()`).

    Example:
        >>> def train(config):  # doctest: +SKIP
        ...     for epoch in range(10):
        ...         rung.report({"acc": epoch / 10}, checkpoint={"epoch": epoch})
    """
    _session("report").report(metrics, checkpoint)


def get_checkpoint() -> Any:
    """The checkpoint this trial last passed to `report()` (or resumed from), or None."""
    return _session("get_checkpoint").get_checkpoint()


def get_trial_id() -> int:
    """The id of the running trial."""
    return _session("get_trial_id").trial_id


@dataclass(frozen=True)
class Outcome:
    """How a trial's run ended: "completed", "interrupted" or "error" (with its traceback)."""

    kind: str
    error: str | None = None


def _unusable_return(returned: Any, metric: str | None) -> str:
    kind = type(returned).__name__
    if is_number(returned):
        return (
            f"TypeError: the objective returned {returned!r} ({kind}), but rung.run has no metric= to record it as;"
            " pass metric= to rung.run, or return a dict such as {'loss': value}"
        )
    example = repr({metric or "loss": 0.5})
    return (
        f"TypeError: the objective returned {returned!r:.80} ({kind}) and reported nothing; return a dict of"
        f" metrics such as {example}, a number (the value of metric=), or call rung.report() as it trains"
    )


def run_trial(fn: Callable[[Config], Any], job: Job, channel: Channel) -> Outcome:
    """Run `fn(config)` as trial `job.trial_id`, reporting through `channel`."""
    session = _Session(job, channel)
    token = _current.set(session)
    try:
        returned = fn(job.config)
        if is_number(returned) and job.metric is not None:
            returned = {job.metric: returned}  # Optuna's and hyperopt's way: the value of the metric
        if isinstance(returned, Mapping):
            # A dict returned by the objective counts as its last report.
            with contextlib.suppress(TrialInterrupt):
                session.report(returned)
        elif returned is not None and session.iteration == job.iteration:
            # Nothing reported and nothing usable returned (a value after reports is the user's own).
            return Outcome("error", _unusable_return(returned, job.metric))
        return Outcome("completed")
    except TrialInterrupt:
        return Outcome("interrupted")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: they end the trial, not its worker
        return Outcome("error", failure(exc, job.trial_id))
    finally:
        _current.reset(token)


def failure(exc: BaseException, trial_id: int) -> str:
    """The traceback of `exc`, which ended trial `trial_id`; for an exception that usually ends a
    program (SystemExit, KeyboardInterrupt), a last line says it ended only the trial."""
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, SystemExit):
        code = exc.code
        return text + (
            f"rung: trial {trial_id} called sys.exit({code!r}) (argparse does on bad arguments): the trial failed;"
            " an objective ends by returning (or raising an exception), and reads its settings from its config"
        )
    if isinstance(exc, KeyboardInterrupt):
        return text + (
            f"rung: KeyboardInterrupt was raised inside trial {trial_id}: the trial failed; Ctrl-C stops the whole"
            " run (the driver handles it, and the run can be resumed)"
        )
    return text
