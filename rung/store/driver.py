"""Which process drives an experiment, so a driver killed without a word (`kill -9`, a crash, a lost
machine) shows as such instead of as RUNNING forever."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

__all__ = ["KILLED", "here", "status"]

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
