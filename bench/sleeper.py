"""The objective of `python -m bench sleep-scale`, in a module of its own: workers import it to load
the objective, so it imports only what the objective uses (the benchmark's own module pulls in the
store, numpy and the profiler: 0.1 s of CPU per worker, the objective's cost, not the engine's)."""

from __future__ import annotations

import time
from typing import Any

import rung


def sleeper(config: dict[str, Any]) -> None:
    """The trial: `length` seconds of sleep in `reports` steps, a report after each."""
    step = config["length"] / config["reports"]
    for i in range(config["reports"]):
        time.sleep(step)
        rung.report({"score": config["x"] + i})
