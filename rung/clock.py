"""Clocks: the only code of the driver that reads the time."""

from __future__ import annotations

import time

__all__ = ["Clock", "RealClock", "SimulatedClock"]


class Clock:
    """Seconds since an arbitrary start."""

    def now(self) -> float:
        raise NotImplementedError


class RealClock(Clock):
    """Wall-clock time (monotonic)."""

    def now(self) -> float:
        return time.monotonic()


class SimulatedClock(Clock):
    """Time that moves only when the simulator moves it (see `rung.executors.simulated`)."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += max(0.0, seconds)

    def advance_to(self, when: float) -> None:
        self.time = max(self.time, when)
