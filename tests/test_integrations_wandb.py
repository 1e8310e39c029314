"""rung.integrations.wandb with the real W&B client in offline mode: runs written to a temporary
folder, nothing sent. The test reads back what W&B wrote (its `.wandb` record log)."""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.types import Status

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

from rung.integrations.wandb import WandbCallback  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    yield
    wandb.teardown()  # ends W&B's service process, which the runs started


def records(path: Path) -> Iterator[Any]:
    """The records of a `.wandb` file: a 7-byte header, then LevelDB-style log chunks in 32 KiB blocks."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            yield wandb_internal_pb2.Record.FromString(pending)
            pending = b""


def items(updates: Any) -> dict[str, str]:
    """Config, history and summary items as {key: JSON text}; W&B writes a key as `key` or `nested_key`."""
    return {item.key or "/".join(item.nested_key): item.value_json for item in updates}


def read_runs(folder: Path) -> dict[str, dict[str, Any]]:
    """Each offline run under `folder`: its name, group, project, config, history, summary and exit code."""
    runs = {}
    for path in sorted(folder.glob("wandb/offline-run-*/run-*.wandb")):
        run: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "exit": None}
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.update(name=record.run.display_name, group=record.run.run_group, project=record.run.project)
                run["job_type"], run["tags"] = record.run.job_type, list(record.run.tags)
                run["config"].update(items(record.run.config.update))
            elif kind == "config":
                run["config"].update(items(record.config.update))
            elif kind == "history":
                run["history"].append({k: v for k, v in items(record.history.item).items() if not k.startswith("_")})
            elif kind == "summary":
                run["summary"].update(items(record.summary.update))
            elif kind == "exit":
                run["exit"] = record.exit.exit_code
        runs[run["name"]] = run
    return runs


def objective(config: dict[str, Any]) -> None:
    if config["x"] < 0:
        raise ValueError("a failed trial")
    for i in range(1, 10):
        rung.report({"loss": config["x"] / i, "note": "text is not logged"})


def test_each_trial_is_a_run_of_the_experiments_group(storage: Path) -> None:
    result = rung.run(
        objective,
        {"x": rung.grid([1.0, 2.0, 3.0, -1.0])},
        metric="loss",
        scheduler=rung.ASHA(max_t=9, grace_period=1, reduction_factor=3),
        executor="thread",
        max_concurrent=1,
        name="wb",
        storage=storage,
        verbose=0,
        callbacks=[WandbCallback(project="rung-test", tags=["asha"])],
    )
    runs = read_runs(storage / "wb")  # the default dir: the experiment's folder
    assert sorted(runs) == [f"trial_{t.id}" for t in result.trials]
    for trial in result.trials:
        run = runs[f"trial_{trial.id}"]
        assert (run["group"], run["project"], run["job_type"], run["tags"]) == ("wb", "rung-test", "trial", ["asha"])
        assert run["config"]["x"] == str(trial.config["x"])
        # every number reported, one history row per result, text left out
        stored = result.history(trial.id)
        assert [float(row["loss"]) for row in run["history"]] == [r["loss"] for r in stored]
        assert [int(row["training_iteration"]) for row in run["history"]] == list(range(1, len(stored) + 1))
        assert all("note" not in row for row in run["history"])
        assert run["summary"]["rung_status"] == f'"{trial.status.value}"'
        assert run["exit"] == (1 if trial.status is Status.ERROR else 0)
    assert {t.status for t in result.trials} == {Status.TERMINATED, Status.STOPPED, Status.ERROR}


def test_a_config_pbt_changes_updates_the_runs_config(storage: Path, tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> None:
        checkpoint = rung.get_checkpoint() or {"step": 0, "y": 0.0}
        y = checkpoint["y"]
        for step in range(checkpoint["step"] + 1, 7):
            y += config["x"]
            rung.report({"y": y}, checkpoint={"step": step, "y": y})

    pbt = rung.PBT(2, {"x": rung.uniform(0, 10)}, quantile_fraction=0.5, resample_probability=0.0, seed=0)
    result = rung.run(
        train,
        {"x": rung.grid([5.0, 1.0])},
        metric="y",
        mode="max",
        scheduler=pbt,
        executor="thread",
        max_concurrent=1,
        name="wb-pbt",
        storage=storage,
        verbose=0,
        callbacks=[WandbCallback(dir=tmp_path / "wandb-files", group="pbt-runs")],
    )
    runs = read_runs(tmp_path / "wandb-files")
    changed = [t for t in result.trials if len(result.schedule(t.id)) > 1]
    assert changed
    for trial in changed:
        run = runs[f"trial_{trial.id}"]
        assert run["group"] == "pbt-runs" and run["project"] == "rung"
        assert run["config"]["x"] == str(trial.config["x"])  # the last config the trial ran
        assert trial.config["x"] != result.schedule(trial.id)[0].config["x"]  # type: ignore[index]


def test_callback_arguments_are_checked_and_it_pickles_without_its_runs() -> None:
    with pytest.raises(
        ValueError, match=r"WandbCallback needs mode to be one of 'online', 'offline', 'disabled' or None;"
    ):
        WandbCallback(mode="cloud")
    with pytest.raises(TypeError, match=r"WandbCallback sets wandb.init's name= itself \(a run per trial\)"):
        WandbCallback(name="x")
    callback = WandbCallback(project="p", tags=["a"])
    callback._runs[1] = object()  # an open run is not stored with the experiment
    copy = pickle.loads(pickle.dumps(callback))
    assert copy._runs == {} and copy.project == "p" and copy.init_kwargs == {"tags": ["a"]}
