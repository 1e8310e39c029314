"""Money: what a trial costs (its resources x its wall time x a price per resource-hour), the budget
that ends an experiment when the money is spent, and the driver's running account of both.

A trial's wall time is the time its objective measures (`time_total_s`, on the simulated executor
the curve's recorded time), counted up to its latest report. A trial that is started again (a retry,
a resume after a stop or a kill) goes on from its latest stored cost, not from its checkpoint's: the
work redone after the checkpoint was paid for once already. So the money spent is each trial's
latest stored `cost`, summed, and it survives a kill -9 with the results that carry it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rung._checks import Interval, check

__all__ = ["BUDGET_KEYS", "Budget", "Prices", "Spending"]

BUDGET_KEYS = ("cost", "time_s")
NODE_TYPES = "node_types"
"""The key of `prices` that holds prices per Ray node type: `{"node_types": {"a100": {"gpu": 4.1}}}`."""


def _price(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} must be a finite number >= 0 (money per resource-hour); got {where}={value!r}")
    return float(value)


def _resource_prices(given: Any, where: str, known: tuple[str, ...] | None) -> dict[str, float]:
    if not isinstance(given, Mapping):
        raise TypeError(
            f"{where} must be a dict {{resource: price per resource-hour}}, e.g. {{'cpu': 0.04, 'gpu': 2.5}};"
            f" got {given!r}"
        )
    out = {}
    for key, value in given.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where} takes resource names (str) as keys; got {key!r}")
        if known is not None and key not in known:
            names = ", ".join(repr(k) for k in known)
            raise ValueError(
                f"{where} takes the resources trials hold on this executor ({names}; custom resources and"
                f" node types are priced on Ray only); got {where}[{key!r}]={value!r}"
            )
        out[key] = _price(f"{where}[{key!r}]", value)
    return out


@dataclass(frozen=True)
class Prices:
    """Prices per resource-hour: `{"cpu": 0.04, "gpu": 2.50}`; on Ray, also custom resources and,
    under `"node_types"`, other prices on the nodes of a type (by the node's `ray.io/node-group`
    label: `{"gpu": 2.5, "node_types": {"a100-workers": {"gpu": 4.1}}}`).

    Example:
        >>> Prices.of({"cpu": 0.04, "gpu": 2.5}).rate({"cpu": 4, "gpu": 1})
        2.66
    """

    per_hour: Mapping[str, float]
    node_types: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, prices: Any, *, ray: bool = False) -> Prices | None:
        """The checked prices (None: no prices); `ray=False` allows only "cpu" and "gpu"."""
        if prices is None:
            return None
        if not isinstance(prices, Mapping):
            raise TypeError(
                f"prices must be a dict {{resource: price per resource-hour}}, e.g. {{'cpu': 0.04, 'gpu': 2.5}};"
                f" got {prices!r}"
            )
        known = None if ray else ("cpu", "gpu")
        flat = {k: v for k, v in prices.items() if k != NODE_TYPES}
        per_hour = _resource_prices(flat, "prices", known)
        types = prices.get(NODE_TYPES, {})
        if types and not ray:
            raise ValueError(f"prices['node_types'] prices Ray's node types; it needs executor='ray'; got {types!r}")
        if not isinstance(types, Mapping):
            raise TypeError(f"prices['node_types'] must be a dict {{node type: {{resource: price}}}}; got {types!r}")
        node_types = {str(t): _resource_prices(p, f"prices['node_types'][{t!r}]", None) for t, p in types.items()}
        return cls(per_hour, node_types)

    def rate(self, resources: Mapping[str, float], node_type: str | None = None) -> float:
        """Money per hour of a trial holding `resources` (on a node of `node_type`, when known)."""
        own = self.node_types.get(node_type, {}) if node_type is not None else {}
        return sum(amount * own.get(name, self.per_hour.get(name, 0.0)) for name, amount in resources.items())

    def to_json(self) -> dict[str, Any]:
        """As stored with the settings (and given back to `rung.run` by `rung resume`)."""
        out: dict[str, Any] = dict(self.per_hour)
        if self.node_types:
            out[NODE_TYPES] = {t: dict(p) for t, p in self.node_types.items()}
        return out


@dataclass(frozen=True)
class Budget:
    """When the experiment ends: `cost` (money, across every run of it) and `time_s` (seconds of this run)."""

    cost: float | None = None
    time_s: float | None = None

    @classmethod
    def of(cls, budget: Any, time_budget_s: Any, prices: Prices | None) -> Budget:
        """`budget={"cost": 20.0, "time_s": 3600}` and `time_budget_s`, checked (the time given once)."""
        if budget is None:
            budget = {}
        if not isinstance(budget, Mapping):
            raise TypeError(f"budget must be a dict like {{'cost': 20.0, 'time_s': 3600}}; got {budget!r}")
        unknown = [k for k in budget if k not in BUDGET_KEYS]
        if unknown:
            raise ValueError(f"budget takes the keys 'cost' and 'time_s'; got budget={dict(budget)!r}")
        if "time_s" in budget and time_budget_s is not None and budget["time_s"] != time_budget_s:
            raise ValueError(
                "budget['time_s'] and time_budget_s are the same budget: give it once; got"
                f" budget['time_s']={budget['time_s']!r}, time_budget_s={time_budget_s!r}"
            )
        values: dict[str, float | None] = {}
        for key in BUDGET_KEYS:
            name = f"budget[{key!r}]" if key in budget else "time_budget_s"
            value = budget.get(key, time_budget_s if key == "time_s" else None)
            checked = check(None, name, value, Interval(float, 0, None, closed="neither"), None)
            values[key] = None if checked is None else float(checked)
        if values["cost"] is not None and prices is None:
            raise ValueError(
                f"budget['cost'] needs prices= (what a resource-hour costs, e.g. prices={{'cpu': 0.04}}); got"
                f" budget['cost']={values['cost']!r} and prices=None"
            )
        return cls(values["cost"], values["time_s"])


Where = Callable[[int], tuple[Mapping[str, float], str | None]]
"""A running trial's resources and its node's type (None: not known), asked of the executor (Ray's)."""


class Spending:
    """The driver's account: each trial's cost so far, and the money spent by all of them.

    `launched` starts a trial's stretch of running (its cost base: its latest stored cost, and the
    wall time it starts from: its checkpoint's); `charge` sets a result's `cost`; `replayed` reads one
    back on resume; `ended` lets go of a trial (its cost stays in `total`).

    Args:
        prices: the prices per resource-hour.
        resources: what each trial holds, e.g. `{"cpu": 1.0, "gpu": 0.0}`.
        where: for executors that place each trial somewhere of their choosing (Ray): the trial's
            resources and node type, asked at its first report of each stretch (it is placed by then).
    """

    def __init__(self, prices: Prices, resources: Mapping[str, float], where: Where | None = None) -> None:
        self.prices = prices
        self.total = 0.0
        self._rate = prices.rate(resources)
        self._where = where
        self._cost: dict[int, float] = {}  # trials not ended: their latest cost
        self._run: dict[int, tuple[float, float, float | None]] = {}  # running: (cost base, time base, rate)

    def launched(self, trial_id: int, time_total: float) -> None:
        """The trial starts running from `time_total` seconds of its own wall time."""
        rate = self._rate if self._where is None else None  # Ray's: once the trial is placed
        self._run[trial_id] = (self._cost.get(trial_id, 0.0), time_total, rate)

    def charge(self, trial_id: int, result: dict[str, Any]) -> float:
        """Put the trial's cost so far into `result["cost"]` (and into `total`); return it."""
        base, since, rate = self._run[trial_id]
        if rate is None and self._where is not None:
            rate = self.prices.rate(*self._where(trial_id))
            self._run[trial_id] = (base, since, rate)
        took = float(result.get("time_total_s", since)) - since
        cost = base + (rate or 0.0) * max(0.0, took) / 3600.0
        self.total += cost - self._cost.get(trial_id, 0.0)
        self._cost[trial_id] = result["cost"] = cost
        return cost

    def replayed(self, trial_id: int, result: Mapping[str, Any]) -> None:
        """A stored result, read back on resume: its cost is spent."""
        cost = result.get("cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            self.total += cost - self._cost.get(trial_id, 0.0)
            self._cost[trial_id] = float(cost)

    def stopped(self, trial_id: int) -> None:
        """The trial stopped running (ended, paused, failed): its stretch is over."""
        self._run.pop(trial_id, None)

    def ended(self, trial_id: int) -> None:
        """The trial has ended: nothing of it is kept but its share of `total`."""
        self._cost.pop(trial_id, None)
        self._run.pop(trial_id, None)
