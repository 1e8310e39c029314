"""`python -m bench.cost_aware`: regret against money spent, TPE with and without `cost_aware=True`.

Each run tunes one table on the simulated clock (`SimulatedExecutor`, 4 workers, decisions not
charged) with `prices={"cpu": 3600.0}` (one CPU per trial: a trial's cost is its seconds) and
`budget={"cost": B}`, where B is `--trials` times the median cost of a whole trial of the table
(its configurations' recorded seconds, all steps). The regret is the gap between the best value any
result reached so far and the table's best (bench's tables: their best recorded value; LCBench: the
best value any run of the task reached), read at a quarter, half and all of B.

Tables: bench's recorded `mlp` and `gbt` (nearest recorded configuration; step seconds recorded),
and LCBench tasks through YAHPO Gym's surrogate (`lcbench:<task>`; its `time` per epoch).

    nice -n 5 python -m bench.cost_aware --seeds 5 --tables mlp gbt lcbench:3945 lcbench:34539
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung.executors.simulated import Curve, SimulatedExecutor

__all__ = ["main", "run_once"]

FRACTIONS = (0.25, 0.5, 1.0)


def _table(name: str) -> tuple[Callable[[Mapping[str, Any]], Curve], dict[str, Any], str, str, float, float | None]:
    """The objective, space, metric, mode, median whole-trial cost and best value (None: unknown) of a table."""
    if name.startswith("lcbench:"):
        from bench.lcbench.methods_rung import space
        from bench.lcbench.surrogate import METRIC, Surrogate, sample_configs

        task = name.split(":", 1)[1]
        surrogate = Surrogate()

        def objective(config: Mapping[str, Any]) -> Curve:
            values, seconds = surrogate.curve(task, config)
            return Curve([{METRIC: float(v)} for v in values], seconds.tolist())

        sample = surrogate.curves(task, sample_configs(np.random.default_rng(0), 200))
        return objective, space(), METRIC, "max", float(np.median(sample.seconds.sum(axis=1))), None
    from bench.tables import Table

    table = Table.load(name)
    return (
        table.objective,
        table.space,
        table.metric,
        table.mode,
        float(np.median(table.seconds[0].sum(axis=1))),
        (table.best[1]),
    )


def run_once(name: str, seed: int, cost_aware: bool, trials: float, scheduler: str = "fifo") -> list[list[float]]:
    """One run: [money spent, best value so far] after each result, in the order stored."""
    objective, space, metric, mode, median, _best = _table(name)
    budget = trials * median
    extra: dict[str, Any] = {}
    if scheduler == "asha":
        extra["scheduler"] = rung.ASHA(max_t=_steps(objective, space), grace_period=1, reduction_factor=3)
    else:
        extra["scheduler"] = "fifo"
    with tempfile.TemporaryDirectory(prefix="rung-cost-aware-") as work:
        rung.run(
            objective, space, metric=metric, mode=mode, search=rung.TPE(seed=seed, cost_aware=cost_aware),
            executor=SimulatedExecutor(4, decision_seconds=0.0), prices={"cpu": 3600.0}, budget={"cost": budget},
            num_samples=100_000, storage=Path(work), name="run", seed=seed, verbose=0, **extra,
        )  # fmt: skip
        with sqlite3.connect(Path(work) / "run" / "rung.db") as conn:
            rows = conn.execute("SELECT trial_id, data FROM results ORDER BY seq").fetchall()
    sign = 1.0 if mode == "max" else -1.0
    last: dict[int, float] = {}
    spent, best = 0.0, -np.inf
    out = []
    for trial_id, data in rows:
        result = json.loads(data)
        spent += result["cost"] - last.get(trial_id, 0.0)
        last[trial_id] = result["cost"]
        value = result.get(metric)
        if isinstance(value, int | float) and np.isfinite(value):
            best = max(best, sign * float(value))
        out.append([spent / budget, sign * best])
    return out


def _steps(objective: Callable[[Mapping[str, Any]], Curve], space: dict[str, Any]) -> int:
    """The steps of the table's curves (ASHA's max_t)."""
    from rung.space import Space

    return len(objective(Space.of(space).sample(np.random.default_rng(0))).metrics)


def _at(curve: list[list[float]], fraction: float) -> float:
    """The best value so far once `fraction` of the budget was spent (the last point at or before it)."""
    value = np.nan
    for spent, best in curve:
        if spent > fraction + 1e-12:
            break
        value = best
    return float(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost_aware", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tables", nargs="+", default=["mlp", "gbt", "lcbench:3945", "lcbench:34539"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=float, default=40.0, help="the budget, in median whole trials")
    parser.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo")
    parser.add_argument("--out", type=Path, default=None, help="write every run's numbers as JSON here")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    print(f"TPE vs TPE(cost_aware=True), scheduler={args.scheduler}, budget={args.trials:g} median trials,"
          f" {args.seeds} seeds; regret (median over seeds [mean]) at a share of the budget")  # fmt: skip
    print(
        "| table | search | "
        + " | ".join(f"regret at {f:.0%}" for f in FRACTIONS)
        + " | lower regret at 100% (seeds; the rest tie) |"
    )
    print("|---|---|" + "---|" * (len(FRACTIONS) + 1))
    for name in args.tables:
        *_, known_best = _table(name)
        runs = {
            aware: [run_once(name, seed, aware, args.trials, args.scheduler) for seed in range(args.seeds)]
            for aware in (False, True)
        }
        ends = [curve[-1][1] for curves in runs.values() for curve in curves]
        top = known_best if known_best is not None else max(ends)
        regret = {
            aware: np.array([[abs(top - _at(c, f)) for f in FRACTIONS] for c in curves])
            for aware, curves in runs.items()
        }
        aware_won = int(np.sum(regret[True][:, -1] < regret[False][:, -1]))
        plain_won = int(np.sum(regret[True][:, -1] > regret[False][:, -1]))
        for aware in (False, True):
            cells = [
                f"{np.median(regret[aware][:, k]):.3g} [{np.mean(regret[aware][:, k]):.3g}]"
                for k in range(len(FRACTIONS))
            ]
            label = "TPE(cost_aware=True)" if aware else "TPE"
            print(f"| {name} | {label} | " + " | ".join(cells) + f" | {aware_won if aware else plain_won} |")
        report[name] = {"best": top, "regret": {str(a): r.tolist() for a, r in regret.items()}}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
