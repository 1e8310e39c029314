"""Which process drives an experiment: one at a time (a lock on the experiment's folder), and a driver
killed without a word (`kill -9`, a crash, a lost machine) shows as such instead of RUNNING forever."""

from __future__ import annotations

import fcntl
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rung.errors import ExperimentBusyError

__all__ = ["KILLED", "LOCK_NAME", "here", "release_lock", "shown", "status", "take_lock"]

LOCK_NAME = "driver.lock"
"""The file in an experiment's folder that its driver holds locked while it runs."""

KILLED = "KILLED"
"""Shown for a RUNNING experiment whose driver, on this machine, is gone: `rung resume NAME` continues it."""


def here() -> dict[str, Any]:
    """This process as an experiment's driver: the machine's name and the process id."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def status(stored: str, settings: Mapping[str, Any]) -> str:
    """The stored status, or KILLED for a RUNNING one whose driver ran on this machine and is gone.

    A driver on another machine cannot be checked from here: its experiment stays RUNNING.
    """
    driver = settings.get("driver")
    if stored != "RUNNING" or not isinstance(driver, Mapping) or driver.get("host") != socket.gethostname():
        return stored
    pid = driver.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return stored
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return KILLED
    except PermissionError:  # it exists, under another user
        return stored
    return stored


def shown(trial_status: str, experiment_status: str) -> str:
    """A trial's status as views show it: one left RUNNING or PENDING by an experiment that no longer
    runs (interrupted, killed, failed) is INTERRUPTED there; the store keeps the status the resume
    reads (it restarts such trials from their checkpoints)."""
    if experiment_status != "RUNNING" and trial_status in ("RUNNING", "PENDING"):
        return "INTERRUPTED"
    return trial_status


def take_lock(folder: Path, name: str) -> int:
    """Hold experiment `name`'s lock (its writer's, for as long as the store is open); the file keeps
    the holder's pid and machine so that another driver's error can name it. The kernel releases the
    lock when the process dies, however it dies."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"experiment {name!r} in {str(folder.parent)!r} cannot be written ({exc.strerror}); read it with"
            " rung.load, or copy it somewhere writable to resume it",
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip()
        os.close(fd)
        named = re.fullmatch(r"pid (\d+) on (.+)", holder)
        # Empty: the other driver has locked the file and not yet written its name (it just started).
        who = f"driver pid {named[1]} on {named[2]}" if named else f"another driver ({holder or 'just starting'})"
        raise ExperimentBusyError(
            f"experiment {name!r} in {str(folder.parent)!r} is busy: {who} runs it. Wait for it to end, or stop"
            " it (it stays resumable) and then resume; or choose another name"
        ) from None
    mine = f"pid {os.getpid()} on {socket.gethostname()}".encode()
    if os.pread(fd, len(mine) + 1, 0) != mine:  # unchanged when this process held it last (ask/tell calls)
        os.ftruncate(fd, 0)
        os.pwrite(fd, mine, 0)
    return fd


def release_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
