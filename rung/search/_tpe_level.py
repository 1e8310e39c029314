"""The history and model of one level of a TPE search space (see `rung.search.tpe`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rung._blas import single_threaded
from rung.domains import Categorical, Domain, Float, GridValues, Integer, Normal, SampleFrom, matches
from rung.search._parzen import Cells, Parzen, cells_of, old_decay_weights, snapper

__all__ = ["DONE", "RUNNING", "STOPPED", "WORST", "Level", "Settings"]

Array = NDArray[np.float64]
Path = tuple[str, ...]

# The state of a proposed configuration, as one of a level's history rows.
RUNNING, DONE, STOPPED, WORST = 0, 1, 2, 3
MAX_BAD_KERNELS = 1024
"""The bad group's density has at most this many kernels (plus the prior's); see `_thinned`."""
REUSE_FROM = 2048
"""From this many finished trials on, a level's densities are refitted only when that number grew by
REUSE_SHARE since the last fit (or the fidelity they are read at changed); see `Level._reusable`."""
REUSE_SHARE = 0.01
ORDERS_UP_TO = 2
"""The bad group's kernels are ordered by filtering the history's sorted rows while the history has at
most this many rows per kernel, else sorted afresh (see `Level._fit`)."""
REUSE_BATCH = 16
"""While densities are reused, proposals are chosen this many at a time (see `Level._model`)."""


@dataclass(frozen=True)
class Settings:
    """What a level's model reads of its searcher's settings (see `rung.TPE` for each), fixed at setup.

    As Optuna's `_ParzenEstimatorParameters`: the model gets these values, not the searcher.
    """

    n_startup: int
    n_candidates: int
    multivariate: bool
    constant_liar: bool
    n_below: Callable[[int], int]  # the size of the good group among n compared trials (gamma)
    explore_choices: float
    reuse_from: int = REUSE_FROM
    reuse_share: float = REUSE_SHARE
    reuse_batch: int = REUSE_BATCH
    log_cost: Callable[[Array], Array | None] | None = None
    """The predicted log cost of candidate rows of the top level (`TPE(cost_aware=True)`), or None."""


def _get(config: Mapping[str, Any], path: Path) -> Any:
    node: Any = config
    for key in path:
        node = node[key]
    return node


def _walk(node: Mapping[str, Any], prefix: Path) -> list[tuple[Path, Domain]]:
    """The domains at dict paths inside a choice option (those inside lists are not modelled)."""
    found: list[tuple[Path, Domain]] = []
    for key, value in node.items():
        if isinstance(value, Mapping):
            found += _walk(value, (*prefix, key))
        elif isinstance(value, Domain) and not isinstance(value, (SampleFrom, GridValues)):
            found.append(((*prefix, key), value))
    return found


class Level:
    """The model of one level of the space, and the history of what was proposed there.

    Columns: numbers (unit coordinates), ordinals (numbers with few values: cell index), choices
    and grid dimensions (option index; a grid column is always fixed to the grid point). The top
    level holds the unconditional dimensions; each option of a choice that is a dict holding
    domains has a level of its own, fitted only on the trials that took that option.
    """

    def __init__(
        self,
        items: Sequence[tuple[Path, Domain]],
        grids: Sequence[tuple[Path, GridValues]] = (),
        ordered_choices: bool = False,
    ) -> None:
        self.numbers: list[tuple[Path, Domain]] = []
        self.ordinals: list[tuple[Path, list[Any]]] = []
        cells = []
        ordinal_choices: set[Path] = set()
        for path, domain in items:
            if isinstance(domain, (Float, Integer, Normal)):
                found = cells_of(domain)
                if found is None:
                    self.numbers.append((path, domain))
                else:
                    cells.append(found[0])
                    self.ordinals.append((path, found[1]))
            elif ordered_choices and isinstance(domain, Categorical) and (ordered := domain.ordered()) is not None:
                # A choice of numbers: an ordinal by rank, one equal cell per option (kernels spread
                # to the neighbouring options, as for an integer).
                edges = np.linspace(0.0, 1.0, len(ordered) + 1)
                cells.append(Cells(edges, 0.5 * (edges[:-1] + edges[1:])))
                self.ordinals.append((path, list(ordered)))
                ordinal_choices.add(path)
        self.cells = tuple(cells)
        self.choices: list[tuple[Path, Categorical]] = [
            (p, d) for p, d in items if isinstance(d, Categorical) and p not in ordinal_choices
        ]
        self.grids = list(grids)
        self.numeric = len(self.numbers)
        self.sizes = tuple([len(c.options) for _, c in self.choices] + [len(g.values) for _, g in grids])
        self.snaps = [snapper(d) for _, d in self.numbers]
        self.branches: dict[tuple[int, int], Level] = {}
        for j, (path, choice) in enumerate(self.choices):
            for i, option in enumerate(choice.options):
                inner = _walk(option, path) if isinstance(option, Mapping) else []
                if inner:
                    self.branches[(j, i)] = Level(inner, ordered_choices=ordered_choices)
        self.first_choice = self.numeric + len(self.cells)  # the column of the first choice
        width = self.first_choice + len(self.sizes)
        self.x = np.empty((16, width))
        self.state = np.empty(16, dtype=np.int8)
        self.loss = np.empty(16)
        self.reach = np.empty(16)
        self.n = 0
        self.finished = 0  # rows DONE or STOPPED (kept by `finish`: counting costs O(n) per proposal)
        self.done = 0  # rows DONE
        # Per number and ordinal column, the rows of the first `sorted_n` rows in the order of that
        # column's values: the bandwidths need each group sorted, and filtering this order is cheaper
        # than sorting. Rows appended since are merged in when a model is fitted (`_sorted_rows`).
        self.sorted_rows = np.empty((self.first_choice, 0), dtype=np.intp)
        self.sorted_n = 0
        # The densities last fitted: (finished trials then, the fidelity they were read at, good, bad).
        self._fitted: tuple[int, float | None, Parzen, Parzen] | None = None
        # Bumped whenever a row's state, loss or reach is set (`finish`): the good density depends on
        # nothing else, so it is refitted only when this or the good group's size moved (see `_fit`).
        self.version = 0
        self._good: tuple[int, int, NDArray[np.intp], Parzen] | None = None  # (version, size, rows, density)
        # Proposals chosen ahead from the reused densities, per set of fixed columns (see `_model`).
        self._queued: dict[tuple[tuple[int, int], ...], list[Array]] = {}

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
        n = self.n
        self.x[n] = row
        self.state[n] = RUNNING
        self.n += 1
        return n

    def _sorted_rows(self) -> NDArray[np.intp]:
        """Per number and ordinal column, every row so far in the order of that column's values."""
        n, old = self.n, self.sorted_n
        if old < n and self.first_choice:
            merged = np.empty((self.first_choice, n), dtype=np.intp)
            new = np.arange(old, n)
            for j in range(self.first_choice):
                column = self.x[:n, j]
                fresh = new[np.argsort(column[old:n], kind="stable")]
                # Each new row goes after the old rows with equal values (as an insertion would).
                at = np.searchsorted(column[self.sorted_rows[j]], column[fresh], side="right")
                merged[j] = np.insert(self.sorted_rows[j], at, fresh)
            self.sorted_rows = merged
        self.sorted_n = n
        return self.sorted_rows

    def _orders(self, member: NDArray[np.bool_]) -> list[NDArray[np.intp]]:
        """Per number and ordinal column, the indices into `x[member]` that sort that column."""
        rank = np.cumsum(member) - 1  # the index of each member row within x[member]
        return [rank[rows[member[rows]]] for rows in self._sorted_rows()]

    def propose(
        self,
        settings: Settings,
        budget: float | None,
        rng: np.random.Generator,
        point: Mapping[Path, Any],
        rows: list[tuple[Level, int]],
    ) -> dict[Path, Any]:
        """Choose this level's values (and those of the chosen options' levels); record them as running.

        `budget`: the milestone the model compares trials at (BOHB-style), or None.
        """
        first_grid = self.first_choice + len(self.choices)
        fixed = {
            first_grid + g: int(dom.to_unit(point[path]) * len(dom.values)) for g, (path, dom) in enumerate(self.grids)
        }
        row = self._model(settings, budget, rng, fixed)
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
                # The cost model reads the top level's columns: an option's level chooses by the ratio alone.
                inner = settings if settings.log_cost is None else dataclasses.replace(settings, log_cost=None)
                values.update(self.branches[key].propose(inner, budget, rng, {}, rows))
        return values

    def record(self, config: Mapping[str, Any], rows: list[tuple[Level, int]]) -> None:
        """Record a configuration this searcher did not propose (and those of the chosen options'
        levels) as running: encoded as `propose` encodes its own."""
        row = np.empty(self.x.shape[1])
        for j, (path, domain) in enumerate(self.numbers):
            row[j] = domain.to_unit(_get(config, path))
        for j, (path, options) in enumerate(self.ordinals):
            value = _get(config, path)
            row[self.numeric + j] = min(range(len(options)), key=lambda i: abs(float(options[i]) - float(value)))
        chosen = []
        for j, (path, choice) in enumerate(self.choices):
            value = _get(config, path)
            index = next((i for i, option in enumerate(choice.options) if matches(option, value)), 0)
            row[self.first_choice + j] = index
            chosen.append((j, index))
        first_grid = self.first_choice + len(self.choices)
        for g, (path, dom) in enumerate(self.grids):
            row[first_grid + g] = min(int(dom.to_unit(_get(config, path)) * len(dom.values)), len(dom.values) - 1)
        rows.append((self, self._append(row)))
        for key in chosen:
            if key in self.branches:
                self.branches[key].record(config, rows)

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

    def _model(
        self, settings: Settings, budget: float | None, rng: np.random.Generator, fixed: dict[int, int]
    ) -> Array | None:
        """The best of `settings.n_candidates` draws from the good density by the ratio good / bad.

        While the densities are reused (long histories, see `_reusable`), proposals are chosen
        `settings.reuse_batch` at a time, in one draw and one scoring (the cost of a proposal is then
        mostly numpy's per-call overhead), and handed out one by one until the next fit.
        """
        finished = self.finished
        if finished < settings.n_startup:
            return None
        reused = self._reusable(settings, budget, finished)
        key = tuple(sorted(fixed.items()))
        queue = self._queued.get(key) if reused is not None else None
        if queue:
            return queue.pop()
        # The densities' products are small and thin: BLAS threads only add wake-ups, which on a
        # busy machine cost many times the product itself.
        with single_threaded():
            good, bad = reused if reused is not None else self._fit(settings, budget, finished)
            if finished < settings.reuse_from:
                one: Array = self._choose(settings, rng, good, bad, fixed, 1)[0]
                return one
            batch = self._choose(settings, rng, good, bad, fixed, settings.reuse_batch)
            queue = self._queued[key] = list(batch)[::-1]
        return queue.pop()

    def _choose(
        self, settings: Settings, rng: np.random.Generator, good: Parzen, bad: Parzen, fixed: dict[int, int], count: int
    ) -> Array:
        """`count` proposals (rows), each the best of its own `settings.n_candidates` draws."""
        m = settings.n_candidates
        candidates = good.sample(rng, m * count, fixed, independent=not settings.multivariate)
        if self.choices and settings.explore_choices:
            for group in range(count):
                if rng.random() < settings.explore_choices:
                    # Every candidate of the group takes the same options, drawn uniformly, with the
                    # numbers it drew, and the ratio picks among them: the good group can lock onto
                    # options whose numbers were tuned first while others are better with other
                    # numbers (an interaction the ratio alone never leaves). Measured on
                    # bench/searchers.py: see BENCHMARKS.md.
                    for j, size in enumerate(self.sizes[: len(self.choices)]):
                        candidates[group * m : (group + 1) * m, self.first_choice + j] = rng.integers(size)
        scored = candidates.copy()
        for j, snap in enumerate(self.snaps):
            if snap is not None:
                scored[:, j] = snap(scored[:, j])
        groups = candidates.reshape(count, m, -1)
        if settings.multivariate:
            ratio = (good.log_pdf(scored) - bad.log_pdf(scored)).reshape(count, m)
            cost = None if settings.log_cost is None else settings.log_cost(scored)
            if cost is not None:
                # Improvement per unit of cost (Snoek et al. 2012's EI per second): the ratio, which
                # grows with expected improvement, over the predicted cost, in logs.
                ratio = ratio - cost.reshape(count, m)
            chosen: Array = groups[np.arange(count), np.argmax(ratio, axis=1)]
            return chosen
        ratios = (good.log_pdf_columns(scored) - bad.log_pdf_columns(scored)).reshape(count, m, -1)
        best = np.argmax(ratios, axis=1)  # count x columns
        per_column: Array = np.take_along_axis(groups, best[:, None, :], axis=1)[:, 0, :]
        return per_column

    def _reusable(self, settings: Settings, budget: float | None, finished: int) -> tuple[Parzen, Parzen] | None:
        """The good and the bad density last fitted, if they may serve this proposal too.

        Up to REUSE_FROM finished trials every proposal fits both densities afresh. Beyond, one more
        trial moves them by a fraction of a percent while a fit costs time that grows with the
        history, so they are refitted only once the number of finished trials grew by REUSE_SHARE
        (every 1,000 trials at 100,000), or when the fidelity they are read at moved up (BOHB-style).
        Proposals in between come from the same densities; trials started meanwhile join the bad
        group (constant liar) at the next fit. Deterministic: same calls, same fits.
        """
        if self._fitted is None or finished < settings.reuse_from:
            return None
        at, fitted_budget, good, bad = self._fitted
        if fitted_budget == budget and at <= finished < at * (1 + settings.reuse_share):
            return good, bad
        return None

    def _fit(self, settings: Settings, budget: float | None, finished: int) -> tuple[Parzen, Parzen]:
        """The good and the bad density, fitted on the history now."""
        n = self.n
        # At a fidelity (BOHB-style), as in Falkner et al. 2018: the model compares only the trials
        # with a value there, the best gamma of them against the rest; trials stopped below it are
        # left out (they would otherwise fill the bad group and make "good" mean "survived the
        # early rungs"). Failed trials stay in the bad group. Measured on bench/: BENCHMARKS.md.
        at_budget = budget is not None and self.done >= settings.n_startup
        compared = self.done if at_budget else finished
        count = min(max(1, settings.n_below(compared)), compared)
        # No row has ended or been re-read since the last fit (a proposal between two ends, as a
        # paused trial frees a slot, only adds running rows): the same good group, weights and density.
        cached = self._good if self._good is not None and self._good[:2] == (self.version, count) else None
        below = self._below(count) if cached is None else cached[2]
        above = np.ones(n, dtype=bool)
        above[below] = False
        if at_budget:
            above &= self.state[:n] != STOPPED
        if not settings.constant_liar:
            above &= self.state[:n] != RUNNING
        x = self.x[:n]
        choices = self.sizes
        if cached is not None:
            good = cached[3]
        else:
            good = Parzen(x[below], self._good_weights(below, above), self.numeric, self.cells, choices)
            self._good = (self.version, count, below, good)
        kernels, weights = _thinned(np.flatnonzero(above))
        bad_rows = np.zeros(n, dtype=bool)
        bad_rows[kernels] = True
        # Per column, the bandwidths need the kernels sorted: filtering the history's order costs
        # O(history) (and merging new rows into it), sorting the at most MAX_BAD_KERNELS kernels afresh
        # O(kernels log kernels); the history's order serves while the history is at most twice as
        # long (measured). Either order gives the same bandwidths (ties get one value: `_bandwidths`).
        orders = self._orders(bad_rows) if n <= ORDERS_UP_TO * len(kernels) else None
        bad = Parzen(x[bad_rows], weights, self.numeric, self.cells, choices, orders)
        self._fitted = (finished, budget, good, bad)
        self._queued.clear()
        return good, bad

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
        self.version += 1
        self.finished += int(state in (DONE, STOPPED)) - int(self.state[row] in (DONE, STOPPED))
        self.done += int(state == DONE) - int(self.state[row] == DONE)
        self.state[row], self.loss[row], self.reach[row] = state, loss, reach


def _thinned(rows: NDArray[np.intp]) -> tuple[NDArray[np.intp], Array]:
    """The bad group's kernels and weights: `rows` (oldest first) with their decaying weights,
    thinned to at most MAX_BAD_KERNELS.

    The newest half of the allowance keeps one kernel per trial; of the older trials every k-th
    stands for itself and the k - 1 before it, carrying their summed weight. So the density keeps
    its shape over time while its cost stops growing with the history (with 100,000 trials a
    proposal would otherwise score candidates against 100,000 kernels). Deterministic: no draw.
    """
    weights = old_decay_weights(len(rows))
    if len(rows) <= MAX_BAD_KERNELS:
        return rows, weights
    recent = MAX_BAD_KERNELS // 2
    old = len(rows) - recent
    step = -(-old // (MAX_BAD_KERNELS - recent))  # ceiling: at most the other half for the old trials
    starts = np.arange(0, old, step)
    kept = np.minimum(starts + step - 1, old - 1)  # the newest trial of each stretch stands for it
    picked = np.concatenate([rows[kept], rows[old:]])
    return picked, np.concatenate([np.add.reduceat(weights[:old], starts), weights[old:]])
