"""Bad input: each error names the argument, the rule and the value, and nothing stored is lost."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.thread import ThreadExecutor


def ok(config: dict[str, Any]) -> dict[str, float]:
    return {"loss": 1.0, "epoch": 1}


SPACE = {"x": rung.uniform(0, 1)}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"search": "bayes"},
            ValueError,
            "search must be one of 'auto', 'random', 'grid', 'tpe', 'gp' or a Searcher object; got 'bayes'",
        ),
        (
            {"scheduler": "ashaa"},
            ValueError,
            "scheduler must be None, one of 'fifo', 'median', 'sha', 'hyperband', 'asha', 'auto', 'moasha', 'pbt',"
            " 'pb2' or a Scheduler object; got 'ashaa'",
        ),
        ({"mode": "up"}, ValueError, "mode must be 'min' or 'max'; got 'up'"),
        ({"num_samples": 0}, ValueError, "num_samples must be an integer >= 1; got 0"),
        ({"max_failures": -1}, ValueError, "max_failures must be an integer >= 0; got -1"),
        ({"max_concurrent": 0}, ValueError, "max_concurrent must be an integer >= 1; got 0"),
        ({"resources": {"cpu": 4}}, rung.ResourceError, "each trial needs 4 CPUs; this machine has 2"),
        (
            {"executor": "dask"},
            ValueError,
            "executor must be one of 'process', 'thread', 'simulated', 'ray' or an Executor object; got 'dask'",
        ),
        ({"time_budget_s": 0}, ValueError, "time_budget_s must be a finite number > 0 or None; got 0"),
        (
            {"executor": ThreadExecutor(2), "resources": {"cpu": 2}},
            ValueError,
            "resources is for executors given by name; an executor object has its own (e.g."
            " RayExecutor(resources=...)); got executor=ThreadExecutor and resources={'cpu': 2}",
        ),
        (
            {"stop": 3},
            TypeError,
            "stop must be a dict {metric: threshold} or a callable(trial_id, result); got 3",
        ),
        ({"name": "../x"}, ValueError, "name must be letters, digits"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
        ({"storage": 5}, TypeError, "storage must be a folder path (a str or Path); got 5"),
        ({"callbacks": 5}, TypeError, "callbacks must be a list of rung.callbacks objects; got 5"),
    ],
)
def test_bad_arguments(
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
    storage: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("rung.parts.machine_cpus", lambda: 2)
    with pytest.raises(error, match="^" + re.escape(message)):
        rung.run(ok, SPACE, metric="loss", **{"storage": storage, "name": "bad", "verbose": 0, **kwargs})
    assert not (storage / "bad").exists()


def test_objective_not_callable(storage: Path) -> None:
    with pytest.raises(TypeError, match=r"^fn \(the objective\) must be callable; got 3 of type int$"):
        rung.run(3, SPACE, storage=storage)  # type: ignore[arg-type]


def test_sample_from_that_returns_a_domain_is_named_before_anything_is_stored(storage: Path) -> None:
    space = {"x": rung.uniform(0, 1), "a": rung.sample_from(lambda c: rung.uniform(0, c["x"] + 1))}
    message = "sample_from for key 'a' returned a domain (Float(low=0.0, high="
    with pytest.raises(rung.SampleFromError, match=f"^{re.escape(message)}"):
        rung.run(ok, space, metric="loss", storage=storage, name="sd", verbose=0)
    assert not (storage / "sd").exists()


def test_an_objective_that_cannot_reach_worker_processes_is_named(storage: Path) -> None:
    lock = threading.Lock()

    def holds_a_lock(config: dict[str, Any]) -> dict[str, float]:
        with lock:
            return {"loss": 1.0}

    message = (
        "the objective cannot be sent to worker processes (TypeError: cannot pickle '_thread.lock' object);"
        " create what it holds (locks, clients, open files) inside it, or pass executor='thread'"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        rung.run(holds_a_lock, SPACE, metric="loss", storage=storage, name="lock", verbose=0)
    assert not (storage / "lock").exists()
    result = rung.run(holds_a_lock, SPACE, metric="loss", storage=storage, name="lock", executor="thread", verbose=0)
    assert result.best is not None


def test_bad_space_errors_surface_from_run(storage: Path) -> None:
    with pytest.raises(rung.SpaceError, match="loguniform needs 0 < low < high; got low=0, high=1"):
        rung.run(ok, {"lr": rung.loguniform(0, 1)}, storage=storage)


def test_sample_from_that_raises_names_the_key_before_anything_is_stored(storage: Path) -> None:
    space = {"x": rung.uniform(0, 1), "model": {"wd": rung.sample_from(lambda c: 1 / 0)}}
    with pytest.raises(rung.SampleFromError, match="sample_from for key 'model.wd' raised ZeroDivisionError"):
        rung.run(ok, space, metric="loss", storage=storage, name="sf", verbose=0)
    assert not (storage / "sf").exists()


def test_report_outside_a_trial() -> None:
    with pytest.raises(rung.SessionError, match=r"^rung.report\(\) was called outside a trial"):
        rung.report({"loss": 1.0})
    with pytest.raises(rung.SessionError, match=r"^rung.get_checkpoint\(\) was called outside a trial"):
        rung.get_checkpoint()


def test_metric_never_reported(storage: Path) -> None:
    with pytest.raises(
        rung.MetricNotReportedError, match="^metric 'acc' was never reported; trial 1 reported: loss, epoch$"
    ):
        rung.run(
            ok,
            SPACE,
            metric="acc",
            num_samples=3,
            max_concurrent=1,
            executor="thread",
            storage=storage,
            name="m",
            verbose=0,
        )
    # What was run stays stored.
    assert len(rung.load("m", storage=storage).trials) == 1


def test_existing_name_without_resume_is_an_error_and_nothing_is_overwritten(storage: Path) -> None:
    first = rung.run(ok, SPACE, metric="loss", num_samples=2, executor="thread", storage=storage, name="dup", verbose=0)
    db = storage / "dup" / "rung.db"
    before = db.read_bytes()
    with pytest.raises(
        rung.ExperimentExistsError,
        match="experiment 'dup' already exists in .*; pass resume=True to continue it",
    ):
        rung.run(ok, SPACE, metric="loss", storage=storage, name="dup", verbose=0)
    assert db.read_bytes() == before
    assert [t.config for t in rung.load("dup", storage=storage).trials] == [t.config for t in first.trials]


def test_load_unknown_experiment(storage: Path) -> None:
    with pytest.raises(rung.ExperimentNotFoundError, match="no experiment 'nope' in"):
        rung.load("nope", storage=storage)


def test_dataframe_without_pandas(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    result = rung.run(ok, SPACE, metric="loss", executor="thread", storage=storage, name="df", verbose=0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas, which is not installed"):
        result.dataframe()


def test_storage_that_cannot_hold_an_experiment_is_named(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    message = f"storage={str(blocked)!r} cannot hold experiment 'e': Not a directory"
    with pytest.raises(OSError, match=f"^{re.escape(message)}$"):
        rung.run(ok, SPACE, metric="loss", storage=blocked, name="e", executor="thread", verbose=0)


def test_a_space_value_that_cannot_be_stored_is_named_before_anything_starts(storage: Path) -> None:
    space = {"x": rung.uniform(0, 1), "lock": rung.choice([threading.Lock(), None])}
    message = (
        "space holds a value that cannot be stored with the trials (TypeError: cannot pickle '_thread.lock'"
        " object); keep picklable values in the space and make such objects inside the objective"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        rung.run(ok, space, metric="loss", storage=storage, name="lock", verbose=0)
    assert not (storage / "lock").exists()


def test_max_concurrent_caps_an_executor_object(tmp_path: Path) -> None:
    from rung.store.sqlite import Store
    from rung.types import Status

    rung.run(lambda c: {"loss": c["x"]}, {"x": rung.grid([1, 2, 3, 4])}, metric="loss", executor=ThreadExecutor(4),
             max_concurrent=1, name="capped", storage=tmp_path, verbose=0)  # fmt: skip
    store = Store.read(tmp_path, "capped")
    running, most = set(), 0
    for kind, trial_id, data in store.history():
        if kind != "result":
            (running.add if data[0] is Status.RUNNING else running.discard)(trial_id)
            most = max(most, len(running))
    store.close()
    assert most == 1  # the object's capacity is 4: the run's max_concurrent=1 still holds


@pytest.mark.parametrize(
    ("key", "spelled"),
    [
        ("n_trials", "num_samples= (the experiment's total)"),
        ("num_trials", "num_samples= (the experiment's total)"),
        ("config", "the space, the second argument: rung.run(fn, space, ...)"),
        ("param_space", "the space, the second argument: rung.run(fn, space, ...)"),
        ("direction", 'mode= ("min" or "max")'),
        ("search_alg", "search="),
        ("max_concurrent_trials", "max_concurrent="),
        ("n_jobs", "max_concurrent="),
        ("resources_per_trial", "resources="),
        ("storage_path", "storage= (a folder)"),
        ("local_dir", "storage= (a folder)"),
        ("timeout", "time_budget_s="),
        ("study_name", "name="),
        ("load_if_exists", "resume="),
    ],
)
def test_ray_tune_and_optuna_spellings_are_answered_with_rungs(key: str, spelled: str, storage: Path) -> None:
    with pytest.raises(TypeError, match="^" + re.escape(f"run() has no argument {key}=; rung spells it {spelled}")):
        rung.run(ok, SPACE, metric="loss", storage=storage, name="sp", verbose=0, **{key: 1})
    assert not (storage / "sp").exists()


def test_optunas_direction_words_are_taken_as_modes(storage: Path) -> None:
    high = rung.run(ok, SPACE, metric="loss", mode="maximize", executor="thread", storage=storage, name="hi", verbose=0)
    low = rung.run(ok, SPACE, metric="loss", mode="minimize", executor="thread", storage=storage, name="lo", verbose=0)
    assert (high.mode, low.mode) == ("max", "min")
