"""Optuna 5 on LCBench, driven by ask/tell on `bench.lcbench.sim`'s clock.

Each job is one trial: `study.ask()`, its hyperparameters from `trial.suggest_*`, then per epoch
`trial.report(value, epoch)` and `trial.should_prune()` (the pruner's decision); a pruned trial is
told `TrialState.PRUNED`, a finished one its last epoch's value. Up to 4 trials are asked before the
first is told, as with `study.optimize(n_jobs=4)`. The sampler is Optuna's default `TPESampler(seed)`
(Optuna 5: multivariate for one objective, a constant liar for the running trials); the study is named, so that
HyperbandPruner's bracket of a trial (a CRC of the study name and trial number) is the same in every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from bench.lcbench import catalogue
from bench.lcbench.sim import Job, Trace, simulate
from bench.lcbench.surrogate import EPOCHS, PARAMS

__all__ = ["METHODS", "run"]

METHODS = catalogue.METHODS["optuna"]


def _pruner(method: str) -> optuna.pruners.BasePruner:
    if method == "optuna-tpe":
        return optuna.pruners.NopPruner()
    if method == "optuna-hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3)
    if method == "optuna-median":
        return optuna.pruners.MedianPruner()
    raise ValueError(f"peers_optuna needs one of {', '.join(METHODS)}; got method={method!r}")


class _Optuna:
    def __init__(self, method: str, seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.prunes = method != "optuna-tpe"
        self.study = optuna.create_study(
            study_name="lcbench",
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=_pruner(method),
        )
        self.trials: dict[int, optuna.Trial] = {}
        self.pruned: set[int] = set()

    def ask(self) -> Job:
        trial = self.study.ask()
        config: dict[str, Any] = {}
        for p in PARAMS:
            if p.kind == "int":
                config[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
            else:
                config[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        self.trials[trial.number] = trial
        return Job(trial.number, config)

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        if not self.prunes:
            return True
        trial = self.trials[int(job.key)]  # type: ignore[call-overload]
        trial.report(value, epoch)
        if trial.should_prune():
            self.pruned.add(trial.number)
            return False
        return True

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        trial = self.trials.pop(int(job.key))  # type: ignore[call-overload]
        if trial.number in self.pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, value)


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds."""
    return simulate(_Optuna(method, seed), curve, budget=budget, workers=workers)
