"""Where a two-objective front falls short of the exact one: the missing hypervolume by region.

For the tables of `bench.objectives` (HPOBench's MLP, NAS-Bench-201), whose exact front is known, this
runs `rung`'s default and splits the hypervolume it misses by the first objective's value (the
accuracy loss, scaled to [0, 1] over the table): which part of the front the search does not reach.

    python -m bench.front_gaps --problems nb201-imagenet hpobench-blood_transfusion --trials 300 --seeds 3

Both objectives are losses scaled to [0, 1], the reference point (1, 1), as in `bench.objectives`.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import numpy as np

from bench.objectives import METHODS, _table, table_problem
from rung.objectives import pareto_ranks

__all__ = ["exact_front", "missing_by_region", "staircase"]

BINS = (0.0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.3, 0.45, 1.0)
GRID = 20_001  # points on the first objective's [0, 1] where the staircases are compared


def exact_front(points: np.ndarray) -> np.ndarray:
    """The non-dominated rows of `points` (two losses), by the first loss ascending."""
    front = points[pareto_ranks(points, until=1) == 0]
    return front[np.argsort(front[:, 0], kind="stable")]


def staircase(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """At each x, the least second loss among the points whose first loss is at most x (1: none)."""
    order = np.argsort(points[:, 0], kind="stable")
    lowest = np.minimum.accumulate(np.minimum(points[order, 1], 1.0))
    index = np.searchsorted(points[order, 0], xs, side="right") - 1
    return np.where(index >= 0, lowest[np.maximum(index, 0)], 1.0)


def missing_by_region(front: np.ndarray, points: np.ndarray, bins: Sequence[float] = BINS) -> list[float]:
    """The hypervolume (reference (1, 1)) that `points` miss of `front`'s, per interval of the first
    loss given by `bins`; their sum is the whole difference when `bins` spans [0, 1]."""
    xs = np.linspace(0.0, 1.0, GRID)
    gap = staircase(points, xs) - staircase(front, xs)
    step = xs[1] - xs[0]
    # The area under a step function by the midpoint rule on the grid: cells, not points.
    mid = (gap[:-1] + gap[1:]) / 2
    centres = (xs[:-1] + xs[1:]) / 2
    return [float(mid[(centres >= lo) & (centres < hi)].sum() * step) for lo, hi in itertools.pairwise(bins)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.front_gaps", description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", default=["nb201-imagenet"])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--method", default="rung (default)", choices=list(METHODS))
    args = parser.parse_args(argv)
    for name in args.problems:
        second = "latency" if name.startswith("nb201-") else "train_time"
        problem = table_problem(name, {"val_acc": "max", second: "min"})
        _, means = _table(name)
        front = exact_front(np.array([problem.losses(row) for row in means.values()]))
        total = np.zeros(len(BINS) - 1)
        print(f"{name}: exact front of {len(front)} points, hypervolume {problem.best_hv:.4f}")
        for seed in range(args.seeds):
            points = np.array([problem.losses(r) for r in METHODS[args.method](problem, args.trials, seed)])
            missing = missing_by_region(front, points)
            total += missing
            print(f"  seed {seed}: share {1 - sum(missing) / problem.best_hv:.4f}")
        print("  missing share of the exact hypervolume, by accuracy loss (mean over seeds):")
        for (lo, hi), value in zip(itertools.pairwise(BINS), total / args.seeds, strict=True):
            print(f"    [{lo:g}, {hi:g}): {value / problem.best_hv:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
