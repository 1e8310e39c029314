"""Population Based Training: explore, exploit, barriers, turns, clones that outlive their donors'
files, schedules, determinism, resume after SIGKILL, bad input, and the toy experiment of the paper."""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.result import ScheduleEntry
from rung.schedulers._explore import explore
from rung.schedulers.pbt import PBT
from rung.store.sqlite import INLINE_MAX, Store
from rung.types import Decision, Pause, Resume, Start, Status, TrialInfo

# Unit tests: the explore step.


def _explore(
    config: dict[str, Any], mutations: dict[str, Any], p: float = 0.0, factors: Any = (1.2,), seed: int = 0
) -> dict[str, Any]:
    return explore(config, mutations, np.random.default_rng(seed), resample_probability=p, factors=factors)


@pytest.mark.parametrize(
    ("domain", "value", "factor", "expected"),
    [
        (rung.uniform(0, 1), 0.5, 1.2, 0.6),
        (rung.uniform(0, 1), 0.5, 0.8, 0.4),
        (rung.uniform(0, 1), 0.9, 1.2, 1.0),  # clipped into the domain
        (rung.uniform(0.3, 1), 0.35, 0.8, 0.3),
        (rung.loguniform(1e-4, 1e-1), 0.1, 1.2, 0.1),
        (rung.quniform(0, 1, 0.1), 0.3, 1.2, 0.4),  # 0.36, onto the q grid
        (rung.randint(1, 100), 10, 1.2, 12),
        (rung.randint(1, 100), 3, 0.8, 2),  # 2.4: ints stay ints
        (rung.randint(1, 100), 100, 1.2, 100),
        (rung.qrandint(0, 100, 5), 20, 1.2, 25),  # 24, onto the q grid
        (rung.normal(0, 1), -2.0, 1.2, -2.4),  # unbounded
        # Where rounding would undo the step, the next value on the grid that way (2 * 1.2 rounds to 2).
        (rung.randint(0, 10), 2, 1.2, 3),
        (rung.randint(0, 10), 2, 0.8, 1),
        (rung.randint(0, 10), 1, 0.8, 0),
        (rung.randint(0, 10), 0, 1.2, 0),  # 0 scales to 0 (as in Ray Tune)
        (rung.lograndint(1, 100), 2, 1.2, 3),
        (rung.qrandint(0, 100, 10), 10, 1.2, 20),
        (rung.qrandint(0, 100, 10), 20, 0.8, 10),
        (rung.quniform(0, 1, 0.1), 0.1, 0.8, 0.0),
        (rung.quniform(0, 1, 0.1), 0.2, 1.2, 0.3),
        (rung.qloguniform(1e-3, 1, 1e-3), 0.002, 1.2, 0.003),
        (rung.randint(0, 2), 2, 1.2, 2),  # at the bound: clipped
    ],
)
def test_explore_scales_numbers_into_the_domain(domain: Any, value: Any, factor: float, expected: Any) -> None:
    new = _explore({"v": value}, {"v": domain}, factors=(factor,))
    assert new == {"v": expected} and type(new["v"]) is type(expected)


def test_explore_moves_to_a_neighbouring_item() -> None:
    items = ["a", "b", "c", "d"]
    assert _explore({"v": "a"}, {"v": items}) == {"v": "b"}  # at an end: its only neighbour
    assert _explore({"v": "d"}, {"v": items}) == {"v": "c"}
    assert _explore({"v": "a"}, {"v": ["a"]}) == {"v": "a"}  # nowhere to move
    seen = {_explore({"v": "b"}, {"v": items}, seed=s)["v"] for s in range(40)}
    assert seen == {"a", "c"}
    # A choice domain behaves like its list of options; a value not in the list is redrawn from it.
    assert _explore({"v": 64}, {"v": rung.choice([16, 32, 64])}) == {"v": 32}
    redrawn = {_explore({"v": "zzz"}, {"v": items}, seed=s)["v"] for s in range(40)}
    assert redrawn == set(items)


def test_explore_resamples_with_the_given_probability() -> None:
    domain = rung.uniform(0, 1)
    rng = np.random.default_rng(5)
    rng.random()  # the draw that decides to resample, then the domain's own draw
    assert _explore({"v": 0.5}, {"v": domain}, p=1.0, seed=5) == {"v": domain.sample(rng)}
    assert _explore({"v": 0.5, "w": "x"}, {"v": lambda: 7, "w": lambda: "y"}, p=1.0) == {"v": 7, "w": "y"}
    # Callables: numbers are scaled (ints stay ints), anything else is redrawn by calling them.
    assert _explore({"v": 10, "w": "x"}, {"v": lambda: 7, "w": lambda: "y"}, p=0.0) == {"v": 12, "w": "y"}
    assert _explore({"v": 2}, {"v": lambda: 7}, factors=(0.8,)) == {"v": 1}  # 1.6 would round back to 2
    share = np.mean([_explore({"v": "a"}, {"v": ["a", "b"]}, p=0.25, seed=s)["v"] == "b" for s in range(2000)])
    # Never resampled: always "b"; resampled (p=0.25): "a" or "b" at even odds, so "a" 12.5% of the time.
    assert 0.84 < share < 0.91


