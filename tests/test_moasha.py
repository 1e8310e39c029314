"""rung.MOASHA: multi-objective ASHA's decisions by the definition, and through runs."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.objectives import Objectives, epsilon_net_order, pareto_ranks
from rung.schedulers.moasha import MOASHA, _Rung
from rung.types import Decision, Resume, Start, Status, TrialInfo


def _expected_place(recorded: list[tuple[float, ...]], new: tuple[float, ...]) -> int:
    """The new point's place by the definition: all points ranked by front, each front by its epsilon-net."""
    points = np.array([*recorded, new])
    ranks = pareto_ranks(points)
    order: list[int] = []
    for rank in range(int(ranks.max()) + 1):
        rows = np.flatnonzero(ranks == rank)
        order += [int(rows[i]) for i in epsilon_net_order(points[rows])]
    return order.index(len(points) - 1)


def test_decisions_at_a_rung_follow_fronts_and_the_epsilon_net() -> None:
    scheduler = MOASHA(max_t=100, grace_period=1, reduction_factor=3)
    scheduler.setup(metric="a", mode="min", seed=0)
    scheduler.set_objectives(Objectives.of(["a", "b"], ["min", "max"]))
    rng = np.random.default_rng(5)
    recorded: list[tuple[float, ...]] = []
    decisions = Counter()
    for trial_id in range(1, 60):
        trial = TrialInfo(id=trial_id, config={})
        scheduler.on_trial_add(trial)
        a, b = (float(v) for v in rng.integers(0, 8, size=2))  # ties and duplicates too
        decision = scheduler.on_result(trial, {"training_iteration": 1, "a": a, "b": b})
        point = (a, -b)
        if recorded:
            place = _expected_place(recorded, point)
            expected = Decision.CONTINUE if place / (len(recorded) + 1) <= 1 / 3 else Decision.STOP
        else:
            expected = Decision.CONTINUE  # the first arrival
        assert decision is expected, (trial_id, point)
        recorded.append(point)
        decisions[decision] += 1
        scheduler.on_complete(trial, Status.STOPPED if decision is Decision.STOP else Status.TERMINATED)
    assert decisions[Decision.STOP] > decisions[Decision.CONTINUE] > 5


def test_infeasible_and_not_finite_results_rank_after_the_feasible_ones() -> None:
    scheduler = MOASHA(max_t=10, grace_period=1, reduction_factor=2)
    scheduler.setup(metric="a", mode="min", seed=0)
    scheduler.set_objectives(Objectives.of(["a", "b"], "min", constraints={"mb": ("<=", 1)}))
    results = [
        {"a": 5.0, "b": 5.0, "mb": 0},  # first: continues
        {"a": 0.0, "b": 0.0, "mb": 3},  # dominates, but infeasible: place 1 of 2 -> 0.5 <= 0.5 continues
        {"a": 0.0, "b": 0.0, "mb": 9},  # more broken: place 2 of 3
        {"a": math.nan, "b": 0.0, "mb": 0},  # not finite: last
        {"a": 4.0, "b": 4.0, "mb": 0},  # the best feasible: first of 5
    ]
    decisions = []
    for trial_id, result in enumerate(results, 1):
        trial = TrialInfo(id=trial_id, config={})
        scheduler.on_trial_add(trial)
        decisions.append(scheduler.on_result(trial, {"training_iteration": 1, **result}))
    assert decisions == [Decision.CONTINUE, Decision.CONTINUE, Decision.STOP, Decision.STOP, Decision.CONTINUE]


def test_bad_arguments_name_the_rule() -> None:
    with pytest.raises(
        ValueError, match=re.escape("MOASHA needs reduction_factor to be a finite number >= 2; got reduction_factor=1")
    ):
        MOASHA(reduction_factor=1)
    with pytest.raises(ValueError, match=re.escape("MOASHA needs grace_period <= max_t; got grace_period=5, max_t=2")):
        MOASHA(max_t=2, grace_period=5)


def _curve(config: dict[str, Any]) -> rung.Curve:
    x, y = config["x"], config["y"]
    g = 1 + 9 * y
    steps = [{"f1": x, "f2": (1 + 2 / s) * g * (1 - math.sqrt(x / g)), "mb": 100 * y + s} for s in range(1, 28)]
    return rung.Curve(steps, [1.0] * 27)


def test_a_run_with_several_objectives_stops_trials_early_and_resumes_alike(tmp_path: Path) -> None:
    space = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}
    settings: dict[str, Any] = {
        "metric": ["f1", "f2"], "mode": "min", "executor": "simulated", "verbose": 0, "seed": 2, "max_concurrent": 1,
        "constraints": {"mb": ("<=", 80)}, "scheduler": MOASHA(max_t=27, grace_period=1, reduction_factor=3),
    }  # fmt: skip
    result = rung.run(_curve, space, num_samples=40, storage=tmp_path / "a", name="e", **settings)
    reached = Counter(t.iteration for t in result.trials)
    assert reached[27] >= 1 and reached[1] >= 20, reached
    assert {t.status for t in result.trials if t.iteration < 27} == {rung.Status.STOPPED}
    assert result.settings["fidelity"] == {"time_attr": "training_iteration", "milestones": [1, 3, 9, 27]}
    front = result.pareto_front()
    assert front and all(t.feasible for t in front)
    # Stopped partway, then resumed: the same decisions as one uninterrupted run (one trial at a time,
    # so that the first run's last trials end before the next proposal in both).
    settings["scheduler"] = MOASHA(max_t=27, grace_period=1, reduction_factor=3)
    rung.run(_curve, space, num_samples=15, storage=tmp_path / "b", name="e", **settings)
    settings["scheduler"] = MOASHA(max_t=27, grace_period=1, reduction_factor=3)
    resumed = rung.run(_curve, space, num_samples=40, storage=tmp_path / "b", name="e", resume=True, **settings)
    assert [(t.config, t.iteration) for t in resumed.trials] == [(t.config, t.iteration) for t in result.trials]


