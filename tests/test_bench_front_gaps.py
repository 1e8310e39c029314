"""`bench.front_gaps`: the hypervolume a set of points misses of a front, split by region."""

from __future__ import annotations

import numpy as np
import pytest

from bench.front_gaps import exact_front, missing_by_region
from rung.objectives import hypervolume


def test_missing_hypervolume_is_split_by_the_first_loss() -> None:
    front = np.array([[0.0, 0.5], [0.5, 0.0]])
    points = np.array([[0.0, 0.6], [0.6, 0.0], [0.7, 0.7]])  # the last one dominated
    missing = missing_by_region(front, points, bins=(0.0, 0.5, 0.6, 1.0))
    assert missing == pytest.approx([0.1 * 0.5, 0.6 * 0.1, 0.0], abs=1e-4)


def test_the_regions_add_up_to_the_hypervolume_difference() -> None:
    rng = np.random.default_rng(0)
    every = rng.uniform(size=(400, 2)) ** 2
    front = exact_front(every)
    assert len(front) >= 3 and np.all(np.diff(front[:, 0]) >= 0) and np.all(np.diff(front[:, 1]) < 0)
    points = every[rng.choice(len(every), 40, replace=False)]
    whole = hypervolume(front, [1.0, 1.0]) - hypervolume(points, [1.0, 1.0])
    assert sum(missing_by_region(front, points)) == pytest.approx(whole, abs=2e-4)
