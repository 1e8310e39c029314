"""Trials in threads of the driver process: for tests and debugging (`breakpoint()` works).

No per-trial log capture and no GPU pinning: threads share the process's stdout and environment.
Processes a trial starts are not ended with it (they are the driver's own children; use the process
executor for trials that start processes).

Threads cannot be killed. A stopped trial (the scheduler's STOP or PAUSE, the time budget) ends at
its next `report()`, which raises `TrialInterrupt`. One that neither reports nor returns within
`abandon_after_s` of being stopped is *abandoned*: its end is reported at once (kind "abandoned",
with an error text saying so, which the store keeps), so the run goes on and returns; its thread
keeps running as a daemon thread until it returns, reports (refused: `report()` raises
`TrialInterrupt`) or the process exits. Nothing it reports after that is stored.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from rung.executors.base import Ended, Event, Executor, Reported
from rung.session import Job, Outcome, failure, run_trial
from rung.types import Config, Decision

__all__ = ["ThreadExecutor"]


class _Slot:
    """One trial's thread: its mailbox for the driver's answers, and the `Channel` it reports through.

    Each trial thread holds its own slot, so a thread abandoned by one run can never report as a
    trial of the same id in a later run of the same executor.
    """

    def __init__(self, trial_id: int, events: queue.SimpleQueue[Event]) -> None:
        self.trial_id = trial_id
        self.events = events
        self.answer: queue.SimpleQueue[Decision] = queue.SimpleQueue()
        self.stopped_at: float | None = None  # time.monotonic() of stop()
        self.abandoned = False
        self.ended = False

    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision:
        if self.stopped_at is not None or self.abandoned:
            return Decision.STOP
        self.events.put(Reported(trial_id, result, checkpoint))
        return self.answer.get()


class ThreadExecutor(Executor):
    """Runs each trial in its own thread of this process.

    Args:
        capacity: trials at once.
        abandon_after_s: a stopped trial that has not reported or returned this many seconds later
            is abandoned (see the module's docstring): the run does not wait for it.

    Example:
        >>> rung.run(train, space, metric="loss", executor="thread")  # doctest: +SKIP
        >>> executor = rung.ThreadExecutor(4, abandon_after_s=5.0)  # doctest: +SKIP
        >>> rung.run(train, space, metric="loss", executor=executor)  # doctest: +SKIP
    """

    def __init__(self, capacity: int, abandon_after_s: float = 1.0) -> None:
        if (
            isinstance(abandon_after_s, bool)
            or not isinstance(abandon_after_s, int | float)
            or not abandon_after_s >= 0
        ):
            raise ValueError(f"abandon_after_s must be a number of seconds >= 0; got {abandon_after_s!r}")
        self.capacity = capacity
        self.abandon_after_s = float(abandon_after_s)
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()  # between a thread's end and its abandonment
        self._fn: Callable[[Config], Any] | None = None

    def start(self, fn: Callable[[Config], Any]) -> None:
        self._fn = fn

    def _run(self, fn: Callable[[Config], Any], job: Job, slot: _Slot) -> None:
        try:
            outcome = run_trial(fn, job, slot)
        except BaseException as exc:  # rung's own code failed: the trial's end is reported all the same
            outcome = Outcome("error", failure(exc, job.trial_id))
        with self._lock:
            slot.ended = True
            if slot.abandoned:
                return
            self._slots.pop(job.trial_id, None)
        self._events.put(Ended(job.trial_id, outcome.kind, outcome.error))

    def submit(self, job: Job) -> None:
        assert self._fn is not None
        slot = _Slot(job.trial_id, self._events)
        with self._lock:
            self._slots[job.trial_id] = slot
        thread = threading.Thread(
            target=self._run, args=(self._fn, job, slot), name=f"rung-trial-{job.trial_id}", daemon=True
        )
        thread.start()

    def poll(self, timeout: float | None) -> list[Event]:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = self._next_abandon()
            if until is not None:
                left = max(0.0, until - time.monotonic())
                wait = left if wait is None else min(wait, left)
            events: list[Event] = []
            try:
                events.append(self._events.get(timeout=wait))
                while True:
                    events.append(self._events.get_nowait())
            except queue.Empty:
                pass
            events += self._abandon_overdue()
            if events or (until is not None and time.monotonic() >= until):
                return events

    def _next_abandon(self) -> float | None:
        """Seconds until the next stopped trial is overdue; None if none is stopped."""
        with self._lock:
            stopped = [s.stopped_at for s in self._slots.values() if s.stopped_at is not None]
        if not stopped:
            return None
        return max(0.0, min(stopped) + self.abandon_after_s - time.monotonic())

    def _abandon_overdue(self) -> list[Event]:
        now = time.monotonic()
        events: list[Event] = []
        with self._lock:
            for trial_id, slot in list(self._slots.items()):
                if slot.stopped_at is None or now < slot.stopped_at + self.abandon_after_s or slot.ended:
                    continue
                slot.abandoned = True
                slot.answer.put(Decision.STOP)  # if it waits for an answer the driver will not send
                del self._slots[trial_id]
                events.append(Ended(trial_id, "abandoned", _abandoned(trial_id, self.abandon_after_s)))
        return events

    def reply(self, trial_id: int, decision: Decision) -> None:
        slot = self._slots.get(trial_id)
        if slot is not None:
            slot.answer.put(decision)

    def stop(self, trial_id: int) -> None:
        with self._lock:
            slot = self._slots.get(trial_id)
            if slot is not None and slot.stopped_at is None:
                slot.stopped_at = time.monotonic()

    def shutdown(self) -> None:
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
            for slot in slots:
                slot.abandoned = True
                slot.answer.put(Decision.STOP)


def _abandoned(trial_id: int, after_s: float) -> str:
    return (
        f"abandoned: trial {trial_id} did not end within {after_s:g} s of being stopped (threads cannot be"
        " killed); its thread keeps running as a daemon thread until it returns, reports (refused: report()"
        " raises TrialInterrupt) or the process exits, and nothing it reports now is stored"
    )
