"""Several objectives with learning curves: hypervolume over compute on LCBench (simulated clock).

    python -m bench.mo_curves [--seeds 5] [--budget 50] [--tasks 3945 34539 189909] [--methods ...]

The objectives: `val_balanced_accuracy` (max; LCBench's tasks are imbalanced, so plain accuracy
rewards predicting the majority class) and `train_seconds` (min), the seconds the trial has trained
so far: the trade-off the issue names (the best model for the least time), and every result is a
model one can keep (its checkpoint) at that cost. Each trial replays its configuration's 52 epochs
from the YAHPO Gym surrogate (`bench/lcbench/surrogate.py`) on `rung.SimulatedExecutor(4)`, with no
decision time charged, so every method gets the same compute: `budget` full-training equivalents
(the task's mean seconds for 52 epochs, `bench/data/lcbench_reference.json`) on 4 workers.

The measure: the hypervolume of every result reported by the time shown (objectives scaled to
[0, 1] by their range over `SAMPLE` random configurations' every epoch; reference point (1, 1)), as
a share of the hypervolume of those random configurations' every epoch (so a method can pass 1).
Median (25%-75%) over seeds, at a quarter, a half and all of the budget.

Methods: `default` (no search or scheduler given: `AutoScheduler` ranking by non-dominated sorting,
TPE as MOTPE), `old default` (what `rung.run` did before: `AutoSearch`, its GP by expected
hypervolume improvement, and FIFO: every trial to its 52 epochs), `MOASHA + random` (its defaults:
stopping, η=4, grace 1; max_t=52); and (`--methods`) `MOASHA + MOTPE`, `AutoScheduler + random`,
`AutoScheduler + GP` (`rung.GP`, learning each trial's last result whatever its length).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rung
from bench.lcbench import reference
from bench.lcbench.methods_rung import space
from bench.lcbench.surrogate import EPOCHS, FLOOR, TARGETS, Surrogate, sample_configs
from rung.callbacks import Callback
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.types import Config

SAMPLE = 2_000
"""Random configurations that set each task's scaling and reference hypervolume."""
WORKERS = 4
ACC, SECONDS = "val_balanced_accuracy", "train_seconds"


