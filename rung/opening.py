"""A run's experiment in the store: a new one created with what `rung resume` needs, or a stored one
opened again after checking that this run is the same experiment (`rung.spec.check_resume`)."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import logging
import re
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle

from rung._parameters import WithParameters, warn_large
from rung.callbacks import Callback
from rung.errors import ExperimentExistsError, ExperimentNotFoundError, RungError
from rung.parts import Parts, build
from rung.spec import RunSpec, check_resume
from rung.store.sqlite import Store

__all__ = ["STORED_SETUP_WARN_BYTES", "default_name", "keep_stored_default", "open_experiment"]

log = logging.getLogger("rung")
STORED_SETUP_WARN_BYTES = 10 * 2**20
"""Above this size, what `run` stores for `rung resume` gets a LargeObjectiveWarning."""


def default_name(fn: Callable[..., Any], storage: str | Path) -> str:
    """`<objective>-<date>-<time>-<4 hex digits>`: sorts by time, and two runs started within the
    same second (or at once, by two drivers) get two names; checked against the storage folder."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", str(getattr(fn, "__name__", "objective")).strip("<>")).lstrip("._-")
    stamp = f"{base or 'objective'}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    while True:
        name = f"{stamp}-{secrets.token_hex(2)}"
        if not (Path(storage) / name).exists():
            return name


def _by_class_name(kind: str, name: str) -> Any:
    """A fresh searcher or scheduler (`kind`) of the class `name`, as `rung.run` builds it by name; None for a
    class it does not build by name (an object the user gave, which the user gives again)."""
    if kind == "search":
        from rung.search import SEARCHERS
        from rung.search.auto import AutoSearch

        makers: dict[str, Callable[[], Any]] = {"AutoSearch": AutoSearch, **SEARCHERS}
    else:
        from rung.schedulers import SCHEDULERS

        makers = dict(SCHEDULERS)
    for make in makers.values():
        try:
            made = make()
        except (TypeError, ValueError):  # a name that needs settings (PBT's): not one a default picked
            continue
        if type(made).__name__ == name:
            return made
    return None


def keep_stored_default(spec: RunSpec, parts: Parts, storage: str | Path, name: str) -> tuple[RunSpec, Parts]:
    """On resume with neither `search=` nor `scheduler=` given: if the stored experiment was started with other
    parts that rung builds by name (by an older rung's default, e.g. every trial to its end with several
    objectives, or by `search="tpe"`), rebuild those, so the experiment goes on as it began instead of failing
    the resume's check. Else unchanged."""
    if spec.search != "auto" or spec.scheduler is not None:
        return spec, parts
    try:
        store = Store.read(storage, name)
    except (ExperimentNotFoundError, RungError, sqlite3.DatabaseError):
        return spec, parts  # nothing stored (a new run), or open_experiment says what is wrong
    try:
        was = store.experiment(setup=False)["settings"].get("built") or {}
    finally:
        store.close()
    now = parts.built(spec)
    if all(was.get(k) in (None, now[k]) for k in ("search", "scheduler")):
        return spec, parts
    search = _by_class_name("search", was["search"]) if was.get("search") else spec.search
    scheduler = _by_class_name("scheduler", was["scheduler"]) if was.get("scheduler") else None
    if search is None or (was.get("scheduler") and scheduler is None):
        return spec, parts  # not one rung builds by name: check_resume names the mismatch
    log.info(
        "experiment %r was started with %s and %s; resuming with them (search= and scheduler= not given)",
        name, was.get("search"), was.get("scheduler"),
    )  # fmt: skip
    kept = dataclasses.replace(spec, search=search, scheduler=scheduler)
    return kept, build(kept, parts.executor)


def open_experiment(
    fn: Callable[..., Any],
    space: Any,
    spec: RunSpec,
    parts: Parts,
    settings: dict[str, Any],
    storage: str | Path,
    name: str,
    resume: bool,
    callbacks: Sequence[Callback],
) -> Store:
    """The store of experiment `name`: the stored one when `resume` finds it (checked to be the same
    experiment), else a new one holding the settings and what `rung resume` needs (`space` as given)."""
    if resume:
        try:
            store = Store.open(storage, name)
        except ExperimentNotFoundError:
            log.info("no stored experiment %r to resume; starting it", name)
        else:
            try:
                check_resume(name, store.experiment(), spec, settings["built"])
                store.set_experiment("RUNNING", settings=settings)
            except BaseException:  # another experiment, a damaged store, a full disk: let go of it
                store.close()
                raise
            return store
    setup = _setup(fn, space, spec, parts, callbacks)
    try:
        return Store.create(
            storage,
            name,
            metric=spec.metric,
            mode=spec.mode,
            settings=settings,
            space=spec.space.to_json(),
            objective=None if isinstance(fn, WithParameters) else _objective_path(fn),
            setup=setup,
        )
    except (OSError, sqlite3.OperationalError) as exc:
        if isinstance(exc, ExperimentExistsError) and resume:
            # Another driver created it (and ended) since this one looked: resume it, as asked.
            return open_experiment(fn, space, spec, parts, settings, storage, name, resume, callbacks)
        if isinstance(exc, RungError):
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OSError(f"storage={str(storage)!r} cannot hold experiment {name!r}: {why}") from exc


def _setup(
    fn: Callable[..., Any], space: Any, spec: RunSpec, parts: Parts, callbacks: Sequence[Callback]
) -> bytes | None:
    """What `rung resume` needs to run the experiment again, pickled; None if some part cannot be.

    A callable `stop` and the callbacks go with it (callbacks that cannot be pickled are left out:
    `rung resume` says so). `rung.with_parameters` objects go to the workers, not into the store (a
    resume asks for them again). The objective is pickled on its own inside the setup, so that
    `rung resume --objective` (or an importable objective) never unpickles the stored copy.
    """
    stored_fn = fn.stored() if isinstance(fn, WithParameters) else fn
    kept: dict[str, Any] = {"space": space, "search": parts.searcher, "scheduler": parts.scheduler}
    try:
        kept["fn"] = bytes(cloudpickle.dumps(stored_fn))
    except Exception:
        kept["fn"] = None
    if callable(spec.stop):
        kept["stop"] = spec.stop
    if parts.points:
        kept["points"] = parts.points
    if callbacks:
        try:
            cloudpickle.dumps(list(callbacks))
            kept["callbacks"] = list(callbacks)
        except Exception:
            kept["callbacks_lost"] = [type(c).__name__ for c in callbacks]
    try:
        setup: bytes | None = cloudpickle.dumps(kept)
    except Exception:  # an unpicklable part: `rung resume` from the CLI will say so
        setup = None
    if setup is not None and len(setup) > STORED_SETUP_WARN_BYTES:
        warn_large(kept, len(setup), stacklevel=5)  # names the caller of rung.run (past its spelling check)
    return setup


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
