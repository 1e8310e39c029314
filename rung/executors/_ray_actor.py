"""The actor side of the Ray executor: the body of each slot's actor, run in a Ray worker process.

The trial runs in a thread of the actor; `report()` hands its result to the actor method the driver
waits on, then blocks until the driver's answer comes with the next call. One call per report:
`begin(job)` returns the trial's first event, `answer(decision)` delivers the decision and returns
the next event. The trial's output is captured here and travels with its events, so the driver
writes the trial's log, whichever node (and whether over Ray Client or not) the trial ran on.

Processes a trial starts end with it (Linux): the actor is a subreaper and kills what the trial
started (daemons too) before it reports the trial's end. When the actor itself dies (the driver
stops a computing trial with `ray.kill`, the driver dies and Ray ends its actors, a crash), a
guardian process kills them (`_procs.guard`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import cloudpickle

from rung.executors import _procs
from rung.session import Job, Outcome, failure, run_trial
from rung.types import Config, Decision

__all__ = ["TrialHost"]


class _OutputTap:
    """Points this process's stdout and stderr (fds 1 and 2) at a file while a trial runs.

    `take()` returns what was written since the last call; it travels to the driver with each event,
    so the trial's log is written on the driver's machine, whichever node the trial ran on.
    """

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="rung-trial-output-")
        os.close(fd)
        self._write = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._read = os.open(path, os.O_RDONLY)
        os.unlink(path)  # the descriptors keep it; nothing is left behind when the actor ends
        self._saved: list[int] = []

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._write, 1)
        os.dup2(self._write, 2)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in zip((1, 2), self._saved, strict=True):
            os.dup2(fd, target)
            os.close(fd)

    def take(self, last: bool) -> bytes:
        """The output since the last call; `last` empties the file for the next trial."""
        sys.stdout.flush()
        sys.stderr.flush()
        chunks = []
        while chunk := os.read(self._read, 1 << 20):
            chunks.append(chunk)
        if last:
            os.ftruncate(self._write, 0)
            os.lseek(self._read, 0, os.SEEK_SET)
        return b"".join(chunks)


class TrialHost:
    """The body of each slot's actor: one trial at a time, in a thread; its events go to the driver.

    An event is ("result", result, checkpoint bytes, output) or ("ended", kind, error, output).
    """

    def __init__(self, sys_path: list[str]) -> None:
        # The driver's import path, so functions pickled by reference (module.name) import here too.
        for entry in reversed(sys_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        self._pickled: dict[str, bytes] = {}
        self._functions: dict[str, Callable[[Config], Any]] = {}
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._tap = _OutputTap()
        _procs.guard()

    def where(self) -> tuple[str, int, str | None]:
        """This actor's node id, process id and node type: the node's `ray.io/node-group` label, which
        Ray sets from the autoscaler's node type name (RAY_NODE_TYPE_NAME; None where it is not set)."""
        import ray

        context = ray.get_runtime_context()
        group = (context.get_node_labels() or {}).get("ray.io/node-group")
        return context.get_node_id(), os.getpid(), None if group is None else str(group)

    def load(self, fn_key: str, fn_bytes: bytes) -> None:
        """Keep the objective; unpickling imports its modules now, before the first trial."""
        self._pickled[fn_key] = fn_bytes
        with contextlib.suppress(BaseException):  # a failure shows at the first trial (loaded again there)
            self._functions[fn_key] = cloudpickle.loads(fn_bytes)

    def begin(self, job: Job, fn_key: str, fn_bytes: bytes | None) -> tuple[Any, ...]:
        """Start a trial; returns its first event."""
        if fn_bytes is not None:
            self.load(fn_key, fn_bytes)
        threading.Thread(target=self._run, args=(job, fn_key), name=f"rung-trial-{job.trial_id}", daemon=True).start()
        return self._next()

    def answer(self, decision: str) -> tuple[Any, ...]:
        """The driver's decision on the last result; returns the trial's next event."""
        self._answers.put(decision)
        return self._next()

    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision:
        """The trial's `Channel`, called from the trial's thread."""
        self._events.put(("result", result, checkpoint))
        return Decision(self._answers.get())

    def _next(self) -> tuple[Any, ...]:
        event = self._events.get()
        return (*event, self._tap.take(last=event[0] == "ended"))

    def _run(self, job: Job, fn_key: str) -> None:
        os.environ["RUNG_TRIAL_ID"] = str(job.trial_id)
        before = frozenset(_procs.children(os.getpid()))  # the actor's own, if any
        try:
            with self._tap:
                if fn_key not in self._functions:
                    self._functions[fn_key] = cloudpickle.loads(self._pickled[fn_key])
                outcome = run_trial(self._functions[fn_key], job, self)
        except BaseException as exc:  # loading it failed, or exited: the driver hears of it all the same
            outcome = Outcome("error", failure(exc, job.trial_id))
        _procs.kill_tree(spare=before)  # what the trial started ends with it
        self._events.put(("ended", outcome.kind, outcome.error))
