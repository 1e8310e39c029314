"""`run()` and `load()`: a run is a `RunSpec` (what to do), its parts (what does it) and the loop.

Arguments are checked where they are recorded (`rung.spec`), the parts are built from the record
(`rung.parts`), the store is opened or created for it (`rung.opening`) and the tuner runs the loop.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from rung import known as known_results
from rung._blas import settle
from rung._text import LogGuard
from rung.callbacks import Callback
from rung.cost import Spending
from rung.executors.base import Executor
from rung.opening import default_name, keep_stored_default, open_experiment
from rung.parts import Parts, build, make_executor
from rung.progress import interrupted_line
from rung.result import ExperimentResult
from rung.schedulers import Scheduler
from rung.search import Searcher
from rung.space import Space
from rung.spec import RunSpec
from rung.store.sqlite import Store
from rung.tuner import Progress, Tuner
from rung.types import Config, StopFn

__all__ = ["load", "run"]

log = logging.getLogger("rung")
LogGuard.install(log)  # a failed trial's traceback is logged: its escape sequences must not reach a terminal
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

P = ParamSpec("P")
R = TypeVar("R")

SPELLINGS = {
    "config": "the space, the second argument: rung.run(fn, space, ...)",
    "param_space": "the space, the second argument: rung.run(fn, space, ...)",
    "n_trials": "num_samples= (the experiment's total)",
    "num_trials": "num_samples= (the experiment's total)",
    "direction": 'mode= ("min" or "max")',
    "search_alg": "search=",
    "max_concurrent_trials": "max_concurrent=",
    "n_jobs": "max_concurrent=",
    "resources_per_trial": "resources=",
    "storage_path": "storage= (a folder)",
    "local_dir": "storage= (a folder)",
    "timeout": "time_budget_s=",
    "study_name": "name=",
    "load_if_exists": "resume=",
    "evaluated_rewards": 'known=[{"config": point, "result": {metric: reward}}, ...] (stored, learnt from, not run)',
}
"""Ray Tune's and Optuna's names of `run`'s arguments, and how rung spells them."""


