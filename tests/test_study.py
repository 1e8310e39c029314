"""`rung.Study`: ask and tell on rung's store, from one process or several."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.cli import main
from rung.errors import (
    ExperimentBusyError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    SearchExhaustedError,
    TrialEndedError,
    TrialNotFoundError,
)
from rung.store import driver
from rung.store.sqlite import Store
from rung.store.views import experiment_view

SPACE = {"x": rung.uniform(0, 1), "opt": rung.choice(["sgd", "adam"]), "epochs": 3}


def loss(config: dict[str, Any]) -> float:
    return float((config["x"] - 0.3) ** 2 + (0.1 if config["opt"] == "sgd" else 0.0))


def _study(storage: Path, name: str = "s", **kwargs: Any) -> rung.Study:
    return rung.Study(SPACE, metric="loss", name=name, storage=storage, search=rung.TPE(n_startup=3, seed=4), **kwargs)


def test_ask_report_tell_stores_trials_as_a_run_does(storage: Path) -> None:
    study = _study(storage)
    first = study.ask()
    assert first.id == 1 and set(first.config) == {"x", "opt", "epochs"} and first.config["epochs"] == 3
    study.report(first.id, {"loss": 0.9, "acc": 0.1})
    study.report(first.id, {"loss": 0.5, "acc": 0.2})
    study.tell(first.id)  # no result: the last reported one is its last
    second = study.ask()
    study.tell(second.id, {"loss": 0.7}, state="pruned")
    third = study.ask()
    study.tell(third.id, state="failed", error="CUDA out of memory")
    fourth = study.ask()  # not told: still running
    result = study.result()
    assert [t.status for t in result.trials] == [
        rung.Status.TERMINATED, rung.Status.STOPPED, rung.Status.ERROR, rung.Status.RUNNING
    ]  # fmt: skip
    one = result.trials[0]
    assert (one.iteration, one.metrics["acc"], one.metrics["training_iteration"]) == (2, 0.2, 2)
    assert one.best_metrics is not None and one.best_metrics["loss"] == 0.5
    assert {"time_this_iter_s", "time_total_s", "timestamp"} <= set(one.metrics)
    assert result.trials[2].error == "CUDA out of memory" and result.trials[3].config == fourth.config
    assert result.best is not None and result.best.id == 1 and result.status == "RUNNING"
    assert [r["loss"] for r in result.history(1)] == [0.9, 0.5]
    store = Store.read(storage, "s")
    try:
        assert {row["origin"] for row in store.trials()} == {"ask"}
    finally:
        store.close()


def _drive(study: rung.Study, plan: list[str], asked: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask ("ask") or tell ("tell N") as `plan` says; returns the configs asked."""
    configs = []
    for step in plan:
        if step == "ask":
            trial = study.ask()
            asked[trial.id] = trial.config
            configs.append(trial.config)
        else:
            trial_id = int(step.split()[1])
            study.tell(trial_id, {"loss": loss(asked[trial_id])})
    return configs


PLAN = ["ask", "ask", "ask", "tell 2", "ask", "tell 1", "tell 3", "ask", "tell 4", "ask", "ask", "tell 5", "ask"]


def test_two_handles_taking_turns_propose_what_one_would(storage: Path) -> None:
    # Each handle keeps its searcher between calls and catches up with what the other stored since.
    reference = _drive(_study(storage, "one"), PLAN, {})
    first = _study(storage, "two")
    second = rung.Study.load("two", storage=storage)
    asked: dict[int, dict[str, Any]] = {}
    configs = []
    for i, step in enumerate(PLAN):
        configs += _drive(first if i % 2 else second, [step], asked)
    assert configs == reference and len(reference) == 8


_SCRIPT = """
import json, sys
import rung
storage, name, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
study = rung.Study.load(name, storage=storage)
out = []
for step in plan:
    if step == "ask":
        trial = study.ask()
        out.append([trial.id, trial.config])
    elif step == "tell-own":
        trial_id, config = out[-1]
        study.tell(trial_id, {"loss": config["x"]})
print(json.dumps(out))
"""


def _process(tmp: Path, storage: Path, name: str, plan: list[Any]) -> subprocess.Popen[str]:
    script = tmp / "ask_tell.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, str(script), str(storage), name, json.dumps(plan)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen[str]) -> list[Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return list(json.loads(out))


def test_a_trial_asked_in_one_process_is_told_in_another(storage: Path, tmp_path: Path) -> None:
    reference = _drive(_study(storage, "one"), ["ask"] * 4 + [f"tell {i}" for i in (1, 2, 3, 4)] + ["ask"] * 3, {})
    _study(storage, "s")
    asked = _finish(_process(tmp_path, storage, "s", ["ask"] * 4))
    assert [trial_id for trial_id, _ in asked] == [1, 2, 3, 4]
    here = rung.Study.load("s", storage=storage)  # this process tells what the other asked
    for trial_id, config in asked:
        here.tell(trial_id, {"loss": loss(config)})
    later = _finish(_process(tmp_path, storage, "s", ["ask"] * 3))
    assert [config for _, config in asked + later] == reference
    statuses = [t.status for t in here.result().trials]
    assert statuses == [rung.Status.TERMINATED] * 4 + [rung.Status.RUNNING] * 3


