"""Per-task references: the best, median and full-training seconds of a large random sample, cached as JSON.

For each task, `SAMPLE` configurations are drawn uniformly (one seeded generator per task) and run
through the surrogate for all 52 epochs. A configuration's score is its best `val_accuracy` over
the epochs (what training it to the end reports at best, which is also what the methods' regret
counts); the reference `best` is the best score of the sample, `median` the median score, and the
spread `best - median` scales a task's regret. One full-training equivalent (`equivalent_s`) is
the mean of the configurations' total seconds for 52 epochs (clipped epochs, as the runs see them).

    python -m bench lcbench reference          # recompute bench/data/lcbench_reference.json (~10 CPU minutes)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.lcbench.surrogate import EPOCHS, FLOOR, METRIC, Surrogate, sample_configs

__all__ = ["PATH", "SAMPLE", "Reference", "compute", "load"]

PATH = Path(__file__).resolve().parents[1] / "data" / "lcbench_reference.json"
SAMPLE = 10_000
SEED = 20_221
CHUNK = 500


class Reference(dict[str, dict[str, float]]):
    """`{task: {"best", "median", "spread", "equivalent_s", "best_final"}}` with the settings it was made with."""

    settings: dict[str, Any]


def _task(surrogate: Surrogate, task: str, sample: int) -> dict[str, float]:
    rng = np.random.default_rng([SEED, int(task)])
    scores: list[np.ndarray] = []
    finals: list[np.ndarray] = []
    totals: list[np.ndarray] = []
    for start in range(0, sample, CHUNK):
        configs = sample_configs(rng, min(CHUNK, sample - start))
        curves = surrogate.curves(task, configs)
        surrogate.clear()
        scores.append(curves.values.max(axis=1))
        finals.append(curves.values[:, -1])
        totals.append(curves.seconds.sum(axis=1))
    score = np.concatenate(scores)
    best, median = float(score.max()), float(np.median(score))
    return {
        "best": round(best, 5),
        "median": round(median, 5),
        "spread": round(best - median, 5),
        "equivalent_s": round(float(np.concatenate(totals).mean()), 3),
        "best_final": round(float(np.concatenate(finals).max()), 5),
    }


def compute(sample: int = SAMPLE, tasks: list[str] | None = None, path: Path | None = PATH) -> Reference:
    """Compute the references of `tasks` (default all 34) and write them to `path` (None: do not write)."""
    surrogate = Surrogate()
    reference = Reference()
    for task in tasks or surrogate.tasks:
        reference[task] = _task(surrogate, task, sample)
    reference.settings = {"sample": sample, "seed": SEED, "epochs": EPOCHS, "floor_s": FLOOR, "metric": METRIC}
    if path is not None:
        path.write_text(json.dumps({"settings": reference.settings, "tasks": dict(reference)}, indent=1) + "\n")
    return reference


def load(path: Path = PATH) -> Reference:
    """The cached references; raises FileNotFoundError with the command that makes them."""
    if not path.is_file():
        raise FileNotFoundError(f"no LCBench references at {path}; make them with: python -m bench lcbench reference")
    data = json.loads(path.read_text())
    reference = Reference({task: {k: float(v) for k, v in row.items()} for task, row in data["tasks"].items()})
    reference.settings = data["settings"]
    return reference
