"""What a run optimises: one or several metrics, constraints on reported values, and how trials
compare under them.

A trial is judged by one of its results (its *judged result*, stored as the trial's `best_result`):

- one objective: its best result by the metric, among the results that meet every constraint when
  it has any (else among all, and it is infeasible);
- several objectives: its last result that reports every objective as a number, the result at which
  it ended (the objectives trade off along a run, and the model one deploys is the one trained last;
  the best of each objective would mix iterations).

A trial is feasible when its judged result meets every constraint (a constrained key it does not
report breaks the constraint). Infeasible trials are never best and never on the Pareto front.

`pareto_ranks`, `front_of`, `epsilon_net_order` and `hypervolume` (from `rung._pareto`) work on
losses (every objective minimised: a maximised one negated), rows of a 2-D array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung._checks import fmt
from rung._numbers import better, finite, is_number
from rung._pareto import epsilon_net_order, front_of, hypervolume, pareto_ranks
from rung.errors import MultiObjectiveError

__all__ = [
    "Constraint",
    "Objectives",
    "epsilon_net_order",
    "front_of",
    "hypervolume",
    "pareto_ranks",
]

OPS = ("<=", ">=")
MODES = ("min", "max")


@dataclass(frozen=True)
class Constraint:
    """`key op bound` on a reported value, e.g. `model_mb <= 50`.

    `monotone`: the value only moves away from the bound as a trial trains (its size, its training
    time), so once a result breaks it every later one does: the trial is stopped then (STOPPED).
    """

    key: str
    op: str
    bound: float
    monotone: bool = False

    def excess(self, result: Mapping[str, Any]) -> float:
        """How far the result's value is past the bound (<= 0: met); inf when it is not a finite number."""
        value: Any = result.get(self.key)
        if not finite(value):
            return math.inf
        return float(value) - self.bound if self.op == "<=" else self.bound - float(value)

    def broken(self, result: Mapping[str, Any]) -> bool:
        """Whether the result reports the key, as a number, past the bound (a result without it breaks
        nothing yet: this is what stops a monotone constraint's trial early)."""
        value = result.get(self.key)
        if not is_number(value) or math.isnan(value):
            return False
        return self.excess(result) > 0

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.bound:g}" + (" (monotone)" if self.monotone else "")

    def to_json(self) -> list[Any]:
        return [self.op, self.bound, "monotone"] if self.monotone else [self.op, self.bound]


def _constraint(key: Any, spec: Any) -> Constraint:
    where = f"constraints[{key!r}]"
    if not isinstance(key, str) or not key:
        raise TypeError(f"constraints needs str keys naming reported values; got {key!r}")
    shape = '("<=", bound) or (">=", bound), with "monotone" as a third item to stop a trial once it breaks it'
    if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
        raise TypeError(f"{where} must be {shape}; got {spec!r}")
    op, bound, *rest = spec
    if op not in OPS:
        raise ValueError(f"{where} needs the operator '<=' or '>='; got {op!r}")
    if not finite(bound):
        raise ValueError(f"{where} needs a finite number as its bound; got {fmt(bound)}")
    if rest and rest[0] != "monotone":
        raise ValueError(f'{where} takes "monotone" as its third item (or nothing); got {rest[0]!r}')
    return Constraint(key, op, float(bound), bool(rest))


def _names(metric: Any) -> tuple[str, ...]:
    if isinstance(metric, str):
        return (metric,)
    if not isinstance(metric, (list, tuple)) or not metric:
        raise TypeError(f"metric must be a str naming a reported key, or a list of them; got {metric!r}")
    for name in metric:
        if not isinstance(name, str) or not name:
            raise TypeError(f"metric must be a list of str naming reported keys; got {metric!r}")
    if len(set(metric)) != len(metric):
        raise ValueError(f"metric names each objective once; got {list(metric)!r}")
    return tuple(metric)


