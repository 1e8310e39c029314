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
from rung.store.sqlite import Store
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


# Known results (`known=`): values given, not run.
def _spy(calls: list[float]) -> Any:
    def objective(config: Config) -> dict[str, float]:
        calls.append(config["x"])
        return {"loss": (config["x"] - 0.7) ** 2}

    return objective


KNOWN = [
    {"config": {"x": 0.69, "k": 1}, "result": {"loss": 0.0001, "acc": 0.9}},
    {"config": {"x": 0.1, "k": 2}, "result": {"loss": 0.36}},
]


def test_known_results_are_stored_learnt_and_can_be_best_without_running(storage: Path) -> None:
    calls: list[float] = []
    result = rung.run(_spy(calls), {"x": rung.uniform(0, 1), "k": rung.choice([1, 2]), "epochs": 3}, metric="loss",
                      num_samples=3, search="random", executor="thread", max_concurrent=1, storage=storage,
                      name="known", verbose=0, known=KNOWN)  # fmt: skip
    assert len(calls) == 3 and 0.69 not in calls and 0.1 not in calls  # the known ones never ran
    first, second = result.trials[:2]
    assert first.config == {"x": 0.69, "k": 1, "epochs": 3}  # constants filled in
    assert (first.status, first.metrics["loss"], first.metrics["acc"], first.iteration) == (
        rung.Status.TERMINATED, 0.0001, 0.9, 1
    )  # fmt: skip
    assert second.best_metrics is not None and second.best_metrics["loss"] == 0.36
    assert result.best is not None and result.best.id == 1  # a known result can be the best
    store = Store.read(storage, "known")
    try:
        assert [row["origin"] for row in store.trials()] == ["known", "known", "searcher", "searcher", "searcher"]
    finally:
        store.close()


def test_tpe_learns_from_known_results(storage: Path) -> None:
    # Twelve known results spread over [0, 1]: TPE's first own proposals already go near the best (0.7).
    known = [{"config": {"x": 0.05 + 0.08 * i, "k": 1}, "result": {"loss": (0.05 + 0.08 * i - 0.7) ** 2}}
             for i in range(12)]  # fmt: skip
    calls: list[float] = []
    rung.run(_spy(calls), {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])}, metric="loss", num_samples=8,
             search=rung.TPE(n_startup=5, seed=3), executor="thread", max_concurrent=1, storage=storage,
             name="tpe", verbose=0, known=known)  # fmt: skip
    assert len(calls) == 8 and float(np.median(np.abs(np.array(calls) - 0.7))) < 0.08, calls


class _Recorder(rung.FIFO):
    """FIFO that notes which trials it hears of."""

    def __init__(self) -> None:
        self.heard: set[int] = set()

    def on_trial_add(self, trial: rung.TrialInfo) -> None:
        self.heard.add(trial.id)

    def on_result(self, trial: rung.TrialInfo, result: dict[str, Any]) -> rung.Decision:
        self.heard.add(trial.id)
        return rung.Decision.CONTINUE

    def on_complete(self, trial: rung.TrialInfo, status: rung.Status) -> None:
        self.heard.add(trial.id)


def test_the_scheduler_is_told_nothing_of_known_results(storage: Path) -> None:
    space = {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])}
    recorder = _Recorder()
    rung.run(_spy([]), space, metric="loss", num_samples=2, scheduler=recorder, executor="thread", storage=storage,
             name="told", verbose=0, known=KNOWN)  # fmt: skip
    assert recorder.heard == {3, 4}
    # ... on resume neither (the replay rebuilds it from the trials that ran).
    again = _Recorder()
    rung.run(_spy([]), space, metric="loss", num_samples=2, scheduler=again, executor="thread", storage=storage,
             name="told", verbose=0, known=KNOWN, resume=True)  # fmt: skip
    assert again.heard == {3, 4}
    # HyperBand (brackets of the trials it was told of) runs to its end with them.
    hb = rung.run(_spy([]), space, metric="loss", num_samples=4, scheduler=rung.HyperBand(max_t=1), search="random",
                  executor="thread", storage=storage, name="hb", verbose=0, known=KNOWN)  # fmt: skip
    assert [t.status for t in hb.trials] == [rung.Status.TERMINATED] * 6


