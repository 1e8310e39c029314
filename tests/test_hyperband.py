"""Synchronous successive halving and HyperBand: the bracket table, the rungs, errors, bad input."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.errors import MetricNotReportedError
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.schedulers import make
from rung.schedulers.hyperband import BracketPlan, HyperBand, SuccessiveHalving
from rung.types import Status

# Losses x + 1/step: the order of the trials is the order of x at every step.
XS = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]


def curve(config: dict[str, Any]) -> Curve:
    steps = range(1, config["n"] + 1)
    return Curve([{"loss": config["x"] + 1 / s} for s in steps], [1.0 + config["x"] for _ in steps])


def _simulated(scheduler: Any, xs: list[float], storage: Path, workers: int = 3) -> rung.ExperimentResult:
    return rung.run(
        curve,
        {"x": rung.grid(xs), "n": 20},
        metric="loss",
        scheduler=scheduler,
        executor=SimulatedExecutor(workers=workers, decision_seconds=0.0),
        name="sim",
        storage=storage,
        verbose=0,
    )


def _iterations(result: rung.ExperimentResult) -> dict[float, list[int]]:
    return {t.config["x"]: [r["training_iteration"] for r in result.history(t.id)] for t in result.trials}


def test_hyperband_bracket_table_of_li_et_al() -> None:
    plans = HyperBand(max_t=81, reduction_factor=3).plans
    assert [(p.size, p.milestones[0]) for p in plans] == [(81, 1), (34, 3), (15, 9), (8, 27), (5, 81)]
    # Table 1 of Li et al. (2018): (n_i, r_i) for each bracket s = 4 .. 0.
    assert [p.rungs for p in plans] == [
        ((81, 1), (27, 3), (9, 9), (3, 27), (1, 81)),
        ((34, 3), (11, 9), (3, 27), (1, 81)),
        ((15, 9), (5, 27), (1, 81)),
        ((8, 27), (2, 81)),
        ((5, 81),),
    ]
    # Not a power of η: milestones round up, the last is max_t.
    assert HyperBand(max_t=100, reduction_factor=3).plans[0].milestones == (2, 4, 12, 34, 100)


def test_successive_halving_plan() -> None:
    assert SuccessiveHalving(min_t=1, max_t=81, reduction_factor=3).plans == [BracketPlan(81, (1, 3, 9, 27, 81), 3)]
    assert SuccessiveHalving(min_t=2, max_t=100, reduction_factor=3).plans == [BracketPlan(27, (2, 6, 18, 100), 3)]
    assert SuccessiveHalving(min_t=5, max_t=5).plans == [BracketPlan(1, (5,), 3)]


def test_sha_halves_synchronously_from_checkpoints(storage: Path) -> None:
    result = _simulated(SuccessiveHalving(min_t=1, max_t=9, reduction_factor=3), XS, storage)
    counts = {x: len(its) for x, its in _iterations(result).items()}
    # Rung 1: all 9; the best 3 go on to 3; the best of those to 9.
    assert counts == {0.1: 9, 0.2: 3, 0.3: 3, **{x: 1 for x in XS if x > 0.3}}
    # Promoted trials continue from their checkpoints: no iteration is repeated.
    assert _iterations(result)[0.1] == list(range(1, 10))
    # The one trained to max_t ended TERMINATED; the others were stopped early.
    ended = {t.config["x"]: t.status for t in result.trials if t.status is not Status.STOPPED}
    assert ended == {0.1: Status.TERMINATED}
    # Synchronous: nobody passes a milestone before every trial of the rung has reached it.
    times = {t.config["x"]: [r["timestamp"] for r in result.history(t.id)] for t in result.trials}
    last_at_1 = max(ts[0] for ts in times.values())
    assert min(ts[1] for ts in times.values() if len(ts) > 1) > last_at_1
    last_at_3 = max(ts[2] for ts in times.values() if len(ts) > 2)
    assert times[0.1][3] > last_at_3


def test_hyperband_runs_its_brackets(storage: Path) -> None:
    xs = [round(0.05 * i, 2) for i in range(1, 18)][::-1]  # 17 trials: brackets of 9, 5 and 3
    result = _simulated(HyperBand(max_t=9, reduction_factor=3), xs, storage, workers=4)
    by_id = {t.id: len(result.history(t.id)) for t in result.trials}
    first, second, third = (
        [by_id[i] for i in range(1, 10)],
        [by_id[i] for i in range(10, 15)],
        [by_id[i] for i in (15, 16, 17)],
    )
    assert sorted(first) == [1] * 6 + [3] * 2 + [9]
    assert sorted(second) == [3] * 4 + [9]
    assert third == [9, 9, 9]
    # In each bracket the winner is the smallest x (xs descend, so the last trial of the bracket).
    assert by_id[9] == 9 and by_id[14] == 9


def test_bracket_closes_when_the_searcher_runs_out(storage: Path) -> None:
    result = _simulated(SuccessiveHalving(min_t=1, max_t=9, reduction_factor=3), [0.4, 0.1, 0.3, 0.2], storage)
    # 4 of 9 came: each rung keeps max(1, n // 3) = 1.
    assert {x: len(its) for x, its in _iterations(result).items()} == {0.4: 1, 0.1: 9, 0.3: 1, 0.2: 1}


def failing(config: dict[str, Any]) -> None:
    step = rung.get_checkpoint() or 0
    while step < 20:
        step += 1
        if step == config["fail_at"]:
            raise RuntimeError("boom")
        rung.report({"loss": config["x"] + 1 / step}, checkpoint=step)


def test_failed_trials_do_not_hold_a_rung(storage: Path) -> None:
    # x=0.5 fails before reaching the first milestone; x=0.1 fails after its promotion.
    space = {"x": rung.grid(XS), "fail_at": rung.sample_from(lambda c: {0.5: 1, 0.1: 2}.get(c["x"], 0))}
    result = rung.run(
        failing,
        space,
        metric="loss",
        scheduler=SuccessiveHalving(min_t=1, max_t=9, reduction_factor=3),
        max_concurrent=2,
        executor="thread",
        name="fail",
        storage=storage,
        verbose=0,
    )
    status = {t.config["x"]: t.status for t in result.trials}
    assert status[0.5] is Status.ERROR and status[0.1] is Status.ERROR
    # Rung 1: 8 arrived, the best 8 // 3 = 2 (0.1, 0.2) went on; 0.1 failed, 0.2 arrived alone at 3
    # and went on to 9.
    counts = {x: len(its) for x, its in _iterations(result).items()}
    assert counts == {0.5: 0, 0.1: 1, 0.2: 9, **{x: 1 for x in XS if x not in (0.1, 0.2, 0.5)}}


def no_checkpoint(config: dict[str, Any]) -> None:
    for step in range(1, 10):
        rung.report({"loss": config["x"] + 1 / step})


def test_trials_without_checkpoints_restart_with_one_warning(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rung"):
        result = rung.run(
            no_checkpoint,
            {"x": rung.grid(XS)},
            metric="loss",
            scheduler="sha",
            executor="thread",
            max_concurrent=2,
            name="nock",
            storage=storage,
            verbose=0,
        )
    warnings = [r.getMessage() for r in caplog.records if "no checkpoint" in r.getMessage()]
    assert len(warnings) == 1 and "restarts from the beginning" in warnings[0]
    # Default SHA (max_t=81): the best 3 restart and pause at 3; the best of them restarts, pauses at
    # 9, restarts again and ends on its own after its 9 steps.
    assert {x: len(its) for x, its in _iterations(result).items()} == {
        0.1: 9,
        0.2: 3,
        0.3: 3,
        **{x: 1 for x in XS if x > 0.3},
    }
    assert {t.config["x"]: t.status for t in result.trials}[0.1] is Status.TERMINATED


def test_time_attr_never_reported_is_named(storage: Path) -> None:
    with pytest.raises(MetricNotReportedError) as caught:
        rung.run(
            no_checkpoint,
            {"x": 0.5},
            metric="loss",
            scheduler=HyperBand(max_t=9, time_attr="epoch"),
            executor="thread",
            name="attr",
            storage=storage,
            verbose=0,
        )
    assert str(caught.value) == (
        "HyperBand needs time_attr='epoch' in every result (a reported key that increases); trial 1 reported:"
        " loss, time_this_iter_s, time_total_s, timestamp, training_iteration"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: HyperBand(reduction_factor=1),
            "HyperBand needs reduction_factor to be an integer >= 2; got reduction_factor=1",
        ),
        (
            lambda: SuccessiveHalving(reduction_factor=2.5),
            "SuccessiveHalving needs reduction_factor to be an integer >= 2; got reduction_factor=2.5",
        ),
        (lambda: SuccessiveHalving(min_t=10, max_t=5), "SuccessiveHalving needs min_t <= max_t; got min_t=10, max_t=5"),
        (lambda: SuccessiveHalving(min_t=0), "SuccessiveHalving needs min_t to be a finite number > 0; got min_t=0"),
        (lambda: HyperBand(max_t=0.5), "HyperBand needs max_t to be a finite number >= 1; got max_t=0.5"),
        (lambda: HyperBand(max_t=float("inf")), "HyperBand needs max_t to be a finite number >= 1; got max_t=inf"),
        (
            lambda: HyperBand(time_attr=""),
            "HyperBand needs time_attr to be the name of a reported key; got time_attr=''",
        ),
    ],
)
def test_bad_arguments(build: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert str(caught.value) == message


def test_needs_a_metric() -> None:
    with pytest.raises(ValueError) as caught:
        HyperBand().setup(metric=None, mode="min", seed=0)
    assert str(caught.value) == "HyperBand needs a metric to compare trials: pass metric= to rung.run; got metric=None"


def test_by_name() -> None:
    assert isinstance(make("sha"), SuccessiveHalving) and isinstance(make("hyperband"), HyperBand)
    assert make("hyperband").plans == HyperBand(max_t=81, reduction_factor=3).plans
