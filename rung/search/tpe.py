"""Tree-structured Parzen Estimator (Bergstra et al. 2011): `rung.TPE`."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rung._blas import load_soon
from rung._checks import INTEGER, Boolean, Function, Interval, check
from rung._numbers import is_number
from rung.objectives import Objectives
from rung.search._cost_model import CostModel
from rung.search._tpe_level import (
    DONE,
    REUSE_BATCH,
    REUSE_FROM,
    REUSE_SHARE,
    RUNNING,
    STOPPED,
    WORST,
    Level,
    Settings,
)
from rung.search._tpe_objectives import motpe_losses
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config, Status

__all__ = ["TPE"]


def _default_gamma(n: int) -> int:
    return min(math.ceil(0.2 * n), 25)


def _gamma(gamma: float | Callable[[int], int] | None) -> Callable[[int], int]:
    """How many of n finished trials form the good group, as a checked function."""
    share = Interval(float, 0, 1, closed="right", noun="a share")
    check("TPE", "gamma", gamma, share, Function("a callable(n) -> int"), None)
    if gamma is None:
        return _default_gamma
    if not callable(gamma):
        fraction = float(gamma)
        return lambda n: math.ceil(fraction * n)
    for n in (1, 10, 1000):
        check("TPE", f"gamma({n})", gamma(n), INTEGER)
    return gamma


class TPE(Searcher):
    """Tree-structured Parzen Estimator: propose where good trials are dense and bad ones sparse.

    After `n_startup` finished trials (random until then), each proposal splits the finished
    trials into a good group (the best `gamma(n)` of n, by default min(ceil(0.2 n), 25)) and a bad
    group (the rest), fits a Parzen density to each in the unit cube, draws `n_candidates` points
    from the good density and proposes the one with the highest ratio good / bad. This is Optuna's
    multivariate `TPESampler` (its bandwidths, prior and weights; see `rung.search._parzen`) with
    three changes measured better on `bench/searchers.py`: good trials weigh by how much they beat
    the best bad one (Watanabe 2023), the good group is twice as large (0.2 n, Optuna: 0.1 n), and
    in 30% of proposals the candidates take random options for the choices (`explore_choices`: on
    a space where the best numbers depend on a choice, the good group otherwise locks onto
    whichever option was tuned first).

    What it learns from, per trial it proposed: the metric in the trial's LAST result that has it,
    once the trial has ended. Trials that ran to their end rank by that value; trials stopped early
    by a scheduler rank after them (further first, then by value). A trial that failed, never
    reported the metric, or whose value is NaN or infinite counts as worse than every other: it
    joins the bad group, so regions that crash or diverge are avoided. While trials run, their
    configurations join the bad group too (`constant_liar`), so parallel slots do not get
    near-duplicates of running trials. Trials created by a scheduler (PBT clones) are not learnt from.

    Several objectives (`metric=[...]`): MOTPE, as Optuna's `TPESampler` does it. A trial counts by
    its last result that reports every objective; the good group is the first non-dominated fronts,
    the front where it ends cut by greedy hypervolume subset selection (see
    `rung.search._tpe_objectives`). Constraints (`constraints=`): as Optuna's TPE with constraints
    (c-TPE's rule): a trial whose last result breaks one ranks after every feasible trial (and after
    those stopped early), by how far it breaks them, so the good group is feasible while it can be.
    Under a multi-fidelity scheduler, constraints are not learnt (BOHB's values at milestones are),
    and several objectives are learnt from the trials' last results as without one.

    The space: numbers (uniform, log, integer, quantised, normal) are modelled in the unit cube
    through their domains' `to_unit`/`from_unit`; those with at most 64 values by the mass of each
    value's cell, the others by densities. A choice of three or more numbers is an ordinal too (by
    rank: `ordered_choices`); other choices are modelled by categorical kernels. A choice
    between dicts holding domains is modelled by its option, and each such option's domains by a
    model fitted on the trials that took that option (so nested choices nest models). Domains
    inside lists within options are sampled at random; `sample_from` values are derived as usual.
    Grid dimensions are crossed as `rung.Random` crosses them (`num_samples` times the grid size in
    all, in the same order), and each proposal's grid value conditions the model.

    Args:
        n_startup: Finished trials (per model level) before the model is used; random until then.
        n_candidates: Draws from the good density per proposal.
        multivariate: One joint density over all dimensions (True), or one per dimension (False).
        constant_liar: Count running trials in the bad group.
        gamma: Size of the good group given n finished trials: None (min(ceil(0.2 n), 25)), a
            share in (0, 1] (ceil(share * n)) or a callable(n) -> int.
        explore_choices: Share of model-based proposals whose candidates all take options drawn
            uniformly for every choice of the space (or of a nested option), keeping the numbers
            drawn from the good density; the ratio then picks among them. 0 turns it off.
        ordered_choices: Model a choice of three or more numbers (`choice([32, 64, 128])`) as
            ordered, by rank, as a few-valued integer is (64 lies between 32 and 128); False: as
            categories. Choices of anything else are categories either way.
        cost_aware: Weigh improvement against cost: each candidate's ratio good / bad is divided by
            its predicted cost per training iteration (expected improvement per unit of cost, as
            Snoek et al. 2012's EI per second), learnt from the trials' results (their `cost` with
            `prices=`, else their wall time) by a ridge regression of log cost on the
            configuration (see `rung.search._cost_model`), once 5 trials have reported. For spaces
            where some settings (`batch_size`, `width`) make trials slower; only with
            `multivariate=True`, and only the space's top level (not inside a choice's options).
            Measured: BENCHMARKS.md, "Cost-aware search".
        seed: Seeds this searcher's generator (default: the run's seed).

    Example:
        >>> space = {"lr": rung.loguniform(1e-4, 1e-1), "layers": rung.randint(1, 4)}
        >>> rung.run(train, space, metric="loss", num_samples=100, search=rung.TPE(seed=1))  # doctest: +SKIP
    """

    def __init__(
        self,
        n_startup: int = 10,
        n_candidates: int = 24,
        multivariate: bool = True,
        constant_liar: bool = True,
        gamma: float | Callable[[int], int] | None = None,
        explore_choices: float = 0.3,
        ordered_choices: bool = True,
        seed: int | None = None,
        cost_aware: bool = False,
    ) -> None:
        self.n_startup = int(check("TPE", "n_startup", n_startup, Interval(int, 1, None)))
        self.n_candidates = int(check("TPE", "n_candidates", n_candidates, Interval(int, 1, None)))
        self.multivariate: bool = check("TPE", "multivariate", multivariate, Boolean())
        self.constant_liar: bool = check("TPE", "constant_liar", constant_liar, Boolean())
        check("TPE", "explore_choices", explore_choices, Interval(float, 0, 1, noun="a share"))
        self.ordered_choices: bool = check("TPE", "ordered_choices", ordered_choices, Boolean())
        check("TPE", "seed", seed, INTEGER, None)
        self.cost_aware: bool = check("TPE", "cost_aware", cost_aware, Boolean())
        super().__init__(seed)
        self.gamma = gamma
        self.explore_choices: float = float(explore_choices)
        # When the densities may be reused rather than refitted (see Level._reusable); tests lower them.
        self.reuse_from: int = REUSE_FROM
        self.reuse_share: float = REUSE_SHARE
        self.reuse_batch: int = REUSE_BATCH

    @property
    def gamma(self) -> float | Callable[[int], int] | None:
        """The size of the good group (as given to `__init__`); set it to change the model's next split."""
        # A TPE pickled before gamma was a property (a stored experiment's searcher) holds it as "gamma".
        gamma: float | Callable[[int], int] | None = self.__dict__.get("_gamma", self.__dict__.get("gamma"))
        return gamma

    @gamma.setter
    def gamma(self, gamma: float | Callable[[int], int] | None) -> None:
        self._n_below: Callable[[int], int] = _gamma(gamma)
        self._gamma = gamma

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        if metric is None:
            raise ValueError("TPE needs a metric to model; pass metric= to rung.run (or use search='random')")
        self._root = Level(space.paths, space.grid_dims, self.ordered_choices)
        if not self._root.models:
            kind = "grid dimensions" if space.grid_dims else "constants and derived values"
            raise ValueError(
                f"TPE needs at least one number or choice to model; this space has only {kind}: use search='grid'"
            )
        self._start_grid()
        self._rng = np.random.default_rng(self.seed)
        self._budget: float | None = None  # the milestone the model compares trials at (BOHB), if any
        self._rows: dict[int, list[tuple[Level, int]]] = {}  # where each running trial sits in the history
        self._last: dict[int, tuple[float, float]] = {}  # trial id -> (last metric value, its iteration)
        self._fidelity: tuple[str, list[float]] | None = None
        self._objectives: Objectives | None = None  # several, or constraints (set_objectives)
        root = self._root
        self._cost = (
            CostModel(root.numeric, tuple(len(c.middles) for c in root.cells), root.sizes) if self.cost_aware else None
        )

    multi_objective = True
    _loads_scipy = True  # until the first result (a class default: a TPE pickled before it has none)

    def set_objectives(self, objectives: Objectives) -> None:
        super().set_objectives(objectives)
        self._objectives = objectives
        self._judged: dict[int, dict[str, Any]] = {}  # running trial -> its last result with the objectives
        # Several objectives: ended trials whose rank moves as others end (id -> rows, status, judged
        # result), ranked again before the next proposal; how many trials ended infeasible (ranked once).
        self._moving: dict[int, tuple[list[tuple[Level, int]], Status, dict[str, Any]]] = {}
        self._infeasible = 0
        self._stale = False

    def _settings(self) -> Settings:
        """The model's settings as they are now (benchmarks and tests change them after `setup`)."""
        return Settings(
            self.n_startup,
            self.n_candidates,
            self.multivariate,
            self.constant_liar,
            self._n_below,
            self.explore_choices,
            self.reuse_from,
            self.reuse_share,
            self.reuse_batch,
            None if self._cost is None else self._cost.log_cost,
        )

    def set_fidelity(self, time_attr: str, milestones: list[float], *, count_running: bool = False) -> None:
        """Learn BOHB-style (Falkner et al. 2018) under a multi-fidelity scheduler.

        Each trial's value is read at every milestone it passes. The model is fitted at the highest
        milestone that `n_startup` ended trials have reached, as in the paper: the best gamma of the
        trials with a value there (also the ones that went further) form the good group, the rest
        of them and the failed trials the bad group; trials stopped below it are left out. Where a
        model level has fewer than `n_startup` trials with a value there (an option of a choice),
        its trials stopped below rank after them, by how far they got, then by their value at their
        highest milestone. Trials count once they end: a paused trial (HyperBand's rungs, promotion
        ASHA) is running for the model until then (see `rung.BOHB` for why).

        `count_running=True` (the default's `AutoSearch`): a trial counts at a milestone as soon as
        it reports its value there, running or paused, as the paper's BOHB counts every evaluation
        of a budget; the running trials without a value at the model's milestone stay in the bad
        group (constant liar).
        """
        self._fidelity = (time_attr, sorted(float(m) for m in milestones))
        # Trial id -> its value at each milestone it passed (the first ones, in order); a tuple, as
        # small as a trial's record can be: an ended trial's values are read again when the budget moves
        # (kept only for the ended trials with a value at or above the budget: see `_finish_at_budget`).
        self._at: dict[int, tuple[float, ...]] = {}
        self._ended: dict[int, tuple[list[tuple[Level, int]], Status]] = {}
        self._reached: dict[float, int] = dict.fromkeys(self._fidelity[1], 0)  # ended trials with a value there
        self._budget = None
        self._count_running = count_running

    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        if point is None:
            return None
        rows: list[tuple[Level, int]] = []
        if self._objectives is not None and self._stale:
            self._rank_objectives(self._objectives)
        values = self._root.propose(self._settings(), self._budget, self._rng, point, rows)
        self._rows[trial_id] = rows
        return self.space.sample(self._rng, fixed={**point, **values})

    def on_given(self, trial_id: int, config: Config) -> None:
        rows: list[tuple[Level, int]] = []
        self._root.record(config, rows)  # in the history as running, as a proposal of its own would be
        self._rows[trial_id] = rows

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        if self._loads_scipy:
            # The first fit's scipy (0.2 s of CPU) is loaded by a thread from the first result on,
            # while the first trials run, rather than by the fit, which would stop the driver (and
            # with it every trial's next answer) for it; loaded from the setup or the first
            # proposal, it slowed the worker processes' start (BENCHMARKS.md).
            self._loads_scipy = False
            load_soon()
        if self._cost is not None and trial_id in self._rows:
            level, row = self._rows[trial_id][0]  # the top level's row comes first
            self._cost.observe(trial_id, level.x[row].copy(), result)
        objectives = self._objectives
        if (
            objectives is not None
            and trial_id in self._rows
            and (objectives.reports(result) if objectives.multi else self.metric in result)
        ):
            self._judged[trial_id] = result
        if trial_id not in self._rows or self.metric not in result:
            return
        value = result[self.metric]
        number = is_number(value)
        iteration = result.get("training_iteration", 0)
        reach = float(iteration) if is_number(iteration) else 0.0
        self._last[trial_id] = (float(value) if number else math.nan, reach)
        if self._fidelity is not None:
            time = result.get(self._fidelity[0])
            if is_number(time):
                passed = self._at.get(trial_id, ())
                reached = bisect.bisect_right(self._fidelity[1], time)
                if reached > len(passed):
                    # The first result at or past a milestone is the trial's value there.
                    self._at[trial_id] = passed + (float(value) if number else math.nan,) * (reached - len(passed))
                    if self._count_running:
                        for milestone in self._fidelity[1][len(passed) : reached]:
                            self._reached[milestone] += number and math.isfinite(value)
                        self._moved(trial_id)

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:
        if result is not None:
            self.observe(trial_id, result)
        rows = self._rows.pop(trial_id, None)
        if rows is None:
            return
        judged = None if self._objectives is None else self._judged.pop(trial_id, None)
        if self._objectives is not None and self._objectives.multi:
            self._last.pop(trial_id, None)
            if self._fidelity is not None:  # its milestone values: read for running trials only, here
                self._at.pop(trial_id, None)
            self._end_objectives(trial_id, rows, status, judged, self._objectives)
            return
        if self._fidelity is not None:
            milestones = self._fidelity[1]
            self._last.pop(trial_id, None)
            self._ended[trial_id] = (rows, status)
            if status is not Status.ERROR and not self._count_running:
                for milestone, value in zip(milestones, self._at.get(trial_id, ()), strict=False):
                    self._reached[milestone] += math.isfinite(value)
            if not self._moved(None):
                self._finish_at_budget(trial_id, milestones)
            return
        value, reach = self._last.pop(trial_id, (math.nan, 0.0))
        state = DONE if status is Status.TERMINATED else STOPPED
        if status is Status.ERROR or not math.isfinite(value):
            state = WORST
        loss = -value if self.mode == "max" else value
        if self._objectives is not None and state != WORST and not self._objectives.feasible(judged):
            # After every feasible trial and those stopped early (reach >= 0), least broken first.
            state, reach = STOPPED, -self._objectives.violation(judged)
        for level, row in rows:
            level.finish(row, state, loss, reach)

    def _moved(self, running: int | None) -> bool:
        """Move the model's milestone up if more trials now have a value there (re-reading every
        trial), else re-read the `running` trial that reported; True if it moved."""
        assert self._fidelity is not None
        milestones = self._fidelity[1]
        budget = self._highest_budget()
        if budget != self._budget:
            self._budget = budget
            for ended in list(self._ended):  # the common budget moved up: the ended trials are re-read
                self._finish_at_budget(ended, milestones)
            if self._count_running:
                for trial_id in self._rows:
                    self._running_at_budget(trial_id, milestones)
            return True
        if running is not None:
            self._running_at_budget(running, milestones)
        return False

    def _running_at_budget(self, trial_id: int, milestones: list[float]) -> None:
        """A running (or paused) trial with a value at the model's milestone counts with it; else it
        stays a liar."""
        values = self._at.get(trial_id, ())
        index = bisect.bisect_left(milestones, self._budget) if self._budget is not None else len(values)
        if index < len(values) and math.isfinite(values[index]):
            loss = -values[index] if self.mode == "max" else values[index]
            for level, row in self._rows[trial_id]:
                level.finish(row, DONE, loss, milestones[index])
        else:
            for level, row in self._rows[trial_id]:
                level.finish(row, RUNNING, math.nan, 0.0)

    def _end_objectives(
        self,
        trial_id: int,
        rows: list[tuple[Level, int]],
        status: Status,
        judged: dict[str, Any] | None,
        objectives: Objectives,
    ) -> None:
        """A trial ended under several objectives: failed, not finite or infeasible, it ranks once and for
        all; else its rank depends on the others', and every such trial is ranked again before the next
        proposal (`_rank_objectives`)."""
        if status is Status.ERROR or judged is None or objectives.losses(judged) is None:
            for level, row in rows:
                level.finish(row, WORST, math.nan, 0.0)
        elif not objectives.feasible(judged):
            self._infeasible += 1
            for level, row in rows:
                level.finish(row, STOPPED, 0.0, -objectives.violation(judged))
        else:
            self._moving[trial_id] = (rows, status, judged)
            self._stale = True

    def _rank_objectives(self, objectives: Objectives) -> None:
        """Give every feasible ended trial its MOTPE loss: trials that ran to their end by their rank among
        themselves; those a scheduler stopped early after them (by how far they got, then their rank)."""
        self._stale = False
        ended = sorted(self._moving.items())
        done = [(rows, judged) for _, (rows, status, judged) in ended if status is Status.TERMINATED]
        stopped = [(rows, judged) for _, (rows, status, judged) in ended if status is not Status.TERMINATED]
        n_good = self._n_below(len(done) + len(stopped) + self._infeasible)
        for group, state in ((done, DONE), (stopped, STOPPED)):
            if not group:
                continue
            losses = np.array([objectives.losses(judged) for _, judged in group], dtype=float)
            for (rows, judged), loss in zip(group, motpe_losses(losses, n_good), strict=True):
                iteration = judged.get("training_iteration", 0)
                reach = float(iteration) if is_number(iteration) else 0.0
                for level, row in rows:
                    level.finish(row, state, float(loss), reach)

    def _highest_budget(self) -> float | None:
        """The highest milestone that at least `n_startup` ended trials reached with a finite value."""
        for milestone in sorted(self._reached, reverse=True):
            if self._reached[milestone] >= self.n_startup:
                return milestone
        return None

    def _finish_at_budget(self, trial_id: int, milestones: list[float]) -> None:
        rows, status = self._ended[trial_id]
        passed = {m: v for m, v in zip(milestones, self._at.get(trial_id, ()), strict=False) if math.isfinite(v)}
        if status is Status.ERROR or not passed or (self._budget is not None and max(passed) < self._budget):
            # Failed, ended before the first milestone, or stopped below the budget: how it counts
            # cannot change as the budget moves up, so its record goes (under ASHA most trials end
            # at the first milestone).
            del self._ended[trial_id]
            self._at.pop(trial_id, None)
        state, value, reach = WORST, math.nan, 0.0
        if status is not Status.ERROR and passed:
            if self._budget is not None and self._budget in passed:
                state, value, reach = DONE, passed[self._budget], self._budget
            else:
                reach = max(passed)
                state, value = STOPPED, passed[reach]
        loss = -value if self.mode == "max" else value
        for level, row in rows:
            level.finish(row, state, loss, reach)