def test_resume_replays_known_results_as_an_uninterrupted_run_has_them(storage: Path) -> None:
    def run(name: str, num_samples: int, resume: bool = False) -> list[Config]:
        result = rung.run(_spy([]), {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])}, metric="loss",
                          num_samples=num_samples, search=rung.TPE(n_startup=3, seed=2), executor="thread",
                          max_concurrent=1, storage=storage, name=name, verbose=0, known=KNOWN,
                          resume=resume)  # fmt: skip
        return [t.config for t in result.trials]

    run("resumed", 4)
    resumed = run("resumed", 9, resume=True)  # the known results are not stored again; TPE goes on as it was
    assert resumed == run("clean", 9) and len(resumed) == 11


def test_known_results_prove_nothing_about_the_objective_reporting_the_metric(storage: Path) -> None:
    with pytest.raises(rung.MetricNotReportedError, match="^metric 'loss' was never reported; trial 3 reported: acc$"):
        rung.run(lambda c: {"acc": 1.0}, {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])}, metric="loss",
                 executor="thread", max_concurrent=1, storage=storage, name="silent", verbose=0,
                 known=KNOWN)  # fmt: skip


@pytest.mark.parametrize(
    ("known", "error", "message"),
    [
        (KNOWN[0], TypeError, 'known must be a list of {"config": {...}, "result": {...}} dicts; got'),
        ([{"config": {"x": 0.5, "k": 1}}], TypeError, 'known[0] must be a dict with the keys "config" and "result"'),
        ([{"config": {"x": 0.5}, "result": {"loss": 1}}], SpaceError,
         "known[0]['config'] leaves out k: a known result needs the value of every hyperparameter it was measured"
         " with"),
        ([KNOWN[0], {"config": {"x": 2.0, "k": 1}, "result": {"loss": 1}}], SpaceError,
         "known[1]['config']['x'] is 2.0, not a value of its uniform dimension"),
        ([{"config": {"x": 0.5, "k": 1}, "result": {"acc": 1}}], ValueError,
         "known[0]['result'] needs a number for the metric 'loss'; got the keys ['acc']"),
        ([{"config": {"x": 0.5, "k": 1}, "result": {"loss": "low"}}], ValueError,
         "known[0]['result'] needs a number for the metric 'loss'; got loss='low'"),
        ([{"config": {"x": 0.5, "k": 1}, "result": {"loss": 1, "training_iteration": 0}}], ValueError,
         "known[0]['result'] needs training_iteration to be an integer >= 1 (default 1); got 0"),
        ([{"config": {"x": 0.5, "k": 1}, "result": [1]}], TypeError,
         "known[0]['result'] must be a dict of metrics with str keys, e.g. {'loss': 0.1}; got [1]"),
    ],
)  # fmt: skip
def test_bad_known_results_are_refused_before_anything_is_stored(
    storage: Path, known: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        rung.run(_spy([]), {"x": rung.uniform(0, 1), "k": rung.choice([1, 2])}, metric="loss", executor="thread",
                 storage=storage, name="bad", verbose=0, known=known)  # fmt: skip
    assert not (storage / "bad").exists()


def test_a_searcher_that_cannot_learn_them_says_so(storage: Path) -> None:
    message = "search=_Proposer cannot take known results: it does not implement on_given"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        _run(storage, None, _Proposer(), name="own", known=KNOWN)


def test_ray_tunes_evaluated_rewards_is_answered_with_rungs_spelling(storage: Path) -> None:
    message = (
        'run() has no argument evaluated_rewards=; rung spells it known=[{"config": point, "result": {metric:'
        " reward}}, ...] (stored, learnt from, not run)"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        rung.run(_spy([]), {"x": rung.uniform(0, 1)}, metric="loss", storage=storage, evaluated_rewards=[0.1])  # type: ignore[call-arg]
