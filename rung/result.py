"""What `run()` and `load()` return: the trials of an experiment, read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from rung._numbers import better, finite
from rung._trials import Trials
from rung.errors import UntrustedStoreError
from rung.objectives import Objectives
from rung.store import checkpoints as files
from rung.store import driver
from rung.store.sqlite import Store
from rung.types import Config, Status, flatten

__all__ = ["ExperimentResult", "ScheduleEntry", "Trial"]


@dataclass(frozen=True)
class ScheduleEntry:
    """One stretch of a trial's hyperparameter schedule (PBT, PB2).

    Attributes:
        iteration: the trial's own iteration count when this config took over: it applies to the
            results with `training_iteration > iteration`, up to the next entry.
        config: the configuration from then on.
        from_trial: the trial whose newest checkpoint it continued from then (None: its own).
    """

    iteration: int
    config: Config | None
    from_trial: int | None = None


@dataclass(frozen=True)
class Trial:
    """One trial as stored.

    Attributes:
        id: 1-based trial number.
        config: the configuration it ran, read from JSON: an object in it (a class in a `choice`) is
            its stored text, unless the experiment was loaded with `trusted=True`.
        status: how it ended (or where it is).
        metrics: its last result.
        best_metrics: the result it is judged by: the one with the best value of the run's metric
            (None if never finite); with constraints, the best that meets them all if any does; with
            several objectives, its last result that reports them all (see `rung.objectives`).
        error: the traceback when it failed.
        iteration: number of results reported.
        feasible: whether `best_metrics` meets every constraint of the run (True without
            constraints; None when it has no such result yet). Infeasible trials are never best
            and never on the Pareto front.
    """

    id: int
    config: Config
    status: Status
    metrics: dict[str, Any]
    best_metrics: dict[str, Any] | None
    error: str | None
    iteration: int
    num_failures: int
    parent_id: int | None
    checkpoint_path: Path | None = field(repr=False)
    _store: tuple[str | Path, str] = field(repr=False, compare=False)
    _trusted: bool = field(default=False, repr=False, compare=False)
    feasible: bool | None = True

    @property
    def log_path(self) -> Path:
        """The file holding what the trial printed (the path is made when asked: 100,000 paths cost
        seconds). On the process executor the file exists only if the trial printed something."""
        storage, name = self._store
        return Path(files.log_file(Path(storage) / name, self.id))

    @property
    def checkpoint(self) -> Any:
        """The trial's latest checkpoint object (loaded from the store now), or None.

        A checkpoint is a pickle, and unpickling runs code: this needs a result from `rung.run()` or
        one loaded with `rung.load(..., trusted=True)` (`UntrustedStoreError` otherwise).
        """
        if not self._trusted:
            storage, name = self._store
            raise UntrustedStoreError(
                f"trial {self.id}'s checkpoint is a pickle, and unpickling runs code stored in it; if you trust"
                f" the store, load it with rung.load({name!r}, storage={str(storage)!r}, trusted=True)"
            )
        store = Store.read(*self._store)
        try:
            latest = store.latest_checkpoint(self.id)
        finally:
            store.close()
        return None if latest is None else cloudpickle.loads(latest[1])


class ExperimentResult:
    """All trials of one experiment, with the best one by the run's metric and mode (with several
    objectives: the Pareto front, `pareto_front()`).

    Everything is read from the store's JSON columns: loading a store someone handed you runs none
    of its code. `trusted=True` (what `rung.run()` returns is trusted) also unpickles configs that
    hold objects and allows `Trial.checkpoint`.

    Attributes:
        storage: the folder of experiments it was read from; `name`: the experiment's folder there.
        metric, mode: the run's metric (None with several objectives) and mode.
        metrics, modes: every objective and its mode (one each for a single metric; empty without).
        objectives: the objectives, constraints and weights as a `rung.objectives.Objectives` (None
            without a metric).
        total_cost: the money the experiment has spent, in all its runs: each trial's latest `cost`,
            summed (None: it was run without `prices`; see `rung.run`).

    Example:
        >>> result = rung.load("exp1", storage="rung-runs")  # doctest: +SKIP
        >>> result.best_config, result.best.best_metrics["acc"]  # doctest: +SKIP
    """

    def __init__(self, storage: str | Path, name: str, *, trusted: bool = False) -> None:
        store = Store.read(storage, name)
        try:
            experiment = store.experiment(setup=False)
            self.path = store.path
            # By SQL: a large result's trials are read on demand, not to sum their costs.
            self.total_cost: float | None = store.total_cost(experiment["settings"])
        finally:
            store.close()
        objectives = Objectives.stored(experiment["metric"], experiment["mode"], experiment["settings"])
        build = _Build(objectives, experiment["status"], (storage, name), trusted)
        self.storage = storage
        # Read whole now up to 16,384 trials, else from the store when asked, a page at a time (see
        # rung/_trials.py): a result of a million trials costs no more to make than one of 16,384.
        self.trials: Trials[Trial] = Trials(storage, name, build, objects=trusted)
        self.name: str = name  # the folder's name: a copied or renamed experiment goes by its new one
        self.status: str = experiment["status"]
        self.metric: str | None = experiment["metric"]
        self.mode: str = experiment["mode"] or "min"
        self.settings: dict[str, Any] = experiment["settings"]
        self.objectives: Objectives | None = objectives
        self.metrics: tuple[str, ...] = () if objectives is None else objectives.metrics
        self.modes: tuple[str, ...] = () if objectives is None else objectives.modes

    def __repr__(self) -> str:
        if self.objectives is not None and self.objectives.multi and self.objectives.weights is None:
            front = len(self.objectives.front(self._judged()))
            return f"ExperimentResult(name={self.name!r}, trials={len(self.trials)}, pareto front of {front})"
        best = self.best
        if best is None or not self.metrics:
            shown = "none"
        elif self.metric is None:
            shown = f"trial {best.id}"
        else:
            shown = f"{self.metric}={best.best_metrics[self.metric]!r}"  # type: ignore[index]
        return f"ExperimentResult(name={self.name!r}, trials={len(self.trials)}, best {shown})"

    def _judged(self) -> list[tuple[int, dict[str, Any] | None]]:
        return [(t.id, t.best_metrics) for t in self.trials]

    def _value(self, trial: Trial, scope: str) -> float | None:
        source = trial.best_metrics if scope == "all" else trial.metrics
        if source is None or self.metric is None:
            return None
        value: Any = source.get(self.metric)
        return float(value) if finite(value) else None

    def pareto_front(self) -> list[Trial]:
        """The trials no other feasible trial beats in every objective (and matches in none worse),
        among the feasible trials whose judged result (`Trial.best_metrics`: with several objectives,
        a trial's last result that reports them all) has every objective finite; ordered by the first
        objective, best first. With one objective, the best trial (and those tied with it).

        Example:
            >>> result = rung.run(train, space, metric=["acc", "ms"], mode=["max", "min"])  # doctest: +SKIP
            >>> [(t.id, t.best_metrics["acc"], t.best_metrics["ms"]) for t in result.pareto_front()]  # doctest: +SKIP
        """
        if self.objectives is None:
            raise ValueError(f"pareto_front: experiment {self.name!r} has no metric (metric=None)")
        return [t for i in self.objectives.front(self._judged()) if (t := self.trials.by_id(i)) is not None]

    def get_best(self, scope: str = "all", *, scalarize: dict[str, float] | None = None) -> Trial | None:
        """The best trial: by each trial's best result (scope="all") or last result (scope="last").

        NaN and inf values are never chosen; trials that failed before reporting are skipped; with
        constraints, only trials that meet them (in that result) are chosen. With several objectives,
        the best by weights (`scalarize`, or the run's): see `rung.run`'s `scalarize`; without any,
        `MultiObjectiveError` (use `pareto_front()`).
        """
        if scope not in ("all", "last"):
            raise ValueError(f"scope must be 'all' or 'last'; got {scope!r}")
        objectives = self.objectives
        if scalarize is not None:
            if objectives is None:
                raise ValueError(f"get_best: scalarize weighs objectives; experiment {self.name!r} has no metric")
            objectives = Objectives.of(
                objectives.metrics, objectives.modes, constraints=_spelled(objectives), scalarize=scalarize
            )
        if objectives is not None and not objectives.plain:
            if objectives.multi and objectives.weights is None:
                raise objectives.no_single_best("get_best", self.name)
            return self._best_by(objectives, scope)
        if self.metric is None:
            return None
        if self.trials.loaded:
            scored = [(v, t) for t in self.trials if (v := self._value(t, scope)) is not None]
            if not scored:
                return None
            best_value, best = scored[0]
            for value, trial in scored[1:]:
                if better(value, best_value, self.mode):
                    best_value, best = value, trial
            return best
        best_id = self.trials.best_id(self.metric, self.mode, scope)
        return None if best_id is None else self.trials.by_id(best_id)

    def _best_by(self, objectives: Objectives, scope: str) -> Trial | None:
        best: Trial | None = None
        best_score = 0.0
        for trial in self.trials:
            score = objectives.score(trial.best_metrics if scope == "all" else trial.metrics)
            if score is not None and (best is None or score < best_score):
                best, best_score = trial, score
        return best

    @property
    def best(self) -> Trial | None:
        """The trial with the best value of the metric over all its results (feasible ones only, with
        constraints). With several objectives: the best by the run's `scalarize` weights, else an
        error that points to `pareto_front()`."""
        if self.objectives is not None and self.objectives.multi and self.objectives.weights is None:
            raise self.objectives.no_single_best("best", self.name)
        return self.get_best("all")

    @property
    def best_config(self) -> Config | None:
        """The best trial's config (see `best`)."""
        if self.objectives is not None and self.objectives.multi and self.objectives.weights is None:
            raise self.objectives.no_single_best("best_config", self.name)
        best = self.best
        return None if best is None else best.config

    def schedule(self, trial_id: int) -> list[ScheduleEntry]:
        """Which config trial `trial_id` ran from which iteration, and whose weights it continued from.

        Example:
            >>> result.schedule(3)  # doctest: +SKIP
            [ScheduleEntry(iteration=0, config={'lr': 0.01}, from_trial=None),
             ScheduleEntry(iteration=8, config={'lr': 0.012}, from_trial=5)]
        """
        self._known(trial_id, "schedule")
        store = Store.read(self.storage, self.name)
        try:
            from rung.store import views  # the read side's views: imported when asked, not by every run

            plan = views.schedules(store.timed_history()).get(trial_id, [])
        finally:
            store.close()
        return [ScheduleEntry(e["iteration"], e["config"], e["from_trial"]) for e in plan]

    # Static plots (matplotlib, imported on use): each returns the Figure and saves a PNG at `path`.
    def plot_curves(self, *, path: str | Path | None = None) -> Any:
        """Learning curves of every trial, milestones marked, stopped trials grey; see `rung.plots`."""
        from rung.plots import plot_curves

        return plot_curves(self, path=path)

    def plot_best_so_far(self, *, path: str | Path | None = None) -> Any:
        """The best value so far against time (in s, min, h or days), the best trial named; see `rung.plots`."""
        from rung.plots import plot_best_so_far

        return plot_best_so_far(self, path=path)

    def plot_timeline(self, *, path: str | Path | None = None) -> Any:
        """Which trial ran in which slot when, coloured by rung reached (red: failed); see `rung.plots`."""
        from rung.plots import plot_timeline

        return plot_timeline(self, path=path)

    def plot_parallel(self, *, path: str | Path | None = None) -> Any:
        """Parallel coordinates of the hyperparameters against the metric; see `rung.plots`."""
        from rung.plots import plot_parallel

        return plot_parallel(self, path=path)

    def plot_importance(self, *, path: str | Path | None = None) -> Any:
        """Hyperparameter importance alone and with interactions (a fitted GP's); see `rung.plots`."""
        from rung.plots import plot_importance

        return plot_importance(self, path=path)

    def plot_pareto(self, *, path: str | Path | None = None) -> Any:
        """Several objectives: the trials' judged results with the Pareto front drawn; see `rung.plots`."""
        from rung.plots import plot_pareto

        return plot_pareto(self, path=path)

    def plot_schedules(self, param: str | None = None, *, path: str | Path | None = None) -> Any:
        """PBT/PB2 hyperparameter schedules over time with clone edges; see `rung.plots`."""
        from rung.plots import plot_schedules

        return plot_schedules(self, param, path=path)

    def _known(self, trial_id: int, asked: str) -> None:
        if self.trials.by_id(trial_id) is None:
            span = "none" if self.trials.span is None else "{}..{}".format(*self.trials.span)
            raise ValueError(f"{asked}: no trial {trial_id!r} in experiment {self.name!r}; its trials: {span}")

    def history(self, trial_id: int) -> list[dict[str, Any]]:
        """Every result the trial reported, in order."""
        self._known(trial_id, "history")
        store = Store.read(self.storage, self.name)
        try:
            return store.results(trial_id)
        finally:
            store.close()

    def dataframe(self) -> Any:
        """A pandas DataFrame, one row per trial: `trial_id`, `status`, `config/...`, the last metrics,
        `best_<metric>` and `error` (the failed trial's traceback). With constraints, `feasible`;
        with several objectives, `pareto` (on the front) and, per objective, `best_<metric>`: its
        value in the result the trial is judged by (its last that reports every objective). A metric
        reported under one of these names (e.g. "error") is in the column `metrics/<name>` instead."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("result.dataframe() needs pandas, which is not installed; pip install pandas") from exc
        objectives = self.objectives
        judged = [f"best_{m}" for m in self.metrics]
        extra = []
        if objectives is not None and objectives.constraints:
            extra.append("feasible")
        front: set[int] = set()
        if objectives is not None and objectives.multi:
            extra.append("pareto")
            front = set(objectives.front(self._judged()))
        taken = {"trial_id", "status", "error", *judged, *extra}
        rows = []
        for trial in self.trials:
            row: dict[str, Any] = {"trial_id": trial.id, "status": trial.status.value}
            row.update({f"config/{k}": v for k, v in flatten(trial.config, "/").items()})
            for key, value in trial.metrics.items():
                row[f"metrics/{key}" if key in taken or key.startswith("config/") else key] = value
            for metric, column in zip(self.metrics, judged, strict=True):
                row[column] = (trial.best_metrics or {}).get(metric)
            if "feasible" in extra:
                row["feasible"] = trial.feasible
            if "pareto" in extra:
                row["pareto"] = trial.id in front
            row["error"] = trial.error
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Build:
    """Makes a `Trial` from a stored row (a class, not a closure: a result pickles, as a fitted
    `RungSearchCV` holding one does)."""

    objectives: Objectives | None
    experiment_status: str
    store: tuple[str | Path, str]
    trusted: bool

    def __call__(self, row: dict[str, Any], checkpoint: Path | None) -> Trial:
        objectives = self.objectives
        constrained = objectives is not None and bool(objectives.constraints)
        return Trial(
            id=row["id"],
            config=row["config"],
            status=Status(driver.shown(row["status"], self.experiment_status)),
            metrics=row["last_result"] or {},
            best_metrics=row["best_result"],
            error=row["error"],
            iteration=row["iteration"],
            num_failures=row["num_failures"],
            parent_id=row["parent_id"],
            checkpoint_path=checkpoint,
            _store=self.store,
            _trusted=self.trusted,
            feasible=_feasible(objectives, row["best_result"]) if constrained else True,
        )


def _feasible(objectives: Objectives | None, judged: dict[str, Any] | None) -> bool | None:
    """A trial's feasibility by its judged result (None: it has none yet)."""
    if judged is None:
        return None
    return objectives is None or objectives.feasible(judged)


def _spelled(objectives: Objectives) -> dict[str, Any]:
    """The constraints as `rung.run` takes them."""
    return {c.key: tuple(c.to_json()) for c in objectives.constraints}
