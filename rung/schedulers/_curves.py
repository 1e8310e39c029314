"""A learning-curve model: how good a trial will be at a longer training, with an uncertainty.

`AutoScheduler` asks it, at a milestone, for a trial's reward (higher is better) at the longest
training, as a mean and a standard deviation, and turns that into the probability that the trial
ends above a threshold (the best reward any trial reported so far). Two estimates are combined, each
weighted by its precision (the inverse of its variance), as a normal prior and a normal likelihood:

- the trial's own curve: its running best reward against time, fitted by a small ensemble of
  saturating power laws `r(t) = a - b * t**-c` (b >= 0; one exponent per member, from slow to fast
  saturation, as in the power-law ensembles of Kadra et al., "Scaling Laws for Hyperparameter
  Optimization", NeurIPS 2023) plus a flat member (the curve has stopped rising). Each member is a
  least-squares line in `t**-c`, so a fit is a few closed-form sums; members are weighted by their
  likelihood with a penalty per parameter (BIC). Its variance is the members' disagreement plus the
  residual variance, inflated the further the prediction reaches beyond the last point. It needs
  `MIN_POINTS` points: a single report says nothing about the slope.
- the population: what trials that trained to the end gained after each milestone (the mean and
  variance of `final - value at the milestone`, kept as running sums per milestone).

What is kept per trial is bounded: at most `MAX_POINTS` points (older points are thinned, every
other one, when there are more), and a fit is cached until the trial reports again. A trial's
record is dropped when it ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["EXPONENTS", "MAX_POINTS", "MIN_POINTS", "Curves", "Estimate", "fit_curve"]

EXPONENTS = np.array([0.25, 0.5, 1.0, 2.0])
"""The power laws' exponents: from curves that still rise at the end to ones that have saturated."""
MAX_POINTS = 48
"""The most points kept per trial (a trial reporting more keeps a thinned history)."""
MIN_POINTS = 3
"""A trial's own curve is fitted from this many points on (two parameters and a residual)."""


@dataclass(frozen=True)
class Estimate:
    """A predicted reward at some time: its mean and standard deviation (inf: nothing known)."""

    mean: float
    std: float

    def beats(self, threshold: float) -> float:
        """The probability that the reward ends above `threshold` (normal model)."""
        if math.isinf(self.std):
            return 0.5
        if self.std <= 0:
            return 1.0 if self.mean > threshold else 0.0
        return 0.5 * math.erfc((threshold - self.mean) / (self.std * math.sqrt(2)))


def fit_curve(times: np.ndarray, rewards: np.ndarray, horizon: float) -> Estimate:
    """The ensemble's prediction at `horizon` from one trial's points (running best rewards).

    Args:
        times: increasing, > 0.
        rewards: the running best reward at each time (non-decreasing).
        horizon: when to predict (at or after the last time).

    Returns:
        The weighted mean of the members' predictions and a standard deviation; for fewer than
        `MIN_POINTS` points, the last reward with an infinite deviation.
    """
    n = len(times)
    last_t, last_r = float(times[-1]), float(rewards[-1])
    if n < MIN_POINTS or horizon <= last_t:
        return Estimate(last_r, math.inf if n < MIN_POINTS and horizon > last_t else 0.0)
    # One row per power-law member: x = t**-c; regress the rewards on x (a line with slope -b).
    x = times[None, :] ** -EXPONENTS[:, None]
    x_mean = x.mean(axis=1)
    y_mean = float(rewards.mean())
    dx = x - x_mean[:, None]
    dy = rewards - y_mean
    sxx = (dx * dx).sum(axis=1)
    slope = np.where(sxx > 0, (dx * dy).sum(axis=1) / np.where(sxx > 0, sxx, 1.0), 0.0)
    slope = np.minimum(slope, 0.0)  # b >= 0: a learning curve does not fall with training
    intercept = y_mean - slope * x_mean
    fitted = intercept[:, None] + slope[:, None] * x
    rss = ((rewards[None, :] - fitted) ** 2).sum(axis=1)
    predicted = intercept + slope * horizon**-EXPONENTS
    # The flat member: the curve has stopped rising (its value: the recent level).
    flat_rss = float(((rewards - y_mean) ** 2).sum())
    predicted = np.append(predicted, last_r)
    rss = np.append(rss, flat_rss)
    params = np.append(np.full(len(EXPONENTS), 2.0), 1.0)
    # The noise floor is relative to how much the curve rose: a few points fit exactly otherwise,
    # and one member would take all the weight with no uncertainty.
    rise = last_r - float(rewards[0])
    floor = (1e-3 * rise) ** 2 + (1e-12 * max(abs(last_r), 1.0)) ** 2
    noise = np.maximum(rss / np.maximum(n - params, 1.0), floor)
    bic = n * np.log(noise) + params * math.log(n)
    weights = np.exp(-0.5 * (bic - bic.min()))
    weights /= weights.sum()
    mean = float(weights @ predicted)
    between = float(weights @ (predicted - mean) ** 2)
    residual = float(weights @ noise)
    reach = math.log(horizon / last_t)
    # Beyond the residuals and the members' disagreement, a tenth of the rise so far per e-fold of
    # extrapolation: a short curve's exact fit says little about its far future.
    std = math.sqrt(between + residual * (1.0 + reach) ** 2 + (0.1 * rise * reach) ** 2)
    # The prediction is of the running best: never below what the trial already reached.
    return Estimate(max(mean, last_r), std)