def test_explore_nested_and_untouched_input() -> None:
    config = {"model": {"lr": 0.5, "act": "relu", "width": 8}, "epochs": 3}
    new = _explore(config, {"model": {"lr": rung.uniform(0, 1), "act": ["relu", "tanh"]}})
    assert new == {"model": {"lr": 0.6, "act": "tanh", "width": 8}, "epochs": 3}
    assert config == {"model": {"lr": 0.5, "act": "relu", "width": 8}, "epochs": 3}


# Unit tests: exploit decisions on a stream of results, without a tuner.


def _pbt(**kwargs: Any) -> PBT:
    settings: dict[str, Any] = {
        "perturbation_interval": 2,
        "hyperparam_mutations": {"lr": rung.uniform(0, 1), "opt": ["a", "b", "c"]},
        "resample_probability": 0.0,
        "perturbation_factors": (2.0,),
    }
    settings.update(kwargs)
    mode = settings.pop("mode", "max")
    pbt = PBT(**settings)
    pbt.setup(metric="score", mode=mode, seed=0)
    return pbt


def _population(pbt: PBT, n: int) -> list[TrialInfo]:
    trials = [TrialInfo(id=i, config={"lr": i / 10, "opt": "a"}, status=Status.RUNNING) for i in range(1, n + 1)]
    for trial in trials:
        pbt.on_trial_add(trial)
    return trials


def _result(iteration: int, score: float) -> dict[str, Any]:
    return {"score": score, "training_iteration": iteration}


def test_async_bottom_trial_exploits_a_top_trial() -> None:
    pbt = _pbt()
    t1, t2, t3, t4 = _population(pbt, 4)
    for trial in (t1, t2, t3, t4):
        assert pbt.on_result(trial, _result(1, trial.id)) is Decision.CONTINUE
    # Trial 1 is the worst at its point: with 4 trials each quantile holds 1, so its donor is trial 4.
    assert pbt.on_result(t1, _result(2, 1.5)) == Pause(copy_weights_from=4)
    # Trial 4's config, explored: lr 0.4 doubled, opt "a" to its only neighbour. An exploit goes
    # before new trials, so that the donor's checkpoint is copied right after the decision.
    t4.config["lr"] = 0.4
    assert pbt.next_trial(new_allowed=True, paused=[t1]) == Resume(1, config={"lr": 0.8, "opt": "b"}, from_trial=4)
    # While new trials may start, a trial outside the bottom quantile pauses at its point (its turn
    # ends) and resumes as it was.
    assert pbt.on_result(t3, _result(2, 3.5)) is Decision.PAUSE
    assert pbt.next_trial(new_allowed=True, paused=[t3]) == Start()
    t3.status = Status.PAUSED
    assert pbt.next_trial(new_allowed=False, paused=[t3]) == Resume(3)
    t3.status = Status.RUNNING
    assert pbt.on_result(t3, _result(3, 3.6)) is Decision.CONTINUE
    # Once no new trial can start, it runs on at its point unless another trial waits for a slot.
    assert pbt.on_result(t3, _result(4, 3.7)) is Decision.CONTINUE
    t2.status = Status.PAUSED
    assert pbt.on_result(t3, _result(6, 3.8)) is Decision.PAUSE


def test_async_exploit_takes_the_donor_config_at_the_decision() -> None:
    # The donor's config is read when the bottom trial reaches its point, not when it resumes: by
    # then the donor may have been exploited itself (or trained on; the tuner copies its checkpoint
    # at the resume, which now follows the decision at once).
    pbt = _pbt()
    t1, t2, t3, t4 = _population(pbt, 4)
    for trial in (t1, t2, t3, t4):
        pbt.on_result(trial, _result(1, trial.id))
    assert pbt.on_result(t1, _result(2, 0.5)) == Pause(copy_weights_from=4)
    t4.config = {"lr": 0.9, "opt": "c"}  # changes after the decision
    assert pbt.next_trial(new_allowed=False, paused=[t1]) == Resume(1, config={"lr": 0.8, "opt": "b"}, from_trial=4)


def test_async_names_the_donor_at_the_pause_and_never_a_diverged_one() -> None:
    pbt = _pbt()
    t1, t2, t3, t4 = _population(pbt, 4)
    for trial in (t1, t2, t3, t4):
        pbt.on_result(trial, _result(1, trial.id))
    assert pbt.on_result(t1, _result(2, 0.5)) == Pause(copy_weights_from=4)
    # The pause names the donor, whose checkpoint the tuner copies at once; a trial that only takes
    # its turn names none. The exploit stands even if the donor then fails.
    assert pbt.on_result(t2, _result(2, 2)) is Decision.PAUSE  # its turn ends, for trial 1 waits
    pbt.on_complete(t4, Status.ERROR)
    assert pbt.next_trial(new_allowed=False, paused=[t1]) == Resume(1, config={"lr": 0.8, "opt": "b"}, from_trial=4)
    # With every other score NaN, there is no donor: the bottom trial is not sent to copy NaN weights.
    pbt = _pbt()
    trials = _population(pbt, 3)
    for trial in trials:
        pbt.on_result(trial, _result(1, math.nan))
    pbt.on_result(trials[0], _result(2, math.nan))
    assert pbt.next_trial(new_allowed=False, paused=[trials[0]]) == Resume(1)


