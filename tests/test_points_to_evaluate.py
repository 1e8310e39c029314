"""`rung.run(..., points_to_evaluate=[...])`: configurations run first, that the searcher learns from.

Every built-in searcher also runs `check_given_points` and a resume with points in the searcher
contract suite (tests/test_searchers_contract.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.errors import SpaceError
from rung.search.base import Searcher
from rung.testing.searchers import resume_after_kill
from rung.types import Config


def _run(storage: Path, points: Any, search: Any = "random", **kwargs: Any) -> rung.ExperimentResult:
    return rung.run(lambda c: {"loss": (c["x"] - 0.7) ** 2}, {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])},
                    metric="loss", search=search, executor="thread", max_concurrent=1, storage=storage,
                    verbose=0, points_to_evaluate=points, **kwargs)  # fmt: skip


def test_tpe_learns_from_the_given_points(storage: Path) -> None:
    # Ten points spread over [0, 1]: TPE's own first proposals already go near the best of them (0.7);
    # without them it would start with 5 random ones.
    points = [{"x": 0.05 + 0.1 * i} for i in range(10)]
    result = _run(storage, points, rung.TPE(n_startup=5, seed=3), num_samples=8, name="tpe")
    xs = [t.config["x"] for t in result.trials]
    assert xs[:10] == pytest.approx([p["x"] for p in points]) and len(xs) == 18
    assert float(np.median(np.abs(np.array(xs[10:]) - 0.7))) < 0.08, xs[10:]


@pytest.mark.parametrize(
    ("points", "error", "message"),
    [
        ({"x": 0.5}, TypeError, "points_to_evaluate must be a list of dicts of hyperparameter values; got {'x': 0.5}"),
        ([{"x": 2.0}], SpaceError, "points_to_evaluate[0]['x'] is 2.0, not a value of its uniform dimension"),
        ([{"x": 0.5}, {"y": 1}], SpaceError, "points_to_evaluate[1]['y'] is not in the search space"),
        ([0.5], SpaceError, "points_to_evaluate[0] must be a dict of hyperparameter values; got 0.5"),
    ],
)
def test_bad_points_are_refused_before_anything_runs(
    storage: Path, points: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        _run(storage, points, name="bad")
    assert not (storage / "bad").exists()


class _Proposer(Searcher):
    def suggest(self, trial_id: int) -> Config | None:
        return {"x": 0.5, "k": 1} if trial_id < 3 else None


def test_a_searcher_that_cannot_take_them_says_so(storage: Path) -> None:
    message = (
        "search=_Proposer cannot take points_to_evaluate: it does not implement on_given (how to learn from a"
        " configuration it did not propose)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _run(storage, [{"x": 0.5}], _Proposer(), name="own")
    assert len(_run(storage, [], _Proposer(), name="none").trials) == 2  # no points: nothing to take


def test_resume_killed_among_the_points_continues_them() -> None:
    resume_after_kill(lambda: rung.TPE(seed=1), "thread", kill_trial=2)
