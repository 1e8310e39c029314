from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.executors import _procs, _zygote
from rung.executors.base import Ended, Reported
from rung.executors.process import ProcessExecutor
from rung.session import Job
from rung.testing.executors import collect, objective
from rung.types import Decision

pytestmark = pytest.mark.skipif(not _zygote.AVAILABLE, reason="workers are forked by a zygote on Linux only")

ROOT = Path(__file__).resolve().parent.parent


def whoami(config: dict[str, Any]) -> None:
    """Reports what a worker was started as: its supervisor's parent, and numbers drawn from the global generators."""
    supervisor = os.getppid()  # the trial runs in the worker's runner, below its supervisor
    rung.report({"above": _procs.parent(supervisor), "random": random.random(), "numpy": float(np.random.random())})


def _reports(executor: ProcessExecutor, n: int) -> list[dict[str, Any]]:
    try:
        executor.start(whoami)
        for trial_id in range(1, n + 1):
            executor.submit(Job(trial_id, {}))
        events = collect(executor, until=n)
    finally:
        executor.shutdown()
    return [event.result for event in events if isinstance(event, Reported)]


def test_workers_are_forked_by_one_zygote_and_draw_their_own_random_numbers() -> None:
    results = _reports(ProcessExecutor(3), 3)
    above = {result["above"] for result in results}
    assert len(above) == 1 and above != {os.getpid()}  # one process forked them all, not the driver
    # As new interpreters would: else every worker draws what the zygote would have drawn next.
    assert len({result["random"] for result in results}) == 3
    assert len({result["numpy"] for result in results}) == 3


def test_the_driver_goes_on_while_the_zygote_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """`start` asks for the workers and returns (the driver opens the store meanwhile); the first
    `submit` takes the zygote's answer. Here the zygote is stopped (SIGSTOP) until `start` returned:
    a driver that waited for its answer would have given up on it (the timeout) and started new
    interpreters instead."""
    zygotes: list[_zygote.Zygote] = []
    made = _zygote.Zygote.__init__

    def stopped(self: _zygote.Zygote, env: dict[str, str]) -> None:
        made(self, env)
        assert self._popen is not None
        os.kill(self._popen.pid, signal.SIGSTOP)
        os.waitid(os.P_PID, self._popen.pid, os.WSTOPPED | os.WNOWAIT)  # stopped now (left for Popen to reap)
        zygotes.append(self)

    monkeypatch.setattr(_zygote, "REPLY_TIMEOUT_S", 5.0)
    monkeypatch.setattr(_zygote.Zygote, "__init__", stopped)
    executor = ProcessExecutor(2)
    try:
        executor.start(whoami)
        [zygote] = zygotes
        assert zygote._popen is not None
        pid = zygote._popen.pid
        assert _state(pid) == "T"  # still stopped: nothing waited for it
        os.kill(pid, signal.SIGCONT)
        for trial_id in (1, 2):
            executor.submit(Job(trial_id, {}))
        events = collect(executor, until=2)
    finally:
        executor.shutdown()
    assert {event.result["above"] for event in events if isinstance(event, Reported)} == {pid}
    assert [event.kind for event in events if isinstance(event, Ended)] == ["completed", "completed"]


def _state(pid: int) -> str | None:
    fields = _procs.stat(pid)
    return None if fields is None else fields[0]


def test_without_a_zygote_workers_start_as_new_interpreters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_zygote, "AVAILABLE", False)
    results = _reports(ProcessExecutor(2), 2)
    assert {result["above"] for result in results} == {os.getpid()}


def test_a_run_goes_on_when_its_zygote_is_killed() -> None:
    """Its workers end with it (their trials fail); new ones start as new interpreters."""
    executor = ProcessExecutor(1)
    executor.start(objective)
    try:
        zygote = executor._zygote
        assert zygote is not None and zygote._popen is not None
        executor.submit(Job(1, {"do": "forever"}))
        events: list[Any] = []
        while not any(isinstance(e, Reported) for e in events):
            for event in executor.poll(1.0):
                events.append(event)
                if isinstance(event, Reported):
                    zygote._popen.kill()
                    executor.reply(event.trial_id, Decision.CONTINUE)
        events = collect(executor, until=1)
        executor.submit(Job(2, {"x": 1, "n": 2}))
        events += collect(executor, until=1)
    finally:
        executor.shutdown()
    ended = [e for e in events if isinstance(e, Ended)]
    assert [e.kind for e in ended] == ["error", "completed"]
    assert ended[0].error is not None and "the worker process running trial 1 died" in ended[0].error


def test_the_zygote_and_its_workers_die_with_the_driver() -> None:
    script = (
        "from rung.executors.process import ProcessExecutor\n"
        "from rung.testing.executors import objective\n"
        "import time\n"
        "ex = ProcessExecutor(2)\n"
        "ex.start(objective)\n"
        "print(ex._zygote._popen.pid, *(w.popen.pid for w in ex._workers), flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    assert driver.stdout is not None
    with driver.stdout:
        pids = [int(pid) for pid in driver.stdout.readline().split()]
    assert len(pids) == 3 and all(_procs.stat(pid) is not None for pid in pids)
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 30.0
    while [pid for pid in pids if _alive(pid)]:
        assert time.monotonic() < deadline, f"still running after the driver's SIGKILL: {pids}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    fields = _procs.stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def test_prepare_starts_the_zygote_and_shutdown_ends_it_though_no_worker_was_asked_for() -> None:
    # rung.run prepares the executor before it builds the searcher: a run that cannot start leaves no zygote.
    executor = ProcessExecutor(2)
    executor.prepare()
    zygote = executor._zygote
    assert zygote is not None and zygote._popen is not None
    popen = zygote._popen
    assert popen.poll() is None
    executor.shutdown()
    assert popen.returncode is not None and executor._zygote is None
