"""The median stopping rule: the rule by hand, against a plain reference on random streams, bad input."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.errors import MetricNotReportedError
from rung.schedulers import make
from rung.schedulers.median import MedianStopping
from rung.types import Decision, Resume, Start, Status, TrialInfo


def _setup(mode: str = "min", **kwargs: Any) -> MedianStopping:
    scheduler = MedianStopping(**kwargs)
    scheduler.setup(metric="loss", mode=mode, seed=0)
    return scheduler


def _feed(scheduler: MedianStopping, trial: TrialInfo, time: float, loss: float) -> Decision:
    return scheduler.on_result(trial, {"training_iteration": time, "loss": loss})


def test_the_rule_by_hand() -> None:
    median = _setup(grace_period=2, min_samples=2)
    a, b, c = (TrialInfo(id=i, config={}) for i in (1, 2, 3))
    for t, (la, lb) in enumerate([(5.0, 1.0), (3.0, 2.0), (1.0, 3.0)], start=1):
        assert _feed(median, a, t, la) is Decision.CONTINUE
        assert _feed(median, b, t, lb) is Decision.CONTINUE  # only one other trial: too few
    # At t=2 the running means (from the grace period on) are a: 3, b: 2; their median is 2.5.
    assert _feed(median, c, 1, 9.0) is Decision.CONTINUE  # before the grace period
    assert _feed(median, c, 2, 2.4) is Decision.CONTINUE  # best 2.4 beats 2.5
    d = TrialInfo(id=4, config={})
    _feed(median, d, 1, 2.6)
    # d's best (2.6, at t=1) is worse than the median of a: 3, b: 2, c: 2.4 at t=2 -> 2.4.
    assert _feed(median, d, 2, 2.7) is Decision.STOP
    # At t=3 the means are a: (3+1)/2 = 2, b: 2.5 (c and d never reached t=3): e's best 2.5 is worse
    # than their median 2.25.
    e = TrialInfo(id=5, config={})
    _feed(median, e, 2, 2.5)
    assert _feed(median, e, 3, 2.5) is Decision.STOP
    # With e's mean (2.5) too, the median at t=3 is 2.5: f's best 2.5 is not strictly worse.
    f = TrialInfo(id=6, config={})
    _feed(median, f, 2, 2.5)
    assert _feed(median, f, 3, 2.5) is Decision.CONTINUE


def test_mode_max_and_soft_stop() -> None:
    median = _setup(mode="max", grace_period=1, min_samples=2, hard_stop=False)
    trials = [TrialInfo(id=i, config={}) for i in (1, 2, 3)]
    for trial, score in zip(trials[:2], (0.8, 0.6), strict=True):
        _feed(median, trial, 1, score)
    assert _feed(median, trials[2], 1, 0.5) is Decision.PAUSE  # below the median 0.7
    # Paused by the rule once: it then runs to its end.
    assert _feed(median, trials[2], 2, 0.1) is Decision.CONTINUE
    # Paused trials resume in trial order once the searcher is done.
    assert median.next_trial(new_allowed=True, paused=[trials[2]]) == Start()
    assert median.next_trial(new_allowed=False, paused=[trials[2], trials[0]]) == Resume(1)
    assert median.next_trial(new_allowed=False, paused=[]) is None


def _reference(results: list[tuple[int, float, float]], grace: float, min_samples: int) -> list[Decision]:
    """The rule written plainly: O(trials x results) per decision."""
    history: dict[int, list[tuple[float, float]]] = {}
    stopped: set[int] = set()
    decisions = []
    for trial, time, loss in results:
        if trial in stopped:
            decisions.append(Decision.STOP)
            continue
        history.setdefault(trial, []).append((time, loss))
        if time < grace:
            decisions.append(Decision.CONTINUE)
            continue
        means = []
        for other, points in history.items():
            scoped = [v for t, v in points if grace <= t <= time]
            if other != trial and points[-1][0] >= time and scoped:
                means.append(sum(-v for v in scoped) / len(scoped))
        best = max(-v for _, v in history[trial])
        if len(means) >= min_samples and best < statistics.median(means):
            stopped.add(trial)
            decisions.append(Decision.STOP)
        else:
            decisions.append(Decision.CONTINUE)
    return decisions


@pytest.mark.parametrize("times", ["grid", "skips", "seconds"])
def test_same_as_the_plain_rule_on_random_streams(times: str) -> None:
    rng = np.random.default_rng(5)
    results: list[tuple[int, float, float]] = []
    clock: dict[int, float] = {}
    for _ in range(2000):
        trial = int(rng.integers(1, 60))
        step = {"grid": 1.0, "skips": float(rng.integers(1, 4)), "seconds": float(rng.exponential())}[times]
        clock[trial] = clock.get(trial, 0.0) + step
        results.append((trial, clock[trial], float(rng.integers(0, 6)) + trial / 100))
    median = _setup(grace_period=2, min_samples=3)
    infos: dict[int, TrialInfo] = {}
    ours = [_feed(median, infos.setdefault(t, TrialInfo(id=t, config={})), time, v) for t, time, v in results]
    assert ours == _reference(results, 2, 3)
    assert ours.count(Decision.STOP) > 100


def test_nan_never_wins() -> None:
    median = _setup(grace_period=1, min_samples=1)
    a, b = TrialInfo(id=1, config={}), TrialInfo(id=2, config={})
    _feed(median, a, 1, 1.0)
    assert _feed(median, b, 1, math.nan) is Decision.STOP


def test_time_attr_never_reported_is_named() -> None:
    median = _setup(time_attr="epoch")
    with pytest.raises(MetricNotReportedError) as caught:
        median.on_result(TrialInfo(id=7, config={}), {"loss": 1.0, "training_iteration": 1})
    assert str(caught.value) == (
        "MedianStopping needs time_attr='epoch' in every result (a reported key that increases);"
        " trial 7 reported: loss, training_iteration"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grace_period": -1}, "MedianStopping needs grace_period to be a finite number >= 0; got grace_period=-1"),
        ({"min_samples": 0}, "MedianStopping needs min_samples to be an integer >= 1; got min_samples=0"),
        ({"min_samples": 2.5}, "MedianStopping needs min_samples to be an integer >= 1; got min_samples=2.5"),
        ({"hard_stop": "yes"}, "MedianStopping needs hard_stop to be True or False; got hard_stop='yes'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        MedianStopping(**kwargs)
    assert str(caught.value) == message


def curves(config: dict[str, Any]) -> None:
    for step in range(1, 11):
        rung.report({"loss": config["x"] + 1 / step})


def test_by_name_stops_the_worse_half(storage: Path) -> None:
    result = rung.run(
        curves,
        {"x": rung.grid([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.6])},
        metric="loss",
        scheduler="median",
        max_concurrent=1,
        executor="thread",
        name="median",
        storage=storage,
        verbose=0,
    )
    status = {t.config["x"]: (t.status, t.iteration) for t in result.trials}
    # The first three run to the end; later ones worse than their median stop at the grace period.
    assert status == {
        0.1: (Status.TERMINATED, 10),
        0.2: (Status.TERMINATED, 10),
        0.3: (Status.TERMINATED, 10),
        0.9: (Status.STOPPED, 1),
        0.8: (Status.STOPPED, 1),
        0.7: (Status.STOPPED, 1),
        0.6: (Status.STOPPED, 1),
    }
    assert isinstance(make("median"), MedianStopping)
