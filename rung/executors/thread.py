"""Trials in threads of the driver process: for tests and debugging (`breakpoint()` works).

No per-trial log capture and no GPU pinning: threads share the process's stdout and environment.
A stopped trial ends at its next `report()`; threads cannot be killed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from rung.executors.base import Ended, Event, Executor, Reported
from rung.session import Job, run_trial
from rung.types import Config, Decision

__all__ = ["ThreadExecutor"]


class _Slot:
    """One trial's mailbox for the driver's answers."""

    def __init__(self) -> None:
        self.answer: queue.SimpleQueue[Decision] = queue.SimpleQueue()
        self.stopped = False


class ThreadExecutor(Executor):
    """Runs each trial in its own thread of this process.

    Example:
        >>> rung.run(train, space, metric="loss", executor="thread")  # doctest: +SKIP
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()
        self._fn: Callable[[Config], Any] | None = None

    def start(self, fn: Callable[[Config], Any]) -> None:
        self._fn = fn

    # Channel, called from trial threads.
    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision:
        slot = self._slots[trial_id]
        if slot.stopped:
            return Decision.STOP
        self._events.put(Reported(trial_id, result, checkpoint))
        return slot.answer.get()

    def _run(self, job: Job) -> None:
        assert self._fn is not None
        outcome = run_trial(self._fn, job, self)
        with self._lock:
            self._slots.pop(job.trial_id, None)
        self._events.put(Ended(job.trial_id, outcome.kind, outcome.error))

    def submit(self, job: Job) -> None:
        with self._lock:
            self._slots[job.trial_id] = _Slot()
        thread = threading.Thread(target=self._run, args=(job,), name=f"rung-trial-{job.trial_id}", daemon=True)
        thread.start()

    def poll(self, timeout: float | None) -> list[Event]:
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def reply(self, trial_id: int, decision: Decision) -> None:
        slot = self._slots.get(trial_id)
        if slot is not None:
            slot.answer.put(decision)

    def stop(self, trial_id: int) -> None:
        with self._lock:
            slot = self._slots.get(trial_id)
        if slot is not None:
            slot.stopped = True

    def shutdown(self) -> None:
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            slot.stopped = True
            slot.answer.put(Decision.STOP)
