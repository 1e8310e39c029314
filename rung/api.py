"""`run()` and `load()`: check the arguments, build the parts, hand them to the tuner."""

from __future__ import annotations

import datetime
import importlib
import json
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from rung._checks import Interval, Options, check
from rung._numbers import is_number
from rung._parameters import WithParameters, warn_large
from rung._text import LogGuard
from rung.callbacks import Callback
from rung.errors import ExperimentExistsError, ExperimentNotFoundError, RungError
from rung.executors.base import Executor
from rung.progress import interrupted_line
from rung.resources import Resources, gpu_slots, machine_cpus, machine_gpus
from rung.result import ExperimentResult
from rung.schedulers import SCHEDULERS, Scheduler
from rung.schedulers import make as make_scheduler
from rung.search import SEARCHERS, Searcher
from rung.search import make as make_searcher
from rung.space import Space
from rung.store import driver
from rung.store.sqlite import Store
from rung.tuner import Progress, StopFn, Tuner
from rung.types import Config

__all__ = ["load", "run"]

log = logging.getLogger("rung")
LogGuard.install(log)  # a failed trial's traceback is logged: its escape sequences must not reach a terminal
EXECUTORS = ("process", "thread", "simulated", "ray")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
STORED_SETUP_WARN_BYTES = 10 * 2**20
"""Above this size, what `run` stores for `rung resume` gets a LargeObjectiveWarning."""


def _searcher(search: str | Searcher, space: Space, metric: str | None) -> Searcher:
    if isinstance(search, Searcher):
        return search
    if search == "auto":
        # TPE (random for its first trials), unless there is nothing to model: no metric, or a
        # space of grids and constants only. Why TPE: BENCHMARKS.md, "Searcher quality".
        return make_searcher("tpe" if metric is not None and space.paths else "random")
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
    if not isinstance(stop, Mapping):
        raise TypeError(f"stop must be a dict {{metric: threshold}} or a callable(trial_id, result); got {stop!r}")
    limits: dict[str, float] = {}
    for key, value in stop.items():
        if not isinstance(key, str) or not is_number(value):
            raise ValueError(f"stop needs str keys and number thresholds; got {key!r}: {value!r}")
        limits[key] = float(value)

    def reached(trial_id: int, result: dict[str, Any]) -> bool:
        return any(k in result and result[k] >= v for k, v in limits.items())

    return reached


def _objective_path(fn: Callable[..., Any]) -> str | None:
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if target is fn else None


def _executor(
    executor: str | Executor, resources: Resources, max_concurrent: int | None, raw: Mapping[str, Any] | None
) -> Executor:
    if isinstance(executor, Executor):
        return executor
    if executor not in EXECUTORS:
        known = ", ".join(repr(k) for k in EXECUTORS)
        raise ValueError(f"executor must be one of {known} or an Executor object; got {executor!r}")
    if executor == "ray":
        from rung.executors.ray import RayExecutor

        # The cluster's nodes decide what fits; Ray custom resources ride along under "resources".
        return RayExecutor(resources=raw, capacity=max_concurrent)
    if executor == "simulated":
        from rung.executors.simulated import SimulatedExecutor

        # Virtual workers: the machine's size does not limit them.
        return SimulatedExecutor(max_concurrent or 4)
    gpus = machine_gpus() if resources.gpu > 0 else []
    capacity = resources.slots(machine_cpus(), len(gpus))
    if max_concurrent is not None:
        capacity = min(capacity, max_concurrent)
    if executor == "thread":
        from rung.executors.thread import ThreadExecutor

        return ThreadExecutor(capacity)
    from rung.executors.process import ProcessExecutor

    return ProcessExecutor(capacity, resources.cpu, gpu_slots(resources.gpu, gpus, capacity))


