"""What an experiment is: one frozen record of `rung.run`'s settings, checked, with its JSON form and
its comparison with a stored experiment (SMAC3's `Scenario` is the model).

`run()` builds a `RunSpec` from its arguments, builds the parts from it (`rung.parts`) and runs the
loop; the store keeps `RunSpec.to_json()` as the experiment's settings, and a resume compares the
new record with the stored one (`check_resume`), naming what changed.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from rung._checks import Interval, Options, check
from rung.cost import Budget, Prices
from rung.errors import ResumeMismatchError
from rung.executors.base import Executor
from rung.objectives import Constraint, Objectives
from rung.resources import Resources
from rung.schedulers import Scheduler
from rung.search import Searcher
from rung.space import Space
from rung.types import StopFn

__all__ = ["MODES", "RunSpec", "check_resume", "space_changes", "stored_arguments"]

MODES = ("min", "max")
_MODE_SPELLINGS = {"minimize": "min", "maximize": "max", "minimise": "min", "maximise": "max"}
"""Optuna's `direction` words, taken as rung's modes."""
EXECUTORS = ("process", "thread", "simulated", "ray")


def _mode(mode: Any) -> str:
    if isinstance(mode, str) and mode.lower() in _MODE_SPELLINGS:
        return _MODE_SPELLINGS[mode.lower()]
    return str(check(None, "mode", mode, Options(MODES)))


def _stop(stop: Any) -> Mapping[str, float] | StopFn | None:
    if stop is None or callable(stop):
        return stop  # type: ignore[no-any-return]
    if not isinstance(stop, Mapping):
        raise TypeError(f"stop must be a dict {{metric: threshold}} or a callable(trial_id, result); got {stop!r}")
    limits: dict[str, float] = {}
    for key, value in stop.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"stop needs str keys and number thresholds; got {key!r}: {value!r}")
        limits[key] = float(value)
    return limits


def _points(points: Any) -> tuple[Mapping[str, Any], ...]:
    if points is None:
        return ()
    if isinstance(points, Mapping) or not isinstance(points, Sequence) or isinstance(points, str):
        raise TypeError(f"points_to_evaluate must be a list of dicts of hyperparameter values; got {points!r}")
    return tuple(points)


def _named(value: Any) -> Any:
    """A part as the settings store it: its name when given by name, else its class name."""
    return value if value is None or isinstance(value, str) else type(value).__name__


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines an experiment, checked: what `rung.run` was asked to do.

    Build it with `RunSpec.of(space, metric=..., ...)` (the arguments of `rung.run`, checked with
    messages that name the argument, the rule and the value). How to run it (name, storage, resume,
    verbose, callbacks) is not part of it.

    Example:
        >>> spec = RunSpec.of({"lr": rung.loguniform(1e-4, 1e-1)}, metric="loss", num_samples=20)  # doctest: +SKIP
        >>> spec.to_json()["num_samples"]  # doctest: +SKIP
        20
    """

    space: Space
    metric: str | None = None
    mode: str = "min"
    num_samples: int = 1
    search: str | Searcher = "auto"
    scheduler: str | Scheduler | None = None
    max_concurrent: int | None = None
    resources: Mapping[str, float] | None = None
    executor: str | Executor = "process"
    stop: Mapping[str, float] | StopFn | None = None
    time_budget_s: float | None = None
    max_failures: int = 0
    seed: int = 0
    points_to_evaluate: tuple[Mapping[str, Any], ...] = field(default=())
    metrics: tuple[str, ...] = ()
    """Every objective (`(metric,)` with one; `metric` is None with several)."""
    modes: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    scalarize: tuple[float, ...] | None = None
    """Weights (one per objective, > 0) that pick one best trial among several objectives."""
    prices: Prices | None = None
    """Prices per resource-hour: each result gets its trial's `cost` (see `rung.cost`)."""
    cost_budget: float | None = None
    """`budget["cost"]`: the money the experiment may spend, in all its runs."""

    def __post_init__(self) -> None:
        if self.metric is not None and not self.metrics:  # built directly with one metric
            object.__setattr__(self, "metrics", (self.metric,))
            object.__setattr__(self, "modes", (self.mode,))

    @property
    def objectives(self) -> Objectives | None:
        """What the run optimises, under which constraints (None: no metric)."""
        if not self.metrics:
            return None
        return Objectives(self.metrics, self.modes, self.constraints, self.scalarize)

    @classmethod
    def of(
        cls,
        space: Mapping[str, Any] | Space,
        *,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] = "min",
        num_samples: int = 1,
        search: str | Searcher = "auto",
        scheduler: str | Scheduler | None = None,
        max_concurrent: int | None = None,
        resources: Mapping[str, float] | None = None,
        executor: str | Executor = "process",
        stop: Mapping[str, float] | StopFn | None = None,
        time_budget_s: float | None = None,
        max_failures: int = 0,
        seed: int = 0,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        constraints: Mapping[str, Any] | None = None,
        scalarize: Mapping[str, float] | None = None,
        prices: Mapping[str, Any] | None = None,
        budget: Mapping[str, float] | None = None,
    ) -> RunSpec:
        """The record of these settings, each checked (see `rung.run` for what they mean)."""
        objectives = None
        if metric is not None:
            objectives = Objectives.of(metric, mode, constraints=constraints, scalarize=scalarize, mode_of=_mode)
        elif constraints or scalarize is not None:
            given = "constraints" if constraints else "scalarize"
            raise ValueError(f"{given} judges trials by their metric: pass metric= too; got metric=None")
        if not isinstance(executor, Executor) and executor not in EXECUTORS:
            known = ", ".join(repr(k) for k in EXECUTORS)
            raise ValueError(f"executor must be one of {known} or an Executor object; got {executor!r}")
        if isinstance(executor, Executor) and resources is not None:
            raise ValueError(
                "resources is for executors given by name; an executor object has its own (e.g."
                f" RayExecutor(resources=...)); got executor={type(executor).__name__} and resources={resources!r}"
            )
        if not (executor == "ray" or isinstance(executor, Executor)):
            Resources.parse(resources)  # checked now (Ray checks its own: it knows custom resources)
        checked_prices = Prices.of(prices, ray=executor == "ray" or type(executor).__name__ == "RayExecutor")
        limits = Budget.of(budget, time_budget_s, checked_prices)
        compiled = Space.of(space)
        try:  # every value of the space must be storable with the trials and sendable to workers
            cloudpickle.dumps(compiled)
        except Exception as exc:
            raise TypeError(
                f"space holds a value that cannot be stored with the trials ({type(exc).__name__}: {exc}); keep"
                " picklable values in the space and make such objects inside the objective"
            ) from exc
        return cls(
            space=compiled,
            metric=None if objectives is None or objectives.multi else objectives.metrics[0],
            mode=_mode(mode) if objectives is None else objectives.modes[0],
            num_samples=int(check(None, "num_samples", num_samples, Interval(int, 1, None))),
            search=search,
            scheduler=scheduler,
            max_concurrent=None
            if max_concurrent is None
            else int(check(None, "max_concurrent", max_concurrent, Interval(int, 1, None))),
            resources=resources,
            executor=executor,
            stop=_stop(stop),
            time_budget_s=limits.time_s,
            max_failures=int(check(None, "max_failures", max_failures, Interval(int, 0, None))),
            seed=int(check(None, "seed", seed, Interval(int, 0, None))),
            points_to_evaluate=_points(points_to_evaluate),
            metrics=() if objectives is None else objectives.metrics,
            modes=() if objectives is None else objectives.modes,
            constraints=() if objectives is None else objectives.constraints,
            scalarize=None if objectives is None else objectives.weights,
            prices=checked_prices,
            cost_budget=limits.cost,
        )

    def resources_json(self) -> dict[str, Any] | None:
        """The per-trial resources as stored: the checked CPUs/GPUs, or as given for Ray and executor objects."""
        if self.executor == "ray" or isinstance(self.executor, Executor):
            return dict(self.resources) if self.resources else None
        res = Resources.parse(self.resources)
        return {"cpu": res.cpu, "gpu": res.gpu}

    def to_json(self) -> dict[str, Any]:
        """The settings as the store keeps them (objects by their class name; a callable stop by its repr).

        With several objectives, constraints or weights, `objectives` holds them all (the metric and
        mode columns keep a single objective, as stores always did; with several, metric is None)."""
        objectives = self.objectives
        extra = (
            {}
            if objectives is None or (objectives.plain and objectives.weights is None)
            else {"objectives": objectives.to_json()}
        )
        return {
            **extra,
            "num_samples": self.num_samples,
            "search": _named(self.search),
            "scheduler": _named(self.scheduler),
            "max_concurrent": self.max_concurrent,
            "resources": self.resources_json(),
            "executor": _named(self.executor),
            "stop": self.stop if isinstance(self.stop, Mapping) or self.stop is None else repr(self.stop),
            "time_budget_s": self.time_budget_s,
            "max_failures": self.max_failures,
            "seed": self.seed,
            **({} if self.prices is None else {"prices": self.prices.to_json()}),
            **({} if self.cost_budget is None else {"budget": {"cost": self.cost_budget}}),
        }


