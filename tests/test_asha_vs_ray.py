"""rung's ASHA (variant="stop") against Ray Tune's AsyncHyperBandScheduler, decision for decision.

Both schedulers see the same stream of results: seeded random learning curves reported by an
asynchronous pool of trials (ties, NaN, missing metrics, jumps over milestones, float times, trials
that end early or fail), each trial continuing while both say CONTINUE. Ray's scheduler is the real
object; only its controller and Trial are stand-ins (it reads `trial.trial_id` and nothing else).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from rung.schedulers.asha import ASHA
from rung.types import Decision, Status, TrialInfo

ray_asha = pytest.importorskip("ray.tune.schedulers.async_hyperband")


@dataclass(frozen=True)
class Setting:
    max_t: float
    grace_period: float
    reduction_factor: float
    brackets: int
    mode: str
    time_attr: str
    values: str  # "ties": few distinct values; "normal": continuous


SETTINGS = [
    Setting(100, 1, 4, 1, "min", "training_iteration", "normal"),
    Setting(81, 1, 3, 1, "max", "training_iteration", "ties"),
    Setting(81, 1, 3, 3, "min", "epoch", "ties"),
    Setting(64, 2, 2, 4, "max", "epoch", "normal"),
    Setting(30, 1, 2.5, 2, "min", "time_total_s", "normal"),
    Setting(200, 5, 4, 2, "min", "time_total_s", "ties"),
]


class Stream:
    """Seeded trials: each reports an increasing time and a value until stopped, done or failed."""

    def __init__(self, setting: Setting, seed: int) -> None:
        self.setting = setting
        self.rng = np.random.default_rng(seed)

    def plan(self) -> dict[str, Any]:
        rng, s = self.rng, self.setting
        return {
            "length": int(rng.integers(1, 40)),
            "skips": rng.random() < 0.3,  # jumps over milestones
            "fails_at": int(rng.integers(1, 6)) if rng.random() < 0.1 else None,
            "level": float(rng.normal()),
            "time": 0.0 if s.time_attr == "time_total_s" else 0,
        }

    def next_result(self, plan: dict[str, Any], step: int) -> dict[str, Any]:
        rng, s = self.rng, self.setting
        if s.time_attr == "time_total_s":
            plan["time"] += float(rng.exponential(2.0))
        elif plan["skips"]:
            plan["time"] += int(rng.integers(1, 12))
        else:
            plan["time"] += 1
        if s.values == "ties":
            value: float = float(rng.integers(0, 5))
        else:
            value = plan["level"] + float(rng.normal()) / (1 + step)
        if rng.random() < 0.02:
            value = math.nan
        result: dict[str, Any] = {s.time_attr: plan["time"], "training_iteration": step}
        if rng.random() > 0.03:  # sometimes the metric is missing: both skip the decision
            result["loss"] = value
        return result


def _ray(setting: Setting) -> Any:
    return ray_asha.AsyncHyperBandScheduler(
        time_attr=setting.time_attr,
        metric="loss",
        mode=setting.mode,
        max_t=setting.max_t,
        grace_period=setting.grace_period,
        reduction_factor=setting.reduction_factor,
        brackets=setting.brackets,
    )


def _ours(setting: Setting, seed: int = 0) -> ASHA:
    ours = ASHA(
        max_t=setting.max_t,
        grace_period=setting.grace_period,
        reduction_factor=setting.reduction_factor,
        brackets=setting.brackets,
        time_attr=setting.time_attr,
    )
    ours.setup(metric="loss", mode=setting.mode, seed=seed)
    return ours


def _quiet(call: Any, *args: Any) -> Any:
    # Ray's numpy warns on a rung whose values are all NaN (ours answers the same without warning).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return call(*args)


def _drive(setting: Setting, seed: int, trials: int = 120, concurrency: int = 6) -> dict[str, int]:
    stream = Stream(setting, seed)
    ray, ours = _ray(setting), _ours(setting, seed)
    controller = SimpleNamespace()
    running: dict[int, tuple[TrialInfo, Any, dict[str, Any], int]] = {}
    counts = {"CONTINUE": 0, "STOP": 0, "ended": 0, "failed": 0}
    added = 0

    def end(trial_id: int, status: Status) -> None:
        info, ray_trial, _, _ = running.pop(trial_id)
        info.status = status
        ours.on_complete(info, status)
        if status is Status.ERROR:
            ray.on_trial_error(controller, ray_trial)
            counts["failed"] += 1
        else:
            _quiet(ray.on_trial_complete, controller, ray_trial, info.last_result)
            counts["ended"] += 1

    while added < trials or running:
        while added < trials and len(running) < concurrency:
            added += 1
            info = TrialInfo(id=added, config={})
            ray_trial = SimpleNamespace(trial_id=str(added))
            ours.on_trial_add(info)
            ray.on_trial_add(controller, ray_trial)
            # Ray draws the bracket from numpy's global generator; ours from its own, seeded one.
            # The decisions are compared for the same assignment (its law is checked below).
            ray._trial_info[ray_trial.trial_id] = ray._brackets[ours.bracket_of(added)]
            running[added] = (info, ray_trial, stream.plan(), 0)
        trial_id = int(stream.rng.choice(sorted(running)))
        info, ray_trial, plan, step = running[trial_id]
        step += 1
        running[trial_id] = (info, ray_trial, plan, step)
        if plan["fails_at"] == step:
            end(trial_id, Status.ERROR)
            continue
        result = stream.next_result(plan, step)
        info.last_result, info.iteration = result, step
        theirs = _quiet(ray.on_trial_result, controller, ray_trial, dict(result))
        mine = ours.on_result(info, result)
        # Ray's STOP at max_t is rung's COMPLETE (the trial ends TERMINATED, not stopped early).
        as_ray = Decision.STOP if mine is Decision.COMPLETE else mine
        assert as_ray is Decision(theirs), f"trial {trial_id} at {result}: rung says {mine}, Ray says {theirs}"
        counts[theirs] += 1
        if mine is Decision.STOP:
            end(trial_id, Status.STOPPED)
        elif mine is Decision.COMPLETE or step >= plan["length"]:
            end(trial_id, Status.TERMINATED)

    # Same records at every rung, at the end.
    assert [[m for m, _ in b._rungs] for b in ray._brackets] == ours.milestones
    for theirs_bracket, mine in zip(ray._brackets, ours._brackets, strict=True):
        for (_, recorded), rung in zip(theirs_bracket._rungs, mine.rungs, strict=True):
            # The same rewards (ours keeps them sorted, NaN counted apart); every trial has ended,
            # so no trial ids are kept.
            assert rung.count == len(recorded)
            assert rung.values == sorted(v for v in recorded.values() if not math.isnan(v))
            assert not rung.recorded
    return counts


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s.max_t}-{s.reduction_factor}-{s.brackets}-{s.mode}")
@pytest.mark.parametrize("seed", [0, 1])
def test_same_decisions_as_ray(setting: Setting, seed: int) -> None:
    counts = _drive(setting, seed)
    # The comparison must have had something to compare.
    assert counts["STOP"] >= 20 and counts["CONTINUE"] >= 200, counts
    assert counts["failed"] >= 1 and counts["ended"] >= 60, counts


def test_first_arrivals_and_ties_by_hand() -> None:
    """The rules spelled out: the first at a rung continues; below the percentile (strictly) stops."""
    setting = Setting(16, 1, 2, 1, "max", "training_iteration", "ties")
    ours, ray = _ours(setting), _ray(setting)
    controller = SimpleNamespace()
    decisions = []
    for trial_id, value in enumerate([5.0, 5.0, 4.0, 6.0, 5.0, 4.9], start=1):
        info = TrialInfo(id=trial_id, config={})
        ours.on_trial_add(info)
        ray.on_trial_add(controller, SimpleNamespace(trial_id=str(trial_id)))
        result = {"training_iteration": 1, "loss": value}
        mine = ours.on_result(info, result)
        assert mine is Decision(ray.on_trial_result(controller, SimpleNamespace(trial_id=str(trial_id)), result))
        decisions.append(mine)
    # 5 first: continue. 5 vs [5]: not below. 4 vs 50th pct of [5, 5]: stop. 6: continue.
    # 5 vs 50th pct of [5, 5, 4, 6] = 5: tie continues. 4.9 vs [5, 5, 4, 6, 5] -> 5: stop.
    stop, go = Decision.STOP, Decision.CONTINUE
    assert decisions == [go, go, stop, go, go, stop]


def test_bracket_law_matches_ray() -> None:
    """Ray joins a bracket with probability proportional to e**(its rungs); ours draws the same law."""
    setting = Setting(81, 1, 3, 3, "min", "training_iteration", "ties")
    ray, ours = _ray(setting), _ours(setting, seed=3)
    sizes = np.array([len(b._rungs) for b in ray._brackets])
    expected = np.e ** (sizes - sizes.max()) / (np.e ** (sizes - sizes.max())).sum()
    assert ours.bracket_probabilities == pytest.approx(list(expected), abs=1e-15)
    for trial_id in range(1, 6001):
        ours.on_trial_add(TrialInfo(id=trial_id, config={}))
    drawn = np.bincount([ours.bracket_of(t) for t in range(1, 6001)], minlength=3) / 6000
    assert drawn == pytest.approx(expected, abs=0.02)
    # Seeded: the same seed joins the same brackets.
    again = _ours(setting, seed=3)
    for trial_id in range(1, 101):
        again.on_trial_add(TrialInfo(id=trial_id, config={}))
    assert [again.bracket_of(t) for t in range(1, 101)] == [ours.bracket_of(t) for t in range(1, 101)]
