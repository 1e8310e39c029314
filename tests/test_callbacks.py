"""Exports: CSV, JSONL, TensorBoard event files and MLflow calls, replayed from a stored experiment."""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.callbacks import CSV, JSONL, Callback, MLflow, TensorBoard, export
from rung.types import Status


def objective(config: dict[str, Any]) -> None:
    if config["x"] > 0.8:
        raise RuntimeError("too big")
    for i in range(3):
        extra = {"late": i} if config["x"] > 0.4 and i == 2 else {}
        rung.report({"loss": config["x"] + 1 / (i + 1), **extra})


@pytest.fixture
def result(storage: Path) -> rung.ExperimentResult:
    return rung.run(
        objective,
        {"x": rung.grid([0.1, 0.5, 0.9]), "opt": {"name": "sgd"}},
        metric="loss",
        max_concurrent=1,
        executor="thread",
        name="cb",
        storage=storage,
        verbose=0,
    )


def test_csv_and_jsonl_hold_every_result(result: rung.ExperimentResult, tmp_path: Path) -> None:
    export(result, [CSV(tmp_path / "r.csv"), JSONL(tmp_path / "r.jsonl")])
    with (tmp_path / "r.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["trial_id"], r["training_iteration"]) for r in rows] == [
        ("1", "1"),
        ("1", "2"),
        ("1", "3"),
        ("2", "1"),
        ("2", "2"),
        ("2", "3"),
    ]
    assert rows[0]["config/x"] == "0.1" and rows[0]["config/opt/name"] == "sgd"
    assert [r["late"] for r in rows] == ["", "", "", "", "", "2"]  # a late key widened the header
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(d["trial_id"], d["loss"]) for d in lines] == [
        (1, pytest.approx(0.1 + 1 / k)) if i < 3 else (2, pytest.approx(0.5 + 1 / k))
        for i, k in enumerate([1, 2, 3, 1, 2, 3])
    ]
    assert lines[0]["config"] == {"x": 0.1, "opt": {"name": "sgd"}}


def _events(folder: Path) -> list[Any]:
    from tensorboardX.proto import event_pb2

    out = []
    for file in sorted(folder.glob("events.out.tfevents.*")):
        data = file.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[pos + 12 : pos + 12 + length])
            out.append(event)
            pos += 12 + length + 4
    return out


