"""`rung.run`'s default searcher (`AutoSearch`): TPE or a Gaussian process, whichever fits the objective
and the space, paired with `AutoScheduler`.

- Trials that report learning curves: TPE, learning BOHB-style at the scheduler's milestones (its
  model compares trials at the highest milestone `CURVES_STARTUP` ended trials reached, the best
  tenth of them as its good group, `optuna_gamma`; random proposals until then).
- Trials that report once: a Gaussian process (`rung.GP`) when the space has at most `GP_MAX_DIMS`
  hyperparameters, each a number, a choice of numbers (modelled by rank) or a choice of at most
  `GP_MAX_OPTIONS` options, at least one is not a choice (a space of lists of values only, as
  `hp.choice` spaces and recorded tables have, goes to TPE: measured better there), no choice holds
  a nested space and there are no grid dimensions; else TPE. After `GP_MAX_TRIALS` ended trials the
  GP's cost per proposal (cubic in the trials) is no longer worth it: TPE, which learnt from every
  trial all along, takes over. TPE on such objectives splits its good group as Optuna does
  (`ONCE_GAMMA`) after `ONCE_STARTUP` random trials. Why: BENCHMARKS.md, "What the default does"
  and "The default's black-box search beside Optuna's TPESampler".

Several objectives (`metric=[...]`): the GP (expected hypervolume improvement, `rung.GP`) for the
spaces above, whatever the trials report, when there are at most `GP_MAX_OBJECTIVES` objectives; else
TPE (MOTPE), and past `GP_MAX_TRIALS_SEVERAL` ended trials. Under `AutoScheduler` (the default,
which stops or pauses trials that report learning curves, ranking them by non-dominated sorting) the
GP learns each trial's last result, however far it trained. Why: BENCHMARKS.md, "GP with expected
hypervolume improvement" and "Several objectives with early stopping".

Both models see every trial from the start (each records the other's proposals as given), so the
one that proposes always learns from the whole history; the first proposals are TPE's random ones.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rung._blas import import_soon
from rung._checks import Boolean, check
from rung.domains import Categorical, Float, Integer, Normal, has_domain
from rung.objectives import Objectives
from rung.schedulers.auto import AutoScheduler
from rung.schedulers.base import Scheduler
from rung.search.base import Searcher
from rung.search.tpe import TPE
from rung.space import Space
from rung.types import Config, Status

if TYPE_CHECKING:
    from rung.search.gp import GP

__all__ = [
    "CURVES_STARTUP",
    "GP_MAX_DIMS",
    "GP_MAX_OBJECTIVES",
    "GP_MAX_TRIALS",
    "GP_MAX_TRIALS_SEVERAL",
    "ONCE_STARTUP",
    "AutoSearch",
    "gp_fits",
    "gp_fits_several",
    "lists_only",
    "optuna_gamma",
]

GP_MAX_DIMS = 10
"""The most hyperparameters the GP models."""
GP_MAX_OPTIONS = 8
"""The most options of a choice (not of numbers) the GP models (one input per option)."""
GP_MAX_TRIALS = 200
"""Ended trials after which TPE proposes instead of the GP (cost: see BENCHMARKS.md, GP search cost)."""
GP_MAX_TRIALS_SEVERAL = 500
"""The same with several objectives: EHVI kept its lead over MOTPE past 200 evaluations on every
table measured, at 50-80 ms of CPU per proposal up to 500 (BENCHMARKS.md, "GP with expected
hypervolume improvement")."""
GP_STARTUP = 10
"""Ended trials before the GP proposes (TPE's random proposals until then)."""
ONCE_STARTUP = 20
"""Random trials before TPE models an objective that reports once (TPE's own default: 10)."""
CURVES_STARTUP = 5
"""Ended trials before TPE models an objective that reports learning curves (TPE's own default: 10).
Under the default scheduler few trials end early in a run (the others wait paused at milestones),
so with 10 TPE proposed at random for most of a small budget: 5 was better on LCBench's design
tasks at 10 and 30 full trainings of compute (BENCHMARKS.md, "The default at small budgets")."""


def optuna_gamma(n: int) -> int:
    """TPE's good group of n ended trials under the default, with one objective: min(ceil(0.1 n), 25).

    Optuna's split (TPE's own default is 0.2 n, measured better on `bench/searchers.py` as a searcher of its
    own). With learning curves it was better on LCBench at 50 and 100 full trainings of compute (design
    half, 20 seeds: regret 0.096 against 0.105 and 0.051 against 0.063, p 0.02) and level at 10 and 30;
    the held-out half agreed (BENCHMARKS.md, "The default's good group").
    """
    return min(math.ceil(0.1 * n), 25)


def lists_only(space: Space) -> bool:
    """Whether every hyperparameter of the space is a choice among plain values (a list of values)."""
    return bool(space.paths) and all(
        isinstance(domain, Categorical) and not has_domain(domain.options) for _, domain in space.paths
    )


GP_MAX_OBJECTIVES = 3
"""Several objectives: the most the GP learns (its boxes grow as the front's size to the m - 1)."""


def gp_fits(space: Space) -> bool:
    """Whether the GP suits this space, for one objective (see the module's docstring)."""
    return not lists_only(space) and _gp_models(space)  # lists only: TPE, measured better there


def gp_fits_several(space: Space, objectives: Objectives) -> bool:
    """Whether the GP suits a run with these several objectives (see the module's docstring): lists
    of values included (EHVI measured better than MOTPE on HPOBench and NAS-Bench-201 tables)."""
    return len(objectives.metrics) <= GP_MAX_OBJECTIVES and _gp_models(space)


def _gp_models(space: Space) -> bool:
    """Whether the GP can model the space: few numbers or small choices, no nesting, no grid."""
    if space.grid_dims or not 0 < len(space.paths) <= GP_MAX_DIMS:
        return False
    for _, domain in space.paths:
        if isinstance(domain, Categorical) and domain.ordered() is None:
            if has_domain(domain.options) or len(domain.options) > GP_MAX_OPTIONS:
                return False
        elif not isinstance(domain, (Float, Integer, Normal, Categorical)):  # pragma: no cover
            return False
    return True


class AutoSearch(Searcher):
    """TPE or GP, chosen by what the trials report and by the space (see the module's docstring).

    `rung.run` uses it when neither `search=` nor `scheduler=` is given, with `AutoScheduler`.

    Args:
        seed: Seeds the models' generators (default: the run's seed).
        ordered_choices: Model a choice of three or more numbers as ordered, by rank (both models;
            measured better: BENCHMARKS.md); False: as categories.

    Attributes:
        model: "tpe" or "gp": the model that makes the proposals now.

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=100, search=rung.AutoSearch())  # doctest: +SKIP
    """

    count_running = False
    """Whether TPE counts a trial at a milestone once it reports there, rather than once it ends
    (see `TPE.set_fidelity`; measured worse on LCBench's design tasks: BENCHMARKS.md)."""

    def __init__(self, seed: int | None = None, ordered_choices: bool = True) -> None:
        self.ordered_choices: bool = check("AutoSearch", "ordered_choices", ordered_choices, Boolean())
        super().__init__(seed)
        self.model = "tpe"

    def paired_scheduler(self) -> Scheduler:
        """The scheduler `rung.run` uses with this searcher when none is given."""
        return AutoScheduler()

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        assert self.seed is not None  # set by Searcher.setup
        self._tpe = TPE(seed=self.seed, ordered_choices=self.ordered_choices)
        self._tpe.setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=self.seed)
        self._setup_args = (metric, mode, num_samples)
        self._gp: GP | None = self._new_gp() if gp_fits(space) else None
        self._lists = lists_only(space)
        self.kind = "unknown"
        self._ended = 0
        self._several = False  # several objectives, and the GP suits them
        self.model = "tpe"

    def _new_gp(self) -> GP:
        from rung.search.gp import GP  # scipy.optimize: imported only for a space it models

        assert self.seed is not None  # set by Searcher.setup
        metric, mode, num_samples = self._setup_args
        # Its own generator (from the same seed): its proposals do not move TPE's draws.
        gp = GP(seed=self.seed + 1, n_startup=1, ordered_choices=self.ordered_choices)
        gp.setup(self.space, metric=metric, mode=mode, num_samples=num_samples, seed=self.seed + 1)
        return gp

    @property
    def total(self) -> int | None:
        return self._tpe.total

    multi_objective = True

    def set_objectives(self, objectives: Objectives) -> None:
        super().set_objectives(objectives)
        self._tpe.set_objectives(objectives)
        # Several objectives: the GP only where it measured better (else TPE); constraints alone: as without.
        self._several = objectives.multi and gp_fits_several(self.space, objectives)
        if objectives.multi:
            self._gp = (self._gp or self._new_gp()) if self._several else None
        if self._gp is not None:
            self._gp.set_objectives(objectives)

    def set_fidelity(self, time_attr: str, milestones: list[float]) -> None:
        self._tpe.set_fidelity(time_attr, milestones, count_running=self.count_running)
        # Several objectives: the GP still proposes, learning each trial's last result (measured better
        # than MOTPE at the milestones: BENCHMARKS.md, "Several objectives with early stopping").

    def describe(self) -> str:
        """Which model proposes, and why."""
        if self.model == "gp" and self._several:
            return "search: GP, expected hypervolume improvement (several objectives; a low-dimensional space)"
        if self.model == "gp":
            return "search: GP (each trial reports once; a low-dimensional space of numbers)"
        if self._multi():
            return "search: TPE, MOTPE (several objectives)"
        if self.kind == "curves":
            return "search: TPE learning at the milestones (trials report learning curves)"
        if self.kind == "once" and self._gp is None and self._lists:
            return "search: TPE (each trial reports once; every hyperparameter is a list of values)"
        if self.kind == "once" and self._gp is None:
            return (
                "search: TPE (each trial reports once; the space is not for a GP: choices, nesting or many dimensions)"
            )
        if self.kind == "once":
            return f"search: TPE (each trial reports once; past {GP_MAX_TRIALS} trials, a GP costs too much)"
        return "search: TPE (random proposals until trials end)"

    def _multi(self) -> bool:
        return getattr(self, "objectives", None) is not None and self.objectives.multi

    def _use_gp(self) -> bool:
        once = self.kind == "once" or self._several  # several objectives: the GP whatever the trials report
        # Several objectives and learning curves: trials paused at milestones end only with the run, so
        # the GP's start (and its cost, which grows with every trial it sees) counts proposals.
        count = self._tpe.proposed if self._several and self.kind == "curves" else self._ended
        limit = GP_MAX_TRIALS_SEVERAL if self._several else GP_MAX_TRIALS
        return self._gp is not None and once and GP_STARTUP <= count < limit

    def suggest(self, trial_id: int) -> Config | None:
        gp = self._gp
        if gp is not None and self._use_gp():
            self.model = "gp"
            config = gp.suggest(trial_id)
            if config is not None:
                self._tpe.on_given(trial_id, config)
                self._tpe.proposed += 1  # both count every proposal towards num_samples
            return config
        self.model = "tpe"
        config = self._tpe.suggest(trial_id)
        if config is not None and gp is not None:
            gp.on_given(trial_id, config)
            gp.proposed += 1
        return config

    def on_given(self, trial_id: int, config: Config) -> None:
        self._tpe.on_given(trial_id, config)
        if self._gp is not None:
            self._gp.on_given(trial_id, config)

    def _saw_curves(self) -> None:
        """Trials report learning curves (after all, if a first one reported once): TPE models after
        `CURVES_STARTUP` ended trials, with Optuna's split for one objective (MOTPE keeps its own)."""
        self.kind = "curves"
        self._tpe.n_startup = CURVES_STARTUP
        self._tpe.gamma = None if self._multi() else optuna_gamma

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        if self.kind != "curves" and int(result.get("training_iteration", 1)) >= 2:
            self._saw_curves()
        self._tpe.observe(trial_id, result)
        if self._gp is not None:
            self._gp.observe(trial_id, result)
            self._gp_ahead()

    _gp_loads = False  # whether the GP's scipy modules were sent to load (a class default: a pickle may predate it)

    def _gp_ahead(self) -> None:
        """Once the GP is sure to fit (several objectives, or trials that report once), its scipy
        modules load in a thread while trials run, rather than at its first fit in the driver's loop
        (`rung._blas.import_soon`); with learning curves and one objective the GP never fits."""
        if not self._gp_loads and self._gp is not None and (self._several or self.kind == "once"):
            self._gp_loads = True  # once: this runs at every result
            import_soon("scipy.linalg", "scipy.optimize", "scipy.special")

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:
        if result is not None and self.kind != "curves" and int(result.get("training_iteration", 1)) >= 2:
            self._saw_curves()
        if self.kind == "unknown" and status is Status.TERMINATED and result is not None:
            self.kind = "once"
            if not self._multi():  # measured with one objective (MOTPE keeps its own settings)
                # Before this, TPE proposed at random (it needs n_startup ended trials to model).
                self._tpe.n_startup = ONCE_STARTUP
                self._tpe.gamma = optuna_gamma
        self._ended += 1
        self._gp_ahead()
        self._tpe.on_complete(trial_id, status, result)
        if self._gp is not None:
            self._gp.on_complete(trial_id, status, result)