@dataclass(frozen=True)
class Objectives:
    """The metrics a run optimises (each with its mode), its constraints, and optional weights that
    pick one best trial among several objectives (`scalarize`).

    Build it with `Objectives.of(metric, mode, constraints=..., scalarize=...)` (checked), or read a
    stored experiment's with `Objectives.stored(metric, mode, settings)`.

    Example:
        >>> o = Objectives.of(["acc", "ms"], ["max", "min"], constraints={"mb": ("<=", 50)})
        >>> o.losses({"acc": 0.9, "ms": 12.0}), o.feasible({"mb": 60})
        ((-0.9, 12.0), False)
    """

    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()
    weights: tuple[float, ...] | None = None

    @classmethod
    def of(
        cls,
        metric: str | Sequence[str],
        mode: str | Sequence[str],
        *,
        constraints: Mapping[str, Any] | None = None,
        scalarize: Mapping[str, float] | None = None,
        mode_of: Any = None,
    ) -> Objectives:
        """The checked record of `rung.run`'s `metric`, `mode`, `constraints` and `scalarize`.

        `mode` is one mode for every objective or a list of as many; `mode_of` (optional) reads one
        mode's spelling (Optuna's "maximize" too).
        """
        metrics = _names(metric)
        read = mode_of or (lambda m: m)
        if isinstance(mode, str):
            modes = (read(mode),) * len(metrics)
        elif isinstance(mode, (list, tuple)) and len(mode) == len(metrics):
            modes = tuple(read(m) for m in mode)
        else:
            raise ValueError(
                f"mode must be one mode for every objective or a list of {len(metrics)} (one per metric);"
                f" got mode={mode!r} for metric={list(metrics)!r}"
            )
        for m in modes:
            if m not in MODES:
                raise ValueError(f"mode must be 'min' or 'max' (one per objective); got {m!r}")
        if constraints is not None and not isinstance(constraints, Mapping):
            raise TypeError(f'constraints must be a dict {{key: ("<=", bound)}}; got {constraints!r}')
        checked = tuple(_constraint(k, v) for k, v in (constraints or {}).items())
        weights = None
        if scalarize is not None:
            weights = _weights(scalarize, metrics, modes)
        return cls(metrics, modes, checked, weights)

    @classmethod
    def stored(cls, metric: str | None, mode: str | None, settings: Mapping[str, Any] | None) -> Objectives | None:
        """A stored experiment's objectives: from its settings when it has several objectives or
        constraints, else its metric and mode columns (stores from before they existed too); None
        when it has no metric."""
        kept = (settings or {}).get("objectives")
        if isinstance(kept, Mapping):
            constraints = {k: tuple(v) for k, v in (kept.get("constraints") or {}).items()}
            return cls.of(
                list(kept["metrics"]), list(kept["modes"]), constraints=constraints, scalarize=kept.get("scalarize")
            )
        if metric is None:
            return None
        return cls((metric,), (mode or "min",))

    # What it is.
    @property
    def multi(self) -> bool:
        """Several objectives."""
        return len(self.metrics) > 1

    @property
    def plain(self) -> bool:
        """One objective, no constraints: judged as rung always judged (best value of the metric)."""
        return not self.multi and not self.constraints

    @property
    def monotone(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.monotone)

    def describe(self) -> str:
        """ "acc (max), ms (min)", and the constraints: what error messages and views name."""
        said = ", ".join(f"{m} ({mode})" for m, mode in zip(self.metrics, self.modes, strict=True))
        if self.constraints:
            said += "; constraints " + ", ".join(str(c) for c in self.constraints)
        return said

    def to_json(self) -> dict[str, Any]:
        """The settings' `objectives` entry (what a resume and every view read back)."""
        return {
            "metrics": list(self.metrics),
            "modes": list(self.modes),
            "constraints": {c.key: c.to_json() for c in self.constraints},
            "scalarize": None if self.weights is None else dict(zip(self.metrics, self.weights, strict=True)),
        }

    def same_problem(self, other: Objectives | None) -> bool:
        """Whether `other` optimises the same objectives under the same constraints (weights may differ)."""
        return other is not None and (self.metrics, self.modes, self.constraints) == (
            other.metrics,
            other.modes,
            other.constraints,
        )

    # Reading results.
    def reports(self, result: Mapping[str, Any]) -> bool:
        """Whether the result reports every objective as a number."""
        return all(is_number(result.get(m)) for m in self.metrics)

    def losses(self, result: Mapping[str, Any] | None) -> tuple[float, ...] | None:
        """The objectives as losses (a maximised one negated), or None unless every one is finite."""
        if result is None:
            return None
        out = []
        for metric, mode in zip(self.metrics, self.modes, strict=True):
            value: Any = result.get(metric)
            if not finite(value):
                return None
            out.append(-float(value) if mode == "max" else float(value))
        return tuple(out)

    def violation(self, result: Mapping[str, Any] | None) -> float:
        """The sum of how far each constraint is broken (0: feasible; inf: a constrained key missing)."""
        if result is None:
            return math.inf if self.constraints else 0.0
        return sum(max(c.excess(result), 0.0) for c in self.constraints)

    def feasible(self, result: Mapping[str, Any] | None) -> bool:
        """Whether the result meets every constraint (None: no result, which meets none)."""
        if not self.constraints:
            return result is not None
        return result is not None and all(c.excess(result) <= 0 for c in self.constraints)

    def broken_monotone(self, result: Mapping[str, Any]) -> Constraint | None:
        """The first monotone constraint this result breaks, if any."""
        for constraint in self.constraints:
            if constraint.monotone and constraint.broken(result):
                return constraint
        return None

    def judge(self, judged: Mapping[str, Any] | None, result: Mapping[str, Any]) -> bool:
        """Whether `result` becomes the trial's judged result in place of `judged` (see the module)."""
        if self.multi:
            return self.reports(result)
        metric = self.metrics[0]
        value: Any = result.get(metric)
        if not finite(value):
            return False
        if judged is None:
            return True
        if self.constraints:
            now, before = self.feasible(result), self.feasible(judged)
            if now != before:
                return now
        return better(float(value), float(judged[metric]), self.modes[0])

    def score(self, result: Mapping[str, Any] | None) -> float | None:
        """The loss by which trials compete for best (lower is better): the metric (negated if
        maximised), or with several objectives the weighted sum of their losses; None when the
        result is infeasible, not finite, or there are several objectives and no weights."""
        if self.multi and self.weights is None:
            return None
        losses = self.losses(result)
        if losses is None or not self.feasible(result):
            return None
        if not self.multi:
            return losses[0]
        return float(sum(w * v for w, v in zip(self.weights or (), losses, strict=True)))

    def front(self, judged: Sequence[tuple[int, Mapping[str, Any] | None]]) -> list[int]:
        """The ids of the non-dominated trials among `(trial id, judged result)` pairs: feasible, every
        objective finite, no other such trial at least as good in every objective and better in one.
        Ordered by the first objective (best first), then by id."""
        rows = [(i, p) for i, r in judged if (p := self.losses(r)) is not None and self.feasible(r)]
        if not rows:
            return []
        ranks = pareto_ranks(np.array([p for _, p in rows], dtype=float))
        front = [(p, i) for (i, p), rank in zip(rows, ranks, strict=True) if rank == 0]
        return [i for _, i in sorted(front)]

    def no_single_best(self, asked: str, name: str) -> MultiObjectiveError:
        """The error of asking for one best trial of a run with several objectives and no weights."""
        weights = ", ".join(f'"{m}": 1.0' for m in self.metrics)
        return MultiObjectiveError(
            f"{asked}: experiment {name!r} has {len(self.metrics)} objectives ({self.describe()}), so no single"
            " trial is best: use result.pareto_front() (the trials no other beats in every objective), or"
            f" weigh them: result.get_best(scalarize={{{weights}}}) (or pass scalarize= to rung.run)"
        )


def _weights(scalarize: Any, metrics: tuple[str, ...], modes: tuple[str, ...]) -> tuple[float, ...]:
    if len(metrics) < 2:
        raise ValueError(f"scalarize weighs several objectives into one; this run has one: metric={metrics[0]!r}")
    if not isinstance(scalarize, Mapping) or set(scalarize) != set(metrics):
        raise ValueError(
            f"scalarize must be a dict giving every objective a weight > 0 ({', '.join(repr(m) for m in metrics)});"
            f" got {scalarize!r}"
        )
    out = []
    for metric, mode in zip(metrics, modes, strict=True):
        weight = scalarize[metric]
        if not finite(weight) or weight <= 0:
            raise ValueError(
                f"scalarize needs a weight > 0 for each objective (the direction comes from its mode: {metric!r} is"
                f" {'maximised' if mode == 'max' else 'minimised'}); got {metric}={fmt(weight)}"
            )
        out.append(float(weight))
    return tuple(out)
