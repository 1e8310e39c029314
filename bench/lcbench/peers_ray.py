"""Ray Tune 2.60 on LCBench: its `AsyncHyperBandScheduler` driven directly, on `bench.lcbench.sim`'s clock.

What Ray's TuneController does with a scheduler, done here without Ray's engine (no cluster, no
actors): each new trial is a real `ray.tune.experiment.Trial` (a stub: no trainable behind it) handed
to `on_trial_add`; each epoch's result goes to `on_trial_result`, whose STOP ends the trial; a trial
that ends (stopped or at epoch 52) is passed to `on_trial_complete`, as the controller does for a
running trial. The configurations are Ray's random search: the space's `ray.tune` domains sampled
with a seeded generator (what `BasicVariantGenerator` does). ASHA's settings are Ray's defaults
(grace 1, η=4, one bracket) with `max_t=52`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from bench.lcbench import catalogue
from bench.lcbench.sim import Job, Trace, simulate
from bench.lcbench.surrogate import EPOCHS, METRIC, PARAMS

__all__ = ["METHODS", "run", "space"]

METHODS = catalogue.METHODS["ray"]


def space() -> dict[str, Any]:
    """LCBench's space in `ray.tune` domains (Ray's integer upper bounds are exclusive)."""
    domains: dict[str, Any] = {}
    for p in PARAMS:
        if p.kind == "int":
            make = tune.lograndint if p.log else tune.randint
            domains[p.name] = make(int(p.low), int(p.high) + 1)
        else:
            domains[p.name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return domains


class _RayAsha:
    def __init__(self, seed: int) -> None:
        self.scheduler = AsyncHyperBandScheduler(
            time_attr="training_iteration", metric=METRIC, mode="max", max_t=EPOCHS, grace_period=1, reduction_factor=4
        )
        self.space = space()
        self.rng = np.random.default_rng(seed)
        self.trials: dict[str, Trial] = {}
        self.count = 0

    def ask(self) -> Job:
        config = {key: domain.sample(random_state=self.rng) for key, domain in self.space.items()}
        self.count += 1
        trial = Trial("lcbench", config=config, trial_id=f"{self.count:06d}", stub=True)
        self.trials[trial.trial_id] = trial
        self.scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
        return Job(trial.trial_id, config)

    def _result(self, epoch: int, value: float) -> dict[str, Any]:
        return {METRIC: value, "training_iteration": epoch}

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        trial = self.trials[str(job.key)]
        action = self.scheduler.on_trial_result(None, trial, self._result(epoch, value))  # type: ignore[arg-type]
        return bool(action == TrialScheduler.CONTINUE)

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        trial = self.trials.pop(str(job.key))
        self.scheduler.on_trial_complete(None, trial, self._result(epoch, value))  # type: ignore[arg-type]


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds."""
    if method != "ray-asha":
        raise ValueError(f"peers_ray needs one of {', '.join(METHODS)}; got method={method!r}")
    return simulate(_RayAsha(seed), curve, budget=budget, workers=workers)