@dataclass
class _Trial:
    times: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)  # running best
    at_milestone: dict[int, float] = field(default_factory=dict)  # milestone index -> running best there
    fit: tuple[float, Estimate] | None = None  # (horizon, estimate), until the trial reports again
    counted: bool = False  # whether its gains were added to the population


class _Gains:
    """Running mean and variance of the gain from one milestone to the end (Welford)."""

    __slots__ = ("count", "m2", "mean")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, gain: float) -> None:
        self.count += 1
        delta = gain - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (gain - self.mean)

    def estimate(self) -> Estimate | None:
        if self.count < MIN_POINTS:
            return None
        return Estimate(self.mean, math.sqrt(self.m2 / (self.count - 1)))


class Curves:
    """Every running trial's curve and the population's gains; predictions at a horizon.

    Example:
        >>> curves = Curves()
        >>> for t in (1, 2, 3, 4, 5, 6):
        ...     curves.add(7, t, 1.0 - 1.0 / t)
        >>> round(curves.predict(7, 50).mean, 2)
        0.97
    """

    def __init__(self) -> None:
        self._trials: dict[int, _Trial] = {}
        self._gains: dict[int, _Gains] = {}
        self.best = -math.inf
        """The best reward any trial reported."""

    def add(self, trial_id: int, time: float, reward: float) -> None:
        """A trial's result (NaN rewards are skipped; times must grow, a repeated one replaces)."""
        if math.isnan(reward):
            return
        record = self._trials.get(trial_id)
        if record is None:
            record = self._trials[trial_id] = _Trial()
        self.best = max(self.best, reward)
        if record.times and time <= record.times[-1]:
            return  # a report again after a restart from an older checkpoint: the history stands
        running = max(reward, record.rewards[-1]) if record.rewards else reward
        record.times.append(time)
        record.rewards.append(running)
        record.fit = None
        if len(record.times) > MAX_POINTS:
            # Thin the older half (every other point): the shape stays, the cost stays bounded.
            half = MAX_POINTS // 2
            record.times[:half] = record.times[:half:2]
            record.rewards[:half] = record.rewards[:half:2]

    def passed(self, trial_id: int, milestone: int) -> None:
        """The trial passed milestone number `milestone` (its running best there is remembered)."""
        record = self._trials.get(trial_id)
        if record is not None and record.rewards:
            record.at_milestone.setdefault(milestone, record.rewards[-1])

    def finished(self, trial_id: int) -> None:
        """The trial trained to the end: what it gained after each milestone joins the population."""
        record = self._trials.get(trial_id)
        if record is None or record.counted or not record.rewards:
            return
        record.counted = True
        final = record.rewards[-1]
        for milestone, value in record.at_milestone.items():
            self._gains.setdefault(milestone, _Gains()).add(final - value)

    def forget(self, trial_id: int) -> None:
        self._trials.pop(trial_id, None)

    def last(self, trial_id: int) -> float:
        """The trial's running best (-inf if it reported nothing)."""
        record = self._trials.get(trial_id)
        return record.rewards[-1] if record is not None and record.rewards else -math.inf

    def predict(self, trial_id: int, horizon: float, milestone: int | None = None) -> Estimate:
        """The trial's running best at `horizon`: its own fit and, when `milestone` (the last one it
        passed) is given, the population's gain after it, combined by precision."""
        record = self._trials.get(trial_id)
        if record is None or not record.rewards:
            return Estimate(-math.inf, math.inf)
        if record.fit is not None and record.fit[0] == horizon:
            own = record.fit[1]
        else:
            own = fit_curve(np.asarray(record.times), np.asarray(record.rewards), horizon)
            record.fit = (horizon, own)
        gains = None if milestone is None else self._gains.get(milestone)
        prior = None if gains is None else gains.estimate()
        if prior is None or own.std == 0.0:
            return own
        base = record.at_milestone.get(milestone, record.rewards[-1]) if milestone is not None else record.rewards[-1]
        prior_mean, prior_var = base + max(prior.mean, 0.0), max(prior.std**2, 1e-18)
        if math.isinf(own.std):
            return Estimate(max(prior_mean, record.rewards[-1]), math.sqrt(prior_var))
        own_var = max(own.std**2, 1e-18)
        var = 1.0 / (1.0 / prior_var + 1.0 / own_var)
        mean = var * (prior_mean / prior_var + own.mean / own_var)
        return Estimate(max(mean, record.rewards[-1]), math.sqrt(var))
