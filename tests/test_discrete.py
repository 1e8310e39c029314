"""`rung.models._discrete`: the acquisition's search over choices, alone and inside both maximisers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rung
from rung.models._discrete import Choice, discrete_search, distinct
from rung.models.gp import GaussianProcess, acquisition, maximize_acquisition, single_threaded
from rung.search import _ehvi
from rung.search.gp import GP
from rung.space import Space

# 6 x 3 x 5 = 90 configurations: two choices of numbers (one column each, by rank) and a category.
SPACE = {
    "width": rung.choice([16, 32, 64, 128, 256, 512]),
    "act": rung.choice(["relu", "tanh", "gelu"]),
    "drop": rung.choice([0.0, 0.1, 0.2, 0.3, 0.4]),
}


def _searcher() -> GP:
    searcher = GP(seed=0)
    searcher.setup(Space(SPACE), metric="y", mode="min", num_samples=100, seed=0)
    return searcher


def _every_point(searcher: GP) -> np.ndarray:
    keys = list(SPACE)
    options = [SPACE[k].options for k in keys]
    return np.array([searcher._encode(dict(zip(keys, values, strict=True))) for values in itertools.product(*options)])


def _loss(X: np.ndarray, shift: float) -> np.ndarray:
    # Rank of width and dropout interact, and one activation is best: several local optima.
    return np.sin(6 * X[:, 0] + shift) * np.cos(5 * X[:, 4]) + 0.7 * X[:, 2] - 0.4 * X[:, 3] * X[:, 0]


def _candidates(every: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """200 candidates over 20 of the configurations, not the acquisition's best: the share of a large
    space that random and local candidates cover."""
    others = np.delete(every, np.argmax(truth), axis=0)
    return others[rng.choice(len(others), size=20, replace=False)][rng.integers(20, size=200)]


def _model(X: np.ndarray, y: np.ndarray) -> GaussianProcess:
    with single_threaded():  # multithreaded BLAS is far slower on these small matrices
        return GaussianProcess(X.shape[1]).fit(X, y, rng=np.random.default_rng(0), maxfun=60)


def _is_local_maximum(x: np.ndarray, every: np.ndarray, truth: np.ndarray) -> bool:
    """No configuration that differs from x in one dimension (by rank, or by option) scores higher."""
    dims = [slice(0, 1), slice(1, 4), slice(4, 5)]
    differ = np.array([[not np.array_equal(row[d], x[d]) for d in dims] for row in every]).sum(axis=1)
    here = truth[np.all(every == x, axis=1)][0]
    return bool(here >= truth[differ == 1].max())


def _found(draws: list[tuple[np.ndarray, np.ndarray]], every: np.ndarray) -> int:
    """How many of the (best point, acquisition over every point) draws found the brute-force best."""
    return sum(np.array_equal(x, every[np.argmax(truth)]) for x, truth in draws)


def test_one_objective_finds_the_acquisitions_best_configuration() -> None:
    searcher = _searcher()
    every = _every_point(searcher)
    draws: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {True: [], False: []}
    for seed in range(10):
        rng = np.random.default_rng(seed)
        X = every[rng.choice(len(every), size=12, replace=False)]
        y = _loss(X, seed)
        y = (y - y.mean()) / y.std()
        gp = _model(X, y)
        truth = acquisition("ei", *gp.predict(every), float(y.min()))[0]
        candidates = _candidates(every, truth, rng)
        for search in (True, False):
            choices = searcher._choices({}) if search else ()
            points, scores = maximize_acquisition(
                gp, candidates, [0, 4], kind="ei", best=float(y.min()), snap=searcher._snap, choices=choices
            )
            assert scores[0] == pytest.approx(truth[np.all(every == points[0], axis=1)][0], rel=1e-12)
            draws[search].append((points[0], truth))
    assert all(_is_local_maximum(x, every, truth) for x, truth in draws[True])
    # Greedy moves can stop at a local maximum of the acquisition: the best in 9 of 10 draws here;
    # L-BFGS-B over the ranks alone (before the search) found it in 2.
    assert (_found(draws[True], every), _found(draws[False], every)) == (9, 2)


def test_several_objectives_find_the_acquisitions_best_configuration() -> None:
    searcher = _searcher()
    every = _every_point(searcher)
    draws: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {True: [], False: []}
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        X = every[rng.choice(len(every), size=15, replace=False)]
        Y = np.stack([_loss(X, seed), X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 4]], axis=1)
        Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
        models = [_model(X, Y[:, j]) for j in range(2)]
        acq = _ehvi.Acquisition(models, [], _ehvi.nondominated_boxes(Y, _ehvi.reference_point(Y)))
        truth = acq(every)
        candidates = _candidates(every, truth, rng)
        for search in (True, False):
            choices = searcher._choices({}) if search else ()
            points = _ehvi.maximize(acq, candidates, [0, 4], n_local=3, maxfun=40, snap=searcher._snap, choices=choices)
            draws[search].append((points[0], truth))
    assert all(_is_local_maximum(x, every, truth) for x, truth in draws[True])
    assert (_found(draws[True], every), _found(draws[False], every)) == (9, 4)


def test_search_climbs_one_dimension_at_a_time_within_its_budget() -> None:
    # score = -(distance to a target) on a 4 x 4 grid of one-hot pairs: one move per sweep.
    target = np.array([0, 0, 0, 1, 0, 0, 1, 0], dtype=float)
    choices = [Choice(0, np.eye(4)), Choice(4, np.eye(4))]
    scored: list[int] = []

    def score(X: np.ndarray) -> np.ndarray:
        scored.append(len(X))
        return -np.abs(X - target).sum(axis=1)

    start = np.array([[1, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0]], dtype=float)
    points, values = discrete_search(score, start, choices, budget=1000)
    assert np.array_equal(points, [target, target]) and list(values) == [0, 0]
    # The start's scores, then 2 starts x 8 neighbours, 2 x 8 (the first needs two moves), 1 x 8.
    assert scored == [2, 16, 16, 8]
    # A budget for one start's sweep: only the better start moves, one step per 8 points.
    scored.clear()
    points, _ = discrete_search(score, start, choices, budget=8)
    assert scored == [2, 8]
    assert np.array_equal(points[1], target) and np.array_equal(points[0], start[0])
    assert discrete_search(score, start, choices, budget=7)[0].tolist() == start.tolist()


def test_distinct_keeps_the_first_rows_in_order() -> None:
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    assert distinct(rows, 2).tolist() == [[1.0, 0.0], [0.5, 0.5]]
    assert distinct(rows, 9).shape == (3, 2)


def test_choices_leave_numbers_and_the_grid_point_alone() -> None:
    searcher = GP(seed=0)
    space = {
        "x": rung.uniform(0, 1),
        "w": rung.choice([1, 2, 3]),
        "o": rung.choice(list("abcd")),
        "g": rung.grid([1, 2]),
    }
    searcher.setup(Space(space), metric="y", mode="min", num_samples=10, seed=0)
    choices = searcher._choices({})
    assert [c.start for c in choices] == [1, 2]  # w by rank at column 1, o one-hot from 2, not x, not g
    assert choices[0].values[:, 0].tolist() == pytest.approx([1 / 6, 3 / 6, 5 / 6])
    assert choices[1].values.tolist() == np.eye(4).tolist()
    assert [c.start for c in searcher._choices({2: np.eye(4)[0]})] == [1]
