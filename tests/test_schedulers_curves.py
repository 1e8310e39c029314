"""The learning-curve model of the default scheduler (`rung.schedulers._curves`): what it predicts from a
trial's own curve, from the population's gains, and how sure it is."""

from __future__ import annotations

import math

import numpy as np

from rung.schedulers._curves import MAX_POINTS, MIN_POINTS, Curves, Estimate, fit_curve


def power_law(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    result: np.ndarray = a - b * t**-c
    return result


def test_it_extrapolates_a_power_law_it_was_shown_nine_points_of() -> None:
    t = np.arange(1.0, 10.0)
    estimate = fit_curve(t, power_law(t, 0.9, 0.5, 0.5), 52)
    assert math.isclose(estimate.mean, 0.9 - 0.5 * 52**-0.5, abs_tol=1e-9)
    # Exact points, yet unsure how far the future is: a few percent, growing with the reach.
    near = fit_curve(t, power_law(t, 0.9, 0.5, 0.5), 12)
    assert 0 < near.std < estimate.std < 0.1


def test_noisy_points_give_a_close_prediction_and_a_wider_deviation() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(1.0, 21.0)
    noisy = np.maximum.accumulate(power_law(t, 0.8, 0.4, 1.0) + rng.normal(0, 0.01, len(t)))
    estimate = fit_curve(t, noisy, 52)
    truth = 0.8 - 0.4 / 52
    assert abs(estimate.mean - truth) < 2 * estimate.std
    assert estimate.std > fit_curve(t, power_law(t, 0.8, 0.4, 1.0), 52).std


def test_a_slow_riser_that_will_overtake_ranks_above_a_curve_that_has_levelled_off() -> None:
    t = np.arange(1.0, 10.0)
    levelled = power_law(t, 0.6, 0.2, 2.0)  # 0.5975 at 9 epochs, 0.6 for good
    rising = power_law(t, 0.85, 0.85, 0.5)  # 0.567 at 9 epochs, 0.732 at 52
    assert rising[-1] < levelled[-1]
    fast, slow = fit_curve(t, levelled, 52), fit_curve(t, rising, 52)
    assert slow.mean > fast.mean + 0.1
    assert slow.beats(fast.mean) > 0.9 and fast.beats(slow.mean) < 0.1


def test_a_curve_that_falls_is_predicted_to_keep_its_best() -> None:
    t = np.arange(1.0, 8.0)
    falling = np.array([0.5, 0.6, 0.62, 0.62, 0.62, 0.62, 0.62])  # running best of a curve that fell
    assert math.isclose(fit_curve(t, falling, 52).mean, 0.62, abs_tol=0.02)


def test_too_few_points_say_nothing() -> None:
    t = np.arange(1.0, MIN_POINTS)
    estimate = fit_curve(t, t / 10, 52)
    assert estimate.mean == t[-1] / 10 and math.isinf(estimate.std)
    assert estimate.beats(0.0) == 0.5  # no opinion
    assert fit_curve(np.arange(1.0, 6.0), np.arange(1.0, 6.0), 5).std == 0.0  # no extrapolation


def test_the_chance_to_beat_a_threshold_is_a_normal_tail() -> None:
    estimate = Estimate(1.0, 0.5)
    assert estimate.beats(1.0) == 0.5
    assert math.isclose(estimate.beats(0.0), 0.97725, abs_tol=1e-5)
    assert estimate.beats(2.0) < 0.03
    assert Estimate(1.0, 0.0).beats(0.5) == 1.0 and Estimate(1.0, 0.0).beats(1.5) == 0.0


def test_the_population_gains_predict_a_trial_that_reported_once() -> None:
    curves = Curves()
    # Three trials trained to the end, each gaining 0.3 (give or take 0.01) after milestone 0.
    for trial, gain in zip((1, 2, 3), (0.29, 0.30, 0.31), strict=True):
        curves.add(trial, 1, 0.5)
        curves.passed(trial, 0)
        curves.add(trial, 52, 0.5 + gain)
        curves.finished(trial)
        curves.forget(trial)
    curves.add(4, 1, 0.6)
    curves.passed(4, 0)
    alone = curves.predict(4, 52)  # its own curve: one point, no opinion
    assert math.isinf(alone.std)
    estimate = curves.predict(4, 52, milestone=0)
    assert math.isclose(estimate.mean, 0.9, abs_tol=1e-9) and math.isclose(estimate.std, 0.01, rel_tol=1e-9)
    assert curves.best == 0.81


def test_a_trial_keeps_a_bounded_thinned_history_and_its_fit_is_cached() -> None:
    curves = Curves()
    for step in range(1, 1001):
        curves.add(1, step, 1 - 1 / step)
    record = curves._trials[1]
    assert len(record.times) <= MAX_POINTS and record.times[-1] == 1000
    assert record.times == sorted(record.times)
    first = curves.predict(1, 5000)
    assert curves.predict(1, 5000) is first  # cached until the trial reports again
    curves.add(1, 1001, 1 - 1 / 1001)
    assert curves.predict(1, 5000) is not first
    curves.add(2, 1, math.nan)  # NaN is skipped
    assert curves.last(2) == -math.inf
