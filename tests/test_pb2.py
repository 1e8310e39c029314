"""`rung.PB2`: GP-bandit explore, learning from improvements, determinism, replay, bad input, a toy."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.schedulers import SCHEDULERS
from rung.schedulers.pb2 import PB2
from rung.schedulers.pbt import PBT
from rung.testing.schedulers import SCHEDULER_CHECKS
from rung.types import Decision, Pause, Resume, TrialInfo

Rate = Callable[[dict[str, Any]], float]


class Sim:
    """The tuner's protocol, in memory: every trial runs to its next pause, then the hand-outs.

    A trial's "weights" are its score; it gains `rate(config)` per iteration; an exploit copies the
    donor's weights. Every call is logged so that a fresh scheduler can replay it as the tuner does.
    """

    def __init__(self, pb2: PB2, configs: list[dict[str, Any]], rate: Rate, seed: int = 0) -> None:
        self.pb2, self.rate = pb2, rate
        pb2.setup(metric="score", mode="max", seed=seed)
        self.trials = [TrialInfo(id=i + 1, config=c) for i, c in enumerate(configs)]
        self.weights = {t.id: 0.0 for t in self.trials}
        self.log: list[tuple[str, int, Any]] = []
        for trial in self.trials:
            self.log.append(("add", trial.id, copy.deepcopy(trial.config)))
            pb2.on_trial_add(trial)

    def run_to_pause(self) -> list[TrialInfo]:
        """Every trial trains one step at a time, in lockstep (as in parallel slots), until all pause."""
        running, paused = list(self.trials), []
        while running:
            for trial in list(running):
                trial.iteration += 1
                self.weights[trial.id] += self.rate(trial.config)
                result = {"training_iteration": trial.iteration, "score": self.weights[trial.id]}
                self.log.append(("result", trial.id, result))
                decision = self.pb2.on_result(trial, result)
                if decision is Decision.PAUSE or isinstance(decision, Pause):
                    running.remove(trial)
                    paused.append(trial)
        return paused

    def hand_out(self, paused: list[TrialInfo]) -> list[Any]:
        out = []
        while (suggestion := self.pb2.next_trial(new_allowed=False, paused=paused)) is not None:
            assert isinstance(suggestion, Resume)
            out.append(suggestion)
            trial = self.trials[suggestion.trial_id - 1]
            paused = [t for t in paused if t.id != trial.id]
            if suggestion.from_trial is not None:
                self.weights[trial.id] = self.weights[suggestion.from_trial]
            if suggestion.config is not None:
                trial.config = suggestion.config
                self.log.append(("config", trial.id, copy.deepcopy(trial.config)))
        return out

    def rounds(self, n: int) -> list[list[Any]]:
        return [self.hand_out(self.run_to_pause()) for _ in range(n)]


def replay(pb2: PB2, log: list[tuple[str, int, Any]], seed: int = 0) -> dict[int, TrialInfo]:
    """What the tuner does on resume: trial adds, results and config changes, in stored order."""
    pb2.setup(metric="score", mode="max", seed=seed)
    trials: dict[int, TrialInfo] = {}
    for kind, trial_id, data in log:
        if kind == "add":
            trials[trial_id] = TrialInfo(id=trial_id, config=copy.deepcopy(data))
            pb2.on_trial_add(trials[trial_id])
        elif kind == "result":
            trials[trial_id].iteration = data["training_iteration"]
            pb2.on_result(trials[trial_id], data)
        else:
            trials[trial_id].config = copy.deepcopy(data)
    return trials


H0 = [0.1, 0.4, 0.6, 0.9]


def _configs() -> list[dict[str, Any]]:
    ns, lrs = [12, 8, 16, 10], [0.05, 0.01, 0.02, 0.08]  # not in the order of h0
    return [
        {"h0": h, "n": n, "opt": {"lr": lr}, "tag": f"t{i + 1}"}
        for i, (h, n, lr) in enumerate(zip(H0, ns, lrs, strict=True))
    ]


def _pb2(**kwargs: Any) -> PB2:
    return PB2(2, {"h0": [0.0, 1.0], "n": [4, 16], "opt": {"lr": [1e-3, 1e-1]}}, **kwargs)


def faster_with_h0(config: dict[str, Any]) -> float:
    return float(config["h0"])


def test_explore_learns_which_values_improve_the_metric_fastest() -> None:
    sim = Sim(_pb2(), _configs(), faster_with_h0)
    rounds = sim.rounds(8)
    exploits = [s for handed in rounds for s in handed if s.from_trial is not None]
    # The first exploit has no data yet (its values are drawn at random); from the second on the GP
    # has seen improvement grow with h0.
    assert len(exploits) >= 4
    assert all(s.config["h0"] > 0.95 for s in exploits[1:])
    for s in exploits:
        donor = sim.trials[s.from_trial - 1]
        # The donor's other keys are copied; bounded ones are in bounds, ints stay ints.
        assert s.config["tag"] == donor.config["tag"]
        assert 0.0 <= s.config["h0"] <= 1.0 and 1e-3 <= s.config["opt"]["lr"] <= 1e-1
        assert type(s.config["n"]) is int and 4 <= s.config["n"] <= 16


def test_exploits_in_one_round_spread_out() -> None:
    # Eight trials; in some rounds two exploit: the first choice counts as running (observed at the
    # model's mean) for the second, which therefore looks elsewhere (here: along the irrelevant n).
    configs = [{"h0": h, "n": 8, "opt": {"lr": 0.05}, "tag": str(i)} for i, h in enumerate(np.linspace(0.1, 0.8, 8))]
    sim = Sim(_pb2(), configs, lambda c: c["h0"] * (1 - c["opt"]["lr"]))
    pairs = 0
    for i, handed in enumerate(sim.rounds(5)):
        exploits = [s.config for s in handed if s.from_trial is not None]
        chosen = [np.array([c["h0"], (c["n"] - 4) / 12, (c["opt"]["lr"] - 1e-3) / 0.099]) for c in exploits]
        if len(chosen) == 2:
            pairs += 1
            assert np.abs(chosen[0] - chosen[1]).max() > 0.25
        if i >= 3:  # once lr has varied in the data, what matters is learnt all the same
            assert all(c[0] > 0.95 and c[2] < 0.1 for c in chosen)
    assert pairs >= 2


def test_same_seed_same_decisions_other_seed_differs() -> None:
    def decisions(seed: int) -> list[list[Any]]:
        return Sim(_pb2(seed=seed), _configs(), faster_with_h0).rounds(4)

    assert decisions(1) == decisions(1)
    assert decisions(1) != decisions(2)
    # Without its own seed, PB2 takes the run's.
    assert Sim(_pb2(), _configs(), faster_with_h0, seed=1).rounds(4) == decisions(1)


def test_replay_rebuilds_the_state_that_decides() -> None:
    # The driver dies after a round's pauses, before its hand-outs (which include GP choices): a
    # fresh PB2 replays the stored events, then must hand out what the uninterrupted one does.
    sim = Sim(_pb2(), _configs(), faster_with_h0)
    sim.rounds(2)
    while True:
        paused = sim.run_to_pause()
        log = list(sim.log)
        expected = sim.hand_out(paused)
        if any(s.from_trial is not None for s in expected):
            break
    fresh = _pb2()
    trials = replay(fresh, log)
    handed = []
    waiting = [trials[t.id] for t in paused]
    while (suggestion := fresh.next_trial(new_allowed=False, paused=waiting)) is not None:
        assert isinstance(suggestion, Resume)
        handed.append(suggestion)
        waiting = [t for t in waiting if t.id != suggestion.trial_id]
        if suggestion.config is not None:
            trials[suggestion.trial_id].config = suggestion.config
    assert handed == expected


def test_nan_scores_do_not_break_it() -> None:
    def rate(config: dict[str, Any]) -> float:
        return float("nan") if config["h0"] > 0.95 else config["h0"]

    sim = Sim(_pb2(), _configs(), rate)
    rounds = sim.rounds(5)
    assert all(0.0 <= s.config["h0"] <= 1.0 for handed in rounds for s in handed if s.config)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, {"lr": [0, 1]}), "PB2 needs perturbation_interval to be a finite number > 0; got perturbation_interval=0"),
        ((2, {"lr": [0, 1]}, 0.6), "PB2 needs quantile_fraction to be a number in (0, 0.5]; got quantile_fraction=0.6"),
        ((2, {}), "PB2 needs hyperparam_bounds to be a non-empty dict of {key: [low, high]}; got {}"),
        ((2, [0, 1]), "PB2 needs hyperparam_bounds to be a non-empty dict of {key: [low, high]}; got [0, 1]"),
        (
            (2, {"lr": [0.1, 0.01]}),
            "PB2 needs hyperparam_bounds['lr'] to be [low, high] with low < high; got [0.1, 0.01]",
        ),
        ((2, {"lr": [1, 1]}), "PB2 needs hyperparam_bounds['lr'] to be [low, high] with low < high; got [1, 1]"),
        ((2, {"lr": [0.1]}), "PB2 needs hyperparam_bounds['lr'] to be [low, high], two finite numbers; got [0.1]"),
        (
            (2, {"lr": ["a", 1]}),
            "PB2 needs hyperparam_bounds['lr'] to be [low, high], two finite numbers; got ['a', 1]",
        ),
        (
            (2, {"opt": {"lr": (0, float("inf"))}}),
            "PB2 needs hyperparam_bounds['opt']['lr'] to be [low, high], two finite numbers; got (0, inf)",
        ),
        ((2, {"opt": {}}), "PB2 needs hyperparam_bounds['opt'] to be a non-empty dict of {key: [low, high]}; got {}"),
    ],
)
def test_bad_arguments(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        PB2(*args)


def test_keys_must_be_numbers_in_the_space(storage: Path) -> None:
    common: dict[str, Any] = {"metric": "Q", "executor": "thread", "storage": storage, "verbose": 0}
    space = {"h0": rung.uniform(0, 1), "opt": {"name": "sgd"}}
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(
            "PB2 hyperparam_bounds has 'opt.lr', which is not in the search space; trial 1's config has: h0, opt.name"
        )
        + "$",
    ):
        rung.run(member, space, scheduler=PB2(4, {"opt": {"lr": [0, 1]}}), name="a", **common)
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape("PB2 needs a number at hyperparam_bounds key 'opt.name'; trial 1 has opt.name='sgd'")
        + "$",
    ):
        rung.run(member, space, scheduler=PB2(4, {"opt": {"name": [0, 1]}}), name="b", **common)
    # Nothing ran: the check happens when the first trial is added, before it starts.
    assert not rung.load("b", storage=storage).history(1)
    with pytest.raises(ValueError, match=re.escape("scheduler='pb2' needs settings: pass scheduler=rung.PB2(")):
        SCHEDULERS["pb2"]()


# The toy: the PBT paper's (Jaderberg et al. 2017, Fig. 2) with h = (h0, h1) in [0, 1]^2 as the
# hyperparameters. theta starts at (0.9, 0.9); each step theta <- theta - 0.02 * 2 h theta; the
# reported Q = 1.2 - |theta|^2. Larger h shrinks theta faster: the best h is (1, 1), which reaches
# Q = 1.138 in 40 steps. Four members, interval 4 steps, one slot (so turns are deterministic).
TOY = {"h0": rung.uniform(0, 1), "h1": rung.uniform(0, 1)}


def member(config: dict[str, Any]) -> None:
    state = rung.get_checkpoint() or {"theta": [0.9, 0.9], "step": 0}
    theta = np.array(state["theta"])
    for step in range(state["step"], 40):
        theta = theta - 0.02 * 2 * np.array([config["h0"], config["h1"]]) * theta
        rung.report({"Q": 1.2 - float(np.sum(theta**2))}, checkpoint={"theta": theta.tolist(), "step": step + 1})


def _toy(scheduler: Any, name: str, seed: int, storage: Path) -> float:
    result = rung.run(
        member,
        TOY,
        metric="Q",
        mode="max",
        num_samples=4,
        scheduler=scheduler,
        executor="thread",
        max_concurrent=1,
        storage=storage,
        name=name,
        seed=seed,
        verbose=0,
    )
    # A trial that continues from a donor further ahead finishes the donor's 40 steps in fewer reports.
    return max(float(result.history(t.id)[-1]["Q"]) for t in result.trials)


def test_toy_pb2_beats_random_explore(storage: Path) -> None:
    # Random explore: PBT drawing the values afresh within the same bounds at every exploit.
    seeds = range(4)
    pb2 = [_toy(PB2(4, {"h0": [0, 1], "h1": [0, 1]}), f"pb2-{s}", s, storage) for s in seeds]
    random = [
        _toy(
            PBT(4, {"h0": rung.uniform(0, 1), "h1": rung.uniform(0, 1)}, resample_probability=1.0), f"r-{s}", s, storage
        )
        for s in seeds
    ]
    # Measured: PB2 1.117 against 1.051 on these seeds (1.107 against 1.058 over 8 seeds, PB2 ahead
    # or level on each); the best h, (1, 1) from the start, reaches 1.138.
    assert all(p >= r for p, r in zip(pb2, random, strict=True))
    assert np.mean(pb2) > np.mean(random) + 0.04
    # The same seed decides the same again, end to end.
    assert _toy(PB2(4, {"h0": [0, 1], "h1": [0, 1]}), "again", 0, storage) == pb2[0]


# The scheduler contract suite: its problem's space is {"x": uniform(0, 1), "n": 9, "fail": bool}.
def _contract_pb2() -> PB2:
    return PB2(3, {"x": [0.0, 1.0]})


@pytest.mark.parametrize("check", SCHEDULER_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_contract(check: Callable[..., None], executor: str, tmp_path: Path) -> None:
    check(_contract_pb2, executor, tmp_path)
