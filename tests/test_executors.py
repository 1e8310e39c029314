from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rung
from rung import cli
from rung.executors.base import Ended, Executor, Reported
from rung.executors.process import ProcessExecutor
from rung.executors.thread import ThreadExecutor
from rung.session import Job
from rung.testing.executors import EXECUTOR_CHECKS, collect, objective
from rung.types import Decision, Status

MAKERS: dict[str, Callable[[int], Executor]] = {
    "thread": ThreadExecutor,
    "process": ProcessExecutor,
}


@pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_executor_contract(kind: str, check: Callable[[Callable[[int], Executor]], None]) -> None:
    check(MAKERS[kind])


def test_process_worker_killed_by_exit_is_a_failure_and_slot_recovers() -> None:
    ex = ProcessExecutor(1)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"do": "exit"}))
        events = collect(ex, until=1)
        ex.submit(Job(2, {"x": 1, "n": 1}))
        events += collect(ex, until=1)
    finally:
        ex.shutdown()
    ended = [e for e in events if isinstance(e, Ended)]
    assert ended[0].kind == "error"
    assert ended[0].error == "the worker process running trial 1 died: exited with code 3"
    assert ended[1].kind == "completed"


def test_process_output_goes_to_trial_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def noisy(config):  # type: ignore[no-untyped-def]
        import os
        import sys

        print("hello from", config["x"])
        sys.stderr.write("to stderr\n")
        os.write(1, b"raw fd write\n")
        return {"ok": 1}

    ex = ProcessExecutor(1)
    ex.start(noisy)
    log = tmp_path / "trials" / "1" / "log.txt"
    try:
        ex.submit(Job(1, {"x": 42}, log_path=str(log)))
        collect(ex, until=1)
    finally:
        ex.shutdown()
    text = log.read_text()
    assert "hello from 42" in text and "to stderr" in text and "raw fd write" in text


def test_process_gpu_slots_set_cuda_visible_devices() -> None:
    ex = ProcessExecutor(2, gpus=[["0"], ["1"]])
    ex.start(objective)
    try:
        ex.submit(Job(1, {"do": "env"}))
        ex.submit(Job(2, {"do": "env"}))
        events = collect(ex, until=2)
    finally:
        ex.shutdown()
    seen = sorted(e.result["cuda"] for e in events if hasattr(e, "result"))
    assert seen == ["0", "1"]