def test_processes_asking_and_telling_at_once_take_turns(storage: Path, tmp_path: Path) -> None:
    _study(storage, "s")
    # Two processes at once, each asking a trial and telling it (its loss: its x), 15 times.
    processes = [_process(tmp_path, storage, "s", ["ask", "tell-own"] * 15) for _ in range(2)]
    asked = [trial_id for process in processes for trial_id, _ in _finish(process)]
    assert sorted(asked) == list(range(1, 31))  # no id given twice, no call refused as busy
    result = rung.load("s", storage=storage)
    assert [t.status for t in result.trials] == [rung.Status.TERMINATED] * 30
    assert all(t.metrics["loss"] == t.config["x"] for t in result.trials)  # each told its own trial
    # A process that loads the study now replays all of it and goes on.
    assert rung.Study.load("s", storage=storage).ask().id == 31


def test_calls_on_unknown_or_ended_trials_are_refused_by_name(storage: Path) -> None:
    study = _study(storage)
    trial = study.ask()
    study.tell(trial.id, {"loss": 0.2})
    refusals: list[tuple[Any, type[Exception], str]] = [
        (lambda: study.tell(7, {"loss": 1.0}), TrialNotFoundError, "tell: no trial 7 in study 's'; its trials: 1..1"),
        (lambda: study.tell(1, {"loss": 1.0}), TrialEndedError,
         "tell: trial 1 of study 's' has already ended (TERMINATED); ask() for a new trial"),
        (lambda: study.report(1, {"loss": 1.0}), TrialEndedError,
         "report: trial 1 of study 's' has already ended (TERMINATED); ask() for a new trial"),
        (lambda: study.tell("1"), TypeError, "tell: trial_id must be an int (AskedTrial.id); got '1'"),
    ]  # fmt: skip
    for call, error, message in refusals:
        with pytest.raises(error, match=f"^{re.escape(message)}$"):
            call()
    # Refused calls change nothing: the next proposal is the one a study without them makes.
    assert study.ask().config == _drive(_study(storage, "clean"), ["ask", "tell 1", "ask"], {})[1]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s, t: s.tell(t, state="weird"), ValueError,
         "tell: state must be 'completed', 'pruned' or 'failed'; got 'weird'"),
        (lambda s, t: s.tell(t), ValueError,
         "tell: trial 1 has no value of the metric 'loss' (pass a result holding it, or state='failed' if it failed)"),
        (lambda s, t: s.tell(t, {"loss": 1.0}, state="failed"), ValueError,
         "tell: a failed trial takes no result (report it first); got {'loss': 1.0}"),
        (lambda s, t: s.tell(t, error="boom"), ValueError,
         "tell: error= is the text of a failed trial's error (state='failed'); got 'boom'"),
        (lambda s, t: s.report(t, {"loss": "low"}), TypeError,
         "report: the metric 'loss' must be a number; got 'low' (str)"),
        (lambda s, t: s.report(t, [0.5]), TypeError,
         "report: result must be a dict of metrics with str keys; got [0.5]"),
        (lambda s, t: (s.report(t, {"loss": 1.0}), s.report(t, {"loss": 1.0, "training_iteration": 1})), ValueError,
         "trial 1's training_iteration must be an integer above its last (1); got 1"),
    ],
)  # fmt: skip
def test_bad_calls_are_refused(storage: Path, call: Any, error: type[Exception], message: str) -> None:
    study = _study(storage)
    trial = study.ask()
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call(study, trial.id)
    study.tell(trial.id, {"loss": 0.1}, state="COMPLETED")  # the trial is still open, in any case
    assert study.result().trials[0].status is rung.Status.TERMINATED


def test_states_take_rungs_and_optunas_words(storage: Path) -> None:
    study = _study(storage)
    for state in ("TERMINATED", rung.Status.STOPPED, "Pruned", "error"):
        study.tell(study.ask().id, None if state == "error" else {"loss": 0.5}, state=state)
    assert [t.status.value for t in study.result().trials] == ["TERMINATED", "STOPPED", "STOPPED", "ERROR"]


def test_creating_and_loading_say_what_to_do(storage: Path) -> None:
    _study(storage)
    message = "experiment 's' already exists in '{}'; continue it with rung.Study.load('s', storage='{}'), or choose"
    with pytest.raises(ExperimentExistsError, match=f"^{re.escape(message.format(storage, storage))}"):
        _study(storage)
    with pytest.raises(ExperimentNotFoundError, match="^no experiment 'nope' in"):
        rung.Study.load("nope", storage=storage)
    rung.run(lambda c: {"loss": c["x"]}, {"x": rung.uniform(0, 1)}, metric="loss", executor="thread",
             storage=storage, name="ran", verbose=0)  # fmt: skip
    with pytest.raises(ValueError, match="^experiment 'ran' in .* was made by rung.run, not rung.Study"):
        rung.Study.load("ran", storage=storage)
    with pytest.raises(ValueError, match="^Study needs mode to be 'min' or 'max'; got 'maximize'$"):
        rung.Study(SPACE, metric="loss", mode="maximize", storage=storage)
    assert main(["resume", "s", "--storage", str(storage)]) == 2


