"""Multi-objective ASHA (Schmucker et al., "Multi-objective Asynchronous Successive Halving", 2021):
asynchronous successive halving that ranks the trials at a rung by non-dominated sorting, ties within
a front broken by an epsilon-net, as Syne Tune's `MOASHA` does."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rung._checks import KEY, Options, check
from rung.objectives import Objectives, epsilon_net_order, front_of, pareto_ranks
from rung.schedulers._brackets import ResultReader, check_ladder
from rung.schedulers.base import Scheduler
from rung.types import Decision, Resume, Start, Status, Suggestion, TrialInfo

__all__ = ["MOASHA", "MilestoneRanks"]

VARIANTS = ("stop", "promote")


class _Rung:
    """One milestone and the results recorded there: feasible points (losses), and the violations of
    the infeasible ones (sorted), and how many had an objective that was not finite."""

    def __init__(self, milestone: float) -> None:
        self.milestone = milestone
        self.points: list[tuple[float, ...]] = []
        self.violations: list[float] = []
        self.not_finite = 0
        self.recorded: set[int] = set()  # the trials recorded here, until they end
        # Promotion only: who holds each record, the trials waiting here, and the ranking (cached
        # until the next record).
        self.point_ids: list[int] = []
        self.violation_ids: list[int] = []
        self.not_finite_ids: list[int] = []
        self.waiting: set[int] = set()
        self._ranking: list[int] | None = None

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

    def record(self, trial_id: int, point: tuple[float, ...] | None, violation: float) -> None:
        """Records a result for promotion (`place` without computing the place)."""
        self._ranking = None
        if point is None:
            self.not_finite += 1
            self.not_finite_ids.append(trial_id)
        elif violation > 0:
            at = bisect.bisect_right(self.violations, violation)
            self.violations.insert(at, violation)
            self.violation_ids.insert(at, trial_id)
        else:
            self.points.append(point)
            self.point_ids.append(trial_id)

    def ranking(self, limit: int | None = None) -> list[int]:
        """The recorded trials best first, in the order `place` ranks by: the feasible ones front by
        front, each front in epsilon-net order; then the infeasible ones, least broken first; then
        those whose objective was not finite. With a `limit`, at least its first `limit` (the fronts
        peeled only that far, not cached: a decision reads the top share, not the whole ranking)."""
        if limit is not None and limit < len(self.points):
            return self._rank(limit)
        if self._ranking is None:
            self._ranking = self._rank(None)
        return self._ranking

    def within(self, trial_id: int, places: int) -> bool:
        """Whether the trial is among the first `places` of `ranking()` (fronts peeled only that far,
        and only the trial's own front put in epsilon-net order)."""
        if places <= 0:
            return False
        if trial_id not in self.point_ids:  # infeasible or not finite: after every feasible point
            return trial_id in self.ranking(places)[:places]
        losses = np.array(self.points, dtype=float)
        row = self.point_ids.index(trial_id)
        ranks = pareto_ranks(losses, until=places)  # past `places` rows, the rest share one last rank
        before = int((ranks < ranks[row]).sum())
        front = np.flatnonzero(ranks == ranks[row])
        if before + len(front) <= places or before >= places:
            return before < places
        order = [int(front[i]) for i in epsilon_net_order(losses[front])]
        return before + order.index(row) < places

    def _rank(self, limit: int | None) -> list[int]:
        order: list[int] = []
        if self.points:
            losses = np.array(self.points, dtype=float)
            ranks = pareto_ranks(losses, until=limit)  # past `limit` rows, the rest share one last rank
            for rank in range(int(ranks.max()) + 1):
                if limit is not None and len(order) >= limit:
                    return order
                rows = np.flatnonzero(ranks == rank)
                order += [self.point_ids[int(rows[i])] for i in epsilon_net_order(losses[rows])]
        return order + self.violation_ids + self.not_finite_ids


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

    `variant="promote"` (as `rung.ASHA(variant="promote")`, with this ranking): a trial pauses at each
    milestone below `max_t`; a free slot resumes a paused trial that is among the top
    `floor(n / reduction_factor)` of the n ranked at its rung, highest milestones first, else starts a
    new trial. Once the searcher has no more, each rung promotes at least its best trial, so at least
    one trial reaches `max_t`; trials never good enough stay paused and end STOPPED with the run.
    The objective must checkpoint (`rung.get_checkpoint`) for a resumed trial to continue its training.

    Args:
        max_t: trials stop at this time (units of `time_attr`).
        grace_period: the first milestone.
        reduction_factor: the rate of halving (>= 2).
        brackets: the number of brackets; a new trial joins one at random as in ASHA.
        variant: "stop" or "promote".
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
        variant: str = "stop",
        time_attr: str = "training_iteration",
    ) -> None:
        self.max_t, self.grace_period, self.reduction_factor, self.brackets = check_ladder(
            "MOASHA", max_t, grace_period, reduction_factor, brackets
        )
        self.variant = check("MOASHA", "variant", variant, Options(VARIANTS))
        self.leaves_paused = variant == "promote"  # read by the contract suite (rung.testing.schedulers)
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
        self._trials: dict[int, TrialInfo] = {}
        # Promotion: the rungs below max_t, highest milestone first, and where each trial waits.
        self._ladder = sorted(
            ((r.milestone, i, r) for i, b in enumerate(self._rungs) for r in b if r.milestone < self.max_t),
            key=lambda item: (-item[0], item[1]),
        )
        self._waits_at: dict[int, _Rung] = {}

    def set_objectives(self, objectives: Objectives) -> None:
        self._objectives = objectives

    def fidelity(self) -> tuple[str, list[float]] | None:
        return self.time_attr, sorted({r.milestone for bracket in self._rungs for r in bracket})

    def on_trial_add(self, trial: TrialInfo) -> None:
        index = 0
        if len(self._rungs) > 1:
            index = int(self._rng.choice(len(self._rungs), p=self.bracket_probabilities))
        self._bracket_of[trial.id] = self._rungs[index]
        self._trials[trial.id] = trial

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        objectives = self._objectives
        if time is None or not objectives.reports(result):
            return Decision.CONTINUE
        if self.variant == "promote":
            return self._promote_result(trial.id, time, result)
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
        self._trials.pop(trial.id, None)
        self._stop_waiting(trial.id)
        for rung in bracket or ():
            rung.recorded.discard(trial.id)  # its result stays in the ranking; its id is not asked for again

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if self.variant == "promote" and paused:
            chosen = self._promotable(at_least=0 if new_allowed else 1)
            if chosen is not None:
                self._stop_waiting(chosen)
                return Resume(chosen)
        return Start() if new_allowed else None

    # Promotion.
    def _promote_result(self, trial_id: int, time: float, result: dict[str, Any]) -> Decision:
        # Reporting again while waiting means it was promoted (seen on resume, where promotions are
        # not replayed).
        self._stop_waiting(trial_id)
        objectives = self._objectives
        point, violation = objectives.losses(result), objectives.violation(result)
        passed = [r for r in self._bracket_of[trial_id] if time >= r.milestone and trial_id not in r.recorded]
        for rung in passed:
            rung.recorded.add(trial_id)
            rung.record(trial_id, point, violation)
        if time >= self.max_t:
            return Decision.COMPLETE
        if not passed:
            return Decision.CONTINUE
        top = passed[0]  # the highest milestone passed: the trial waits there
        top.waiting.add(trial_id)
        self._waits_at[trial_id] = top
        return Decision.PAUSE

    def _stop_waiting(self, trial_id: int) -> None:
        rung = self._waits_at.pop(trial_id, None)
        if rung is not None:
            rung.waiting.discard(trial_id)

    def _promotable(self, at_least: int) -> int | None:
        return _promotable((rung for _, _, rung in self._ladder), self.reduction_factor, at_least, self._trials)