def test_process_trial_whose_log_cannot_be_written_fails_with_the_cause(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ex = ProcessExecutor(1)
    ex.start(objective)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    try:
        ex.submit(Job(1, {"x": 1, "n": 1}, log_path=str(blocked / "trials" / "1" / "log.txt")))
        events = collect(ex, until=1)
        ex.submit(Job(2, {"x": 1, "n": 1}))  # the worker lives on
        events += collect(ex, until=1)
    finally:
        ex.shutdown()
    ended = [e for e in events if isinstance(e, Ended)]
    assert ended[0].kind == "error" and ended[0].error is not None
    assert ended[0].error.strip().splitlines()[-1].startswith("NotADirectoryError")
    assert ended[1].kind == "completed"


def exits(config: dict[str, Any]) -> None:
    """Parses arguments it was not given: argparse prints its usage and raises SystemExit(2)."""
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--lr", type=float, required=True)
    parser.parse_args([])


def interrupts(config: dict[str, Any]) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize(
    ("fn", "last_line"),
    [
        (exits, "rung: trial 1 called sys.exit(2) (argparse does on bad arguments): the trial failed;"),
        (interrupts, "rung: KeyboardInterrupt was raised inside trial 1: the trial failed;"),
    ],
    ids=["SystemExit", "KeyboardInterrupt"],
)
def test_a_trial_that_exits_or_is_interrupted_fails_and_the_slot_goes_on(
    kind: str, fn: Callable[[dict[str, Any]], None], last_line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    executor = MAKERS[kind](1)
    executor.start(fn)
    try:
        executor.submit(Job(1, {}))
        events = collect(executor, until=1, timeout=20.0)
        executor.start(objective)
        executor.submit(Job(2, {"x": 1, "n": 1}))
        events += collect(executor, until=1, timeout=20.0)
    finally:
        executor.shutdown()
    ended = [e for e in events if isinstance(e, Ended)]
    assert [e.kind for e in ended] == ["error", "completed"]
    assert ended[0].error is not None
    assert ended[0].error.splitlines()[-1].startswith(last_line), ended[0].error


def test_stop_abandons_a_thread_trial_that_does_not_report_and_refuses_its_later_reports() -> None:
    release = threading.Event()
    refused: list[str] = []

    def hangs(config: dict[str, Any]) -> None:
        rung.report({"i": 0})
        release.wait()  # work that never reports (a deadlock, a long step)
        try:
            rung.report({"i": 1})
        except rung.TrialInterrupt as exc:
            refused.append(str(exc))
            raise

    executor = ThreadExecutor(1, abandon_after_s=0.2)
    executor.start(hangs)
    try:
        executor.submit(Job(1, {}))
        events = executor.poll(20.0)
        assert [type(e) for e in events] == [Reported]
        executor.reply(1, Decision.CONTINUE)
        executor.stop(1)
        ended = executor.poll(20.0)
        assert [(e.trial_id, e.kind) for e in ended if isinstance(e, Ended)] == [(1, "abandoned")]
        assert isinstance(ended[0], Ended) and ended[0].error is not None
        assert ended[0].error.startswith("abandoned: trial 1 did not end within 0.2 s of being stopped"), ended
        release.set()
        for thread in threading.enumerate():
            if thread.name == "rung-trial-1":
                thread.join(20.0)
        assert refused == ["STOP"]
        assert executor.poll(0.05) == []  # its end, after it was abandoned, is not reported
    finally:
        release.set()
        executor.shutdown()


def test_the_time_budget_ends_a_run_whose_thread_trial_hangs(
    storage: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    def hangs(config: dict[str, Any]) -> None:
        rung.report({"loss": 1.0})
        release.wait()
        rung.report({"loss": 0.5})  # refused: the trial was abandoned

    def tune() -> None:
        rung.run(
            hangs, {}, metric="loss", executor="thread", time_budget_s=0.5, name="hang", storage=storage, verbose=0
        )

    driver = threading.Thread(target=tune, daemon=True)
    driver.start()
    driver.join(60.0)
    returned = not driver.is_alive()
    release.set()
    driver.join()
    assert returned, "rung.run did not return after its time budget"
    (trial,) = rung.load("hang", storage=storage).trials
    assert trial.status is Status.ERROR and trial.iteration == 1
    assert trial.error is not None and trial.error.startswith("abandoned: trial 1 did not end within"), trial.error
    assert "keeps running as a daemon thread" in trial.error
    # A resume keeps it as it ended: it does not run again.
    again = rung.run(hangs, {}, metric="loss", executor="thread", name="hang", storage=storage, resume=True, verbose=0)
    assert [(t.status, t.iteration, t.error) for t in again.trials] == [(Status.ERROR, 1, trial.error)]
    assert "trial 1: abandoned: trial 1 did not end within 1 s" in caplog.text
    capsys.readouterr()
    assert cli.main(["show", "hang", "--storage", str(storage)]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # as wide as the terminal: lines may wrap
    assert "ERROR" in shown and "trial 1 failed" in shown and "abandoned: trial 1 did not end within 1 s" in shown


@pytest.mark.parametrize("value", [-1, float("nan"), "1", True, None])
def test_thread_executor_refuses_a_bad_abandon_after_s(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        ThreadExecutor(1, abandon_after_s=value)  # type: ignore[arg-type]
    assert str(raised.value) == f"abandon_after_s must be a number of seconds >= 0; got {value!r}"


def test_process_config_values_that_plain_pickle_cannot_send_still_reach_the_trial() -> None:
    """Plain values go by plain pickle; a function or an object of a class defined here by cloudpickle."""

    class Scale:
        def __init__(self, by: int) -> None:
            self.by = by

    def uses(config: dict[str, Any]) -> dict[str, Any]:
        return {"score": config["f"](config["n"]) * config["scale"].by, "plain": config["plain"]}

    ex = ProcessExecutor(1)
    ex.start(uses)
    try:
        ex.submit(Job(1, {"f": lambda n: n * 3, "n": 2, "scale": Scale(5), "plain": [1, "a", {"b": 2.5}]}))
        events = collect(ex, until=1)
    finally:
        ex.shutdown()
    reported = [e for e in events if isinstance(e, Reported)]
    assert [(e.result["score"], e.result["plain"]) for e in reported] == [(30, [1, "a", {"b": 2.5}])]