def test_async_min_mode_and_nan_rank_last() -> None:
    pbt = _pbt(mode="min")
    t1, t2, t3, t4 = _population(pbt, 4)
    for trial, loss in zip((t1, t2, t3, t4), (0.1, 0.2, math.nan, 0.05), strict=True):
        pbt.on_result(trial, _result(1, loss))
    # Trial 3's NaN ranks below every finite loss; trial 4 has the lowest loss.
    assert pbt.on_result(t3, _result(2, math.nan)) == Pause(copy_weights_from=4)
    assert pbt.next_trial(new_allowed=False, paused=[t3]) == Resume(3, config={"lr": 0.8, "opt": "b"}, from_trial=4)
    # A trial that is not last keeps its weights (and, with nobody waiting for a slot, runs on).
    assert pbt.on_result(t1, _result(2, 0.1)) is Decision.CONTINUE


def test_perturbation_points_and_burn_in() -> None:
    pbt = _pbt(perturbation_interval=2, burn_in_period=5)
    (t1,) = _population(pbt, 1)
    decisions = [pbt.on_result(t1, _result(i, i)) for i in range(1, 10)]
    paused_at = [i for i, d in zip(range(1, 10), decisions, strict=True) if d is Decision.PAUSE]
    assert paused_at == [5, 7, 9]


def test_paused_trials_take_turns_furthest_behind_first() -> None:
    pbt = _pbt(perturbation_interval=1)
    t1, t2, t3 = _population(pbt, 3)
    for trial, iterations in ((t1, 3), (t2, 1), (t3, 1)):
        for i in range(1, iterations + 1):
            pbt.on_result(trial, _result(i, 10.0 * trial.id))  # trial 1 is the worst but ahead
    assert pbt.next_trial(new_allowed=False, paused=[t1, t3, t2]) == Resume(2)
    assert pbt.next_trial(new_allowed=False, paused=[t1, t3]) == Resume(3)
    assert pbt.next_trial(new_allowed=False, paused=[]) is None


@pytest.mark.parametrize(
    ("n", "fraction", "size"), [(1, 0.25, 0), (2, 0.25, 1), (3, 0.5, 1), (4, 0.25, 1), (10, 0.3, 3)]
)
def test_quantile_sizes(n: int, fraction: float, size: int) -> None:
    pbt = _pbt(quantile_fraction=fraction)
    bottom, top = pbt._quantiles({i: float(i) for i in range(1, n + 1)})
    assert bottom == list(range(1, size + 1)) and top == list(range(n - size + 1, n + 1))


def test_synch_waits_for_the_whole_population() -> None:
    pbt = _pbt(synch=True)
    t1, t2, t3 = _population(pbt, 3)
    for trial in (t1, t2, t3):
        assert pbt.on_result(trial, _result(1, trial.id)) is Decision.CONTINUE
    assert pbt.on_result(t1, _result(2, 1)) is Decision.PAUSE
    assert pbt.next_trial(new_allowed=False, paused=[t1]) is None  # trials 2 and 3 are not there yet
    assert pbt.on_result(t2, _result(2, 2)) is Decision.PAUSE
    assert pbt.on_result(t3, _result(2, 3)) is Decision.PAUSE
    assert pbt.next_trial(new_allowed=True, paused=[t1, t2, t3]) == Start()  # the population first
    handed = [pbt.next_trial(new_allowed=False, paused=[t1, t2, t3]) for _ in range(3)]
    assert handed == [Resume(1, config={"lr": 0.6, "opt": "b"}, from_trial=3), Resume(2), Resume(3)]
    assert pbt.next_trial(new_allowed=False, paused=[]) is None
    # The next barrier is at 4.
    assert pbt.on_result(t2, _result(3, 2)) is Decision.CONTINUE
    assert pbt.on_result(t2, _result(4, 2)) is Decision.PAUSE


def test_synch_donors_wait_for_their_clones() -> None:
    pbt = _pbt(synch=True)
    t1, t2, t3 = _population(pbt, 3)
    for trial in (t1, t2, t3):
        assert pbt.on_result(trial, _result(2, trial.id)) is Decision.PAUSE
    # Trial 1 (to copy trial 3) has answered PAUSE but has not given its slot back yet.
    assert pbt.next_trial(new_allowed=False, paused=[t2, t3]) == Resume(2)
    assert pbt.next_trial(new_allowed=False, paused=[t3]) is None  # trial 3's checkpoint must stay as it is
    assert pbt.next_trial(new_allowed=False, paused=[t1, t3]) == Resume(1, config={"lr": 0.6, "opt": "b"}, from_trial=3)
    assert pbt.next_trial(new_allowed=False, paused=[t3]) == Resume(3)


def test_synch_a_failed_trial_does_not_stall_the_barrier() -> None:
    pbt = _pbt(synch=True)
    t1, t2, t3 = _population(pbt, 3)
    assert pbt.on_result(t1, _result(2, 1)) is Decision.PAUSE
    assert pbt.on_result(t2, _result(2, 2)) is Decision.PAUSE
    assert pbt.next_trial(new_allowed=False, paused=[t1, t2]) is None
    pbt.on_complete(t3, Status.ERROR)
    assert pbt.next_trial(new_allowed=False, paused=[t1, t2]) == Resume(1, config={"lr": 0.4, "opt": "b"}, from_trial=2)
    assert pbt.next_trial(new_allowed=False, paused=[t2]) == Resume(2)


