"""Optuna's methods on a replayed table: TPE alone, with the Hyperband pruner, with the median pruner.

`study.optimize(n_jobs=workers)` runs the trials in threads of this process: the trials sleep, so
threads do not hold each other back (the GIL is free while they sleep), and this is how Optuna users
run trials in parallel on one machine without a database.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import optuna

from bench.compare.spec import Outcome, Spec
from bench.compare.trial import Replay
from rung.domains import Categorical, Float, Integer
from rung.space import Domain

__all__ = ["pruner", "run", "suggest"]


def suggest(trial: optuna.Trial, key: str, domain: Domain) -> Any:
    """Optuna's suggestion for one hyperparameter of a table's space (bounds included, as in rung)."""
    if isinstance(domain, Categorical):
        return trial.suggest_categorical(key, list(domain.options))
    if isinstance(domain, Integer) and domain.q == 1:
        return trial.suggest_int(key, int(domain.low), int(domain.high), log=domain.log)
    if isinstance(domain, Float) and domain.q is None:
        return trial.suggest_float(key, float(domain.low), float(domain.high), log=domain.log)
    raise TypeError(f"peers_optuna.suggest has no Optuna distribution for {key}={domain!r}")


def pruner(method: str, steps: int) -> optuna.pruners.BasePruner:
    """The pruner that makes `method`."""
    if method == "optuna-tpe":
        return optuna.pruners.NopPruner()
    if method == "optuna-hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=steps, reduction_factor=3)
    if method == "optuna-median":
        return optuna.pruners.MedianPruner()
    raise ValueError(f"peers_optuna.pruner needs an Optuna method; got method={method!r}")


def run(spec: Spec, replay: Replay, work: Path) -> Outcome:
    """Run `spec.method` with `spec.workers` threads until the budget is spent."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prunes = spec.method != "optuna-tpe"

    def objective(trial: optuna.Trial) -> float:
        config = {key: suggest(trial, key, domain) for key, domain in replay.domains}

        def report(step: int, value: float) -> None:
            if prunes:
                trial.report(value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        last = replay.play(config, 0, report)
        if math.isnan(last):
            raise optuna.TrialPruned()  # started at the budget's end: it reported nothing
        return last

    t0 = time.time()
    replay.deadline = t0 + spec.wall_budget
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        pruner=pruner(spec.method, replay.steps),
    )
    study.optimize(objective, timeout=spec.wall_budget, n_jobs=spec.workers, gc_after_trial=False)
    wall = time.time() - t0
    return Outcome(t0, wall, [], {"optuna": optuna.__version__})
