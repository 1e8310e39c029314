"""The GP regression core (`rung.models.gp`): likelihood and gradients, fits, predictions, acquisition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from rung.models.gp import GaussianProcess, _log_h, acquisition, maximize_acquisition


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
    with pytest.raises(ValueError, match=r"^GaussianProcess needs n_dims >= 1; got n_dims=0$"):
        GaussianProcess(0)
    with pytest.raises(ValueError, match=r"^GaussianProcess needs 0 <= time_dim < n_dims=2; got time_dim=2$"):
        GaussianProcess(2, time_dim=2)
    gp = GaussianProcess(2)
    with pytest.raises(ValueError, match=r"^GaussianProcess.fit needs as many rows in X as values in y; got 3 and 2$"):
        gp.fit(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^GaussianProcess.fit needs finite X and y$"):
        gp.fit(np.zeros((2, 2)), np.array([0.0, math.nan]))


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
