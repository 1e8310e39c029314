"""What the early-stopping schedulers share: argument checks, reading a result, ranking in a rung.

MedianStopping, SuccessiveHalving, HyperBand and ASHA all read a time (`time_attr`) and the metric
from each result, check their arguments the same way, and (the bracket schedulers) rank the trials
recorded at a rung.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from rung._numbers import is_number
from rung.errors import MetricNotReportedError
from rung.types import TrialInfo

__all__ = [
    "ResultReader",
    "check_int",
    "check_real",
    "check_time_attr",
    "is_number",
    "needs_metric",
    "rank_key",
]

RankKey = tuple[int, float, int]


def check_real(owner: str, name: str, value: Any, *, low: float, strict: bool) -> float:
    """`value` as a float; it must be a finite number > `low` (`strict`) or >= `low`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner} needs {name} to be a finite number; got {name}={value!r}")
    if (value <= low) if strict else (value < low):
        raise ValueError(f"{owner} needs {name} {'>' if strict else '>='} {low:g}; got {name}={value!r}")
    # Integers stay integers: milestones computed from them stay exact.
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_int(owner: str, name: str, value: Any, *, low: int) -> int:
    """`value` as an int; it must be an integer >= `low`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{owner} needs {name} to be an integer >= {low}; got {name}={value!r}")
    if value < low:
        raise ValueError(f"{owner} needs {name} >= {low}; got {name}={value!r}")
    return int(value)


def check_time_attr(owner: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{owner} needs time_attr to be the name of a reported key; got time_attr={value!r}")
    return value


def needs_metric(owner: str, metric: str | None) -> str:
    """Early stopping compares trials by the run's metric: without one there is nothing to compare."""
    if metric is None:
        raise ValueError(f"{owner} needs a metric to compare trials: pass metric= to rung.run; got metric=None")
    return metric


class ResultReader:
    """Reads the time and the metric from a result, and rejects a `time_attr` the trials never report.

    A trial's first result must carry `time_attr` (else `MetricNotReportedError`, a ValueError, naming
    the keys it did report); a later result without it is skipped, as is a result without the metric.
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
            keys = ", ".join(sorted(result)) or "nothing"
            raise MetricNotReportedError(
                f"{self.owner} needs time_attr={self.time_attr!r} in every result (a reported key that"
                f" increases); trial {trial.id} reported: {keys}"
            )
        return None

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
