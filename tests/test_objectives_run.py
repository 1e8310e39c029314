"""Several objectives and constraints through a run: the front, feasibility, the views, the CLI, resume."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.cli import main
from rung.objectives import Objectives
from rung.store.views import experiment_view, list_view

SPACE = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}


def zdt1(config: dict[str, Any]) -> None:
    """Two objectives with a known front (f2 = 1 - sqrt(f1) where y = 0), and a model size to constrain."""
    x, y = config["x"], config["y"]
    for step in range(1, 4):
        g = 1 + 9 * y
        rung.report({"f1": x, "f2": g * (1 - math.sqrt(x / g)), "mb": 100 * y + step})


def run(storage: Path, name: str = "mo", **kwargs: Any) -> rung.ExperimentResult:
    fn = kwargs.pop("fn", zdt1)
    settings: dict[str, Any] = {
        "metric": ["f1", "f2"], "mode": "min", "num_samples": 24, "executor": "thread", "verbose": 0,
        "search": "random", "seed": 3, "storage": storage, "name": name, **kwargs,
    }  # fmt: skip
    return rung.run(fn, SPACE, **settings)


def _front_brute(result: rung.ExperimentResult) -> set[int]:
    """The front by the definition, from each trial's last result (what several objectives judge)."""
    assert result.objectives is not None
    points = {t.id: result.objectives.losses(t.metrics) for t in result.trials if result.objectives.feasible(t.metrics)}
    return {
        i
        for i, p in points.items()
        if p is not None
        and not any(
            q is not None
            and all(a <= b for a, b in zip(q, p, strict=True))
            and any(a < b for a, b in zip(q, p, strict=True))
            for j, q in points.items()
            if j != i
        )
    }


def test_pareto_front_views_and_the_missing_single_best(storage: Path) -> None:
    result = run(storage)
    front = result.pareto_front()
    assert {t.id for t in front} == _front_brute(result) and len(front) >= 3
    assert [t.best_metrics["f1"] for t in front] == sorted(t.best_metrics["f1"] for t in front)  # type: ignore[index]
    assert result.metric is None and result.metrics == ("f1", "f2") and result.modes == ("min", "min")
    for asked in ("best", "best_config"):
        with pytest.raises(rung.MultiObjectiveError, match=f"^{asked}: experiment 'mo' has 2 objectives"):
            getattr(result, asked)
    assert "pareto front of" in repr(result)
    weighted = result.get_best(scalarize={"f1": 1.0, "f2": 1.0})
    assert weighted is not None and weighted.id in {t.id for t in front}
    assert weighted.id == min(front, key=lambda t: t.metrics["f1"] + t.metrics["f2"]).id

    frame = result.dataframe()
    assert set(frame.loc[frame["pareto"], "trial_id"]) == {t.id for t in front}
    assert list(frame["best_f1"]) == [t.metrics["f1"] for t in result.trials]

    view = experiment_view(storage, "mo")
    assert [p["id"] for p in view["pareto_front"]] == [t.id for t in front]
    assert view["pareto_front"][0]["values"] == [front[0].metrics["f1"], front[0].metrics["f2"]]
    assert {t["id"] for t in view["trials"] if t["pareto"]} == {t.id for t in front}
    assert view["summary"]["front"] == [t.id for t in front] and view["summary"]["metric"] is None
    assert list_view(storage)[0]["objectives"] == [{"metric": "f1", "mode": "min"}, {"metric": "f2", "mode": "min"}]


def test_several_objectives_judge_a_trial_by_its_last_result_that_reports_them_all(storage: Path) -> None:
    def train(config: dict[str, Any]) -> None:
        rung.report({"acc": 0.9, "ms": 1.0})  # its best, but not where it ended
        rung.report({"acc": 0.5, "ms": 5.0})
        rung.report({"acc": 0.99})  # without ms: not judged

    result = rung.run(train, {"x": rung.uniform(0, 1)}, metric=["acc", "ms"], mode=["max", "min"], num_samples=1,
                      executor="thread", verbose=0, storage=storage, name="last")  # fmt: skip
    (trial,) = result.trials
    assert trial.best_metrics is not None and (trial.best_metrics["acc"], trial.best_metrics["ms"]) == (0.5, 5.0)
    assert result.pareto_front() == [trial]


