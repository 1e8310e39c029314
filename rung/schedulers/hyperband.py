"""Synchronous successive halving and HyperBand (Li et al., JMLR 2018).

A bracket starts `size` trials. Each trains to the bracket's first milestone and pauses there
(checkpoint kept, slot freed). When every trial of the rung has arrived (or ended: an error or a
trial that finished early does not hold a rung up), the best 1/η of them (at least one) resume from
their checkpoints to the next milestone and the rest stop. At the last milestone (`max_t`) trials
stop. A trial that never checkpoints restarts from scratch when resumed (the tuner warns once). A
result at a milestone without the metric ranks last.

Free slots go to promotions first (oldest bracket first, best trial first), then to new trials:
a bracket takes new trials until it has `size`, then the next bracket opens (HyperBand cycles
through its table), so slots never idle while the searcher has configurations. When the searcher
runs out, the bracket still filling closes with the trials it has.

Resume: every decision is a function of the results and ends replayed from the store. A promotion
is not itself stored; a trial that reports again after reaching a milestone was promoted, which
also tells that its rung (and, for the first rung, its bracket) was complete. If its rung could not
have been decided yet, the driver died before the trial's pause took effect: it pauses again.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rung._checks import KEY, Interval, check, check_order, plain
from rung.schedulers._brackets import RankKey, ResultReader, needs_metric, rank_key
from rung.schedulers.base import Scheduler
from rung.types import Decision, Resume, Start, Status, Stop, Suggestion, TrialInfo

__all__ = ["BracketPlan", "HyperBand", "SuccessiveHalving"]

ETA = Interval(int, 2, None)  # reduction_factor: a whole number of trials keep going per rung


@dataclass(frozen=True)
class BracketPlan:
    """One synchronous bracket: the trials it starts and the milestone each rung trains to.

    Attributes:
        size: trials that start the bracket (n in Li et al.).
        milestones: the time each rung ends at (r_i); the last is `max_t`.
        reduction_factor: η; rung i keeps the best `size // η**i` trials (`rungs`).
    """

    size: int
    milestones: tuple[float, ...]
    reduction_factor: int

    @property
    def rungs(self) -> tuple[tuple[int, float], ...]:
        """(trials, milestone) per rung of a full bracket: (n_i, r_i) of Li et al., Table 1."""
        eta = self.reduction_factor
        return tuple((self.size // eta**i, m) for i, m in enumerate(self.milestones))


class _Bracket:
    """A running bracket: its trials, what each rung recorded, the decisions still to hand out."""

    def __init__(self, plan: BracketPlan) -> None:
        self.plan = plan
        self.last = len(plan.milestones) - 1
        self.members: list[int] = []
        self.ended = 0
        self.closed = False
        self.scores: list[dict[int, float]] = [{} for _ in plan.milestones]
        self.outstanding = [0] * len(plan.milestones)  # entrants neither recorded nor ended
        self.done = [False] * len(plan.milestones)
        self.winners: list[set[int]] = [set() for _ in plan.milestones]
        self.pending: deque[tuple[int, int, bool]] = deque()  # (rung, trial, promote) to hand out


class _Synchronous(Scheduler):
    """The synchronous bracket engine; subclasses give the plans (cycled through)."""

    name = "SuccessiveHalving"
    plans: list[BracketPlan]

    def fidelity(self) -> tuple[str, list[float]] | None:
        return self.time_attr, sorted({float(m) for plan in self.plans for m in plan.milestones})

    max_t: float
    reduction_factor: int
    time_attr: str

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        self._reader = ResultReader(self.name, self.time_attr, needs_metric(self.name, metric))
        self._sign = 1.0 if mode == "max" else -1.0
        self._brackets: list[_Bracket] = []
        self._opened = 0
        self._filling: _Bracket | None = None
        self._where: dict[int, tuple[_Bracket, int]] = {}
        self._ended: set[int] = set()
        self._trials: dict[int, TrialInfo] = {}

    def on_trial_add(self, trial: TrialInfo) -> None:
        bracket = self._filling
        if bracket is None:
            bracket = _Bracket(self.plans[self._opened % len(self.plans)])
            self._opened += 1
            self._brackets.append(bracket)
            self._filling = bracket
        bracket.members.append(trial.id)
        bracket.outstanding[0] += 1
        self._where[trial.id] = (bracket, 0)
        self._trials[trial.id] = trial
        if len(bracket.members) == bracket.plan.size:
            self._close(bracket)

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        if time is None or trial.id not in self._where:
            return Decision.CONTINUE
        bracket, rung = self._where[trial.id]
        if trial.id in bracket.scores[rung]:
            # It reports again after its milestone. On resume, where promotions are not replayed,
            # that means it was promoted if its rung could be decided by then (for the first rung,
            # the bracket had closed: the searcher ran out). Else the driver died before its pause
            # or stop took effect: it pauses (or stops) again.
            if rung == bracket.last:
                return Decision.COMPLETE
            ready = bracket.outstanding[rung] <= 0 and (rung == 0 or bracket.done[rung - 1])
            if not (bracket.done[rung] or ready):
                return Decision.PAUSE
            if rung == 0:
                self._close(bracket)
            self._decide(bracket, rung)
            if trial.id not in bracket.winners[rung]:
                return Decision.STOP
            rung += 1
            self._where[trial.id] = (bracket, rung)
        if time < bracket.plan.milestones[rung] and time < self.max_t:
            return Decision.CONTINUE
        value = self._reader.value(result)
        bracket.scores[rung][trial.id] = math.nan if value is None else self._sign * value
        bracket.outstanding[rung] -= 1
        self._check(bracket, rung)
        return Decision.COMPLETE if rung == bracket.last or time >= self.max_t else Decision.PAUSE

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        self._ended.add(trial.id)
        self._reader.forget(trial.id)
        where = self._where.get(trial.id)
        if where is None:
            return
        bracket, rung = where
        bracket.ended += 1
        if trial.id not in bracket.scores[rung]:
            bracket.outstanding[rung] -= 1  # it will never arrive: the rung does not wait for it
            self._check(bracket, rung)
        elif trial.id in bracket.winners[rung]:
            bracket.outstanding[rung + 1] -= 1  # promoted but ended before it resumed
            self._check(bracket, rung + 1)
        if bracket.closed and bracket.ended == len(bracket.members):
            self._brackets.remove(bracket)

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if not new_allowed and self._filling is not None:
            self._close(self._filling)
        for bracket in self._brackets:
            later: list[tuple[int, int, bool]] = []
            found: Suggestion | None = None
            while bracket.pending and found is None:
                entry = bracket.pending.popleft()
                rung, trial_id, promote = entry
                if self._where[trial_id] != (bracket, rung) or trial_id in self._ended:
                    continue  # already acted on (seen on resume)
                if self._trials[trial_id].status is not Status.PAUSED:
                    # Its pause is not through yet (the tuner marks it PAUSED, and lists it in
                    # `paused`, once the trial has stopped): ask again later.
                    later.append(entry)
                elif promote:
                    self._where[trial_id] = (bracket, rung + 1)
                    found = Resume(trial_id)
                else:
                    found = Stop(trial_id)
            bracket.pending.extendleft(reversed(later))
            if found is not None:
                return found
        return Start() if new_allowed else None

    # Rung bookkeeping.
    def _close(self, bracket: _Bracket) -> None:
        if not bracket.closed:
            bracket.closed = True
            if self._filling is bracket:
                self._filling = None
            self._check(bracket, 0)

    def _check(self, bracket: _Bracket, rung: int) -> None:
        """Decide `rung` once all its trials have arrived or ended (and, for the first, none can join)."""
        if bracket.done[rung] or bracket.outstanding[rung] > 0 or (rung == 0 and not bracket.closed):
            return
        if rung > 0 and not bracket.done[rung - 1]:
            return
        self._decide(bracket, rung)

    def _decide(self, bracket: _Bracket, rung: int) -> None:
        if bracket.done[rung]:
            return
        bracket.done[rung] = True
        if rung == bracket.last:
            return
        ranked: list[RankKey] = sorted(rank_key(s, t) for t, s in bracket.scores[rung].items())
        keep = max(1, len(ranked) // self.reduction_factor) if ranked else 0
        nxt = rung + 1
        for position, (_, _, trial_id) in enumerate(ranked):
            promote = position < keep
            bracket.pending.append((rung, trial_id, promote))
            if promote:
                bracket.winners[rung].add(trial_id)
                # A winner enters the next rung, unless it ended meanwhile or (on resume) is there.
                if trial_id not in self._ended and trial_id not in bracket.scores[nxt]:
                    bracket.outstanding[nxt] += 1
        self._check(bracket, nxt)


def _power_steps(low: float, high: float, eta: int) -> int:
    """The largest s with low * eta**s <= high (exact for integers)."""
    s = 0
    while low * eta ** (s + 1) <= high:
        s += 1
    return s


class SuccessiveHalving(_Synchronous):
    """Synchronous successive halving: one bracket of η^s trials from `min_t` up to `max_t`.

    The milestones are `min_t * η**i` for `i < s` and `max_t`, where s is the largest with
    `min_t * η**s <= max_t`; the bracket starts η^s trials and keeps the best 1/η at each rung. With
    more samples than that, another bracket follows.

    Args:
        min_t: the first milestone, in units of `time_attr`.
        max_t: the last milestone: trials stop there.
        reduction_factor: η, an integer >= 2.
        time_attr: the reported key that measures progress.

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=27,
        ...          scheduler=SuccessiveHalving(min_t=1, max_t=27))  # doctest: +SKIP
    """

    def __init__(
        self,
        min_t: float = 1,
        max_t: float = 81,
        reduction_factor: int = 3,
        time_attr: str = "training_iteration",
    ) -> None:
        name = "SuccessiveHalving"
        positive = Interval(float, 0, None, closed="neither")
        self.min_t = plain(check(name, "min_t", min_t, positive))
        self.max_t = plain(check(name, "max_t", max_t, positive))
        check_order(name, "min_t", min_t, "max_t", max_t)
        self.reduction_factor = int(check(name, "reduction_factor", reduction_factor, ETA))
        self.time_attr = check(name, "time_attr", time_attr, KEY)
        eta = self.reduction_factor
        s = _power_steps(self.min_t, self.max_t, eta)
        milestones = (*(self.min_t * eta**i for i in range(s)), self.max_t)
        self.plans = [BracketPlan(eta**s, milestones, eta)]


class HyperBand(_Synchronous):
    """HyperBand: successive-halving brackets from aggressive to none, as in Li et al. 2018.

    With s_max the largest s such that η^s <= max_t, bracket s (from s_max down to 0) starts
    `ceil((s_max + 1) * η**s / (s + 1))` trials at `max_t / η**s` (rounded up for an integer max_t)
    and halves them up to `max_t`. For max_t=81 and η=3: (81, 1), (34, 3), (15, 9), (8, 27), (5, 81)
    (trials, milestone). After the last bracket the table starts again while the searcher has configs.

    Args:
        max_t: the largest time a trial trains for (units of `time_attr`; the smallest is 1).
        reduction_factor: η, an integer >= 2.
        time_attr: the reported key that measures progress.

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=143,
        ...          scheduler=HyperBand(max_t=81, reduction_factor=3))  # doctest: +SKIP
    """

    name = "HyperBand"

    def __init__(self, max_t: float = 81, reduction_factor: int = 3, time_attr: str = "training_iteration") -> None:
        self.max_t = plain(check("HyperBand", "max_t", max_t, Interval(float, 1, None)))
        self.reduction_factor = int(check("HyperBand", "reduction_factor", reduction_factor, ETA))
        self.time_attr = check("HyperBand", "time_attr", time_attr, KEY)
        eta, top = self.reduction_factor, self.max_t
        s_max = _power_steps(1, top, eta)
        self.plans = []
        for s in range(s_max, -1, -1):
            size = -(-(s_max + 1) * eta**s // (s + 1))
            milestones = tuple(_scaled(top, eta, i, s) for i in range(s + 1))
            self.plans.append(BracketPlan(size, milestones, eta))


def _scaled(top: float, eta: int, i: int, s: int) -> float:
    """max_t * η**(i - s): rounded up to an integer when max_t is one."""
    if isinstance(top, int):
        return int(-(-top * eta**i // eta**s))
    return float(top * eta**i / eta**s)
