"""`rung.run`'s default scheduler: asynchronous successive halving that needs no `max_t` and adapts to
the objective (`AutoScheduler`, scheduler="auto").

What it learns from the first results, and what it does then:

- an objective that reports once (every trial ends after its first result): nothing to schedule,
  every trial runs to its end (FIFO);
- one that reports a learning curve (a trial reports a second time): successive halving at
  geometric milestones `grace_period * reduction_factor**k` of `time_attr`. At a milestone, a trial
  in the top `1/reduction_factor` of the trials recorded there goes on at once; any other trial
  PAUSES when it has a checkpoint to resume from (`TrialInfo.checkpoint_iteration`), and is resumed
  later if it enters the top share as more trials arrive (promotion, Algorithm 2 of Li et al.,
  MLSys 2020); without a checkpoint it goes on if it beats the `1 - 1/reduction_factor` quantile
  of the trials recorded there before it, else it STOPS (Ray Tune's stopping rule), since a paused
  trial without a checkpoint would train again from its start.

As HyperBand hedges against low milestones that rank trials badly (Li et al., JMLR 2018), each new
trial joins one of `brackets` brackets at random: bracket s judges its trials from milestone s on
(they pass the lower ones, where their results still count for the others), in HyperBand's
proportions (with 4 brackets and η=3: 55%, 24%, 12%, 8% of the trials).

With `pioneers = True` (off by default), the first trial to reach a milestone that no trial has
passed yet goes on if it leads there: early in a run, a top share of a milestone holds no trial
yet, and without this rule the first trial to train to the end waits for dozens to be judged
below it. With TPE starting after 5 ended trials it was worse on LCBench at 10, 30 and 100 full
trainings of compute (BENCHMARKS.md, "The default at small budgets").

With `model="curves"` (an option; the default is `"ranks"`, see BENCHMARKS.md "A default that
reads learning curves") a learning-curve model (`_curves.py`: each trial's own curve
fitted by an ensemble of power laws, and what trials that trained to the end gained after each
milestone) predicts each trial's best at the longest training, with a standard deviation, and the
decisions read its chance to end above the best result so far (`Estimate.beats`):
- trials are ranked at a milestone by their prediction rather than by what they reached;
- a judged trial goes on when that chance is at least `GO`, whatever its rank (also while the
  milestone holds too few trials for a top share); one in the top share goes on only if its
  chance is at least `HOPELESS`;
- a trial its bracket does not judge yet still pauses (or stops) when its chance is below
  `HOPELESS`: the bracket hedges against ranks that mislead, not against curves that are flat;
- a free slot resumes, of the paused trials in the top share of their milestone and not hopeless,
  the one with the highest chance.
With too little data (fewer than 3 points of a trial's curve and fewer than 3 trials trained to
the end) the model has no opinion and the ranks decide. `model="ranks"` is the rank rule alone.

Several objectives (`metric=[...]`, `rung.run`'s default there too): the rank rules above, the trials
at a milestone ranked as `rung.MOASHA` ranks them (non-dominated sorting, ties by epsilon-net;
`moasha.MilestoneRanks`), MOASHA's stopping rule without a checkpoint; the curve model is not used.

The ladder has no top: a trial promoted past the last milestone trains to its own end. The longest
training (`max_t`) is `stop={time_attr: N}` when given (milestones stop below it), else what the
trials show: the longest that ended on their own. Until the first trial has reported twice, a trial
at a milestone goes on (the scheduler cannot tell yet whether a second report will come).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rung._checks import KEY, Interval, Options, check, plain
from rung.objectives import Objectives
from rung.schedulers._brackets import RankKey, ResultReader, is_number, needs_metric, rank_key
from rung.schedulers._curves import Curves, Estimate
from rung.schedulers.base import Scheduler
from rung.schedulers.moasha import MilestoneRanks
from rung.types import Decision, Resume, Start, Status, Suggestion, TrialInfo

__all__ = ["AutoScheduler"]

log = logging.getLogger("rung")

GO = 0.3
"""With the curve model: a trial at a milestone goes on (or is resumed) when the probability that it
ends above the best reward reported so far is at least this, whatever its rank there."""
HOPELESS = 0.05
"""With the curve model: a trial goes on from a milestone only when that probability is at least
this, whatever its rank there."""

OPEN_LADDER = 9
"""Milestones listed by `fidelity()` when no `max_t` is known (1 to 6,561 with the defaults); trials
that train longer have further milestones all the same."""


class _Rung:
    """One milestone: the rewards recorded there (higher is better) and the trials paused there."""

    __slots__ = ("keys", "milestone", "values", "waiting")

    def __init__(self, milestone: float) -> None:
        self.milestone = milestone
        self.keys: list[RankKey] = []  # every entry's rank key, best first
        self.values: list[float] = []  # the non-NaN rewards, ascending (the stopping rule's quantile)
        self.waiting: list[RankKey] = []  # the entries paused here, best first

    def record(self, key: RankKey) -> None:
        bisect.insort(self.keys, key)
        if key[0] == 0:
            bisect.insort(self.values, -key[1])

    def quota(self, at_least: int, eta: float) -> int:
        """How many of the entries make the top share (at least `at_least`, at most all)."""
        return min(len(self.keys), max(at_least, int(len(self.keys) // eta)))

    def in_top(self, key: RankKey, eta: float, at_least: int = 0) -> bool:
        quota = self.quota(at_least, eta)
        return quota > 0 and key <= self.keys[quota - 1]

    def beats_cutoff(self, reward: float, eta: float) -> bool:
        """The stopping rule: first arrivals go on; later ones if at or above the 1 - 1/eta quantile
        of the rewards recorded before them (linear interpolation, as numpy's percentile)."""
        values = self.values
        if not values:
            return not math.isnan(reward) or not self.keys
        if math.isnan(reward):
            return False
        index = (len(values) - 1) * (1 - 1 / eta)
        below = math.floor(index)
        above = min(below + 1, len(values) - 1)
        cutoff = values[below] + (values[above] - values[below]) * (index - below)
        return reward >= cutoff


class AutoScheduler(Scheduler):
    """Successive halving that finds the objective's length itself and pauses only what can resume.

    The scheduler `rung.run` uses when neither `search=` nor `scheduler=` is given (with TPE learning
    at its milestones, BOHB-style); pass it as `scheduler="auto"` or an object to use it with another
    searcher. See the module's docstring for every rule.

    Args:
        reduction_factor: η: a share 1/η of the trials at a milestone goes on to the next; milestones
            grow by η.
        grace_period: the first milestone.
        max_t: the longest a trial trains (units of `time_attr`); None: learnt from the trials (or
            from `stop=`, which `rung.run` passes on).
        time_attr: the reported key that measures training.
        brackets: how many brackets (1: every trial is judged from the first milestone on).
        model: "curves" (decide with the learning-curve model, see the module's docstring) or
            "ranks" (by the ranks at each milestone alone).

    Attributes:
        kind: "unknown" until a trial ends or reports twice, then "curves" (trials report a learning
            curve) or "once" (each trial reports one result).
        max_t_from: where `max_t` came from: "argument", "stop", "trials" or None (not known yet).
        pioneers: whether the first trial to reach a milestone goes on if it leads there (False).
        go, hopeless, prune_all: the curve model's thresholds (`GO`, `HOPELESS`) and whether a
            hopeless trial stops in every bracket (True).

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=200, scheduler="auto")  # doctest: +SKIP
    """

    leaves_paused = True  # trials never good enough stay paused; the tuner stops them at the end
    multi_objective = True  # several objectives: ranked as MOASHA ranks (`set_objectives`)

    def __init__(
        self,
        reduction_factor: float = 3,
        grace_period: float = 1,
        max_t: float | None = None,
        time_attr: str = "training_iteration",
        brackets: int = 4,
        model: str = "ranks",
    ) -> None:
        positive = Interval(float, 0, None, closed="neither")
        self.reduction_factor = plain(
            check("AutoScheduler", "reduction_factor", reduction_factor, Interval(float, 2, None))
        )
        self.grace_period = plain(check("AutoScheduler", "grace_period", grace_period, positive))
        self.max_t = None if max_t is None else plain(check("AutoScheduler", "max_t", max_t, positive, None))
        self.max_t_from: str | None = None if max_t is None else "argument"
        self.time_attr = check("AutoScheduler", "time_attr", time_attr, KEY)
        self.brackets = int(check("AutoScheduler", "brackets", brackets, Interval(int, 1, None)))
        # HyperBand's mix of brackets (Li et al. 2018, s_max = brackets - 1): bracket s first judges
        # its trials at milestone s and gets n_s ~ (s_max + 1) / (s_max + 1 - s) * eta^(s_max - s).
        top = self.brackets - 1
        weights = [(top + 1) / (top + 1 - b) * self.reduction_factor ** (top - b) for b in range(self.brackets)]
        self.bracket_probabilities = [w / sum(weights) for w in weights]
        self.model = check("AutoScheduler", "model", model, Options(("curves", "ranks")))
        self.go = GO
        self.hopeless = HOPELESS
        self.pioneers = False
        self.prune_all = True
        self.kind = "unknown"

    def limit(self, max_t: float, source: str) -> None:
        """Set the longest training from `stop=` (`rung.run` calls it before `setup`), unless given."""
        if self.max_t_from != "argument":
            self.max_t, self.max_t_from = float(max_t), source

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        self._reader = ResultReader("AutoScheduler", self.time_attr, needs_metric("AutoScheduler", metric))
        self._op = 1.0 if mode == "max" else -1.0
        self._rungs: list[_Rung] = []
        self._passed: dict[int, int] = {}  # trial id -> the rungs it is recorded at (the lowest ones)
        self._waits_at: dict[int, tuple[_Rung, RankKey]] = {}
        self._trials: dict[int, TrialInfo] = {}
        self._stopped: set[int] = set()
        self._bracket: dict[int, int] = {}
        self._curves = Curves() if self.model == "curves" else None
        self._estimates: dict[int, Estimate] = {}  # paused trial id -> its prediction when it paused
        self._longest = 0.0  # the longest time any trial reported
        self.paused_any = False  # whether a trial was ever paused (promotion) rather than stopped
        self.stopped_any = False
        self._multi: MilestoneRanks | None = None

    def set_objectives(self, objectives: Objectives) -> None:
        """Several objectives: the rank rules, the trials at a milestone ranked as `rung.MOASHA` ranks them
        (`moasha.MilestoneRanks`). Constraints with one objective change nothing here."""
        if not objectives.multi:
            return
        if self.model == "curves":
            raise ValueError(
                f"AutoScheduler(model='curves') predicts one metric's learning curve; this run has"
                f" {len(objectives.metrics)} objectives ({objectives.describe()}): use model='ranks'"
            )
        self._multi = MilestoneRanks(objectives, self.reduction_factor)

    # What it found.
    def milestones(self) -> list[float]:
        """The milestones below `max_t` (when known; else the first `OPEN_LADDER` of them)."""
        out: list[float] = []
        k = 0
        while True:
            m = self.grace_period * self.reduction_factor**k
            if (self.max_t is not None and m >= self.max_t) or (self.max_t is None and k >= OPEN_LADDER):
                return out
            out.append(plain(m))
            k += 1

    def fidelity(self) -> tuple[str, list[float]] | None:
        return self.time_attr, self.milestones()

    def describe(self) -> str:
        """What it does, as far as it has learnt (the progress view and the log say this)."""
        if self.kind == "unknown":
            return "schedule: waiting for the first results"
        if self.kind == "once":
            return "schedule: each trial reports once, so every trial runs to its end"
        how = "promotion (trials checkpoint: paused at milestones, the best resumed)"
        if not self.paused_any and self.stopped_any:
            how = "stopping (trials save no checkpoint: the worst stopped at milestones)"
        top = "not known yet" if self.max_t is None else f"{self.max_t:g} (from {self.max_t_from})"
        ladder = ", ".join(f"{m:g}" for m in self.milestones()[:6])
        judged = (
            "judged by a learning-curve model (each trial's chance to end above the best so far)"
            if self.model == "curves"
            else "judged by rank"
        )
        if self._multi is not None:
            judged = "judged by non-dominated sorting of the objectives (ties: epsilon-net, as MO-ASHA)"
        return (
            f"schedule: successive halving by {how}, {judged}, {self.brackets} brackets; {self.time_attr}"
            f" milestones {ladder}; longest training {top}"
        )

    def _rung(self, k: int) -> _Rung:
        while len(self._rungs) <= k:
            self._rungs.append(_Rung(self.grace_period * self.reduction_factor ** len(self._rungs)))
        return self._rungs[k]

    def _reached(self, time: float) -> int:
        """How many milestones `time` has passed (those at or above a known `max_t` are none)."""
        if time < self.grace_period:
            return 0
        k = math.floor(math.log(time / self.grace_period) / math.log(self.reduction_factor) + 1e-9) + 1
        while k > 0 and self.max_t is not None and self._rung(k - 1).milestone >= self.max_t:
            k -= 1
        return k

    # The contract.
    def on_trial_add(self, trial: TrialInfo) -> None:
        self._trials[trial.id] = trial
        if self.brackets > 1:
            # Drawn from the trial's own generator: the same bracket whatever the order of events.
            u = np.random.default_rng([self.seed & (2**63 - 1), trial.id]).random()
            self._bracket[trial.id] = int(np.searchsorted(np.cumsum(self.bracket_probabilities), u, side="right"))

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        time = self._reader.time(trial, result)
        value = self._reader.value(result)
        if self.kind != "curves" and int(result.get("training_iteration", 1)) >= 2:
            self._learnt("curves")
        if time is None or value is None:
            return Decision.CONTINUE
        curves = self._curves
        horizon = self.max_t if self.max_t is not None else self._longest
        pioneer = time >= self._longest
        self._longest = max(self._longest, time)
        if curves is not None:
            curves.add(trial.id, time, self._op * value)
            if self.max_t is not None and time >= self.max_t:
                curves.finished(trial.id)
        # Reporting again while waiting at a milestone means it was promoted (seen on resume).
        self._stop_waiting(trial.id)
        if trial.id in self._stopped:
            return Decision.STOP  # only after a resume: the driver died before the stop took effect
        before = self._passed.get(trial.id, 0)
        reached = self._reached(time)
        if reached <= before:
            return Decision.CONTINUE
        if self._multi is not None:  # several objectives: the rank rules, ranked by `MilestoneRanks`
            judged_from = self._bracket.get(trial.id, 0) if self.kind == "curves" else math.inf
            decision = self._multi.decide(trial, result, range(before, reached), judged_from, self.pioneers and pioneer)
            self._passed[trial.id] = reached if decision is not None else before
            self.paused_any |= decision is Decision.PAUSE
            if decision is Decision.STOP:
                self._stopped.add(trial.id)
                self.stopped_any = True
            return decision or Decision.CONTINUE
        estimate = None
        score = self._op * value
        if curves is not None:
            for k in range(before, reached):
                curves.passed(trial.id, k)
            if horizon is not None and horizon > time:
                # Ranked by what it is predicted to reach, not by what it has reached.
                estimate = curves.predict(trial.id, horizon, reached - 1)
                score = estimate.mean
        key = rank_key(score, trial.id)
        for k in range(before, reached):
            self._rung(k).record(key)
        self._passed[trial.id] = reached
        top = self._rungs[reached - 1]
        if self.kind != "curves":
            return Decision.CONTINUE  # a second report may never come: nothing to judge yet
        chance = math.nan  # the model's chance that it ends above the best so far (NaN: no opinion)
        if curves is not None and estimate is not None and not math.isinf(estimate.std):
            chance = estimate.beats(curves.best)
        judged = reached - 1 >= self._bracket.get(trial.id, 0)
        if judged and self._goes_on(top, key, chance, pioneer):
            return Decision.CONTINUE
        if not judged and not (self.prune_all and chance < self.hopeless):
            # Its bracket judges it later; only a trial the model finds hopeless stops here.
            return Decision.CONTINUE
        if trial.checkpoint_iteration is not None:
            bisect.insort(top.waiting, key)
            self._waits_at[trial.id] = (top, key)
            if not math.isnan(chance) and estimate is not None:
                self._estimates[trial.id] = estimate
            self.paused_any = True
            return Decision.PAUSE
        # Without a checkpoint, a paused trial would train again from its start: stop or go on now
        # (the rule compares with the trials recorded before this one).
        top.keys.remove(key)
        if key[0] == 0:
            top.values.remove(-key[1])
        decided = top.beats_cutoff(-key[1] if key[0] == 0 else math.nan, self.reduction_factor)
        top.record(key)
        if judged and decided and not chance < self.hopeless:
            return Decision.CONTINUE
        self._stopped.add(trial.id)
        self.stopped_any = True
        return Decision.STOP

    def _goes_on(self, rung: _Rung, key: RankKey, chance: float, pioneer: bool) -> bool:
        """Whether a trial judged at `rung` goes on at once (`chance`: the probability the curve
        model gives it of ending above the best so far; NaN without the model or a horizon)."""
        if math.isnan(chance):
            if self.pioneers and pioneer:
                # No trial trained longer yet: the first to get here goes on if it leads the rung,
                # so that the length and the population's gains are learnt early.
                return key <= rung.keys[0]
            return rung.in_top(key, self.reduction_factor)
        if chance >= self.go:
            return True
        return chance >= self.hopeless and rung.in_top(key, self.reduction_factor)

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if paused:
            chosen = self._promotable(at_least=0 if new_allowed else 1)
            if chosen is not None:
                self._stop_waiting(chosen)
                return Resume(chosen)
        return Start() if new_allowed else None

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        if self._curves is not None:
            if status is Status.TERMINATED:
                self._curves.finished(trial.id)
            self._curves.forget(trial.id)
        self._estimates.pop(trial.id, None)
        self._trials.pop(trial.id, None)
        self._reader.forget(trial.id)
        self._stop_waiting(trial.id)
        self._stopped.discard(trial.id)
        self._passed.pop(trial.id, None)
        self._bracket.pop(trial.id, None)
        if status is not Status.TERMINATED:
            return
        if self.kind == "unknown" and trial.iteration <= 1:
            self._learnt("once")
        length = trial.last_result.get(self.time_attr)
        if self.max_t_from not in (None, "trials") or not is_number(length) or not math.isfinite(length):
            return
        if self.max_t is None or length > self.max_t:
            self.max_t, self.max_t_from = float(length), "trials"
            log.info("rung: %s", self.describe())

    # Promotion.
    def _learnt(self, kind: str) -> None:
        self.kind = kind
        log.info("rung: %s", self.describe())

    def _stop_waiting(self, trial_id: int) -> None:
        if self._multi is not None:
            self._multi.stop_waiting(trial_id)
        where = self._waits_at.pop(trial_id, None)
        self._estimates.pop(trial_id, None)
        if where is not None:
            rung, key = where
            del rung.waiting[bisect.bisect_left(rung.waiting, key)]

    def _promotable(self, at_least: int) -> int | None:
        """The paused trial to resume: the best one in the top share of its rung, highest milestone
        first; with the curve model, of those in the top share of their rungs and not hopeless, the
        one most likely to end above the best so far (no opinion counts as even odds).

        A trial pauses only with a chance below `go`, and its chance (its estimate is kept from
        when it paused) only falls as the best rises, so none is resumed for its chance alone; only
        the top shares are read, never every paused trial.
        """
        if self._multi is not None:
            return self._multi.promotable(at_least, self._trials)
        curves = self._curves
        best: tuple[float, int] | None = None
        for rung in reversed(self._rungs):
            if not rung.waiting:
                continue
            quota = rung.quota(at_least, self.reduction_factor)
            if quota == 0:
                continue
            last_in = rung.keys[quota - 1]
            for key in rung.waiting:  # best first
                if key > last_in:
                    break
                if self._trials[key[2]].status is not Status.PAUSED:
                    continue
                if curves is None:
                    return key[2]
                estimate = self._estimates.get(key[2])
                chance = 0.5 if estimate is None else estimate.beats(curves.best)
                if (at_least > 0 or chance >= self.hopeless) and (best is None or chance > best[0]):
                    best = (chance, key[2])
        return None if best is None else best[1]
