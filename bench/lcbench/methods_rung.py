"""rung's methods on LCBench, through rung's own `SimulatedExecutor` (4 virtual workers, no decision time charged).

The objective returns the configuration's `rung.Curve` (its 52 epochs of `val_accuracy` and seconds);
the executor replays it on the simulated clock, and a callback collects every result with its
simulated `timestamp`. Checkpointing schedulers (HyperBand, BOHB's promotion ASHA) resume a paused
trial from its step, as the executor does for any replayed curve. The settings match `bench compare`'s
rung methods (`bench/compare/methods_rung.py`) with `max_t` = 52 epochs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import rung
from bench.lcbench import catalogue
from bench.lcbench.sim import Trace
from bench.lcbench.surrogate import EPOCHS, METRIC, PARAMS
from rung.callbacks import Callback
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.types import Config

__all__ = ["METHODS", "arguments", "run", "space"]

METHODS = catalogue.METHODS["rung"]


def space() -> dict[str, Any]:
    """LCBench's space in rung's domains (integer bounds included)."""
    domains: dict[str, Any] = {}
    for p in PARAMS:
        if p.kind == "int":
            domains[p.name] = (
                rung.lograndint(int(p.low), int(p.high)) if p.log else rung.randint(int(p.low), int(p.high))
            )
        else:
            domains[p.name] = rung.loguniform(p.low, p.high) if p.log else rung.uniform(p.low, p.high)
    return domains


def arguments(method: str) -> dict[str, Any]:
    """The `rung.run` arguments that make `method` (beyond the common ones)."""
    if method == "rung-default":
        variant = os.environ.get(VARIANT)
        return {} if not variant else {"search": _Variant(json.loads(variant))}
    if method == "rung-random":
        return {"search": "random"}
    if method in ("rung-asha", "rung-asha-tpe"):
        asha = rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=4, time_attr="step")
        return {"search": "random" if method == "rung-asha" else "auto", "scheduler": asha}
    if method == "rung-bohb":
        return {"search": rung.BOHB(max_t=EPOCHS, reduction_factor=4, scheduler="asha", time_attr="step")}
    if method == "rung-hyperband":
        return {"search": "random", "scheduler": rung.HyperBand(max_t=EPOCHS, time_attr="step")}
    raise ValueError(f"methods_rung.arguments needs one of {', '.join(METHODS)}; got method={method!r}")


VARIANT = "RUNG_LCBENCH_DEFAULT_VARIANT"
"""Development only (designing the default): a JSON object of settings that replace the default's for
`rung-default` (`_Variant`); never set for a reported comparison of methods."""


class _Variant(rung.AutoSearch):
    """`rung.AutoSearch` (and its paired `AutoScheduler`) with some settings replaced: the scheduler's
    constructor arguments, its `pioneers`, and TPE's `n_startup` once trials report curves."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.settings = settings
        if "count_running" in settings:
            self.count_running = bool(settings["count_running"])

    def paired_scheduler(self) -> rung.AutoScheduler:
        names = ("reduction_factor", "grace_period", "brackets")
        scheduler = rung.AutoScheduler(**{k: v for k, v in self.settings.items() if k in names})
        if "bracket_probabilities" in self.settings:
            weights = [float(w) for w in self.settings["bracket_probabilities"]]
            scheduler.bracket_probabilities = [w / sum(weights) for w in weights]
        if "pioneers" in self.settings:
            scheduler.pioneers = bool(self.settings["pioneers"])
        return scheduler

    def _saw_curves(self) -> None:
        super()._saw_curves()
        if "n_startup" in self.settings:
            self._tpe.n_startup = int(self.settings["n_startup"])


class _Collect(Callback):
    """Every result's simulated time and metric."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        self.trace.t.append(float(result["timestamp"]))
        self.trace.values.append(float(result[METRIC]))
        self.trace.epochs += 1

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        self.trace.jobs += 1


def run(
    method: str,
    curve: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    budget: float,
    workers: int,
) -> Trace:
    """One run of `method` for `budget` simulated seconds; the trace of every result it reported."""

    def objective(config: Mapping[str, Any]) -> Curve:
        values, seconds = curve(config)
        return Curve([{METRIC: float(v), "step": i + 1} for i, v in enumerate(values)], seconds.tolist())

    trace = Trace()
    with tempfile.TemporaryDirectory(prefix="rung-lcbench-") as work:
        rung.run(
            objective,
            space(),
            metric=METRIC,
            mode="max",
            executor=SimulatedExecutor(workers, decision_seconds=0.0),
            max_concurrent=workers,
            time_budget_s=budget,
            storage=Path(work),
            name="lcbench",
            seed=seed,
            verbose=0,
            num_samples=1_000_000,
            callbacks=[_Collect(trace)],
            **arguments(method),
        )
    order = np.argsort(trace.t, kind="stable")
    trace.t = [trace.t[i] for i in order]
    trace.values = [trace.values[i] for i in order]
    return trace
