"""SMAC3 2.4 on LCBench: its `MultiFidelityFacade` by ask/tell on `bench.lcbench.sim`'s clock.

The facade's defaults (random forest, Hyperband intensifier with η=3) with budgets 1..52 epochs; a
trial trains its configuration from scratch to `round(budget)` epochs and reports once: cost
`100 - val_accuracy` at its last epoch (SMAC minimises, and its forest models the log of the cost,
so the cost is kept positive). Up to 4 trials are asked before the first is told; results are told
with `save=False` (nothing written per trial). SMAC3 needs ConfigSpace 1.x and runs in the separate
environment with DEHB (`setup_peers.sh`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.lcbench import catalogue
from bench.lcbench._configspace import configspace
from bench.lcbench.sim import Job, Trace, simulate
from bench.lcbench.surrogate import EPOCHS

__all__ = ["METHODS", "run"]

METHODS = catalogue.METHODS["smac"]


def _never(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("SMAC is driven by ask/tell here; it never calls its target function")


class _Smac:
    def __init__(self, seed: int, work: str) -> None:
        from smac import MultiFidelityFacade, Scenario

        scenario = Scenario(
            configspace(seed),
            name="lcbench",
            output_directory=Path(work),
            deterministic=True,
            n_trials=10**7,
            min_budget=1,
            max_budget=EPOCHS,
            seed=seed,
        )
        self.smac = MultiFidelityFacade(scenario, _never, overwrite=True, logging_level=40)
        self.trials: dict[int, Any] = {}
        self.count = 0

    def ask(self) -> Job:
        info = self.smac.ask()
        key = self.count
        self.count += 1
        self.trials[key] = info
        stop = min(EPOCHS, max(1, round(float(info.budget))))
        return Job(key, dict(info.config), start=0, stop=stop, per_epoch=False)

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        raise AssertionError("SMAC's trials report once, at their end")

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        from smac.runhistory import TrialValue

        info = self.trials.pop(int(job.key))  # type: ignore[call-overload]
        self.smac.tell(info, TrialValue(cost=100.0 - value, time=float(epoch)), save=False)


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds."""
    if method != "smac-mf":
        raise ValueError(f"peers_smac needs one of {', '.join(METHODS)}; got method={method!r}")
    with tempfile.TemporaryDirectory(prefix="smac-lcbench-") as work:
        return simulate(_Smac(seed, work), curve, budget=budget, workers=workers)
