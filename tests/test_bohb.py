"""BOHB-style learning: TPE under a multi-fidelity scheduler, `rung.BOHB`, and `search="auto"`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rung
from rung.api import _searcher
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.search._tpe_level import DONE, STOPPED, WORST
from rung.search.random import Random
from rung.search.tpe import TPE
from rung.space import Space
from rung.types import Status


def _tpe(n_startup: int = 3) -> TPE:
    tpe = TPE(n_startup=n_startup, seed=0)
    tpe.setup(Space({"x": rung.uniform(0, 1)}), metric="loss", mode="min", num_samples=100, seed=0)
    tpe.set_fidelity("training_iteration", [1.0, 3.0, 9.0])
    return tpe


def _trial(tpe: TPE, trial_id: int, losses: list[float], status: Status = Status.STOPPED) -> None:
    assert tpe.suggest(trial_id) is not None
    for i, loss in enumerate(losses):
        tpe.observe(trial_id, {"loss": loss, "training_iteration": i + 1})
    tpe.on_complete(trial_id, status, {"loss": losses[-1], "training_iteration": len(losses)})


def test_model_budget_is_the_highest_milestone_with_enough_results() -> None:
    tpe = _tpe()
    for trial_id in (1, 2):
        _trial(tpe, trial_id, [0.5])
    assert tpe._budget is None  # fewer than n_startup results anywhere
    _trial(tpe, 3, [0.4])
    assert tpe._budget == 1.0
    for trial_id in (4, 5):
        _trial(tpe, trial_id, [0.9, 0.8, 0.3])
    assert tpe._budget == 1.0  # only two trials reached 3
    _trial(tpe, 6, [0.7, 0.6, 0.2], Status.ERROR)  # a failed trial does not count
    assert tpe._budget == 1.0
    _trial(tpe, 7, [0.6, 0.5, 0.1, 0.1])
    assert tpe._budget == 3.0


def test_trials_compared_at_the_budget_others_rank_after() -> None:
    tpe = _tpe()
    for trial_id in (1, 2, 3):
        _trial(tpe, trial_id, [0.9, 0.8, 0.5 + trial_id / 10])  # reach 3
    _trial(tpe, 4, [0.05])  # stopped at 1 with the best value at 1
    _trial(tpe, 5, [0.95, 0.85, 0.4, 0.39, 0.38, 0.37, 0.36, 0.35, 0.01])  # to 9: read at 3, where it had 0.4
    level = tpe._root
    rows = {trial_id: trial_id - 1 for trial_id in range(1, 10)}  # one row per trial, in the order suggested
    state, loss, reach = level.state, level.loss, level.reach
    for trial_id, expected in ((1, 0.6), (2, 0.7), (3, 0.8), (5, 0.4)):
        assert (state[rows[trial_id]], loss[rows[trial_id]], reach[rows[trial_id]]) == (DONE, expected, 3.0)
    assert (state[rows[4]], loss[rows[4]], reach[rows[4]]) == (STOPPED, 0.05, 1.0)


def test_model_at_the_budget_compares_only_the_trials_with_a_value_there() -> None:
    tpe = _tpe()
    for trial_id, loss in ((1, 0.6), (2, 0.7), (3, 0.8), (4, 0.9)):
        _trial(tpe, trial_id, [0.9, 0.8, loss])  # reach 3
    for trial_id in (5, 6, 7, 8):
        _trial(tpe, trial_id, [0.05])  # stopped at 1, better there than any other trial
    _trial(tpe, 9, [0.5], Status.ERROR)
    assert tpe._budget == 3.0
    level = tpe._root
    good, bad = level._fit(tpe._settings(), tpe._budget, level.finished)
    rows = {trial_id: trial_id - 1 for trial_id in range(1, 10)}  # one row per trial, in the order suggested
    # The good group: the best of the 4 compared at 3 (gamma(4) = 1), not one of those stopped at 1.
    assert good.mu[0, :-1].tolist() == [level.x[rows[1], 0]]
    # The bad group: the other 3 compared there and the failed trial; the prior is the last kernel.
    expected = sorted(level.x[rows[t], 0] for t in (2, 3, 4, 9))
    assert sorted(bad.mu[0, :-1].tolist()) == expected


def test_only_ended_trials_that_may_count_differently_later_keep_their_records() -> None:
    tpe = _tpe()
    for trial_id in (1, 2):
        _trial(tpe, trial_id, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1 * trial_id])  # to 9
    _trial(tpe, 3, [0.05])  # stopped at 1
    assert tpe._budget == 1.0 and set(tpe._ended) == {1, 2, 3}  # all have a value at the budget
    _trial(tpe, 4, [0.5, 0.4], Status.ERROR)  # a failed trial always ranks worst
    assert tpe.suggest(5) is not None
    tpe.on_complete(5, Status.STOPPED, None)  # ended before the first milestone: worst as well
    assert tpe.suggest(6) is not None
    tpe.observe(6, {"loss": 0.9, "training_iteration": 1})  # running: its record stays
    assert set(tpe._ended) == {1, 2, 3} and set(tpe._at) == {1, 2, 3, 6}
    _trial(tpe, 7, [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12])  # the third trial at 9
    assert tpe._budget == 9.0 and set(tpe._ended) == {1, 2, 7}  # 3 stays stopped at 1 whatever comes
    tpe.on_complete(6, Status.STOPPED, None)
    _trial(tpe, 8, [0.01])  # stopped at 1: left out of the model at 9
    assert set(tpe._ended) == {1, 2, 7} and set(tpe._at) == {1, 2, 7}
    level = tpe._root
    row = {trial_id: trial_id - 1 for trial_id in range(1, 9)}  # one row per trial, in the order suggested
    finished = {t: (level.state[row[t]], level.loss[row[t]], level.reach[row[t]]) for t in row}
    assert finished[1] == (DONE, 0.1, 9.0) and finished[2] == (DONE, 0.2, 9.0) and finished[7] == (DONE, 0.12, 9.0)
    assert finished[3] == (STOPPED, 0.05, 1.0) and finished[6] == (STOPPED, 0.9, 1.0)
    assert finished[8] == (STOPPED, 0.01, 1.0)
    assert finished[4][0] == WORST and finished[5][0] == WORST


def test_auto_is_tpe_with_something_to_model_else_random() -> None:
    space = Space({"x": rung.uniform(0, 1), "g": rung.grid([1, 2])})
    assert type(_searcher("auto", space, "loss")) is TPE
    assert type(_searcher("auto", space, None)) is Random
    assert type(_searcher("auto", Space({"g": rung.grid([1, 2]), "c": 3}), "loss")) is Random


def curve(config: dict[str, Any]) -> Curve:
    steps = 9
    return Curve([{"loss": (config["x"] - 0.7) ** 2 + 0.5 / (i + 1)} for i in range(steps)], [10.0] * steps)


@pytest.mark.parametrize("pairing", ["hyperband", "asha"])
def test_bohb_pairs_its_scheduler_and_learns_at_higher_budgets(pairing: str, storage: Path) -> None:
    search = rung.BOHB(max_t=9, reduction_factor=3, scheduler=pairing, seed=1, n_startup=4)
    result = rung.run(curve, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=60, search=search,
                      executor=SimulatedExecutor(workers=4, decision_seconds=0.0), name=pairing, storage=storage,
                      verbose=0)  # fmt: skip
    assert {t.iteration for t in result.trials} >= {1, 9}  # brackets stopped some early, let others run
    assert search._budget == 9.0  # by the end, the model learns from full-length results
    late = [abs(t.config["x"] - 0.7) for t in result.trials[-20:]]
    early = [abs(t.config["x"] - 0.7) for t in result.trials[:20]]
    assert sorted(late)[10] < sorted(early)[10]  # the median proposal moved towards the optimum


def test_bohb_bad_input() -> None:
    with pytest.raises(ValueError, match="^BOHB needs scheduler='hyperband' or 'asha'; got scheduler='fifo'$"):
        rung.BOHB(scheduler="fifo")
    with pytest.raises(ValueError, match="reduction_factor"):
        rung.BOHB(reduction_factor=1)
