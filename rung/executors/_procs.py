"""The processes a trial starts end with it: process trees read from /proc, and killed (Linux).

A trial may start processes (data loaders, `torchrun`, a shell); some leave the trial's process
group (`setsid`, daemons). Two Linux features let rung find all of them:

- a *subreaper* (`prctl(PR_SET_CHILD_SUBREAPER)`) adopts every orphan among its descendants, so a
  daemon whose parent exited stays in the subreaper's tree, where `descendants()` finds it;
- `prctl(PR_SET_PDEATHSIG)` has the kernel signal a process when its parent dies (even by SIGKILL).

The process executor's workers (`_worker.py`) and the Ray executor's actors (`_ray_actor.py`) use
them as their module docstrings say. Elsewhere (no prctl, no /proc) every function here does
nothing and says so by its return value; `docs/executors.md` lists what is guaranteed where.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

__all__ = [
    "MARK",
    "children",
    "descendants",
    "die_with_parent",
    "guard",
    "kill_tree",
    "parent",
    "split_worker",
    "stat",
    "subreaper",
]

LINUX = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_KILL_ROUNDS = 100  # a tree that still grows after this many rounds of SIGKILL is left alone


def _prctl(option: int, value: int) -> bool:
    if not LINUX:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(signum: int) -> bool:
    """Have the kernel send `signum` to this process when its parent dies; False where it cannot.

    The kernel watches the parent *thread* that started this process, so start workers from a
    thread that lives as long as they should.
    """
    return _prctl(_PR_SET_PDEATHSIG, signum)


def subreaper() -> bool:
    """Make this process adopt its descendants' orphans (instead of init); False where it cannot."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold any character: split after its last ")".
    return text[text.rindex(b")") + 2 :].decode().split()


