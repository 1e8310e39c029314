"""The parts of a run, built from its `RunSpec`: searcher, scheduler, executor, stop rule, first points.

`build(spec)` makes them and sets up the searcher and scheduler (seeded by the spec); `settings()`
is what the store keeps of the run: the spec's JSON form plus what was built from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung._parameters import WithParameters
from rung.executors.base import Executor
from rung.objectives import Objectives
from rung.resources import Resources, gpu_slots, machine_cpus, machine_gpus
from rung.schedulers import SCHEDULERS, Scheduler
from rung.schedulers import make as make_scheduler
from rung.schedulers.auto import AutoScheduler
from rung.search import SEARCHERS, Searcher
from rung.search import make as make_searcher
from rung.space import Space
from rung.spec import RunSpec
from rung.store import driver
from rung.types import Config, StopFn

__all__ = ["Parts", "build"]


@dataclass(frozen=True)
class Parts:
    """What runs an experiment: built from a `RunSpec` by `build`."""

    searcher: Searcher
    scheduler: Scheduler
    executor: Executor
    stop: StopFn | None
    points: list[Config]

    def built(self, spec: RunSpec) -> dict[str, Any]:
        """What was built from `search` and `scheduler` (names or objects), for resume's check."""
        return {"seed": spec.seed, "search": type(self.searcher).__name__, "scheduler": type(self.scheduler).__name__}

    def settings(self, spec: RunSpec, fn: Callable[..., Any]) -> dict[str, Any]:
        """What the store keeps of the run: the spec's JSON, the driver, and what was built from it."""
        settings = {**spec.to_json(), "driver": driver.here(), "built": self.built(spec)}
        if isinstance(fn, WithParameters):  # not stored: `rung resume` asks for them (by these names)
            settings["with_parameters"] = list(fn.names)
        fidelity = self.scheduler.fidelity()
        if fidelity is not None:
            settings["fidelity"] = {"time_attr": fidelity[0], "milestones": fidelity[1]}
        elif isinstance(time_attr := getattr(self.scheduler, "time_attr", None), str):
            # PBT, PB2, median stopping: the views draw curves against it (they read no pickle to learn it).
            settings["fidelity"] = {"time_attr": time_attr, "milestones": []}
        if self.points:
            settings["points_to_evaluate"] = len(self.points)
        return settings


def build(spec: RunSpec, executor: Executor | None = None) -> Parts:
    """The searcher, scheduler and executor the spec asks for, the searcher and scheduler set up;
    `executor`: the spec's, made already (`make_executor`)."""
    objectives = spec.objectives
    plain = objectives is None or (not objectives.multi and not objectives.constraints)
    several = objectives is not None and objectives.multi
    default = spec.search == "auto" and spec.scheduler is None and bool(spec.space.paths)
    if default and ((spec.metric is not None and plain) or several):
        # The default: see README, "What the default does".
        from rung.search.auto import AutoSearch, gp_fits_several  # imports the GP's scipy.optimize: only when used

        # Several objectives: AutoSearch only where its GP suits them (else TPE, from `_searcher`).
        auto = objectives is None or not objectives.multi or gp_fits_several(spec.space, objectives)
        searcher: Searcher = AutoSearch() if auto else _searcher(spec.search, spec.space, objectives)
    else:
        searcher = _searcher(spec.search, spec.space, objectives)
    # Several objectives: AutoScheduler ranks them too (by non-dominated sorting), whichever searcher.
    paired = AutoScheduler if default and several else getattr(searcher, "paired_scheduler", None)
    scheduler = paired() if spec.scheduler is None and callable(paired) else _scheduler(spec.scheduler)
    if isinstance(scheduler, AutoScheduler) and isinstance(spec.stop, Mapping) and scheduler.time_attr in spec.stop:
        scheduler.limit(spec.stop[scheduler.time_attr], "stop")
    if objectives is not None and objectives.multi:
        _check_multi(objectives, searcher, scheduler)
    stop = _stopper(spec.stop)
    # Resolve one config now, so a failing sample_from shows before anything is stored or started.
    spec.space.sample(np.random.default_rng(spec.seed))
    # With several objectives, setup gets the first (the hooks below give them all).
    metric = None if objectives is None else objectives.metrics[0]
    searcher.setup(spec.space, metric=metric, mode=spec.mode, num_samples=spec.num_samples, seed=spec.seed)
    scheduler.setup(metric=metric, mode=spec.mode, seed=spec.seed)
    if objectives is not None and not objectives.plain:
        searcher.set_objectives(objectives)
        scheduler.set_objectives(objectives)
    fidelity = scheduler.fidelity()
    if fidelity is not None:
        # A multi-fidelity scheduler: the searcher may learn from results at common budgets (BOHB).
        searcher.set_fidelity(*fidelity)
    points = _points(spec, searcher)
    return Parts(searcher, scheduler, make_executor(spec) if executor is None else executor, stop, points)


