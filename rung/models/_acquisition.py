"""Acquisition functions over a `GaussianProcess`, and their maximisation over the unit cube.

Every function here is maximised, for a GP of a quantity to MINIMISE. Re-exported by
`rung.models.gp`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

# scipy: imported where used (see rung/models/gp.py).

if TYPE_CHECKING:
    from rung.models.gp import GaussianProcess

__all__ = ["ACQUISITIONS", "acquisition", "maximize_acquisition"]

Array = NDArray[np.float64]

ACQUISITIONS = ("ei", "pi", "ucb")
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_HALF_LOG_PI_2 = 0.5 * math.log(math.pi / 2)


def _log_h(z: Array) -> Array:
    """log(phi(z) + z Phi(z)), stable far into the lower tail (Ament et al., NeurIPS 2023)."""
    from scipy.special import erfcx, log_ndtr

    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * np.exp(log_ndtr(zu)))
    za = np.abs(z[~upper])
    # Past 1/sqrt(machine epsilon) the bracket below underflows: its asymptote is 1 / z^2.
    tail = -0.5 * za * za - _LOG_SQRT_2PI - 2.0 * np.log(za)
    near = za <= 1e6
    zn = za[near]
    # h(z) = phi(z) (1 - |z| sqrt(pi/2) erfcx(|z| / sqrt2)) for z < 0; the bracket is 1 - exp(a), a < 0.
    a = np.minimum(np.log(erfcx(zn / math.sqrt(2.0)) * zn) + _HALF_LOG_PI_2, -1e-300)
    log1mexp = np.empty_like(a)
    small = a > -math.log(2.0)
    log1mexp[small] = np.log(-np.expm1(a[small]))
    log1mexp[~small] = np.log1p(-np.exp(a[~small]))
    tail[near] = -0.5 * zn * zn - _LOG_SQRT_2PI + log1mexp
    out[~upper] = tail
    return out


def acquisition(kind: str, mean: Array, var: Array, best: float, kappa: float = 2.0) -> tuple[Array, Array, Array]:
    """The acquisition value (to maximise) and its derivatives by the mean and by the variance.

    Args:
        kind: "ei" (log expected improvement), "pi" (log probability of improvement by 0.01) or
            "ucb" (the lower confidence bound `mean - kappa * sd`, negated).
        mean: Posterior means of the quantity to minimise.
        var: Posterior variances (> 0).
        best: The best (lowest) value observed, for "ei" and "pi".
        kappa: The confidence width of "ucb".
    """
    from scipy.special import log_ndtr

    sd = np.sqrt(var)
    if kind == "ucb":
        return -mean + kappa * sd, -np.ones_like(mean), 0.5 * kappa / sd
    shift = 0.01 if kind == "pi" else 0.0
    z = (best - shift - mean) / sd
    log_phi = -0.5 * z * z - _LOG_SQRT_2PI
    log_cdf = log_ndtr(z)
    if kind == "pi":
        ratio = np.exp(log_phi - log_cdf)  # phi / Phi
        return log_cdf, -ratio / sd, -ratio * z / sd * (0.5 / sd)
    value = _log_h(z) + np.log(sd)
    # d EI / d mean = -Phi(z), d EI / d sd = phi(z); divided by EI for the log.
    d_mean = -np.exp(log_cdf - value)
    d_sd = np.exp(log_phi - value)
    return value, d_mean, d_sd * (0.5 / sd)


def maximize_acquisition(
    gp: GaussianProcess,
    candidates: Array,
    free: Sequence[int],
    *,
    kind: str,
    best: float,
    kappa: float = 2.0,
    n_local: int = 3,
    maxiter: int = 30,
    maxfun: int | None = None,
    snap: Callable[[Array], Array] | None = None,
) -> tuple[Array, Array]:
    """Score `candidates`, refine the best `n_local` with L-BFGS-B over the `free` columns in [0, 1].

    `snap` maps rows onto the values they decode to (integers, quantised values); it is applied to
    candidates and refined points before scoring, so scores belong to what would really run.
    `maxfun` caps the refinement's evaluations of the posterior (None: no cap), even within a line
    search, so its cost is bounded; each start's refined point is the best one evaluated for it.

    Returns:
        The points (candidates and refined ones) and their scores, best first.
    """
    from scipy.optimize import minimize

    snap = snap or (lambda x: x)
    points = snap(candidates)
    mean, var = gp.predict(points)
    scores = acquisition(kind, mean, var, best, kappa)[0]
    order = np.argsort(-scores, kind="stable")
    free_idx = np.asarray(free, dtype=int)
    if len(free_idx) and n_local > 0:
        # One L-BFGS-B run over the stacked starts (their sum is separable): far fewer, larger calls.
        refine = _Refine(gp, points[order[:n_local]], free_idx, kind, best, kappa, maxfun)
        with contextlib.suppress(_Spent):
            minimize(
                refine,
                refine.starts[:, free_idx].ravel(),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * refine.starts[:, free_idx].size,
                options={"maxiter": maxiter},
            )
        extra = snap(refine.best)
        m, v = gp.predict(extra)
        points = np.vstack([points, extra])
        scores = np.concatenate([scores, acquisition(kind, m, v, best, kappa)[0]])
    order = np.argsort(-scores, kind="stable")
    return points[order], scores[order]


class _Spent(Exception):
    """The refinement used up its evaluations."""


class _Refine:
    """The negated sum of the acquisition at k stacked points, for L-BFGS-B over their free columns.

    Counts down a budget of evaluations (raising `_Spent` once spent) and keeps, for each of the k
    points, the best position any evaluation gave it.
    """

    def __init__(
        self,
        gp: GaussianProcess,
        starts: Array,
        free: NDArray[np.intp],
        kind: str,
        best: float,
        kappa: float,
        budget: int | None,
    ) -> None:
        self.gp, self.starts, self.free = gp, starts, free
        self.kind, self.incumbent, self.kappa = kind, best, kappa
        self.budget = math.inf if budget is None else budget
        self.best = starts.copy()
        self.best_value = np.full(len(starts), -np.inf)

    def __call__(self, z: Array) -> tuple[float, Array]:
        if self.budget < 1:
            raise _Spent
        self.budget -= 1
        X = self.starts.copy()
        X[:, self.free] = np.clip(z, 0.0, 1.0).reshape(len(X), len(self.free))
        m, v, dm, dv = self.gp.predict_with_grad(X)
        a, da_dm, da_dv = acquisition(self.kind, m, v, self.incumbent, self.kappa)
        better = a > self.best_value
        self.best[better], self.best_value[better] = X[better], a[better]
        grad = da_dm[:, None] * dm + da_dv[:, None] * dv
        return -float(a.sum()), -grad[:, self.free].ravel()
