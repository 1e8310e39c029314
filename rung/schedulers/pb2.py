"""Population Based Bandits (Parker-Holder et al., NeurIPS 2020): PBT whose explore step is a GP bandit.

PB2 is `rung.PBT` (asynchronous) with one change: when a bottom trial continues from a top trial's
weights, its new hyperparameters are not a random perturbation but the maximiser of a GP-UCB
acquisition. The GP (`rung.models.gp`, Matérn-5/2 times the time-varying factor of Bogunovic et
al. 2016) models the improvement of the metric per unit of `time_attr` over one perturbation
interval, from the time, the metric at the start of the interval and the hyperparameters.

The facts follow the paper and Ray Tune's `pb2.py` / `pb2_utils.py`, written anew:
- data: at each perturbation point of a trial, `y = (score now - score at the interval's start) /
  (time elapsed)`; an interval that began by copying a donor's weights is measured from the
  trial's first result after the copy (Ray: from the donor's last recorded score, which in
  asynchronous runs may belong to older or newer weights than those copied); the most recent
  `WINDOW` intervals are used (Ray: the last 1,000, cut by likelihood to 200 or more);
- inputs: time and start score scaled by their range in the data, hyperparameters by their bounds;
  `y` standardised and clipped to [-2, 2];
- choice: maximise `mean + sqrt(beta) * sd` with `beta = 0.2 + max(0, log(0.4 n))`, n data points,
  over the hyperparameters, at the exploiting trial's time and the donor's latest score (Ray: the
  donor's last recorded time and start score); trials that already run with
  newly chosen values count as observed at the model's mean (so they lower the variance there, as
  Ray's second GP on padded data does). Ray adds the variance instead of the standard deviation; we
  follow the paper.

Differences from Ray: the kernel is Matérn-5/2 with one lengthscale per input instead of a squared
exponential with one lengthscale; with fewer than 2 data points (the first interval) the values are
drawn uniformly within the bounds instead of copied unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rung._checks import INTEGER, Interval, check
from rung._numbers import finite
from rung.domains import copy_tree, fmt
from rung.models.gp import GaussianProcess, maximize_acquisition, single_threaded
from rung.sampling import uniform
from rung.schedulers._explore import config_keys
from rung.schedulers.base import Scheduler
from rung.schedulers.pbt import FRACTION, PBT
from rung.types import Config, Decision, Pause, Resume, TrialInfo

__all__ = ["PB2"]

Array = NDArray[np.float64]
Key = tuple[str, ...]

WINDOW = 200  # the most recent intervals the GP is fitted on
N_CANDIDATES = 256


@dataclass(frozen=True)
class _Point:
    """A trial at one of its perturbation points."""

    time: float
    score: float  # signed: higher is better; -inf for NaN/inf
    values: tuple[float, ...]  # the hyperparameters it trained with up to here


def _flatten(bounds: Any, path: Key = ()) -> Iterator[tuple[Key, tuple[float, float]]]:
    where = "hyperparam_bounds" + "".join(f"[{k!r}]" for k in path)
    if not isinstance(bounds, Mapping) or not bounds:
        raise ValueError(f"PB2 needs {where} to be a non-empty dict of {{key: [low, high]}}; got {fmt(bounds)}")
    for key, value in bounds.items():
        if not isinstance(key, str):
            raise ValueError(f"PB2 needs str keys in {where}; got {fmt(key)}")
        if isinstance(value, Mapping):
            yield from _flatten(value, (*path, key))
            continue
        at = f"{where}[{key!r}]"
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(finite(v) for v in value):
            raise ValueError(f"PB2 needs {at} to be [low, high], two finite numbers; got {fmt(value)}")
        if not value[0] < value[1]:
            raise ValueError(f"PB2 needs {at} to be [low, high] with low < high; got {fmt(value)}")
        yield (*path, key), (float(value[0]), float(value[1]))


def _get(config: Mapping[str, Any], key: Key) -> tuple[bool, Any]:
    value: Any = config
    for part in key:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


class PB2(PBT):
    """PBT whose explore step picks new hyperparameters with a time-varying GP bandit (PB2).

    At every `perturbation_interval` of `time_attr` a trial pauses; if its latest score is in the
    bottom `quantile_fraction` of the population it continues from the newest checkpoint of a trial
    drawn from the top quantile, with that trial's config in which every key of
    `hyperparam_bounds` is chosen by GP-UCB (see the module docstring). Numbers that are ints in
    the config stay ints. Everything else is as in `rung.PBT` with `synch=False`; objectives must
    checkpoint.

    Args:
        perturbation_interval: time between perturbation points, in `time_attr` units (> 0).
        hyperparam_bounds: `{key: [low, high]}` (low < high), possibly nested like the config; every
            key must be in the search space, holding a number (the search space gives the first
            values).
        quantile_fraction: the fraction of the population in each of the top and bottom quantiles,
            in (0, 0.5].
        time_attr: the reported, increasing key that measures training time.
        seed: seeds every random choice (default: the seed of `rung.run`).

    The GP works on a linear scale within the bounds. For a value that spans decades (a learning
    rate), bound its exponent and derive the value in the objective: searching `lr` in [1e-4, 1e-1]
    directly spends nearly every proposal above 1e-2.

    Example:
        >>> pb2 = rung.PB2(perturbation_interval=5, hyperparam_bounds={"log10_lr": [-4, -1]})
        >>> space = {"log10_lr": rung.uniform(-4, -1)}  # the objective uses lr = 10 ** config["log10_lr"]
        >>> rung.run(train, space, metric="acc", mode="max", num_samples=8, scheduler=pb2)  # doctest: +SKIP
    """

    def __init__(
        self,
        perturbation_interval: float,
        hyperparam_bounds: Mapping[str, Any],
        quantile_fraction: float = 0.25,
        time_attr: str = "training_iteration",
        seed: int | None = None,
    ) -> None:
        # Checked here too, so that the messages name PB2 (PBT checks the rest).
        check("PB2", "perturbation_interval", perturbation_interval, Interval(float, 0, None, closed="neither"))
        check("PB2", "quantile_fraction", quantile_fraction, FRACTION)
        self.hyperparam_bounds = dict(_flatten(hyperparam_bounds))
        mutations: dict[str, Any] = {}
        for key, (low, high) in self.hyperparam_bounds.items():
            node = mutations
            for part in key[:-1]:
                node = node.setdefault(part, {})
            node[key[-1]] = uniform(low, high)  # PBT checks these keys against the space too
        super().__init__(
            perturbation_interval,
            mutations,
            quantile_fraction=quantile_fraction,
            resample_probability=0.0,
            time_attr=time_attr,
            seed=seed,
        )
        self._low = np.array([low for low, _ in self.hyperparam_bounds.values()])
        self._span = np.array([high - low for low, high in self.hyperparam_bounds.values()])

    def _reset(self) -> None:
        super()._reset()
        self._points: dict[int, list[_Point]] = {}  # each trial's perturbation points, in order
        self._latest: dict[int, tuple[float, float]] = {}  # each trial's latest (time, score)
        self._exploiting: dict[int, tuple[int, float]] = {}  # trial -> (donor, time), until it reports
        # (trial, time of a point where it exploited) -> (time, score) its next interval is measured from
        self._starts: dict[tuple[int, float], tuple[float, float]] = {}

    # The scheduler contract (PBT does the rest).
    def on_trial_add(self, trial: TrialInfo) -> None:
        if not self._trials:  # the first trial: are the bounded keys numbers in the space?
            for key in self.hyperparam_bounds:
                found, value = _get(trial.config, key)
                dotted = ".".join(key)
                if not found:
                    raise ValueError(
                        f"PB2 hyperparam_bounds has {dotted!r}, which is not in the search space;"
                        f" trial {trial.id}'s config has: {', '.join(config_keys(trial.config)) or 'nothing'}"
                    )
                if not finite(value):
                    raise ValueError(
                        f"PB2 needs a number at hyperparam_bounds key {dotted!r}; trial {trial.id} has"
                        f" {dotted}={fmt(value)}"
                    )
        super().on_trial_add(trial)

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        exploit = self._exploiting.pop(trial.id, None)
        decision = super().on_result(trial, result)  # checks time_attr
        time = float(result[self.time_attr])
        value = result.get(self.metric) if self.metric is not None else None
        if value is not None:
            signed = (float(value) if self.mode == "max" else -float(value)) if finite(value) else -math.inf
            self._latest[trial.id] = (time, signed)
        if exploit is not None:
            # Its first result since it continued from the donor's newest checkpoint. The interval
            # is measured from here, exactly, in a call the tuner replays on resume. An interval of
            # one step has nothing left to measure: it starts from the donor's latest score then
            # (the donor may have trained on since the copy, so this one is approximate).
            donor, at = exploit
            own = self._latest.get(trial.id, (time, -math.inf))
            start = (at, self._latest.get(donor, own)[1]) if self._at_point else own
            self._starts[(trial.id, at)] = start
        if self._at_point and trial.id in self._latest:
            # A perturbation point.
            point = _Point(time, self._latest[trial.id][1], self._values(trial.config))
            self._points.setdefault(trial.id, []).append(point)
            if isinstance(decision, Pause):  # PBT decided that it continues from a donor's weights
                self._exploiting[trial.id] = (decision.copy_weights_from, time)
        return decision

    # The explore step.
    def _explore(self, config: Config, rng: np.random.Generator) -> Config:
        out: Config = copy_tree(config)  # the GP chooses in _hand_out, where the trials are known
        return out

    def _hand_out(self, resume: Resume) -> Resume:
        if resume.from_trial is not None and resume.config is not None:
            trial = self._trials[resume.trial_id]
            point = self._points[resume.trial_id][-1]  # where it was ranked at the bottom
            start = self._latest.get(resume.from_trial, (point.time, point.score))[1]  # the weights it gets
            # From the seed and the decision only, like PBT's own choices: replays give the same draws.
            key = [self.seed & (2**64 - 1), 2, resume.trial_id, len(self._points[resume.trial_id])]
            with single_threaded():
                chosen = self._choose(point.time, start, np.random.default_rng(key))
            config = copy_tree(resume.config)
            for (key_path, (low, high)), x in zip(self.hyperparam_bounds.items(), chosen, strict=True):
                old = _get(trial.config, key_path)[1]
                value: float | int = float(x)
                if INTEGER.accepts(old):
                    value = int(min(max(round(x), math.ceil(low)), math.floor(high)))
                node = config
                for part in key_path[:-1]:
                    node = node[part]
                node[key_path[-1]] = value
            resume = Resume(resume.trial_id, config=config, from_trial=resume.from_trial)
        return super()._hand_out(resume)

    def _values(self, config: Config) -> tuple[float, ...]:
        return tuple(float(_get(config, key)[1]) for key in self.hyperparam_bounds)

    def _data(self) -> tuple[Array, Array]:
        """Rows (time, start score, hyperparameters) and improvement per unit time, oldest first."""
        rows: list[tuple[float, float, tuple[float, ...], float]] = []
        for trial_id, points in self._points.items():
            for before, after in itertools.pairwise(points):
                since, start = self._starts.get((trial_id, before.time), (before.time, before.score))
                if after.time <= since:
                    continue
                rows.append((after.time, start, after.values, (after.score - start) / (after.time - since)))
        rows.sort(key=lambda r: r[0])  # stable: ties keep trial order
        rows = rows[-WINDOW:]
        X = np.array([[t, s, *v] for t, s, v, _ in rows]).reshape(len(rows), 2 + len(self._low))
        return X, np.array([r[3] for r in rows])

    def _choose(self, time: float, start: float, rng: np.random.Generator) -> Array:
        """New hyperparameter values (in their units) for an interval from `time`, starting at score `start`."""
        X, y = self._data()
        dims = len(self._low)
        finite = np.isfinite(y) & np.isfinite(X[:, 1])
        if finite.sum() < 2:
            return np.asarray(self._low + rng.uniform(size=dims) * self._span, dtype=float)
        # A diverged interval counts as the worst one; a diverged start score as the lowest one.
        y = np.where(np.isfinite(y), y, y[finite].min())
        lowest = float(X[finite, 1].min())
        X[:, 1] = np.where(np.isfinite(X[:, 1]), X[:, 1], lowest)
        fixed = np.array([time, start if math.isfinite(start) else lowest])
        # Time and start score scaled by their range (the new point included), values by their bounds.
        low = np.minimum(X[:, :2].min(0), fixed)
        span = np.maximum(X[:, :2].max(0), fixed) - low
        span[span == 0] = 1.0
        Z = np.hstack([(X[:, :2] - low) / span, (X[:, 2:] - self._low) / self._span])
        y = np.clip((y - y.mean()) / (y.std() or 1.0), -2.0, 2.0)
        gp = GaussianProcess(2 + dims, time_dim=0).fit(Z, -y, rng=rng)  # the GP minimises
        point = (fixed - low) / span
        running = self._running_values()
        if len(running):
            P = np.hstack([np.tile(point, (len(running), 1)), (running - self._low) / self._span])
            gp.fit(np.vstack([Z, P]), np.concatenate([-y, gp.predict(P)[0]]), optimize=False)
        candidates = np.hstack([np.tile(point, (N_CANDIDATES, 1)), rng.uniform(size=(N_CANDIDATES, dims))])
        kappa = math.sqrt(0.2 + max(0.0, math.log(0.4 * len(y))))
        best, _ = maximize_acquisition(
            gp, candidates, list(range(2, 2 + dims)), kind="ucb", best=0.0, kappa=kappa, n_local=3
        )
        return np.asarray(self._low + np.clip(best[0, 2:], 0.0, 1.0) * self._span)

    def _running_values(self) -> Array:
        """Values of trials that run with newly chosen hyperparameters, not yet at their next point."""
        out = []
        for trial_id, trial in self._trials.items():
            points = self._points.get(trial_id)
            if trial_id in self._finished or not points:
                continue
            values = self._values(trial.config)
            if values != points[-1].values:
                out.append(values)
        return np.array(out).reshape(len(out), len(self._low))


def by_name() -> Scheduler:
    """`scheduler="pb2"` in `rung.run`: PB2 has no sensible defaults for its interval and bounds."""
    raise ValueError(
        "scheduler='pb2' needs settings: pass scheduler=rung.PB2(perturbation_interval=..., hyperparam_bounds={...})"
    )
