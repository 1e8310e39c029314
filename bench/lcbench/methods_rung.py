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
from rung.types import Config, Decision, TrialInfo

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
    constructor arguments, its `pioneers`, TPE's `n_startup` and good-group size (`gamma`, a share)
    once trials report curves, a share of random proposals once they do (`random_fraction`, drawn per
    trial from its own generator) and adaptive bracket probabilities (`adaptive_brackets`: see
    `_AdaptiveBrackets`)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.settings = settings
        if "count_running" in settings:
            self.count_running = bool(settings["count_running"])

    def paired_scheduler(self) -> rung.AutoScheduler:
        names = ("reduction_factor", "grace_period", "brackets")
        kwargs = {k: v for k, v in self.settings.items() if k in names}
        adaptive = self.settings.get("adaptive_brackets")
        scheduler = rung.AutoScheduler(**kwargs) if adaptive is None else _AdaptiveBrackets(adaptive, **kwargs)
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
        if "gamma" in self.settings:  # a share, or null: TPE's own split (the default's before CURVES_GAMMA)
            gamma = self.settings["gamma"]
            self._tpe.gamma = None if gamma is None else float(gamma)

    def suggest(self, trial_id: int) -> Config | None:
        share = float(self.settings.get("random_fraction", 0.0))
        assert self.seed is not None
        if share > 0 and self.kind == "curves":
            rng = np.random.default_rng([self.seed & (2**63 - 1), trial_id, 1])
            if rng.random() < share and self._tpe.proposed < self._tpe.num_samples:
                config = self.space.sample(rng)
                self._tpe.on_given(trial_id, config)
                self._tpe.proposed += 1
                return config
        return super().suggest(trial_id)


def _kendall(x: list[float], y: list[float]) -> float:
    """Kendall's tau-a of two samples (0 with fewer than two points)."""
    a, b = np.asarray(x), np.asarray(y)
    if len(a) < 2:
        return 0.0
    i, j = np.triu_indices(len(a), 1)
    return float(np.mean(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])))


class _AdaptiveBrackets(rung.AutoScheduler):
    """`AutoScheduler` whose bracket probabilities follow how well each milestone's ranks predict the
    next milestone's (in the spirit of Hyper-Tune, Li et al. VLDB 2022).

    Milestone k's consistency tau_k is Kendall's tau between the values at milestones k and k + 1 of
    the trials whose bracket judges them after k + 1 or at it (they passed k unjudged, so the
    sample is not truncated by selection). Once it holds `min_pairs` trials, bracket k's HyperBand
    weight is multiplied by max(tau_k, 0) (the last bracket's weight stays), the weights are
    normalised and each probability is kept at least `floor` times its HyperBand value.
    Settings (a dict): min_pairs (10), floor (0.25).
    """

    def __init__(self, settings: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_pairs = int(settings.get("min_pairs", 10))
        self.floor = float(settings.get("floor", 0.25))
        self.base = list(self.bracket_probabilities)
        self._values: dict[int, list[float]] = {}
        self._of: dict[int, int] = {}

    def on_trial_add(self, trial: TrialInfo) -> None:
        self._adapt()
        super().on_trial_add(trial)
        self._of[trial.id] = self._bracket.get(trial.id, 0)

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        before = self._passed.get(trial.id, 0)
        decision = super().on_result(trial, result)
        after = self._passed.get(trial.id, 0)
        value = result.get(METRIC)
        if after > before and value is not None:  # its value at each milestone it passed, higher better
            values = self._values.setdefault(trial.id, [])
            values.extend([self._op * float(value)] * (after - len(values)))
        return decision

    def consistency(self) -> list[float | None]:
        """tau_k per milestone k below the last bracket's (None: too few trials yet)."""
        out: list[float | None] = []
        for k in range(self.brackets - 1):
            xs, ys = [], []
            for trial_id, values in self._values.items():
                bracket = self._of[trial_id]
                if bracket >= k + 1 and len(values) > k + 1:
                    xs.append(values[k])
                    ys.append(values[k + 1])
            out.append(_kendall(xs, ys) if len(xs) >= self.min_pairs else None)
        return out

    def _adapt(self) -> None:
        taus = self.consistency()
        weights = [
            p * (max(taus[s], 0.0) if s < len(taus) and taus[s] is not None else 1.0) for s, p in enumerate(self.base)
        ]
        total = sum(weights)
        if total <= 0:
            return
        probs = [max(w / total, self.floor * p) for w, p in zip(weights, self.base, strict=True)]
        self.bracket_probabilities = [p / sum(probs) for p in probs]


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
