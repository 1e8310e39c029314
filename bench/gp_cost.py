"""Cost of `rung.GP`: time per suggestion at large histories (its quality: `bench/searchers.py`).

    python -m bench.gp_cost [--sizes 100 250 500] [--window 50] [--warmup 20] [--pending 0]
        [--objectives 1] [--constraint]

The target is per suggestion (under 100 ms up to 500 observations), so the table gives the worst
suggestion (max) and the 95th percentile beside the mean and the median, in wall and in CPU time.

A 6-dimensional problem (Hartmann-6, from `bench.searchers`). The history first holds n random
configurations (so filling it is cheap); `warmup` untimed model suggestions then carry the kernel
hyperparameters from their defaults towards the fit a run that grew to n one suggestion at a time
would have; then `window` suggestions are timed, each followed by its observation. The window holds
every kind of suggestion: `rung.GP` continues its hyperparameter fit a bounded step on every one,
and adds random restarts each time the data grew by 10% while that is cheap (below ~80
observations). Until that change a suggestion refitted from scratch each time the data grew by 10%
(every 50 observations at 500), and the default window of 50 held one of those.

Wall time is what a run waits; CPU time (BLAS is held to one thread while suggesting, when
threadpoolctl is installed) is the work itself, the number to trust on a machine shared with other
jobs: on an idle machine the two agree. `--pending k` keeps k trials running (kriging believer).
`--objectives 2` (or 3) adds objectives to minimise besides Hartmann-6 (the sum of the coordinates,
then the distance to the cube's centre), learnt by expected hypervolume improvement; `--constraint`
adds the constraint sum <= 3 (a GP for it, times the probability of feasibility). `--table
hpobench-kc1` (any table of `bench.objectives`) times the same on a table's space of choices instead,
maximising val_acc (and, with `--objectives 2`, minimising train_time or latency).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.searchers import SPACES, hartmann6
from rung.objectives import Objectives
from rung.search.gp import GP
from rung.space import Space
from rung.types import Status


def _results(config: dict[str, Any]) -> dict[str, float]:
    x = np.array([config[f"x{i}"] for i in range(6)])
    return {"y": hartmann6(config), "sum": float(x.sum()), "centre": float(np.linalg.norm(x - 0.5))}


def time_suggestions(
    n: int,
    window: int,
    warmup: int,
    pending: int,
    seed: int = 0,
    objectives: int = 1,
    constraint: bool = False,
    table: str | None = None,
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `window` suggestions made with n observations (and `pending` running)."""
    searcher = GP(seed=seed, n_startup=n + pending)
    total = n + pending + warmup + window
    results: Callable[[dict[str, Any]], dict[str, float]] = _results
    if table is not None:
        from bench.objectives import table_problem

        modes = {"val_acc": "max", "latency" if table.startswith("nb201") else "train_time": "min"}
        problem = table_problem(table, dict(list(modes.items())[:objectives]))
        searcher.setup(Space(problem.space), metric="val_acc", mode="max", num_samples=total, seed=seed)
        if objectives > 1:
            searcher.set_objectives(Objectives.of(list(problem.modes), list(problem.modes.values())))
        results = problem.fn
    else:
        searcher.setup(Space(SPACES["hartmann6"]), metric="y", mode="min", num_samples=total, seed=seed)
    if table is None and (objectives > 1 or constraint):
        metrics = ["y", "sum", "centre"][:objectives]
        searcher.set_objectives(Objectives.of(metrics, "min", constraints={"sum": ("<=", 3.0)} if constraint else None))
    running: list[tuple[int, float]] = []
    wall: list[float] = []
    cpu: list[float] = []
    first_timed = n + pending + warmup + 1
    for trial_id in range(1, total + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        config = searcher.suggest(trial_id)
        if trial_id >= first_timed:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        if config is None:
            raise RuntimeError(f"GP proposed nothing for trial {trial_id}")
        running.append((trial_id, results(config)))
        if len(running) > pending:
            done, result = running.pop(0)
            searcher.on_complete(done, Status.TERMINATED, result)
    return wall, cpu


def _stats(seconds: list[float]) -> str:
    ms = 1000 * np.array(seconds)
    mean, median, p95, worst = ms.mean(), np.median(ms), np.percentile(ms, 95), ms.max()
    return f"{mean:>6.1f} {median:>6.1f} {p95:>6.1f} {worst:>6.1f}"


def cost(
    sizes: list[int],
    window: int,
    warmup: int,
    pending: int,
    objectives: int = 1,
    constraint: bool = False,
    table: str | None = None,
) -> None:
    print(
        f"GP ms per suggestion, {table or 'Hartmann-6'}, {window} timed after {warmup} untimed, pending={pending}, "
        f"objectives={objectives}, constraint={constraint} ({platform.processor() or platform.machine()})"
    )
    head = f"{'mean':>6} {'median':>6} {'p95':>6} {'max':>6}"
    print(f"{'':>12} {'wall':^27}   {'cpu':^27}")
    print(f"{'observations':>12} {head}   {head}")
    for n in sizes:
        wall, cpu = time_suggestions(
            n, window, warmup, pending, objectives=objectives, constraint=constraint, table=table
        )
        print(f"{n:>12} {_stats(wall)}   {_stats(cpu)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pending", type=int, default=0)
    parser.add_argument("--objectives", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--constraint", action="store_true")
    parser.add_argument("--table", default=None, help="a table of bench.objectives, e.g. hpobench-kc1")
    args = parser.parse_args()
    cost(args.sizes, args.window, args.warmup, args.pending, args.objectives, args.constraint, args.table)


if __name__ == "__main__":
    main()
