"""Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020), as stopping (Ray Tune's rule, decision for decision) or promotion (the paper's
Algorithm 2)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rung._checks import KEY, Options, check
from rung.schedulers._brackets import RankKey, ResultReader, check_ladder, is_number, needs_metric, rank_key
from rung.schedulers.base import Scheduler
from rung.types import Decision, Resume, Start, Status, Suggestion, TrialInfo

__all__ = ["ASHA"]

VARIANTS = ("stop", "promote")


class _Rung:
    """One milestone of a bracket and the rewards recorded there (higher is better)."""

    def __init__(self, milestone: float, quantile: float) -> None:
        self.milestone = milestone
        self.quantile = quantile
        self.count = 0  # rewards recorded here, NaN included
        self.recorded: set[int] = set()  # the trials recorded here, until they end
        self.values: list[float] = []  # the non-NaN rewards, sorted
        # Promotion: every entry's rank key, and the entries still waiting here, both sorted.
        self.keys: list[RankKey] = []
        self.waiting: list[RankKey] = []

    def record(self, trial_id: int, reward: float) -> None:
        self.count += 1
        self.recorded.add(trial_id)
        if not math.isnan(reward):
            bisect.insort(self.values, reward)

    def cutoff(self) -> float | None:
        """`numpy.nanpercentile(rewards, 100 * quantile)` (the "linear" method), bit for bit.

        Computed on the sorted rewards kept up to date, so a decision costs O(log n), not a sort.
        """
        if not self.count:
            return None
        values = self.values
        n = len(values)
        if n == 0:
            return math.nan  # all NaN: numpy's answer too (without its warning)
        q = self.quantile
        index = (n - 1) * q  # numpy's virtual index for the linear method
        if index >= n - 1:
            below = above = n - 1
            gamma = index + 1  # numpy measures gamma from the index -1 it uses here
        elif index < 0:
            below = above = 0
            gamma = index
        else:
            below = math.floor(index)
            above = below + 1
            gamma = index - below
        a, b = values[below], values[above]
        diff = b - a
        return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class _Bracket:
    """Ray Tune's `_Bracket`: rungs at grace_period * rf**(k + s), highest first."""

    def __init__(self, grace_period: float, max_t: float, rf: float, s: int) -> None:
        count = int(np.log(max_t / grace_period) / np.log(rf) - s + 1)
        # Ray's percentile, then numpy's division by 100: kept as two steps for the same float.
        quantile = (1 - 1 / rf) * 100 / 100
        self.rungs = [_Rung(grace_period * rf ** (k + s), quantile) for k in reversed(range(count))]

    def on_result(self, trial_id: int, time: float, reward: float) -> Decision:
        """Record the trial at the highest milestone it passed and has no record at; judge it there."""
        for rung in self.rungs:
            if time < rung.milestone or trial_id in rung.recorded:
                continue
            cutoff = rung.cutoff()
            rung.record(trial_id, reward)
            return Decision.STOP if cutoff is not None and reward < cutoff else Decision.CONTINUE
        return Decision.CONTINUE


