"""Syne Tune 0.16 on LCBench: its schedulers driven through `suggest` / `on_trial_*`, on `bench.lcbench.sim`'s clock.

What Syne Tune's `Tuner` does with a scheduler, done here without its backend: `suggest()` gives a
configuration (or a trial to resume), `on_trial_add` is told of each new `Trial`, every epoch's
result goes to `on_trial_result`; a STOP or PAUSE decision ends the job and the trial is passed to
`on_trial_remove`, a trial that reaches epoch 52 without one to `on_trial_complete` (the Tuner's
rules). A resumed trial continues from the epochs it had trained. Syne Tune draws configurations
from numpy's global generator whatever its `random_seed`, so each run seeds that generator.

Syne Tune 0.16 is a rewrite: its ASHA only stops (no promotion variant), and it has no Hyperband,
Hyper-Tune, PASHA, MOBSTER or DyHPO. BORE and ASHABORE need xgboost and BOTorch needs botorch
(not installed: `pip install --no-deps syne-tune` leaves them out); CQR and ASHACQR import
`syne_tune.blackbox_repository`, which imports `huggingface_hub` (not installed); so those are not run.
Settings are Syne Tune's defaults (η=3, grace 1) with `max_t=52`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from syne_tune import config_space as cs
from syne_tune.backend.trial_status import Trial
from syne_tune.optimizer import baselines
from syne_tune.optimizer.scheduler import SchedulerDecision, TrialScheduler
from syne_tune.optimizer.schedulers.median_stopping_rule import MedianStoppingRule

from bench.lcbench import catalogue
from bench.lcbench.sim import Job, Trace, simulate
from bench.lcbench.surrogate import EPOCHS, METRIC, PARAMS

__all__ = ["METHODS", "run", "scheduler", "space"]

METHODS = catalogue.METHODS["syne"]

_EPOCH = "epoch"
_WHEN = datetime.datetime(2026, 1, 1)  # a fixed creation time: nothing here depends on the wall clock


def space() -> dict[str, Any]:
    """LCBench's space in Syne Tune's domains (integer bounds included)."""
    domains: dict[str, Any] = {}
    for p in PARAMS:
        if p.kind == "int":
            domains[p.name] = (cs.lograndint if p.log else cs.randint)(int(p.low), int(p.high))
        else:
            domains[p.name] = (cs.loguniform if p.log else cs.uniform)(p.low, p.high)
    return domains


def scheduler(method: str, seed: int) -> TrialScheduler:
    """The Syne Tune scheduler that makes `method`."""
    common: dict[str, Any] = {"config_space": space(), "do_minimize": False, "random_seed": seed}
    multi = {**common, "metric": METRIC, "time_attr": _EPOCH, "max_t": EPOCHS}
    if method == "syne-asha":
        return baselines.ASHA(**multi)
    if method == "syne-bohb":
        return baselines.BOHB(**multi)
    if method == "syne-median":
        inner = baselines.RandomSearch(metrics=[METRIC], **common)
        return MedianStoppingRule(inner, time_attr=_EPOCH, metric=METRIC, random_seed=seed, do_minimize=False)
    if method == "syne-random":
        return baselines.RandomSearch(metrics=[METRIC], **common)
    if method == "syne-tpe":
        return baselines.TPE(metric=METRIC, **common)
    if method == "syne-rea":
        return baselines.REA(metric=METRIC, **common)
    raise ValueError(f"peers_syne needs one of {', '.join(METHODS)}; got method={method!r}")


class _Syne:
    def __init__(self, method: str, seed: int) -> None:
        # Its searchers warn on every run about a default they override themselves.
        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        self.scheduler = scheduler(method, seed)
        self.trials: dict[int, Trial] = {}
        self.epochs: dict[int, int] = {}  # epochs each trial has trained (its checkpoint)
        self.ended: set[int] = set()  # trials stopped or paused by the scheduler in their current job
        self.exhausted = False

    def ask(self) -> Job | None:
        if self.exhausted:
            return None
        suggestion = self.scheduler.suggest()
        if suggestion is None:
            self.exhausted = True
            return None
        if not suggestion.spawn_new_trial_id:
            trial_id = int(suggestion.checkpoint_trial_id)  # type: ignore[arg-type]
            trial = self.trials[trial_id]
            if suggestion.config is not None:
                trial.config = dict(suggestion.config)
            return Job(trial_id, trial.config, start=self.epochs[trial_id])
        trial_id = len(self.trials)
        trial = Trial(trial_id=trial_id, config=dict(suggestion.config or {}), creation_time=_WHEN)
        self.trials[trial_id] = trial
        self.epochs[trial_id] = 0
        self.scheduler.on_trial_add(trial=trial)
        return Job(trial_id, trial.config)

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        trial_id = int(job.key)  # type: ignore[call-overload]
        self.epochs[trial_id] = epoch
        decision = self.scheduler.on_trial_result(trial=self.trials[trial_id], result={METRIC: value, _EPOCH: epoch})
        if decision in (SchedulerDecision.STOP, SchedulerDecision.PAUSE):
            self.ended.add(trial_id)
            return False
        return True

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        trial_id = int(job.key)  # type: ignore[call-overload]
        trial = self.trials[trial_id]
        if trial_id in self.ended:
            self.ended.discard(trial_id)
            self.scheduler.on_trial_remove(trial=trial)
        else:
            self.scheduler.on_trial_complete(trial, {METRIC: value, _EPOCH: epoch})


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds."""
    # Syne Tune 0.16 samples configurations with numpy's global generator (`Domain.sample()` with no
    # random state: its searchers keep `random_seed` but do not pass it on), and ASHA draws brackets
    # from it too: seeding it here is the only way to make a run repeat for its seed.
    np.random.seed(seed)
    return simulate(_Syne(method, seed), curve, budget=budget, workers=workers)
