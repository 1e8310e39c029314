"""Processes a trial starts end with the trial, with its worker and with the driver (Linux).

Each objective starts `sleep 1000` as a child and a daemon: a `sleep 1000` in a session of its own
whose parent has exited (so it is neither in the trial's process group nor anyone's child but a
subreaper's). The tests read each process's start time from /proc, so a reused pid is never taken
for a survivor, and count a zombie as ended (the container's init may never reap it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors import _procs
from rung.executors.base import Ended, Executor, Reported
from rung.executors.process import ProcessExecutor
from rung.session import Job
from rung.testing.executors import collect
from rung.types import Decision

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees are read from /proc")

DEADLINE_S = 30.0
FIRST_REPORT_S = 90.0  # a Ray actor may take a while to be placed on a loaded machine

# Started by the trial: prints the pid of a `sleep 1000` in a new session, then exits at once.
DAEMON = (
    "import subprocess as s;"
    " print(s.Popen(['sleep', '1000'], start_new_session=True, stdout=s.DEVNULL, stderr=s.DEVNULL).pid)"
)


def start_processes() -> list[int]:
    """A child `sleep 1000` and a daemonised grandchild `sleep 1000`; their pids."""
    child = subprocess.Popen(["sleep", "1000"])
    daemon = subprocess.run([sys.executable, "-c", DAEMON], capture_output=True, text=True, check=True)
    return [child.pid, int(daemon.stdout)]


def spawner(config: dict[str, Any]) -> None:
    """Starts processes, reports their pids (and its own), then ends as `config["then"]` says."""
    rung.report({"pids": [*start_processes(), os.getpid()]})
    then = config.get("then", "return")
    if then == "exit":
        os._exit(3)
    while then == "work":  # computes without reporting until the executor ends it
        time.sleep(0.01)


Process = tuple[int, str]  # a pid and its start time (field 22 of /proc/<pid>/stat)


def identify(pids: list[int]) -> list[Process]:
    found = []
    for pid in pids:
        fields = _procs.stat(pid)
        assert fields is not None and fields[0] != "Z", f"process {pid} should be running"
        found.append((pid, fields[19]))
    return found


def running(processes: list[Process]) -> list[Process]:
    """Those still running: not gone, not a zombie, not a new process that reuses the pid."""
    alive = []
    for pid, started in processes:
        fields = _procs.stat(pid)
        if fields is not None and fields[0] != "Z" and fields[19] == started:
            alive.append((pid, started))
    return alive


def wait_ended(processes: list[Process], within_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + within_s
    while running(processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running(processes) == [], f"still running {within_s}s later: {running(processes)}"


def started_by_first_report(executor: Executor, config: dict[str, Any], trial_id: int = 1) -> list[Process]:
    executor.submit(Job(trial_id, config))
    events = executor.poll(FIRST_REPORT_S)
    assert len(events) == 1 and isinstance(events[0], Reported), events
    return identify(events[0].result["pids"][:2])


@pytest.mark.parametrize(
    ("then", "answer", "kind"),
    [
        ("return", Decision.CONTINUE, "completed"),
        ("return", Decision.STOP, "interrupted"),
        ("exit", Decision.CONTINUE, "error"),
    ],
    ids=["ends-normally", "stopped-by-the-scheduler", "worker-dies"],
)
def test_a_trials_processes_end_with_it(then: str, answer: Decision | None, kind: str) -> None:
    executor = ProcessExecutor(1)
    executor.start(spawner)
    try:
        processes = started_by_first_report(executor, {"then": then})
        if answer is not None:
            executor.reply(1, answer)
        events = collect(executor, until=1)
        assert [e.kind for e in events if isinstance(e, Ended)] == [kind]
        wait_ended(processes)
    finally:
        executor.shutdown()


def test_a_trial_ended_by_the_executor_takes_its_processes() -> None:
    executor = ProcessExecutor(1)
    executor.start(spawner)
    try:
        processes = started_by_first_report(executor, {"then": "work"})
        executor.reply(1, Decision.CONTINUE)
        executor.stop(1)  # as the time budget does: the trial computes and never reports again
        assert [e.kind for e in collect(executor, until=1) if isinstance(e, Ended)] == ["interrupted"]
        wait_ended(processes)
    finally:
        executor.shutdown()


class Preloaded:
    """An objective that starts a helper process when a worker loads it (as a module might on import)."""

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.helper = subprocess.Popen(["sleep", "1000"])

    def __call__(self, config: dict[str, Any]) -> None:
        rung.report({"helper": self.helper.pid, "running": self.helper.poll() is None})


def test_processes_the_worker_started_before_the_trial_outlive_it_but_not_the_worker() -> None:
    executor = ProcessExecutor(1)
    executor.start(Preloaded())
    try:
        executor.submit(Job(1, {}))
        events = collect(executor, until=1)
        executor.submit(Job(2, {}))
        events += collect(executor, until=1)
        reports = [e.result for e in events if isinstance(e, Reported)]
        assert [r["running"] for r in reports] == [True, True]
        assert reports[0]["helper"] == reports[1]["helper"]
        helper = identify([reports[0]["helper"]])
    finally:
        executor.shutdown()
    wait_ended(helper)


DRIVER = textwrap.dedent(
    """
    import os, sys, time
    import rung
    sys.path.insert(0, sys.argv[3])
    from test_procs import start_processes

    PIDS, EXECUTOR = sys.argv[1], sys.argv[2]  # globals of __main__: sent to the workers with the objective

    def trial(config):
        # The worker, and on the process executor its supervisor (a Ray actor's parent is Ray's).
        pids = [*start_processes(), os.getpid(), *([os.getppid()] if EXECUTOR == "process" else [])]
        with open(PIDS + ".tmp", "w") as f:
            f.write(" ".join(map(str, pids)))
        os.rename(PIDS + ".tmp", PIDS)
        while True:
            time.sleep(0.01)

    rung.run(trial, {"x": 1}, executor=sys.argv[2], storage=sys.argv[4], verbose=0)
    """
)


def run_driver_and_kill_it(tmp_path: Path, executor: str, env: dict[str, str] | None = None) -> list[Process]:
    """Runs a driver whose trial starts processes, kills it with SIGKILL; the trial's processes and workers."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    pid_file = tmp_path / "pids"
    root = str(Path(__file__).resolve().parents[1])
    command = [sys.executable, str(script), str(pid_file), executor, str(Path(__file__).parent), str(tmp_path / "runs")]
    driver = subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": root, **(env or {})}, stderr=subprocess.PIPE, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 120.0
        while not pid_file.exists():
            assert driver.poll() is None, f"the driver ended: {driver.communicate()[1].decode()}"
            assert time.monotonic() < deadline, "the trial did not start"
            time.sleep(0.02)
        processes = identify([int(pid) for pid in pid_file.read_text().split()])
    finally:
        driver.kill()
        driver.communicate()
    return processes


