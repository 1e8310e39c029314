"""Population Based Training (Jaderberg et al. 2017): `rung.PBT`; its explore step is in `_explore.py`.

How PBT drives the engine. Asynchronous: at a perturbation point `on_result` answers
`Pause(copy_weights_from=donor)` for a trial in the bottom quantile (the tuner copies the donor's
newest checkpoint into the trial's own file at once), and PAUSE for any other trial whose turn it
is when others wait for a slot; `next_trial` then answers `Resume(trial_id, config=new,
from_trial=donor)` for the exploiting trial, before anything else (the tuner keeps the copy and
records the change), or a plain `Resume(trial_id)` for a trial whose turn it is. Synchronous: every
trial answers PAUSE at the barrier; once the population is there, `next_trial` hands out the
exploiting trials' `Resume(..., from_trial=donor)` first (the tuner copies the donor's checkpoint
then: a donor stays paused until every trial copying it has resumed), then the plain ones. Each
trial's schedule (the configs it ran with) is read back by `ExperimentResult.schedule`.

Every random choice is made in a call the tuner replays on resume (`on_result`) or from a generator
derived from the seed and the decision itself (the trial and iteration, or the barrier number), never
from a generator whose state depends on how many decisions came before. So `kill -9` and resume
rebuild the same decisions, even where the store kept only the newest of results reported twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung._checks import INTEGER, KEY, Boolean, Function, Interval, ListOf, check
from rung._numbers import finite
from rung.domains import copy_tree, fmt
from rung.schedulers._brackets import ResultReader
from rung.schedulers._explore import (
    Mutation,
    check_mutations,
    config_keys,
    explore,
    missing_keys,
    non_numbers,
    takes_rng,
)
from rung.schedulers.base import Scheduler
from rung.types import Config, Decision, Pause, Resume, Start, Status, Suggestion, TrialInfo

__all__ = ["PBT"]

log = logging.getLogger("rung")

ExploreFn = Callable[..., Mapping[str, Any]]


FRACTION = Interval(float, 0, 0.5, closed="right")  # quantile_fraction: top and bottom never overlap


@dataclass
class _Member:
    """What PBT keeps of one trial of the population."""

    score: float | None = None  # the latest metric, signed so that higher is better; -inf for NaN/inf
    time: float = 0.0  # the latest value of time_attr
    iteration: int = 0
    last_point: float = 0.0  # time_attr at the trial's last perturbation point (asynchronous mode)
    paused_at: int | None = None  # the iteration PBT paused it at, until it reports again


class PBT(Scheduler):
    """Population Based Training: bad trials continue from good trials' weights with perturbed configs.

    Every `perturbation_interval` (in units of `time_attr`) a trial reaches a perturbation point. If
    its latest score is in the bottom `quantile_fraction` of the population, it copies the newest
    checkpoint of a trial drawn from the top quantile (exploit) and continues, its own iteration
    count going on, with that trial's config perturbed (explore: see `hyperparam_mutations`). The
    checkpoint is copied into the trial's own file, so it survives the donor's files being deleted.

    Asynchronous (`synch=False`): at each of its points a trial is ranked against the latest scores
    of the others. A bottom trial draws its donor and explores the donor's config then, pauses, and
    resumes at once from a copy of the donor's newest checkpoint. Any other trial pauses at its
    point only when others wait for a slot (paused trials, or new ones still to start), so that the
    population takes turns: a free slot starts a new trial, else resumes the paused trial furthest
    behind in `time_attr`. So a population larger than the slots advances together, and one that
    fits the slots runs without pauses but for the exploits; objectives must checkpoint (a trial
    without a checkpoint restarts from its beginning). Synchronous (`synch=True`): every trial
    pauses at the barrier until the whole population has reached it; then all are ranked on their
    scores at the barrier and resumed, the exploiting ones first (so that their donors' newest
    checkpoints are still the ones from the barrier).

    Trials whose metric is NaN or infinite rank below every finite score (they get replaced, and are
    never donors). Ties rank the lower trial id lower. In asynchronous mode the tuner copies the
    donor's newest checkpoint at the decision (`Pause(copy_weights_from=donor)`), so what the donor
    trains meanwhile does not leak in.

    PBT does not know where a trial's training ends: a trial exploited at its last step resumes and
    ends at once, with no result from the new config and weights. The tuner then puts back its own
    config and checkpoint (those that made its results) and drops the change from its schedule (Ray
    Tune's function trainables keep the config that never ran). `stop={"training_iteration": N}`
    spares the restart: a trial that reaches the stop is not exploited.

    Args:
        perturbation_interval: time between perturbation points, in `time_attr` units (> 0).
        hyperparam_mutations: `{key: mutation}`: a list of values (explore moves to a neighbouring
            item), a rung domain (numbers are scaled by a perturbation factor and put back into the
            domain; choices move to a neighbouring option), a callable `fn()` (numbers are scaled,
            anything else redrawn by calling it), or a dict of mutations for a nested config. Every
            key must be in the search space (checked on the first trial).
        quantile_fraction: the fraction of the population in each of the top and bottom quantiles,
            in (0, 0.5].
        resample_probability: the chance that a value is redrawn (from the list, the domain, or by
            calling the function) instead of perturbed.
        perturbation_factors: the factors a number is multiplied by, one drawn at random.
        burn_in_period: no perturbation before this much `time_attr`.
        synch: wait for the whole population at each perturbation point.
        custom_explore: `fn(config) -> config` or `fn(config, rng) -> config`, applied after the
            built-in explore; `rng` is a `numpy.random.Generator` seeded from the run's seed and the
            decision, so such a function keeps the run reproducible.
        time_attr: the reported, increasing key that measures training time.
        seed: seeds every random choice (default: the seed of `rung.run`).

    Example:
        >>> pbt = rung.PBT(perturbation_interval=4, hyperparam_mutations={
        ...     "lr": rung.loguniform(1e-4, 1e-1), "batch": [16, 32, 64, 128]})
        >>> rung.run(train, space, metric="acc", mode="max", num_samples=8, scheduler=pbt)  # doctest: +SKIP
    """

    def __init__(
        self,
        perturbation_interval: float,
        hyperparam_mutations: Mapping[str, Mutation],
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        perturbation_factors: Sequence[float] = (1.2, 0.8),
        burn_in_period: float = 0,
        synch: bool = False,
        custom_explore: ExploreFn | None = None,
        time_attr: str = "training_iteration",
        seed: int | None = None,
    ) -> None:
        check("PBT", "perturbation_interval", perturbation_interval, Interval(float, 0, None, closed="neither"))
        check("PBT", "quantile_fraction", quantile_fraction, FRACTION)
        check("PBT", "resample_probability", resample_probability, Interval(float, 0, 1))
        factors = check(
            "PBT", "perturbation_factors", perturbation_factors, ListOf(Interval(float, 0, None, closed="neither"))
        )
        check("PBT", "burn_in_period", burn_in_period, Interval(float, 0, None))
        check("PBT", "synch", synch, Boolean())
        check("PBT", "custom_explore", custom_explore, None, Function("a callable(config) -> config"))
        check("PBT", "time_attr", time_attr, KEY)
        check("PBT", "seed", seed, INTEGER, None)
        mutations = check_mutations(hyperparam_mutations)
        if not mutations and custom_explore is None:
            raise ValueError(
                "PBT needs hyperparam_mutations or custom_explore to say what to explore;"
                " got hyperparam_mutations={} and custom_explore=None"
            )
        self.perturbation_interval = float(perturbation_interval)
        self.hyperparam_mutations = mutations
        self.quantile_fraction = float(quantile_fraction)
        self.resample_probability = float(resample_probability)
        self.perturbation_factors = tuple(float(f) for f in factors)
        self.burn_in_period = float(burn_in_period)
        self.synch = synch
        self.custom_explore = custom_explore
        self._explore_takes_rng = custom_explore is not None and takes_rng(custom_explore)
        self.time_attr = time_attr
        self._seed = None if seed is None else int(seed)
        self.seed = self._seed or 0  # the run's seed replaces it in setup() when seed is None
        self._reset()

    def _reset(self) -> None:
        self._members: dict[int, _Member] = {}
        self._trials: dict[int, TrialInfo] = {}
        self._finished: set[int] = set()
        self._checked = False
        self._warned_restart = False
        # Asynchronous mode: the donor and the new config chosen at a trial's point, until it runs
        # again; whether new trials may still start (the last `next_trial` call's `new_allowed`); and
        # whether the last result `on_result` saw was at a perturbation point (PB2 learns there).
        self._pending: dict[int, tuple[int, Config]] = {}
        self._may_start = True
        self._at_point = False
        # Synchronous mode: barriers passed so far, who waits at which barrier, the scores and
        # configs at each barrier, and the resumes still to hand out for the last one passed.
        self._released = 0
        self._waiting: dict[int, int] = {}
        self._at: dict[int, dict[int, tuple[float | None, Config]]] = {}
        self._plan: list[Resume] = []

    # The scheduler contract.
    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        if metric is None:
            raise ValueError("PBT needs a metric to rank trials; got metric=None (pass metric= to rung.run)")
        super().setup(metric=metric, mode=mode, seed=seed)
        self.seed = seed if self._seed is None else self._seed
        self._reader = ResultReader("PBT", self.time_attr, metric)
        self._reset()

    def on_trial_add(self, trial: TrialInfo) -> None:
        if not self._checked:
            missing = list(missing_keys(self.hyperparam_mutations, trial.config))
            if missing:
                raise ValueError(
                    f"PBT hyperparam_mutations has {missing[0]!r}, which is not in the search space;"
                    f" trial {trial.id}'s config has: {', '.join(config_keys(trial.config)) or 'nothing'}"
                )
            wrong = next(non_numbers(self.hyperparam_mutations, trial.config), None)
            if wrong is not None:
                value = trial.config
                for part in wrong.split("."):
                    value = value[part]
                raise ValueError(
                    f"PBT hyperparam_mutations[{wrong!r}] is a numeric domain, but trial {trial.id}'s config has"
                    f" {wrong}={fmt(value)}, not a number; give a list of its values or rung.choice([...]) instead"
                )
            self._checked = True
        self._members.setdefault(trial.id, _Member())
        self._trials[trial.id] = trial

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        time = self._reader.exact_time(trial, result)
        self._trials.setdefault(trial.id, trial)
        member = self._members.setdefault(trial.id, _Member())
        iteration = int(result.get("training_iteration", member.iteration + 1))
        if member.paused_at is not None:
            if iteration <= member.paused_at:
                self._warn_restart(trial.id, member.paused_at, iteration)
            member.paused_at = None
        score = self._score(result)
        if score is not None:
            member.score = score
        member.time, member.iteration = time, iteration
        return self._on_result_synch(trial, member) if self.synch else self._on_result_async(trial, member)

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if self.synch:
            return self._next_synch(new_allowed, {t.id for t in paused})
        self._may_start = new_allowed
        for trial in sorted(paused, key=lambda t: t.id):
            if trial.id in self._pending:
                # Exploits first: the tuner copies the donor's newest checkpoint now, as close to the
                # decision as the pause allows (later, the donor would have trained on).
                donor, config = self._pending.pop(trial.id)
                return self._hand_out(Resume(trial.id, config=config, from_trial=donor))
        if new_allowed:
            return Start()  # new trials next: they are the furthest behind
        if not paused:
            return None
        behind = min(paused, key=lambda t: (self._members[t.id].time if t.id in self._members else 0.0, t.id))
        return Resume(behind.id)

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        self._finished.add(trial.id)
        self._pending.pop(trial.id, None)
        self._waiting.pop(trial.id, None)
        self._plan = [r for r in self._plan if r.trial_id != trial.id]

    # Asynchronous mode.
    def _on_result_async(self, trial: TrialInfo, member: _Member) -> Decision | Pause:
        self._pending.pop(trial.id, None)  # it runs, so any exploit decided for it has happened
        self._at_point = False
        if member.time < self.burn_in_period or member.time - member.last_point < self.perturbation_interval:
            return Decision.CONTINUE
        self._at_point = True
        member.last_point = member.time
        scores = {i: m.score for i, m in self._members.items() if m.score is not None and i not in self._finished}
        bottom, top = self._quantiles(scores)
        if trial.id in bottom and top:
            donor = top[int(self._rng(0, trial.id, member.iteration).integers(len(top)))]
            # The donor's config as it is at the decision (its checkpoint is copied right after).
            config = self._explore(self._trials[donor].config, self._rng(2, trial.id, member.iteration))
            self._pending[trial.id] = (donor, config)
            member.paused_at = member.iteration
            return Pause(copy_weights_from=donor)  # the tuner copies its weights now, as they are
        elif not self._may_start and not any(
            other.status in (Status.PAUSED, Status.PENDING) and i != trial.id and i not in self._finished
            for i, other in self._trials.items()
        ):
            return Decision.CONTINUE  # nobody waits for a slot (as Ray Tune checks): no turn to give up
        member.paused_at = member.iteration
        return Decision.PAUSE

    # Synchronous mode.
    def _barrier(self, k: int) -> float:
        return max(self.perturbation_interval, self.burn_in_period) + k * self.perturbation_interval

    def _on_result_synch(self, trial: TrialInfo, member: _Member) -> Decision:
        waited = self._waiting.get(trial.id)
        if waited is not None and waited == self._released:
            # It waited at a barrier not passed yet, yet reports again. Either the tuner is replaying
            # the store, and the barrier was passed (then everyone was waiting at it); or the driver
            # died after this trial was told to pause and it was restarted: it waits again.
            live = [i for i in self._members if i not in self._finished]
            if any(self._waiting.get(i) != waited for i in live):
                member.paused_at = member.iteration
                return Decision.PAUSE
            self._release()
        if waited is not None:
            del self._waiting[trial.id]
            self._plan = [r for r in self._plan if r.trial_id != trial.id]
        k = self._released
        if member.time < self._barrier(k):
            return Decision.CONTINUE
        self._at.setdefault(k, {})[trial.id] = (member.score, copy_tree(trial.config))
        self._waiting[trial.id] = k
        member.paused_at = member.iteration
        return Decision.PAUSE

    def _next_synch(self, new_allowed: bool, paused: set[int]) -> Suggestion | None:
        for attempt in range(2):
            # A donor stays paused until every trial copying it has been resumed (and so has copied
            # its checkpoint from the barrier): a trial still on its way to pausing may hold that up.
            donors = {r.from_trial for r in self._plan}
            for i, resume in enumerate(self._plan):
                if resume.trial_id in paused and (resume.from_trial is not None or resume.trial_id not in donors):
                    del self._plan[i]
                    return self._hand_out(resume)
            if new_allowed:
                return Start()  # the whole population is there before the first barrier is passed
            live = [i for i in self._members if i not in self._finished]
            if attempt or self._plan or not live or any(self._waiting.get(i) != self._released for i in live):
                break
            self._release()
        # Never strand a paused trial that no barrier holds (none should exist).
        for trial_id in sorted(paused):
            if self._waiting.get(trial_id, -1) < self._released and all(r.trial_id != trial_id for r in self._plan):
                return Resume(trial_id)
        return None

    def _release(self) -> None:
        """Pass the current barrier: rank everyone on their scores there and plan their resumes."""
        k = self._released
        at = self._at.pop(k, {})
        bottom, top = self._quantiles({i: score for i, (score, _) in at.items() if score is not None})
        rng = self._rng(1, k)
        exploiting = sorted(bottom) if top else []  # no donor when the top diverged too
        plan = []
        for trial_id in exploiting:
            donor = top[int(rng.integers(len(top)))]
            plan.append(Resume(trial_id, config=self._explore(at[donor][1], rng), from_trial=donor))
        plan += [Resume(i) for i in sorted(at) if i not in exploiting]
        self._plan += [r for r in plan if self._waiting.get(r.trial_id) == k]
        self._released += 1

    # Shared steps.
    def _score(self, result: Mapping[str, Any]) -> float | None:
        if self.metric is None or self.metric not in result:
            return None
        value = result[self.metric]
        if not finite(value):
            return -math.inf
        return float(value) if self.mode == "max" else -float(value)

    def _quantiles(self, scores: Mapping[int, float]) -> tuple[list[int], list[int]]:
        """(bottom, top) trial ids: `quantile_fraction` of the ranked trials each, at most half.

        A diverged trial (score -inf: its metric was NaN or infinite) may be in the bottom, never in the
        top: its weights are not worth copying.
        """
        ranked = sorted(scores, key=lambda i: (scores[i], i))
        if len(ranked) < 2:
            return [], []
        # round(): 10 * 0.3 is 3.0000000000000004, which must not become 4.
        n = min(math.ceil(round(len(ranked) * self.quantile_fraction, 9)), len(ranked) // 2)
        return ranked[:n], [i for i in ranked[-n:] if scores[i] > -math.inf]

    def _rng(self, *keys: int) -> np.random.Generator:
        """A generator for one decision: from the seed and what identifies the decision."""
        return np.random.default_rng([int(self.seed) & (2**64 - 1), *keys])

    def _explore(self, config: Config, rng: np.random.Generator) -> Config:
        new = explore(
            copy_tree(config),
            self.hyperparam_mutations,
            rng,
            resample_probability=self.resample_probability,
            factors=self.perturbation_factors,
        )
        if self.custom_explore is None:
            return new
        out = self.custom_explore(new, rng) if self._explore_takes_rng else self.custom_explore(new)
        if not isinstance(out, Mapping):
            raise TypeError(f"PBT custom_explore must return the new config (a dict); got {fmt(out)}")
        return dict(out)

    def _hand_out(self, resume: Resume) -> Resume:
        if resume.from_trial is not None:
            log.info(
                "PBT: trial %d continues from trial %d's weights with %s",
                resume.trial_id,
                resume.from_trial,
                resume.config,
            )
        return resume

    def _warn_restart(self, trial_id: int, paused_at: int, iteration: int) -> None:
        if self._warned_restart:
            return
        self._warned_restart = True
        log.warning(
            "PBT paused trial %d at iteration %d, but it came back at iteration %d: it had no checkpoint from"
            " then, so its training is redone and any weights PBT copied into it are lost (and so for"
            " others like it). PBT pauses trials and copies weights through checkpoints: pass checkpoint="
            " to rung.report() at least every perturbation_interval",
            trial_id,
            paused_at,
            iteration,
        )


def by_name() -> Scheduler:
    """`scheduler="pbt"` in `rung.run`: PBT has no sensible defaults for its interval and mutations."""
    raise ValueError(
        "scheduler='pbt' needs settings: pass scheduler=rung.PBT(perturbation_interval=..., hyperparam_mutations={...})"
    )