def stored_arguments(experiment: Mapping[str, Any], setup: Mapping[str, Any]) -> dict[str, Any]:
    """`rung.run`'s arguments that define a stored experiment, read back from its settings (JSON) and
    its setup (the unpickled objects: the space as given, the search and scheduler objects, the first
    points); the inverse of `RunSpec.to_json` for `rung resume`. A callable `stop` is the caller's
    to add (it is in the setup only when it could be pickled)."""
    settings = experiment["settings"]
    goals: dict[str, Any] = {"metric": experiment["metric"], "mode": experiment["mode"]}
    kept = settings.get("objectives")
    if kept:
        goals = {
            "metric": kept["metrics"] if len(kept["metrics"]) > 1 else kept["metrics"][0],
            "mode": kept["modes"] if len(kept["modes"]) > 1 else kept["modes"][0],
            "constraints": {k: tuple(v) for k, v in kept["constraints"].items()} or None,
            "scalarize": kept.get("scalarize"),
        }
    return {
        "space": setup["space"],
        **goals,
        "num_samples": settings["num_samples"],
        "search": setup["search"],
        "scheduler": setup["scheduler"],
        "max_concurrent": settings["max_concurrent"],
        "resources": settings["resources"],
        "executor": settings["executor"],
        "time_budget_s": settings["time_budget_s"],
        "prices": settings.get("prices"),
        "budget": settings.get("budget"),
        "max_failures": settings["max_failures"],
        "seed": settings["seed"],
        "points_to_evaluate": setup.get("points"),
    }