def run(
    fn: Callable[[Config], Any],
    space: Mapping[str, Any] | Space,
    *,
    metric: str | None = None,
    mode: str = "min",
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
) -> ExperimentResult:
    """Tune `fn` over `space` and return every trial, stored under `<storage>/<name>/`.

    Args:
        fn: the objective, `fn(config)`; it calls `rung.report(...)` per iteration (or returns a dict
            of metrics, or a number: the value of `metric`). It is stored for `rung resume`, closure and
            all: pass large objects with `rung.with_parameters(fn, name=obj)` instead.
        space: nested dict of domains (`rung.uniform`, ...) and constants.
        metric: the reported key to optimise; `mode` is "min" or "max".
        num_samples: trials to run (times the size of the grid, if the space has `rung.grid` dimensions).
        search: "auto" (TPE, learning BOHB-style under HyperBand/ASHA; random search when there is no
            metric or nothing but grids to search), "random", "grid", "tpe", "gp", or a Searcher object
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
        time_budget_s: stop starting trials and end running ones after this many seconds.
        max_failures: restart a failed trial from its last checkpoint up to this many times.
        seed: seeds the searcher and scheduler (each keeps its own generator).
        verbose: 0 quiet, 1 a live progress view.
        callbacks: `rung.callbacks` objects (CSV, JSONL, TensorBoard, MLflow, or your own `Callback`)
            told of every trial start, result and end.
        points_to_evaluate: configurations to run first, in order, in addition to `num_samples` (and
            to the grid): known good settings, or last run's best. Each may give some keys only; the
            rest are drawn at random. The searcher learns from them as from its own proposals.

    Example:
        >>> def train(config):
        ...     return {"loss": (config["x"] - 0.3) ** 2}
        >>> result = rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=8)  # doctest: +SKIP
        >>> result.best_config  # doctest: +SKIP
    """
    if not callable(fn):
        raise TypeError(f"fn (the objective) must be callable; got {fn!r} of type {type(fn).__name__}")
    if metric is not None and not isinstance(metric, str):
        raise TypeError(f"metric must be a str naming a reported key; got {metric!r}")
    check(None, "mode", mode, Options(("min", "max")))
    num_samples = int(check(None, "num_samples", num_samples, Interval(int, 1, None)))
    max_failures = int(check(None, "max_failures", max_failures, Interval(int, 0, None)))
    if max_concurrent is not None:
        max_concurrent = int(check(None, "max_concurrent", max_concurrent, Interval(int, 1, None)))
    seed = int(check(None, "seed", seed, Interval(int, 0, None)))
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be a folder path (a str or Path); got {storage!r}")
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of rung.callbacks objects; got {callbacks!r}")
    callbacks = list(callbacks)  # read once: stored for `rung resume` and given to the tuner
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{i}] must be a rung.callbacks.Callback object (subclass it and override the hooks"
                f" you need); got {callback!r} of type {type(callback).__name__}"
            )
    check(None, "time_budget_s", time_budget_s, Interval(float, 0, None, closed="neither"), None)
    compiled = Space.of(space)
    searcher = _searcher(search, compiled, metric)
    paired = getattr(searcher, "paired_scheduler", None)
    sched = paired() if scheduler is None and callable(paired) else _scheduler(scheduler)
    stopper = _stopper(stop)
    if isinstance(executor, Executor) and resources is not None:
        raise ValueError(
            "resources is for executors given by name; an executor object has its own (e.g."
            f" RayExecutor(resources=...)); got executor={type(executor).__name__} and resources={resources!r}"
        )
    # Ray validates its own resources (it also knows custom ones): see RayExecutor.
    res = Resources() if executor == "ray" or isinstance(executor, Executor) else Resources.parse(resources)
    if name is None:
        name = _default_name(fn, storage)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be letters, digits, '.', '_' or '-' (not starting with . _ -); got {name!r}")
    # Resolve one config now, so a failing sample_from shows before anything is stored or started.
    compiled.sample(np.random.default_rng(seed))
    try:  # every value of the space must be storable with the trials and sendable to workers
        cloudpickle.dumps(compiled)
    except Exception as exc:
        raise TypeError(
            f"space holds a value that cannot be stored with the trials ({type(exc).__name__}: {exc}); keep"
            " picklable values in the space and make such objects inside the objective"
        ) from exc
    exe = _executor(executor, res, max_concurrent, resources)

    settings = {
        "num_samples": num_samples,
        "search": search if isinstance(search, str) else type(search).__name__,
        "scheduler": scheduler if scheduler is None or isinstance(scheduler, str) else type(scheduler).__name__,
        "max_concurrent": max_concurrent,
        "resources": (
            (dict(resources) if resources else None)
            if executor == "ray" or isinstance(executor, Executor)
            else {"cpu": res.cpu, "gpu": res.gpu}
        ),
        "executor": executor if isinstance(executor, str) else type(executor).__name__,
        "stop": stop if isinstance(stop, Mapping) else (None if stop is None else repr(stop)),
        "time_budget_s": time_budget_s,
        "max_failures": max_failures,
        "seed": int(seed),
        "driver": driver.here(),
        # What was built from `search` and `scheduler` (names or objects), for resume's check.
        "built": {"seed": int(seed), "search": type(searcher).__name__, "scheduler": type(sched).__name__},
    }
    if isinstance(fn, WithParameters):  # not stored: `rung resume` asks for them (by these names)
        settings["with_parameters"] = list(fn.names)
    searcher.setup(compiled, metric=metric, mode=mode, num_samples=num_samples, seed=int(seed))
    sched.setup(metric=metric, mode=mode, seed=int(seed))
    fidelity = sched.fidelity()
    if fidelity is not None:
        # A multi-fidelity scheduler: the searcher may learn from results at common budgets (BOHB).
        searcher.set_fidelity(*fidelity)
        settings["fidelity"] = {"time_attr": fidelity[0], "milestones": fidelity[1]}
    elif isinstance(time_attr := getattr(sched, "time_attr", None), str):
        # PBT, PB2, median stopping: the views draw curves against it (they read no pickle to learn it).
        settings["fidelity"] = {"time_attr": time_attr, "milestones": []}

    points = _points(points_to_evaluate, compiled, searcher, int(seed))
    if points:
        settings["points_to_evaluate"] = len(points)

    # Worker processes start now and load the objective while the store is opened.
    exe.start(fn)
    try:
        store = _open_store(
            fn, space, searcher, sched, storage, name, resume, metric, mode, settings, compiled, stop, callbacks, points
        )
    except BaseException:
        exe.shutdown()
        raise
    progress = _progress(verbose, name, None if searcher.total is None else searcher.total + len(points))
    tuner = Tuner(
        fn=fn,
        searcher=searcher,
        scheduler=sched,
        executor=exe,
        store=store,
        metric=metric,
        mode=mode,
        stop=stopper,
        time_budget_s=time_budget_s,
        max_failures=max_failures,
        progress=progress,
        callbacks=callbacks,
        max_concurrent=max_concurrent,
        points=points,
    )
    try:
        if store.trials():
            tuner.replay()
        tuner.run()
    except KeyboardInterrupt:
        # Said before Python's traceback (the caller gets the KeyboardInterrupt); the CLI prints no traceback.
        line = interrupted_line(store, name, storage)
        note = getattr(progress, "note", None)
        if callable(note):
            note(line)
        else:  # verbose=0: no live view; the line goes where rung's other warnings go
            log.warning("%s", line)
        raise
    finally:
        store.close()
    return ExperimentResult(storage, name, trusted=True)  # written by this process: its pickles are ours