def _stream(pbt: PBT, trials: list[TrialInfo], upto: int) -> list[Decision]:
    scores = {1: [1, 5, 2, 8], 2: [2, 1, 9, 3], 3: [3, 3, 3, 3], 4: [4, 2, 1, 7]}
    out = []
    for i in range(1, upto + 1):
        for trial in trials:
            out.append(pbt.on_result(trial, _result(i, scores[trial.id][(i - 1) % 4] + i)))
    return out


def _hand_out(pbt: PBT, trials: list[TrialInfo], skip: set[int] | None = None) -> list[Any]:
    """Every suggestion until there is none, each suggested trial leaving the paused ones."""
    paused = [t for t in trials if t.id not in (skip or set())]
    out = []
    while (suggestion := pbt.next_trial(new_allowed=False, paused=paused)) is not None:
        out.append(suggestion)
        paused = [t for t in paused if t.id != suggestion.trial_id]  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("synch", [False, True])
def test_same_seed_same_decisions_and_replay_rebuilds_them(synch: bool) -> None:
    kwargs = {"synch": synch, "resample_probability": 0.5, "perturbation_factors": (1.2, 0.8)}
    a, b, c = _pbt(**kwargs), _pbt(**kwargs), _pbt(**kwargs, seed=1)
    ta, tb, tc = _population(a, 4), _population(b, 4), _population(c, 4)
    assert _stream(a, ta, 2) == _stream(b, tb, 2) == _stream(c, tc, 2)
    handed = _hand_out(a, ta)
    assert [type(s) for s in handed] == [Resume] * 4 and any(s.from_trial for s in handed)
    assert handed == _hand_out(b, tb)
    assert handed != _hand_out(c, tc)  # another seed explores elsewhere
    # The driver dies after handing out the first suggestion. A fresh PBT replays the results (the
    # tuner ignores its decisions then); the trial that was running restarts first and reports; then
    # the PBT must hand out what was still to come.
    replayed = _pbt(**kwargs)
    tr = _population(replayed, 4)
    _stream(replayed, tr, 2)
    restarted = tr[handed[0].trial_id - 1]
    restarted.config = handed[0].config or restarted.config
    assert replayed.on_result(restarted, _result(3, 0.0)) is Decision.CONTINUE
    assert _hand_out(replayed, tr, skip={restarted.id}) == handed[1:]


# End to end (thread executor).

MOVED = threading.Event()
CRASHED: set[int] = set()


def lineage(config: dict[str, Any]) -> None:
    """Weights are the list of x values of every step, with the trial they started in.

    The padding makes each checkpoint a file (small ones live in the database).
    """
    me = rung.get_trial_id()
    checkpoint = rung.get_checkpoint() or {"w": [], "owner": me, "pad": bytes(INLINE_MAX)}
    if checkpoint["owner"] != me and me not in CRASHED:
        # Restored a copy of another trial's weights. Once that trial has saved newer ones, delete
        # the file the copy came from, and crash: the retry must restore from the copy alone.
        assert MOVED.wait(30), "the donor never moved on"
        donor = Path(config["dir"]) / "trials" / f"{checkpoint['owner']:06d}"
        for source in donor.glob(f"checkpoint-{len(checkpoint['w']):06d}-*.pkl"):  # iteration, then the store's seq
            source.unlink(missing_ok=True)
            assert not source.exists()
        CRASHED.add(me)
        raise RuntimeError("crashed right after restoring the copy")
    w = checkpoint["w"]
    for _ in range(len(w), 5):
        w = [*w, config["x"]]
        rung.report(
            {"score": sum(w), "x": config["x"], "owner": checkpoint["owner"]}, checkpoint={**checkpoint, "w": w}
        )
        if me == 1 and len(w) == 3:
            MOVED.set()


def _config_at(entries: list[ScheduleEntry], iteration: int) -> ScheduleEntry:
    return [e for e in entries if e.iteration < iteration][-1]


def test_clone_continues_from_donor_weights_and_outlives_its_files(storage: Path) -> None:
    MOVED.clear()
    CRASHED.clear()
    pbt = PBT(2, {"x": rung.uniform(0, 100)}, resample_probability=0.0, perturbation_factors=(2.0,), synch=True)
    result = rung.run(
        lineage,
        {"x": rung.grid([10.0, 1.0]), "dir": str(storage / "clone")},
        metric="score",
        mode="max",
        scheduler=pbt,
        max_concurrent=2,
        max_failures=1,
        executor="thread",
        name="clone",
        storage=storage,
        verbose=0,
    )
    donor, clone = result.trials
    assert {2} == CRASHED and clone.num_failures == 1 and clone.status is Status.TERMINATED
    # At the barrier at 2 the clone (x=1) took the donor's weights [10, 10] and x=20, and kept them
    # through a crash after the donor's file was gone; at 4 the donor (now worse) took the clone's.
    assert (clone.checkpoint["w"], clone.checkpoint["owner"]) == ([10.0, 10.0, 20.0, 20.0, 20.0], 1)
    assert (donor.checkpoint["w"], donor.checkpoint["owner"]) == ([10.0, 10.0, 20.0, 20.0, 40.0], 1)
    assert [r["owner"] for r in result.history(2)] == [2, 2, 1, 1, 1]
    assert [r["training_iteration"] for r in result.history(2)] == [1, 2, 3, 4, 5]  # its own count goes on
    assert clone.checkpoint_path is not None and clone.checkpoint_path.parent.name == "000002"
    # Each trial's schedule says which config ran from which iteration, and from whose weights.
    clone_schedule, donor_schedule = result.schedule(2), result.schedule(1)
    assert clone_schedule[1:] == [ScheduleEntry(2, {"x": 20.0, "dir": str(storage / "clone")}, from_trial=1)]
    assert donor_schedule[1:] == [ScheduleEntry(4, {"x": 40.0, "dir": str(storage / "clone")}, from_trial=2)]
    for trial_id, entries in ((1, donor_schedule), (2, clone_schedule)):
        for r in result.history(trial_id)[entries[1].iteration :]:
            assert _config_at(entries, r["training_iteration"]).config["x"] == r["x"]  # type: ignore[index]


