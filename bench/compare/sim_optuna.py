"""Optuna's methods on the recorded tables, driven by ask/tell on a simulated clock (`bench simulate`).

The same decisions as `peers_optuna` (TPESampler(seed) with no pruner, the Hyperband pruner or the
median pruner; `trial.report` and `trial.should_prune()` at every step; a finished trial is told its
last step's value, a pruned one `TrialState.PRUNED`), but on `bench.lcbench.sim`'s discrete-event
clock instead of threads that sleep: up to `workers` trials are asked before the first is told, as
with `study.optimize(n_jobs=workers)`, and Optuna's decision time is not charged (as for rung's
methods in `bench simulate`), so a run is deterministic for its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna

from bench.compare.peers_optuna import pruner, suggest
from bench.lcbench.peers_optuna import _Optuna as _Reporting
from bench.lcbench.sim import Job, simulate
from rung.space import Domain

__all__ = ["run"]


class _Optuna(_Reporting):
    """A `bench.lcbench.sim.Peer`: one job per Optuna trial, every step reported to the pruner (as the
    LCBench driver's, whose `on_epoch` and `on_end` it keeps)."""

    def __init__(self, method: str, seed: int, domains: list[tuple[str, Domain]], steps: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.domains = domains
        self.steps = steps
        self.prunes = method != "optuna-tpe"
        # Named: HyperbandPruner puts a trial in a bracket by a hash of the study name and trial number.
        self.study = optuna.create_study(
            study_name="compare",
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=pruner(method, steps),
        )
        self.trials: dict[int, optuna.Trial] = {}
        self.pruned: set[int] = set()

    def ask(self) -> Job:
        trial = self.study.ask()
        self.trials[trial.number] = trial
        return Job(trial.number, {key: suggest(trial, key, domain) for key, domain in self.domains}, stop=self.steps)


def run(
    method: str,
    domains: list[tuple[str, Domain]],
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    steps: int,
    seed: int,
    budget: float,
    workers: int,
) -> tuple[float, int]:
    """One run: the best value reported within `budget` simulated seconds, and the trials started."""
    peer = _Optuna(method, seed, domains, steps)
    trace = simulate(peer, curve, budget=budget, workers=workers)
    return max(trace.values, default=-np.inf), trace.jobs
