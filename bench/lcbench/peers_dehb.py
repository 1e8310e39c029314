"""DEHB 0.1 on LCBench: ask/tell with `n_workers=1` (no Dask cluster) on `bench.lcbench.sim`'s clock.

DEHB hands out jobs at a fidelity (epochs 52/27, 52/9, 52/3 and 52 with its default η=3, rounded to
whole epochs); each job trains its configuration from scratch to that epoch and reports once: fitness
`100 - val_accuracy` at its last epoch (DEHB minimises), cost its epochs (DEHB only records the
cost). Several jobs are asked for before the first is told (one per free worker), which its bracket
manager allows with one worker.
DEHB pins `numpy<2`, so it runs in the separate environment with SMAC3 (`setup_peers.sh`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bench.lcbench import catalogue
from bench.lcbench._configspace import configspace
from bench.lcbench.sim import Job, Trace, simulate
from bench.lcbench.surrogate import EPOCHS

__all__ = ["METHODS", "run"]

METHODS = catalogue.METHODS["dehb"]


class _Dehb:
    def __init__(self, seed: int, work: str) -> None:
        from dehb import DEHB

        self.dehb = DEHB(
            cs=configspace(seed),
            min_fidelity=1,
            max_fidelity=EPOCHS,
            eta=3,
            n_workers=1,
            seed=seed,
            output_path=work,
            log_level="ERROR",
            save_freq=None,
        )
        self.jobs: dict[int, dict[str, Any]] = {}
        self.count = 0

    def ask(self) -> Job:
        info = self.dehb.ask()
        key = self.count
        self.count += 1
        self.jobs[key] = info
        config = dict(info["config"])
        return Job(key, config, start=0, stop=max(1, round(float(info["fidelity"]))), per_epoch=False)

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        raise AssertionError("DEHB's jobs report once, at their end")

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        info = self.jobs.pop(int(job.key))  # type: ignore[call-overload]
        self.dehb.tell(info, {"fitness": 100.0 - value, "cost": float(epoch)})


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds."""
    if method != "dehb":
        raise ValueError(f"peers_dehb needs one of {', '.join(METHODS)}; got method={method!r}")
    with tempfile.TemporaryDirectory(prefix="dehb-lcbench-") as work:
        return simulate(_Dehb(seed, work), curve, budget=budget, workers=workers)