def parent(pid: int) -> int | None:
    """The parent's pid, or None if the process is gone."""
    fields = stat(pid)
    return None if fields is None else int(fields[1])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children(pid: int) -> list[int]:
    """The direct children of `pid` (started by any of its threads, or adopted); [] if none or gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(child) for child in f.read().split())
        except FileNotFoundError:
            if os.path.exists(f"/proc/{pid}/task/{tid}"):  # a kernel without CONFIG_PROC_CHILDREN
                return [other for other in _all_pids() if parent(other) == pid]
        except OSError:  # the thread ended meanwhile
            continue
    return found


def descendants(pid: int, spare: frozenset[int] = frozenset()) -> list[int]:
    """Every process below `pid`, parents before their children; a process in `spare` and its
    descendants are left out."""
    found: list[int] = []
    level = [child for child in children(pid) if child not in spare]
    while level:
        found.extend(level)
        level = [child for above in level for child in children(above) if child not in spare]
    return found


def kill_tree(spare: frozenset[int] = frozenset()) -> None:
    """SIGKILL every descendant of this process but those in `spare` (and theirs), and reap its
    children among them; again until none is left.

    Each round kills what it found; a killed process's children become orphans, which this process
    adopts if it is a subreaper (else init does), and the next round finds them.
    """
    me = os.getpid()
    for _ in range(_KILL_ROUNDS):
        found = descendants(me, spare)
        if not found:
            return
        for target in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signal.SIGKILL)
        for child in set(children(me)) - spare:
            # Reaped here, or the zombie stays our child and is found again; one reaped by the
            # trial's own code meanwhile (a thread's Popen.wait) is no longer ours.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)


_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP}


def split_worker(driver_fd: int, at_end: Callable[[], object] | None = None) -> bool:
    """Linux: fork this worker into a supervisor and a runner; returns True in the runner.

    The runner runs trials. The supervisor runs no user code, so it always answers: it is a
    subreaper, the kernel sends it SIGTERM when the driver dies, and when SIGTERM comes (from the
    driver: stop the trial) or the runner ends, it kills the runner's process group, then every
    process left below it (daemons too, adopted as orphans), and exits as the runner did (the same
    code or signal, which the driver reports); `at_end` runs before it exits, once the runner and
    what it started are dead (the worker's spool moves the output of the trial it was running). It
    never returns.

    Elsewhere it returns False at once: the worker runs trials itself, unsupervised.
    """
    if not LINUX:
        return False
    die_with_parent(signal.SIGTERM)
    subreaper()
    # Blocked before the fork, so none is missed; the runner unblocks them.
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    supervisor = os.getpid()
    runner = os.fork()
    if runner == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        os.setpgid(0, 0)  # the trial's processes join its group, which the supervisor ends at once
        die_with_parent(signal.SIGKILL)
        if os.getppid() != supervisor:  # it died before the line above
            os._exit(1)
        subreaper()  # the trial's orphans come to the runner, which ends them with the trial
        return True
    os.close(driver_fd)  # the runner's alone: the driver sees EOF when the runner ends
    with contextlib.suppress(OSError):
        os.setpgid(runner, runner)  # as the runner does: whichever runs first
    _supervise(runner, at_end)


def _supervise(runner: int, at_end: Callable[[], object] | None) -> NoReturn:
    while True:
        received = signal.sigwaitinfo(_WATCHED)
        if received.si_signo != signal.SIGCHLD:  # SIGTERM: the driver ends the trial, or died
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner, signal.SIGKILL)
        # Peeked, not reaped: the runner's pid, which is its group's id, stays ours until reaped.
        if os.waitid(os.P_PID, runner, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(runner, signal.SIGKILL)
    _, status = os.waitpid(runner, 0)
    kill_tree()
    if at_end is not None:
        with contextlib.suppress(Exception):  # the exit status is what the driver must hear
            at_end()
    _exit_as(status)


def _exit_as(status: int) -> NoReturn:
    """End this process as the wait status `status` says its child ended: by the same signal, or code."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the runner's crash, not the supervisor's
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


MARK = "RUNG_PROCESS_OWNER"
"""The environment variable that marks every process a guarded process starts (see `guard`)."""


def guard() -> bool:
    """Linux: have what this process starts killed when it dies, however it dies; False elsewhere.

    For a process whose parent rung does not control (a Ray actor: Ray starts it and may SIGKILL it).
    It becomes the leader of a new process group, which the processes it starts join; marks them
    with a random token in the environment variable `MARK`, which they inherit (a daemon that left
    the group too); and starts a guardian: a process that is neither its child nor in its group
    (nothing that ends this process's children or group ends it), which waits for this process to
    die, then kills every process of that group or with that mark. Then it becomes a subreaper, so
    that `kill_tree` finds the daemons its trials leave while it lives.
    """
    if not LINUX:
        return False
    import secrets
    import subprocess

    me = os.getpid()
    with contextlib.suppress(OSError):  # a session leader leads its group already
        if os.getpgid(0) != me:
            os.setpgid(0, 0)
    token = secrets.token_hex(16)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if k != MARK}
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    started = subprocess.run(
        [sys.executable, "-m", "rung.executors._procs", str(me), token],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )
    os.environ[MARK] = token
    subreaper()  # after the guardian left: it is not ours to adopt
    return started.returncode == 0


def _guardian(owner: int, token: str) -> None:
    """The guardian's body: daemonise, wait for `owner` to die, kill its group and what it marked."""
    if os.fork():
        os._exit(0)  # the guardian is the orphan: `guard()` waited for this process only
    try:
        import select

        with os.fdopen(os.pidfd_open(owner)) as pidfd:  # readable once the owner has exited
            select.select([pidfd], [], [])
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3), or the owner is gone already
        while _running(owner):
            import time

            time.sleep(0.5)
    me = os.getpid()
    needle = f"{MARK}={token}".encode()
    for _ in range(_KILL_ROUNDS):
        found = [pid for pid in _all_pids() if pid != me and _running(pid) and _owned(pid, owner, needle)]
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    fields = stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _owned(pid: int, owner: int, needle: bytes) -> bool:
    fields = stat(pid)
    if fields is not None and int(fields[2]) == owner:  # in the owner's process group
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:  # gone, or another user's
        return False


if __name__ == "__main__":
    _guardian(int(sys.argv[1]), sys.argv[2])