def check_resume(name: str, stored: Mapping[str, Any], spec: RunSpec, built: Mapping[str, Any]) -> None:
    """Raise `ResumeMismatchError` naming what differs between the stored experiment and this run in
    what a resume must keep: metric and mode, the seed, the search and scheduler built, the space.
    (Budgets, `num_samples`, executors and resources may change between runs.)"""
    was, now = Objectives.stored(stored["metric"], stored["mode"], stored["settings"]), spec.objectives
    if (was is None or was.plain) and (now is None or now.plain):
        if (stored["metric"], stored["mode"]) != (spec.metric, spec.mode):
            raise ResumeMismatchError(
                f"experiment {name!r} was stored with metric={stored['metric']!r}, mode={stored['mode']!r};"
                f" got metric={spec.metric!r}, mode={spec.mode!r}"
            )
    elif now is None or not now.same_problem(was):
        # Trials were judged (and searchers taught) by these: they must not change under them.
        raise ResumeMismatchError(
            f"experiment {name!r} was stored with objectives {was.describe() if was else 'none'}; got"
            f" {now.describe() if now else 'none'}: resume it with the same metric, mode and constraints"
            " (scalarize may change), or choose another name"
        )
    # The replay rebuilds the searcher and scheduler from the stored events: only the same ones,
    # seeded alike, rebuild what the stored run had.
    settings = stored["settings"]
    was_built = settings.get("built") or {"seed": settings.get("seed")}  # older stores
    for key in ("seed", "search", "scheduler"):
        was, now = was_built.get(key), built[key]
        if was is not None and was != now:
            raise ResumeMismatchError(
                f"experiment {name!r} was stored with {key}={was!r}; got {key}={now!r}:"
                f" resume it with the same {key}, or choose another name"
            )
    changed = space_changes(stored["space"], json.loads(json.dumps(spec.space.to_json())))
    if changed:
        raise ResumeMismatchError(
            f"experiment {name!r} was stored with another search space ({'; '.join(changed)}); resume it"
            " with the space it was started with, or choose another name to tune this one"
        )


def space_changes(stored: Any, got: Any, path: str = "") -> list[str]:
    """Where two spaces' JSON descriptions differ, as "path: stored -> got" (object addresses ignored)."""
    if isinstance(stored, dict) and isinstance(got, dict):
        changes = []
        for key in [*stored, *(k for k in got if k not in stored)]:
            where = f"{path}.{key}" if path else key
            if key not in got:
                changes.append(f"{where}: removed")
            elif key not in stored:
                changes.append(f"{where}: added")
            else:
                changes += space_changes(stored[key], got[key], where)
        return changes
    if _ADDRESS.sub("", json.dumps(stored)) == _ADDRESS.sub("", json.dumps(got)):
        return []
    return [f"{path or 'space'}: {json.dumps(stored):.60} -> {json.dumps(got):.60}"]


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
"""The part of an object's default repr that differs between processes."""
