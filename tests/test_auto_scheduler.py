"""AutoScheduler: what it learns of the objective (curves or one result, checkpoints, length) and the
decisions that follow; `rung.run`'s default uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.schedulers.auto import AutoScheduler
from rung.testing.schedulers import Recorder
from rung.types import Decision, Status, TrialInfo

STEPS = 30


def curve(config: dict[str, Any], *, checkpoints: bool = True, steps: int = STEPS) -> Curve:
    """Loss curves that level off at (x - 0.3)^2; every step takes a second."""
    x = config["x"]
    metrics = [{"loss": (x - 0.3) ** 2 + (0.5 + x) / s} for s in range(1, steps + 1)]
    return Curve(metrics, [1.0] * steps, checkpoints=checkpoints)


def no_checkpoints(config: dict[str, Any]) -> Curve:
    return curve(config, checkpoints=False)


def once(config: dict[str, Any]) -> Curve:
    return curve(config, steps=1)


def run(fn: Any, tmp_path: Path, **kwargs: Any) -> tuple[Recorder, rung.ExperimentResult]:
    scheduler = kwargs.pop("scheduler", None) or AutoScheduler()
    recorder = Recorder(scheduler)
    result = rung.run(
        fn,
        {"x": rung.uniform(0, 1)},
        metric="loss",
        num_samples=kwargs.pop("num_samples", 40),
        scheduler=recorder,
        executor=SimulatedExecutor(4, decision_seconds=0.0),
        storage=tmp_path,
        name="auto",
        seed=1,
        verbose=0,
        **kwargs,
    )
    return recorder, result


def decisions(recorder: Recorder) -> list[str]:
    return [e[3] for e in recorder.log if e[0] == "result"]


def test_curves_with_checkpoints_pause_and_promote(tmp_path: Path) -> None:
    recorder, result = run(curve, tmp_path)
    scheduler = recorder.inner
    assert isinstance(scheduler, AutoScheduler)
    assert scheduler.kind == "curves"
    assert (scheduler.max_t, scheduler.max_t_from) == (STEPS, "trials")
    said = decisions(recorder)
    assert "PAUSE" in said and "STOP" not in said
    assert any(e[0] == "resume" for e in recorder.log)
    assert not recorder.violations
    lengths = sorted(len(result.history(t.id)) for t in result.trials)
    # Successive halving: most trials stop at the first milestones, a few train to the end.
    assert lengths[len(lengths) // 2] <= 3 and lengths[-1] == STEPS
    assert scheduler.milestones() == [1, 3, 9, 27]
    assert "promotion" in scheduler.describe() and "30 (from trials)" in scheduler.describe()


def test_curves_without_checkpoints_stop_instead_of_pausing(tmp_path: Path) -> None:
    recorder, result = run(no_checkpoints, tmp_path)
    scheduler = recorder.inner
    assert isinstance(scheduler, AutoScheduler)
    said = decisions(recorder)
    assert "PAUSE" not in said and "STOP" in said
    assert not any(e[0] == "resume" for e in recorder.log)
    assert "stopping" in scheduler.describe()
    statuses = {t.status for t in result.trials}
    assert statuses == {Status.STOPPED, Status.TERMINATED}


def test_an_objective_that_reports_once_runs_every_trial_to_its_end(tmp_path: Path) -> None:
    recorder, result = run(once, tmp_path, num_samples=12)
    scheduler = recorder.inner
    assert isinstance(scheduler, AutoScheduler)
    assert scheduler.kind == "once"
    assert set(decisions(recorder)) == {"CONTINUE"}
    assert {t.status for t in result.trials} == {Status.TERMINATED}
    assert "runs to its end" in scheduler.describe()


def test_stop_gives_the_longest_training(tmp_path: Path) -> None:
    scheduler = AutoScheduler()
    result = rung.run(
        curve,
        {"x": rung.uniform(0, 1)},
        metric="loss",
        num_samples=40,
        scheduler=scheduler,
        stop={"training_iteration": 20},
        executor=SimulatedExecutor(4, decision_seconds=0.0),
        storage=tmp_path,
        name="stop",
        seed=1,
        verbose=0,
    )
    assert (scheduler.max_t, scheduler.max_t_from) == (20, "stop")
    assert scheduler.milestones() == [1, 3, 9]
    assert result.settings["fidelity"]["milestones"] == [1, 3, 9]
    assert max(len(result.history(t.id)) for t in result.trials) == 20


def test_until_a_second_report_a_milestone_lets_trials_go_on() -> None:
    scheduler = AutoScheduler()
    scheduler.setup(metric="loss", mode="min", seed=0)
    trials = [TrialInfo(id=i, config={}, checkpoint_iteration=1) for i in (1, 2, 3, 4)]
    for trial in trials:
        scheduler.on_trial_add(trial)
    # Four first reports, the worst last: the scheduler cannot know yet that a second one will come.
    for trial, loss in zip(trials, (0.1, 0.2, 0.3, 0.4), strict=True):
        assert scheduler.on_result(trial, {"loss": loss, "training_iteration": 1}) is Decision.CONTINUE
    assert scheduler.kind == "unknown"
    # A second report: curves. Trial 1 is judged at milestone 3 against the others there.
    assert scheduler.on_result(trials[0], {"loss": 0.05, "training_iteration": 2}) is Decision.CONTINUE
    assert scheduler.kind == "curves"
    late = TrialInfo(id=5, config={}, checkpoint_iteration=1)
    scheduler.on_trial_add(late)
    assert scheduler.on_result(late, {"loss": 0.9, "training_iteration": 1}) is Decision.PAUSE


def test_max_t_given_is_kept() -> None:
    scheduler = AutoScheduler(max_t=10)
    scheduler.limit(50, "stop")
    assert (scheduler.max_t, scheduler.max_t_from) == (10, "argument")
    assert scheduler.milestones() == [1, 3, 9]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"reduction_factor": 1},
            "AutoScheduler needs reduction_factor to be a finite number >= 2; got reduction_factor=1",
        ),
        ({"grace_period": 0}, "AutoScheduler needs grace_period to be a finite number > 0; got grace_period=0"),
        ({"max_t": -1}, "AutoScheduler needs max_t to be a finite number > 0 or None; got max_t=-1"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        AutoScheduler(**kwargs)
    assert str(caught.value) == message


def test_the_default_is_the_auto_scheduler_with_tpe_learning_at_its_milestones(tmp_path: Path) -> None:
    result = rung.run(
        curve,
        {"x": rung.uniform(0, 1)},
        metric="loss",
        num_samples=30,
        executor=SimulatedExecutor(4, decision_seconds=0.0),
        storage=tmp_path,
        name="default",
        verbose=0,
    )
    settings = result.settings
    assert settings["built"]["scheduler"] == "AutoScheduler"
    assert settings["fidelity"]["milestones"][:4] == [1, 3, 9, 27]
    assert any(t.status is Status.STOPPED for t in result.trials)  # left paused at the end
    # Explicit choices are kept: search="tpe" alone still runs every trial to its end.
    fifo = rung.run(
        curve,
        {"x": rung.uniform(0, 1)},
        metric="loss",
        num_samples=12,
        search="tpe",
        executor=SimulatedExecutor(4, decision_seconds=0.0),
        storage=tmp_path,
        name="tpe",
        verbose=0,
    )
    assert fifo.settings["built"]["scheduler"] == "FIFO"
    assert {t.status for t in fifo.trials} == {Status.TERMINATED}


def test_brackets_follow_hyperband_and_spare_their_trials_the_lower_milestones() -> None:
    scheduler = AutoScheduler(brackets=4)
    assert [round(p, 3) for p in scheduler.bracket_probabilities] == [0.551, 0.245, 0.122, 0.082]
    scheduler.setup(metric="loss", mode="min", seed=0)
    warm = TrialInfo(id=0, config={}, checkpoint_iteration=1)
    scheduler.on_trial_add(warm)
    scheduler.on_result(warm, {"loss": 0.0, "training_iteration": 1})
    scheduler.on_result(warm, {"loss": 0.0, "training_iteration": 2})  # curves: milestones judge now
    trials = [TrialInfo(id=i, config={}, checkpoint_iteration=1) for i in range(1, 401)]
    first = {}
    for trial in trials:
        scheduler.on_trial_add(trial)
        # Every trial is worse than trial 0 at milestone 1: only those of later brackets go on.
        first[trial.id] = scheduler.on_result(trial, {"loss": 1.0 + trial.id, "training_iteration": 1})
    going_on = {i for i, d in first.items() if d is Decision.CONTINUE}
    assert first.keys() - going_on and all(first[i] is Decision.PAUSE for i in first.keys() - going_on)
    assert going_on == {i for i in first if scheduler._bracket.get(i, 0) >= 1}
    share = len(going_on) / len(first)
    assert 0.35 < share < 0.55  # 1 - 0.551, drawn per trial


def test_a_stored_default_run_resumes(tmp_path: Path) -> None:
    common: dict[str, Any] = {"metric": "loss", "storage": tmp_path, "name": "resumed", "verbose": 0, "seed": 2}
    simulated = SimulatedExecutor(4, decision_seconds=0.0)
    rung.run(curve, {"x": rung.uniform(0, 1)}, num_samples=20, executor=simulated, **common)
    again = SimulatedExecutor(4, decision_seconds=0.0)
    result = rung.run(curve, {"x": rung.uniform(0, 1)}, num_samples=30, resume=True, executor=again, **common)
    assert len(result.trials) == 30 and all(t.status.finished for t in result.trials)
    assert result.settings["built"] == {"seed": 2, "search": "AutoSearch", "scheduler": "AutoScheduler"}


def rising(t: int) -> float:
    """An accuracy that keeps rising: 0.3 after one step, 0.78 after 27."""
    return float(0.9 - 0.6 * t**-0.5)


def test_the_curve_model_lets_a_rising_curve_go_on_where_its_rank_alone_would_pause_it() -> None:
    said = {}
    for model in ("curves", "ranks"):
        scheduler = AutoScheduler(max_t=27, brackets=1, model=model)
        scheduler.setup(metric="acc", mode="max", seed=0)
        flat, trial = (
            TrialInfo(id=1, config={}, checkpoint_iteration=1),
            TrialInfo(id=2, config={}, checkpoint_iteration=1),
        )
        for t in range(1, 10):  # a trial stuck at 0.5 passed milestones 1, 3 and 9 first
            scheduler.on_result(flat, {"acc": 0.5, "training_iteration": t})
        for t in (1, 2):
            scheduler.on_result(trial, {"acc": rising(t), "training_iteration": t})
        # Two trials at milestone 3: too few for a top third, but the model expects this one to
        # rise above the best so far (its own 0.55) by 27.
        said[model] = scheduler.on_result(trial, {"acc": rising(3), "training_iteration": 3})
    assert said == {"curves": Decision.CONTINUE, "ranks": Decision.PAUSE}


@pytest.mark.parametrize("model", ["curves", "ranks"])
def test_the_first_trial_to_reach_a_milestone_goes_on_if_it_leads_there(model: str) -> None:
    said = {}
    for pioneers in (True, False):
        scheduler = AutoScheduler(brackets=1, model=model)  # no max_t: nothing to predict at yet
        scheduler.pioneers = pioneers
        scheduler.setup(metric="loss", mode="min", seed=0)
        first, second = (TrialInfo(id=i, config={}, checkpoint_iteration=1) for i in (1, 2))
        scheduler.on_result(first, {"loss": 0.9, "training_iteration": 1})
        scheduler.on_result(second, {"loss": 0.5, "training_iteration": 1})
        scheduler.on_result(second, {"loss": 0.4, "training_iteration": 2})
        # Trial 2 reaches milestone 3 first, and leads it (alone): it goes on, so that some trial
        # soon trains to the end (rung.run learns the length; the model, what trials gain).
        said[pioneers] = scheduler.on_result(second, {"loss": 0.3, "training_iteration": 3})
    assert said == {True: Decision.CONTINUE, False: Decision.PAUSE}


def test_by_default_the_first_trial_to_reach_a_milestone_is_judged_as_any_other() -> None:
    # The pioneers rule is off by default: with TPE modelling after 5 ended trials it was worse on
    # LCBench at 10, 30 and 100 full trainings of compute (BENCHMARKS.md, "The default at small budgets").
    scheduler = AutoScheduler(brackets=1)
    assert scheduler.pioneers is False
    scheduler.setup(metric="loss", mode="min", seed=0)
    first, second = (TrialInfo(id=i, config={}, checkpoint_iteration=1) for i in (1, 2))
    scheduler.on_result(first, {"loss": 0.9, "training_iteration": 1})
    scheduler.on_result(second, {"loss": 0.5, "training_iteration": 1})
    scheduler.on_result(second, {"loss": 0.4, "training_iteration": 2})
    # Alone at milestone 3, it is not in the top third of one trial: it pauses until others come.
    assert scheduler.on_result(second, {"loss": 0.3, "training_iteration": 3}) is Decision.PAUSE


@pytest.mark.parametrize("checkpoints", [True, False])
def test_a_flat_curve_far_below_the_best_stops_training_even_where_its_bracket_would_let_it_pass(
    checkpoints: bool,
) -> None:
    said = {}
    for model, prune_all in (("curves", True), ("curves", False), ("ranks", True)):
        scheduler = AutoScheduler(max_t=27, brackets=4, model=model)
        scheduler.prune_all = prune_all
        scheduler.setup(metric="acc", mode="max", seed=0)
        leader = TrialInfo(id=0, config={}, checkpoint_iteration=1)
        scheduler.on_trial_add(leader)
        for t in range(1, 28):  # trained to the end (the decisions are not the point here)
            scheduler.on_result(leader, {"acc": rising(t), "training_iteration": t})
        scheduler.on_complete(leader, Status.TERMINATED)
        # A trial of a bracket that judges from milestone 9 on, stuck at 0.2 (the best is 0.78).
        flat = 0
        for i in range(1, 100):
            scheduler.on_trial_add(TrialInfo(id=i, config={}))
            if scheduler._bracket[i] == 2:
                flat = i
                break
        trial = TrialInfo(id=flat, config={}, checkpoint_iteration=1 if checkpoints else None)
        for t in (1, 2):
            assert scheduler.on_result(trial, {"acc": 0.2, "training_iteration": t}) is Decision.CONTINUE
        said[model, prune_all] = scheduler.on_result(trial, {"acc": 0.2, "training_iteration": 3})
    gives_up = Decision.PAUSE if checkpoints else Decision.STOP
    assert said == {
        ("curves", True): gives_up,
        ("curves", False): Decision.CONTINUE,
        ("ranks", True): Decision.CONTINUE,
    }


def test_bad_model_is_named() -> None:
    with pytest.raises(ValueError) as caught:
        AutoScheduler(model="extrapolate")
    assert str(caught.value) == "AutoScheduler needs model to be 'curves' or 'ranks'; got model='extrapolate'"
