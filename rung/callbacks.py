"""Exports to the tools users already run: CSV, JSON lines, TensorBoard, MLflow.

A callback sees an experiment's events: `setup` once, `on_trial_start`, `on_result` per result,
`on_trial_end`, and `on_experiment_end`. A callback that raises is logged and switched off; the run
goes on. After a resume, a trial that restarts from a checkpoint older than its last result reports
those iterations again: the store keeps the new results, and the CSV and JSONL files get a second row
for each (keep the last row per `trial_id` and `training_iteration`, or `export` the stored
experiment for one row per result). The driver calls them (`run(..., callbacks=[...])`);
`export(result, callbacks)` replays a stored experiment through them, so a finished (or running)
experiment can be exported at any time. Third-party packages are imported when a callback is set up.

Example:
    >>> rung.callbacks.export(rung.load("exp1"), [rung.callbacks.CSV(), rung.callbacks.TensorBoard()])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import numbers
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rung.store.encoding import dumps
from rung.types import Config, Status, flatten

__all__ = ["CSV", "JSONL", "Callback", "CallbackList", "MLflow", "TensorBoard", "export"]

log = logging.getLogger("rung")


def _scalars(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)}


class Callback:
    """Base class: every hook does nothing; override those you need.

    Example:
        >>> class Count(Callback):
        ...     def on_result(self, trial_id, config, result):
        ...         self.n = getattr(self, "n", 0) + 1
    """

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        """Before the first trial: the experiment's name and folder (`<storage>/<name>`)."""

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        """A trial was created."""

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        """A trial reported `result` while running `config`."""

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        """A trial ended (TERMINATED, STOPPED or ERROR)."""

    def on_experiment_end(self) -> None:
        """The run ended: flush and close."""

    def clear(self) -> None:
        """Drop what earlier runs or exports wrote (after `setup`): `export` calls it, so that what it
        writes holds each stored result once."""


class CallbackList(Callback):
    """Several callbacks as one, as the tuner tells them: each in turn, and one that raises is logged
    and switched off (the run goes on). `export` calls its callbacks itself: there, an error is raised.

    Example:
        >>> both = CallbackList([CSV(), JSONL()])
        >>> bool(both), bool(CallbackList([]))
        (True, False)
    """

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def _each(self, hook: str, call: Callable[[Callback], None]) -> None:
        for callback in list(self.callbacks):
            try:
                call(callback)
            except Exception:
                log.exception("callback %s failed in %s; it is switched off", type(callback).__name__, hook)
                self.callbacks.remove(callback)

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        self._each("setup", lambda c: c.setup(name, path, metric, mode))

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        self._each("on_trial_start", lambda c: c.on_trial_start(trial_id, config))

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        self._each("on_result", lambda c: c.on_result(trial_id, config, result))

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        self._each("on_trial_end", lambda c: c.on_trial_end(trial_id, status, error))

    def on_experiment_end(self) -> None:
        self._each("on_experiment_end", lambda c: c.on_experiment_end())

    def clear(self) -> None:
        self._each("clear", lambda c: c.clear())


class JSONL(Callback):
    """One JSON object per result (`trial_id`, `config`, then the metrics) in `results.jsonl`.

    Example:
        >>> rung.run(train, space, callbacks=[rung.callbacks.JSONL()])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._given = None if path is None else Path(path)
        self.path = self._given
        self._fh: Any = None

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        self.path = self._given or path / "results.jsonl"  # each experiment its own file, unless given
        self._fh = self.path.open("a", encoding="utf-8")  # a resumed run continues the file

    def clear(self) -> None:
        self._fh.truncate(0)

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        self._fh.write(dumps({"trial_id": trial_id, "config": config, **result}) + "\n")
        self._fh.flush()

    def on_experiment_end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class CSV(Callback):
    """One row per result in `results.csv`: trial_id, `config/...` columns, then the metrics.

    A key first seen in a later result adds a column (the file is rewritten with the wider header).

    Example:
        >>> rung.run(train, space, callbacks=[rung.callbacks.CSV("out.csv")])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._given = None if path is None else Path(path)
        self.path = self._given
        self._columns: list[str] = []

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        self.path = self._given or path / "results.csv"  # each experiment its own file, unless given
        self._columns = []
        if self.path.exists():  # a resumed run continues the file
            with self.path.open(newline="", encoding="utf-8") as fh:
                self._columns = next(csv.reader(fh), [])

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self._columns = []

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        assert self.path is not None  # set in setup
        row = {"trial_id": trial_id, **{f"config/{k}": v for k, v in flatten(config, "/").items()}, **result}
        row = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        new = [k for k in row if k not in self._columns]
        if new and self._columns:
            with self.path.open(newline="", encoding="utf-8") as fh:
                old = list(csv.DictReader(fh))
            self._columns += new
            with self.path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, self._columns)
                writer.writeheader()
                writer.writerows(old)
        elif new:
            self._columns = new
            with self.path.open("w", newline="", encoding="utf-8") as fh:
                csv.DictWriter(fh, self._columns).writeheader()
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, self._columns).writerow(row)


