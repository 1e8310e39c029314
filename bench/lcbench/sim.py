"""A small discrete-event simulator that drives a peer's own decision-maker on LCBench's simulated clock.

`workers` virtual workers; a heap of the times at which their current epoch (or whole job) ends.
The peer is asked for work whenever a worker is free, and told every result at the simulated time it
would have arrived. Nothing is slept; the peers' decision time is not charged to the clock (as for
rung's methods, which run with `SimulatedExecutor(decision_seconds=0.0)`), so every engine is judged
on its decisions alone and a run is deterministic for its seed.

A peer answers `ask() -> Job | None` and hears `on_epoch(job, epoch, value) -> bool` (per-epoch jobs:
True to train on) and `on_end(job, epoch, value)` when the job frees its worker (it reached
`job.stop`, or `on_epoch` said False: the peer knows whether it stopped or paused it). A job whose
`per_epoch` is False is a black-box evaluation at a fidelity (SMAC, DEHB): it trains `stop - start`
epochs and reports once, the value at its last epoch.

Imports numpy and the standard library only, so the peers in other environments (SMAC, DEHB) use it too.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["Job", "Peer", "Trace", "simulate"]


@dataclass
class Job:
    """Work for one worker: train `config` from epoch `start` (0: from scratch) to epoch `stop`.

    Attributes:
        key: the peer's handle for the job (its trial).
        config: the hyperparameters.
        start: epochs already trained (a resumed trial continues from its checkpoint).
        stop: the last epoch to train.
        per_epoch: whether each epoch is reported to the peer (else only the last, at the job's end).
    """

    key: Hashable
    config: Mapping[str, Any]
    start: int = 0
    stop: int = 52
    per_epoch: bool = True


class Peer(Protocol):
    def ask(self) -> Job | None: ...

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool: ...

    def on_end(self, job: Job, epoch: int, value: float) -> None: ...


@dataclass
class Trace:
    """What a run reported to its tuner: `t` (simulated seconds) and `values`, in time order.

    Attributes:
        jobs: jobs started (new trials and resumes).
        epochs: epochs trained within the budget.
    """

    t: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    jobs: int = 0
    epochs: int = 0


@dataclass
class _Running:
    job: Job
    values: np.ndarray
    seconds: np.ndarray
    epoch: int


def simulate(
    peer: Peer,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    budget: float,
    workers: int,
) -> Trace:
    """Run `peer` for `budget` simulated seconds on `workers` workers; `curve(config) -> (values, seconds)`."""
    if workers < 1:
        raise ValueError(f"simulate needs workers >= 1; got workers={workers!r}")
    if not budget > 0:
        raise ValueError(f"simulate needs budget > 0; got budget={budget!r}")
    trace = Trace()
    heap: list[tuple[float, int, _Running]] = []
    order = itertools.count()  # ties in time go in the order they were scheduled
    free = workers

    def schedule(now: float, run: _Running) -> None:
        job = run.job
        end = run.epoch + 1 if job.per_epoch else job.stop
        heapq.heappush(heap, (now + float(run.seconds[run.epoch : end].sum()), next(order), run))

    def fill(now: float) -> None:
        nonlocal free
        while free > 0:
            job = peer.ask()
            if job is None:
                return
            values, seconds = curve(job.config)
            if not 0 <= job.start < job.stop <= len(values):
                raise ValueError(
                    f"a job must train 0 <= start < stop <= {len(values)} epochs;"
                    f" got start={job.start}, stop={job.stop}"
                )
            free -= 1
            trace.jobs += 1
            schedule(now, _Running(job, values, seconds, job.start))

    fill(0.0)
    while heap:
        now, _, run = heapq.heappop(heap)
        if now > budget:
            break
        job = run.job
        if job.per_epoch:
            run.epoch += 1
            trace.epochs += 1
            value = float(run.values[run.epoch - 1])
            trace.t.append(now)
            trace.values.append(value)
            if peer.on_epoch(job, run.epoch, value) and run.epoch < job.stop:
                schedule(now, run)
                continue
        else:
            trace.epochs += job.stop - run.epoch
            run.epoch = job.stop
            value = float(run.values[job.stop - 1])
            trace.t.append(now)
            trace.values.append(value)
        peer.on_end(job, run.epoch, value)
        free += 1
        fill(now)
    return trace