def _default_name(fn: Callable[..., Any], storage: str | Path) -> str:
    """`<objective>-<date>-<time>-<4 hex digits>`: sorts by time, and two runs started within the
    same second (or at once, by two drivers) get two names; checked against the storage folder."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", str(getattr(fn, "__name__", "objective")).strip("<>")).lstrip("._-")
    stamp = f"{base or 'objective'}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    while True:
        name = f"{stamp}-{secrets.token_hex(2)}"
        if not (Path(storage) / name).exists():
            return name


def _points(given: Any, space: Space, searcher: Searcher, seed: int) -> list[Config]:
    """`points_to_evaluate` checked against the space, each completed (keys it leaves out drawn at
    random, from a generator of the seed and the point's place, so a resume completes them alike)."""
    if given is None:
        return []
    if isinstance(given, Mapping) or not isinstance(given, Sequence) or isinstance(given, str):
        raise TypeError(f"points_to_evaluate must be a list of dicts of hyperparameter values; got {given!r}")
    if given and type(searcher).on_given is Searcher.on_given:
        raise ValueError(
            f"search={type(searcher).__name__} cannot take points_to_evaluate: it does not implement"
            " on_given (how to learn from a configuration it did not propose)"
        )
    points = []
    for i, point in enumerate(given):
        fixed = space.fixed_paths(point, f"points_to_evaluate[{i}]")
        points.append(space.sample(np.random.default_rng([seed & (2**64 - 1), 0x901, i]), fixed=fixed))
    return points


def _progress(verbose: int, name: str, total: int | None) -> Progress:
    if not verbose:
        return Progress()
    from rung.progress import RichProgress

    return RichProgress(name, total)


def _open_store(
    fn: Callable[[Config], Any],
    space: Any,
    searcher: Searcher,
    scheduler: Scheduler,
    storage: str | Path,
    name: str,
    resume: bool,
    metric: str | None,
    mode: str,
    settings: dict[str, Any],
    compiled: Space,
    stop: Any,
    callbacks: Sequence[Callback],
    points: list[Config],
) -> Store:
    if resume:
        try:
            store = Store.open(storage, name)
        except ExperimentNotFoundError:
            log.info("no stored experiment %r to resume; starting it", name)
        else:
            try:
                stored = store.experiment()
            except BaseException:  # a damaged store: let go of the experiment
                store.close()
                raise
            if (stored["metric"], stored["mode"]) != (metric, mode):
                store.close()
                raise ValueError(
                    f"experiment {name!r} was stored with metric={stored['metric']!r}, mode={stored['mode']!r};"
                    f" got metric={metric!r}, mode={mode!r}"
                )
            # The replay rebuilds the searcher and scheduler from the stored events: only the same
            # ones, seeded alike, rebuild what the stored run had.
            built = stored["settings"].get("built") or {"seed": stored["settings"].get("seed")}  # older stores
            for key in ("seed", "search", "scheduler"):
                was, now = built.get(key), settings["built"][key]
                if was is not None and was != now:
                    store.close()
                    raise ValueError(
                        f"experiment {name!r} was stored with {key}={was!r}; got {key}={now!r}:"
                        f" resume it with the same {key}, or choose another name"
                    )
            changed = _space_changes(stored["space"], json.loads(json.dumps(compiled.to_json())))
            if changed:
                store.close()
                raise ValueError(
                    f"experiment {name!r} was stored with another search space ({'; '.join(changed)}); resume it"
                    " with the space it was started with, or choose another name to tune this one"
                )
            try:
                store.set_experiment("RUNNING", settings=settings)
            except BaseException:  # a full disk: let go of the experiment
                store.close()
                raise
            return store
    # A callable `stop` and the callbacks go with the rest of what `rung resume` needs to run the
    # experiment again (callbacks that cannot be pickled are left out: `rung resume` says so).
    # rung.with_parameters objects go to the workers, not into the store (a resume asks for them again).
    # The objective is pickled on its own inside the setup, so that `rung resume --objective` (or an
    # importable one) never unpickles the stored copy.
    stored_fn = fn.stored() if isinstance(fn, WithParameters) else fn
    parts: dict[str, Any] = {"space": space, "search": searcher, "scheduler": scheduler}
    try:
        parts["fn"] = bytes(cloudpickle.dumps(stored_fn))
    except Exception:
        parts["fn"] = None
    if callable(stop):
        parts["stop"] = stop
    if points:
        parts["points"] = points
    if callbacks:
        try:
            cloudpickle.dumps(list(callbacks))
            parts["callbacks"] = list(callbacks)
        except Exception:
            parts["callbacks_lost"] = [type(c).__name__ for c in callbacks]
    try:
        setup: bytes | None = cloudpickle.dumps(parts)
    except Exception:  # an unpicklable part: `rung resume` from the CLI will say so
        setup = None
    if setup is not None and len(setup) > STORED_SETUP_WARN_BYTES:
        warn_large(parts, len(setup), stacklevel=3)  # names the caller of rung.run
    try:
        return Store.create(
            storage,
            name,
            metric=metric,
            mode=mode,
            settings=settings,
            space=compiled.to_json(),
            objective=None if isinstance(fn, WithParameters) else _objective_path(fn),
            setup=setup,
        )
    except (OSError, sqlite3.OperationalError) as exc:
        if isinstance(exc, ExperimentExistsError) and resume:
            # Another driver created it (and ended) since this one looked: resume it, as asked.
            return _open_store(
                fn, space, searcher, scheduler, storage, name, resume, metric, mode, settings, compiled, stop,
                callbacks, points
            )  # fmt: skip
        if isinstance(exc, RungError):
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OSError(f"storage={str(storage)!r} cannot hold experiment {name!r}: {why}") from exc


def _space_changes(stored: Any, got: Any, path: str = "") -> list[str]:
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
                changes += _space_changes(stored[key], got[key], where)
        return changes
    if _ADDRESS.sub("", json.dumps(stored)) == _ADDRESS.sub("", json.dumps(got)):
        return []
    return [f"{path or 'space'}: {json.dumps(stored):.60} -> {json.dumps(got):.60}"]


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
"""The part of an object's default repr that differs between processes."""


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
