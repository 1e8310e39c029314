"""Ask and tell: drive your own loop on rung's store (Optuna's `study.ask()` / `study.tell()`).

    >>> study = rung.Study({"x": rung.uniform(0, 1)}, metric="loss", name="s", storage="runs")  # doctest: +SKIP
    >>> trial = study.ask()  # doctest: +SKIP
    >>> study.tell(trial.id, {"loss": (trial.config["x"] - 0.3) ** 2})  # doctest: +SKIP

A trial asked is stored RUNNING (origin "ask"); `report` stores an intermediate result; `tell` its
end. Another process continues the study with `rung.Study.load(name, storage)`: it may tell a trial
this one asked.

How calls share the store: each call takes the study's lock (a blocking `flock` on `study.lock` in
the experiment's folder, so the calls of several processes take turns, each waiting at most for one
call), opens the store as its one writer (which also takes the experiment's `driver.lock`: while
`rung.run` drives the same experiment, a call raises `ExperimentBusyError`), catches up with what
other processes stored since this one last wrote (replaying those events into its searcher, the
calls a resume makes), writes, commits and closes. The searcher stays in memory between calls, so a
process that drives a study alone replays nothing. Cost per call: BENCHMARKS.md ("Ask and tell").
"""

from __future__ import annotations

import datetime
import numbers
import os
import re
import secrets
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from rung import known as known_results
from rung._numbers import is_number
from rung._study_state import Entry, State, locked
from rung.errors import ExperimentExistsError, SearchExhaustedError
from rung.objectives import Objectives
from rung.result import ExperimentResult
from rung.search import SEARCHERS, Searcher
from rung.search import make as make_searcher
from rung.space import Space
from rung.store.sqlite import Store
from rung.types import Config, Status