def test_a_driver_holding_the_experiment_makes_calls_busy(storage: Path) -> None:
    study = _study(storage)
    lock = driver.take_lock(storage / "s", "s")  # as `rung.run(..., name="s", resume=True)` would
    try:
        with pytest.raises(ExperimentBusyError, match="^experiment 's' in .* is busy: driver pid"):
            study.ask()
    finally:
        driver.release_lock(lock)
    assert study.ask().id == 1


def test_a_grid_runs_out(storage: Path) -> None:
    study = rung.Study({"a": rung.grid([1, 2])}, metric="loss", storage=storage, name="g", num_samples=1)
    assert [study.ask().config["a"] for _ in range(2)] == [1, 2]
    message = (
        "ask: the searcher of study 'g' has proposed every configuration it will (2 trials); create the study"
        " with a larger num_samples to go on"
    )
    for _ in range(2):
        with pytest.raises(SearchExhaustedError, match=f"^{re.escape(message)}$"):
            study.ask()


def test_known_results_start_the_study(storage: Path) -> None:
    known = [{"config": {"x": 0.3 + 0.01 * i, "opt": "adam"}, "result": {"loss": 0.0001 * i}} for i in range(3)]
    study = _study(storage, known=known)
    trial = study.ask()
    assert trial.id == 4
    result = study.result()
    assert [t.status for t in result.trials[:3]] == [rung.Status.TERMINATED] * 3
    assert result.best is not None and result.best.id == 1
    # Another handle replays them like the rest.
    reference = _study(storage, "b", known=known)
    reference.ask()
    assert rung.Study.load("s", storage=storage).ask().config == reference.ask().config


def test_asked_trials_take_lanes_of_the_worker_timeline(storage: Path) -> None:
    study = _study(storage)
    first, second = study.ask(), study.ask()
    study.tell(first.id, {"loss": 0.1})
    third = rung.Study.load("s", storage=storage).ask()  # another handle: it takes the lane the first left
    study.tell(second.id, state="failed")
    lanes = {span["trial"]: (span["slot"], span["ended"]) for span in experiment_view(storage, "s")["timeline"]}
    assert lanes == {first.id: (0, "TERMINATED"), second.id: (1, "ERROR"), third.id: (0, "RUNNING")}


def _two(config: dict[str, Any]) -> dict[str, float]:
    x = config["x"]
    return {"f1": x, "f2": (1 - x) ** 2 + (0.2 if config["opt"] == "sgd" else 0.0), "mb": 100 * x}


def test_several_objectives_and_constraints_ask_as_a_run_proposes(storage: Path) -> None:
    settings: dict[str, Any] = {"metric": ["f1", "f2"], "mode": ["min", "min"], "constraints": {"mb": ("<=", 80)}}
    study = rung.Study(SPACE, name="mo", storage=storage, search=rung.TPE(n_startup=4, seed=3), **settings)
    assert study.objectives is not None and study.metric is None
    asked = []
    for _ in range(14):
        trial = study.ask()
        asked.append(trial.config)
        study.tell(trial.id, _two(trial.config))
    # The same searcher in rung.run, one trial at a time, proposes the same configurations.
    run = rung.run(
        _two, SPACE, search=rung.TPE(n_startup=4, seed=3), num_samples=14, storage=storage, name="run",
        executor="thread", max_concurrent=1, verbose=0, **settings,
    )  # fmt: skip
    assert [t.config for t in run.trials] == asked
    result = study.result()
    front = {t.id for t in result.pareto_front()}
    assert front == {t.id for t in run.pareto_front()} and front
    assert all(t.feasible for t in result.pareto_front())
    assert any(t.feasible is False for t in result.trials)
    # A handle loaded from the store reads the objectives back and, replaying, proposes the next
    # configuration the run proposed.
    loaded = rung.Study.load("mo", storage=storage)
    assert loaded.objectives == study.objectives
    longer = rung.run(
        _two, SPACE, search=rung.TPE(n_startup=4, seed=3), num_samples=15, storage=storage, name="run15",
        executor="thread", max_concurrent=1, verbose=0, **settings,
    )  # fmt: skip
    assert loaded.ask().config == longer.trials[14].config


def test_a_told_trial_needs_every_objective(storage: Path) -> None:
    study = rung.Study(SPACE, metric=["f1", "f2"], name="mo", storage=storage)
    trial = study.ask()
    with pytest.raises(ValueError, match=re.escape("has no value of every objective (f1, f2)")):
        study.tell(trial.id, {"f1": 0.3})
    with pytest.raises(TypeError, match="the metric 'f2' must be a number"):
        study.tell(trial.id, {"f1": 0.3, "f2": "x"})
    with pytest.raises(ValueError, match="search=OneGoal learns one objective"):
        rung.Study(SPACE, metric=["f1", "f2"], name="one", storage=storage, search=OneGoal())


class OneGoal(rung.Random):
    """A searcher that learns one objective (rung.GP now learns several)."""

    multi_objective = False