def test_schedule_starts_with_the_first_config(storage: Path) -> None:
    MOVED.clear()
    CRASHED.clear()
    space = {"x": rung.grid([10.0, 1.0]), "dir": str(storage / "clone")}
    pbt = PBT(2, {"x": rung.uniform(0, 100)}, resample_probability=0.0, perturbation_factors=(2.0,), synch=True)
    result = rung.run(lineage, space, metric="score", mode="max", scheduler=pbt, max_concurrent=2, max_failures=1,
                      executor="thread", name="clone", storage=storage, verbose=0)  # fmt: skip
    assert result.schedule(2)[0] == ScheduleEntry(0, {"x": 1.0, "dir": str(storage / "clone")})


def steps(config: dict[str, Any]) -> None:
    checkpoint = rung.get_checkpoint() or {"w": 0.0, "step": 0}
    w = checkpoint["w"]
    for step in range(checkpoint["step"], config.get("n", 9)):
        w += config["lr"]
        rung.report({"score": w, "lr": config["lr"]}, checkpoint={"w": w, "step": step + 1})


def _results(storage: Path, name: str) -> list[tuple[int, int]]:
    store = Store.read(storage, name)
    try:
        return [(t, r["training_iteration"]) for kind, t, r in store.history() if kind == "result"]
    finally:
        store.close()


def _run_steps(storage: Path, name: str, pbt: PBT, **kwargs: Any) -> rung.ExperimentResult:
    settings: dict[str, Any] = {"num_samples": 4, "max_concurrent": 2, "seed": 3}
    settings.update(kwargs)
    settings.setdefault("executor", "thread")
    return rung.run(
        steps,
        {"lr": rung.uniform(0, 1)},
        metric="score",
        mode="max",
        scheduler=pbt,
        name=name,
        storage=storage,
        verbose=0,
        **settings,
    )


def test_synch_end_to_end_barriers_and_determinism(storage: Path) -> None:
    runs = [_run_steps(storage, name, PBT(3, {"lr": rung.uniform(0, 1)}, synch=True)) for name in ("s1", "s2")]
    order = _results(storage, "s1")
    for barrier in (3, 6):
        reached = max(order.index((t, barrier)) for t in range(1, 5))
        beyond = min(i for i, (_, it) in enumerate(order) if it > barrier)
        assert reached < beyond, f"a trial went past {barrier} before all reached it: {order}"
    one, two = runs
    assert all(t.status is Status.TERMINATED and t.iteration == 9 for t in one.trials)
    # Barrier decisions do not depend on thread timing: a second run decides the same.
    assert [one.schedule(t.id) for t in one.trials] == [two.schedule(t.id) for t in two.trials]
    # One exploit at each of 3 and 6; the one at 9, the last step, made no result and is undone.
    assert sum(len(one.schedule(t.id)) - 1 for t in one.trials) == 2
    assert [t.checkpoint for t in one.trials] == [t.checkpoint for t in two.trials]


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_population_larger_than_slots_takes_turns(storage: Path, executor: str) -> None:
    result = _run_steps(storage, "turns", PBT(3, {"lr": rung.uniform(0, 1)}), num_samples=6, executor=executor)
    # Replay the stored history: an exploiting trial resumes as soon as it has paused (its donor's
    # checkpoint is copied then); otherwise new trials start before any paused one resumes, and a
    # paused trial resumes only when no other paused trial is behind it.
    store = Store.read(storage, "turns")
    status: dict[int, Status] = {}
    iteration: dict[int, int] = {}
    resumes = exploits = 0
    for kind, trial_id, data in store.history():
        if kind == "result":
            iteration[trial_id] = data["training_iteration"]
            continue
        if data[0] is Status.RUNNING and "from_trial" in data[1]:
            exploits += 1
            assert status.get(trial_id) is Status.PAUSED
        elif data[0] is Status.RUNNING and status.get(trial_id) is Status.PAUSED:
            resumes += 1
            assert len(status) == 6, "a paused trial resumed before the whole population had started"
            behind = [o for o, s in status.items() if s is Status.PAUSED and iteration[o] < iteration[trial_id]]
            assert not behind, f"trial {trial_id} resumed at {iteration[trial_id]} while {behind} waited behind it"
        status[trial_id] = data[0]
    store.close()
    assert resumes >= 6 and exploits >= 1  # each of the 6 paused at 3 at least
    assert all(t.status is Status.TERMINATED for t in result.trials)
    assert any(len(result.schedule(t.id)) > 1 for t in result.trials)
    for trial in result.trials:  # each trial's own iteration count goes on through pauses and clones
        iterations = [r["training_iteration"] for r in result.history(trial.id)]
        assert iterations == list(range(1, len(iterations) + 1))


