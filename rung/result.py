"""What `run()` and `load()` return: the trials of an experiment, read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from rung._numbers import better, finite
from rung.errors import UntrustedStoreError
from rung.store import checkpoints as files
from rung.store import driver, views
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
        best_metrics: its result with the best value of the run's metric (None if never finite).
        error: the traceback when it failed.
        iteration: number of results reported.
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

    @property
    def log_path(self) -> Path:
        """The file holding what the trial printed (made when asked: 100,000 paths cost seconds)."""
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
    """All trials of one experiment, with the best one by the run's metric and mode.

    Everything is read from the store's JSON columns: loading a store someone handed you runs none
    of its code. `trusted=True` (what `rung.run()` returns is trusted) also unpickles configs that
    hold objects and allows `Trial.checkpoint`.

    Attributes:
        storage: the folder of experiments it was read from; `name`: the experiment's folder there.

    Example:
        >>> result = rung.load("exp1", storage="rung-runs")  # doctest: +SKIP
        >>> result.best_config, result.best.best_metrics["acc"]  # doctest: +SKIP
    """

    def __init__(self, storage: str | Path, name: str, *, trusted: bool = False) -> None:
        store = Store.read(storage, name)
        try:
            experiment = store.experiment()
            rows = store.trials(objects=trusted)
            paths = store.checkpoint_paths()
            self.path = store.path
            self.storage = storage
            self.trials = [
                Trial(
                    id=row["id"],
                    config=row["config"],
                    status=Status(driver.shown(row["status"], experiment["status"])),
                    metrics=row["last_result"] or {},
                    best_metrics=row["best_result"],
                    error=row["error"],
                    iteration=row["iteration"],
                    num_failures=row["num_failures"],
                    parent_id=row["parent_id"],
                    checkpoint_path=paths.get(row["id"]),
                    _store=(storage, name),
                    _trusted=trusted,
                )
                for row in rows
            ]
        finally:
            store.close()
        self.name: str = name  # the folder's name: a copied or renamed experiment goes by its new one
        self.status: str = experiment["status"]
        self.metric: str | None = experiment["metric"]
        self.mode: str = experiment["mode"] or "min"
        self.settings: dict[str, Any] = experiment["settings"]

    def __repr__(self) -> str:
        best = self.best
        shown = "none" if best is None or self.metric is None else f"{self.metric}={best.best_metrics[self.metric]!r}"  # type: ignore[index]
        return f"ExperimentResult(name={self.name!r}, trials={len(self.trials)}, best {shown})"

    def _value(self, trial: Trial, scope: str) -> float | None:
        source = trial.best_metrics if scope == "all" else trial.metrics
        if source is None or self.metric is None:
            return None
        value: Any = source.get(self.metric)
        return float(value) if finite(value) else None

    def get_best(self, scope: str = "all") -> Trial | None:
        """The best trial: by each trial's best result (scope="all") or last result (scope="last").

        NaN and inf values are never chosen; trials that failed before reporting are skipped.
        """
        if scope not in ("all", "last"):
            raise ValueError(f"scope must be 'all' or 'last'; got {scope!r}")
        scored = [(v, t) for t in self.trials if (v := self._value(t, scope)) is not None]
        if not scored:
            return None
        best_value, best = scored[0]
        for value, trial in scored[1:]:
            if better(value, best_value, self.mode):
                best_value, best = value, trial
        return best

    @property
    def best(self) -> Trial | None:
        """The trial with the best value of the metric over all its results."""
        return self.get_best("all")

    @property
    def best_config(self) -> Config | None:
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
            plan = views.schedules(store.timed_history()).get(trial_id, [])
        finally:
            store.close()
        return [ScheduleEntry(e["iteration"], e["config"], e["from_trial"]) for e in plan]

    # Static plots (matplotlib, imported on use): each returns the Figure and saves a PNG at `path`.
    def plot_curves(self, *, path: str | Path | None = None) -> Any:
        """Learning curves of every trial, milestones marked, stopped trials grey; see `rung.plots`."""
        from rung.plots import plot_curves

        return plot_curves(self, path=path)

    def plot_timeline(self, *, path: str | Path | None = None) -> Any:
        """Which trial ran in which slot when, coloured by rung reached (red: failed); see `rung.plots`."""
        from rung.plots import plot_timeline

        return plot_timeline(self, path=path)

    def plot_parallel(self, *, path: str | Path | None = None) -> Any:
        """Parallel coordinates of the hyperparameters against the metric; see `rung.plots`."""
        from rung.plots import plot_parallel

        return plot_parallel(self, path=path)

    def plot_schedules(self, param: str | None = None, *, path: str | Path | None = None) -> Any:
        """PBT/PB2 hyperparameter schedules over time with clone edges; see `rung.plots`."""
        from rung.plots import plot_schedules

        return plot_schedules(self, param, path=path)

    def _known(self, trial_id: int, asked: str) -> None:
        known = {t.id for t in self.trials}
        if trial_id not in known:
            span = f"{min(known)}..{max(known)}" if known else "none"
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
        `best_<metric>` and `error` (the failed trial's traceback). A metric reported under one of
        these names (e.g. "error") is in the column `metrics/<name>` instead."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("result.dataframe() needs pandas, which is not installed; pip install pandas") from exc
        rows = []
        for trial in self.trials:
            row: dict[str, Any] = {"trial_id": trial.id, "status": trial.status.value}
            row.update({f"config/{k}": v for k, v in flatten(trial.config, "/").items()})
            taken = {"trial_id", "status", "error", f"best_{self.metric}"}
            for key, value in trial.metrics.items():
                row[f"metrics/{key}" if key in taken or key.startswith("config/") else key] = value
            if self.metric is not None:
                row[f"best_{self.metric}"] = (trial.best_metrics or {}).get(self.metric)
            row["error"] = trial.error
            rows.append(row)
        return pd.DataFrame(rows)
