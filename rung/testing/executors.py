"""The executor contract suite.

Use from a test: `for check in EXECUTOR_CHECKS: check(make_executor)`, where `make_executor(capacity)`
returns a fresh executor. Each check raises AssertionError with what went wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import cloudpickle

import rung
from rung.executors.base import Ended, Event, Executor, Reported
from rung.session import Job
from rung.types import Config, Decision

__all__ = ["EXECUTOR_CHECKS", "collect"]

MakeExecutor = Callable[[int], Executor]


def objective(config: Config) -> Any:
    """The test objective: behaviour chosen by `config["do"]`."""
    do = config.get("do", "count")
    if do == "raise":
        raise ValueError(f"boom {config.get('x')}")
    if do == "exit":
        os._exit(3)
    if do == "return":
        return {"score": config["x"] * 2}
    if do == "env":
        rung.report({"trial": rung.get_trial_id(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")})
        return None
    if do == "forever":
        # Reports until stopped from outside (executor.stop).
        i = 0
        while True:
            rung.report({"x": i})
            i += 1
            time.sleep(0.005)
    start = rung.get_checkpoint() or 0
    for i in range(start, config.get("n", 3)):
        rung.report({"score": config.get("x", 0) + i, "step": i}, checkpoint=i + 1)
    return None


def collect(
    executor: Executor,
    answer: Callable[[Reported], Decision] = lambda e: Decision.CONTINUE,
    until: int = 1,
    timeout: float = 60.0,
) -> list[Event]:
    """Poll until `until` trials have ended, answering every report with `answer(event)`."""
    events: list[Event] = []
    ended = 0
    deadline = time.monotonic() + timeout
    while ended < until:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s; events so far: {events}")
        for event in executor.poll(1.0):
            events.append(event)
            if isinstance(event, Reported):
                executor.reply(event.trial_id, answer(event))
            else:
                ended += 1
    return events


def _reports(events: list[Event], trial_id: int) -> list[dict[str, Any]]:
    return [e.result for e in events if isinstance(e, Reported) and e.trial_id == trial_id]


def _ended(events: list[Event], trial_id: int) -> Ended:
    found = [e for e in events if isinstance(e, Ended) and e.trial_id == trial_id]
    assert len(found) == 1, f"trial {trial_id} should end once; events: {events}"
    return found[0]


def check_runs_to_completion(make: MakeExecutor) -> None:
    ex = make(2)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"x": 10, "n": 3}))
        ex.submit(Job(2, {"x": 20, "n": 2}))
        events = collect(ex, until=2)
    finally:
        ex.shutdown()
    one = _reports(events, 1)
    assert [r["score"] for r in one] == [10, 11, 12], one
    assert [r["training_iteration"] for r in one] == [1, 2, 3]
    assert all(r["time_this_iter_s"] >= 0 and r["time_total_s"] >= 0 and r["timestamp"] > 0 for r in one)
    assert [r["score"] for r in _reports(events, 2)] == [20, 21]
    assert _ended(events, 1).kind == "completed" and _ended(events, 2).kind == "completed"


def check_checkpoints_travel_and_resume(make: MakeExecutor) -> None:
    ex = make(1)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"x": 0, "n": 4}))
        events = collect(ex, until=1)
        checkpoints = [cloudpickle.loads(e.checkpoint) for e in events if isinstance(e, Reported) and e.checkpoint]
        assert checkpoints == [1, 2, 3, 4], checkpoints
        # Resume from checkpoint 2 (after iteration 2): iterations 3 and 4 follow.
        ex.submit(Job(1, {"x": 0, "n": 4}, cloudpickle.dumps(2), iteration=2, time_total=5.0))
        events = collect(ex, until=1)
    finally:
        ex.shutdown()
    again = _reports(events, 1)
    assert [(r["training_iteration"], r["step"]) for r in again] == [(3, 2), (4, 3)], again
    assert again[0]["time_total_s"] >= 5.0


def check_decisions_interrupt(make: MakeExecutor) -> None:
    ex = make(2)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"x": 0, "n": 10}))
        ex.submit(Job(2, {"x": 0, "n": 10}))

        def answer(event: Reported) -> Decision:
            if event.result["training_iteration"] < 2:
                return Decision.CONTINUE
            return Decision.STOP if event.trial_id == 1 else Decision.PAUSE

        events = collect(ex, answer, until=2)
    finally:
        ex.shutdown()
    assert len(_reports(events, 1)) == 2 and len(_reports(events, 2)) == 2
    assert _ended(events, 1).kind == "interrupted" and _ended(events, 2).kind == "interrupted"


def check_errors_and_returns(make: MakeExecutor) -> None:
    ex = make(2)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"do": "raise", "x": 7}))
        ex.submit(Job(2, {"do": "return", "x": 4}))
        events = collect(ex, until=2)
        # The slot of a failed trial is reused.
        ex.submit(Job(3, {"x": 1, "n": 1}))
        events += collect(ex, until=1)
    finally:
        ex.shutdown()
    failed = _ended(events, 1)
    assert failed.kind == "error" and failed.error is not None
    assert "ValueError: boom 7" in failed.error and "Traceback" in failed.error, failed.error
    assert [r["score"] for r in _reports(events, 2)] == [8]
    assert _ended(events, 2).kind == "completed" and _ended(events, 3).kind == "completed"


def check_stop_running_trial(make: MakeExecutor) -> None:
    ex = make(1)
    ex.start(objective)
    try:
        ex.submit(Job(1, {"do": "forever"}))
        first = ex.poll(30.0)
        assert len(first) == 1 and isinstance(first[0], Reported), first
        ex.stop(1)
        ex.reply(1, Decision.CONTINUE)
        events = collect(ex, until=1)
        ex.submit(Job(2, {"x": 0, "n": 1}))
        events += collect(ex, until=1)
    finally:
        ex.shutdown()
    assert _ended(events, 1).kind == "interrupted"
    assert _ended(events, 2).kind == "completed"


EXECUTOR_CHECKS: list[Callable[[MakeExecutor], None]] = [
    check_runs_to_completion,
    check_checkpoints_travel_and_resume,
    check_decisions_interrupt,
    check_errors_and_returns,
    check_stop_running_trial,
]
