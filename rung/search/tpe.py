"""Tree-structured Parzen Estimator (Bergstra et al. 2011): `rung.TPE`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rung.domains import Categorical, Domain, Float, GridValues, Integer, Normal, SampleFrom
from rung.search._parzen import Parzen, cells_of, old_decay_weights, snapper
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config, Status

__all__ = ["TPE"]

Array = NDArray[np.float64]
Path = tuple[str, ...]

# The state of a proposed configuration, as one of a level's history rows.
RUNNING, DONE, STOPPED, WORST = 0, 1, 2, 3


def _default_gamma(n: int) -> int:
    return min(math.ceil(0.2 * n), 25)


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"TPE needs {name} to be an integer >= {low}; got {name}={value!r}")
    return int(value)


def _gamma(gamma: float | Callable[[int], int] | None) -> Callable[[int], int]:
    """How many of n finished trials form the good group, as a checked function."""
    if gamma is None:
        return _default_gamma
    if isinstance(gamma, numbers.Real) and not isinstance(gamma, bool):
        share = float(gamma)
        if not 0 < share <= 1:
            raise ValueError(
                f"TPE needs gamma to be a share in (0, 1], a callable(n) -> int or None; got gamma={gamma!r}"
            )
        return lambda n: math.ceil(share * n)
    if callable(gamma):
        for n in (1, 10, 1000):
            got = gamma(n)
            if isinstance(got, bool) or not isinstance(got, numbers.Integral):
                raise ValueError(f"TPE needs gamma(n) to return an int; got gamma({n})={got!r}")
        return gamma
    raise ValueError(f"TPE needs gamma to be a share in (0, 1], a callable(n) -> int or None; got gamma={gamma!r}")


def _walk(node: Mapping[str, Any], prefix: Path) -> list[tuple[Path, Domain]]:
    """The domains at dict paths inside a choice option (those inside lists are not modelled)."""
    found: list[tuple[Path, Domain]] = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found += _walk(value, (*prefix, key))
        elif isinstance(value, Domain) and not isinstance(value, (SampleFrom, GridValues)):
            found.append(((*prefix, key), value))
    return found


class _Level:
    """The model of one level of the space, and the history of what was proposed there.

    Columns: numbers (unit coordinates), ordinals (numbers with few values: cell index), choices
    and grid dimensions (option index; a grid column is always fixed to the grid point). The top
    level holds the unconditional dimensions; each option of a choice that is a dict holding
    domains has a level of its own, fitted only on the trials that took that option.
    """

    def __init__(self, items: Sequence[tuple[Path, Domain]], grids: Sequence[tuple[Path, GridValues]] = ()) -> None:
        self.numbers: list[tuple[Path, Domain]] = []
        self.ordinals: list[tuple[Path, list[Any]]] = []
        cells = []
        for path, domain in items:
            if isinstance(domain, (Float, Integer, Normal)):
                found = cells_of(domain)
                if found is None:
                    self.numbers.append((path, domain))
                else:
                    cells.append(found[0])
                    self.ordinals.append((path, found[1]))
        self.cells = tuple(cells)
        self.choices: list[tuple[Path, Categorical]] = [(p, d) for p, d in items if isinstance(d, Categorical)]
        self.grids = list(grids)
        self.numeric = len(self.numbers)
        self.sizes = tuple([len(c.options) for _, c in self.choices] + [len(g.values) for _, g in grids])
        self.snaps = [snapper(d) for _, d in self.numbers]
        self.branches: dict[tuple[int, int], _Level] = {}
        for j, (path, choice) in enumerate(self.choices):
            for i, option in enumerate(choice.options):
                inner = _walk(option, path) if isinstance(option, Mapping) else []
                if inner:
                    self.branches[(j, i)] = _Level(inner)
        self.first_choice = self.numeric + len(self.cells)  # the column of the first choice
        width = self.first_choice + len(self.sizes)
        self.x = np.empty((16, width))
        self.state = np.empty(16, dtype=np.int8)
        self.loss = np.empty(16)
        self.reach = np.empty(16)
        self.n = 0
        # Per number and ordinal column, its values so far in sorted order and the rows they belong
        # to: the bandwidths need each group sorted, and filtering these is cheaper than sorting.
        self.sorted_values = np.empty((self.first_choice, 16))
        self.sorted_rows = np.empty((self.first_choice, 16), dtype=np.intp)

    @property
    def models(self) -> bool:
        """Whether there is anything to choose here besides grid values."""
        return bool(self.numbers or self.ordinals or self.choices)

    def _append(self, row: Array) -> int:
        if self.n == len(self.x):
            grow = len(self.x)
            self.x = np.concatenate([self.x, np.empty((grow, self.x.shape[1]))])
            self.state = np.concatenate([self.state, np.empty(grow, dtype=np.int8)])
            self.loss = np.concatenate([self.loss, np.empty(grow)])
            self.reach = np.concatenate([self.reach, np.empty(grow)])
            self.sorted_values = np.hstack([self.sorted_values, np.empty_like(self.sorted_values)])
            self.sorted_rows = np.hstack([self.sorted_rows, np.empty_like(self.sorted_rows)])
        n = self.n
        self.x[n] = row
        self.state[n] = RUNNING
        for j in range(self.first_choice):
            values, rows = self.sorted_values[j], self.sorted_rows[j]
            at = int(np.searchsorted(values[:n], row[j], side="right"))
            values[at + 1 : n + 1] = values[at:n]  # numpy copies overlapping slices safely
            rows[at + 1 : n + 1] = rows[at:n]
            values[at], rows[at] = row[j], n
        self.n += 1
        return self.n - 1

    def _orders(self, member: NDArray[np.bool_]) -> list[NDArray[np.intp]]:
        """Per number and ordinal column, the indices into `x[member]` that sort that column."""
        rank = np.cumsum(member) - 1  # the index of each member row within x[member]
        return [rank[rows[member[rows]]] for rows in self.sorted_rows[:, : self.n]]

    def propose(
        self, tpe: TPE, rng: np.random.Generator, point: Mapping[Path, Any], rows: list[tuple[_Level, int]]
    ) -> dict[Path, Any]:
        """Choose this level's values (and those of the chosen options' levels); record them as running."""
        first_grid = self.first_choice + len(self.choices)
        fixed = {
            first_grid + g: int(dom.to_unit(point[path]) * len(dom.values)) for g, (path, dom) in enumerate(self.grids)
        }
        row = self._model(tpe, rng, fixed)
        if row is None:  # too few finished trials: a draw from the prior
            row = self._prior_row(rng, fixed)
        values: dict[Path, Any] = {}
        for j, (path, domain) in enumerate(self.numbers):
            values[path] = domain.from_unit(float(row[j]))
            row[j] = domain.to_unit(values[path])  # the encoding of the value actually proposed
        for j, (path, options) in enumerate(self.ordinals):
            values[path] = options[int(row[self.numeric + j])]
        chosen = []
        for j, (path, choice) in enumerate(self.choices):
            index = int(row[self.first_choice + j])
            values[path] = choice.options[index]
            chosen.append((j, index))
        rows.append((self, self._append(row)))
        for key in chosen:
            if key in self.branches:
                values.update(self.branches[key].propose(tpe, rng, {}, rows))
        return values

    def _prior_row(self, rng: np.random.Generator, fixed: Mapping[int, int]) -> Array:
        """A random row (uniform in the unit cube, every cell and option equally likely), `fixed` held."""
        row = np.empty(self.x.shape[1])
        row[: self.numeric] = rng.random(self.numeric)
        for j, cells in enumerate(self.cells):
            row[self.numeric + j] = min(
                int(np.searchsorted(cells.edges, rng.random(), side="right")) - 1, len(cells.middles) - 1
            )
        for j, size in enumerate(self.sizes[: len(self.choices)]):
            row[self.first_choice + j] = rng.integers(size)
        for j, index in fixed.items():
            row[j] = index
        return row

    def _model(self, tpe: TPE, rng: np.random.Generator, fixed: dict[int, int]) -> Array | None:
        """The best of `tpe.n_candidates` draws from the good density by the ratio good / bad."""
        n = self.n
        state = self.state[:n]
        finished = int(np.count_nonzero((state == DONE) | (state == STOPPED)))
        if finished < tpe.n_startup:
            return None
        below = self._below(min(max(1, tpe._n_below(finished)), finished))
        above = np.ones(n, dtype=bool)
        above[below] = False
        if not tpe.constant_liar:
            above &= state != RUNNING
        x = self.x[:n]
        choices = self.sizes
        good = Parzen(x[below], self._good_weights(below, above), self.numeric, self.cells, choices)
        bad_x = x[above]
        bad = Parzen(bad_x, old_decay_weights(len(bad_x)), self.numeric, self.cells, choices, self._orders(above))
        candidates = good.sample(rng, tpe.n_candidates, fixed, independent=not tpe.multivariate)
        if self.choices and tpe.explore_choices and rng.random() < tpe.explore_choices:
            # Every candidate takes the same options, drawn uniformly, with the numbers it drew, and
            # the ratio picks among them: the good group can lock onto options whose numbers were
            # tuned first while others are better with other numbers (an interaction the ratio alone
            # never leaves). Measured on bench/searchers.py: see BENCHMARKS.md.
            for j, size in enumerate(self.sizes[: len(self.choices)]):
                candidates[:, self.first_choice + j] = rng.integers(size)
        scored = candidates.copy()
        for j, snap in enumerate(self.snaps):
            if snap is not None:
                scored[:, j] = snap(scored[:, j])
        if tpe.multivariate:
            ratio = good.log_pdf(scored) - bad.log_pdf(scored)
            chosen: Array = candidates[int(np.argmax(ratio))].copy()
            return chosen
        ratios = good.log_pdf_columns(scored) - bad.log_pdf_columns(scored)
        per_column: Array = candidates[np.argmax(ratios, axis=0), np.arange(candidates.shape[1])]
        return per_column

    def _good_weights(self, below: NDArray[np.intp], above: NDArray[np.bool_]) -> Array:
        """Weights of the good group: by how much each beats the best of the rest (its improvement).

        Watanabe (2023, "Tree-structured Parzen estimator: understanding its algorithm components")
        found these "EI" weights better than equal ones; they are scaled to average 1, the prior's
        weight. Equal weights when some good trial was stopped early (its value is not comparable).
        """
        n = self.n
        rest = above & (self.state[:n] == DONE)
        if not rest.any() or (self.state[below] != DONE).any():
            return old_decay_weights(len(below))
        gain = np.maximum(self.loss[:n][rest].min() - self.loss[below], 1e-12)
        weights: Array = gain / gain.mean()
        return weights

    def _below(self, count: int) -> NDArray[np.intp]:
        """The rows of the good group, oldest first: the best finished trials, then the best stopped early.

        Trials stopped early (by a scheduler) rank after every trial that ran to its end: first
        those that got further, then by their last value (Optuna ranks pruned trials so).
        """
        state = self.state[: self.n]
        done = np.flatnonzero(state == DONE)
        if len(done) >= count:
            picked = done[np.argpartition(self.loss[done], count - 1)[:count]] if len(done) > count else done
        else:
            stopped = np.flatnonzero(state == STOPPED)
            order = np.lexsort((self.loss[stopped], -self.reach[stopped]))
            picked = np.concatenate([done, stopped[order[: count - len(done)]]])
        return np.sort(picked)

    def finish(self, row: int, state: int, loss: float, reach: float) -> None:
        self.state[row], self.loss[row], self.reach[row] = state, loss, reach


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

    The space: numbers (uniform, log, integer, quantised, normal) are modelled in the unit cube
    through their domains' `to_unit`/`from_unit`; those with at most 64 values by the mass of each
    value's cell, the others by densities. Choices are modelled by categorical kernels. A choice
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
        seed: int | None = None,
    ) -> None:
        self.n_startup = _check_count("n_startup", n_startup, 1)
        self.n_candidates = _check_count("n_candidates", n_candidates, 1)
        for name, flag in (("multivariate", multivariate), ("constant_liar", constant_liar)):
            if not isinstance(flag, bool):
                raise ValueError(f"TPE needs {name} to be True or False; got {name}={flag!r}")
        if (
            isinstance(explore_choices, bool)
            or not isinstance(explore_choices, numbers.Real)
            or not 0 <= explore_choices <= 1
        ):
            raise ValueError(
                f"TPE needs explore_choices to be a share in [0, 1]; got explore_choices={explore_choices!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"TPE needs seed to be an int or None; got seed={seed!r}")
        super().__init__(seed)
        self.multivariate: bool = multivariate
        self.constant_liar: bool = constant_liar
        self.gamma = gamma
        self._n_below: Callable[[int], int] = _gamma(gamma)
        self.explore_choices: float = float(explore_choices)

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        if metric is None:
            raise ValueError("TPE needs a metric to model; pass metric= to rung.run (or use search='random')")
        self._root = _Level(space.paths, space.grid_dims)
        if not self._root.models:
            kind = "grid dimensions" if space.grid_dims else "constants and derived values"
            raise ValueError(
                f"TPE needs at least one number or choice to model; this space has only {kind}: use search='grid'"
            )
        self._start_grid()
        self._rng = np.random.default_rng(self.seed)
        self._rows: dict[int, list[tuple[_Level, int]]] = {}  # where each running trial sits in the history
        self._last: dict[int, tuple[float, float]] = {}  # trial id -> (last metric value, its iteration)
        self._fidelity: tuple[str, list[float]] | None = None

    def set_fidelity(self, time_attr: str, milestones: list[float]) -> None:
        """Learn BOHB-style (Falkner et al. 2018) under a multi-fidelity scheduler.

        Each trial's value is read at every milestone it passes. The model is fitted at the highest
        milestone that `n_startup` ended trials have reached: those trials form the finished group,
        compared by their value there (also the ones that went further); trials stopped below it
        rank after them, by how far they got, then by their value at their highest milestone.
        """
        self._fidelity = (time_attr, sorted(float(m) for m in milestones))
        self._at: dict[int, dict[float, float]] = {}  # trial id -> milestone -> value there
        self._ended: dict[int, tuple[list[tuple[_Level, int]], Status]] = {}
        self._reached: dict[float, int] = dict.fromkeys(self._fidelity[1], 0)  # ended trials with a value there
        self._budget: float | None = None

    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        if point is None:
            return None
        rows: list[tuple[_Level, int]] = []
        values = self._root.propose(self, self._rng, point, rows)
        self._rows[trial_id] = rows
        return self.space.sample(self._rng, fixed={**point, **values})

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        if trial_id not in self._rows or self.metric not in result:
            return
        value = result[self.metric]
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        iteration = result.get("training_iteration", 0)
        reach = float(iteration) if isinstance(iteration, numbers.Real) else 0.0
        self._last[trial_id] = (float(value) if number else math.nan, reach)
        if self._fidelity is not None:
            time = result.get(self._fidelity[0])
            if isinstance(time, numbers.Real) and not isinstance(time, bool):
                passed = self._at.setdefault(trial_id, {})
                for milestone in self._fidelity[1]:
                    if milestone > time:
                        break
                    # The first result at or past a milestone is the trial's value there.
                    passed.setdefault(milestone, float(value) if number else math.nan)

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:
        if result is not None:
            self.observe(trial_id, result)
        rows = self._rows.pop(trial_id, None)
        if rows is None:
            return
        if self._fidelity is not None:
            self._last.pop(trial_id, None)
            self._ended[trial_id] = (rows, status)
            if status is not Status.ERROR:
                for milestone, value in self._at.get(trial_id, {}).items():
                    self._reached[milestone] += math.isfinite(value)
            budget = self._highest_budget()
            if budget != self._budget:
                self._budget = budget
                for ended in self._ended:  # the common budget moved up: every ended trial is re-read
                    self._finish_at_budget(ended)
            else:
                self._finish_at_budget(trial_id)
            return
        value, reach = self._last.pop(trial_id, (math.nan, 0.0))
        state = DONE if status is Status.TERMINATED else STOPPED
        if status is Status.ERROR or not math.isfinite(value):
            state = WORST
        loss = -value if self.mode == "max" else value
        for level, row in rows:
            level.finish(row, state, loss, reach)

    def _highest_budget(self) -> float | None:
        """The highest milestone that at least `n_startup` ended trials reached with a finite value."""
        for milestone in sorted(self._reached, reverse=True):
            if self._reached[milestone] >= self.n_startup:
                return milestone
        return None

    def _finish_at_budget(self, trial_id: int) -> None:
        rows, status = self._ended[trial_id]
        passed = {m: v for m, v in self._at.get(trial_id, {}).items() if math.isfinite(v)}
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
