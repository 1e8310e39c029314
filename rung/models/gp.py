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

import contextlib
import functools
import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr

__all__ = ["ACQUISITIONS", "GaussianProcess", "acquisition", "maximize_acquisition", "single_threaded"]

Array = NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
# Bounds in log space, for inputs in the unit cube and standardised targets.
LENGTHSCALE = (math.log(5e-3), math.log(150.0))
SIGNAL = (math.log(5e-2), math.log(20.0))
NOISE = (math.log(1e-6), math.log(1.0))
EPSILON = (math.log(1e-5), math.log(0.5))
JITTERS = (0.0, 1e-8, 1e-6, 1e-4)


@functools.lru_cache(maxsize=1)
def _thread_controller() -> Any:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return None
    return threadpoolctl.ThreadpoolController()  # finds numpy's and scipy's BLAS, both loaded by now


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS limited to one thread, when `threadpoolctl` is installed (else nothing changes).

    The matrices here (up to ~1,000 rows) are too small for BLAS threads to pay off, and the many
    small calls of an acquisition or likelihood optimisation wait on thread wake-ups: on a busy
    2-core machine, 500 observations take 2-3x longer per suggestion with threads
    (`python -m bench.gp_cost cost`). The limit is process-wide while it lasts.
    """
    controller = _thread_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


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
        if n_dims < 1:
            raise ValueError(f"GaussianProcess needs n_dims >= 1; got n_dims={n_dims}")
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
    ) -> GaussianProcess:
        """Condition on (X, y), first fitting the hyperparameters if `optimize`.

        The fit maximises the log marginal likelihood with L-BFGS-B (analytic gradients), starting
        from the current hyperparameters (a warm start) and from `restarts` random points drawn
        with `rng`. Without `rng` only the warm start is used.
        """
        X = np.asarray(X, dtype=float).reshape(-1, self.n_dims)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(X) != len(y):
            raise ValueError(f"GaussianProcess.fit needs as many rows in X as values in y; got {len(X)} and {len(y)}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("GaussianProcess.fit needs finite X and y")
        self.X, self.y = X, y
        if optimize and len(y) >= 2:
            self._optimize(rng, restarts, maxiter)
        self._factor()
        return self

    def _optimize(self, rng: np.random.Generator | None, restarts: int, maxiter: int) -> None:
        starts = [np.clip(self.theta, self.bounds[:, 0], self.bounds[:, 1])]
        if rng is not None:
            low, high = self.bounds[:, 0], self.bounds[:, 1]
            # Random starts away from the extreme bounds, where the fit can stall.
            middle, half = (low + high) / 2, (high - low) / 4
            starts += [rng.uniform(middle - half, middle + half) for _ in range(restarts)]
        best_theta, best_value = starts[0], self.neg_log_likelihood(starts[0])[0]
        for start in starts:
            res = minimize(
                self.neg_log_likelihood,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=self.bounds,
                options={"maxiter": maxiter},
            )
            if np.isfinite(res.fun) and res.fun < best_value:
                best_theta, best_value = np.asarray(res.x, dtype=float), float(res.fun)
        self.theta = best_theta

    def neg_log_likelihood(self, theta: Array) -> tuple[float, Array]:
        """The negative log marginal likelihood of the data under `theta`, and its gradient."""
        X, y, n = self.X, self.y, len(self.y)
        K, shape = self._kernel(theta, X, X)
        n_ls = len(self.space_dims)
        noise = math.exp(theta[n_ls + 1])
        try:
            L = _cholesky(K, noise)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve((L, True), y, check_finite=False)
        value = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
        # d NLL / d theta_j = -1/2 tr(W dK_j) with W = alpha alpha^T - K^-1.
        W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(n), check_finite=False)
        grad = np.empty_like(theta)
        # dK / d log l_d = shape * (x_d - x'_d)^2 / l_d^2; sum_ij A_ij (z_i - z_j)^2 by matrix products.
        A = W * shape
        Z = X[:, self.space_dims] / np.exp(theta[:n_ls])
        rows = A.sum(1)
        grad[:n_ls] = -0.5 * (2.0 * (rows @ (Z * Z)) - 2.0 * ((A @ Z) * Z).sum(0))
        grad[n_ls] = -0.5 * float((W * K).sum())
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
        return value, grad

    def _factor(self) -> None:
        K = self.kernel(self.X, self.X)
        self._chol = _cholesky(K, self.noise_variance)
        self._alpha = cho_solve((self._chol, True), self.y, check_finite=False)

    # Predicting.
    def predict(self, Xq: Array) -> tuple[Array, Array]:
        """Posterior mean and variance (of the latent function, without noise) at the rows of Xq."""
        Xq = np.asarray(Xq, dtype=float).reshape(-1, self.n_dims)
        if len(self.y) == 0:
            return np.zeros(len(Xq)), np.full(len(Xq), self.signal_variance)
        Ks = self.kernel(Xq, self.X)
        mean = Ks @ self._alpha
        v = solve_triangular(self._chol, Ks.T, lower=True, check_finite=False)
        var = self.signal_variance - (v * v).sum(0)
        return mean, np.maximum(var, 1e-12)

    def predict_with_grad(self, Xq: Array) -> tuple[Array, Array, Array, Array]:
        """Posterior mean and variance at the rows of Xq, and their gradients with respect to each row.

        Returns (mean, var, dmean, dvar) with shapes (m,), (m,), (m, n_dims), (m, n_dims). The
        gradient along the time column (if any) is zero: PB2 never moves in time.
        """
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
    """Lower Cholesky factor of K + noise I, adding jitter (relative to the diagonal) if needed."""
    n = len(K)
    scale = float(np.mean(np.diag(K))) if n else 1.0
    for jitter in JITTERS:
        try:
            # Fortran order: LAPACK's triangular solves would copy a C-ordered factor on every call.
            L = cholesky(K + (noise + jitter * scale) * np.eye(n), lower=True, check_finite=False)
            return np.asfortranarray(L)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("covariance matrix is not positive definite, even with jitter")


# Acquisition: every function is maximised, for a GP of a quantity to MINIMISE.
ACQUISITIONS = ("ei", "pi", "ucb")
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_HALF_LOG_PI_2 = 0.5 * math.log(math.pi / 2)


def _log_h(z: Array) -> Array:
    """log(phi(z) + z Phi(z)), stable far into the lower tail (Ament et al., NeurIPS 2023)."""
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
    snap: Callable[[Array], Array] | None = None,
) -> tuple[Array, Array]:
    """Score `candidates`, refine the best `n_local` with L-BFGS-B over the `free` columns in [0, 1].

    `snap` maps rows onto the values they decode to (integers, quantised values); it is applied to
    candidates and refined points before scoring, so scores belong to what would really run.

    Returns:
        The points (candidates and refined ones) and their scores, best first.
    """
    snap = snap or (lambda x: x)
    points = snap(candidates)
    mean, var = gp.predict(points)
    scores = acquisition(kind, mean, var, best, kappa)[0]
    order = np.argsort(-scores, kind="stable")
    free_idx = np.asarray(free, dtype=int)
    refined: list[Array] = []
    if len(free_idx) and n_local > 0:
        # One L-BFGS-B run over the stacked starts (their sum is separable): far fewer, larger calls.
        starts = points[order[:n_local]]
        k, f = len(starts), len(free_idx)

        def negative(z: Array) -> tuple[float, Array]:
            X = starts.copy()
            X[:, free_idx] = z.reshape(k, f)
            m, v, dm, dv = gp.predict_with_grad(X)
            a, da_dm, da_dv = acquisition(kind, m, v, best, kappa)
            grad = da_dm[:, None] * dm + da_dv[:, None] * dv
            return -float(a.sum()), -grad[:, free_idx].ravel()

        res = minimize(
            negative,
            starts[:, free_idx].ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * (k * f),
            options={"maxiter": maxiter},
        )
        X = starts.copy()
        X[:, free_idx] = np.clip(res.x, 0.0, 1.0).reshape(k, f)
        refined = list(X)
    if refined:
        extra = snap(np.array(refined))
        m, v = gp.predict(extra)
        points = np.vstack([points, extra])
        scores = np.concatenate([scores, acquisition(kind, m, v, best, kappa)[0]])
    order = np.argsort(-scores, kind="stable")
    return points[order], scores[order]