def test_constraints_make_trials_infeasible_never_best_and_shown_as_such(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(storage, metric="f2", mode="min", constraints={"mb": (">=", 40)})  # f2 is best at y = 0
    infeasible = [t for t in result.trials if t.feasible is False]
    feasible = [t for t in result.trials if t.feasible]
    assert infeasible and feasible and len(infeasible) + len(feasible) == len(result.trials)
    for trial in infeasible:
        assert all(r["mb"] < 40 for r in result.history(trial.id))
    best = result.best
    assert best is not None and best.feasible and best.best_metrics is not None
    assert best.best_metrics["f2"] == min(t.best_metrics["f2"] for t in feasible)  # type: ignore[index]
    # The best infeasible value beats it: that is what the constraint rules out.
    assert min(t.best_metrics["f2"] for t in infeasible) < best.best_metrics["f2"]  # type: ignore[index]
    frame = result.dataframe()
    assert list(frame["feasible"]) == [t.feasible for t in result.trials]
    assert result.settings["objectives"]["constraints"] == {"mb": [">=", 40.0]}

    assert main(["show", "mo", "--storage", str(storage), "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "constraints mb >= 40" in out and f"best: trial {best.id}," in out
    assert out.count("TERMINATED infeasible") == len(infeasible)
    assert main(["ls", "--storage", str(storage)]) == 0
    assert f"{len(infeasible)} infeasible" in capsys.readouterr().out.replace("\n", " ").replace("│", "")


def test_a_trial_is_judged_by_its_best_feasible_result(storage: Path) -> None:
    def train(config: dict[str, Any]) -> None:
        rung.report({"loss": 1.0, "mb": 5})
        rung.report({"loss": 0.1, "mb": 50})  # better, infeasible
        rung.report({"loss": 2.0, "mb": 5})

    result = rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", constraints={"mb": ("<=", 10)}, verbose=0,
                      executor="thread", storage=storage, name="bf")  # fmt: skip
    (trial,) = result.trials
    assert trial.feasible and trial.best_metrics is not None and trial.best_metrics["loss"] == 1.0
    assert result.best == trial


def test_a_monotone_constraint_stops_the_trial_that_breaks_it(storage: Path) -> None:
    def train(config: dict[str, Any]) -> None:
        for step in range(1, 11):
            rung.report({"loss": config["x"], "seconds": step * 10 * config["x"]})

    result = rung.run(train, {"x": rung.grid([0.2, 0.5, 0.9])}, metric="loss", executor="thread", verbose=0,
                      constraints={"seconds": ("<=", 40, "monotone")}, storage=storage, name="mono")  # fmt: skip
    assert [(t.status, t.iteration) for t in result.trials] == [
        (rung.Status.TERMINATED, 10),  # 10 * 10 * 0.2 = 20 at the end
        (rung.Status.STOPPED, 9),  # 9 * 5 = 45 > 40: stopped at that result
        (rung.Status.STOPPED, 5),  # 5 * 9 = 45
    ]
    # One objective: each is judged by its best result that meets the constraint (an early one).
    assert [(t.feasible, t.best_metrics["training_iteration"]) for t in result.trials] == [  # type: ignore[index]
        (True, 1),
        (True, 1),
        (True, 1),
    ]
    assert result.best is not None and result.best.id == 1


def test_scalarize_on_run_picks_the_best_and_the_views_show_it(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(storage, scalarize={"f1": 1.0, "f2": 2.0})
    best = result.best
    assert best is not None and best.id == result.get_best(scalarize={"f1": 1.0, "f2": 2.0}).id  # type: ignore[union-attr]
    assert main(["show", "mo", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert f"best by the scalarize weights: trial {best.id}" in out
    assert list_view(storage)[0]["best"] == pytest.approx(best.metrics["f1"] + 2 * best.metrics["f2"])


def test_show_and_ls_mark_the_front(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table (a narrower terminal splits it by columns: rows repeat)
    result = run(storage, constraints={"mb": ("<=", 60)})
    front = [t.id for t in result.pareto_front()]
    assert main(["show", "mo", "--storage", str(storage), "--limit", "0", "--sort", "best"]) == 0
    out = capsys.readouterr().out
    assert "f1 (min), f2 (min); constraints mb <= 60" in out
    assert f"pareto front: {len(front)} trials (marked *): {', '.join(map(str, front))}" in out
    cells = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    rows = [cell for cell in cells if cell]
    assert rows[: len(front)] == [f"{i}*" for i in front]  # --sort best: the front first, in its order
    assert sum(r.endswith("*") for r in rows) == len(front)
    assert main(["ls", "--storage", str(storage)]) == 0
    assert f"front: {len(front)} trials" in capsys.readouterr().out


class OneGoal(rung.Random):
    """A searcher that learns one objective (every named one now learns several)."""

    multi_objective = False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"scheduler": "asha"},
            "scheduler=ASHA compares trials by one metric; this run has 2 objectives (f1 (min), f2 (min)): use"
            " rung.MOASHA(...) (multi-objective ASHA) to stop trials early, or scheduler=None (every trial runs to its"
            " end)",
        ),
        (
            {"search": OneGoal()},
            "search=OneGoal learns one objective; this run has 2 objectives (f1 (min), f2 (min)): use search='auto'"
            " (TPE, learning them all as MOTPE, or a GP on a few floats), 'tpe', 'gp', 'random', 'grid' or"
            " rung.OptunaSearch(sampler) (e.g. NSGA-II)",
        ),
        ({"mode": ["min"]}, "mode must be one mode for every objective or a list of 2 (one per metric); got"),
        ({"metric": None, "constraints": {"mb": ("<=", 1)}}, "constraints judges trials by their metric"),
    ],
)
def test_bad_objectives_are_refused_before_anything_is_stored(
    storage: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        run(storage, **kwargs)
    assert not (storage / "mo").exists()


def test_resume_keeps_the_objectives_and_may_change_the_weights(storage: Path) -> None:
    run(storage, num_samples=6, constraints={"mb": ("<=", 60)})
    with pytest.raises(rung.ResumeMismatchError, match=re.escape("was stored with objectives f1 (min), f2 (min);")):
        run(storage, num_samples=8, resume=True, constraints={"mb": ("<=", 70)})
    with pytest.raises(rung.ResumeMismatchError, match=re.escape("got f1 (min), f2 (max); constraints mb <= 60")):
        run(storage, num_samples=8, resume=True, mode=["min", "max"], constraints={"mb": ("<=", 60)})
    with pytest.raises(rung.ResumeMismatchError, match=re.escape("got f1 (min): resume it with the same metric")):
        run(storage, num_samples=8, resume=True, metric="f1", constraints=None)
    resumed = run(storage, num_samples=8, resume=True, constraints={"mb": ("<=", 60)}, scalarize={"f1": 1, "f2": 1})
    assert len(resumed.trials) == 8 and resumed.best is not None


def test_known_results_need_every_objective_and_join_the_front(storage: Path) -> None:
    known = [{"config": {"x": 0.0, "y": 0.0}, "result": {"f1": 0.0, "f2": 0.0, "mb": 1}}]
    with pytest.raises(ValueError, match=re.escape("known[0]['result'] needs a number for the metric 'f2'")):
        run(storage, known=[{"config": {"x": 0.0, "y": 0.0}, "result": {"f1": 0.0}}])
    result = run(storage, known=known, num_samples=4)
    assert [t.id for t in result.pareto_front()] == [1]  # (0, 0) dominates every point of the space


KILLED = textwrap.dedent(
    """
    import math, os, signal, sys
    import rung

    storage, kill = sys.argv[1], sys.argv[2] == "1"

    def train(config):
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 6):
            x, y = config["x"], config["y"]
            g = 1 + 9 * y
            rung.report({"f1": x + 0.01 * step, "f2": g * (1 - math.sqrt(x / g)), "mb": 100 * y + step},
                        checkpoint=step)
            if kill and rung.get_trial_id() == 5 and step == 3:
                os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)

    rung.run(train, {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}, metric=["f1", "f2"], mode="min",
             constraints={"mb": ("<=", 60)}, num_samples=12, max_concurrent=2, search="random", seed=5,
             name="mo", storage=storage, resume=True, verbose=0)
    """
)


def test_fronts_and_feasibility_are_exact_across_a_kill_9(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(KILLED)

    def drive(storage: Path, kill: bool) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        command = [sys.executable, str(script), str(storage), "1" if kill else "0"]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    crashed = drive(tmp_path / "runs", kill=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert drive(tmp_path / "runs", kill=False).returncode == 0
    assert drive(tmp_path / "clean", kill=False).returncode == 0
    resumed, clean = rung.load("mo", storage=tmp_path / "runs"), rung.load("mo", storage=tmp_path / "clean")
    assert resumed.status == clean.status == "FINISHED"
    assert resumed.objectives == clean.objectives == Objectives.of(["f1", "f2"], "min", constraints={"mb": ("<=", 60)})
    assert [t.id for t in resumed.pareto_front()] == [t.id for t in clean.pareto_front()] != []
    assert [(t.config, t.feasible, t.best_metrics["f1"]) for t in resumed.trials] == [  # type: ignore[index]
        (t.config, t.feasible, t.best_metrics["f1"])
        for t in clean.trials  # type: ignore[index]
    ]
    assert any(t.feasible is False for t in clean.trials)
    assert (
        experiment_view(tmp_path / "runs", "mo")["pareto_front"]
        == experiment_view(tmp_path / "clean", "mo")["pareto_front"]
    )


def test_rung_resume_and_to_optuna_read_the_objectives_back(storage: Path) -> None:
    from rung.spec import stored_arguments
    from rung.store.sqlite import Store

    run(storage, num_samples=3, constraints={"mb": ("<=", 60, "monotone")}, scalarize={"f1": 1.0, "f2": 0.5})
    store = Store.read(storage, "mo")
    try:
        experiment = store.experiment()
    finally:
        store.close()
    assert (experiment["metric"], experiment["settings"]["objectives"]["modes"]) == (None, ["min", "min"])
    stored = stored_arguments(experiment, {"space": SPACE, "search": "random", "scheduler": None})
    assert (stored["metric"], stored["mode"]) == (["f1", "f2"], ["min", "min"])
    assert stored["constraints"] == {"mb": ("<=", 60.0, "monotone")}
    assert stored["scalarize"] == {"f1": 1.0, "f2": 0.5}
    pytest.importorskip("optuna")
    study = rung.interop.to_optuna(rung.load("mo", storage=storage), f"sqlite:///{storage}/o.db")
    assert study.metric_names == ["f1", "f2"] and len(study.directions) == 2


def test_plot_pareto_draws_the_front_and_needs_several_objectives(storage: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run(storage, constraints={"mb": ("<=", 60)})
    fig = result.plot_pareto(path=storage / "front.png")
    (ax,) = fig.axes
    sizes = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    front = len(result.pareto_front())
    infeasible = sum(t.feasible is False for t in result.trials)
    assert sizes == {"trials": len(result.trials) - front - infeasible, "infeasible": infeasible,
                     f"pareto front ({front})": front}  # fmt: skip
    assert (storage / "front.png").stat().st_size > 0
    three = rung.run(lambda c: {"a": c["x"], "b": 1 - c["x"], "c": c["x"] ** 2}, {"x": rung.uniform(0, 1)},
                     metric=["a", "b", "c"], num_samples=5, executor="thread", verbose=0, storage=storage,
                     name="three")  # fmt: skip
    assert len(three.plot_pareto().axes) == 3  # one scatter per pair
    single = run(storage, name="one", metric="f1")
    with pytest.raises(ValueError, match=re.escape("plot_pareto needs an experiment with several objectives")):
        single.plot_pareto()


def test_the_live_view_shows_every_objective_and_the_weighted_best(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from rung.progress import RichProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    view = RichProgress("mo", 24, console=console)
    monkeypatch.setattr("rung.api._progress", lambda verbose, name, total: view)
    result = run(storage, verbose=1, scalarize={"f1": 1.0, "f2": 1.0})
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "f1" in text and "f2" in text and "mb" not in text.split("config")[0]
    best = result.best
    assert best is not None and f"{best.id} │ best terminated" in text.replace("┃", "│")


def test_several_objectives_never_reported_together_is_an_error(storage: Path) -> None:
    with pytest.raises(rung.MetricNotReportedError) as error:
        run(storage, fn=lambda c: {"f1": c["x"]}, num_samples=1)
    assert str(error.value) == "metrics ['f1', 'f2'] were (all in one result) never reported; trial 1 reported: f1"


def test_one_plain_metric_is_stored_as_before(storage: Path) -> None:
    """Stores of one metric without constraints keep the layout older rung wrote and reads: the metric
    and mode columns, no `objectives` in the settings (so old stores read and resume as they did)."""
    result = run(storage, metric="f1", mode="min", num_samples=2)
    assert "objectives" not in result.settings
    assert (result.metric, result.mode, result.metrics) == ("f1", "min", ("f1",))
    assert result.objectives == Objectives(("f1",), ("min",))
    resumed = run(storage, metric="f1", mode="min", num_samples=3, resume=True)
    assert len(resumed.trials) == 3 and resumed.best is not None


def test_a_resume_without_search_or_scheduler_keeps_the_parts_the_experiment_began_with(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As stored by a rung whose default ran every trial of several objectives to its end with TPE: a resume
    # that names neither goes on with them (it was a ResumeMismatchError naming the default's new parts).
    first = run(storage, name="old", search="tpe", scheduler=None, num_samples=6)
    assert first.settings["built"]["search"] == "TPE" and first.settings["built"]["scheduler"] == "FIFO"
    with caplog.at_level("INFO", logger="rung"):
        done = run(storage, name="old", search="auto", num_samples=12, resume=True)
    assert "was started with TPE and FIFO; resuming with them" in caplog.text
    assert len(done.trials) == 12 and done.settings["built"]["scheduler"] == "FIFO"
    assert [t.config for t in done.trials[:6]] == [t.config for t in first.trials]
    # What the user names is checked as before.
    with pytest.raises(rung.ResumeMismatchError, match="was stored with search='TPE'; got search='Random'"):
        run(storage, name="old", search="random", num_samples=13, resume=True)
