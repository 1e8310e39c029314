"""What the schedulers share: reading a result, ranking in a rung.

MedianStopping, SuccessiveHalving, HyperBand, ASHA and PBT all read a time (`time_attr`) and
(but PBT) the metric from each result; the bracket schedulers rank the trials recorded at a rung.
Their arguments are checked by `rung._checks`.
"""

from __future__ import annotations

import math
from typing import Any

from rung._checks import Interval, check, check_order, fmt, plain
from rung._numbers import finite, is_number
from rung.errors import MetricNotReportedError
from rung.types import TrialInfo

__all__ = [
    "ResultReader",
    "check_ladder",
    "is_number",
    "needs_metric",
    "rank_key",
]

RankKey = tuple[int, float, int]


def needs_metric(owner: str, metric: str | None) -> str:
    """Early stopping compares trials by the run's metric: without one there is nothing to compare."""
    if metric is None:
        raise ValueError(f"{owner} needs a metric to compare trials: pass metric= to rung.run; got metric=None")
    return metric


class ResultReader:
    """Reads the time and the metric from a result, and rejects a `time_attr` the trials never report.

    `time`: a trial's first result must carry `time_attr` (else `MetricNotReportedError`, a
    ValueError, naming the keys it did report); a later result without it is skipped, as is a result
    without the metric. `exact_time` (PBT) wants a finite number in every result.
    """

    def __init__(self, owner: str, time_attr: str, metric: str) -> None:
        self.owner = owner
        self.time_attr = time_attr
        self.metric = metric
        self._seen: set[int] = set()

    def time(self, trial: TrialInfo, result: dict[str, Any]) -> float | None:
        value = result.get(self.time_attr)
        first = trial.id not in self._seen
        self._seen.add(trial.id)
        if is_number(value):
            return float(value)
        if first:
            raise self._missing(trial, result)
        return None

    def exact_time(self, trial: TrialInfo, result: dict[str, Any]) -> float:
        """The time of a result that must have one, a finite number (PBT's perturbation points)."""
        value = result.get(self.time_attr)
        if value is None or not finite(value):
            raise self._missing(trial, result)
        return float(value)

    def _missing(self, trial: TrialInfo, result: dict[str, Any]) -> MetricNotReportedError:
        if self.time_attr in result:
            return MetricNotReportedError(
                f"{self.owner} needs time_attr={self.time_attr!r} to be a finite number in every result;"
                f" trial {trial.id} reported {self.time_attr}={fmt(result[self.time_attr])}"
            )
        keys = ", ".join(sorted(map(str, result))) or "nothing"
        return MetricNotReportedError(
            f"{self.owner} needs time_attr={self.time_attr!r} in every result (a reported key that"
            f" increases); trial {trial.id} reported: {keys}"
        )

    def forget(self, trial_id: int) -> None:
        """Drop what is kept of an ended trial (the memory of ended trials would grow with their number)."""
        self._seen.discard(trial_id)

    def value(self, result: dict[str, Any]) -> float | None:
        """The metric as a float (NaN and infinities kept), or None if missing or not a number."""
        value = result.get(self.metric)
        return float(value) if is_number(value) else None


def rank_key(score: float, trial_id: int) -> RankKey:
    """Sort key for a rung: higher `score` first, NaN last, ties to the older trial (smaller id)."""
    if math.isnan(score):
        return (1, 0.0, trial_id)
    return (0, -score, trial_id)


def check_ladder(
    owner: str, max_t: Any, grace_period: Any, reduction_factor: Any, brackets: Any
) -> tuple[float, float, float, int]:
    """An asynchronous halving ladder's settings, checked (ASHA, MOASHA): max_t and grace_period > 0 in
    that order, reduction_factor >= 2, brackets >= 1."""
    positive = Interval(float, 0, None, closed="neither")
    max_t = plain(check(owner, "max_t", max_t, positive))
    grace_period = plain(check(owner, "grace_period", grace_period, positive))
    check_order(owner, "grace_period", grace_period, "max_t", max_t)
    reduction_factor = plain(check(owner, "reduction_factor", reduction_factor, Interval(float, 2, None)))
    return max_t, grace_period, reduction_factor, int(check(owner, "brackets", brackets, Interval(int, 1, None)))