class TensorBoard(Callback):
    """TensorBoard scalars per trial (`<logdir>/trial_<id>/`), step = `training_iteration`.

    Needs `tensorboardX` or PyTorch's `torch.utils.tensorboard`.

    Example:
        >>> rung.run(train, space, callbacks=[rung.callbacks.TensorBoard()])  # doctest: +SKIP
    """

    def __init__(self, logdir: str | Path | None = None) -> None:
        self._given = None if logdir is None else Path(logdir)
        self.logdir = self._given
        self._writers: dict[int, Any] = {}
        self._writer_cls: Any = None

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError(
                    "rung.callbacks.TensorBoard needs tensorboardX or torch, and neither is installed;"
                    " pip install tensorboardX"
                ) from exc
        self._writer_cls = SummaryWriter
        self.logdir = self._given or path / "tensorboard"  # each experiment its own folder, unless given

    def _writer(self, trial_id: int) -> Any:
        if trial_id not in self._writers:
            assert self.logdir is not None  # set in setup
            self._writers[trial_id] = self._writer_cls(str(self.logdir / f"trial_{trial_id}"))
        return self._writers[trial_id]

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        self._writer(trial_id).add_text("config", dumps(config), 0)

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        writer = self._writer(trial_id)
        step = int(result.get("training_iteration", 0))
        for key, value in _scalars(result).items():
            if key not in ("training_iteration", "timestamp"):
                writer.add_scalar(key, value, step)

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()

    def on_experiment_end(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class MLflow(Callback):
    """An MLflow run per trial (named `trial_<id>`) with its config as params and every metric by step.

    Needs `mlflow` (or `mlflow-skinny`, plus SQLAlchemy and Alembic for a `sqlite:` store). Runs go
    to the MLflow experiment named like the rung one (or `experiment_name`), at `tracking_uri`
    (default: MLflow's own setting). MLflow 3 refuses a `file:` store unless
    `MLFLOW_ALLOW_FILE_STORE=true`: use `sqlite:///path/mlflow.db` for local tracking.

    Example:
        >>> rung.run(train, space, callbacks=[rung.callbacks.MLflow("sqlite:///mlflow.db")])  # doctest: +SKIP
    """

    def __init__(self, tracking_uri: str | None = None, experiment_name: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self._client: Any = None
        self._entities: Any = None
        self._experiment_id: str | None = None
        self._runs: dict[int, str] = {}

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        try:
            from mlflow import entities
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise ImportError("rung.callbacks.MLflow needs mlflow, which is not installed; pip install mlflow") from exc
        self._entities = entities
        self._client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment_name = self.experiment_name or name
        found = self._client.get_experiment_by_name(experiment_name)
        self._experiment_id = (
            found.experiment_id if found is not None else self._client.create_experiment(experiment_name)
        )

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        run = self._client.create_run(
            self._experiment_id, run_name=f"trial_{trial_id}", tags={"rung.trial_id": str(trial_id)}
        )
        self._runs[trial_id] = run.info.run_id
        params = [self._entities.Param(key, str(value)) for key, value in flatten(config, "/").items()]
        if params:
            self._client.log_batch(run.info.run_id, params=params)

    def _run_of(self, trial_id: int) -> str | None:
        """The trial's run: started in this run of the experiment, or (resumed) found by its tag."""
        run_id = self._runs.get(trial_id)
        if run_id is None:
            found = self._client.search_runs(
                [self._experiment_id], filter_string=f"tags.`rung.trial_id` = '{trial_id}'", max_results=1
            )
            if found:
                run_id = self._runs[trial_id] = found[0].info.run_id
                self._client.update_run(run_id, status="RUNNING")  # it was KILLED when the run stopped
        return run_id

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        run_id = self._run_of(trial_id)
        if run_id is None:
            return
        step = int(result.get("training_iteration", 0))
        timestamp = int(float(result.get("timestamp", 0.0)) * 1000)
        metric = self._entities.Metric
        metrics = [
            metric(key, value, timestamp, step)
            for key, value in _scalars(result).items()
            if key not in ("training_iteration", "timestamp")
        ]
        if metrics:  # one call (one transaction) per result, not one per metric
            self._client.log_batch(run_id, metrics=metrics)

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        run_id = self._run_of(trial_id)
        self._runs.pop(trial_id, None)
        if run_id is not None:
            self._client.set_terminated(run_id, "FAILED" if status is Status.ERROR else "FINISHED")

    def on_experiment_end(self) -> None:
        for run_id in self._runs.values():
            self._client.set_terminated(run_id, "KILLED")
        self._runs.clear()


def export(result: Any, callbacks: list[Callback]) -> None:
    """Replay a stored experiment (an `ExperimentResult`) through `callbacks`, in the stored order.

    CSV and JSONL files are written anew (one row per stored result). TensorBoard event files and
    MLflow runs are added to what is there: export those into a fresh folder or experiment.
    """
    from rung.store.snapshot import snapshot  # reads a copy: the store's files stay untouched

    with snapshot(result.storage, result.name) as store:
        events = list(store.history())
        path = store.path
    for callback in callbacks:
        callback.setup(result.name, path, result.metric, result.mode)
        callback.clear()
    configs: dict[int, Config] = {}
    for kind, trial_id, data in events:
        if kind == "result":
            for callback in callbacks:
                callback.on_result(trial_id, configs.get(trial_id, {}), data)
            continue
        status, info = data
        if "origin" in info:
            configs[trial_id] = info.get("config") or {}
            for callback in callbacks:
                callback.on_trial_start(trial_id, configs[trial_id])
        elif "config" in info:
            configs[trial_id] = info["config"]
        if status.finished:
            error = next((t.error for t in result.trials if t.id == trial_id), None)
            for callback in callbacks:
                callback.on_trial_end(trial_id, status, error)
    for callback in callbacks:
        callback.on_experiment_end()