def _spellings(func: Callable[P, R]) -> Callable[P, R]:
    """`func`, answering an argument named as Ray Tune or Optuna name it with rung's spelling."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for key in kwargs:
            if key in SPELLINGS:
                raise TypeError(f"run() has no argument {key}=; rung spells it {SPELLINGS[key]}")
        return func(*args, **kwargs)

    return wrapper


@_spellings
def run(
    fn: Callable[[Config], Any],
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
    name: str | None = None,
    storage: str | Path = "rung-runs",
    resume: bool = False,
    stop: Mapping[str, float] | StopFn | None = None,
    time_budget_s: float | None = None,
    max_failures: int = 0,
    seed: int = 0,
    verbose: int = 1,
    callbacks: Sequence[Callback] = (),
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    known: Sequence[Mapping[str, Any]] | None = None,
    constraints: Mapping[str, Any] | None = None,
    scalarize: Mapping[str, float] | None = None,
    prices: Mapping[str, Any] | None = None,
    budget: Mapping[str, float] | None = None,
) -> ExperimentResult:
    """Tune `fn` over `space` and return every trial, stored under `<storage>/<name>/`.

    Args:
        fn: the objective, `fn(config)`; it calls `rung.report(...)` per iteration (or returns a dict
            of metrics, or a number: the value of `metric`). It is stored for `rung resume`, closure and
            all: pass large objects with `rung.with_parameters(fn, name=obj)` instead.
        space: nested dict of domains (`rung.uniform`, ...) and constants.
        metric: the reported key to optimise; `mode` is "min" or "max" (Optuna's "minimize" and
            "maximize" are taken too). Several objectives: a list of keys, e.g. `["val_acc",
            "latency_ms"]`, and `mode` one mode for all or a list (`["max", "min"]`); each trial is
            then judged by its last result that reports them all, and the answer is a Pareto front
            (`result.pareto_front()`); see docs/objectives.md.
        num_samples: trials to run (times the size of the grid, if the space has `rung.grid` dimensions).
        search: "auto" (TPE, learning BOHB-style under HyperBand/ASHA, MOTPE with several objectives;
            random search when there is no metric or nothing but grids to search), "random", "grid",
            "tpe", "gp", or a Searcher object
            (rung.TPE, rung.GP, rung.BOHB, rung.OptunaSearch, ...).
        scheduler: None (FIFO), a name, or a Scheduler object.
        max_concurrent: at most this many trials at once (default: as many as `resources` allow).
        resources: per trial, e.g. `{"cpu": 1, "gpu": 0.5}`.
        executor: "process" (default: worker processes), "thread" (in-process, for debugging), "simulated"
            (`fn` returns a recorded `Curve` that is replayed on a simulated clock with `max_concurrent`
            virtual workers, 4 by default; see `rung.executors.simulated`), "ray" (Ray actors on the
            cluster named by RAY_ADDRESS, or a local Ray; see docs/scaling-out.md), or an Executor object.
        name: the experiment's name (default: the objective's name, the date and time, and 4 random hex
            digits, e.g. `train-20240506-070809-3fa2`: unique, and sorted by time).
        storage: the folder that holds experiments.
        resume: continue the stored experiment `name` (finished trials are kept).
        stop: `{key: threshold}` (a trial ends once a reported value is >= its threshold, whatever
            `mode` is, as in Ray Tune; for a minimised metric, pass a callable) or
            `callable(trial_id, result) -> bool`.
        time_budget_s: stop starting trials and end running ones after this many seconds (of this run;
            the same as `budget={"time_s": ...}`).
        max_failures: restart a failed trial from its last checkpoint up to this many times.
        seed: seeds the searcher and scheduler (each keeps its own generator).
        verbose: 0 quiet, 1 a live progress view.
        callbacks: `rung.callbacks` objects (CSV, JSONL, TensorBoard, MLflow, or your own `Callback`)
            told of every trial start, result and end.
        points_to_evaluate: configurations to run first, in order, in addition to `num_samples` (and
            to the grid): known good settings, or last run's best. Each may give some keys only; the
            rest are drawn at random. The searcher learns from them as from its own proposals.
        known: results known without running them (Ray Tune's `evaluated_rewards`, Optuna's
            `add_trial`): `[{"config": {...}, "result": {"loss": 0.3}}, ...]`, each config giving every
            hyperparameter. Each is stored as a TERMINATED trial (origin "known") that the searcher
            learns from and that can be best; it is not run, and the scheduler is not told of it.
            `rung.interop.from_optuna(study)` gives an Optuna study's trials in this form.
        constraints: `{key: ("<=", bound)}` (or `">="`) on reported values, e.g. `{"model_mb": ("<=",
            50)}`: a trial whose judged result breaks one (or does not report its key) is infeasible,
            never best and never on the front. `("<=", 50, "monotone")`: the value only grows as the
            trial trains, so the trial is stopped as soon as a result breaks it.
        scalarize: with several objectives, weights > 0 that pick one best trial (`result.best`):
            the smallest sum of weight x loss, where a maximised objective's loss is its negative,
            e.g. `{"val_acc": 1.0, "latency_ms": 0.01}` (1 point of accuracy is worth 100 ms). The
            search still learns every objective.
        prices: money per resource-hour, e.g. `{"cpu": 0.04, "gpu": 2.50}`: every result then carries
            its trial's `cost` so far (its resources x its wall time x these prices) and the experiment
            its `total_cost`. On Ray, custom resources too, and `"node_types": {type: {resource: price}}`
            for the nodes of a type; see docs/guide/money.md.
        budget: `{"cost": 20.0}` ends the experiment once that much money is spent (in all its runs;
            needs `prices`): running trials that have a checkpoint pause, so a resume with a larger
            budget continues them. `{"time_s": 3600}` is `time_budget_s`; both may be given.

    Example:
        >>> def train(config):
        ...     return {"loss": (config["x"] - 0.3) ** 2}
        >>> result = rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=8)  # doctest: +SKIP
        >>> result.best_config  # doctest: +SKIP
    """
    if not callable(fn):
        raise TypeError(f"fn (the objective) must be callable; got {fn!r} of type {type(fn).__name__}")
    spec = RunSpec.of(
        space, metric=metric, mode=mode, num_samples=num_samples, search=search, scheduler=scheduler,
        max_concurrent=max_concurrent, resources=resources, executor=executor, stop=stop,
        time_budget_s=time_budget_s, max_failures=max_failures, seed=seed, points_to_evaluate=points_to_evaluate,
        constraints=constraints, scalarize=scalarize, prices=prices, budget=budget,
    )  # fmt: skip
    callbacks = _callbacks(callbacks)
    name = _name(name, fn, storage)
    executor = make_executor(spec)
    # What the worker processes need first (their parent, importing rung and numpy) starts now, while
    # the searcher and scheduler are built; they start and load the objective while the store opens.
    executor.prepare()
    try:
        parts = build(spec, executor)
        if resume:
            spec, parts = keep_stored_default(spec, parts, storage, name)
        given = known_results.check(known, spec.space, parts.searcher, spec.metrics, spec.seed)
        settings = parts.settings(spec, fn)
        if given:
            settings["known"] = len(given)
        executor.start(fn)
        store = open_experiment(fn, space, spec, parts, settings, storage, name, resume, callbacks)
    except BaseException:
        executor.shutdown()
        raise
    progress = _progress(verbose, name, parts)
    tuner = _tuner(fn, spec, parts, store, progress, callbacks, given)
    try:
        if store.trials():
            tuner.replay()
        tuner.run()
        if tuner.plan():  # what the default picked, as it learnt it (`rung show` and the dashboard read settings)
            store.set_experiment("FINISHED", settings={**settings, "picked": list(tuner.plan())})
            store.commit()
    except KeyboardInterrupt:
        _say_interrupted(interrupted_line(store, name, storage), progress)
        settle()  # no import may run after this (see `rung._blas.settle`)
        raise
    finally:
        store.close()
    return ExperimentResult(storage, name, trusted=True)  # written by this process: its pickles are ours


def _tuner(
    fn: Callable[[Config], Any],
    spec: RunSpec,
    parts: Parts,
    store: Store,
    progress: Progress,
    callbacks: list[Callback],
    known: list[known_results.Known],
) -> Tuner:
    return Tuner(
        fn=fn,
        searcher=parts.searcher,
        scheduler=parts.scheduler,
        executor=parts.executor,
        store=store,
        metric=spec.metric,
        mode=spec.mode,
        objectives=spec.objectives,
        stop=parts.stop,
        time_budget_s=spec.time_budget_s,
        max_failures=spec.max_failures,
        progress=progress,
        callbacks=callbacks,
        max_concurrent=spec.max_concurrent,
        points=parts.points,
        known=known,
        spending=_spending(spec, parts.executor),
        cost_budget=spec.cost_budget,
    )


def _spending(spec: RunSpec, executor: Executor) -> Spending | None:
    """The account of money spent, when the run has prices: per trial, the resources it asks for (on
    Ray, what the executor says of the trial: its resources and its node's type)."""
    if spec.prices is None:
        return None
    where = getattr(executor, "trial_resources", None)
    held = spec.resources_json() or {"cpu": 1.0}
    flat = {k: float(v) for k, v in held.items() if k != "resources"}
    return Spending(spec.prices, {**flat, **held.get("resources", {})}, where if callable(where) else None)


def _callbacks(callbacks: Any) -> list[Callback]:
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of rung.callbacks objects; got {callbacks!r}")
    given: list[Callback] = list(callbacks)  # read once: stored for `rung resume` and given to the tuner
    for i, callback in enumerate(given):
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{i}] must be a rung.callbacks.Callback object (subclass it and override the hooks"
                f" you need); got {callback!r} of type {type(callback).__name__}"
            )
    return given


