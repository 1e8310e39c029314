"""Executors: where trials run."""

from __future__ import annotations

from rung.executors.base import Ended, Event, Executor, Reported
from rung.executors.process import ProcessExecutor
from rung.executors.thread import ThreadExecutor

__all__ = ["Ended", "Event", "Executor", "ProcessExecutor", "Reported", "ThreadExecutor"]
