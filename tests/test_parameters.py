"""`rung.with_parameters`: large objects reach every trial but stay out of rung.db."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.cli import main


def train(config: dict[str, Any], data: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    # The array is the worker's own copy: a count kept in it shows how many trials that copy served.
    data[0] += 1
    return {"loss": config["x"] * scale + float(data[1:].sum()), "served": float(data[0]), "pid": float(os.getpid())}


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_objects_reach_each_worker_once_and_are_not_stored(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = np.zeros(11 * 2**20 // 8)  # 11 MiB: stored, it would warn (warnings are errors here)
    space = {"x": rung.grid([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}
    objective = rung.with_parameters(train, data=data, scale=2.0)
    kwargs: dict[str, Any] = {"metric": "loss", "search": "grid", "max_concurrent": 2, "storage": storage}
    result = rung.run(objective, space, name="wp", verbose=0, **kwargs)
    assert sorted(t.metrics["loss"] for t in result.trials) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    # Sent once to each worker process, not with each trial: each worker's copy counts all its trials.
    served: dict[float, list[float]] = {}
    for trial in sorted(result.trials, key=lambda t: t.metrics["served"]):
        served.setdefault(trial.metrics["pid"], []).append(trial.metrics["served"])
    assert sum(len(counts) for counts in served.values()) == 6
    assert all(counts == [float(i) for i in range(1, len(counts) + 1)] for counts in served.values()), served
    assert data[0] == 0  # the driver's array went to the workers as a copy
    assert _folder_bytes(storage / "wp") < 2**20  # the 11 MiB stayed out of the store
    assert result.name.startswith("wp") and rung.load("wp", storage=storage).settings["with_parameters"] == [
        "data",
        "scale",
    ]

    # `rung resume` cannot pass the objects: it says so, and what to call instead.
    assert main(["resume", "wp", "--storage", str(storage)]) == 2
    assert capsys.readouterr().err == (
        "experiment 'wp' cannot be resumed from the command line: its objective was given rung.with_parameters"
        " objects (data=..., scale=...), which are not stored; pass them again from Python:"
        " rung.run(rung.with_parameters(fn, data=..., scale=...), ..., name='wp', resume=True)\n"
    )
    # From Python, with the objects passed again, it resumes.
    space["x"] = rung.grid([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    again = rung.run(objective, space, name="wp", resume=True, num_samples=2, verbose=0, **kwargs)
    assert len(again.trials) == 12


def test_the_default_name_is_the_objectives() -> None:
    objective = rung.with_parameters(train, data=np.zeros(3), scale=1.0)
    assert objective.__name__ == "train"
    assert repr(objective) == "rung.with_parameters(train, data=..., scale=...)"
    assert objective({"x": 1.0})["loss"] == 1.0


def test_nested_calls_merge_their_objects() -> None:
    inner = rung.with_parameters(train, data=np.zeros(3))
    both = rung.with_parameters(inner, scale=3.0)
    assert both.fn is train and both.names == ("data", "scale") and both({"x": 1.0})["loss"] == 3.0


def test_the_stored_copy_has_no_objects_and_says_how_to_resume() -> None:
    stored = rung.with_parameters(train, data=np.zeros(3), scale=1.0).stored()
    assert stored.parameters is None
    with pytest.raises(RuntimeError) as error:
        stored({"x": 1.0})
    assert str(error.value) == (
        "rung.with_parameters(train, data=..., scale=...) was stored without its objects, which"
        " rung.with_parameters keeps out of the store; resume from Python:"
        " rung.run(rung.with_parameters(train, data=..., scale=...), ..., resume=True)"
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((42,), {"data": 1}, "with_parameters needs a callable objective first; got 42 of type int"),
        ((train,), {}, "with_parameters needs at least one object to pass, as name=object; got none"),
        (
            (train,),
            {"data": 1, "scal": 2.0},
            "with_parameters: train(config, data=..., scal=...) cannot be called: got an unexpected keyword"
            " argument 'scal'; the objective takes the config first, then an argument of each name given",
        ),
        (
            (lambda config: 1.0,),
            {"data": 1},
            "with_parameters: <lambda>(config, data=...) cannot be called: got an unexpected keyword argument"
            " 'data'; the objective takes the config first, then an argument of each name given",
        ),
    ],
)
def test_bad_arguments_are_named(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError) as error:
        rung.with_parameters(*args, **kwargs)
    assert str(error.value) == message
