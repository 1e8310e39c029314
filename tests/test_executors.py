from __future__ import annotations

from collections.abc import Callable

import pytest

from rung.executors.base import Ended, Executor
from rung.executors.process import ProcessExecutor
from rung.executors.thread import ThreadExecutor
from rung.session import Job
from rung.testing.executors import EXECUTOR_CHECKS, collect, objective

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