def test_a_killed_driver_takes_its_trials_processes(tmp_path: Path) -> None:
    processes = run_driver_and_kill_it(tmp_path, "process")
    wait_ended(processes)  # the trial's child, its daemon, the worker and its supervisor


def test_descendants_and_kill_tree_follow_a_tree_of_processes() -> None:
    shell = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    try:
        deadline = time.monotonic() + DEADLINE_S
        while len(_procs.descendants(shell.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        sleeps = _procs.descendants(shell.pid)
        assert len(sleeps) == 2 and all(_procs.parent(pid) == shell.pid for pid in sleeps)
        assert shell.pid in _procs.descendants(os.getpid())
        processes = identify([shell.pid, *sleeps])
        _procs.kill_tree(spare=frozenset(set(_procs.children(os.getpid())) - {shell.pid}))
        wait_ended(processes)
    finally:
        shell.kill()
        shell.wait()


GUARDED = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from rung.executors import _procs
    sys.path.insert(0, sys.argv[2])
    from test_procs import start_processes

    assert _procs.guard()
    unmarked = subprocess.Popen(["sleep", "1000"], env={"PATH": os.environ["PATH"]})  # found by its group
    pids = [*start_processes(), unmarked.pid, int(os.environ["RUNG_TEST_PID"])]
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(" ".join(map(str, pids)))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(1000)
    """
)


def test_a_guarded_process_killed_by_sigkill_takes_what_it_started(tmp_path: Path) -> None:
    # As a Ray actor is guarded: Ray starts it and may SIGKILL it; what it started must end too:
    # a child, a daemon (found by the mark in its environment) and a child without the mark (by its group).
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED)
    pid_file = tmp_path / "pids"
    root = str(Path(__file__).resolve().parents[1])
    bystander = subprocess.Popen(["sleep", "1000"])  # not started by the guarded process
    owner = subprocess.Popen(
        [sys.executable, str(script), str(pid_file), str(Path(__file__).parent)],
        env={**os.environ, "PYTHONPATH": root, "RUNG_TEST_PID": str(bystander.pid)},
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not pid_file.exists():
            assert owner.poll() is None and time.monotonic() < deadline, "the guarded process did not start"
            time.sleep(0.02)
        *started, other = [int(pid) for pid in pid_file.read_text().split()]
        processes = identify(started)
        owner.kill()
        owner.wait()
        wait_ended(processes)
        assert running(identify([other])), "a process the guarded one did not start was killed"
    finally:
        owner.kill()
        owner.wait()
        bystander.kill()
        bystander.wait()
