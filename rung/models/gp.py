"""Gaussian-process regression: a Matérn-5/2 ARD kernel, fitted by marginal likelihood.

The core that `rung.GP` (Bayesian optimisation) and `rung.PB2` (a time-varying GP bandit) share.
Inputs are expected in (roughly) the unit cube and targets standardised (mean 0, variance 1): the
hyperparameter bounds below are chosen for that scale, and the prior mean is zero.

The kernel is `s2 * matern52(r)` with `r**2 = sum_d ((x_d - x'_d) / l_d)**2`, times, when a
`time_dim` is given, the time-varying factor `(1 - eps) ** (|t - t'| / 2)` of Bogunovic et al.
(2016) on that column (which then has no lengthscale). Its hyperparameters live in `theta`, in log
space: the lengthscales, the signal variance `s2`, the noise variance, and `eps` when timed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# scipy (0.5-1.3 s to import on this project's machine) is imported in the functions that use it:
# rung.run's default builds a GP for the spaces it models before the first trial starts, and
# fits one only if the trials report once (BENCHMARKS.md, "The default's targets").
from rung._blas import single_threaded
from rung._checks import Interval, check
from rung.models._acquisition import ACQUISITIONS, acquisition, maximize_acquisition
from rung.models._budget import Budgeted, Exhausted

__all__ = ["ACQUISITIONS", "Fit", "GaussianProcess", "acquisition", "maximize_acquisition", "single_threaded"]

Array = NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
# Bounds in log space, for inputs in the unit cube and standardised targets.
LENGTHSCALE = (math.log(5e-3), math.log(150.0))
SIGNAL = (math.log(5e-2), math.log(20.0))
NOISE = (math.log(1e-6), math.log(1.0))
EPSILON = (math.log(1e-5), math.log(0.5))
JITTERS = (0.0, 1e-8, 1e-6, 1e-4)
PREDICT_BLOCK = 256  # query rows per block in `predict`


@dataclass(frozen=True)
class Fit:
    """What a hyperparameter fit did (`GaussianProcess.last_fit`), in negative log likelihoods.

    Attributes:
        start: At the warm start (the hyperparameters before the fit).
        value: The best any start reached: the hyperparameters now in use.
        evaluations: Likelihood evaluations, over all starts.
        exhausted: A start was cut short by `maxfun` (so more evaluations might improve `value`).
    """

    start: float
    value: float
    evaluations: int
    exhausted: bool


class GaussianProcess:
    """Zero-mean GP regression with a Matérn-5/2 ARD kernel (times a time-decay factor, optionally).

    Args:
        n_dims: Number of input columns.
        time_dim: The column holding time, for the time-varying kernel (PB2); None for none.
        lengthscale_prior: (mu, sigma) of a normal prior on each log lengthscale, which the fit
            then maximises along with the likelihood (MAP); None for a plain likelihood fit.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0, 1, 8)[:, None]
        >>> gp = GaussianProcess(1).fit(x, np.sin(6 * x[:, 0]), rng=np.random.default_rng(0))
        >>> mean, var = gp.predict(np.array([[0.5]]))
        >>> bool(abs(mean[0] - np.sin(3.0)) < 0.05 and var[0] < 0.01)
        True
    """

    def __init__(
        self, n_dims: int, *, time_dim: int | None = None, lengthscale_prior: tuple[float, float] | None = None
    ) -> None:
        check("GaussianProcess", "n_dims", n_dims, Interval(int, 1, None))
        if time_dim is not None and not 0 <= time_dim < n_dims:
            raise ValueError(f"GaussianProcess needs 0 <= time_dim < n_dims={n_dims}; got time_dim={time_dim}")
        self.n_dims = n_dims
        self.time_dim = time_dim
        self.space_dims = [d for d in range(n_dims) if d != time_dim]
        self.lengthscale_prior = lengthscale_prior
        n_ls = len(self.space_dims)
        start = math.log(0.5) if lengthscale_prior is None else min(lengthscale_prior[0], LENGTHSCALE[1])
        self.theta: Array = np.array([start] * n_ls + [0.0, math.log(1e-2)] + self._eps_init())
        bounds = [LENGTHSCALE] * n_ls + [SIGNAL, NOISE] + ([EPSILON] if time_dim is not None else [])
        self.bounds: Array = np.array(bounds, dtype=float)
        self.X: Array = np.zeros((0, n_dims))
        self.y: Array = np.zeros(0)
        self._chol: Array = np.zeros((0, 0))
        self._alpha: Array = np.zeros(0)
        self.last_fit: Fit | None = None  # what the last hyperparameter fit did

    def _eps_init(self) -> list[float]:
        return [math.log(0.1)] if self.time_dim is not None else []

    # Hyperparameters.
    @property
    def lengthscales(self) -> Array:
        """One lengthscale per non-time column."""
        return np.exp(self.theta[: len(self.space_dims)])

    @property
    def signal_variance(self) -> float:
        return float(math.exp(self.theta[len(self.space_dims)]))

    @property
    def noise_variance(self) -> float:
        return float(math.exp(self.theta[len(self.space_dims) + 1]))

    @property
    def epsilon(self) -> float | None:
        """The time-varying kernel's forgetting rate (None without a `time_dim`)."""
        return None if self.time_dim is None else float(math.exp(self.theta[-1]))

    # The kernel.
    def _r5(self, theta: Array, A: Array, B: Array) -> Array:
        """sqrt(5) times the scaled distance r between the rows of A and B (in place, few temporaries)."""
        scale = np.exp(theta[: len(self.space_dims)]) / SQRT5
        Za, Zb = A[:, self.space_dims] / scale, B[:, self.space_dims] / scale
        out: Array = Za @ Zb.T
        out *= -2.0
        out += (Za * Za).sum(1)[:, None]
        out += (Zb * Zb).sum(1)[None, :]
        np.maximum(out, 0.0, out=out)
        np.sqrt(out, out=out)
        return out

    def _decay(self, theta: Array, A: Array, B: Array) -> tuple[Array, Array]:
        """The time factor (1 - eps)^(|dt| / 2) between the rows of A and B, and |dt|."""
        t = self.time_dim if self.time_dim is not None else 0  # only called with a time_dim
        dt = np.abs(A[:, t][:, None] - B[:, t][None, :])
        return (1.0 - math.exp(theta[-1])) ** (0.5 * dt), dt

    def _kernel(self, theta: Array, A: Array, B: Array) -> tuple[Array, Array]:
        """(K, shape) between the rows of A and B, without noise.

        `shape = s2 * (5/3) * (1 + sqrt5 r) * exp(-sqrt5 r)` (times the time factor) is the common
        factor of the derivatives of K with respect to the lengthscales and the inputs.
        """
        r5 = self._r5(theta, A, B)
        s2 = math.exp(theta[len(self.space_dims)])
        e = np.exp(-r5)
        shape = 1.0 + r5
        K = r5 * r5
        K *= 1.0 / 3.0
        K += shape
        K *= e
        K *= s2
        shape *= e
        shape *= s2 * 5.0 / 3.0
        if self.time_dim is not None:
            decay, _ = self._decay(theta, A, B)
            K *= decay
            shape *= decay
        return K, shape

    def kernel(self, A: Array, B: Array) -> Array:
        """The covariance between the rows of A and B under the current hyperparameters (no noise)."""
        r5 = self._r5(self.theta, A, B)
        K = r5 * r5
        K *= 1.0 / 3.0
        K += r5
        K += 1.0
        K *= np.exp(-r5, out=r5)
        K *= self.signal_variance
        if self.time_dim is not None:
            K *= self._decay(self.theta, A, B)[0]
        return K

    # Fitting.
    def fit(
        self,
        X: Array,
        y: Array,
        *,
        rng: np.random.Generator | None = None,
        optimize: bool = True,
        restarts: int = 2,
        maxiter: int = 200,
        maxfun: int | None = None,
    ) -> GaussianProcess:
        """Condition on (X, y), first fitting the hyperparameters if `optimize`.

        The fit maximises the log marginal likelihood with L-BFGS-B (analytic gradients), starting
        from the current hyperparameters (a warm start) and from `restarts` random points drawn
        with `rng` (without `rng` only the warm start is used), and keeps the best point any start
        reached.

        Args:
            X: The inputs, one row each.
            y: The targets.
            rng: Draws the random starts.
            optimize: Fit the hyperparameters first (else keep the current ones).
            restarts: Random starts besides the warm start.
            maxiter: L-BFGS-B iterations per start, at most.
            maxfun: Likelihood evaluations per start, at most (None: no limit). A hard limit, even
                within a line search, so the cost of a fit is bounded: each evaluation costs
                O(n^3) for n rows.
        """
        X = np.asarray(X, dtype=float).reshape(-1, self.n_dims)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(X) != len(y):
            raise ValueError(f"GaussianProcess.fit needs as many rows in X as values in y; got {len(X)} and {len(y)}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("GaussianProcess.fit needs finite X and y")
        check("GaussianProcess.fit", "maxfun", maxfun, Interval(int, 1, None), None)
        self.X, self.y = X, y
        factor = self._optimize(rng, restarts, maxiter, maxfun) if optimize and len(y) >= 2 else None
        if factor is None:
            self._factor()
        else:
            self._chol, self._alpha = factor
        return self

    def _optimize(
        self, rng: np.random.Generator | None, restarts: int, maxiter: int, maxfun: int | None
    ) -> tuple[Array, Array] | None:
        """Fit `theta`; returns the Cholesky factor and `alpha` under it (None if never computed)."""
        from scipy.optimize import minimize

        starts = [np.clip(self.theta, self.bounds[:, 0], self.bounds[:, 1])]
        if rng is not None:
            low, high = self.bounds[:, 0], self.bounds[:, 1]
            # Random starts away from the extreme bounds, where the fit can stall.
            middle, half = (low + high) / 2, (high - low) / 4
            starts += [rng.uniform(middle - half, middle + half) for _ in range(restarts)]
        best = Budgeted(self._likelihood)
        exhausted = False
        for start in starts:
            best.budget = math.inf if maxfun is None else maxfun
            try:
                minimize(best, start, jac=True, method="L-BFGS-B", bounds=self.bounds, options={"maxiter": maxiter})
            except Exhausted:  # L-BFGS-B checks its own maxfun only between iterations
                exhausted = True
        self.theta = np.asarray(starts[0] if best.theta is None else best.theta, dtype=float)
        self.last_fit = Fit(best.first, best.value, best.evaluations, exhausted)
        return best.factor

    def neg_log_likelihood(self, theta: Array) -> tuple[float, Array]:
        """The negative log marginal likelihood of the data under `theta`, and its gradient."""
        value, grad, _ = self._likelihood(theta)
        return value, grad

    def _likelihood(self, theta: Array) -> tuple[float, Array, tuple[Array, Array] | None]:
        """`neg_log_likelihood`, and the Cholesky factor and `alpha` it computed (None if it failed)."""
        from scipy.linalg import cho_solve
        from scipy.linalg.lapack import dpotri

        X, y, n = self.X, self.y, len(self.y)
        K, shape = self._kernel(theta, X, X)
        n_ls = len(self.space_dims)
        noise = math.exp(theta[n_ls + 1])
        try:
            L = _cholesky(K, noise)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta), None
        alpha = cho_solve((L, True), y, check_finite=False)
        value = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
        # d NLL / d theta_j = -1/2 sum_ij W_ij (dK_j)_ij with W = alpha alpha^T - K^-1. Each dK_j is
        # symmetric, so K^-1 may be replaced by any matrix with the same diagonal and the same sums
        # of mirrored pairs: twice its lower triangle, which LAPACK's potri computes (half the flops
        # of solving against the identity; L's upper triangle is zero, so the copy's stays zero).
        T, info = dpotri(L, lower=1)
        if info != 0:
            return 1e25, np.zeros_like(theta), None
        T *= 2.0
        T[np.diag_indices(n)] *= 0.5
        W = np.outer(alpha, alpha)
        W -= T
        grad = np.empty_like(theta)
        # dK / d log l_d = shape * (z_d - z'_d)^2 with z = x / l; expanding the square turns
        # sum_ij A_ij (z_i - z_j)^2 (A = W * shape, not symmetric) into matrix-vector products.
        A = shape
        A *= W
        Z = X[:, self.space_dims] / np.exp(theta[:n_ls])
        Z2 = Z * Z
        grad[:n_ls] = -0.5 * (A.sum(1) @ Z2 + A.sum(0) @ Z2 - 2.0 * ((A @ Z) * Z).sum(0))
        grad[n_ls] = -0.5 * float(np.vdot(W, K))
        grad[n_ls + 1] = -0.5 * noise * float(np.trace(W))
        if self.lengthscale_prior is not None:
            mu, sigma = self.lengthscale_prior
            z = (theta[:n_ls] - mu) / sigma
            value += 0.5 * float(z @ z)
            grad[:n_ls] += z / sigma
        if self.time_dim is not None:
            eps = math.exp(theta[-1])
            dt = self._decay(theta, X, X)[1]
            grad[-1] = 0.25 * eps / (1.0 - eps) * float((W * K * dt).sum())
        return value, grad, (L, alpha)

    def _factor(self) -> None:
        from scipy.linalg import cho_solve

        K = self.kernel(self.X, self.X)
        self._chol = _cholesky(K, self.noise_variance)
        self._alpha = cho_solve((self._chol, True), self.y, check_finite=False)

    def append(self, X: Array, y: Array) -> GaussianProcess:
        """Condition on more rows, keeping the hyperparameters.

        The Cholesky factor grows by a rank-k block: O(n^2 k) for k new rows on n, where
        refactoring costs O(n^3). The result is the same as `fit` on all rows with
        `optimize=False`, up to rounding (and to jitter, if the grown matrix needs some: then it
        is refactored as `fit` would).
        """
        from scipy.linalg import cho_solve, solve_triangular
        from scipy.linalg.lapack import dpotrf

        X = np.asarray(X, dtype=float).reshape(-1, self.n_dims)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(X) != len(y):
            raise ValueError(
                f"GaussianProcess.append needs as many rows in X as values in y; got {len(X)} and {len(y)}"
            )
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("GaussianProcess.append needs finite X and y")
        n, k = len(self.y), len(y)
        self.X, self.y = np.vstack([self.X, X]), np.concatenate([self.y, y])
        if n == 0 or k == 0:
            self._factor()
            return self
        # [[L, 0], [B^T, C]] with B = L^-1 K(X_old, X_new) and C C^T = K(X_new, X_new) + noise I - B^T B.
        B = solve_triangular(self._chol, self.kernel(self.X[:n], X), lower=True, check_finite=False)
        S = self.kernel(X, X) - B.T @ B
        S[np.diag_indices(k)] += self.noise_variance
        C, info = dpotrf(S, lower=1, clean=1)
        if info != 0:
            self._factor()
            return self
        L = np.zeros((n + k, n + k), order="F")
        L[:n, :n] = self._chol
        L[n:, :n] = B.T
        L[n:, n:] = C
        self._chol = L
        self._alpha = cho_solve((L, True), self.y, check_finite=False)
        return self

    # Predicting.
    def predict(self, Xq: Array) -> tuple[Array, Array]:
        """Posterior mean and variance (of the latent function, without noise) at the rows of Xq."""
        from scipy.linalg import solve_triangular

        Xq = np.asarray(Xq, dtype=float).reshape(-1, self.n_dims)
        if len(self.y) == 0:
            return np.zeros(len(Xq)), np.full(len(Xq), self.signal_variance)
        mean, var = np.empty(len(Xq)), np.empty(len(Xq))
        # In blocks of rows: the kernel's intermediate arrays then stay in the CPU cache (a third
        # faster for 1,000 candidates on 500 observations).
        for i in range(0, len(Xq), PREDICT_BLOCK):
            Ks = self.kernel(Xq[i : i + PREDICT_BLOCK], self.X)
            mean[i : i + PREDICT_BLOCK] = Ks @ self._alpha
            v = solve_triangular(self._chol, Ks.T, lower=True, check_finite=False)
            var[i : i + PREDICT_BLOCK] = self.signal_variance - (v * v).sum(0)
        return mean, np.maximum(var, 1e-12)

    def predict_with_grad(self, Xq: Array) -> tuple[Array, Array, Array, Array]:
        """Posterior mean and variance at the rows of Xq, and their gradients with respect to each row.

        Returns (mean, var, dmean, dvar) with shapes (m,), (m,), (m, n_dims), (m, n_dims). The
        gradient along the time column (if any) is zero: PB2 never moves in time.
        """
        from scipy.linalg import cho_solve

        Xq = np.asarray(Xq, dtype=float).reshape(-1, self.n_dims)
        Ks, shape = self._kernel(self.theta, Xq, self.X)
        mean = Ks @ self._alpha
        V = cho_solve((self._chol, True), Ks.T, check_finite=False).T  # rows: K^-1 k(x_j)
        var = self.signal_variance - (Ks * V).sum(1)
        # dk(x_j, x_i) / dx_jd = -shape_ji (x_jd - x_id) / l_d^2,
        # so sum_i dk_ji w_i = -(x_jd (S w)_j - ((S w) X)_jd) / l_d^2 with (S w)_ji = shape_ji w_i.
        cols, inv_l2 = self.space_dims, 1.0 / self.lengthscales**2
        Xs, Xc = self.X[:, cols], Xq[:, cols]
        dmean = np.zeros_like(Xq)
        dvar = np.zeros_like(Xq)
        Sa = shape * self._alpha
        dmean[:, cols] = -(Xc * Sa.sum(1)[:, None] - Sa @ Xs) * inv_l2
        SV = shape * V
        dvar[:, cols] = 2.0 * (Xc * SV.sum(1)[:, None] - SV @ Xs) * inv_l2
        tiny = var < 1e-12
        dvar[tiny] = 0.0
        return mean, np.maximum(var, 1e-12), dmean, dvar


def _cholesky(K: Array, noise: float) -> Array:
    """Lower Cholesky factor of K + noise I, adding jitter (relative to the diagonal) if needed.

    The factor is in Fortran order with zeros above the diagonal: LAPACK's triangular solves would
    copy a C-ordered factor on every call. K is left unchanged.
    """
    from scipy.linalg.lapack import dpotrf

    n = len(K)
    diag = K.diagonal().copy()
    scale = float(diag.mean()) if n else 1.0
    for jitter in JITTERS:
        A = np.array(K.T, order="F")  # K is symmetric: a plain copy, which LAPACK factors in place
        np.fill_diagonal(A, diag + (noise + jitter * scale))
        L, info = dpotrf(A, lower=1, clean=1, overwrite_a=1)
        if info == 0:
            return np.asarray(L, dtype=float)
    raise np.linalg.LinAlgError("covariance matrix is not positive definite, even with jitter")
