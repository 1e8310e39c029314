"""Clocks: the only code of the driver that reads the time."""

from __future__ import annotations

import time

__all__ = ["Clock", "RealClock"]


class Clock:
    """Seconds since an arbitrary start; the simulated clock of the benchmarks subclasses this."""

    def now(self) -> float:
        raise NotImplementedError


class RealClock(Clock):
    """Wall-clock time (monotonic)."""

    def now(self) -> float:
        return time.monotonic()
