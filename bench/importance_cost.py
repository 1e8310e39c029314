"""Cost of the dashboard's importance with interactions (`rung.store.importance.model_importance`).

    python -m bench.importance_cost [--trials 20 150 2000] [--dims 4 8] [--repeat 5]

Synthetic trials (uniform, log-uniform and categorical hyperparameters, a metric with one
interaction); the GP sees at most `MODEL_TRIALS` of them. Prints wall and CPU time per call (the
median of `--repeat`, after one untimed call that imports what it needs), and the univariate
measure's beside it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import numpy as np

from rung.store.importance import MODEL_TRIALS, model_importance, univariate_importance


def trials(n: int, dims: int, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    space: dict[str, Any] = {}
    for d in range(dims):
        kind = ("uniform", "loguniform", "choice")[d % 3]
        space[f"p{d}"] = (
            {"type": "choice", "options": ["a", "b", "c"]}
            if kind == "choice"
            else {"type": kind, "low": 1e-4 if kind == "loguniform" else 0.0, "high": 1.0}
        )
    rows = []
    for _ in range(n):
        config: dict[str, Any] = {}
        for key, domain in space.items():
            if domain["type"] == "choice":
                config[key] = str(rng.choice(domain["options"]))
            elif domain["type"] == "loguniform":
                config[key] = float(10 ** rng.uniform(-4, 0))
            else:
                config[key] = float(rng.uniform(0, 1))
        loss = config["p0"] * np.log10(config["p1"]) + (config["p2"] == "a") + 0.1 * rng.normal()
        rows.append({"config": config, "best_result": {"loss": float(loss)}})
    return rows, space


def timed(fn: Any, repeat: int) -> tuple[float, float]:
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[20, 150, 2000])
    parser.add_argument("--dims", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}; GP on <= {MODEL_TRIALS}")
    print("| trials | hyperparameters | with interactions: wall | CPU | alone: wall | CPU |")
    print("|---|---|---|---|---|---|")
    for dims in args.dims:
        for n in args.trials:
            rows, space = trials(n, dims)
            model = timed(lambda: model_importance(rows, "loss", space), args.repeat)  # noqa: B023
            alone = timed(lambda: univariate_importance(rows, "loss"), args.repeat)  # noqa: B023
            print(f"| {n} | {dims} | {model[0]:.3f} s | {model[1]:.3f} s | {alone[0]:.3f} s | {alone[1]:.3f} s |")


if __name__ == "__main__":
    main()
