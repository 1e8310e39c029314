"""The replaying trainable every engine runs, and the engine-independent trace it writes.

A trial answers its configuration with the recorded curve of the nearest recorded configuration
not yet used in this run (`bench.tables.Table.replay`: the run's processes share a claims file, and
the same configuration asked again, as when a paused trial resumes, gets the same curve), then
replays it step by step: it sleeps each step's recorded
seconds times one fixed `scale`, stamps the report with `time.time()` inside the trial, appends it
to the run's trace file, and only then hands the value to its engine (which may stop or pause it).
Every engine's trials run on this machine, so one clock serves them all: a report's recorded time
is `(stamp - t0) / scale`, whatever engine made it.

Trace lines (appended with one `os.write` on an `O_APPEND` descriptor, so lines from concurrent
processes and threads do not interleave): `s <stamp> <step>` when a trial starts from scratch, and
`r <stamp> <step> <value>` for each report.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.tables import Table, claim_nearest
from rung.space import Domain, Space

__all__ = ["Replay", "Trace", "read_trace"]

Report = Callable[[int, float], None]
"""`report(step, value)`: hands one result to the engine; may raise to stop or pause the trial."""

_descriptors: dict[tuple[int, str], int] = {}
_lock = threading.Lock()


def _descriptor(path: str) -> int:
    """One append descriptor per process and trace file (processes fork or spawn: key by pid)."""
    key = (os.getpid(), path)
    with _lock:
        fd = _descriptors.get(key)
        if fd is None:
            fd = _descriptors[key] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return fd


@dataclass
class Replay:
    """One table's curves and the run's settings: what a trial needs, small enough to ship to workers.

    Attributes:
        table: the table's name ("mlp" or "gbt").
        domains: the space's hyperparameters and domains, in the table's encoding order.
        units: the recorded configurations in the space's unit cube, shape (configs, dims).
        values: the metric per configuration and step, shape (configs, steps).
        seconds: recorded seconds per configuration and step, shape (configs, steps).
        best: the best value any configuration reaches at any step (`Table.best[1]`).
        metric: the replayed metric (higher is better: a metric the table minimises is replayed
            negated, as "neg_<metric>").
        trace: the trace file trials append to.
        claims: the run's claims file (which recorded configuration answers which config).
        scale: wall seconds slept per recorded second.
        deadline: `time.time()` after which no trial reports (t0 + budget x scale).

    Example:
        >>> replay = Replay.of(Table.load("mlp"), "trace.txt", scale=1.0, deadline=time.time() + 15)  # doctest: +SKIP
        >>> replay.play(config, 0, lambda step, value: None)  # doctest: +SKIP
    """

    table: str
    domains: list[tuple[str, Domain]]
    units: np.ndarray
    values: np.ndarray
    seconds: np.ndarray
    best: float
    metric: str
    trace: str
    scale: float
    deadline: float
    claims: str

    @classmethod
    def of(cls, table: Table, trace: str | Path, *, scale: float, deadline: float, claims: str | Path) -> Replay:
        """The replay of `table`'s metric at its `seed` (negated when minimised), writing to `trace`."""
        domains = [(path[0], domain) for path, domain in Space(table.space).paths]
        units = np.array([[d.to_unit(c[k]) for k, d in domains] for c in table.configs], dtype=np.float64)
        sign = 1.0 if table.mode == "max" else -1.0
        values = sign * table.metrics[table.metric][table.seed].astype(np.float64)
        seconds = table.seconds[table.seed].astype(np.float64)
        best = sign * table.best[1]
        metric = table.metric if table.mode == "max" else f"neg_{table.metric}"
        return cls(table.name, domains, units, values, seconds, best, metric, str(trace), scale, deadline, str(claims))

    @property
    def steps(self) -> int:
        """Steps per recorded curve: the most a trial trains (50 epochs for mlp, 100 rounds for gbt)."""
        return int(self.values.shape[1])

    def nearest(self, config: Mapping[str, Any]) -> int:
        """The recorded configuration answering `config` in this run: the nearest not yet claimed."""
        point = np.array([domain.to_unit(config[key]) for key, domain in self.domains])
        key = json.dumps({k: config[k] for k, _ in self.domains}, default=str)
        return claim_nearest(self.units, point, key, Path(self.claims))

    def _write(self, line: str) -> None:
        os.write(_descriptor(self.trace), line.encode())

    def play(self, config: Mapping[str, Any], start: int, report: Report) -> float:
        """Replay `config`'s curve from step `start` (0-based) to the end or the deadline.

        Args:
            config: the trial's configuration (every hyperparameter of the table's space).
            start: the steps already trained (from the trial's checkpoint), 0 for a new trial.
            report: called as `report(step, value)` after each step, `step` counted from 1.

        Returns:
            The last value reported (NaN if none was).
        """
        index = self.nearest(config)
        now = time.time()
        if now >= self.deadline:
            return math.nan
        if start == 0:
            self._write(f"s {now:.6f} 0\n")
        last = math.nan
        for step in range(start, self.steps):
            pause = float(self.seconds[index, step]) * self.scale
            if time.time() + pause > self.deadline:
                break  # this report would land after the budget, where nothing counts
            time.sleep(pause)
            last = float(self.values[index, step])
            self._write(f"r {time.time():.6f} {step + 1} {last!r}\n")
            report(step + 1, last)
        return last


@dataclass(frozen=True)
class Trace:
    """The reports of one run that landed within the budget, in recorded seconds since t0.

    Attributes:
        t: recorded seconds of each report, sorted.
        values: the reported metric, in the same order.
        starts: trials started from scratch within the budget.
        late: reports stamped after the budget (not counted).
    """

    t: list[float]
    values: list[float]
    starts: int
    late: int


def read_trace(path: str | Path, *, t0: float, scale: float, budget: float) -> Trace:
    """Read a run's trace file; `t0` is `time.time()` when the engine was called."""
    reports: list[tuple[float, float]] = []
    starts = late = 0
    file = Path(path)
    text = file.read_text() if file.exists() else ""
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        when = (float(parts[1]) - t0) / scale
        if when > budget:
            late += parts[0] == "r"
        elif parts[0] == "s":
            starts += 1
        elif parts[0] == "r" and len(parts) == 4:
            reports.append((when, float(parts[3])))
    reports.sort()
    return Trace([round(t, 6) for t, _ in reports], [v for _, v in reports], starts, late)
