"""`python -m bench simulate`: rung's methods on the simulated clock, many seeds in seconds.

The same rung methods as `python -m bench compare` (built by `methods_rung.arguments`), on the same
tables, workers and budget, but on `executor="simulated"`: trials replay their curves on a
simulated clock instead of sleeping, so a seed of a 20-second run takes a second or two. What it
answers is what the methods' decisions are worth (which default to choose, whether a variant
helps), over more seeds than real-time runs afford; engine overhead does not count here (the
decision time is not charged unless `--charge-decisions`; then runs are no longer reproducible).
Of the peers, Optuna's methods run too (`optuna-tpe`, `optuna-hyperband`, `optuna-median`: by
ask/tell on the same clock, `sim_optuna.py`; their decision time is never charged); Ray Tune's
have no simulated clock.

Objectives: "nearest" answers each configuration with the nearest recorded one not yet used in the
run (`Table.replay`, as `compare` does); "interpolated" gives each configuration its own curve,
the inverse-distance average of the 4 nearest recorded ones (`Table.interpolated`), so a table
never runs out of configurations however many trials a method starts.

    python -m bench simulate                                        # both tables, both objectives
    python -m bench simulate --seeds 30 --objectives interpolated --methods rung-bohb rung-asha
    python -m bench simulate --seeds 30 --methods rung-default optuna-hyperband
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import rung
from bench.compare import methods_rung
from bench.compare.spec import METHODS
from bench.compare.trial import Replay
from bench.tables import SPACES, Table
from rung.executors.simulated import Curve, SimulatedExecutor

__all__ = ["main", "simulate"]

OBJECTIVES = ("nearest", "interpolated")
RUNG_METHODS = [name for name, method in METHODS.items() if method.engine == "rung"]
SIM_METHODS = RUNG_METHODS + [name for name, method in METHODS.items() if method.engine == "optuna"]


def _objective(table: Table, replay: Replay, objective: str) -> Callable[[Mapping[str, Any]], Curve]:
    """Curves carrying what `compare`'s trials report: the replayed metric (negated if minimised) and the step."""
    source = table.replay() if objective == "nearest" else table.interpolated
    sign = 1.0 if table.mode == "max" else -1.0

    def curve(config: Mapping[str, Any]) -> Curve:
        recorded = source(config)
        metrics = [{replay.metric: sign * m[table.metric], "step": i + 1} for i, m in enumerate(recorded.metrics)]
        return Curve(metrics, list(recorded.seconds))

    return curve


def simulate(
    method: str,
    table_name: str,
    seed: int,
    *,
    objective: str,
    budget: float,
    workers: int,
    charge: bool,
    metric: str = "val_loss",
) -> tuple[float, int]:
    """One run: the final regret (table's best minus the best reported within `budget`) and the trials started."""
    table = Table.load(table_name, metric=metric)
    with tempfile.TemporaryDirectory(prefix="rung-simulate-") as work:
        replay = Replay.of(table, Path(work) / "trace", scale=1.0, deadline=math.inf, claims=Path(work) / "claims")
        if METHODS[method].engine == "optuna":
            from bench.compare import sim_optuna  # imports optuna: only when asked

            source = _objective(table, replay, objective)

            def arrays(config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
                curve = source(config)
                values = [step[replay.metric] for step in curve.metrics]
                return np.asarray(values, dtype=float), np.asarray(curve.seconds, dtype=float)

            best, started = sim_optuna.run(
                method, replay.domains, arrays, steps=replay.steps, seed=seed, budget=budget, workers=workers
            )
            return replay.best - best, started
        extra, _ = methods_rung.arguments(method, replay)
        result = rung.run(
            _objective(table, replay, objective),
            dict(replay.domains),
            metric=replay.metric,
            mode="max",
            executor=SimulatedExecutor(workers, decision_seconds=None if charge else 0.0),
            time_budget_s=budget,
            storage=Path(work) / "rung",
            seed=seed,
            verbose=0,
            **{"num_samples": 1_000_000, **extra},
        )
        found = [t.best_metrics[replay.metric] for t in result.trials if t.best_metrics]
    return replay.best - max(found, default=-math.inf), len(result.trials)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=RUNG_METHODS,
        choices=SIM_METHODS,
        metavar="METHOD",
        help=f"default: every rung method; also: {', '.join(m for m in SIM_METHODS if m not in RUNG_METHODS)}",
    )
    parser.add_argument("--tables", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--budget", type=float, default=20.0, help="simulated seconds per run (default 20)")
    parser.add_argument("--workers", type=int, default=4, help="virtual workers (default 4)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, in processes (default 2)")
    parser.add_argument("--metric", default="val_loss", help="the tables' metric (default val_loss, as compare)")
    parser.add_argument("--charge-decisions", action="store_true", help="charge decision time to the clock")
    return parser


def _cell(values: Sequence[float]) -> str:
    low, mid, high = np.percentile(values, [25, 50, 75])
    return f"{mid:.4f} [{low:.4f}, {high:.4f}]"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for name, low in (("seeds", 1), ("workers", 1), ("jobs", 1)):
        if getattr(args, name) < low:
            parser.error(f"--{name} must be an integer >= {low}; got {getattr(args, name)}")
    if not args.budget > 0 or not math.isfinite(args.budget):
        parser.error(f"--budget must be a number > 0; got {args.budget}")
    runs = [
        (objective, table, method, seed)
        for objective in args.objectives
        for table in args.tables
        for method in args.methods
        for seed in range(args.seeds)
    ]
    options = {"budget": args.budget, "workers": args.workers, "charge": args.charge_decisions, "metric": args.metric}
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(simulate, m, t, s, objective=o, **options) for o, t, m, s in runs]
        outcomes = dict(zip(runs, (f.result() for f in futures), strict=True))
    print(
        f"Final regret after {args.budget:g} simulated s, {args.workers} workers, seeds 0..{args.seeds - 1}:"
        " median [25th, 75th percentile]; trials started: median."
    )
    for objective in args.objectives:
        print(f"\nObjective: {objective}\n")
        print("| method | " + " | ".join(f"{t}: regret | {t}: trials" for t in args.tables) + " |")
        print("|---|" + "---|---|" * len(args.tables))
        for method in args.methods:
            cells = []
            for table in args.tables:
                got = [outcomes[(objective, table, method, seed)] for seed in range(args.seeds)]
                cells += [_cell([regret for regret, _ in got]), f"{np.median([n for _, n in got]):.0f}"]
            print(f"| {method} | " + " | ".join(cells) + " |")
    return 0
