"""Ray Tune's methods on a replayed table, on a local Ray instance of `workers` CPUs.

Each trial is a function trainable (one CPU, `reuse_actors=True`, `max_concurrent_trials=workers`).
Ray starts (`ray.init`, about 2-4 s here) before the clock starts: that is a fixed cost of having Ray
at all, not of its scheduling. Ray binds loopback only when `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` is
exported (the runner sets it for every run) and keeps its files in the run's own temporary folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.stopper import Stopper

from bench.compare.spec import Outcome, Spec
from bench.compare.trial import Replay
from rung.domains import Categorical, Float, Integer
from rung.space import Domain

__all__ = ["DeadlineStopper", "domain", "run"]

OBJECT_STORE_BYTES = 200_000_000
"""Ray's object store: small, the trials pass nothing but metrics and a tiny checkpoint."""


def domain(value: Domain) -> Any:
    """Ray Tune's domain for a rung domain (Ray's integer bounds exclude `high`; rung's include it)."""
    if isinstance(value, Categorical):
        return tune.choice(list(value.options))
    if isinstance(value, Integer) and value.q == 1:
        make = tune.lograndint if value.log else tune.randint
        return make(int(value.low), int(value.high) + 1)
    if isinstance(value, Float) and value.q is None:
        return (tune.loguniform if value.log else tune.uniform)(float(value.low), float(value.high))
    raise TypeError(f"peers_ray.domain has no Ray Tune domain for {value!r}")


class DeadlineStopper(Stopper):
    """Ends the whole experiment at the deadline (Ray's own `time_budget_s` starts later than t0)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return time.time() >= self.deadline


def _search(method: str, seed: int) -> Searcher | BasicVariantGenerator:
    if method == "ray-optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed)
    if method == "ray-hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(random_state_seed=seed)
    return BasicVariantGenerator(random_state=seed)


def _scheduler(method: str, steps: int) -> TrialScheduler | None:
    if method == "ray-asha":
        return ASHAScheduler(time_attr="step", max_t=steps, grace_period=1, reduction_factor=4)
    if method == "ray-hyperband":
        return HyperBandScheduler(time_attr="step", max_t=steps, reduction_factor=3)
    return None  # Ray's default: FIFO


def _trainable(replay: Replay, checkpoint: bool) -> Any:
    metric = replay.metric

    def trainable(config: Mapping[str, Any]) -> None:
        start = 0
        saved = tune.get_checkpoint()
        if saved is not None:
            with saved.as_directory() as folder:
                start = int((Path(folder) / "step").read_text())

        def report(step: int, value: float) -> None:
            if not checkpoint:
                tune.report({metric: value, "step": step})
                return
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "step").write_text(str(step))
                tune.report({metric: value, "step": step}, checkpoint=tune.Checkpoint.from_directory(folder))

        replay.play(config, start, report)

    return trainable


def run(spec: Spec, replay: Replay, work: Path) -> Outcome:
    """Start a local Ray, run `spec.method` until the budget is spent, shut Ray down."""
    if spec.method not in ("ray-random", "ray-asha", "ray-hyperband", "ray-optuna", "ray-hyperopt"):
        raise ValueError(f"peers_ray.run needs a Ray Tune method; got method={spec.method!r}")
    os.environ.pop("RAY_ADDRESS", None)  # a local instance of our own, never someone's cluster
    # A trial started at the budget's end returns without a report: not an error here.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    ray.init(
        num_cpus=spec.workers,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        object_store_memory=OBJECT_STORE_BYTES,
        _temp_dir=str(work / "ray"),
    )
    try:
        checkpoint = spec.method == "ray-hyperband"  # HyperBand pauses trials: they resume from it
        t0 = time.time()
        replay.deadline = t0 + spec.wall_budget
        tuner = tune.Tuner(
            tune.with_resources(_trainable(replay, checkpoint), {"cpu": 1}),
            param_space={key: domain(value) for key, value in replay.domains},
            tune_config=tune.TuneConfig(
                metric=replay.metric,
                mode="max",
                search_alg=_search(spec.method, spec.seed),
                scheduler=_scheduler(spec.method, replay.steps),
                num_samples=-1,
                max_concurrent_trials=spec.workers,
                time_budget_s=spec.wall_budget,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="compare",
                storage_path=str(work / "ray-results"),
                verbose=0,
                stop=DeadlineStopper(replay.deadline),
            ),
        )
        results = tuner.fit()
        wall = time.time() - t0
        errors = [repr(error) for error in results.errors]
    finally:
        ray.shutdown()
    return Outcome(t0, wall, errors, _versions(spec.method))


def _versions(method: str) -> dict[str, str]:
    versions = {"ray": ray.__version__}
    if method == "ray-optuna":
        import optuna

        versions["optuna"] = optuna.__version__
    if method == "ray-hyperopt":
        import hyperopt  # type: ignore[import-untyped]

        versions["hyperopt"] = str(hyperopt.__version__)
    return versions
