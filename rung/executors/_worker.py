"""The loop of one long-lived worker process: run one trial at a time, as the driver asks.

Started as `python -m rung.executors._worker FD`; FD is this end of a socket pair to the driver.
Messages in: ("load", fn_key, fn_bytes), ("run", Job, fn_key, fn_bytes | None), ("answer", decision value),
("quit",).
Messages out: ("result", trial_id, result, checkpoint_bytes), ("ended", trial_id, kind, error).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from rung.executors import _procs
from rung.executors._spool import Spool
from rung.session import Job, Outcome, failure, run_trial
from rung.types import Config, Decision


class _PipeChannel:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision:
        self.conn.send(("result", trial_id, result, checkpoint))
        return Decision(self.conn.recv()[1])


class _Capture:
    """Points this process's stdout and stderr (file descriptors 1 and 2) at a trial's log file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.saved: list[int] = []

    def __enter__(self) -> None:
        if self.path is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def __exit__(self, *exc: object) -> None:
        if not self.saved:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in zip((1, 2), self.saved, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        self.saved = []


class _Spooled:
    """A trial's stdout and stderr in its worker's spool (see `_spool.py`)."""

    def __init__(self, spool: Spool | None, path: str | None) -> None:
        assert spool is not None and path is not None
        self.spool, self.path = spool, path

    def __enter__(self) -> None:
        self.spool.start(self.path)

    def __exit__(self, *exc: object) -> None:
        self.spool.stop()


def serve(conn: Connection, spool: Spool | None = None) -> None:
    """Run trials as the driver asks until it says quit or goes; `spool`: the worker's output file
    (supervised workers, `_spool.py`), else each trial's output goes straight to its log file."""
    channel = _PipeChannel(conn)
    functions: dict[str, Callable[[Config], Any]] = {}
    pickled: dict[str, bytes] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = ("quit",)
        if message[0] == "quit":
            if spool is not None:
                spool.close()
            return
        if message[0] == "load":
            # Unpickling imports the objective's modules: done once, before the first trial.
            pickled[message[1]] = message[2]
            # A failure (an import error; a module that parses sys.argv at import and exits) shows at
            # the first trial, which loads it again.
            with contextlib.suppress(BaseException):
                functions[message[1]] = cloudpickle.loads(message[2])
            continue
        _, job, fn_key, fn_bytes = message
        assert isinstance(job, Job)
        if fn_bytes is not None:
            pickled[fn_key] = fn_bytes
        os.environ["RUNG_TRIAL_ID"] = str(job.trial_id)
        before = frozenset(_procs.children(os.getpid()))  # started while loading: the worker's own
        spooled = spool is not None and job.log_path is not None
        try:
            with _Spooled(spool, job.log_path) if spooled else _Capture(job.log_path):
                try:
                    if fn_key not in functions:
                        # Kept as bytes until it loads, so a failed load fails each trial alike.
                        functions[fn_key] = cloudpickle.loads(pickled[fn_key])
                    outcome = run_trial(functions[fn_key], job, channel)
                except BaseException as exc:  # loading it failed, or exited
                    outcome = Outcome("error", failure(exc, job.trial_id))
        except Exception:  # the trial's log could not be opened or written (no space, no permission)
            outcome = Outcome("error", traceback.format_exc())
        # What the trial started ends with it, before the driver hears of its end (and before its
        # output becomes its log: what it started wrote there until now).
        _procs.kill_tree(spare=before)
        if spooled:
            try:
                spool.finish()  # type: ignore[union-attr]
            except OSError:
                if outcome.kind != "error":
                    outcome = Outcome("error", traceback.format_exc())
        conn.send(("ended", job.trial_id, outcome.kind, outcome.error))


def main(argv: list[str]) -> None:
    # The driver decides what happens to trials on Ctrl-C (a signal sent to the worker alone is ignored).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # On Linux a supervisor process stays behind here (it never returns): see `_procs.split_worker`;
    # it moves the output of a trial whose worker died to the trial's log (the spool's `rescue`).
    spool = Spool() if _procs.LINUX else None
    supervised = _procs.split_worker(int(argv[1]), at_end=None if spool is None else spool.rescue)
    # The driver's import path, so functions pickled by reference (module.name) import here too.
    for entry in reversed(json.loads(os.environ.pop("RUNG_SYS_PATH", "[]"))):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    serve(Connection(int(argv[1])), spool if supervised else None)


if __name__ == "__main__":
    main(sys.argv)