def _curves(surrogate: Surrogate, task: str, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Balanced accuracy per epoch and the cumulative seconds (epochs clipped at `FLOOR`), per config."""
    out = surrogate.predict(task, configs, range(1, EPOCHS + 1))
    seconds = np.maximum(np.diff(out[:, :, TARGETS.index("time")], axis=1, prepend=0.0), FLOOR)
    return out[:, :, TARGETS.index(ACC)], np.cumsum(seconds, axis=1)


def hypervolume_2d(points: np.ndarray) -> float:
    """The area that points (losses in [0, 1]^2, clipped) dominate below the reference (1, 1)."""
    points = np.clip(points, 0.0, 1.0)
    order = np.lexsort((points[:, 1], points[:, 0]))
    xs, ys = points[order, 0], points[order, 1]
    # Sweep: the front's staircase, x ascending, y descending.
    front_x, front_y = [], []
    low = 1.0
    for x, y in zip(xs, ys, strict=True):
        if y < low:
            front_x.append(x)
            front_y.append(y)
            low = y
    area = 0.0
    for k, (x, y) in enumerate(zip(front_x, front_y, strict=True)):
        right = front_x[k + 1] if k + 1 < len(front_x) else 1.0
        area += (right - x) * (1.0 - y)
    return float(area)


class Task:
    """One LCBench task: its curves (cached), its scaling and its reference hypervolume."""

    def __init__(self, surrogate: Surrogate, name: str) -> None:
        self.surrogate, self.name = surrogate, name
        self.equivalent_s = reference.load()[name]["equivalent_s"]
        configs = sample_configs(np.random.default_rng([20_221, int(name)]), SAMPLE)
        acc, seconds = _curves(surrogate, name, configs)
        self.low = np.array([-acc.max(), seconds.min()])
        self.high = np.array([-acc.min(), seconds.max()])
        self.reference_hv = hypervolume_2d(self.scale(np.stack([-acc.ravel(), seconds.ravel()], axis=1)))

    def scale(self, losses: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = (losses - self.low) / (self.high - self.low)
        return scaled

    def curve(self, config: Config) -> Curve:
        acc, seconds = _curves(self.surrogate, self.name, [config])
        steps = np.diff(seconds[0], prepend=0.0)
        pairs = enumerate(zip(acc[0], seconds[0], strict=True))
        metrics = [{ACC: float(a), SECONDS: float(s), "step": i + 1} for i, (a, s) in pairs]
        return Curve(metrics, steps.tolist())


class _Collect(Callback):
    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float]] = []  # (simulated time, -accuracy, seconds trained)
        self.trials = 0

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        self.trials += 1

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        self.rows.append((float(result["timestamp"]), -float(result[ACC]), float(result[SECONDS])))


def _arguments(method: str) -> dict[str, Any]:
    moasha = rung.MOASHA(max_t=EPOCHS, grace_period=1, time_attr="step")
    every: dict[str, dict[str, Any]] = {
        "default": {},
        "old default": {"search": rung.AutoSearch(), "scheduler": "fifo"},
        "MOASHA + random": {"search": "random", "scheduler": moasha},
        "MOASHA + MOTPE": {"search": "tpe", "scheduler": moasha},
        "AutoScheduler + random": {"search": "random", "scheduler": "auto"},
        "AutoScheduler + GP": {"search": rung.GP(n_startup=10), "scheduler": "auto"},
    }
    return every[method]


METHODS = (
    "default",
    "old default",
    "MOASHA + random",
    "MOASHA + MOTPE",
    "AutoScheduler + random",
    "AutoScheduler + GP",
)


def run(method: str, task: Task, seed: int, budget: float) -> tuple[list[tuple[float, float, float]], int]:
    """Every result of one run, (compute used in full-training equivalents, -accuracy, seconds trained),
    and how many trials it started (resumes included)."""
    collect = _Collect()
    with tempfile.TemporaryDirectory(prefix="rung-mo-curves-") as work:
        rung.run(
            task.curve, space(), metric=[ACC, SECONDS], mode=["max", "min"],
            executor=SimulatedExecutor(WORKERS, decision_seconds=0.0), max_concurrent=WORKERS,
            time_budget_s=budget * task.equivalent_s / WORKERS, storage=Path(work), name="mo", seed=seed,
            verbose=0, num_samples=1_000_000, callbacks=[collect], **_arguments(method),
        )  # fmt: skip
    return [(t * WORKERS / task.equivalent_s, a, s) for t, a, s in collect.rows], collect.trials


def share(task: Task, rows: list[tuple[float, float, float]], until: float) -> float:
    points = np.array([(a, s) for t, a, s in rows if t <= until], dtype=float).reshape(-1, 2)
    return hypervolume_2d(task.scale(points)) / task.reference_hv if len(points) else 0.0


def _stats(values: list[float]) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.3f} ({q1:.3f}-{q3:.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mo_curves", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=50.0, help="full-training equivalents of compute")
    parser.add_argument("--tasks", nargs="+", default=["3945", "34539", "189909"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS[:3]), choices=METHODS)
    args = parser.parse_args(argv)
    surrogate = Surrogate()
    marks = [args.budget / 4, args.budget / 2, args.budget]
    print(f"hypervolume / random sample's, {args.seeds} seeds, {WORKERS} workers, budget {args.budget:g} equivalents")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| task | method | " + " | ".join(f"at {m:g}" for m in marks) + " | trials started (median) | s per run |")
    print("|---|---|" + "---|" * (len(marks) + 2))
    for name in args.tasks:
        task = Task(surrogate, name)
        for method in args.methods:
            cells: list[list[float]] = [[] for _ in marks]
            trials, start = [], time.perf_counter()
            for seed in range(args.seeds):
                surrogate.clear()
                rows, started = run(method, task, seed, args.budget)
                trials.append(started)
                for i, mark in enumerate(marks):
                    cells[i].append(share(task, rows, mark))
            seconds = (time.perf_counter() - start) / args.seeds
            print(f"| {name} | {method} | " + " | ".join(_stats(c) for c in cells)
                  + f" | {np.median(trials):.0f} | {seconds:.0f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
