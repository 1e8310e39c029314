"""`rung.run`'s defaults and what it says: default names, Ctrl-C, a large stored objective."""

from __future__ import annotations

import _thread
import datetime
import logging
import re
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung import opening


def quick(config: dict[str, Any]) -> float:
    return float(config["x"])


def test_default_names_are_unique_within_a_second_and_sort_by_time(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two runs in the same second got the same name: the second raised ExperimentExistsError.
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls(2024, 5, 6, 7, 8, 9)

    monkeypatch.setattr(opening, "datetime", types.SimpleNamespace(datetime=Frozen))
    names = [
        rung.run(quick, {"x": 0.5}, metric="loss", executor="thread", storage=storage, verbose=0).name for _ in range(3)
    ]
    assert len(set(names)) == 3 and all(re.fullmatch(r"quick-20240506-070809-[0-9a-f]{4}", n) for n in names)
    # A suffix whose folder exists is drawn again.
    drawn = iter(["beef", "beef", "cafe", "d00d"])
    monkeypatch.setattr(opening, "secrets", types.SimpleNamespace(token_hex=lambda n: next(drawn)))
    first = rung.run(quick, {"x": 0.5}, metric="loss", executor="thread", storage=storage, verbose=0)
    second = rung.run(quick, {"x": 0.5}, metric="loss", executor="thread", storage=storage, verbose=0)
    assert (first.name, second.name) == ("quick-20240506-070809-beef", "quick-20240506-070809-cafe")
    lam = rung.run(lambda c: 1.0, {}, metric="loss", executor="thread", storage=storage, verbose=0)
    assert lam.name.startswith("lambda-20240506-070809-")


def interrupting(config: dict[str, Any]) -> None:
    rung.report({"loss": 1.0})
    _thread.interrupt_main()  # Ctrl-C: the driver's main thread gets KeyboardInterrupt at its next step
    rung.report({"loss": 0.5})


def test_ctrl_c_says_how_to_resume_then_raises(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyboardInterrupt):
        rung.run(interrupting, {}, metric="loss", executor="thread", name="cc", storage=storage, verbose=1)
    err = capsys.readouterr().err
    said = f"interrupted: the experiment is stored and can be resumed with: rung resume cc --storage {storage}"
    assert said in err.splitlines() and err.count("interrupted") == 1
    assert rung.load("cc", storage=storage).status == "INTERRUPTED"


def test_ctrl_c_with_verbose_0_says_it_as_a_warning(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    storage = storage / "a folder"  # quoted for the shell
    with caplog.at_level(logging.WARNING, logger="rung"), pytest.raises(KeyboardInterrupt):
        rung.run(interrupting, {}, metric="loss", executor="thread", name="cc", storage=storage, verbose=0)
    assert [r.getMessage() for r in caplog.records] == [
        f"interrupted: the experiment is stored and can be resumed with: rung resume cc --storage '{storage}'"
    ]


def test_ctrl_c_of_an_objective_the_cli_cannot_resume_names_the_python_call(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def takes_data(config: dict[str, Any], data: list[int]) -> None:
        interrupting(config)

    with pytest.raises(KeyboardInterrupt):
        rung.run(
            rung.with_parameters(takes_data, data=[1, 2]), {}, metric="loss", executor="thread", name="wp",
            storage=storage, verbose=1,
        )  # fmt: skip
    assert (
        "interrupted: the experiment is stored and can be resumed with: rung.run(..., name='wp',"
        f" storage='{storage}', resume=True) (not `rung resume`: its rung.with_parameters objects are not stored)"
    ) in capsys.readouterr().err.splitlines()


def test_a_large_closure_warns_naming_its_size_and_with_parameters(storage: Path) -> None:
    big = np.ones(11 * 2**20 // 8)  # 11 MiB

    def closure(config: dict[str, Any]) -> float:
        return float(big[0]) + config["x"]

    with pytest.warns(rung.LargeObjectiveWarning) as warned:
        rung.run(closure, {"x": 0.5}, metric="loss", executor="thread", name="big", storage=storage, verbose=0)
    [warning] = warned
    assert warning.filename == __file__  # the caller's line, not rung's
    assert re.fullmatch(
        r"rung\.db stores the objective, space, searcher and scheduler for `rung resume`: 11\.\d MiB here, 11\.\d MiB"
        r" of it the objective \(with what its closure and globals hold\)\. Pass large objects \(data sets, arrays,"
        r" models\) with rung\.with_parameters\(fn, name=obj\): they go to the workers but not into the store",
        str(warning.message),
    )
    # Below the size, nothing is said (warnings are errors in these tests).
    small = np.ones(1000)
    rung.run(lambda c: float(small[0]), {}, metric="loss", executor="thread", name="s", storage=storage, verbose=0)


def _recorded(calls: list[str]) -> tuple[Any, Any]:
    """A thread executor and a random search that note when the run prepares, starts and shuts
    down the executor and sets up the searcher."""
    from rung.executors.thread import ThreadExecutor
    from rung.search.random import Random

    class Executor(ThreadExecutor):
        def prepare(self) -> None:
            calls.append("prepare")

        def start(self, fn: Any) -> None:
            calls.append("start")
            super().start(fn)

        def shutdown(self) -> None:
            calls.append("shutdown")
            super().shutdown()

    class Search(Random):
        def setup(self, *args: Any, **kwargs: Any) -> None:
            calls.append("setup")
            super().setup(*args, **kwargs)

    return Executor(1), Search()


def test_the_executor_is_prepared_before_the_searcher_is_built(storage: Path) -> None:
    # The process executor's zygote imports rung and numpy while the searcher and scheduler are built.
    calls: list[str] = []
    executor, search = _recorded(calls)
    rung.run(quick, {"x": 0.5}, metric="loss", search=search, executor=executor, storage=storage, verbose=0)
    assert calls[:3] == ["prepare", "setup", "start"] and calls[-1] == "shutdown"  # (the tuner starts it again: no-op)


def test_a_run_that_cannot_start_shuts_its_prepared_executor_down(storage: Path) -> None:
    calls: list[str] = []
    executor, search = _recorded(calls)
    with pytest.raises(TypeError, match="known"):  # checked once the searcher is built
        rung.run(quick, {"x": 0.5}, metric="loss", search=search, executor=executor, storage=storage, verbose=0,
                 known=["not a dict"])  # fmt: skip
    assert calls == ["prepare", "setup", "shutdown"]