def test_async_one_slot_is_deterministic(storage: Path) -> None:
    def go(name: str, seed: int | None) -> rung.ExperimentResult:
        pbt = PBT(2, {"lr": rung.uniform(0, 1)}, resample_probability=0.5, seed=seed)
        return _run_steps(storage, name, pbt, max_concurrent=1, seed=3)

    a, b, c = go("a", None), go("b", None), go("c", 4)
    assert [t.config for t in a.trials] != [t.config for t in c.trials]  # PBT's own seed changes its choices
    assert [a.schedule(t.id) for t in a.trials] == [b.schedule(t.id) for t in b.trials]
    assert sum(len(a.schedule(t.id)) - 1 for t in a.trials) >= 2
    scores = [[r["score"] for r in run.history(t.id)] for run in (a, b) for t in run.trials]
    assert scores[:4] == scores[4:]


def no_checkpoint(config: dict[str, Any]) -> None:
    for i in range(4):
        rung.report({"score": config["lr"] * i})


def test_objective_without_checkpoints_warns_once(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rung")
    rung.run(
        no_checkpoint,
        {"lr": rung.uniform(0, 1)},
        metric="score",
        mode="max",
        num_samples=2,
        scheduler=PBT(2, {"lr": rung.uniform(0, 1)}),
        executor="thread",
        storage=storage,
        verbose=0,
    )
    pbt_warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("PBT")]
    assert len(pbt_warnings) == 1
    assert re.fullmatch(
        r"PBT paused trial \d at iteration 2, but it came back at iteration 1: it had no checkpoint from then, so"
        r" its training is redone and any weights PBT copied into it are lost \(and so for others like it\)\. PBT"
        r" pauses trials and copies weights through checkpoints: pass checkpoint= to rung\.report\(\) at least every"
        r" perturbation_interval",
        pbt_warnings[0],
    )


# Resume after SIGKILL: the decisions after the crash equal those of an uninterrupted run.

KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import rung
    from rung.schedulers.pbt import PBT

    storage, synch, kill = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"

    def train(config):
        checkpoint = rung.get_checkpoint() or {"w": 0.0, "step": 0}
        w = checkpoint["w"]
        for step in range(checkpoint["step"], 8):
            w += config["lr"]
            rung.report({"score": w}, checkpoint={"w": w, "step": step + 1})
            if kill and rung.get_trial_id() == 3 and step + 1 == 5:
                os.kill(os.getpid(), signal.SIGKILL)

    pbt = PBT(2, {"lr": rung.uniform(0, 1)}, synch=synch, resample_probability=0.5)
    rung.run(train, {"lr": rung.uniform(0, 1)}, metric="score", mode="max", num_samples=4,
             max_concurrent=2 if synch else 1, scheduler=pbt, executor="thread", name="k", storage=storage,
             resume=True, seed=5, verbose=0)
    """
)


@pytest.mark.parametrize("synch", [True, False])
def test_resume_after_sigkill_decides_as_an_uninterrupted_run(tmp_path: Path, synch: bool) -> None:
    script = tmp_path / "driver.py"
    script.write_text(KILL_SCRIPT)

    def run(storage: Path, kill: bool) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(script), str(storage), "1" if synch else "0", "1" if kill else "0"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    crashed = run(tmp_path / "crashed", kill=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    with sqlite3.connect(tmp_path / "crashed" / "k" / "rung.db") as conn:
        before = conn.execute("SELECT COUNT(*) FROM events WHERE data LIKE '%from_trial%'").fetchone()[0]
    assert before >= 1  # at least one exploit happened before the crash
    assert run(tmp_path / "crashed", kill=False).returncode == 0
    assert run(tmp_path / "clean", kill=False).returncode == 0
    resumed = rung.load("k", tmp_path / "crashed", trusted=True)
    clean = rung.load("k", tmp_path / "clean", trusted=True)
    assert resumed.status == clean.status == "FINISHED"
    assert [resumed.schedule(t.id) for t in resumed.trials] == [clean.schedule(t.id) for t in clean.trials]
    assert [t.checkpoint for t in resumed.trials] == [t.checkpoint for t in clean.trials]


# Bad input.


BAD_ARGUMENTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"perturbation_interval": 0},
        ValueError,
        "perturbation_interval to be a finite number > 0; got perturbation_interval=0",
    ),
    ({"quantile_fraction": 0.6}, ValueError, "quantile_fraction to be a number in (0, 0.5]; got quantile_fraction=0.6"),
    ({"quantile_fraction": 0}, ValueError, "quantile_fraction to be a number in (0, 0.5]; got quantile_fraction=0"),
    (
        {"resample_probability": 1.5},
        ValueError,
        "resample_probability to be a number in [0, 1]; got resample_probability=1.5",
    ),
    (
        {"perturbation_factors": ()},
        ValueError,
        "perturbation_factors to be a non-empty list of finite numbers > 0; got perturbation_factors=()",
    ),
    (
        {"perturbation_factors": (1.2, -1)},
        ValueError,
        "perturbation_factors to be a non-empty list of finite numbers > 0; got perturbation_factors=(1.2, -1)",
    ),
    ({"burn_in_period": -1}, ValueError, "burn_in_period to be a finite number >= 0; got burn_in_period=-1"),
    ({"synch": "yes"}, TypeError, "synch to be True or False; got synch='yes'"),
    (
        {"custom_explore": 3},
        TypeError,
        "custom_explore to be None or a callable(config) -> config; got custom_explore=3",
    ),
    ({"custom_explore": lambda: {}}, TypeError, "custom_explore to accept (config) or (config, rng); got a callable()"),
    ({"time_attr": None}, TypeError, "time_attr to be the name of a reported key; got time_attr=None"),
    ({"seed": 1.5}, TypeError, "seed to be an integer or None; got seed=1.5"),
    ({"hyperparam_mutations": [1]}, TypeError, "hyperparam_mutations to be a dict of {key: mutation}; got [1]"),
    (
        {"hyperparam_mutations": {}},
        ValueError,
        "hyperparam_mutations or custom_explore to say what to explore;"
        " got hyperparam_mutations={} and custom_explore=None",
    ),
    (
        {"hyperparam_mutations": {"lr": 0.1}},
        TypeError,
        "hyperparam_mutations['lr'] to be a list of values, a rung domain, a callable or a dict; got 0.1",
    ),
    (
        {"hyperparam_mutations": {"m": {"opt": []}}},
        ValueError,
        "hyperparam_mutations['m']['opt'] to list at least one value; got []",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    settings: dict[str, Any] = {"perturbation_interval": 2, "hyperparam_mutations": {"lr": rung.uniform(0, 1)}}
    with pytest.raises(error, match=f"^{re.escape('PBT needs ' + message)}$"):
        PBT(**{**settings, **kwargs})
    with pytest.raises(
        ValueError, match=r"^PBT cannot use sample_from as a mutation \(it has no distribution\); got it at"
    ):
        PBT(2, {"wd": rung.sample_from(lambda c: 1)})


def test_bad_input_found_in_the_run(storage: Path) -> None:
    pbt = PBT(2, {"lr": rung.uniform(0, 1)})
    common: dict[str, Any] = {"executor": "thread", "storage": storage, "verbose": 0}
    space = {"lr": rung.uniform(0, 1), "model": {"width": 8}}
    message = "PBT needs a metric to rank trials; got metric=None (pass metric= to rung.run)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rung.run(steps, space, scheduler=pbt, **common)
    missing = PBT(2, {"lr": rung.uniform(0, 1), "model": {"depth": [1, 2]}})
    message = (
        "PBT hyperparam_mutations has 'model.depth', which is not in the search space;"
        " trial 1's config has: lr, model.width"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rung.run(steps, space, metric="score", scheduler=missing, name="missing", **common)
    epochs = PBT(2, {"lr": rung.uniform(0, 1)}, time_attr="epoch")
    message = (
        "PBT needs time_attr='epoch' in every result (a reported key that increases); trial 1 reported:"
        " lr, score, time_this_iter_s, time_total_s, timestamp, training_iteration"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rung.run(steps, space, metric="score", scheduler=epochs, name="epoch", **common)
    message = (
        "scheduler='pbt' needs settings: pass scheduler=rung.PBT(perturbation_interval=..., hyperparam_mutations={...})"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rung.run(steps, space, metric="score", scheduler="pbt", name="byname", **common)
    numeric = PBT(2, {"model": {"width": rung.randint(1, 4)}, "lr": rung.uniform(0, 1)})
    message = (
        "PBT hyperparam_mutations['model.width'] is a numeric domain, but trial 1's config has"
        " model.width='wide', not a number; give a list of its values or rung.choice([...]) instead"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        wide = {**space, "model": {"width": "wide"}}
        rung.run(steps, wide, metric="score", scheduler=numeric, name="numeric", **common)
    returns_none = PBT(1, {}, custom_explore=lambda config: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match=r"^PBT custom_explore must return the new config \(a dict\); got None$"):
        rung.run(
            steps, space, metric="score", num_samples=2, max_concurrent=1, scheduler=returns_none, name="none", **common
        )  # one slot: the trials take turns, so one is exploited whatever the timing


def test_schedule_bad_input(storage: Path) -> None:
    result = _run_steps(storage, "s", PBT(3, {"lr": rung.uniform(0, 1)}), num_samples=1)
    assert result.schedule(1) == [ScheduleEntry(0, result.trials[0].config, None)]
    with pytest.raises(ValueError, match=r"^schedule: no trial 7 in experiment 's'; its trials: 1\.\.1$"):
        result.schedule(7)
    with pytest.raises(ValueError, match=r"^history: no trial 7 in experiment 's'; its trials: 1\.\.1$"):
        result.history(7)


# The toy experiment of the PBT paper (Jaderberg et al. 2017, Fig. 2); settings in examples/pbt_toy.py.


def _toy() -> Any:
    path = Path(__file__).resolve().parents[1] / "examples" / "pbt_toy.py"
    spec = importlib.util.spec_from_file_location("pbt_toy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pbt_toy"] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def test_paper_toy_experiment(storage: Path) -> None:
    toy = _toy()
    common: dict[str, Any] = {"metric": "Q", "mode": "max", "executor": "thread", "storage": storage, "verbose": 0}
    with_pbt = rung.run(toy.member, toy.SPACE, scheduler=toy.pbt(), name="pbt", seed=0, **common)
    without = rung.run(toy.member, toy.SPACE, name="fifo", seed=0, **common)
    assert [t.config["h"] for t in without.trials] == [[1.0, 0.0], [0.0, 1.0]]
    assert all(len(with_pbt.history(t.id)) == toy.STEPS for t in with_pbt.trials)
    assert toy.best_q(with_pbt) > 1.18
    assert toy.best_q(without) < 0.39


@pytest.mark.parametrize("synch", [False, True])
def test_stop_ends_a_trial_the_scheduler_would_pause_there(storage: Path, synch: bool) -> None:
    # Perturbations at 3 and 6, stop at 6: no trial goes on from another's weights past the stop.
    pbt = PBT(3, {"lr": rung.uniform(0, 1)}, synch=synch)
    result = _run_steps(storage, "stop", pbt, stop={"training_iteration": 6})
    assert [(t.status, t.iteration) for t in result.trials] == [(Status.TERMINATED, 6)] * 4
    assert all(max(r["training_iteration"] for r in result.history(t.id)) == 6 for t in result.trials)


def test_stop_ends_a_trial_successive_halving_would_pause(storage: Path) -> None:
    result = rung.run(
        steps, {"lr": rung.grid([0.1 * k for k in range(1, 10)]), "n": 27}, metric="score", mode="max",
        scheduler=rung.SuccessiveHalving(min_t=1, max_t=27, reduction_factor=2), stop={"training_iteration": 3},
        max_concurrent=4, executor="thread", name="sh", storage=storage, verbose=0,
    )  # fmt: skip
    assert max(t.iteration for t in result.trials) == 3


class _CopyAtPause(rung.Scheduler):
    """Pauses trial 2 at its second result to continue from trial 1's weights; resumes it only once
    trial 1 has ended (so trial 1 trains on after the decision)."""

    def __init__(self, paused: threading.Event) -> None:
        self.paused = paused
        self.donor_step_at_decision: int | None = None
        self.trials: dict[int, TrialInfo] = {}

    def on_trial_add(self, trial: TrialInfo) -> None:
        self.trials[trial.id] = trial

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        if trial.id == 2 and result["training_iteration"] == 2:
            self.donor_step_at_decision = self.trials[1].last_result["step"]
            self.paused.set()
            return Pause(copy_weights_from=1)
        return Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Any) -> Any:
        if new_allowed:
            return Start()
        if paused and self.trials[1].status.finished:
            return Resume(2, config={"x": 2}, from_trial=1)
        return None


def test_the_tuner_copies_the_donor_weights_when_the_trial_pauses(storage: Path) -> None:
    paused, holding = threading.Event(), threading.Event()

    def fn(config: dict[str, Any]) -> None:
        loaded = rung.get_checkpoint()
        step = loaded or 0
        while step < 20:
            step += 1
            if rung.get_trial_id() == 2 and step == 2:
                assert holding.wait(60)  # trial 2 reports its second step once trial 1 holds at step 3
            rung.report({"step": step, "loaded": loaded if loaded is not None else -1}, checkpoint=step)
            if rung.get_trial_id() == 1 and step == 3:
                holding.set()
                assert paused.wait(60)  # trial 1 holds at step 3 until trial 2 has paused
            loaded = None

    scheduler = _CopyAtPause(paused)
    result = rung.run(fn, {"x": rung.grid([1, 2])}, scheduler=scheduler, metric="step", mode="max", search="grid",
                      executor="thread", max_concurrent=2, name="copy", storage=storage, verbose=0)  # fmt: skip
    assert scheduler.donor_step_at_decision == 3
    first_after = result.history(2)[2]  # the first result after the resume
    assert first_after["loaded"] == 3 and first_after["step"] == 4  # trial 1's weights at the decision, not at 20
    assert [(e.iteration, e.from_trial) for e in result.schedule(2)] == [(0, None), (2, 1)]


class _ExploitAtTheEnd(rung.Scheduler):
    """Pauses trial 2 at its last step to continue from trial 1's (finished) weights with x=99."""

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        return Pause(copy_weights_from=1) if trial.id == 2 and result["training_iteration"] == 5 else Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Any) -> Any:
        if new_allowed:
            return Start()
        return Resume(2, config={"x": 99}, from_trial=1) if paused else None


def test_an_exploit_at_the_last_step_is_undone(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> None:
        step = (rung.get_checkpoint() or {"step": 0})["step"]
        while step < 5:  # the donor's weights are at step 5 too: nothing is left to train
            step += 1
            rung.report({"score": config["x"] * step}, checkpoint={"step": step, "who": rung.get_trial_id()})

    result = rung.run(fn, {"x": rung.grid([1, 2])}, scheduler=_ExploitAtTheEnd(), metric="score", mode="max",
                      search="grid", executor="thread", max_concurrent=1, name="end", storage=storage,
                      verbose=0)  # fmt: skip
    two = result.trials[1]
    # Its results were made with x=2 and its own weights: the config and checkpoint say so again.
    assert two.status is Status.TERMINATED and two.config == {"x": 2} and two.metrics["score"] == 10
    assert two.checkpoint == {"step": 5, "who": 2}
    assert [(e.iteration, e.config, e.from_trial) for e in result.schedule(2)] == [(0, {"x": 2}, None)]
    assert result.best.id == 2 and result.best_config == {"x": 2}
    from rung.store.views import experiment_view

    assert experiment_view(storage, "end")["schedules"] == {}  # no trial changed config, as far as results go