def _check_multi(objectives: Objectives, searcher: Searcher, scheduler: Scheduler) -> None:
    """Several objectives: only parts that compare trials by all of them (the others would compare by
    the first alone, silently)."""
    said = f"this run has {len(objectives.metrics)} objectives ({objectives.describe()})"
    if not searcher.multi_objective:
        raise ValueError(
            f"search={type(searcher).__name__} learns one objective; {said}: use search='auto' (TPE, learning them"
            " all as MOTPE, or a GP on a few floats), 'tpe', 'gp', 'random', 'grid' or rung.OptunaSearch(sampler)"
            " (e.g. NSGA-II)"
        )
    if not scheduler.multi_objective:
        raise ValueError(
            f"scheduler={type(scheduler).__name__} compares trials by one metric; {said}: use rung.MOASHA(...)"
            " (multi-objective ASHA) to stop trials early, or scheduler=None (every trial runs to its end)"
        )


def _searcher(search: str | Searcher, space: Space, objectives: Objectives | None) -> Searcher:
    if isinstance(search, Searcher):
        return search
    if search == "auto":
        # TPE (random for its first trials), unless there is nothing to model: no metric, or a
        # space of grids and constants only. Why TPE: BENCHMARKS.md, "Searcher quality" (and, with
        # several objectives, "Several objectives").
        return make_searcher("tpe" if objectives is not None and space.paths else "random")
    if isinstance(search, str) and search in SEARCHERS:
        return make_searcher(search)
    known = ", ".join(repr(k) for k in ["auto", *SEARCHERS])
    raise ValueError(f"search must be one of {known} or a Searcher object; got {search!r}")


def _scheduler(scheduler: str | Scheduler | None) -> Scheduler:
    if scheduler is None:
        return make_scheduler("fifo")
    if isinstance(scheduler, Scheduler):
        return scheduler
    if isinstance(scheduler, str) and scheduler in SCHEDULERS:
        return make_scheduler(scheduler)
    known = ", ".join(repr(k) for k in SCHEDULERS)
    raise ValueError(f"scheduler must be None, one of {known} or a Scheduler object; got {scheduler!r}")


def _stopper(stop: Mapping[str, float] | StopFn | None) -> StopFn | None:
    if stop is None or callable(stop):
        return stop
    limits = dict(stop)  # checked by RunSpec: str keys, float thresholds

    def reached(trial_id: int, result: dict[str, Any]) -> bool:
        return any(k in result and result[k] >= v for k, v in limits.items())

    return reached


def make_executor(spec: RunSpec) -> Executor:
    """The executor the spec asks for (not started)."""
    executor, max_concurrent = spec.executor, spec.max_concurrent
    if isinstance(executor, Executor):
        return executor
    if executor == "ray":
        from rung.executors.ray import RayExecutor

        # The cluster's nodes decide what fits; Ray custom resources ride along under "resources".
        return RayExecutor(resources=spec.resources, capacity=max_concurrent)
    if executor == "simulated":
        from rung.executors.simulated import SimulatedExecutor

        # Virtual workers: the machine's size does not limit them.
        return SimulatedExecutor(max_concurrent or 4)
    resources = Resources.parse(spec.resources)
    gpus = machine_gpus() if resources.gpu > 0 else []
    capacity = resources.slots(machine_cpus(), len(gpus))
    if max_concurrent is not None:
        capacity = min(capacity, max_concurrent)
    if executor == "thread":
        from rung.executors.thread import ThreadExecutor

        return ThreadExecutor(capacity)
    from rung.executors.process import ProcessExecutor

    return ProcessExecutor(capacity, resources.cpu, gpu_slots(resources.gpu, gpus, capacity))


def _points(spec: RunSpec, searcher: Searcher) -> list[Config]:
    """`points_to_evaluate` checked against the space, each completed (keys it leaves out drawn at
    random, from a generator of the seed and the point's place, so a resume completes them alike)."""
    if spec.points_to_evaluate and type(searcher).on_given is Searcher.on_given:
        raise ValueError(
            f"search={type(searcher).__name__} cannot take points_to_evaluate: it does not implement"
            " on_given (how to learn from a configuration it did not propose)"
        )
    points = []
    for i, point in enumerate(spec.points_to_evaluate):
        fixed = spec.space.fixed_paths(point, f"points_to_evaluate[{i}]")
        points.append(spec.space.sample(np.random.default_rng([spec.seed & (2**64 - 1), 0x901, i]), fixed=fixed))
    return points