def test_promotion_resumes_the_waiting_trial_ranked_in_the_top_of_its_rung() -> None:
    scheduler = MOASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote")
    scheduler.setup(metric="a", mode="min", seed=0)
    scheduler.set_objectives(Objectives.of(["a", "b"], "min"))
    # Six trials reach the first milestone and pause there; by the definition (fronts, then the
    # epsilon-net) the top 6 // 3 = 2 are (0, 9) and (9, 0) (the front's ends), not the dominated ones.
    points = [(5.0, 5.0), (0.0, 9.0), (6.0, 6.0), (9.0, 0.0), (7.0, 7.0), (8.0, 8.0)]
    trials = []
    for trial_id, (a, b) in enumerate(points, 1):
        trial = TrialInfo(id=trial_id, config={})
        scheduler.on_trial_add(trial)
        assert scheduler.on_result(trial, {"training_iteration": 1, "a": a, "b": b}) is Decision.PAUSE
        trial.status = Status.PAUSED
        trials.append(trial)
    promoted = []
    for _ in range(3):
        suggestion = scheduler.next_trial(new_allowed=True, paused=trials)
        if not isinstance(suggestion, Resume):
            break
        promoted.append(suggestion.trial_id)
        trials[suggestion.trial_id - 1].status = Status.RUNNING
    assert sorted(promoted) == [2, 4]
    assert isinstance(scheduler.next_trial(new_allowed=True, paused=trials), Start)
    assert scheduler.next_trial(new_allowed=False, paused=trials) is None  # the top 2 left already


def test_with_no_new_trials_left_a_rung_promotes_at_least_its_best() -> None:
    scheduler = MOASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote")
    scheduler.setup(metric="a", mode="min", seed=0)
    scheduler.set_objectives(Objectives.of(["a", "b"], "min"))
    trials = []
    for trial_id, (a, b) in enumerate([(5.0, 5.0), (4.0, 4.0)], 1):
        trial = TrialInfo(id=trial_id, config={})
        scheduler.on_trial_add(trial)
        scheduler.on_result(trial, {"training_iteration": 1, "a": a, "b": b})
        trial.status = Status.PAUSED
        trials.append(trial)
    assert isinstance(scheduler.next_trial(new_allowed=True, paused=trials), Start)  # 2 // 3 = 0 promotable
    suggestion = scheduler.next_trial(new_allowed=False, paused=trials)
    assert isinstance(suggestion, Resume) and suggestion.trial_id == 2


def test_a_promoting_run_reaches_max_t_and_leaves_the_rest_stopped(tmp_path: Path) -> None:
    space = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}
    result = rung.run(
        _curve, space, metric=["f1", "f2"], mode="min", executor="simulated", verbose=0, seed=2, num_samples=30,
        storage=tmp_path, name="p", scheduler=MOASHA(max_t=27, grace_period=1, reduction_factor=3, variant="promote"),
    )  # fmt: skip
    reached = Counter(t.iteration for t in result.trials)
    assert reached[27] >= 1 and reached[1] >= 15, reached
    assert {t.status for t in result.trials if t.iteration < 27} <= {rung.Status.STOPPED, rung.Status.PAUSED}
    assert all(t.status is rung.Status.TERMINATED for t in result.trials if t.iteration == 27)


def test_variant_names_its_choices() -> None:
    with pytest.raises(ValueError, match="MOASHA.*variant"):
        MOASHA(variant="pause")


def test_a_rung_ranks_its_top_share_as_its_whole_ranking_does() -> None:
    # `ranking(limit)` and `within` (what AutoScheduler's decisions read) peel only the fronts they need:
    # they must agree with the whole ranking, ties (equal points, equal violations) included.
    rng = np.random.default_rng(7)
    rung_ = _Rung(1.0)
    for trial_id in range(300):
        point = tuple(float(v) for v in rng.integers(0, 12, size=2))  # many equal points and fronts
        violation = float(rng.integers(1, 4)) if trial_id % 7 == 0 else 0.0
        rung_.record(trial_id, None if trial_id % 31 == 0 else point, violation)
    whole = rung_.ranking()
    assert sorted(whole) == list(range(300))
    for places in (1, 2, 17, 100, 260, 299, 300):
        assert rung_.ranking(places)[:places] == whole[:places]
        assert {t for t in range(300) if rung_.within(t, places)} == set(whole[:places])


def test_dominance_in_two_columns_matches_the_pairwise_rule_with_equal_rows() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        points = rng.integers(0, 4, size=(int(rng.integers(1, 25)), 2)).astype(float)
        pairwise = [any(np.all(other <= p) and np.any(other < p) for other in points) for p in points]
        assert pareto_ranks(points, until=1).tolist() == [int(d) for d in pairwise]
