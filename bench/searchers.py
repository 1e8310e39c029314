"""Quality and cost of `rung.TPE` beside Optuna's `TPESampler` (and random search as the floor).

    python -m bench.searchers quality [--seeds 20] [--trials 100] [--problems branin hartmann6 mixed6]
    python -m bench.searchers cost [--sizes 100 1000 10000] [--window 20]

`quality`: each searcher minimises each problem for `trials` sequential trials, once per seed; the
table gives the median and interquartile range (25%-75%) of the best value found. rung's searchers
run through their contract (suggest / observe / on_complete) in a plain loop, Optuna's through
`study.optimize` with an in-memory storage; the same problem functions, the same budget.

`cost`: the history first holds n random configurations of the 6-dimensional mixed problem (so
filling it is cheap), then `window` proposals are timed, each followed by its result. For Optuna
the n trials are added to an in-memory study, and a trial (ask, six suggestions, tell) is timed.
The figure is the mean CPU time of the proposing thread (BLAS held to that thread), so other
load on the machine inflates it little; a mean, not a median, because with a long history rung.TPE
chooses proposals 16 at a time and refits its densities every 1% of growth, and a median would hide
both. rung's first timed proposal is left out: it makes the first fit, which the filling skipped.
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
from rung.search.auto import AutoSearch
from rung.search.base import Searcher
from rung.search.gp import GP
from rung.search.random import Random
from rung.search.tpe import TPE
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
OPTIMISERS = ("sgd", "adam", "rmsprop", "adagrad")
ACTIVATIONS = ("relu", "tanh", "gelu")
_LR = {"sgd": -1.5, "adam": -3.0, "rmsprop": -3.5, "adagrad": -2.0}  # log10 of the best lr per optimiser
_OPT = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.5}
_ACT = {"relu": 0.05, "tanh": 0.2, "gelu": 0.0}


def branin(c: dict[str, Any]) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887."""
    x1, x2 = c["x1"], c["x2"]
    b, k = 5.1 / (4 * math.pi**2), 5 / math.pi
    return float((x2 - b * x1**2 + k * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def hartmann6(c: dict[str, Any]) -> float:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""
    x = np.array([c[f"x{i}"] for i in range(6)])
    return float(-(_ALPHA * np.exp(-(_A * (x - _P) ** 2).sum(1))).sum())


def mixed6(c: dict[str, Any]) -> float:
    """A training-run stand-in over log, integer, quantised and categorical dimensions; minimum 0.

    The best learning rate depends on the optimiser (an interaction a per-dimension model misses).
    """
    return float(
        (math.log10(c["lr"]) - _LR[c["opt"]]) ** 2
        + 0.125 * (math.log2(c["batch"]) - 7) ** 2
        + 0.1 * (c["layers"] - 3) ** 2
        + 4 * (c["dropout"] - 0.3) ** 2
        + _OPT[c["opt"]]
        + _ACT[c["act"]]
    )


SPACES: dict[str, dict[str, Any]] = {
    "branin": {"x1": rung.uniform(-5, 10), "x2": rung.uniform(0, 15)},
    "hartmann6": {f"x{i}": rung.uniform(0, 1) for i in range(6)},
    "mixed6": {
        "lr": rung.loguniform(1e-5, 1.0),
        "batch": rung.lograndint(8, 1024),
        "layers": rung.randint(1, 8),
        "dropout": rung.quniform(0.0, 0.8, 0.05),
        "opt": rung.choice(list(OPTIMISERS)),
        "act": rung.choice(list(ACTIVATIONS)),
    },
}
# mixed6 over lists of values only (as `hp.choice` of numbers, or a table of recorded settings):
# four choices of numbers and two of strings.
CHOICES6 = {
    "lr": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0],
    "batch": [8, 16, 32, 64, 128, 256, 512, 1024],
    "layers": [1, 2, 3, 4, 5, 6, 7, 8],
    "dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "opt": list(OPTIMISERS),
    "act": list(ACTIVATIONS),
}
SPACES["choices6"] = {key: rung.choice(values) for key, values in CHOICES6.items()}
PROBLEMS: dict[str, Objective] = {"branin": branin, "hartmann6": hartmann6, "mixed6": mixed6, "choices6": mixed6}


def optuna_params(trial: Any, problem: str) -> dict[str, Any]:
    """The same space, in Optuna's define-by-run spelling."""
    if problem == "branin":
        return {"x1": trial.suggest_float("x1", -5, 10), "x2": trial.suggest_float("x2", 0, 15)}
    if problem == "hartmann6":
        return {f"x{i}": trial.suggest_float(f"x{i}", 0, 1) for i in range(6)}
    if problem == "choices6":
        return {key: trial.suggest_categorical(key, values) for key, values in CHOICES6.items()}
    return {
        "lr": trial.suggest_float("lr", 1e-5, 1.0, log=True),
        "batch": trial.suggest_int("batch", 8, 1024, log=True),
        "layers": trial.suggest_int("layers", 1, 8),
        "dropout": trial.suggest_float("dropout", 0.0, 0.8, step=0.05),
        "opt": trial.suggest_categorical("opt", list(OPTIMISERS)),
        "act": trial.suggest_categorical("act", list(ACTIVATIONS)),
    }


def run_rung(searcher: Searcher, problem: str, trials: int, seed: int) -> float:
    """The best value `searcher` finds in `trials` sequential trials."""
    searcher.setup(Space(SPACES[problem]), metric="loss", mode="min", num_samples=trials, seed=seed)
    best = math.inf
    for trial_id in range(1, trials + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        value = PROBLEMS[problem](config)
        best = min(best, value)
        searcher.on_complete(trial_id, Status.TERMINATED, {"loss": value, "training_iteration": 1})
    return best


def run_optuna(problem: str, trials: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: PROBLEMS[problem](optuna_params(t, problem)), n_trials=trials)
    return float(study.best_value)


SEARCHERS: dict[str, Callable[[str, int, int], float]] = {
    "rung.TPE": lambda problem, trials, seed: run_rung(TPE(seed=seed), problem, trials, seed),
    "rung.TPE explore_choices=0": lambda problem, trials, seed: run_rung(
        TPE(seed=seed, explore_choices=0.0), problem, trials, seed
    ),
    "optuna TPESampler": run_optuna,
    "rung.Random": lambda problem, trials, seed: run_rung(Random(seed=seed), problem, trials, seed),
    "rung.GP": lambda problem, trials, seed: run_rung(GP(seed=seed), problem, trials, seed),
    "rung default (AutoSearch)": lambda problem, trials, seed: run_rung(AutoSearch(seed=seed), problem, trials, seed),
    "rung.TPE ordered_choices=False": lambda problem, trials, seed: run_rung(
        TPE(seed=seed, ordered_choices=False), problem, trials, seed
    ),
    "rung.GP ordered_choices=False": lambda problem, trials, seed: run_rung(
        GP(seed=seed, ordered_choices=False), problem, trials, seed
    ),
}


def quality(seeds: int, trials: int, problems: list[str], searchers: list[str]) -> None:
    print(f"best value after {trials} trials, {seeds} seeds: median [25%, 75%] (lower is better)\n")
    print("| problem | " + " | ".join(searchers) + " |")
    print("|---|" + "---|" * len(searchers))
    for problem in problems:
        cells = []
        for name in searchers:
            values = np.array([SEARCHERS[name](problem, trials, seed) for seed in range(seeds)])
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            cells.append(f"{median:.4g} [{q1:.4g}, {q3:.4g}]")
        print(f"| {problem} | " + " | ".join(cells) + " |", flush=True)


def _time_rung(size: int, window: int) -> float:
    space = Space(SPACES["mixed6"])
    searcher = TPE(seed=0, n_startup=size + 1)  # random while filling
    searcher.setup(space, metric="loss", mode="min", num_samples=size + window + 1, seed=0)
    for trial_id in range(1, size + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        searcher.on_complete(trial_id, Status.TERMINATED, {"loss": mixed6(config)})
    searcher.n_startup = 10
    spent = []
    for trial_id in range(size + 1, size + window + 2):
        start = time.thread_time()
        config = searcher.suggest(trial_id)
        if trial_id > size + 1:
            spent.append(time.thread_time() - start)
        assert config is not None
        searcher.on_complete(trial_id, Status.TERMINATED, {"loss": mixed6(config)})
    return float(np.mean(spent))


def _time_optuna(size: int, window: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    space = Space(SPACES["mixed6"])
    d = optuna.distributions
    dists = {
        "lr": d.FloatDistribution(1e-5, 1.0, log=True),
        "batch": d.IntDistribution(8, 1024, log=True),
        "layers": d.IntDistribution(1, 8),
        "dropout": d.FloatDistribution(0.0, 0.8, step=0.05),
        "opt": d.CategoricalDistribution(list(OPTIMISERS)),
        "act": d.CategoricalDistribution(list(ACTIVATIONS)),
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    configs = [space.sample(rng) for _ in range(size)]
    study.add_trials([optuna.trial.create_trial(params=c, distributions=dists, value=mixed6(c)) for c in configs])
    spent = []
    for _ in range(window):
        start = time.thread_time()
        trial = study.ask()
        study.tell(trial, mixed6(optuna_params(trial, "mixed6")))
        spent.append(time.thread_time() - start)
    return float(np.mean(spent))


def cost(sizes: list[int], window: int, with_optuna: bool) -> None:
    print(f"CPU time per proposal on mixed6 (6 dimensions), mean of {window} after n observations\n")
    print("| observations | rung.TPE | optuna TPESampler (in memory, per trial) |")
    print("|---|---|---|")
    for size in sizes:
        ours = _time_rung(size, window)
        theirs = f"{_time_optuna(size, window) * 1e3:.2f} ms" if with_optuna else "-"
        print(f"| {size:,} | {ours * 1e3:.2f} ms | {theirs} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, default=20)
    q.add_argument("--trials", type=int, default=100)
    q.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    q.add_argument("--searchers", nargs="+", default=list(SEARCHERS), choices=list(SEARCHERS))
    c = sub.add_parser("cost")
    c.add_argument("--sizes", nargs="+", type=int, default=[100, 1000, 10000])
    c.add_argument("--window", type=int, default=20)
    c.add_argument("--no-optuna", action="store_true", help="time rung.TPE only")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    if args.what == "quality":
        quality(args.seeds, args.trials, args.problems, args.searchers)
    else:
        cost(args.sizes, args.window, not args.no_optuna)


if __name__ == "__main__":
    main()
