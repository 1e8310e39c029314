"""ASHA: the promotion variant (Algorithm 2 of Li et al. 2020), runs end to end, bad input.

Its stopping variant is checked decision by decision against Ray Tune in test_asha_vs_ray.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rung
from rung.errors import MetricNotReportedError
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.schedulers import make
from rung.schedulers.asha import ASHA
from rung.types import Decision, Resume, Start, Status, TrialInfo

XS = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]


def _promote(**kwargs: Any) -> ASHA:
    asha = ASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote", **kwargs)
    asha.setup(metric="loss", mode="min", seed=0)
    return asha


def _report(asha: ASHA, trial: TrialInfo, time: int, loss: float) -> Decision:
    """Report as the tuner does: a trial told to pause becomes PAUSED (once it has stopped)."""
    trial.status = Status.RUNNING
    decision = asha.on_result(trial, {"training_iteration": time, "loss": loss})
    if decision is Decision.PAUSE:
        trial.status = Status.PAUSED
    return decision


def _next(asha: ASHA, trials: dict[int, TrialInfo], new_allowed: bool = True) -> Resume | Start | None:
    paused = [t for t in trials.values() if t.status is Status.PAUSED]
    suggestion = asha.next_trial(new_allowed=new_allowed, paused=paused)
    assert suggestion is None or isinstance(suggestion, (Resume, Start))
    return suggestion


def test_promotion_by_hand() -> None:
    asha = _promote()
    t = {i: TrialInfo(id=i, config={}) for i in range(1, 7)}
    for i in (1, 2, 3):
        asha.on_trial_add(t[i])
    assert _report(asha, t[1], 1, 3.0) is Decision.PAUSE
    # One trial at the rung: floor(1/3) = 0 may go on, so a new trial starts.
    assert _next(asha, t) == Start()
    assert _report(asha, t[2], 1, 1.0) is Decision.PAUSE
    t[2].status = Status.RUNNING  # told to pause, not stopped yet
    assert _report(asha, t[3], 1, 2.0) is Decision.PAUSE
    # Three: the best one (trial 2) goes on, but only once its pause is through.
    assert _next(asha, t) == Start()
    t[2].status = Status.PAUSED
    assert _next(asha, t) == Resume(2)
    assert _report(asha, t[2], 2, 0.9) is Decision.CONTINUE
    assert _report(asha, t[2], 3, 0.8) is Decision.PAUSE
    # Trial 2 was already promoted from rung 1; nobody else is in its top third.
    assert _next(asha, t) == Start()
    # Three more arrive at rung 1: six there, the top two (2, then 4) may go on.
    for i, loss in ((4, 1.5), (5, 5.0), (6, 4.0)):
        asha.on_trial_add(t[i])
        assert _report(asha, t[i], 1, loss) is Decision.PAUSE
    assert _next(asha, t) == Resume(4)
    assert _report(asha, t[4], 3, 0.7) is Decision.PAUSE
    # The searcher is done: each rung promotes at least its best, the highest rung first.
    assert _next(asha, t, new_allowed=False) == Resume(4)
    assert _report(asha, t[4], 9, 0.5) is Decision.COMPLETE  # max_t: it ends TERMINATED
    t[4].status = Status.STOPPED
    asha.on_complete(t[4], Status.STOPPED)
    # Rung 3 (trials 4, 2) and rung 1 have no paused trial in their top: the run may end.
    assert _next(asha, t, new_allowed=False) is None


def test_searcher_done_with_empty_higher_rungs_promotes_the_best_waiting() -> None:
    asha = _promote()
    t = {i: TrialInfo(id=i, config={}) for i in (1, 2)}
    for i, loss in ((1, 2.0), (2, 1.0)):
        asha.on_trial_add(t[i])
        assert _report(asha, t[i], 1, loss) is Decision.PAUSE
    # Rung 3 has nobody yet: it is skipped, and rung 1 promotes at least its best.
    assert _next(asha, t, new_allowed=False) == Resume(2)


def curve(config: dict[str, Any]) -> Curve:
    steps = range(1, 21)
    return Curve([{"loss": config["x"] + 1 / s} for s in steps], [1.0 + config["x"] for _ in steps])


def test_promotion_end_to_end(storage: Path) -> None:
    result = rung.run(
        curve,
        {"x": rung.grid(XS)},
        metric="loss",
        scheduler=ASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote"),
        executor=SimulatedExecutor(workers=3, decision_seconds=0.0),
        name="promote",
        storage=storage,
        verbose=0,
    )
    runs = {t.config["x"]: [r["training_iteration"] for r in result.history(t.id)] for t in result.trials}
    assert runs[0.1] == list(range(1, 10))  # the best climbs every rung, from its checkpoints
    assert all(its == list(range(1, len(its) + 1)) for its in runs.values())
    assert sorted(len(its) for its in runs.values()) == [1] * 6 + [3] * 2 + [9]
    # The one trained to max_t ended TERMINATED; the others were stopped early.
    ended = {t.config["x"]: t.status for t in result.trials if t.status is not Status.STOPPED}
    assert ended == {0.1: Status.TERMINATED}


def test_stopping_end_to_end_by_name(storage: Path) -> None:
    result = rung.run(
        curve,
        {"x": rung.grid(XS)},
        metric="loss",
        scheduler="asha",
        executor=SimulatedExecutor(workers=3, decision_seconds=0.0),
        name="stop",
        storage=storage,
        verbose=0,
    )
    lengths = {t.config["x"]: t.iteration for t in result.trials}
    # Default ASHA (max_t=100, rungs at 1, 4, 16, 64): stopped early, never past the 20 steps.
    assert lengths[0.1] == 20 and lengths[0.9] == 1  # 0.9 arrives third at rung 1, below the cutoff
    assert sum(lengths.values()) < 9 * 20 / 2
    assert isinstance(make("asha"), ASHA)


def test_milestones_like_ray() -> None:
    asha = ASHA(max_t=100, grace_period=1, reduction_factor=4, brackets=3)
    asha.setup(metric="loss", mode="max", seed=0)
    assert asha.milestones == [[64, 16, 4, 1], [64, 16, 4], [64, 16]]


def test_time_attr_never_reported_is_named() -> None:
    asha = ASHA(time_attr="epoch")
    asha.setup(metric="loss", mode="min", seed=0)
    asha.on_trial_add(TrialInfo(id=3, config={}))
    with pytest.raises(MetricNotReportedError) as caught:
        asha.on_result(TrialInfo(id=3, config={}), {"loss": 1.0, "step": 1, "training_iteration": 1})
    assert str(caught.value) == (
        "ASHA needs time_attr='epoch' in every result (a reported key that increases); trial 3 reported:"
        " loss, step, training_iteration"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reduction_factor": 1}, "ASHA needs reduction_factor to be a finite number >= 2; got reduction_factor=1"),
        ({"grace_period": 10, "max_t": 5}, "ASHA needs grace_period <= max_t; got grace_period=10, max_t=5"),
        ({"grace_period": 0}, "ASHA needs grace_period to be a finite number > 0; got grace_period=0"),
        ({"max_t": "100"}, "ASHA needs max_t to be a finite number > 0; got max_t='100'"),
        ({"brackets": 0}, "ASHA needs brackets to be an integer >= 1; got brackets=0"),
        ({"variant": "pause"}, "ASHA needs variant to be 'stop' or 'promote'; got variant='pause'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ASHA(**kwargs)
    assert str(caught.value) == message


def test_needs_a_metric() -> None:
    with pytest.raises(ValueError) as caught:
        ASHA().setup(metric=None, mode="min", seed=0)
    assert str(caught.value) == "ASHA needs a metric to compare trials: pass metric= to rung.run; got metric=None"


def test_a_trial_trained_to_max_t_ends_terminated_not_stopped(storage: Path) -> None:
    # Stopping ASHA with max_t=9 on curves of 20 steps: whoever reaches 9 has trained as far as
    # ASHA trains any trial, so it ends TERMINATED; trials cut at a lower rung end STOPPED.
    result = rung.run(
        curve,
        {"x": rung.grid(XS)},
        metric="loss",
        scheduler=ASHA(max_t=9, grace_period=1, reduction_factor=3),
        executor=SimulatedExecutor(workers=3, decision_seconds=0.0),
        name="complete",
        storage=storage,
        verbose=0,
    )
    status = {t.config["x"]: (t.iteration, t.status) for t in result.trials}
    assert status[0.1] == (9, Status.TERMINATED)
    assert all(s is Status.TERMINATED for it, s in status.values() if it == 9)
    assert all(s is Status.STOPPED for it, s in status.values() if it < 9)
    assert any(it < 9 for it, _ in status.values())


@pytest.mark.parametrize("variant", ["stop", "promote"])
def test_an_ended_trial_leaves_only_its_rung_records(variant: str) -> None:
    # Memory per ended trial: the scheduler forgets the trial itself, and its results keep counting.
    asha = ASHA(max_t=9, grace_period=1, reduction_factor=3, variant=variant)
    asha.setup(metric="loss", mode="min", seed=0)
    trials = {i: TrialInfo(id=i, config={}) for i in range(1, 5)}
    for i, loss in ((1, 1.0), (2, 2.0), (3, 3.0)):
        asha.on_trial_add(trials[i])
        _report(asha, trials[i], 1, loss)
        trials[i].last_result = {"training_iteration": 1, "loss": loss}
        asha.on_complete(trials[i], Status.STOPPED)
    assert asha._trials.keys() == asha._bracket_of.keys() == asha._reader._seen == set() and not asha._stopped
    asha.on_complete(trials[3], Status.STOPPED)  # told twice (a store replay may): nothing changes
    asha.on_trial_add(trials[4])
    # Three recorded at rung 1 (1.0, 2.0, 3.0): 2.5 is outside the top third whichever the variant.
    expected = Decision.STOP if variant == "stop" else Decision.PAUSE
    assert _report(asha, trials[4], 1, 2.5) is expected
    assert asha._bracket_of.keys() == {4}
