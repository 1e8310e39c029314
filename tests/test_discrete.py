"""`rung.models._discrete`: the acquisition's search over choices, alone and inside both maximisers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rung
from rung.models._discrete import Choice, discrete_search, distinct
from rung.models.gp import GaussianProcess, acquisition, maximize_acquisition
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


def _far_from(every: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """200 candidates among the configurations that differ from x in every dimension: the part of
    a large space that random and local candidates happened to cover."""
    far = every[(every[:, 0] != x[0]) & ~np.all(every[:, 1:4] == x[1:4], axis=1) & (every[:, 4] != x[4])]
    return far[rng.integers(len(far), size=200)]


def _model(X: np.ndarray, y: np.ndarray) -> GaussianProcess:
    return GaussianProcess(X.shape[1]).fit(X, (y - y.mean()) / y.std(), rng=np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(6))
def test_one_objective_finds_the_acquisitions_best_configuration(seed: int) -> None:
    searcher = _searcher()
    every = _every_point(searcher)
    rng = np.random.default_rng(seed)
    X = every[rng.choice(len(every), size=12, replace=False)]
    y = _loss(X, seed)
    gp = _model(X, y)
    best = float(((y - y.mean()) / y.std()).min())
    truth = acquisition("ei", *gp.predict(every), best)[0]
    candidates = _far_from(every, every[np.argmax(truth)], rng)
    kwargs = {"kind": "ei", "best": best, "snap": searcher._snap}
    points, scores = maximize_acquisition(gp, candidates, [0, 4], choices=searcher._choices({}), **kwargs)  # type: ignore[arg-type]
    assert scores[0] == pytest.approx(truth.max(), rel=1e-9, abs=1e-12)
    assert np.array_equal(points[0], every[np.argmax(truth)])
    assert any(np.array_equal(points[0], x) for x in every)  # a configuration that exists


@pytest.mark.parametrize("seed", range(6))
def test_several_objectives_find_the_acquisitions_best_configuration(seed: int) -> None:
    searcher = _searcher()
    every = _every_point(searcher)
    rng = np.random.default_rng(100 + seed)
    X = every[rng.choice(len(every), size=15, replace=False)]
    Y = np.stack([_loss(X, seed), X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 4]], axis=1)
    Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    models = [_model(X, Y[:, j]) for j in range(2)]
    boxes = _ehvi.nondominated_boxes(Y, _ehvi.reference_point(Y))
    acq = _ehvi.Acquisition(models, [], boxes)
    truth = acq(every)
    candidates = _far_from(every, every[np.argmax(truth)], rng)
    points = _ehvi.maximize(
        acq, candidates, [0, 4], n_local=3, maxfun=40, snap=searcher._snap, choices=searcher._choices({})
    )
    assert acq(points[:1])[0] == pytest.approx(truth.max(), rel=1e-9, abs=1e-12)
    assert np.array_equal(points[0], every[np.argmax(truth)])


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
    space = {"x": rung.uniform(0, 1), "w": rung.choice([1, 2, 3]), "o": rung.choice(list("abcd")), "g": rung.grid([1, 2])}
    searcher.setup(Space(space), metric="y", mode="min", num_samples=10, seed=0)
    choices = searcher._choices({})
    assert [c.start for c in choices] == [1, 2]  # w by rank at column 1, o one-hot from 2, not x, not g
    assert choices[0].values[:, 0].tolist() == pytest.approx([1 / 6, 3 / 6, 5 / 6])
    assert choices[1].values.tolist() == np.eye(4).tolist()
    assert [c.start for c in searcher._choices({2: np.eye(4)[0]})] == [1]
