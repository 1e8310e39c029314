"""Cost and quality of `rung.GP`: time per suggestion at large histories, and best values after 100 trials.

    python -m bench.gp_cost cost [--sizes 100 250 500] [--window 50] [--pending 0]
    python -m bench.gp_cost quality [--seeds 5] [--trials 100] [--problems branin hartmann6]

`cost`: a 6-dimensional problem (Hartmann-6); the first n configurations are random (so filling the
history is cheap), one untimed suggestion fits the hyperparameters from scratch (in a real run they
are warm from the previous fit), then `window` suggestions are timed, each followed by its
observation. The default window spans a full hyperparameter refit cycle at 500 (refits happen each
time the data grew by 10%), so the mean includes its share of refits. Wall time is what a run
waits; CPU time (BLAS is held to one thread while suggesting, when threadpoolctl is installed) is
the work itself, the number to trust on a machine shared with other jobs. `--pending k` keeps k trials running (kriging
believer). `quality`: GP against random search, and against rung.TPE when it exists (else
Optuna's TPESampler), in the same loop; the median and interquartile range of the best value.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import rung
from rung.search.base import Searcher
from rung.search.gp import GP
from rung.search.random import Random
from rung.space import Space
from rung.types import Status

Objective = Callable[[dict[str, Any]], float]

_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(config: dict[str, Any]) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887."""
    x1, x2 = config["x1"], config["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def hartmann6(config: dict[str, Any]) -> float:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""
    x = np.array([config[f"x{i}"] for i in range(6)])
    return float(-(_ALPHA * np.exp(-(_A * (x - _P) ** 2).sum(1))).sum())


PROBLEMS: dict[str, tuple[Objective, dict[str, Any]]] = {
    "branin": (branin, {"x1": rung.uniform(-5, 10), "x2": rung.uniform(0, 15)}),
    "hartmann6": (hartmann6, {f"x{i}": rung.uniform(0, 1) for i in range(6)}),
}


def cost(sizes: list[int], window: int, pending: int) -> None:
    fn, space = PROBLEMS["hartmann6"]
    print(f"GP time per suggestion, Hartmann-6, pending={pending} ({platform.processor() or platform.machine()})")
    print(f"{'observations':>12} {'mean ms':>8} {'median ms':>9} {'max ms':>7} {'mean cpu ms':>11}")
    for n in sizes:
        searcher = GP(seed=0, n_startup=n + pending)
        searcher.setup(Space(space), metric="y", mode="min", num_samples=n + pending + window + 1, seed=0)
        running: list[tuple[int, float]] = []
        times: list[float] = []
        cpu: list[float] = []
        for trial_id in range(1, n + pending + window + 2):
            start, start_cpu = time.perf_counter(), time.process_time()
            config = searcher.suggest(trial_id)
            if trial_id > n + pending + 1:
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            assert config is not None
            running.append((trial_id, fn(config)))
            if len(running) > pending:
                done, value = running.pop(0)
                searcher.on_complete(done, Status.TERMINATED, {"y": value})
        ms = np.array(times) * 1000
        print(f"{n:>12} {ms.mean():>8.1f} {np.median(ms):>9.1f} {ms.max():>7.1f} {1000 * np.mean(cpu):>11.1f}")


def _tpe() -> tuple[str, Callable[[int], Searcher] | None]:
    try:
        from rung.search.tpe import TPE  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "optuna-TPE", None
    return "rung.TPE", lambda seed: TPE(seed=seed)  # type: ignore[no-any-return,unused-ignore]


def _run_searcher(searcher: Searcher, fn: Objective, space: dict[str, Any], trials: int, seed: int) -> float:
    searcher.setup(Space(space), metric="y", mode="min", num_samples=trials, seed=seed)
    best = math.inf
    for trial_id in range(1, trials + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        value = fn(config)
        searcher.observe(trial_id, {"y": value, "training_iteration": 1})
        searcher.on_complete(trial_id, Status.TERMINATED, {"y": value, "training_iteration": 1})
        best = min(best, value)
    return best


def _run_optuna(fn: Objective, space: dict[str, Any], trials: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    bounds = {key: (dom.low, dom.high) for key, dom in space.items()}
    study.optimize(lambda t: fn({k: t.suggest_float(k, lo, hi) for k, (lo, hi) in bounds.items()}), trials)
    return float(study.best_value)


def quality(problems: list[str], seeds: int, trials: int) -> None:
    tpe_name, make_tpe = _tpe()
    print(f"best value after {trials} trials, {seeds} seeds: median [25%, 75%]")
    for problem in problems:
        fn, space = PROBLEMS[problem]
        rows: dict[str, list[float]] = {"rung.GP": [], "random": [], tpe_name: []}
        for seed in range(seeds):
            rows["rung.GP"].append(_run_searcher(GP(seed=seed), fn, space, trials, seed))
            rows["random"].append(_run_searcher(Random(seed=seed), fn, space, trials, seed))
            if make_tpe is None:
                rows[tpe_name].append(_run_optuna(fn, space, trials, seed))
            else:
                rows[tpe_name].append(_run_searcher(make_tpe(seed), fn, space, trials, seed))
        for name, values in rows.items():
            q25, q50, q75 = np.percentile(values, [25, 50, 75])
            print(f"  {problem:<10} {name:<11} {q50:9.4f} [{q25:.4f}, {q75:.4f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    c.add_argument("--window", type=int, default=50)
    c.add_argument("--pending", type=int, default=0)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, default=5)
    q.add_argument("--trials", type=int, default=100)
    q.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args()
    if args.what == "cost":
        cost(args.sizes, args.window, args.pending)
    else:
        quality(args.problems, args.seeds, args.trials)


if __name__ == "__main__":
    main()
