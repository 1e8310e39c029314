"""The GP regression core (`rung.models.gp`): likelihood and gradients, fits, predictions, acquisition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from rung._blas import single_threaded
from rung.models._acquisition import _log_h
from rung.models.gp import GaussianProcess, acquisition, maximize_acquisition


def _data(n: int, dims: int, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, dims))
    y = np.sin(X @ np.arange(1.0, dims + 1)) + noise * rng.normal(size=n)
    return X, (y - y.mean()) / y.std()


@pytest.mark.parametrize(("time_dim", "prior"), [(None, None), (0, None), (None, (1.0, 1.5)), (1, (0.5, 2.0))])
def test_likelihood_gradient_matches_finite_differences(
    time_dim: int | None, prior: tuple[float, float] | None
) -> None:
    X, y = _data(25, 3)
    gp = GaussianProcess(3, time_dim=time_dim, lengthscale_prior=prior).fit(X, y, optimize=False)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.uniform(gp.bounds[:, 0] / 2, gp.bounds[:, 1] / 2)
        value, grad = gp.neg_log_likelihood(theta)
        numeric = approx_fprime(theta, lambda t: gp.neg_log_likelihood(t)[0], 1e-6)
        assert np.isfinite(value)
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("time_dim", [None, 0])
def test_posterior_gradients_match_finite_differences(time_dim: int | None) -> None:
    X, y = _data(30, 3)
    gp = GaussianProcess(3, time_dim=time_dim).fit(X, y, rng=np.random.default_rng(0))
    Q = np.random.default_rng(2).uniform(size=(4, 3))
    mean, var, dmean, dvar = gp.predict_with_grad(Q)
    np.testing.assert_allclose((mean, var), gp.predict(Q), atol=1e-12)
    moving = [d for d in range(3) if d != time_dim]
    for j, q in enumerate(Q):
        numeric_mean = approx_fprime(q, lambda z: gp.predict(z[None])[0][0], 1e-7)
        numeric_var = approx_fprime(q, lambda z: gp.predict(z[None])[1][0], 1e-7)
        np.testing.assert_allclose(dmean[j, moving], numeric_mean[moving], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dvar[j, moving], numeric_var[moving], rtol=1e-4, atol=1e-5)
    if time_dim is not None:
        assert not dmean[:, time_dim].any() and not dvar[:, time_dim].any()


def test_fit_interpolates_and_knows_its_uncertainty() -> None:
    X = np.linspace(0, 1, 12)[:, None]
    y = np.sin(6 * X[:, 0])
    gp = GaussianProcess(1).fit(X, y, rng=np.random.default_rng(0))
    mean, var = gp.predict(np.array([[0.5], [0.04]]))
    np.testing.assert_allclose(mean, np.sin([3.0, 0.24]), atol=0.02)
    assert var.max() < 1e-3
    # Far outside the data, the prediction returns to the prior.
    far_mean, far_var = gp.predict(np.array([[25.0]]))
    assert abs(far_mean[0]) < 1e-3 and far_var[0] == pytest.approx(gp.signal_variance, rel=1e-3)


def test_lengthscale_prior_pulls_a_fit_on_few_points() -> None:
    X, y = _data(6, 4)
    plain = GaussianProcess(4).fit(X, y, rng=np.random.default_rng(0))
    held = GaussianProcess(4, lengthscale_prior=(2.0, 0.5)).fit(X, y, rng=np.random.default_rng(0))
    assert np.abs(np.log(held.lengthscales) - 2.0).mean() < np.abs(np.log(plain.lengthscales) - 2.0).mean()


def test_fit_finds_the_relevant_dimension_and_the_noise() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 2))
    clean = np.sin(6 * X[:, 0])  # the second dimension is irrelevant
    noisy = clean + 0.3 * rng.normal(size=60)
    gp_clean = GaussianProcess(2).fit(X, clean, rng=np.random.default_rng(1))
    gp_noisy = GaussianProcess(2).fit(X, noisy, rng=np.random.default_rng(1))
    relevant, irrelevant = gp_clean.lengthscales
    assert irrelevant > 10 * relevant
    assert gp_clean.noise_variance < 1e-3 < 0.03 < gp_noisy.noise_variance < 0.3


def test_duplicates_and_constant_targets_do_not_break_the_fit() -> None:
    X = np.array([[0.2, 0.3]] * 6 + [[0.7, 0.1]] * 4)
    for y in (np.zeros(10), np.array([1.0] * 6 + [-1.0] * 4)):
        gp = GaussianProcess(2).fit(X, y, rng=np.random.default_rng(0))
        mean, var = gp.predict(X[[0, -1]])
        assert np.isfinite(mean).all() and (var > 0).all()
        np.testing.assert_allclose(mean, y[[0, -1]], atol=0.05)


def test_time_varying_kernel_forgets_old_data() -> None:
    # The same point gives +1 early on and -1 lately: the latest time should believe the recent data.
    t = np.arange(20.0)
    x = np.tile([0.3, 0.6], 10)
    y = np.where(t < 10, 1.0, -1.0)
    gp = GaussianProcess(2, time_dim=0).fit(np.column_stack([t / 19, x]), y, rng=np.random.default_rng(0))
    mean, _ = gp.predict(np.array([[1.0, 0.45]]))
    assert mean[0] < -0.7
    eps = gp.epsilon
    assert eps is not None and 1e-5 <= eps <= 0.5


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"^GaussianProcess needs n_dims to be an integer >= 1; got n_dims=0$"):
        GaussianProcess(0)
    with pytest.raises(ValueError, match=r"^GaussianProcess needs 0 <= time_dim < n_dims=2; got time_dim=2$"):
        GaussianProcess(2, time_dim=2)
    gp = GaussianProcess(2)
    with pytest.raises(ValueError, match=r"^GaussianProcess.fit needs as many rows in X as values in y; got 3 and 2$"):
        gp.fit(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^GaussianProcess.fit needs finite X and y$"):
        gp.fit(np.zeros((2, 2)), np.array([0.0, math.nan]))
    with pytest.raises(
        ValueError, match=r"^GaussianProcess.fit needs maxfun to be an integer >= 1 or None; got maxfun=0$"
    ):
        gp.fit(np.zeros((2, 2)), np.zeros(2), maxfun=0)
    with pytest.raises(
        ValueError, match=r"^GaussianProcess.append needs as many rows in X as values in y; got 1 and 2$"
    ):
        gp.append(np.zeros((1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^GaussianProcess.append needs finite X and y$"):
        gp.append(np.array([[0.0, math.inf]]), np.zeros(1))


def test_log_expected_improvement_is_exact_and_finite_in_the_far_tail() -> None:
    z = np.array([-30.0, -5.0, -1.5, -1.0, -0.5, 0.0, 2.0])
    reference = np.log(norm.pdf(z) + z * norm.cdf(z))
    np.testing.assert_allclose(_log_h(z), reference, rtol=1e-9)
    # Where the plain formula underflows to -inf, ours stays exact (references from mpmath at 50 digits)
    # and monotone, out to where only the asymptote is left.
    np.testing.assert_allclose(_log_h(np.array([-1e3, -100.0])), [-500014.73445209116, -5010.12957880025], rtol=1e-12)
    far = _log_h(np.array([-1e10, -2e6, -5e5, -1e3, -100.0]))
    assert np.isfinite(far).all() and (np.diff(far) > 0).all()


@pytest.mark.parametrize("kind", ["ei", "pi", "ucb"])
def test_acquisition_derivatives(kind: str) -> None:
    mean, var = np.array([0.3, 1.0, 4.0]), np.array([0.04, 0.5, 0.01])
    _, d_mean, d_var = acquisition(kind, mean, var, best=0.1)
    h = 1e-7
    numeric_mean = (acquisition(kind, mean + h, var, 0.1)[0] - acquisition(kind, mean - h, var, 0.1)[0]) / (2 * h)
    numeric_var = (acquisition(kind, mean, var + h, 0.1)[0] - acquisition(kind, mean, var - h, 0.1)[0]) / (2 * h)
    np.testing.assert_allclose(d_mean, numeric_mean, rtol=1e-5)
    np.testing.assert_allclose(d_var, numeric_var, rtol=1e-5)
    # Lower mean is better, and (the means being above the best) more uncertainty is better.
    assert (d_mean < 0).all() and (d_var > 0).all()
    ordered = acquisition(kind, mean, np.full(3, 0.2), best=0.1)[0]
    assert ordered[0] > ordered[1] > ordered[2]


def test_maximize_acquisition_refines_to_the_model_minimum() -> None:
    # A quadratic bowl with its minimum at 0.37: the acquisition peaks next to it.
    X = np.linspace(0, 1, 9)[:, None]
    y = (X[:, 0] - 0.37) ** 2
    y = (y - y.mean()) / y.std()
    gp = GaussianProcess(1).fit(X, y, rng=np.random.default_rng(0))
    candidates = np.random.default_rng(1).uniform(size=(20, 1))
    points, scores = maximize_acquisition(gp, candidates, [0], kind="ucb", best=float(y.min()), kappa=0.0)
    assert points.shape == (23, 1) and (np.diff(scores) <= 0).all()
    assert points[0, 0] == pytest.approx(0.37, abs=0.01)
    # Snapping: every point scored is a snapped one.
    snapped, _ = maximize_acquisition(
        gp, candidates, [0], kind="ei", best=float(y.min()), snap=lambda x: np.round(x * 10) / 10
    )
    assert set(np.round(snapped[:, 0], 12)) <= {round(i / 10, 12) for i in range(11)}
    assert snapped[0, 0] == pytest.approx(0.4)


def test_maxfun_is_a_hard_cap_on_likelihood_evaluations() -> None:
    X, y = _data(40, 3)
    capped = GaussianProcess(3).fit(X, y, rng=np.random.default_rng(0), restarts=2, maxfun=4)
    assert capped.last_fit is not None
    assert capped.last_fit.evaluations == 12 and capped.last_fit.exhausted
    assert capped.last_fit.value <= capped.last_fit.start
    # The hyperparameters in use are the best point evaluated, and the posterior is conditioned under them.
    np.testing.assert_allclose(capped.neg_log_likelihood(capped.theta)[0], capped.last_fit.value, rtol=1e-12)
    fresh = GaussianProcess(3)
    fresh.theta = capped.theta.copy()
    fresh.fit(X, y, optimize=False)
    Q = np.random.default_rng(3).uniform(size=(5, 3))
    np.testing.assert_allclose(capped.predict(Q), fresh.predict(Q), rtol=1e-9, atol=1e-12)
    full = GaussianProcess(3).fit(X, y, rng=np.random.default_rng(0), restarts=2)
    assert full.last_fit is not None and not full.last_fit.exhausted and full.last_fit.evaluations > 12


def test_capped_warm_started_fits_reach_the_likelihood_of_a_full_fit() -> None:
    # As `rung.GP` does: one observation more each step, a few evaluations each, from the last fit,
    # BLAS on one thread (with threads, a busy 2-core machine made this 100x slower: 29 s of CPU, not 0.3).
    X, y = _data(140, 4, seed=3, noise=0.05)
    tracked = GaussianProcess(4)
    with single_threaded():
        for n in range(10, 141):
            tracked.fit(X[:n], y[:n], maxfun=5)
        full = GaussianProcess(4).fit(X, y, rng=np.random.default_rng(0), restarts=4)
    assert tracked.last_fit is not None and full.last_fit is not None
    gap = tracked.neg_log_likelihood(tracked.theta)[0] - full.last_fit.value
    assert abs(gap) / len(y) < 1e-3
    np.testing.assert_allclose(tracked.lengthscales, full.lengthscales, rtol=0.05)
    # One capped fit from the default hyperparameters is far from it: the steps add up.
    once = GaussianProcess(4).fit(X, y, maxfun=5)
    assert once.last_fit is not None and (once.last_fit.value - full.last_fit.value) / len(y) > 0.05


def test_append_conditions_like_a_full_factorisation() -> None:
    X, y = _data(30, 3)
    Q = np.random.default_rng(4).uniform(size=(6, 3))
    new = np.random.default_rng(5).uniform(size=(4, 3))
    grown = GaussianProcess(3).fit(X, y, rng=np.random.default_rng(0))
    believed = grown.predict(new)[0]
    grown.append(new, believed)
    full = GaussianProcess(3)
    full.theta = grown.theta.copy()
    full.fit(np.vstack([X, new]), np.concatenate([y, believed]), optimize=False)
    np.testing.assert_allclose(grown.predict(Q), full.predict(Q), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(grown.predict_with_grad(Q)[2:], full.predict_with_grad(Q)[2:], rtol=1e-7, atol=1e-9)
    # Rows the grown factor cannot take (duplicates, no noise) are refactored with jitter, as `fit` would.
    exact = GaussianProcess(2)
    exact.theta[-1] = -math.inf
    X2, y2 = _data(20, 2)
    exact.fit(X2, y2, optimize=False).append(np.full((3, 2), 0.5), np.zeros(3))
    reference = GaussianProcess(2)
    reference.theta = exact.theta.copy()
    reference.fit(np.vstack([X2, np.full((3, 2), 0.5)]), np.concatenate([y2, np.zeros(3)]), optimize=False)
    Q2 = Q[:, :2]
    np.testing.assert_allclose(exact.predict(Q2), reference.predict(Q2), rtol=1e-12)
    # On an empty GP, appending is fitting without optimising.
    empty = GaussianProcess(3).append(X, y)
    assert len(empty.y) == 30 and np.isfinite(empty.predict(Q)[0]).all()


def test_predict_in_blocks_matches_row_by_row() -> None:
    X, y = _data(40, 3)
    gp = GaussianProcess(3).fit(X, y, rng=np.random.default_rng(0))
    Q = np.random.default_rng(6).uniform(size=(600, 3))  # more than two blocks
    mean, var = gp.predict(Q)
    rows = [gp.predict(q[None]) for q in Q[[0, 255, 256, 511, 512, 599]]]
    np.testing.assert_allclose(mean[[0, 255, 256, 511, 512, 599]], [m[0] for m, _ in rows], rtol=1e-10)
    np.testing.assert_allclose(var[[0, 255, 256, 511, 512, 599]], [v[0] for _, v in rows], rtol=1e-8)


class _Counting(GaussianProcess):
    """Counts the posterior evaluations with gradients that an acquisition optimiser makes."""

    calls = 0

    def predict_with_grad(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.calls += 1
        return super().predict_with_grad(Xq)


def test_acquisition_refinement_obeys_its_evaluation_cap() -> None:
    X, y = _data(30, 3)
    gp = _Counting(3)
    gp.fit(X, y, rng=np.random.default_rng(0))
    candidates = np.random.default_rng(7).uniform(size=(64, 3))
    free = [0, 1, 2]
    gp.calls = 0
    maximize_acquisition(gp, candidates, free, kind="ei", best=float(y.min()))
    uncapped = gp.calls
    gp.calls = 0
    points, scores = maximize_acquisition(gp, candidates, free, kind="ei", best=float(y.min()), maxfun=4)
    assert uncapped > 4 and gp.calls == 4
    # The refined points (3 more than the candidates) never score below the candidates they started from.
    assert len(points) == 67 and (np.diff(scores) <= 0).all()
    start_scores = acquisition("ei", *gp.predict(candidates), float(y.min()))[0]
    assert scores[0] >= start_scores.max()
