"""Exports: CSV, JSONL, TensorBoard event files and MLflow calls, replayed from a stored experiment."""

from __future__ import annotations

import csv
import json
import struct
import sys
import types
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


class _FakeClient:
    calls: list[tuple[Any, ...]] = []

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.calls.append(("client", tracking_uri))

    def get_experiment_by_name(self, name: str) -> None:
        return None

    def create_experiment(self, name: str) -> str:
        self.calls.append(("experiment", name))
        return "7"

    def create_run(self, experiment_id: str, run_name: str, tags: dict[str, str]) -> Any:
        self.calls.append(("run", experiment_id, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_name))

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.calls.append(("param", run_id, key, value))

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        if key == "loss":
            self.calls.append(("metric", run_id, step, round(value, 4)))

    def set_terminated(self, run_id: str, status: str) -> None:
        self.calls.append(("end", run_id, status))


def test_mlflow_makes_a_run_per_trial(result: rung.ExperimentResult, monkeypatch: pytest.MonkeyPatch) -> None:
    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = _FakeClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlflow", types.ModuleType("mlflow"))
    monkeypatch.setitem(sys.modules, "mlflow.tracking", tracking)
    _FakeClient.calls = []
    export(result, [MLflow("file:./mlruns")])
    calls = _FakeClient.calls
    assert calls[:2] == [("client", "file:./mlruns"), ("experiment", "cb")]
    assert ("run", "7", "trial_1") in calls
    assert [c for c in calls if c[0] in ("param", "metric", "end") and c[1] == "trial_1"] == [
        ("param", "trial_1", "x", 0.1),
        ("param", "trial_1", "opt/name", "sgd"),
        ("metric", "trial_1", 1, 1.1),
        ("metric", "trial_1", 2, 0.6),
        ("metric", "trial_1", 3, round(0.1 + 1 / 3, 4)),
        ("end", "trial_1", "FINISHED"),
    ]
    assert ("run", "7", "trial_3") in calls and ("end", "trial_3", "FAILED") in calls


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
