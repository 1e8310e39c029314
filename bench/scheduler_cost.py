"""Cost of one scheduler decision with 10,000 trials already recorded at the rung (target: < 50 µs).

    python -m bench.scheduler_cost [--recorded 10000] [--decisions 2000] [--schedulers asha median ...]

For each scheduler, `recorded` trials first report at the first milestone (time 1; for the median
rule, times 1 and 2 on a shared grid), untimed. Then `decisions` new trials each report there once,
and each `on_result` call is timed alone (time.perf_counter_ns); every new trial adds to the rung,
so the last decisions see `recorded + decisions` entries. "asha-promote" also times the free-slot
question (`next_trial`) that follows each pause, and so does "auto" (`AutoScheduler`, whose first
trial reports twice first, so that it knows trials report curves) (trials told to pause are marked PAUSED, promoted
ones RUNNING, as the tuner does; its `paused` list is not built: the scheduler reads the status).
Metric values are random (seeded); the mean, the median and the 99th percentile are printed, in
microseconds. Other processes on the machine show up in the mean and p99: quote the median.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

from rung.schedulers.asha import ASHA
from rung.schedulers.auto import AutoScheduler
from rung.schedulers.base import Scheduler
from rung.schedulers.hyperband import HyperBand, SuccessiveHalving
from rung.schedulers.median import MedianStopping
from rung.types import Decision, Resume, Status, TrialInfo

BUILD: dict[str, Callable[[], Scheduler]] = {
    "asha": lambda: ASHA(max_t=100, grace_period=1, reduction_factor=4),
    "asha-3-brackets": lambda: ASHA(max_t=100, grace_period=1, reduction_factor=4, brackets=3),
    "asha-promote": lambda: ASHA(max_t=100, grace_period=1, reduction_factor=4, variant="promote"),
    "sha": lambda: SuccessiveHalving(min_t=1, max_t=3**9, reduction_factor=3),  # one bracket of 19,683
    "hyperband": lambda: HyperBand(max_t=3**9, reduction_factor=3),
    "median": lambda: MedianStopping(grace_period=1, min_samples=3),
    "auto": lambda: AutoScheduler(),  # rung.run's default (4 brackets; trials that checkpoint)
}


def measure(name: str, recorded: int, decisions: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    scheduler = BUILD[name]()
    scheduler.setup(metric="loss", mode="min", seed=seed)
    rng = np.random.default_rng(seed)
    times = [1, 2] if name == "median" else [1]
    trials: dict[int, TrialInfo] = {}

    def report(trial: TrialInfo, t: int) -> Decision:
        # As the tuner does: a trial told to pause is PAUSED once it has stopped.
        decision = scheduler.on_result(trial, {"training_iteration": t, "loss": float(rng.random())})
        if decision is Decision.PAUSE:
            trial.status = Status.PAUSED
        return decision

    def add(trial_id: int) -> TrialInfo:
        trial = trials[trial_id] = TrialInfo(id=trial_id, config={}, status=Status.RUNNING, checkpoint_iteration=1)
        scheduler.on_trial_add(trial)
        return trial

    if name == "auto":  # a first trial reports twice: the scheduler learns that trials report curves
        first = add(0)
        report(first, 1)
        report(first, 2)

    for trial_id in range(1, recorded + 1):
        trial = add(trial_id)
        for t in times:
            report(trial, t)
    cost = np.empty(decisions)
    slot_cost = np.empty(decisions) if name in ("asha-promote", "auto") else None
    for k in range(decisions):
        trial = add(recorded + 1 + k)
        for t in times[:-1]:
            report(trial, t)
        result = {"training_iteration": times[-1], "loss": float(rng.random())}
        start = time.perf_counter_ns()
        decision = scheduler.on_result(trial, result)
        cost[k] = time.perf_counter_ns() - start
        if decision is Decision.PAUSE:
            trial.status = Status.PAUSED
        if slot_cost is not None:
            start = time.perf_counter_ns()
            suggestion = scheduler.next_trial(new_allowed=True, paused=())
            slot_cost[k] = time.perf_counter_ns() - start
            if isinstance(suggestion, Resume):
                trials[suggestion.trial_id].status = Status.RUNNING  # promoted: it runs again
    return cost / 1000, None if slot_cost is None else slot_cost / 1000


def _row(label: str, us: np.ndarray) -> str:
    return f"{label:<28} mean {us.mean():7.2f}  median {np.median(us):7.2f}  p99 {np.percentile(us, 99):7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recorded", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--schedulers", nargs="+", default=list(BUILD), choices=list(BUILD))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"µs per decision, {args.recorded:,} trials recorded at the rung, {args.decisions:,} decisions timed")
    for name in args.schedulers:
        cost, slot = measure(name, args.recorded, args.decisions)
        print(_row(f"{name} on_result", cost))
        if slot is not None:
            print(_row(f"{name} next_trial", slot))


if __name__ == "__main__":
    main()