__all__ = ["AskedTrial", "Study"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UNLIMITED = 2**62
"""`num_samples` for a searcher when the study sets no limit (only a grid's searcher ever ends)."""
_STATES = {
    "completed": Status.TERMINATED,
    "pruned": Status.STOPPED,
    "failed": Status.ERROR,
    **{status.value.lower(): status for status in (Status.TERMINATED, Status.STOPPED, Status.ERROR)},
}
"""`tell`'s states (Optuna's words, and rung's Status names), case aside."""


@dataclass(frozen=True)
class AskedTrial:
    """A trial `Study.ask()` created: run `config`, then `study.tell(id, result)`.

    Attributes:
        id: the trial's id in the study (1-based), for `report` and `tell`, from any process.
        config: the configuration to evaluate.
    """

    id: int
    config: Config


class Study:
    """An experiment driven by your own loop: `ask()` for a configuration, `tell()` its result.

    Args:
        space: the search space (as for `rung.run`).
        metric: the key of the results to optimise; `mode` is "min" or "max". Several objectives: a
            list of keys, with one mode for all or a list of as many (as in `rung.run`); `ask` then
            proposes by all of them (TPE as MOTPE) and `result().pareto_front()` reads the front.
        constraints: `{key: ("<=", bound)}` as in `rung.run`: trials that break one are infeasible.
        name: the experiment's folder under `storage` (default: `study-<date>-<time>-<4 hex digits>`).
        storage: the folder of experiments.
        search: "auto" (TPE; random for a space of grids and constants), "random", "grid", "tpe", "gp" or
            a Searcher object.
        seed: seeds the searcher.
        num_samples: for a space with `rung.grid` dimensions, how many times the grid is proposed
            (then `ask` raises `SearchExhaustedError`); None: no limit.
        known: results known without running them, `[{"config": ..., "result": ...}]` as in `rung.run`;
            stored first, as trials the searcher learns from.

    Raises:
        ExperimentExistsError: an experiment of that name exists: `Study.load` continues it.

    Example:
        >>> study = rung.Study({"lr": rung.loguniform(1e-4, 1e-1)}, metric="loss", name="s1")  # doctest: +SKIP
        >>> for _ in range(20):  # doctest: +SKIP
        ...     trial = study.ask()
        ...     study.tell(trial.id, {"loss": train(trial.config)})
        >>> study.result().best_config  # doctest: +SKIP
    """

    storage: str | Path
    name: str
    metric: str | None
    mode: str
    objectives: Objectives | None
    _state: State
    _touched: bool
    _keeper: Store | None
    _pid: int

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        metric: str | Sequence[str],
        mode: str | Sequence[str] = "min",
        constraints: Mapping[str, Any] | None = None,
        name: str | None = None,
        storage: str | Path = "rung-runs",
        search: str | Searcher = "auto",
        seed: int = 0,
        num_samples: int | None = None,
        known: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        objectives: Objectives | None = None
        if isinstance(metric, str) and constraints is None:
            if mode not in ("min", "max"):
                raise ValueError(f"Study needs mode to be 'min' or 'max'; got {mode!r}")
        elif isinstance(metric, (str, list, tuple)):
            objectives = Objectives.of(metric, mode, constraints=constraints)
        else:
            raise TypeError(
                f"Study needs metric to be a str naming the result key to optimise (or a list of them); got {metric!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"Study needs seed to be an integer >= 0; got {seed!r}")
        if num_samples is not None and (
            isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1
        ):
            raise ValueError(f"Study needs num_samples to be an integer >= 1 or None; got {num_samples!r}")
        if not isinstance(storage, (str, os.PathLike)):
            raise TypeError(f"Study needs storage to be a folder path (a str or Path); got {storage!r}")
        if name is None:
            name = _default_name(storage)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"Study needs name to be letters, digits, '.', '_' or '-' (not starting with . _ -); got {name!r}"
            )
        compiled = Space.of(space)
        searcher = _searcher(search, compiled)
        if objectives is not None and objectives.multi and not searcher.multi_objective:
            raise ValueError(
                f"Study: search={type(searcher).__name__} learns one objective; this study has"
                f" {len(objectives.metrics)} ({objectives.describe()}): use search='auto' (TPE as MOTPE), 'tpe',"
                " 'random', 'grid' or rung.OptunaSearch(sampler)"
            )
        first = metric if objectives is None else objectives.metrics[0]
        first_mode = str(mode) if objectives is None else objectives.modes[0]
        searcher.setup(compiled, metric=first, mode=first_mode, num_samples=num_samples or _UNLIMITED, seed=int(seed))
        if objectives is not None:
            searcher.set_objectives(objectives)
        given = known_results.check(known, compiled, searcher, metric, int(seed))
        try:  # the searcher as set up, before any proposal: what another process (or a rebuild) starts from
            pristine = bytes(cloudpickle.dumps({"space": compiled, "search": searcher}))
        except Exception as exc:
            raise TypeError(
                f"Study cannot store its space and searcher ({type(exc).__name__}: {exc}); keep picklable values"
                " in the space"
            ) from exc
        settings = {
            "ask_tell": True,
            "search": search if isinstance(search, str) else type(search).__name__,
            "num_samples": num_samples,
            "seed": int(seed),
            "built": {"seed": int(seed), "search": type(searcher).__name__, "scheduler": None},
        }
        if given:
            settings["known"] = len(given)
        if objectives is not None:
            settings["objectives"] = objectives.to_json()
        stored_metric = None if objectives is not None and objectives.multi else first
        self._setup(storage, name, stored_metric, first_mode, pristine, objectives)
        try:
            store = Store.create(
                storage,
                name,
                metric=stored_metric,
                mode=first_mode,
                settings=settings,
                space=compiled.to_json(),
                setup=pristine,
            )
        except ExperimentExistsError:
            raise ExperimentExistsError(
                f"experiment {name!r} already exists in {str(storage)!r}; continue it with"
                f" rung.Study.load({name!r}, storage={str(storage)!r}), or choose another name"
            ) from None
        self._state.searcher = searcher
        try:
            for trial_id, item in enumerate(given, start=1):
                known_results.record(store, searcher, trial_id, item, stored_metric, time.time(), objectives)
            store.commit()
            self._state.seq, self._state.next_id = store.last_seq, len(given) + 1
        finally:
            store.close()

    def _setup(
        self,
        storage: str | Path,
        name: str,
        metric: str | None,
        mode: str,
        pristine: bytes,
        objectives: Objectives | None,
    ) -> None:
        self.storage, self.name, self.metric, self.mode, self.objectives = storage, name, metric, mode, objectives
        self._state = State(pristine, metric, mode, objectives)
        self._touched = False  # within a call: the searcher (or the entries) changed since the call began
        # A reader kept open between calls: closing the writer's connection then does not checkpoint and
        # remove the WAL (the last connection to close does), which cost ~15 ms a call (BENCHMARKS.md).
        self._keeper = None
        self._pid = os.getpid()  # a forked child opens its own reader (SQLite connections do not cross a fork)

    @classmethod
    def load(cls, name: str, storage: str | Path = "rung-runs") -> Study:
        """The stored study `name`, to ask and tell in this process too (its first call replays the store).

        It unpickles the space and searcher the study was created with (as `rung resume` does): load
        only studies you or someone you trust created.

        Example:
            >>> rung.Study.load("s1", storage="runs").tell(4, {"loss": 0.2})  # doctest: +SKIP
        """
        store = Store.read(storage, name)
        try:
            experiment = store.experiment()
        finally:
            store.close()
        if not experiment["settings"].get("ask_tell") or experiment["setup"] is None:
            raise ValueError(
                f"experiment {name!r} in {str(storage)!r} was made by rung.run, not rung.Study: continue it with"
                f" rung.run(..., name={name!r}, resume=True) or `rung resume {name}`"
            )
        study = cls.__new__(cls)
        objectives = Objectives.stored(experiment["metric"], experiment["mode"], experiment["settings"])
        if objectives is not None and objectives.plain:
            objectives = None
        study._setup(storage, name, experiment["metric"], experiment["mode"], bytes(experiment["setup"]), objectives)
        return study

    def close(self) -> None:
        """Let go of the connection kept open between calls (also done when the Study is collected).
        Nothing is lost without it: every call has committed its writes."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.objectives is not None:
            return (
                f"Study(name={self.name!r}, storage={str(self.storage)!r}, objectives={self.objectives.describe()!r})"
            )
        return f"Study(name={self.name!r}, storage={str(self.storage)!r}, metric={self.metric!r}, mode={self.mode!r})"

    # The calls.
    def ask(self) -> AskedTrial:
        """A new trial: the searcher's next configuration, stored as a RUNNING trial (origin "ask").

        Raises:
            SearchExhaustedError: the searcher has proposed every configuration it will (a grid
                proposed `num_samples` times).
        """
        with self._session() as (store, searcher):
            trial_id = self._state.next_id
            self._touched = True
            config = searcher.suggest(trial_id)
            if config is None:
                self._state.searcher = None  # rebuilt at the next call, as a replay (which never asks this) has it
                raise SearchExhaustedError(
                    f"ask: the searcher of study {self.name!r} has proposed every configuration it will"
                    f" ({trial_id - 1} trials); create the study with a larger num_samples to go on"
                )
            now, slot = time.time(), self._state.free_slot()
            store.add_trial(trial_id, config, "ask", at=now)
            store.set_status(trial_id, Status.RUNNING, at=now, slot=slot)
            self._state.next_id += 1
            self._state.open[trial_id] = Entry(started=now, last_time=now, slot=slot)
        return AskedTrial(trial_id, config)

    def report(self, trial_id: int, result: Mapping[str, Any]) -> None:
        """Store an intermediate result of a trial asked (from any process) and not yet told.

        `training_iteration` (one more than the trial's last, unless given: then above the last),
        `time_this_iter_s`, `time_total_s` (since `ask`) and `timestamp` are added, as `rung.report` adds them.

        Raises:
            TrialNotFoundError: no trial `trial_id` in the study.
            TrialEndedError: the trial was told its end already.
        """
        checked = self._checked(result, "report")
        with self._session() as (store, searcher):
            trial_id, entry = self._state.entry(store, trial_id, "report", self.name)
            self._add_result(store, searcher, entry, trial_id, checked)

    def tell(
        self,
        trial_id: int,
        result: Mapping[str, Any] | None = None,
        *,
        state: str | Status = "completed",
        error: str | None = None,
    ) -> None:
        """End a trial: its final result (if given, stored as its last), and how it ended.

        Args:
            trial_id: the id `ask` gave (in this process or another).
            result: the final metrics, e.g. `{"loss": 0.3}`; None keeps the last `report`ed one.
            state: "completed" (TERMINATED: the default), "pruned" (STOPPED early) or "failed" (ERROR);
                rung's Status names are accepted too.
            error: for a failed trial, what went wrong (shown by `rung show` and the dashboard).

        Raises:
            TrialNotFoundError: no trial `trial_id` in the study.
            TrialEndedError: the trial was told its end already.
            ValueError: a completed trial without a value of the metric in any of its results, a
                result for a failed one, or an unknown state.
        """
        status = _STATES.get(state.value.lower()) if isinstance(state, Status) else None
        if isinstance(state, str) and not isinstance(state, Status):
            status = _STATES.get(state.lower())
        if status is None:
            raise ValueError(f"tell: state must be 'completed', 'pruned' or 'failed'; got {state!r}")
        if status is Status.ERROR and result is not None:
            raise ValueError(f"tell: a failed trial takes no result (report it first); got {result!r:.200}")
        if error is not None and (status is not Status.ERROR or not isinstance(error, str)):
            raise ValueError(f"tell: error= is the text of a failed trial's error (state='failed'); got {error!r:.200}")
        checked = None if result is None else self._checked(result, "tell")
        with self._session() as (store, searcher):
            trial_id, entry = self._state.entry(store, trial_id, "tell", self.name)
            has_metric = entry.has_metric or (checked is not None and self._state.reports(checked))
            if status is Status.TERMINATED and not has_metric:
                said = (
                    f"the metric {self.metric!r}"
                    if self.objectives is None
                    else f"every objective ({', '.join(self.objectives.metrics)})"
                )
                raise ValueError(
                    f"tell: trial {trial_id} has no value of {said} (pass a result holding it,"
                    " or state='failed' if it failed)"
                )
            if checked is not None:
                self._add_result(store, searcher, entry, trial_id, checked)
            self._touched = True
            searcher.on_complete(trial_id, status, entry.last or None)
            store.set_status(trial_id, status, error=error, at=time.time(), slot=entry.slot)
            del self._state.open[trial_id]

    def result(self) -> ExperimentResult:
        """Every trial of the study as stored now (as `rung.load` reads it)."""
        return ExperimentResult(self.storage, self.name, trusted=True)

    # Inside a call.
    def _checked(self, result: Any, call: str) -> dict[str, Any]:
        if not isinstance(result, Mapping) or not all(isinstance(k, str) for k in result):
            raise TypeError(f"{call}: result must be a dict of metrics with str keys; got {result!r:.200}")
        out = dict(result)
        for metric in self._state.metrics:
            if metric in out and not is_number(out[metric]):
                value = out[metric]
                raise TypeError(
                    f"{call}: the metric {metric!r} must be a number; got {value!r} ({type(value).__name__})"
                )
        return out

    def _add_result(
        self, store: Store, searcher: Searcher, entry: Entry, trial_id: int, result: dict[str, Any]
    ) -> None:
        given = result.get("training_iteration")
        if given is not None and (
            isinstance(given, bool) or not isinstance(given, numbers.Integral) or given <= entry.iteration
        ):
            raise ValueError(
                f"trial {trial_id}'s training_iteration must be an integer above its last ({entry.iteration});"
                f" got {given!r}"
            )
        now = time.time()
        result["training_iteration"] = entry.iteration + 1 if given is None else int(given)
        result.setdefault("time_this_iter_s", now - entry.last_time)
        result.setdefault("time_total_s", now - entry.started)
        result.setdefault("timestamp", now)
        self._touched = True
        searcher.observe(trial_id, result)
        improved = self._state.track(entry, result)
        store.add_result(trial_id, result, result if improved else None)

    @contextmanager
    def _session(self) -> Iterator[tuple[Store, Searcher]]:
        """One call: the study's lock, the store opened to write and caught up, committed and closed."""
        with locked(Path(self.storage) / self.name):
            store = Store.open(self.storage, self.name)
            try:
                if self._keeper is None or self._pid != os.getpid():
                    self._keeper, self._pid = Store.read(self.storage, self.name), os.getpid()
                    weakref.finalize(self, self._keeper.close)
                self._touched = True
                searcher = self._state.catch_up(store)
                self._touched = False  # a call refused from here on (a bad trial id) leaves it as it is
                yield store, searcher
                store.commit()
                self._state.seq = store.last_seq
            except BaseException:
                if self._touched:  # it may be ahead of the store now: rebuilt from the store next call
                    self._state.searcher = None
                raise
            finally:
                store.close()


def _searcher(search: str | Searcher, space: Space) -> Searcher:
    if isinstance(search, Searcher):
        return search
    if search == "auto":
        return make_searcher("tpe" if space.paths else "random")
    if isinstance(search, str) and search in SEARCHERS:
        return make_searcher(search)
    names = ", ".join(repr(k) for k in ["auto", *SEARCHERS])
    raise ValueError(f"Study needs search to be one of {names} or a Searcher object; got {search!r}")


def _default_name(storage: str | Path) -> str:
    stamp = f"study-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    while True:
        name = f"{stamp}-{secrets.token_hex(2)}"
        if not (Path(storage) / name).exists():
            return name