def _name(name: Any, fn: Callable[..., Any], storage: Any) -> str:
    """The experiment's name: checked, or made unique when not given."""
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be a folder path (a str or Path); got {storage!r}")
    if name is None:
        return default_name(fn, Path(storage))
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be letters, digits, '.', '_' or '-' (not starting with . _ -); got {name!r}")
    return name


def _progress(verbose: int, name: str, parts: Parts) -> Progress:
    if not verbose:
        return Progress()
    from rung.progress import RichProgress

    total = parts.searcher.total
    return RichProgress(name, None if total is None else total + len(parts.points))


def _say_interrupted(line: str, progress: Progress) -> None:
    """The command that resumes, said before Python's traceback (the caller gets the KeyboardInterrupt;
    the CLI prints no traceback): after the live view, or as a warning of rung's log when quiet."""
    note = getattr(progress, "note", None)
    if callable(note):
        note(line)
    else:
        log.warning("%s", line)


def load(name: str, storage: str | Path = "rung-runs", *, trusted: bool = False) -> ExperimentResult:
    """The stored experiment `name`, read from the store's JSON columns: nothing in it is unpickled, so
    loading a store someone handed you runs none of its code.

    Args:
        name: the experiment's folder under `storage`.
        storage: the folder of experiments.
        trusted: also unpickle what only pickles hold: configs with objects in them (a class in a
            `choice`; otherwise their text) and `Trial.checkpoint`. Unpickling runs code: only for
            stores you (or someone you trust) wrote.

    Example:
        >>> result = rung.load("exp1", storage="rung-runs")  # doctest: +SKIP
        >>> rung.load("exp1", storage="rung-runs", trusted=True).best.checkpoint  # doctest: +SKIP
    """
    if not isinstance(trusted, bool):
        raise TypeError(f"load: trusted must be True or False; got {trusted!r}")
    return ExperimentResult(storage, name, trusted=trusted)
