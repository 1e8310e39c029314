"""rung.objectives: checked objectives and constraints, judging results, Pareto ranks, epsilon-nets, hypervolume."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from rung.errors import MultiObjectiveError
from rung.objectives import Constraint, Objectives, epsilon_net_order, hypervolume, pareto_ranks


def _ranks_brute(points: np.ndarray) -> list[int]:
    """Non-domination ranks by the definition: peel the rows no remaining row dominates."""
    left = set(range(len(points)))
    ranks = [0] * len(points)
    rank = 0
    while left:
        front = {
            i
            for i in left
            if not any(np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in left if j != i)
        }
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


@pytest.mark.parametrize("columns", [2, 3])
def test_pareto_ranks_match_the_definition_with_ties_and_duplicates(columns: int) -> None:
    rng = np.random.default_rng(4)
    for _ in range(30):
        # Few distinct values: many ties in a column and equal rows.
        points = rng.integers(0, 4, size=(int(rng.integers(1, 25)), columns)).astype(float)
        assert list(pareto_ranks(points)) == _ranks_brute(points)


def test_pareto_ranks_until_stops_once_enough_rows_are_ranked() -> None:
    points = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 2.5], [3.0, 3.0], [4.0, 4.0]])
    assert list(pareto_ranks(points)) == [0, 0, 1, 2, 3]
    assert list(pareto_ranks(points, until=3)) == [0, 0, 1, 2, 2]


def test_hypervolume_two_and_three_dimensions_against_a_grid_count() -> None:
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [3.0, 3.0]) == pytest.approx(3.0)
    assert hypervolume(np.array([[4.0, 0.0]]), [3.0, 3.0]) == 0.0  # beyond the reference: nothing
    rng = np.random.default_rng(1)
    points = rng.integers(0, 6, size=(7, 3)).astype(float)
    # Count unit cells of [0, 6)^3 that some point dominates (weakly): the exact volume on this grid.
    cells = sum(
        1
        for cell in itertools.product(range(6), repeat=3)
        if any(all(p[k] <= cell[k] for k in range(3)) for p in points)
    )
    assert hypervolume(points, [6.0, 6.0, 6.0]) == pytest.approx(cells)


def test_epsilon_net_starts_at_the_best_first_column_and_spreads() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    order = list(epsilon_net_order(front))
    assert order[:3] == [0, 4, 2]  # one end, the far end, the middle; then the rest
    assert sorted(order) == list(range(5))


def test_objectives_of_checks_every_argument() -> None:
    with pytest.raises(ValueError, match=re.escape("mode must be one mode for every objective or a list of 2")):
        Objectives.of(["a", "b"], ["max"])
    with pytest.raises(ValueError, match=re.escape("metric names each objective once; got ['a', 'a']")):
        Objectives.of(["a", "a"], "min")
    with pytest.raises(TypeError, match=re.escape("metric must be a str naming a reported key, or a list")):
        Objectives.of([], "min")
    with pytest.raises(ValueError, match=re.escape("constraints['mb'] needs the operator '<=' or '>='; got '<'")):
        Objectives.of("a", "min", constraints={"mb": ("<", 3)})
    with pytest.raises(ValueError, match=re.escape("constraints['mb'] needs a finite number as its bound; got nan")):
        Objectives.of("a", "min", constraints={"mb": ("<=", math.nan)})
    with pytest.raises(ValueError, match=re.escape("""takes "monotone" as its third item (or nothing); got 'mono'""")):
        Objectives.of("a", "min", constraints={"mb": ("<=", 3, "mono")})
    with pytest.raises(TypeError, match=re.escape("""constraints['mb'] must be ("<=", bound) or (">=", bound)""")):
        Objectives.of("a", "min", constraints={"mb": 3})
    with pytest.raises(ValueError, match=re.escape("scalarize weighs several objectives into one; this run has one")):
        Objectives.of("a", "min", scalarize={"a": 1.0})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "scalarize needs a weight > 0 for each objective (the direction comes from its mode: 'ms' is"
            " minimised); got ms=-0.01"
        ),
    ):
        Objectives.of(["acc", "ms"], ["max", "min"], scalarize={"acc": 1.0, "ms": -0.01})
    with pytest.raises(ValueError, match=re.escape("scalarize must be a dict giving every objective a weight > 0")):
        Objectives.of(["acc", "ms"], ["max", "min"], scalarize={"acc": 1.0})


def test_judging_one_objective_prefers_feasible_results_then_the_better_value() -> None:
    o = Objectives.of("loss", "min", constraints={"mb": ("<=", 10)})
    assert o.judge(None, {"loss": 5.0, "mb": 20})  # the first finite value is judged, feasible or not
    assert o.judge({"loss": 5.0, "mb": 20}, {"loss": 9.0, "mb": 5})  # feasible beats infeasible
    assert not o.judge({"loss": 9.0, "mb": 5}, {"loss": 1.0, "mb": 50})  # and is not replaced by one
    assert not o.judge({"loss": 9.0, "mb": 5}, {"loss": 1.0})  # a constrained key missing breaks it
    assert o.judge({"loss": 9.0, "mb": 5}, {"loss": 8.0, "mb": 10})  # the bound itself is met
    assert not o.judge({"loss": 9.0, "mb": 5}, {"loss": math.nan, "mb": 1})
    assert o.score({"loss": 2.0, "mb": 11}) is None and o.score({"loss": 2.0, "mb": 1}) == 2.0


def test_judging_several_objectives_takes_the_last_result_that_reports_them_all() -> None:
    o = Objectives.of(["acc", "ms"], ["max", "min"])
    assert o.judge({"acc": 0.9, "ms": 1.0}, {"acc": 0.1, "ms": 9.0})  # worse, but later: judged
    assert not o.judge({"acc": 0.9, "ms": 1.0}, {"acc": 0.95})  # does not report both
    assert o.losses({"acc": 0.9, "ms": 2.0}) == (-0.9, 2.0)
    assert o.score({"acc": 0.9, "ms": 2.0}) is None  # no weights: no single best
    weighted = Objectives.of(["acc", "ms"], ["max", "min"], scalarize={"acc": 1.0, "ms": 0.01})
    assert weighted.score({"acc": 0.9, "ms": 2.0}) == pytest.approx(-0.9 + 0.02)


def test_front_leaves_out_infeasible_and_non_finite_trials() -> None:
    o = Objectives.of(["a", "b"], "min", constraints={"c": (">=", 0)})
    judged = [
        (1, {"a": 1.0, "b": 5.0, "c": 1}),
        (2, {"a": 2.0, "b": 2.0, "c": 1}),
        (3, {"a": 0.0, "b": 0.0, "c": -1}),  # dominates all, but infeasible
        (4, {"a": 3.0, "b": 3.0, "c": 1}),  # dominated by 2
        (5, {"a": math.inf, "b": 0.0, "c": 1}),
        (6, None),
        (7, {"a": 2.0, "b": 2.0, "c": 0}),  # equal to 2: neither dominates
    ]
    assert o.front(judged) == [1, 2, 7]


def test_stored_objectives_round_trip_through_json_and_old_stores_read_as_one_metric() -> None:
    o = Objectives.of(
        ["acc", "ms"], ["max", "min"], constraints={"mb": ("<=", 5, "monotone")}, scalarize={"acc": 2, "ms": 1}
    )
    assert Objectives.stored(None, "max", {"objectives": o.to_json()}) == o
    assert o.constraints == (Constraint("mb", "<=", 5.0, monotone=True),)
    assert Objectives.stored("loss", "min", {"seed": 0}) == Objectives(("loss",), ("min",))
    assert Objectives.stored(None, "min", {}) is None


def test_no_single_best_error_says_what_to_use() -> None:
    error = Objectives.of(["acc", "ms"], ["max", "min"]).no_single_best("best", "exp")
    assert isinstance(error, MultiObjectiveError) and isinstance(error, ValueError)
    assert str(error) == (
        "best: experiment 'exp' has 2 objectives (acc (max), ms (min)), so no single trial is best: use"
        " result.pareto_front() (the trials no other beats in every objective), or weigh them:"
        ' result.get_best(scalarize={"acc": 1.0, "ms": 1.0}) (or pass scalarize= to rung.run)'
    )
