"""Schedulers: continue, pause or stop. `SCHEDULERS` maps the names `run()` accepts."""

from __future__ import annotations

from collections.abc import Callable

from rung.schedulers.base import FIFO, Scheduler

__all__ = ["FIFO", "SCHEDULERS", "Scheduler"]

SCHEDULERS: dict[str, Callable[[], Scheduler]] = {"fifo": FIFO}
