"""Replays recorded learning curves on a simulated clock: hours of training in seconds.

The objective given to `rung.run` does not train: called with a config, it returns that config's
`Curve` (the metrics of each step and the seconds each step took), e.g. by looking the config up in
a table of recorded curves. Each trial's reports then arrive at the simulated times its steps would
have taken, on `workers` virtual workers. Searchers and schedulers run unchanged, and the time they
(and the rest of the driver) spend deciding is charged to the simulated clock, as Syne Tune does:
measured (`decision_seconds=None`, realistic, not reproducible to the microsecond) or a fixed amount
per turn of the tuner's loop (a number, e.g. 0.0: the run is then fully deterministic for a seed).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rung.clock import SimulatedClock
from rung.executors.base import Ended, Event, Executor, Reported
from rung.session import Job
from rung.types import Config, Decision

__all__ = ["Curve", "SimulatedExecutor"]


@dataclass(frozen=True)
class Curve:
    """One configuration's recorded learning curve.

    Attributes:
        metrics: per step, what `report()` would have reported (e.g. `{"val_acc": 0.91}`).
        seconds: per step, how long the step took.
        checkpoints: whether each report carries a checkpoint (its step); without, a paused or
            restarted trial replays its curve from the first step, as a real one would train again.
    """

    metrics: Sequence[Mapping[str, Any]]
    seconds: Sequence[float]
    checkpoints: bool = True

    def __post_init__(self) -> None:
        if len(self.metrics) != len(self.seconds):
            raise ValueError(
                f"Curve needs one duration per step; got {len(self.metrics)} metrics and {len(self.seconds)} seconds"
            )


@dataclass
class _Running:
    curve: Curve
    step: int  # the next step to report (0-based)
    time_total: float
    generation: int


class SimulatedExecutor(Executor):
    """Runs `fn(config) -> Curve` as trials on `workers` virtual workers and a simulated clock.

    The store is committed in batches (a replayed trial loses nothing it cannot replay again).

    Example:
        >>> def lookup(config):  # a recorded table would be read here
        ...     return Curve([{"loss": 1 / (i + 1 + config["x"])} for i in range(10)], [60.0] * 10)
        >>> result = rung.run(lookup, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=100,
        ...                   executor=SimulatedExecutor(workers=4, decision_seconds=0.0))  # doctest: +SKIP
    """

    def __init__(self, workers: int, decision_seconds: float | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"SimulatedExecutor needs workers >= 1; got workers={workers!r}")
        if decision_seconds is not None and not decision_seconds >= 0:
            raise ValueError(f"decision_seconds must be None or >= 0; got {decision_seconds!r}")
        self.capacity = workers
        self.durable_answers = False
        self._clock = SimulatedClock()
        self.clock = self._clock
        self.decision_seconds = decision_seconds
        self._fn: Callable[[Config], Any] | None = None
        self._running: dict[int, _Running] = {}
        self._queue: list[tuple[float, int, int, int, str]] = []  # (time, seq, trial, generation, kind)
        self._seq = 0
        self._mark: float | None = None  # when the driver got its last events (real time)

    def start(self, fn: Callable[[Config], Any]) -> None:
        self._fn = fn

    def _push(self, when: float, trial_id: int, kind: str) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, trial_id, self._running[trial_id].generation, kind))

    def _next_step(self, trial_id: int) -> None:
        run = self._running[trial_id]
        if run.step >= len(run.curve.metrics):
            self._push(self._clock.now(), trial_id, "completed")
        else:
            self._push(self._clock.now() + float(run.curve.seconds[run.step]), trial_id, "report")

    def submit(self, job: Job) -> None:
        assert self._fn is not None, "start() comes before submit()"
        self._charge()  # a trial starts once the driver has decided to start it
        curve = self._fn(job.config)
        if not isinstance(curve, Curve):
            raise TypeError(f"a simulated objective must return a rung Curve; got {type(curve).__name__}")
        previous = self._running.get(job.trial_id)
        generation = 0 if previous is None else previous.generation + 1
        self._running[job.trial_id] = _Running(curve, job.iteration, job.time_total, generation)
        self._next_step(job.trial_id)

    def _charge(self) -> None:
        """Move the clock by the driver's time since it got its last events (once per turn if fixed)."""
        if self._mark is None:
            return
        if self.decision_seconds is None:
            now = time.perf_counter()
            self._clock.advance(now - self._mark)
            self._mark = now
        else:
            self._clock.advance(self.decision_seconds)
            self._mark = None

    def poll(self, timeout: float | None) -> list[Event]:
        self._charge()
        events = self._pop()
        self._mark = time.perf_counter()
        return events

    def _pop(self) -> list[Event]:
        while self._queue:
            when, _, trial_id, generation, kind = heapq.heappop(self._queue)
            run = self._running.get(trial_id)
            if run is None or run.generation != generation:
                continue  # stopped or restarted since
            self._clock.advance_to(when)
            if kind != "report":
                del self._running[trial_id]
                return [Ended(trial_id, kind)]
            seconds = float(run.curve.seconds[run.step])
            run.time_total += seconds
            run.step += 1
            result = dict(run.curve.metrics[run.step - 1])
            result.update(
                training_iteration=run.step,
                time_this_iter_s=seconds,
                time_total_s=run.time_total,
                timestamp=self._clock.now(),
            )
            # The step number is the whole state a replayed trial needs to resume.
            return [Reported(trial_id, result, str(run.step).encode() if run.curve.checkpoints else None)]
        return []

    def reply(self, trial_id: int, decision: Decision) -> None:
        if trial_id not in self._running:
            return
        self._charge()  # the trial waits for the driver's answer
        if decision is Decision.CONTINUE:
            self._next_step(trial_id)
        else:
            self._push(self._clock.now(), trial_id, "interrupted")

    def stop(self, trial_id: int) -> None:
        run = self._running.get(trial_id)
        if run is not None:
            run.generation += 1
            self._push(self._clock.now(), trial_id, "interrupted")

    def shutdown(self) -> None:
        self._running.clear()
        self._queue.clear()