def _promotable(
    rungs: Iterable[_Rung], reduction_factor: float, at_least: int, trials: Mapping[int, TrialInfo]
) -> int | None:
    """The paused trial to resume: of the rungs in the order given, the first one's best trial waiting
    there within its top `floor(n / reduction_factor)` (at least `at_least`) of the n ranked there."""
    for rung in rungs:
        if not rung.waiting:
            continue
        quota = min(rung.count, max(at_least, int(rung.count // reduction_factor)))
        for trial_id in rung.ranking(quota)[:quota]:  # best first
            trial = trials.get(trial_id)
            if trial_id in rung.waiting and trial is not None and trial.status is Status.PAUSED:
                return trial_id
    return None


class MilestoneRanks:
    """Several objectives at `rung.AutoScheduler`'s milestones: the trials recorded at each one ranked as
    MOASHA ranks them (non-dominated sorting, each front in epsilon-net order; infeasible results after,
    least broken first; those with an objective not finite last).

    `AutoScheduler` keeps its own rules (brackets, pioneers, pause with a checkpoint, else stop) and
    asks this for the ranks: `record` a result at the milestones it passed, then `leads`, `in_top` and
    `survives` (MOASHA's stopping rule) at the highest; `wait` there when paused, `promotable` to resume.

    Args:
        objectives: the run's objectives (several), and its constraints.
        reduction_factor: η: the top share of a milestone is 1/η of the trials recorded there.
    """

    def __init__(self, objectives: Objectives, reduction_factor: float) -> None:
        self.objectives = objectives
        self.reduction_factor = reduction_factor
        self._rungs: list[_Rung] = []  # by milestone index (the milestones themselves are AutoScheduler's)
        self._waits_at: dict[int, _Rung] = {}

    def _rung(self, k: int) -> _Rung:
        while len(self._rungs) <= k:
            self._rungs.append(_Rung(float(len(self._rungs))))
        return self._rungs[k]

    def record(self, trial_id: int, result: Mapping[str, Any], milestones: range) -> None:
        """Records the result (one reporting every objective) at each of these milestones (indexes)."""
        point, violation = self.objectives.losses(result), self.objectives.violation(result)
        for k in milestones:
            self._rung(k).record(trial_id, point, violation)

    def decide(
        self, trial: TrialInfo, result: Mapping[str, Any], passed: range, judged_from: float, pioneer: bool
    ) -> Decision | None:
        """`AutoScheduler`'s rank rules for a result that passed the milestones `passed` (indexes): None if
        it lacks an objective (not recorded); else recorded there and, at the highest (k), CONTINUE below
        `judged_from` (its bracket's first judged milestone), if it leads k as a `pioneer`, or in k's top
        share; else PAUSE with a checkpoint, else CONTINUE if it `survives` k, else STOP."""
        if not self.objectives.reports(result):
            return None
        self.record(trial.id, result, passed)
        k = passed[-1]
        if k < judged_from or (self.leads(trial.id, k) if pioneer else self.in_top(trial.id, k)):
            return Decision.CONTINUE
        if trial.checkpoint_iteration is not None:
            self.wait(trial.id, k)
            return Decision.PAUSE
        return Decision.CONTINUE if self.survives(trial.id, k) else Decision.STOP

    def _among_first(self, trial_id: int, k: int, places: int) -> bool:
        return self._rung(k).within(trial_id, places)

    def leads(self, trial_id: int, k: int) -> bool:
        """Whether the trial ranks first at milestone k."""
        return self._among_first(trial_id, k, 1)

    def in_top(self, trial_id: int, k: int) -> bool:
        """Whether the trial is among the best `floor(n / reduction_factor)` of the n at milestone k."""
        return self._among_first(trial_id, k, int(self._rung(k).count // self.reduction_factor))

    def survives(self, trial_id: int, k: int) -> bool:
        """MOASHA's stopping rule at milestone k: the first arrival goes on, a later one if its place p
        (0-based) among the n recorded there, itself included, has p / n <= 1 / reduction_factor."""
        n = self._rung(k).count
        return n == 1 or self._among_first(trial_id, k, math.floor(n / self.reduction_factor) + 1)

    def wait(self, trial_id: int, k: int) -> None:
        """The trial pauses at milestone k (until `promotable` picks it, or it reports again)."""
        rung = self._rung(k)
        rung.waiting.add(trial_id)
        self._waits_at[trial_id] = rung

    def stop_waiting(self, trial_id: int) -> None:
        rung = self._waits_at.pop(trial_id, None)
        if rung is not None:
            rung.waiting.discard(trial_id)

    def promotable(self, at_least: int, trials: Mapping[int, TrialInfo]) -> int | None:
        """The paused trial to resume: the best waiting in the top share of its milestone, highest first."""
        return _promotable(reversed(self._rungs), self.reduction_factor, at_least, trials)
