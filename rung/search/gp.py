"""Gaussian-process Bayesian optimisation: `rung.GP`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rung._checks import INTEGER, Boolean, Interval, Options, check
from rung._numbers import is_number
from rung.domains import Categorical, Domain, Float, GridValues, Integer, Normal, has_domain
from rung.models.gp import ACQUISITIONS, GaussianProcess, maximize_acquisition, single_threaded
from rung.objectives import Objectives
from rung.search import _ehvi
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config, Status

__all__ = ["GP"]

Array = NDArray[np.float64]
Path = tuple[str, ...]

N_CANDIDATES = 512  # random candidates per suggestion (plus as many again around the best points)
# Scoring candidates costs O(n) each: beyond 250 observations, fewer of them keep the cost flat
# (256 + 256 at 500), the refinement by L-BFGS-B of the best ones doing the fine search.
CANDIDATE_WORK = 250 * N_CANDIDATES
N_LOCAL = 3  # of which the best few are refined by L-BFGS-B
REFINE_EVALS = 40  # posterior evaluations (with gradients) of that refinement, at most
LOCAL_SD = 0.05  # the spread of candidates drawn around the best points, in the unit cube
RESTARTS = 2  # random restarts of the hyperparameter fit, besides the warm start
REFIT_SHARE = 0.1  # random restarts of the fit once the data grew by this share (or by 1 point)
# The likelihood evaluations one suggestion may spend: FIT_WORK / max(n, 50)^2, at least 2. From 100
# to 500 observations an evaluation's cost grows about as n^2 (the kernel's element-wise work weighs
# as much as the O(n^3) factorisations), so this holds a suggestion's fitting to 15-30 ms of CPU on
# the machine of BENCHMARKS.md at any n up to 500: 200 evaluations up to 50 observations, 50 at
# 100, 12 at 200, 2 at 500.
FIT_WORK = 5e5
RESTART_EVALS = 25  # random restarts only while each start can have this many evaluations
NORMAL_EDGE = 0.0013498980316301  # Phi(-3): proposals for normal domains stay within mu +- 3 sigma


def _fit_budget(n: int) -> int:
    """The likelihood evaluations a suggestion may spend on n observations (see FIT_WORK)."""
    return max(2, int(FIT_WORK / max(n, 50) ** 2))


@dataclass(frozen=True)
class _Column:
    """Where one dimension of the space sits in the encoded vector."""

    path: Path
    domain: Domain
    start: int
    width: int  # 1 for numbers, the number of options for choices and grids (one-hot)
    ordered: tuple[Any, ...] | None = None  # a choice of numbers, modelled by rank in one column

    @property
    def numeric(self) -> bool:
        return self.width == 1 and (isinstance(self.domain, (Float, Integer, Normal)) or self.ordered is not None)

    @property
    def options(self) -> tuple[Any, ...]:
        if isinstance(self.domain, GridValues):
            return tuple(self.domain.values)
        return tuple(self.domain.options) if isinstance(self.domain, Categorical) else ()


class GP(Searcher):
    """Bayesian optimisation with a Gaussian process (Matérn-5/2 kernel, fitted by marginal likelihood).

    Each dimension is mapped to the unit cube (log- and integer-aware; choices and grid dimensions
    one-hot), the metric is standardised, and the next configuration maximises the acquisition
    (`"ei"` expected improvement, `"pi"` probability of improvement or `"ucb"` a confidence bound)
    over random candidates refined by L-BFGS-B. The kernel's hyperparameters maximise the marginal
    likelihood times a weak log-normal prior on the lengthscales that widens with the dimension
    (Hvarfner et al. 2024). Each suggestion carries the fit on from where the last one left it,
    with a bounded number of likelihood evaluations (plus random restarts each time the data grew
    by 10%, while that is cheap), so no suggestion waits for a fit from scratch. While trials run,
    their points count as observed at the model's own prediction (kriging believer), so parallel
    slots get different proposals. Up to 500 observations in 6 dimensions, every suggestion takes
    under 100 ms (`python -m bench.gp_cost`).

    Several objectives (`metric=[...]`) or constraints: one GP per objective and per constraint, and
    the expected hypervolume improvement over the feasible front (exact, by box decomposition) times
    the probability that each constraint is met, to the 4th power (`rung.search._ehvi`: to keep proposals
    on the feasible side of a boundary optimum); trials count by their judged
    result (`rung.objectives`), running ones at the models' predictions.

    What is learnt: a trial's LAST reported metric value, once it has ended (TERMINATED or
    STOPPED). A last value that is NaN or infinite (a diverged run) counts as the worst value seen;
    a trial that ended with an error, or never reported the metric, teaches nothing. Trials that
    a scheduler creates (PBT clones) are not learnt from. Choices between nested spaces are
    modelled by the option chosen; the nested values are sampled at random. `sample_from` values
    are derived as usual. Grid dimensions are crossed as by `rung.Random` (`num_samples` times the
    grid size in all) and the model searches the other dimensions for each grid point.

    Args:
        acquisition: "ei", "pi" or "ucb".
        seed: Seeds this searcher's generator (default: the run's seed).
        n_startup: Random configurations before the model is used (default: twice the number of
            modelled dimensions, between 5 and 10).
        ordered_choices: Model a choice of three or more numbers (`choice([32, 64, 128])`) as one
            ordered dimension, by rank (64 lies between 32 and 128); False: one-hot, as categories.

    Example:
        >>> space = {"lr": rung.loguniform(1e-4, 1e-1), "layers": rung.randint(1, 4)}
        >>> rung.run(train, space, metric="loss", num_samples=50, search=rung.GP(seed=1))  # doctest: +SKIP
    """

    def __init__(
        self,
        acquisition: str = "ei",
        seed: int | None = None,
        n_startup: int | None = None,
        ordered_choices: bool = True,
    ) -> None:
        check("GP", "acquisition", acquisition, Options(ACQUISITIONS))
        self.ordered_choices: bool = check("GP", "ordered_choices", ordered_choices, Boolean())
        check("GP", "n_startup", n_startup, Interval(int, 1, None), None)
        check("GP", "seed", seed, INTEGER, None)
        super().__init__(seed)
        self.acquisition = acquisition
        self.n_startup = n_startup

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        if metric is None:
            raise ValueError("GP needs a metric to model; pass metric= to rung.run (or use search='random')")
        self._columns = self._encoding(space)
        self._dims = sum(c.width for c in self._columns)
        modelled = sum(1 for c in self._columns if not isinstance(c.domain, GridValues))
        self._startup = self.n_startup if self.n_startup is not None else min(10, max(5, 2 * modelled))
        self._start_grid()
        self._rng = np.random.default_rng(self.seed)
        # A log-normal lengthscale prior that grows with the dimension (Hvarfner et al., ICML 2024)
        # keeps fits on few points from collapsing to short lengthscales, which in several
        # dimensions makes the acquisition chase the corners of the cube.
        prior = (math.sqrt(2.0) + 0.5 * math.log(self._dims), math.sqrt(3.0))
        self._gp = GaussianProcess(self._dims, lengthscale_prior=prior)
        self._models: dict[str, GaussianProcess] = {"": self._gp}  # by name: "", or per objective and constraint
        self._fitted_at: dict[str, int] = {}  # the number of observations at each model's last random restarts
        self._x: dict[int, Array] = {}  # the encoding of every configuration this searcher proposed
        self._last: dict[int, float] = {}  # the last reported metric value of each trial
        self._done: dict[int, float] = {}  # ended trials that teach: trial id -> last value (maybe NaN)
        self._objectives: Objectives | None = None  # several, or constraints (set_objectives)

    multi_objective = True

    def set_objectives(self, objectives: Objectives) -> None:
        super().set_objectives(objectives)
        self._objectives = objectives
        self._judged: dict[int, dict[str, Any]] = {}  # trial id -> its judged result so far
        self._results: dict[int, dict[str, Any]] = {}  # ended trials that teach: trial id -> judged result

    def _encoding(self, space: Space) -> list[_Column]:
        columns: list[_Column] = []
        start = 0
        conditional: list[str] = []
        for path, domain in [*space.paths, *space.grid_dims]:
            ordered = domain.ordered() if isinstance(domain, Categorical) and self.ordered_choices else None
            if isinstance(domain, (Float, Integer, Normal)) or ordered is not None:
                width = 1
            elif isinstance(domain, (Categorical, GridValues)):
                width = len(domain.options if isinstance(domain, Categorical) else domain.values)
                if isinstance(domain, Categorical) and has_domain(domain.options):
                    conditional.append(".".join(path))
            else:  # pragma: no cover - every sampled domain kind is listed above
                raise ValueError(f"GP cannot model {type(domain).__name__} at {'.'.join(path)!r}")
            columns.append(_Column(path, domain, start, width, ordered))
            start += width
        plain = [c for c in columns if not isinstance(c.domain, GridValues) and ".".join(c.path) not in conditional]
        if not plain:
            if conditional:
                raise ValueError(
                    "GP needs at least one number or choice to model; this space has only choices "
                    f"between nested spaces ({', '.join(conditional)}): use search='tpe' or 'random'"
                )
            kind = "grid dimensions" if space.grid_dims else "constants"
            raise ValueError(
                f"GP needs at least one number or choice to model; this space has only {kind}: use search='grid'"
            )
        return columns

    # Events.
    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        value = result.get(self.metric) if self.metric is not None else None
        if is_number(value):
            self._last[trial_id] = float(value)
        if self._objectives is not None and self._objectives.judge(self._judged.get(trial_id), result):
            self._judged[trial_id] = result

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:
        if result is not None:
            self.observe(trial_id, result)
        if self._objectives is not None:
            judged = self._judged.pop(trial_id, None)
            if trial_id in self._x and status is not Status.ERROR and judged is not None:
                self._results[trial_id] = judged
            else:
                self._x.pop(trial_id, None)
            return
        if trial_id in self._x and status is not Status.ERROR and trial_id in self._last:
            self._done[trial_id] = self._last[trial_id]
        elif trial_id in self._x:
            self._x.pop(trial_id)  # teaches nothing, and no longer runs

    # Proposals.
    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        if point is None:
            return None
        x = None
        if self.proposed > self._startup:
            with single_threaded():
                x = self._propose(point)
        if x is None:
            config = self.space.sample(self._rng, fixed=point)
            self._x[trial_id] = self._encode(config)
            return config
        self._x[trial_id] = x
        return self.space.sample(self._rng, fixed={**point, **self._decode(x)})

    def on_given(self, trial_id: int, config: Config) -> None:
        self._x[trial_id] = self._encode(config)  # learnt from as a proposal of its own once it ends

    def _data(self) -> tuple[Array, Array] | None:
        """The observed points and their standardised values (to minimise); None if too few."""
        ids = [i for i in self._done if i in self._x]
        sign = -1.0 if self.mode == "max" else 1.0
        y = np.array([sign * self._done[i] for i in ids])
        finite = np.isfinite(y)
        if finite.sum() < 2:
            return None
        y[~finite] = y[finite].max()  # a diverged trial counts as the worst one seen
        spread = y.std()
        y = (y - y.mean()) / (spread if spread > 0 else 1.0)
        return np.array([self._x[i] for i in ids]), y

    def _propose(self, point: dict[Path, Any]) -> Array | None:
        fixed = self._fixed_columns(point)
        if self._objectives is not None:
            return self._propose_objectives(self._objectives, fixed)
        data = self._data()
        if data is None:
            return None
        X, y = data
        self._fit("", X, y)
        pending = [x for i, x in self._x.items() if i not in self._done]
        incumbent = float(y.min())
        if pending:
            # Kriging believer: running points count as observed at the model's prediction (which
            # may be the best value "seen"), so the next proposal looks elsewhere.
            P = np.array(pending)
            believed = self._gp.predict(P)[0]
            self._gp.append(P, believed)
            incumbent = min(incumbent, float(believed.min()))
        candidates = self._candidates(X, y, fixed)
        free = [c.start for c in self._columns if c.numeric]
        points, _ = maximize_acquisition(
            self._gp,
            candidates,
            free,
            kind=self.acquisition,
            best=incumbent,
            n_local=N_LOCAL,
            maxfun=REFINE_EVALS,
            snap=self._snap,
        )
        return _ehvi.first_unseen(points, [*X, *pending])

    def _propose_objectives(self, objectives: Objectives, fixed: dict[int, Array]) -> Array | None:
        """Several objectives or constraints: EHVI times the probability of feasibility (`_ehvi`)."""
        ids = [i for i in self._results if i in self._x]
        X, pending = np.array([self._x[i] for i in ids]), [x for i, x in self._x.items() if i not in self._results]
        if len(ids) < 2:
            return None
        points = _ehvi.propose(
            *(objectives, X, [self._results[i] for i in ids], np.array(pending).reshape(-1, self._dims)),
            fit=self._fit,
            candidates=lambda best, count: self._candidates(X, np.zeros(len(X)), fixed, best=best, most=count),
            free=[c.start for c in self._columns if c.numeric],
            snap=self._snap,
            n_local=N_LOCAL,
            maxfun=REFINE_EVALS,
        )
        return None if points is None else _ehvi.first_unseen(points, [*X, *pending])

    def _fit(self, name: str, X: Array, y: Array) -> GaussianProcess:
        """Condition the GP on (X, y) after a bounded step of hyperparameter fitting.

        Every suggestion continues the fit from the last one's hyperparameters, with at most
        `_fit_budget(n)` likelihood evaluations: with one more observation than last time, a few
        suffice to follow the optimum (which moves little), and no suggestion waits for a fit from
        afar (half a second at 500 observations). Each time the data grew by REFIT_SHARE, random
        restarts join the warm start while the budget gives each RESTART_EVALS evaluations (up to
        ~80 observations), for when the likelihood's best mode has moved elsewhere.
        """
        n = len(y)
        budget = _fit_budget(n)
        restarts = 0
        fitted_at = self._fitted_at.get(name, 0)
        if n >= fitted_at + max(1, math.floor(REFIT_SHARE * fitted_at)):
            self._fitted_at[name] = n
            if budget // (1 + RESTARTS) >= RESTART_EVALS:
                restarts = RESTARTS
        gp = self._models.get(name)
        if gp is None:
            gp = self._models[name] = GaussianProcess(self._dims, lengthscale_prior=self._gp.lengthscale_prior)
        return gp.fit(X, y, rng=self._rng, restarts=restarts, maxfun=budget // (1 + restarts))

    def _fixed_columns(self, point: dict[Path, Any]) -> dict[int, Array]:
        """The one-hot columns of the grid point, which the acquisition may not change."""
        fixed: dict[int, Array] = {}
        for column in self._columns:
            if column.path in point:
                fixed[column.start] = self._one_hot(column, column.domain.to_unit(point[column.path]))
        return fixed

    def _candidates(
        self, X: Array, y: Array, fixed: dict[int, Array], *, best: Array | None = None, most: int = N_CANDIDATES
    ) -> Array:
        """Random candidates, and as many around the `best` rows (default: the 5 lowest in y)."""
        rng = self._rng
        count = min(most, N_CANDIDATES, CANDIDATE_WORK // len(y))
        random = rng.uniform(size=(count, self._dims))
        if best is None:
            best = X[np.argsort(y, kind="stable")[: min(5, len(y))]]
        local = best[rng.integers(len(best), size=count)]
        local = np.clip(local + rng.normal(scale=LOCAL_SD, size=local.shape), 0.0, 1.0)
        out = np.vstack([random, local])
        for column in self._columns:
            if column.numeric:
                continue
            cols = slice(column.start, column.start + column.width)
            if column.start in fixed:
                out[:, cols] = fixed[column.start]
                continue
            # Random candidates pick an option at random; local ones keep theirs, or switch with p=0.2.
            picks = rng.integers(column.width, size=len(out))
            keep = np.argmax(out[:, cols], axis=1)
            keep[:count] = picks[:count]
            switch = rng.uniform(size=len(out)) < 0.2
            chosen = np.where(switch, picks, keep)
            out[:, cols] = np.eye(column.width)[chosen]
        return out

    def _snap(self, X: Array) -> Array:
        """Numeric columns moved to the encoding of the value they decode to (integers, q steps)."""
        X = X.copy()
        for column in self._columns:
            domain = column.domain
            if isinstance(domain, Normal):
                # The search stays within 3 sigma: the encoding's edges are infinitely far away.
                X[:, column.start] = np.clip(X[:, column.start], NORMAL_EDGE, 1.0 - NORMAL_EDGE)
            if column.ordered is not None:  # the middle of the option's rank cell
                n = len(column.ordered)
                X[:, column.start] = (np.minimum(np.floor(np.clip(X[:, column.start], 0, 1) * n), n - 1) + 0.5) / n
                continue
            if not column.numeric or (isinstance(domain, (Float, Normal)) and domain.q is None):
                continue
            u = X[:, column.start]
            if isinstance(domain, Integer) and domain.q == 1 and not domain.log:
                n = domain.high - domain.low + 1
                X[:, column.start] = (np.minimum(np.floor(np.clip(u, 0, 1) * n), n - 1) + 0.5) / n
            else:
                X[:, column.start] = [domain.to_unit(domain.from_unit(float(v))) for v in u]
        return X

    # Encoding.
    @staticmethod
    def _one_hot(column: _Column, u: float) -> Array:
        out = np.zeros(column.width)
        out[min(int(u * column.width), column.width - 1)] = 1.0
        return out

    def _encode(self, config: Config) -> Array:
        x = np.zeros(self._dims)
        for column in self._columns:
            value: Any = config
            for key in column.path:
                value = value[key]
            if column.ordered is not None:
                rank = min(range(len(column.ordered)), key=lambda i: abs(column.ordered[i] - value))  # type: ignore[index]
                x[column.start] = (rank + 0.5) / len(column.ordered)
                continue
            u = column.domain.to_unit(value)
            if column.numeric:
                x[column.start] = u
            else:
                x[column.start : column.start + column.width] = self._one_hot(column, u)
        return x

    def _decode(self, x: Array) -> dict[Path, Any]:
        fixed: dict[Path, Any] = {}
        for column in self._columns:
            if isinstance(column.domain, GridValues):
                continue
            if column.ordered is not None:
                n = len(column.ordered)
                fixed[column.path] = column.ordered[min(int(float(np.clip(x[column.start], 0, 1)) * n), n - 1)]
            elif column.numeric:
                fixed[column.path] = column.domain.from_unit(float(x[column.start]))
            else:
                index = int(np.argmax(x[column.start : column.start + column.width]))
                fixed[column.path] = column.options[index]
        return fixed
