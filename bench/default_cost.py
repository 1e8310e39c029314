"""Cost of a decision of `rung.run`'s default scheduler (`AutoScheduler` with its learning-curve model) as
the trials it holds grow (issue 22.4: < 5 ms at p99 with 1,000 trials, < 20 ms with 10,000).

    python -m bench.default_cost [--trials 1000 10000] [--model ranks curves] [--workers 4] [--epochs 52] [--seed 0]
    python -m bench.default_cost --proposals [--trials 1000 10000]   # the searcher's half of a decision

`--model`: `AutoScheduler(model=...)`: "ranks" is the default's, "curves" the learning-curve model.

Trials report learning curves of 52 epochs (saturating power laws with seeded random parameters and
noise) on `workers` slots, as the tuner drives the scheduler: `on_result` at every report, and at
every pause or stop the free-slot question (`next_trial`), whose answer starts a new trial or
resumes a paused one, until `trials` trials were started. Trials that checkpoint pause at milestones
and stay in the scheduler (the default leaves them paused), so the last decisions see every trial.
Each call is timed alone, in wall time (time.perf_counter_ns) and in the thread's CPU time
(time.thread_time_ns: on a shared machine the wall time also holds the waits for a core). Printed:
median and 99th percentile in milliseconds of the calls made once 90% of the trials had started,
separately for `on_result` at a milestone (where the model is asked), every `on_result`, and
`next_trial`.

`--proposals` times the other half of a decision, the default searcher's proposal (`AutoSearch.suggest`:
TPE for learning curves), inside `rung.run`'s default on `bench/`'s MLP table (`Table.interpolated`,
4 simulated workers, decision time not charged to the clock) until `trials` trials were started: the
proposals made once 90% had started, in wall and CPU milliseconds.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from typing import Any

import numpy as np

import rung
from bench.tables import Table
from rung.executors.simulated import SimulatedExecutor
from rung.schedulers.auto import AutoScheduler
from rung.search.auto import AutoSearch
from rung.types import Decision, Resume, Start, Status, TrialInfo


def measure(trials: int, workers: int, epochs: int, seed: int, model: str = "ranks") -> dict[str, np.ndarray]:
    """The (wall, CPU) milliseconds of each timed call, by kind of call."""
    scheduler = AutoScheduler(model=model)
    scheduler.setup(metric="loss", mode="min", seed=seed)
    rng = np.random.default_rng(seed)
    infos: dict[int, TrialInfo] = {}
    curves: dict[int, np.ndarray] = {}
    step: dict[int, int] = {}
    running: list[int] = []
    paused: dict[int, TrialInfo] = {}
    names = ("on_result at a milestone", "on_result", "next_trial")
    costs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    late = int(trials * 0.9)
    milestones = {1, 3, 9, 27}

    def start() -> None:
        trial_id = len(infos)
        info = infos[trial_id] = TrialInfo(id=trial_id, config={}, status=Status.RUNNING, checkpoint_iteration=1)
        a, b, c = rng.uniform(0.05, 0.5), rng.uniform(0.2, 1.0), rng.uniform(0.3, 2.0)
        t = np.arange(1, epochs + 1)
        curves[trial_id] = a + b * t**-c + rng.normal(0, 0.005, epochs)
        step[trial_id] = 0
        scheduler.on_trial_add(info)
        running.append(trial_id)

    for _ in range(workers):
        start()
    while running:
        trial_id = running.pop(0)
        info = infos[trial_id]
        step[trial_id] += 1
        k = step[trial_id]
        result = {"training_iteration": k, "loss": float(curves[trial_id][k - 1])}
        info.iteration = k
        began, cpu = time.perf_counter_ns(), time.thread_time_ns()
        decision = scheduler.on_result(info, result)
        spent = ((time.perf_counter_ns() - began) / 1e6, (time.thread_time_ns() - cpu) / 1e6)
        if len(infos) >= late:
            costs["on_result"].append(spent)
            if k in milestones:
                costs["on_result at a milestone"].append(spent)
        info.last_result = result
        if decision is Decision.CONTINUE and k < epochs:
            running.append(trial_id)
            continue
        if decision is Decision.PAUSE:
            info.status = Status.PAUSED
            paused[trial_id] = info
        else:
            info.status = Status.TERMINATED if k >= epochs else Status.STOPPED
            scheduler.on_complete(info, info.status)
        waiting = list(paused.values())  # as the tuner hands it over (built outside the timing)
        began, cpu = time.perf_counter_ns(), time.thread_time_ns()
        suggestion = scheduler.next_trial(new_allowed=len(infos) < trials, paused=waiting)
        spent = ((time.perf_counter_ns() - began) / 1e6, (time.thread_time_ns() - cpu) / 1e6)
        if len(infos) >= late:
            costs["next_trial"].append(spent)
        if isinstance(suggestion, Resume):
            infos[suggestion.trial_id].status = Status.RUNNING
            del paused[suggestion.trial_id]
            running.append(suggestion.trial_id)
        elif isinstance(suggestion, Start):
            start()
    return {name: np.asarray(values) for name, values in costs.items()}


class _TimedSearch(AutoSearch):
    """The default searcher, its proposals timed once `late` trials were proposed."""

    def __init__(self, late: int) -> None:
        super().__init__()
        self.late = late
        self.costs: list[tuple[float, float]] = []

    def suggest(self, trial_id: int) -> dict[str, Any] | None:
        began, cpu = time.perf_counter_ns(), time.thread_time_ns()
        config = super().suggest(trial_id)
        if trial_id >= self.late:
            self.costs.append(((time.perf_counter_ns() - began) / 1e6, (time.thread_time_ns() - cpu) / 1e6))
        return config


def proposals(trials: int, workers: int, seed: int) -> np.ndarray:
    """The (wall, CPU) milliseconds of the default searcher's proposals after 90% of `trials` started.

    `rung.run` with an `AutoSearch` and no scheduler is the default: the searcher pairs itself with
    `AutoScheduler`, as `rung.run` does when given neither.
    """
    table = Table.load("mlp")
    search = _TimedSearch(late=int(trials * 0.9))
    with tempfile.TemporaryDirectory(prefix="rung-default-cost-") as storage:
        rung.run(
            table.interpolated,
            table.space,
            metric=table.metric,
            mode=table.mode,
            search=search,
            num_samples=trials,
            executor=SimulatedExecutor(workers, decision_seconds=0.0),
            storage=storage,
            seed=seed,
            verbose=0,
        )
    return np.asarray(search.costs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.default_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--model", nargs="+", default=["ranks", "curves"], choices=["ranks", "curves"])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=52)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proposals", action="store_true", help="time the default searcher's proposals instead")
    args = parser.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    if args.proposals:
        print("| trials | proposals timed | wall median ms | wall p99 ms | CPU median ms | CPU p99 ms |")
        print("|---|---|---|---|---|---|")
        for n in args.trials:
            values = proposals(n, args.workers, args.seed)
            (wall50, cpu50), (wall99, cpu99) = np.percentile(values, [50, 99], axis=0)
            print(f"| {n:,} | {len(values):,} | {wall50:.3f} | {wall99:.3f} | {cpu50:.3f} | {cpu99:.3f} |")
        return
    print("| model | trials | call | calls timed | wall median ms | wall p99 ms | CPU median ms | CPU p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.model:
        for n in args.trials:
            costs = measure(n, args.workers, args.epochs, args.seed, model)
            for name, values in costs.items():
                if len(values):
                    (wall50, cpu50), (wall99, cpu99) = np.percentile(values, [50, 99], axis=0)
                    print(
                        f"| {model} | {n:,} | {name} | {len(values):,} | {wall50:.3f} | {wall99:.3f} | {cpu50:.3f}"
                        f" | {cpu99:.3f} |"
                    )


if __name__ == "__main__":
    main()