def test_tensorboard_writes_scalars_per_trial(result: rung.ExperimentResult, tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    export(result, [TensorBoard(tmp_path / "tb")])
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["trial_1", "trial_2", "trial_3"]
    scalars = [
        (e.step, v.tag, round(v.simple_value, 4))
        for e in _events(tmp_path / "tb" / "trial_2")
        for v in e.summary.value
        if v.tag == "loss"
    ]
    assert scalars == [(1, "loss", 1.5), (2, "loss", 1.0), (3, "loss", round(0.5 + 1 / 3, 4))]


def _nan_at_two(config: dict[str, Any]) -> None:
    if config["x"] > 0.8:
        raise RuntimeError("too big")
    for i in range(3):
        rung.report({"loss": config["x"] + 1 / (i + 1), "odd": math.nan if i == 1 else float(i)})


# MLflow's SQL store still uses a loader option that SQLAlchemy 2.1 deprecates (MLflow's code, not ours).
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_mlflow_gets_a_run_per_trial_with_params_and_metric_history(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = rung.run(_nan_at_two, {"x": rung.grid([0.1, 0.5, 0.9]), "opt": {"name": "sgd"}}, metric="loss",
                      max_concurrent=1, executor="thread", name="cb", storage=tmp_path / "runs", verbose=0,
                      callbacks=[MLflow(uri)])  # fmt: skip
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("cb")
    assert experiment is not None
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["trial_1", "trial_2", "trial_3"]
    for trial in result.trials:
        run = runs[f"trial_{trial.id}"]
        assert run.data.params == {"x": str(trial.config["x"]), "opt/name": "sgd"}
        assert run.data.tags["rung.trial_id"] == str(trial.id)
        assert run.info.status == ("FAILED" if trial.status is Status.ERROR else "FINISHED")
        stored = result.history(trial.id)
        for key in ("loss", "odd", "time_total_s"):
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            assert [m.step for m in history] == [r["training_iteration"] for r in stored]
            assert [m.timestamp for m in history] == [int(r["timestamp"] * 1000) for r in stored]
            values = [m.value for m in history]
            expected = [r[key] for r in stored]
            assert [math.isnan(v) for v in values] == [math.isnan(v) for v in expected]
            assert [v for v in values if not math.isnan(v)] == pytest.approx([v for v in expected if not math.isnan(v)])
        assert set(run.data.metrics) == ({"loss", "odd", "time_this_iter_s", "time_total_s"} if stored else set())
    # A stored experiment exported later gives the same runs, in an MLflow experiment of its own.
    export(result, [MLflow(uri, experiment_name="cb-again")])
    again = client.get_experiment_by_name("cb-again")
    assert again is not None
    copies = {r.info.run_name: r for r in client.search_runs([again.experiment_id])}
    assert {k: (r.data.params, r.data.metrics, r.info.status) for k, r in copies.items()} == {
        k: (r.data.params, r.data.metrics, r.info.status) for k, r in runs.items()
    }


def test_missing_packages_are_named(result: rung.ExperimentResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(
        ImportError, match=r"^rung.callbacks.MLflow needs mlflow, which is not installed; pip install mlflow$"
    ):
        export(result, [MLflow()])


def test_base_callback_hooks_do_nothing(result: rung.ExperimentResult) -> None:
    seen: list[tuple[str, int]] = []

    class Ends(Callback):
        def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
            seen.append((status.value, trial_id))

    export(result, [Ends()])
    assert seen == [("TERMINATED", 1), ("TERMINATED", 2), ("ERROR", 3)]


class _Recorder(rung.callbacks.Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        self.calls.append(("setup", name, metric, mode))

    def on_trial_start(self, trial_id: int, config: dict[str, Any]) -> None:
        self.calls.append(("start", trial_id))

    def on_result(self, trial_id: int, config: dict[str, Any], result: dict[str, Any]) -> None:
        self.calls.append(("result", trial_id, result["training_iteration"]))

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        self.calls.append(("end", trial_id, status))

    def on_experiment_end(self) -> None:
        self.calls.append(("end of experiment",))


class _Broken(rung.callbacks.Callback):
    def on_result(self, trial_id: int, config: dict[str, Any], result: dict[str, Any]) -> None:
        raise RuntimeError("callback bug")


def _two_steps(config: dict[str, Any]) -> None:
    for i in range(2):
        rung.report({"loss": config["x"] + i})


def test_callbacks_follow_a_run_and_a_broken_one_is_switched_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, jsonl = _Recorder(), rung.callbacks.JSONL()
    result = rung.run(_two_steps, {"x": rung.grid([1.0, 2.0])}, metric="loss", executor="thread", max_concurrent=1,
                      name="cb", storage=tmp_path, verbose=0, callbacks=[_Broken(), recorder, jsonl])  # fmt: skip
    assert recorder.calls == [
        ("setup", "cb", "loss", "min"),
        ("start", 1), ("result", 1, 1), ("result", 1, 2), ("end", 1, Status.TERMINATED),
        ("start", 2), ("result", 2, 1), ("result", 2, 2), ("end", 2, Status.TERMINATED),
        ("end of experiment",),
    ]  # fmt: skip
    rows = [json.loads(line) for line in (result.path / "results.jsonl").read_text().splitlines()]
    assert [(r["trial_id"], r["loss"]) for r in rows] == [(1, 1.0), (1, 2.0), (2, 2.0), (2, 3.0)]
    assert "callback _Broken failed in on_result; it is switched off" in caplog.text


class _DuckTyped:
    """Every hook of a Callback, without being one."""

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None: ...
    def on_trial_start(self, trial_id: int, config: dict[str, Any]) -> None: ...
    def on_result(self, trial_id: int, config: dict[str, Any], result: dict[str, Any]) -> None: ...
    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None: ...
    def on_experiment_end(self) -> None: ...


@pytest.mark.parametrize("given", [_DuckTyped(), JSONL, "csv"])
def test_callbacks_must_be_callback_objects(tmp_path: Path, given: Any) -> None:
    # An object that is not a Callback (or the class, not an object of it) is refused before the run
    # starts, with the base class named; it was taken, and one lacking a hook was switched off later.
    message = (
        "callbacks[1] must be a rung.callbacks.Callback object (subclass it and override the hooks you need);"
        f" got {given!r} of type {type(given).__name__}"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        rung.run(_two_steps, {"x": 1.0}, metric="loss", executor="thread", name="duck", storage=tmp_path,
                 verbose=0, callbacks=[JSONL(), given])  # fmt: skip
    assert not (tmp_path / "duck").exists()


def test_callbacks_given_as_an_iterator_are_told_of_the_run(tmp_path: Path) -> None:
    # An iterator was read once to store the callbacks for `rung resume`: the run got none of them.
    recorder = _Recorder()
    rung.run(_two_steps, {"x": 1.0}, metric="loss", executor="thread", name="it", storage=tmp_path, verbose=0,
             callbacks=iter([recorder]))  # fmt: skip
    assert recorder.calls == [
        ("setup", "it", "loss", "min"), ("start", 1), ("result", 1, 1), ("result", 1, 2), ("end", 1, Status.TERMINATED),
        ("end of experiment",),
    ]  # fmt: skip


def test_one_callback_object_serves_two_experiments_and_export_writes_each_result_once(tmp_path: Path) -> None:
    callbacks = [JSONL(), CSV()]
    for name in ("a", "b"):
        rung.run(_two_steps, {"x": rung.grid([1.0, 2.0])}, metric="loss", executor="thread", max_concurrent=1,
                 name=name, storage=tmp_path, verbose=0, callbacks=callbacks)  # fmt: skip
    for name in ("a", "b"):  # each experiment's rows in its own folder
        assert len((tmp_path / name / "results.jsonl").read_text().splitlines()) == 4
        assert len((tmp_path / name / "results.csv").read_text().splitlines()) == 1 + 4
    export(rung.load("a", storage=tmp_path), [JSONL(), CSV()])  # over the files the run wrote
    assert len((tmp_path / "a" / "results.jsonl").read_text().splitlines()) == 4
    with (tmp_path / "a" / "results.csv").open(newline="") as fh:
        assert [(r["trial_id"], r["training_iteration"]) for r in csv.DictReader(fh)] == [
            ("1", "1"), ("1", "2"), ("2", "1"), ("2", "2"),
        ]  # fmt: skip


def _three_steps(config: dict[str, Any]) -> None:
    for i in range(3):
        rung.report({"loss": config["x"] + i})


def test_callbacks_are_set_up_before_a_resume_replays_an_end(tmp_path: Path) -> None:
    common: dict[str, Any] = {"metric": "loss", "executor": "thread", "name": "r", "storage": tmp_path, "verbose": 0}
    rung.run(_three_steps, {"x": 1.0}, stop={"training_iteration": 2}, **common)
    # As if the driver died after deciding to stop the trial but before its end was stored.
    with sqlite3.connect(tmp_path / "r" / "rung.db") as conn:
        conn.execute("DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events WHERE trial_id = 1)")
        conn.execute("UPDATE trials SET status = 'RUNNING'")
        conn.execute("UPDATE experiment SET status = 'INTERRUPTED'")
    recorder = _Recorder()
    rung.run(_three_steps, {"x": 1.0}, stop={"training_iteration": 2}, resume=True, callbacks=[recorder], **common)
    assert recorder.calls == [("setup", "r", "loss", "min"), ("end", 1, Status.TERMINATED), ("end of experiment",)]


# MLflow's SQL store still uses a loader option that SQLAlchemy 2.1 deprecates (MLflow's code, not ours).
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_mlflow_continues_the_run_of_a_resumed_trial(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = MLflow(uri)
    first.setup("m", tmp_path, "loss", "min")
    first.on_trial_start(1, {"x": 1})
    first.on_result(1, {"x": 1}, {"loss": 3.0, "training_iteration": 1, "timestamp": 1.0})
    first.on_experiment_end()  # interrupted: the run is KILLED
    resumed = MLflow(uri)  # a new driver: it has not seen the trial start
    resumed.setup("m", tmp_path, "loss", "min")
    resumed.on_result(1, {"x": 1}, {"loss": 2.0, "training_iteration": 2, "timestamp": 2.0})
    resumed.on_trial_end(1, Status.TERMINATED, None)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("m")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(1, 3.0), (2, 2.0)]
