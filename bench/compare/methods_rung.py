"""rung's methods on a replayed table, on rung's default process executor with `workers` slots."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rung
from bench.compare.spec import Outcome, Spec
from bench.compare.trial import Replay
from rung.types import Status

__all__ = ["Objective", "arguments", "run"]

PBT_POPULATION = 16
"""PBT's population: a common size, 4 x the workers; it trains to the end of the curves and stops."""

PBT_MUTABLE = {
    # What can change between epochs without retraining from scratch: optimiser and regulariser
    # settings. The architecture (width, depth) and the tree shape limits keep their first value.
    "mlp": ("learning_rate_init", "batch_size", "alpha", "beta_1"),
    "gbt": ("learning_rate", "l2_regularization", "max_features", "min_samples_leaf"),
}


@dataclass
class Objective:
    """The rung objective: replays the nearest recorded curve, resuming from a step checkpoint.

    Attributes:
        replay: the table and the run's settings.
        checkpoint: whether each report carries the step as a checkpoint (pausing and cloning
            schedulers need it: a resumed or cloned trial continues from its step).
    """

    replay: Replay
    checkpoint: bool

    def __call__(self, config: Mapping[str, Any]) -> None:
        start = rung.get_checkpoint() if self.checkpoint else None
        metric = self.replay.metric

        def report(step: int, value: float) -> None:
            rung.report({metric: value, "step": step}, checkpoint=step if self.checkpoint else None)

        self.replay.play(config, int(start or 0), report)


def arguments(method: str, replay: Replay) -> tuple[dict[str, Any], bool]:
    """The `rung.run` arguments that make `method` (beyond the common ones), and whether it checkpoints."""
    steps = replay.steps
    if method == "rung-random":
        return {"search": "random"}, False
    if method == "rung-tpe":
        return {"search": "tpe"}, False
    if method == "rung-asha":
        asha = rung.ASHA(max_t=steps, grace_period=1, reduction_factor=4, time_attr="step")
        return {"search": "random", "scheduler": asha}, False
    if method == "rung-hyperband":
        return {"search": "random", "scheduler": rung.HyperBand(max_t=steps, time_attr="step")}, True
    if method == "rung-bohb":
        return {"search": rung.BOHB(max_t=steps, reduction_factor=4, scheduler="asha", time_attr="step")}, True
    if method == "rung-asha-tpe":
        asha = rung.ASHA(max_t=steps, grace_period=1, reduction_factor=4, time_attr="step")
        return {"search": "auto", "scheduler": asha}, False
    if method == "rung-hyperband-tpe":
        return {"search": rung.BOHB(max_t=steps, scheduler="hyperband", time_attr="step")}, True
    if method in ("rung-median", "rung-median-tpe"):
        median = rung.MedianStopping(grace_period=1, time_attr="step")
        return {"search": "random" if method == "rung-median" else "tpe", "scheduler": median}, False
    if method == "rung-pbt":
        domains = dict(replay.domains)
        mutations = {key: domains[key] for key in PBT_MUTABLE[replay.table]}
        pbt = rung.PBT(perturbation_interval=steps // 10, hyperparam_mutations=mutations, time_attr="step")
        return {"search": "random", "scheduler": pbt, "num_samples": PBT_POPULATION}, True
    if method == "rung-default":
        return {}, False
    raise ValueError(f"methods_rung.arguments needs a rung method; got method={method!r}")


def run(spec: Spec, replay: Replay, work: Path) -> Outcome:
    """Run `spec.method` until the budget is spent; the trials append to `replay.trace`."""
    extra, checkpoint = arguments(spec.method, replay)
    options: dict[str, Any] = {"num_samples": 1_000_000, **extra}
    executor = rung.ProcessExecutor(spec.workers)
    objective = Objective(replay, checkpoint)
    t0 = time.time()
    replay.deadline = t0 + spec.wall_budget
    result = rung.run(
        objective,
        dict(replay.domains),
        metric=replay.metric,
        mode="max",
        max_concurrent=spec.workers,
        executor=executor,
        storage=work / "rung",
        name="compare",
        time_budget_s=spec.wall_budget,
        seed=spec.seed,
        verbose=0,
        **options,
    )
    wall = time.time() - t0
    errors = [t.error or "" for t in result.trials if t.status is Status.ERROR]
    return Outcome(t0, wall, errors, {"rung": rung.__version__})