class ASHA(Scheduler):
    """Asynchronous successive halving, by stopping or by promotion.

    Rungs sit at `grace_period * reduction_factor**(k + s)` for bracket s (as in Ray Tune); trials
    stop at `max_t`. With several `brackets`, each new trial joins one at random, with probability
    proportional to e**(its number of rungs) (Ray Tune's rule), drawn from a generator seeded by the
    run's seed.

    `variant="stop"`: at the first result at or past a milestone (the highest one it passed and has
    no record at), a trial stops if its reward is below the `1 - 1/reduction_factor` percentile
    (numpy's linear interpolation, NaN ignored) of the rewards already recorded at that rung, and
    its reward is recorded there; the first arrival at a rung always continues. A trial that ends
    (not by an error) is recorded once more with its last result. For the same results and the same
    bracket of each trial, these decisions equal Ray Tune 2.x's `AsyncHyperBandScheduler`
    (`tests/test_asha_vs_ray.py`), cost O(log n) instead of a percentile over the whole rung, and,
    unlike Ray, a trial whose first result lacks `time_attr` is an error rather than ignored.

    `variant="promote"` (Algorithm 2 of the paper): a trial pauses at each milestone below `max_t`;
    a free slot resumes the best paused trial that is in the top `floor(n / reduction_factor)` of
    the n recorded at its rung, trying the highest milestones first (then the lower bracket), else
    starts a new trial. The paper assumes an endless supply of configurations; with `num_samples`,
    once the searcher has no more, each rung promotes at least its best trial (as synchronous
    successive halving does with a bracket that could not fill), so at least one trial always
    reaches `max_t` even when floor(n / reduction_factor) is 0 at the top rungs. When no paused
    trial qualifies and nothing runs, the run ends and the trials still paused end STOPPED (as in
    Syne Tune, whose tuner ends once its searcher is exhausted and nothing runs). That always ends:
    each promotion moves a trial up one of finitely many rungs.

    A result without the metric is skipped (CONTINUE), as in Ray Tune.

    Args:
        max_t: trials stop at this time (units of `time_attr`).
        grace_period: the first milestone.
        reduction_factor: the rate of halving (>= 2; need not be an integer).
        brackets: the number of brackets (each starts one milestone higher).
        variant: "stop" or "promote".
        time_attr: the reported key that measures progress.

    Attributes:
        bracket_probabilities: the chance of a new trial to join each bracket (after `setup`).

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=64,
        ...          scheduler=ASHA(max_t=81, grace_period=1, reduction_factor=3))  # doctest: +SKIP
    """

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
            "ASHA", max_t, grace_period, reduction_factor, brackets
        )
        self.variant = check("ASHA", "variant", variant, Options(VARIANTS))
        # Promotion may end a run with trials still paused (never good enough): the contract suite
        # (rung.testing.schedulers) reads this.
        self.leaves_paused = variant == "promote"
        self.time_attr = check("ASHA", "time_attr", time_attr, KEY)

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        self._reader = ResultReader("ASHA", self.time_attr, needs_metric("ASHA", metric))
        self._op = 1.0 if mode == "max" else -1.0
        self._rng = np.random.default_rng(seed)
        self._brackets = [
            _Bracket(self.grace_period, self.max_t, self.reduction_factor, s) for s in range(self.brackets)
        ]
        sizes = np.array([len(b.rungs) for b in self._brackets])
        weights = np.e ** (sizes - sizes.max())
        self.bracket_probabilities: list[float] = list(weights / weights.sum())
        self._bracket_of: dict[int, _Bracket] = {}
        self._trials: dict[int, TrialInfo] = {}
        # Promotion: the rungs below max_t, highest milestone first, and where each trial waits.
        self._ladder = sorted(
            ((r.milestone, i, r) for i, b in enumerate(self._brackets) for r in b.rungs if r.milestone < self.max_t),
            key=lambda item: (-item[0], item[1]),
        )
        self._waits_at: dict[int, tuple[_Rung, RankKey]] = {}
        self._stopped: set[int] = set()

    def fidelity(self) -> tuple[str, list[float]] | None:
        return self.time_attr, sorted({m for bracket in self.milestones for m in bracket})

    @property
    def milestones(self) -> list[list[float]]:
        """Each bracket's milestones, highest first (after `setup`)."""
        return [[r.milestone for r in b.rungs] for b in self._brackets]

    def bracket_of(self, trial_id: int) -> int:
        """The index of the bracket the trial joined."""
        return self._brackets.index(self._bracket_of[trial_id])

    def on_trial_add(self, trial: TrialInfo) -> None:
        index = 0
        if len(self._brackets) > 1:
            index = int(self._rng.choice(len(self._brackets), p=self.bracket_probabilities))
        self._bracket_of[trial.id] = self._brackets[index]
        self._trials[trial.id] = trial

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        value = self._reader.value(result)
        if time is None or value is None:
            return Decision.CONTINUE
        reward = self._op * value
        if self.variant == "promote":
            return self._promote_result(trial.id, time, reward)
        if time >= self.max_t:
            return Decision.COMPLETE
        if trial.id in self._stopped:
            # Only after a resume: the driver died before the stop took effect.
            return Decision.STOP
        decision = self._bracket_of[trial.id].on_result(trial.id, time, reward)
        if decision is Decision.STOP:
            self._stopped.add(trial.id)
        return decision

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        # An ended trial is never asked about again: only its records in the rungs stay.
        bracket = self._bracket_of.pop(trial.id, None)
        self._trials.pop(trial.id, None)
        self._reader.forget(trial.id)
        if bracket is None:
            return  # told of its end before (or never added): nothing of it is left here
        self._stopped.discard(trial.id)
        if self.variant == "promote":
            self._stop_waiting(trial.id)
        elif status is not Status.ERROR:
            # As Ray Tune does when a trial completes or is stopped: its last result counts once
            # more, at the highest milestone it passed without a record there.
            last = trial.last_result
            time, value = last.get(self.time_attr), self._reader.value(last)
            if is_number(time) and value is not None:
                bracket.on_result(trial.id, float(time), self._op * value)
        for rung in bracket.rungs:  # its rewards stay in the cut-offs and ranks; its id is not asked for again
            rung.recorded.discard(trial.id)

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if self.variant == "promote" and paused:
            chosen = self._promotable(at_least=0 if new_allowed else 1)
            if chosen is not None:
                self._stop_waiting(chosen)
                return Resume(chosen)
        return Start() if new_allowed else None

    # Promotion.
    def _promote_result(self, trial_id: int, time: float, reward: float) -> Decision:
        # Reporting again while waiting at a milestone means it was promoted (seen on resume, where
        # promotions are not replayed).
        self._stop_waiting(trial_id)
        key = rank_key(reward, trial_id)
        passed = [r for r in self._bracket_of[trial_id].rungs if time >= r.milestone and trial_id not in r.recorded]
        for rung in passed:
            rung.record(trial_id, reward)
            bisect.insort(rung.keys, key)
        if time >= self.max_t:
            return Decision.COMPLETE
        if not passed:
            return Decision.CONTINUE
        top = passed[0]  # the highest milestone passed: the trial waits there
        bisect.insort(top.waiting, key)
        self._waits_at[trial_id] = (top, key)
        return Decision.PAUSE

    def _stop_waiting(self, trial_id: int) -> None:
        where = self._waits_at.pop(trial_id, None)
        if where is not None:
            rung, key = where
            del rung.waiting[bisect.bisect_left(rung.waiting, key)]

    def _promotable(self, at_least: int) -> int | None:
        # A trial is resumable once the tuner has marked it PAUSED (its `paused` argument lists
        # exactly those): reading the status avoids a set of all paused trials per free slot.
        for _, _, rung in self._ladder:
            quota = min(len(rung.keys), max(at_least, int(len(rung.keys) // self.reduction_factor)))
            if quota == 0:
                continue
            last_in = rung.keys[quota - 1]
            for key in rung.waiting:  # best first
                if key > last_in:
                    break  # not in the top 1/η, and neither is any after it
                if self._trials[key[2]].status is Status.PAUSED:
                    return key[2]
        return None
