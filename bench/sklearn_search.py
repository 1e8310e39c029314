"""`RungSearchCV` beside `GridSearchCV`: the wall time of a whole `fit` on a grid of fast fits.

Run: `python bench/sklearn_search.py [repeats]` (BENCHMARKS.md, "RungSearchCV beside GridSearchCV").
A 3x3 grid of SVC on iris, 5 folds: 45 fits of about a millisecond, so the search's own cost shows.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from rung.sklearn import RungSearchCV

GRID = {"C": [0.1, 1, 10], "gamma": [0.01, 0.1, 1]}


def main(repeats: int = 7) -> None:
    x, y = load_iris(return_X_y=True)
    searches: dict[str, Callable[[], Any]] = {
        "GridSearchCV": lambda: GridSearchCV(SVC(), GRID),
        "GridSearchCV, n_jobs=2": lambda: GridSearchCV(SVC(), GRID, n_jobs=2),
        "RungSearchCV, n_jobs=1": lambda: RungSearchCV(SVC(), param_grid=GRID),
        "RungSearchCV, n_jobs=2": lambda: RungSearchCV(SVC(), param_grid=GRID, n_jobs=2),
    }
    times: dict[str, list[float]] = {name: [] for name in searches}
    for _ in range(repeats):
        for name, make in searches.items():
            start = time.perf_counter()
            make().fit(x, y)
            times[name].append(time.perf_counter() - start)
    for name, took in times.items():
        print(f"{name:>24}: median {statistics.median(took):.3f} s, first {took[0]:.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
