"""Expected hypervolume improvement (EHVI) over one GP per objective, times the probability of
feasibility under one GP per constraint: what `rung.GP` maximises with several objectives or
constraints.

Everything works on standardised losses (every objective minimised, each column scaled to mean 0
and standard deviation 1 over the observed trials).

- Reference point: Optuna's `GPSampler` rule (`optuna/_gp/acqf.py`, `_get_reference_point`): per
  objective, the worst standardised loss observed `w`, moved outwards by 10% of its size,
  `max(1.1 w, 0.9 w)` (so 10% of its distance from the observed mean), over every trial with a finite
  loss, feasible or not.
- The region the feasible front does not dominate (below the reference point) is cut into disjoint
  boxes: two objectives, one box per gap between neighbours of the front (k + 1 boxes for k points);
  three or more, the grid of the front's coordinates on all but the last axis, each cell a box up to
  the lowest last coordinate of the points below its corner ((k + 1)^(m - 1) boxes; above
  `MAX_BOXES` only the front's points that add most hypervolume are kept).
- EHVI: with independent Gaussian posteriors per objective, a box [l, u]'s expected share of the
  improvement is the product over objectives of `E[(u - max(l, Y))^+] = sd (h(z_u) - h(z_l))`,
  `h(z) = z Phi(z) + phi(z)`, `z = (bound - mean) / sd` (Yang et al. 2019, "Efficient computation of
  expected hypervolume improvement using box decomposition algorithms"). Exact for any number of
  objectives, so no Monte Carlo samples are drawn (Optuna's `GPSampler` estimates the same
  expectation with 128 quasi-random samples). Computed in log space (as log EI: Ament et al. 2023),
  so far from the front it still has a slope.
- Constraints: the log probability that each constraint's GP is below its bound is added, times
  `FEASIBILITY_POWER` (4): EHVI times the probability of feasibility to the 4th power. Gardner et al.
  2014 (and Optuna's `GPSampler`) use the power 1; where the best feasible point lies on a
  constraint's boundary, that proposes on both sides of it about equally (54% and 79% of proposals
  infeasible on `bench/objectives.py`'s sphere4 and HPOBench kc1, against 43% and 56% for Optuna's
  TPE); the 4th power keeps the proposals on the feasible side (BENCHMARKS.md, "Constraints, one
  objective").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

# scipy: imported where used (see rung/models/gp.py).
from rung._numbers import finite
from rung._pareto import pareto_ranks
from rung.models._acquisition import _log_h
from rung.search._tpe_objectives import hssp_order

if TYPE_CHECKING:
    from rung.models.gp import GaussianProcess
    from rung.objectives import Objectives

__all__ = [
    "Acquisition",
    "first_unseen",
    "log_ehvi",
    "log_feasibility",
    "maximize",
    "nondominated_boxes",
    "propose",
    "reference_point",
]

Array = NDArray[np.float64]

LOW = -1e6  # the boxes' lower edge where the region is unbounded (standardised losses: far below any)
MAX_BOXES = 4096  # three or more objectives: the front is thinned to keep the boxes below this
BLOCK = 2**20  # candidates x boxes x objectives per block of the computation (memory)
CANDIDATE_WORK = 2**16  # candidates x boxes x objectives scored per proposal, at most
MIN_CANDIDATES = 64  # random (and as many local) candidates, at least
FEASIBILITY_POWER = 4.0
"""The acquisition is EHVI times the probability of feasibility to this power (see the module)."""
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def reference_point(losses: Array) -> Array:
    """Optuna's `GPSampler` reference point: per column, `max(1.1 w, 0.9 w)` for the worst (largest)
    loss `w`, nudged up to the next float (so the worst point still adds volume when `w` is 0)."""
    worst = losses.max(axis=0)
    ref: Array = np.nextafter(np.maximum(1.1 * worst, 0.9 * worst), np.inf)
    return ref


def nondominated_boxes(front: Array, ref: Array) -> tuple[Array, Array]:
    """Disjoint boxes (lower corners, upper corners) covering what no row of `front` dominates below
    `ref` (see the module); their lower edge is `LOW` where the region is unbounded."""
    m = len(ref)
    pts = front[np.all(front < ref, axis=1)] if len(front) else front.reshape(0, m)
    if len(pts):
        pts = pts[pareto_ranks(pts, until=1) == 0]
        pts = np.unique(pts, axis=0)
    if m == 1:
        top = min(float(ref[0]), float(pts[:, 0].min())) if len(pts) else float(ref[0])
        return np.array([[LOW]]), np.array([[top]])
    if m == 2:
        pts = pts[np.argsort(pts[:, 0], kind="stable")]
        xs = np.concatenate([[LOW], pts[:, 0], [ref[0]]])
        tops = np.concatenate([[ref[1]], pts[:, 1]])
        lower = np.stack([xs[:-1], np.full(len(tops), LOW)], axis=1)
        upper = np.stack([xs[1:], tops], axis=1)
        keep = np.all(upper > lower, axis=1)
        return lower[keep], upper[keep]
    most = max(1, int(MAX_BOXES ** (1.0 / (m - 1))) - 1)
    if len(pts) > most:  # keep the points that add most hypervolume (greedy, as MOTPE orders a front)
        pts = pts[hssp_order(pts, most)[:most]]
    edges = [np.concatenate([[LOW], np.unique(pts[:, j]), [ref[j]]]) for j in range(m - 1)]
    grid = np.meshgrid(*[e[:-1] for e in edges], indexing="ij")
    lows = np.stack([g.ravel() for g in grid], axis=1)
    highs = np.stack([g.ravel() for g in np.meshgrid(*[e[1:] for e in edges], indexing="ij")], axis=1)
    below = np.all(pts[None, :, : m - 1] <= lows[:, None, :], axis=2)  # cell corner x point
    tops = np.where(below, pts[None, :, m - 1], ref[m - 1]).min(axis=1) if len(pts) else np.full(len(lows), ref[-1])
    lower = np.hstack([lows, np.full((len(lows), 1), LOW)])
    upper = np.hstack([highs, tops[:, None]])
    keep = np.all(upper > lower, axis=1)
    return lower[keep], upper[keep]


def _log1mexp(a: Array) -> Array:
    """log(1 - exp(a)) for a < 0 (a at 0 is taken as just below)."""
    a = np.minimum(a, -1e-300)
    return np.where(a > -math.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(np.minimum(a, -math.log(2.0)))))


def log_ehvi(mean: Array, sd: Array, lower: Array, upper: Array) -> tuple[Array, Array, Array]:
    """log EHVI at each row of independent Gaussian posteriors, and its derivatives.

    Args:
        mean: (n, m) posterior means of the standardised losses.
        sd: (n, m) posterior standard deviations (> 0).
        lower: (b, m) the boxes' lower corners (`nondominated_boxes`).
        upper: (b, m) their upper corners.

    Returns:
        (n,) log EHVI, and (n, m) its derivatives by the means and by the standard deviations.
    """
    from scipy.special import log_ndtr, logsumexp

    n, m = mean.shape
    value, d_mean, d_sd = np.empty(n), np.empty((n, m)), np.empty((n, m))
    step = max(1, BLOCK // max(1, len(lower) * m))
    for i in range(0, n, step):
        rows = slice(i, i + step)
        mu, s = mean[rows, None, :], sd[rows, None, :]
        zu, zl = (upper[None] - mu) / s, (lower[None] - mu) / s
        log_hu, log_hl = _log_h(zu), _log_h(zl)
        log_gap = log_hu + _log1mexp(log_hl - log_hu)  # log(h(z_u) - h(z_l)) > -inf: z_l < z_u
        per_box = (log_gap + np.log(s)).sum(axis=2)
        total = logsumexp(per_box, axis=1)
        weight = np.exp(per_box - total[:, None])[..., None]  # each box's share of the EHVI
        # Per box and objective, d log f / d mean = -(Phi(z_u) - Phi(z_l)) / (sd gap) and
        # d log f / d sd = (phi(z_u) - phi(z_l)) / (sd gap), f = sd gap the box's factor.
        d_cdf = np.exp(log_ndtr(zu) - log_gap) - np.exp(log_ndtr(zl) - log_gap)
        d_pdf = np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI - log_gap) - np.exp(-0.5 * zl * zl - _LOG_SQRT_2PI - log_gap)
        value[rows] = total
        d_mean[rows] = -(weight * d_cdf).sum(axis=1) / sd[rows]
        d_sd[rows] = (weight * d_pdf).sum(axis=1) / sd[rows]
    return value, d_mean, d_sd


def log_feasibility(mean: Array, sd: Array, bound: float) -> tuple[Array, Array, Array]:
    """log P(value <= bound) under N(mean, sd^2), and its derivatives by the mean and by sd."""
    from scipy.special import log_ndtr

    z = (bound - mean) / sd
    log_cdf = log_ndtr(z)
    ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_cdf)  # phi / Phi
    return log_cdf, -ratio / sd, -ratio * z / sd


class Acquisition:
    """log EHVI (over the boxes) plus the log probability of meeting each constraint, at rows of the
    encoded space, from a GP per objective and a (GP, standardised bound) per constraint."""

    def __init__(
        self,
        objectives: Sequence[GaussianProcess],
        constraints: Sequence[tuple[GaussianProcess, float]],
        boxes: tuple[Array, Array],
        power: float = 1.0,
    ) -> None:
        self.objectives, self.constraints, self.boxes, self.power = objectives, constraints, boxes, power

    def __call__(self, X: Array) -> Array:
        means, sds = zip(*(gp.predict(X) for gp in self.objectives), strict=True)
        value = log_ehvi(np.stack(means, axis=1), np.sqrt(np.stack(sds, axis=1)), *self.boxes)[0]
        for gp, bound in self.constraints:
            mean, var = gp.predict(X)
            value += self.power * log_feasibility(mean, np.sqrt(var), bound)[0]
        return value

    def with_grad(self, X: Array) -> tuple[Array, Array]:
        """The values and their gradients by each row of X."""
        posterior = [gp.predict_with_grad(X) for gp in self.objectives]
        sd = np.sqrt(np.stack([p[1] for p in posterior], axis=1))
        value, d_mean, d_sd = log_ehvi(np.stack([p[0] for p in posterior], axis=1), sd, *self.boxes)
        grad = np.zeros_like(X)
        for j, (_, _, dm, dv) in enumerate(posterior):
            grad += d_mean[:, j, None] * dm + (d_sd[:, j] * 0.5 / sd[:, j])[:, None] * dv
        for gp, bound in self.constraints:
            mean, var, dm, dv = gp.predict_with_grad(X)
            s = np.sqrt(var)
            v, dv_mean, dv_sd = log_feasibility(mean, s, bound)
            value = value + self.power * v
            grad += self.power * (dv_mean[:, None] * dm + (dv_sd * 0.5 / s)[:, None] * dv)
        return value, grad


class _Spent(Exception):
    """The refinement used up its evaluations."""


def maximize(
    acquisition: Acquisition,
    candidates: Array,
    free: Sequence[int],
    *,
    n_local: int,
    maxfun: int,
    snap: Callable[[Array], Array],
) -> Array:
    """Score the candidates, refine the best `n_local` by L-BFGS-B over the `free` columns (at most
    `maxfun` evaluations, as `rung.models.maximize_acquisition`); the points, best first."""
    from scipy.optimize import minimize

    points = snap(candidates)
    scores = acquisition(points)
    free_idx = np.asarray(free, dtype=int)
    if len(free_idx) and n_local > 0:
        starts = points[np.argsort(-scores, kind="stable")[:n_local]]
        best, best_value = starts.copy(), np.full(len(starts), -np.inf)
        budget = [maxfun]

        def negated(z: Array) -> tuple[float, Array]:
            if budget[0] < 1:
                raise _Spent
            budget[0] -= 1
            X = starts.copy()
            X[:, free_idx] = np.clip(z, 0.0, 1.0).reshape(len(X), len(free_idx))
            value, grad = acquisition.with_grad(X)
            better = value > best_value
            best[better], best_value[better] = X[better], value[better]
            return -float(value.sum()), -grad[:, free_idx].ravel()

        with contextlib.suppress(_Spent):
            minimize(
                negated,
                starts[:, free_idx].ravel(),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * (len(starts) * len(free_idx)),
                options={"maxiter": 30},
            )
        extra = snap(best)
        points = np.vstack([points, extra])
        scores = np.concatenate([scores, acquisition(extra)])
    return points[np.argsort(-scores, kind="stable")]


def first_unseen(points: Array, seen: Sequence[Array]) -> Array | None:
    """The first of the points (best first) not yet proposed; None if all were (then: sample at random)."""
    before = np.array(seen)
    for x in points:
        if not np.any(np.all(np.abs(before - x) < 1e-9, axis=1)):
            return np.asarray(x)
    return None


def _loss(value: Any, mode: str) -> float:
    if not finite(value):
        return math.nan
    return -float(value) if mode == "max" else float(value)


def _standardised(column: Array) -> tuple[Array, float, float] | None:
    """The column with its non-finite values at its worst (largest) finite one, scaled to mean 0 and
    standard deviation 1 (and that mean and deviation); None with fewer than 2 finite values."""
    ok = np.isfinite(column)
    if ok.sum() < 2:
        return None
    column = np.where(ok, column, column[ok].max())
    mean, spread = float(column.mean()), float(column.std())
    spread = spread if spread > 0 else 1.0
    return (column - mean) / spread, mean, spread


def propose(
    objectives: Objectives,
    X: Array,
    results: Sequence[Mapping[str, Any]],
    pending: Array,
    *,
    fit: Callable[[str, Array, Array], GaussianProcess],
    candidates: Callable[[Array, int], Array],
    free: Sequence[int],
    snap: Callable[[Array], Array],
    n_local: int,
    maxfun: int,
) -> Array | None:
    """Points of the encoded space, best first by EHVI times the probability of feasibility.

    Args:
        objectives: What the run optimises.
        X: The encoded points of the ended trials that teach.
        results: Their judged results.
        pending: The encoded points of the running trials (kriging believer: counted as observed
            at the models' predictions, and on the front if predicted feasible).
        fit: Fits the named model (kept warm from one proposal to the next) on (X, y); returns it.
        candidates: Random and local candidates around the given rows, at most that many of each.
        free: The numeric columns the refinement moves.
        snap: Moves rows onto the values they decode to.
        n_local: Candidates refined by L-BFGS-B.
        maxfun: Acquisition evaluations of that refinement.

    Returns:
        None when some objective has fewer than two finite values.
    """
    metrics = list(zip(objectives.metrics, objectives.modes, strict=True))
    losses = np.array([[_loss(r.get(name), mode) for name, mode in metrics] for r in results], dtype=float)
    columns = [_standardised(losses[:, j]) for j in range(len(metrics))]
    if any(c is None for c in columns):
        return None
    Y = np.stack([c[0] for c in columns if c is not None], axis=1)
    models = [fit(f"objective {j}", X, Y[:, j]) for j in range(len(metrics))]
    constraints: list[tuple[GaussianProcess, float]] = []
    for i, constraint in enumerate(objectives.constraints):
        scaled = _standardised(np.array([constraint.excess(r) for r in results], dtype=float))
        if scaled is not None:  # past the bound: excess > 0, so the bound is at standardised -mean / spread
            constraints.append((fit(f"constraint {i}", X, scaled[0]), -scaled[1] / scaled[2]))
    ref = reference_point(Y)
    ok = np.array([objectives.feasible(r) for r in results]) & np.isfinite(losses).all(axis=1)
    front = Y[ok]
    if len(pending):
        believed = np.stack([gp.predict(pending)[0] for gp in models], axis=1)
        for gp, column in zip(models, believed.T, strict=True):
            gp.append(pending, column)
        meets = np.ones(len(pending), dtype=bool)
        for gp, bound in constraints:
            guess = gp.predict(pending)[0]
            gp.append(pending, guess)
            meets &= guess <= bound
        front = np.vstack([front, believed[meets]])
    boxes = nondominated_boxes(front, ref)
    if ok.any():  # local candidates around the feasible front (at least 5 points, by rank)
        rows = np.flatnonzero(ok)
        ranks = pareto_ranks(Y[rows])
        best = X[rows[np.argsort(ranks, kind="stable")][: max(5, int((ranks == 0).sum()))]]
    else:
        best = X[np.argsort([objectives.violation(r) for r in results], kind="stable")[:5]]
    count = max(MIN_CANDIDATES, CANDIDATE_WORK // (len(boxes[0]) * len(metrics)))
    acquisition = Acquisition(models, constraints, boxes, FEASIBILITY_POWER)
    return maximize(acquisition, candidates(best, count), free, n_local=n_local, maxfun=maxfun, snap=snap)
