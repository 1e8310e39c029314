"""The median stopping rule (Golovin et al., Google Vizier, KDD 2017)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rung._checks import KEY, Boolean, Interval, check, plain
from rung.schedulers._brackets import ResultReader, needs_metric
from rung.schedulers.base import Scheduler
from rung.types import Decision, Resume, Start, Status, Suggestion, TrialInfo

__all__ = ["MedianStopping"]


@dataclass
class _Curve:
    """One trial's results as scores (higher is better), from `grace_period` on, with prefix sums."""

    times: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=lambda: [0.0])
    last: float = -math.inf  # the latest time reported (before the grace period too)
    best: float = math.nan  # the best score reported (before the grace period too)

    def mean_until(self, time: float) -> float | None:
        """The running mean of the scores reported up to `time` (None before the first)."""
        j = bisect.bisect_right(self.times, time)
        return self.sums[j] / j if j else None


class MedianStopping(Scheduler):
    """Stops a trial whose best result so far is worse than the median of the others' running means.

    At each result at time `t >= grace_period` (in units of `time_attr`), the other trials that have
    reached `t` each give the running mean of their results from `grace_period` to `t`; with at least
    `min_samples` such (finite) means, the trial is stopped if its best result so far is strictly
    worse than their median. `hard_stop=False` pauses it instead; paused trials resume (in trial
    order) once the searcher has no more configurations, and then run to their end.

    Cost: with a shared time grid (`training_iteration`, epochs) a decision is a few binary searches
    over the values recorded at that time. Times that differ between trials (seconds) are answered
    by a scan over all trials instead: O(trials) per decision.

    Args:
        grace_period: no trial is stopped before this time, and running means start here.
        min_samples: the fewest other trials to take a median of.
        hard_stop: stop (True) or pause (False) the trials below the median.
        time_attr: the reported key that measures progress.

    Example:
        >>> rung.run(train, space, metric="loss", scheduler=MedianStopping(grace_period=3))  # doctest: +SKIP
    """

    def __init__(
        self,
        grace_period: float = 1,
        min_samples: int = 3,
        hard_stop: bool = True,
        time_attr: str = "training_iteration",
    ) -> None:
        owner = "MedianStopping"
        self.grace_period = plain(check(owner, "grace_period", grace_period, Interval(float, 0, None)))
        self.min_samples = int(check(owner, "min_samples", min_samples, Interval(int, 1, None)))
        self.hard_stop = check(owner, "hard_stop", hard_stop, Boolean())
        self.time_attr = check(owner, "time_attr", time_attr, KEY)

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        self._reader = ResultReader("MedianStopping", self.time_attr, needs_metric("MedianStopping", metric))
        self._sign = 1.0 if mode == "max" else -1.0
        self._curves: dict[int, _Curve] = {}
        self._exact: dict[float, int] = {}  # time -> trials that reported at exactly that time
        # For times that many trials share: the sorted finite running means at that time of every
        # trial that has reached it, kept up to date as results arrive.
        self._index: dict[float, list[float]] = {}
        self._indexed: list[float] = []  # the keys of _index, sorted
        self._paused_by_rule: set[int] = set()
        self._stopped: set[int] = set()

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        value = self._reader.value(result)
        if trial.id in self._stopped:
            return Decision.STOP  # only after a resume: the driver died before the stop took effect
        if time is None or value is None or trial.id in self._paused_by_rule:
            return Decision.CONTINUE
        curve = self._curves.setdefault(trial.id, _Curve())
        if time > curve.last:
            # A trial restarted without a checkpoint reports earlier times again: those add nothing.
            self._add(curve, time, self._sign * value)
        if time < self.grace_period or time != curve.last:
            return Decision.CONTINUE
        median = self._median(trial.id, curve, time)
        if median is None or curve.best >= median:  # a NaN best is never good enough
            return Decision.CONTINUE
        if self.hard_stop:
            self._stopped.add(trial.id)
            return Decision.STOP
        self._paused_by_rule.add(trial.id)
        return Decision.PAUSE

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if new_allowed:
            return Start()
        if paused:
            return Resume(min(t.id for t in paused))
        return None

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        self._paused_by_rule.discard(trial.id)
        self._reader.forget(trial.id)

    # Bookkeeping.
    def _add(self, curve: _Curve, time: float, score: float) -> None:
        previous = curve.last
        curve.last = time
        if not math.isnan(score) and not score <= curve.best:  # `<=` is False for the initial NaN
            curve.best = score
        if time >= self.grace_period:
            curve.times.append(time)
            curve.sums.append(curve.sums[-1] + score)
        self._exact[time] = self._exact.get(time, 0) + 1
        # The trial now reaches every indexed time in (previous, time].
        lo = bisect.bisect_right(self._indexed, previous)
        hi = bisect.bisect_right(self._indexed, time)
        for t in self._indexed[lo:hi]:
            mean = curve.mean_until(t)
            if mean is not None and math.isfinite(mean):
                bisect.insort(self._index[t], mean)

    def _median(self, trial_id: int, curve: _Curve, time: float) -> float | None:
        own = curve.sums[-1] / len(curve.times)
        means = self._index.get(time)
        if means is None:
            means = sorted(
                m
                for c in self._curves.values()
                if c.last >= time and (m := c.mean_until(time)) is not None and math.isfinite(m)
            )
            # Index a time that other trials reported exactly: a shared grid, worth keeping.
            if self._exact[time] > self.min_samples:
                self._index[time] = means
                bisect.insort(self._indexed, time)
        skip = bisect.bisect_left(means, own) if math.isfinite(own) else None
        count = len(means) - (skip is not None)
        if count < self.min_samples:
            return None

        def kth(k: int) -> float:
            return means[k] if skip is None or k < skip else means[k + 1]

        half = count // 2
        return kth(half) if count % 2 else (kth(half - 1) + kth(half)) / 2
