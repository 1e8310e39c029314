"""Schedulers: continue, pause or stop. `SCHEDULERS` maps the names `run()` accepts to their factories.

Each entry is "module:factory", imported only when the name is used (PB2 brings scipy.optimize).
PBT and PB2 have no sensible defaults: their factories raise an error that says what to pass.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rung.schedulers.base import FIFO, Scheduler

__all__ = ["FIFO", "SCHEDULERS", "Scheduler", "make"]

_TARGETS: dict[str, str] = {
    "fifo": "rung.schedulers.base:FIFO",
    "median": "rung.schedulers.median:MedianStopping",
    "sha": "rung.schedulers.hyperband:SuccessiveHalving",
    "hyperband": "rung.schedulers.hyperband:HyperBand",
    "asha": "rung.schedulers.asha:ASHA",
    "auto": "rung.schedulers.auto:AutoScheduler",
    "moasha": "rung.schedulers.moasha:MOASHA",
    "pbt": "rung.schedulers.pbt:by_name",
    "pb2": "rung.schedulers.pb2:by_name",
}


def _lazy(target: str) -> Callable[[], Scheduler]:
    module, _, factory = target.partition(":")

    def make() -> Scheduler:
        made: Scheduler = getattr(importlib.import_module(module), factory)()
        return made

    make.__qualname__ = target
    return make


SCHEDULERS: dict[str, Callable[[], Scheduler]] = {name: _lazy(target) for name, target in _TARGETS.items()}


def make(name: str) -> Scheduler:
    """A scheduler with its default settings, by the name `run()` accepts."""
    return SCHEDULERS[name]()
