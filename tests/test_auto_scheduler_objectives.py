"""AutoScheduler with several objectives: `rung.run`'s default stops or pauses trials that report learning
curves by non-dominated sorting at its milestones (`moasha.MilestoneRanks`), and resumes exactly after a
kill -9 (the crash harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.objectives import Objectives
from rung.schedulers.auto import AutoScheduler
from rung.testing import crash
from rung.testing.crash import KillPoint
from rung.types import Decision, Resume, Start, Status, TrialInfo

STEPS = 27


def curves(config: dict[str, Any], *, checkpoints: bool = True) -> Curve:
    """Error falls with training and ends at (x - 0.3)^2; `size` (a second objective) grows with x."""
    x = config["x"]
    metrics = [{"error": (x - 0.3) ** 2 + (0.5 + x) / s, "size": x} for s in range(1, STEPS + 1)]
    return Curve(metrics, [1.0] * STEPS, checkpoints=checkpoints)


def no_checkpoints(config: dict[str, Any]) -> Curve:
    return curves(config, checkpoints=False)


def once(config: dict[str, Any]) -> Curve:
    return Curve([{"error": (config["x"] - 0.3) ** 2, "size": config["x"]}], [1.0])


def several(fn: Any, tmp_path: Path, **kwargs: Any) -> rung.ExperimentResult:
    return rung.run(
        fn, {"x": rung.uniform(0, 1)}, metric=["error", "size"], mode="min", num_samples=40,
        executor=SimulatedExecutor(4, decision_seconds=0.0), storage=tmp_path, name="mo", seed=3, verbose=0, **kwargs,
    )  # fmt: skip


def lengths(result: rung.ExperimentResult) -> list[int]:
    return sorted(len(result.history(t.id)) for t in result.trials)


def test_the_default_with_several_objectives_and_learning_curves_stops_early(tmp_path: Path) -> None:
    result = several(curves, tmp_path)
    assert result.settings["built"]["scheduler"] == "AutoScheduler"
    picked = result.settings["picked"]
    # After TPE's 10 random proposals the GP proposes, though paused trials end only with the run.
    assert picked[0] == "search: GP, expected hypervolume improvement (several objectives; a low-dimensional space)"
    assert picked[1].startswith(
        "schedule: successive halving by promotion (trials checkpoint: paused at milestones, the best resumed),"
        " judged by non-dominated sorting of the objectives (ties: epsilon-net, as MO-ASHA), 4 brackets;"
    )
    trained = lengths(result)
    # Before, every trial ran its 27 steps (FIFO); now some end at the first milestone, and the
    # trials train less than half as much in all (brackets 1 to 3 judge theirs from later milestones).
    assert trained[0] == 1 and trained[-1] == STEPS
    assert sum(trained) < STEPS * len(trained) / 2
    assert {t.status for t in result.trials} >= {Status.TERMINATED, Status.STOPPED}
    assert result.pareto_front()


def test_without_checkpoints_the_several_objective_default_stops_rather_than_pauses(tmp_path: Path) -> None:
    result = several(no_checkpoints, tmp_path)
    picked = result.settings["picked"]
    assert picked[0] == "search: GP, expected hypervolume improvement (several objectives; a low-dimensional space)"
    assert "stopping (trials save no checkpoint: the worst stopped at milestones)" in picked[1]
    trained = lengths(result)
    assert trained[0] == 1 and trained[-1] == STEPS
    assert sum(trained) < STEPS * len(trained) / 2
    assert any(t.status is Status.STOPPED and len(result.history(t.id)) < STEPS for t in result.trials)


def test_several_objectives_that_report_once_run_to_their_end(tmp_path: Path) -> None:
    result = several(once, tmp_path)
    assert result.settings["picked"][1] == "schedule: each trial reports once, so every trial runs to its end"
    assert all(t.status is Status.TERMINATED for t in result.trials)


def _scheduler() -> AutoScheduler:
    scheduler = AutoScheduler(brackets=1)
    scheduler.setup(metric="error", mode="min", seed=0)
    scheduler.set_objectives(Objectives.of(["error", "size"], "min"))
    return scheduler


def _report(scheduler: AutoScheduler, trial: TrialInfo, step: int, error: float, size: float) -> Decision:
    trial.iteration = step
    result = {"error": error, "size": size, "training_iteration": step}
    trial.last_result = result
    decision = scheduler.on_result(trial, result)
    assert isinstance(decision, Decision)
    return decision


def test_at_a_milestone_a_dominated_trial_stops_and_one_on_the_front_goes_on() -> None:
    scheduler = _scheduler()
    first = TrialInfo(1, {}, Status.RUNNING)
    scheduler.on_trial_add(first)
    assert _report(scheduler, first, 1, 0.5, 0.5) is Decision.CONTINUE
    assert _report(scheduler, first, 2, 0.4, 0.5) is Decision.CONTINUE  # a learning curve: now it judges
    said = {}
    # Without checkpoints: MOASHA's rule, place p of n (itself included) goes on if p / n <= 1/3.
    for trial_id, point in [(2, (0.2, 0.8)), (3, (0.8, 0.2)), (4, (0.9, 0.9)), (5, (0.1, 0.95)), (6, (0.6, 0.6))]:
        trial = TrialInfo(trial_id, {}, Status.RUNNING)
        scheduler.on_trial_add(trial)
        said[trial_id] = _report(scheduler, trial, 1, *point)
    # 2, 3: on the front (first and second in its epsilon-net order); 4, 6: dominated by trial 1's
    # (0.5, 0.5); 5: the best error so far, first of the front.
    assert said == {2: Decision.CONTINUE, 3: Decision.CONTINUE, 4: Decision.STOP, 5: Decision.CONTINUE,
                    6: Decision.STOP}  # fmt: skip
    assert scheduler.stopped_any and not scheduler.paused_any


def test_several_objective_trials_pause_at_milestones_and_the_best_waiting_is_resumed() -> None:
    scheduler = _scheduler()
    trials = {i: TrialInfo(i, {}, Status.RUNNING, checkpoint_iteration=0) for i in range(1, 4)}
    for trial in trials.values():
        scheduler.on_trial_add(trial)
    assert _report(scheduler, trials[1], 1, 0.5, 0.5) is Decision.CONTINUE
    assert _report(scheduler, trials[1], 2, 0.4, 0.5) is Decision.CONTINUE
    # Two at the milestone: its top share (2 // 3 = 0) is empty, so trial 2 pauses, best as it is.
    assert _report(scheduler, trials[2], 1, 0.3, 0.3) is Decision.PAUSE
    trials[2].status = Status.PAUSED
    assert scheduler.next_trial(new_allowed=True, paused=[trials[2]]) == Start()
    assert _report(scheduler, trials[3], 1, 0.9, 0.9) is Decision.PAUSE
    trials[3].status = Status.PAUSED
    # Three there: the top share (one) is trial 2, which dominates both others.
    assert scheduler.next_trial(new_allowed=True, paused=[trials[2], trials[3]]) == Resume(2)
    trials[2].status = Status.RUNNING
    assert scheduler.next_trial(new_allowed=True, paused=[trials[3]]) == Start()
    # The searcher is done: trial 3, dominated, is never good enough (it stays paused; the run stops it).
    assert scheduler.next_trial(new_allowed=False, paused=[trials[3]]) is None
    assert scheduler.paused_any and not scheduler.stopped_any


def test_the_curve_model_is_refused_with_several_objectives() -> None:
    scheduler = AutoScheduler(model="curves")
    scheduler.setup(metric="error", mode="min", seed=0)
    with pytest.raises(ValueError, match=r"^AutoScheduler\(model='curves'\) predicts one metric's learning curve;"):
        scheduler.set_objectives(Objectives.of(["error", "size"], ["min", "max"]))


def mo_default(seed: int) -> dict[str, Any]:
    """The crash harness's objective under the default with two objectives (loss falls as w rises):
    8 trials of 9 steps, paused and resumed at milestones 1 and 3."""
    space = {"x": rung.uniform(0, 1), "lr": rung.loguniform(0.05, 0.5), "steps": 9}
    return {"fn": crash.objective, "space": space, "metric": ["loss", "w"], "mode": "min", "num_samples": 8}


@pytest.mark.slow
def test_the_several_objective_default_resumes_after_kills_as_an_uninterrupted_run(tmp_path: Path) -> None:
    # In the order the run reaches them (pauses and resumes interleave the trials).
    plan = [KillPoint("report", 2, 1), KillPoint("commit", 4, 2), KillPoint("before-commit", 8, 2),
            KillPoint("checkpoint-write", 6, 5)]  # fmt: skip
    report = crash.check(f"{__name__}:mo_default", tmp_path / "crash", plan=plan)
    assert report.ok, report.describe()
    assert report.kills == plan and report.resumes == len(plan)
