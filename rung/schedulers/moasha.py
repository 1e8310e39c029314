"""Multi-objective ASHA (Schmucker et al., "Multi-objective Asynchronous Successive Halving", 2021):
asynchronous successive halving that ranks the trials at a rung by non-dominated sorting, ties within
a front broken by an epsilon-net, as Syne Tune's `MOASHA` does."""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from rung._checks import KEY, Interval, check, check_order, plain
from rung.objectives import Objectives, epsilon_net_order, front_of
from rung.schedulers._brackets import ResultReader
from rung.schedulers.base import Scheduler
from rung.types import Decision, Status, TrialInfo

__all__ = ["MOASHA"]


class _Rung:
    """One milestone and the results recorded there: feasible points (losses), and the violations of
    the infeasible ones (sorted), and how many had an objective that was not finite."""

    def __init__(self, milestone: float) -> None:
        self.milestone = milestone
        self.points: list[tuple[float, ...]] = []
        self.violations: list[float] = []
        self.not_finite = 0
        self.recorded: set[int] = set()  # the trials recorded here, until they end

    @property
    def count(self) -> int:
        return len(self.points) + len(self.violations) + self.not_finite

    def place(self, point: tuple[float, ...] | None, violation: float) -> int:
        """The 0-based place a new result would take here (and does: it is recorded): feasible points
        first, by non-domination rank, then within their front by epsilon-net order (the new point
        last among equal ones); then infeasible ones, least broken first; then those not finite."""
        if point is None:
            self.not_finite += 1
            return self.count - 1
        if violation > 0:
            at = bisect.bisect_left(self.violations, violation)
            self.violations.insert(at, violation)
            return len(self.points) + at
        self.points.append(point)
        losses = np.array(self.points, dtype=float)
        new = len(self.points) - 1
        before, front = front_of(losses, new)
        order = [int(front[i]) for i in epsilon_net_order(losses[front])]
        return before + order.index(new)


class MOASHA(Scheduler):
    """Asynchronous successive halving with several objectives (MO-ASHA), by stopping.

    Rungs sit where `rung.ASHA`'s do (`grace_period * reduction_factor**(k + s)` for bracket s). At
    the first result at or past a milestone (the highest it passed and has no record at), the trial's
    result is placed among those recorded at that rung: feasible results first, ranked by
    non-dominated sorting (the Pareto front first), each front ordered by an epsilon-net (Clarkson's:
    from the best point in the first objective, each next point the farthest from those taken, the
    objectives scaled to [0, 1] over the front), so that the top of a front spreads along it;
    infeasible results (that break a constraint of the run) after them, least broken first; results
    with an objective not finite last. The trial continues if its place p (0-based) among the n
    results there, its own included, is in the top 1/reduction_factor (p / n <= 1 / reduction_factor);
    the first arrival at a rung always continues. Trials stop at `max_t`. A result that lacks an
    objective is skipped (CONTINUE). With one objective it is ASHA ranking by the metric.

    Only stopping (not promotion: a paused trial is judged by its place at one rung).

    Args:
        max_t: trials stop at this time (units of `time_attr`).
        grace_period: the first milestone.
        reduction_factor: the rate of halving (>= 2).
        brackets: the number of brackets; a new trial joins one at random as in ASHA.
        time_attr: the reported key that measures progress.

    Example:
        >>> rung.run(train, space, metric=["val_acc", "latency_ms"], mode=["max", "min"], num_samples=64,
        ...          scheduler=rung.MOASHA(max_t=27, grace_period=1, reduction_factor=3))  # doctest: +SKIP
    """

    multi_objective = True

    def __init__(
        self,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        brackets: int = 1,
        time_attr: str = "training_iteration",
    ) -> None:
        positive = Interval(float, 0, None, closed="neither")
        self.max_t = plain(check("MOASHA", "max_t", max_t, positive))
        self.grace_period = plain(check("MOASHA", "grace_period", grace_period, positive))
        check_order("MOASHA", "grace_period", grace_period, "max_t", max_t)
        self.reduction_factor = plain(check("MOASHA", "reduction_factor", reduction_factor, Interval(float, 2, None)))
        self.brackets = int(check("MOASHA", "brackets", brackets, Interval(int, 1, None)))
        self.time_attr = check("MOASHA", "time_attr", time_attr, KEY)

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        if metric is None:
            raise ValueError("MOASHA needs a metric to compare trials: pass metric= to rung.run; got metric=None")
        self._objectives = Objectives((metric,), (mode,))
        self._reader = ResultReader("MOASHA", self.time_attr, metric)
        self._rng = np.random.default_rng(seed)
        rf = self.reduction_factor
        self._rungs: list[list[_Rung]] = []
        for s in range(self.brackets):
            count = int(np.log(self.max_t / self.grace_period) / np.log(rf) - s + 1)
            self._rungs.append([_Rung(self.grace_period * rf ** (k + s)) for k in reversed(range(count))])
        sizes = np.array([len(b) for b in self._rungs])
        weights = np.e ** (sizes - sizes.max())
        self.bracket_probabilities: list[float] = list(weights / weights.sum())
        self._bracket_of: dict[int, list[_Rung]] = {}
        self._stopped: set[int] = set()

    def set_objectives(self, objectives: Objectives) -> None:
        self._objectives = objectives

    def fidelity(self) -> tuple[str, list[float]] | None:
        return self.time_attr, sorted({r.milestone for bracket in self._rungs for r in bracket})

    def on_trial_add(self, trial: TrialInfo) -> None:
        index = 0
        if len(self._rungs) > 1:
            index = int(self._rng.choice(len(self._rungs), p=self.bracket_probabilities))
        self._bracket_of[trial.id] = self._rungs[index]

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        objectives = self._objectives
        if time is None or not objectives.reports(result):
            return Decision.CONTINUE
        if time >= self.max_t:
            return Decision.COMPLETE
        if trial.id in self._stopped:
            return Decision.STOP  # only after a resume: the driver died before the stop took effect
        for rung in self._bracket_of[trial.id]:
            if time < rung.milestone or trial.id in rung.recorded:
                continue
            first = rung.count == 0
            rung.recorded.add(trial.id)
            place = rung.place(objectives.losses(result), objectives.violation(result))
            if first or place / rung.count <= 1 / self.reduction_factor:
                return Decision.CONTINUE
            self._stopped.add(trial.id)
            return Decision.STOP
        return Decision.CONTINUE

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        bracket = self._bracket_of.pop(trial.id, None)
        self._reader.forget(trial.id)
        self._stopped.discard(trial.id)
        for rung in bracket or ():
            rung.recorded.discard(trial.id)  # its result stays in the ranking; its id is not asked for again
