"""Static plots: the figures' content (lines, labels, bars), not only that a file was written."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.plots import plot_best_so_far, plot_curves, plot_importance, plot_parallel, plot_schedules, plot_timeline

pytest.importorskip("matplotlib")
from matplotlib.colors import to_hex


def _label(line: Any) -> str:
    return str(line.get_label())


def _xs(line: Any) -> list[float]:
    return [float(v) for v in line.get_xdata()]


def _ys(line: Any) -> list[float]:
    return [float(v) for v in line.get_ydata()]


def curve(config: dict[str, Any]) -> None:
    for i in range(9):
        rung.report({"loss": 10 * (config["x"] - 0.3) ** 2 + 1 / (i + 1)}, checkpoint=i)


def trainable(config: dict[str, Any]) -> None:
    start = rung.get_checkpoint() or 0
    for i in range(start, 8):
        rung.report({"acc": config["lr"] * (i + 1)}, checkpoint=i + 1)


@pytest.fixture
def asha(storage: Path) -> rung.ExperimentResult:
    return rung.run(
        curve,
        {"x": rung.grid([0.3, 0.9, 0.35, 0.5]), "kind": rung.grid(["a", "b"])},
        metric="loss",
        scheduler=rung.ASHA(max_t=9, grace_period=1, reduction_factor=3),
        max_concurrent=2,
        executor="thread",
        name="asha",
        storage=storage,
        verbose=0,
    )


def test_plot_curves_draws_a_line_per_trial_and_marks_milestones(asha: rung.ExperimentResult, tmp_path: Path) -> None:
    png = tmp_path / "curves.png"
    fig = plot_curves(asha, path=png)
    ax = fig.axes[0]
    lines = ax.get_lines()
    trials = [line for line in lines if _label(line).startswith("trial ")]
    milestones = [line for line in lines if line.get_linestyle() == "--"]
    assert sorted(_label(line) for line in trials) == sorted(f"trial {t.id}" for t in asha.trials)
    assert sorted(_xs(line)[0] for line in milestones) == [1.0, 3.0, 9.0]
    stopped = {f"trial {t.id}" for t in asha.trials if t.status is rung.Status.STOPPED}
    assert stopped, "ASHA stopped no trial: the grey case is not exercised"
    assert {_label(line) for line in trials if line.get_color() == "#bbbbbb"} == stopped
    for line in trials:
        trial = asha.trials[int(_label(line).split()[1]) - 1]
        assert _ys(line) == [r["loss"] for r in asha.history(trial.id)]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("training_iteration", "loss")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_timeline_has_a_bar_per_running_stretch_and_a_legend(asha: rung.ExperimentResult) -> None:
    fig = plot_timeline(asha)
    ax = fig.axes[0]
    bars: list[Any] = list(ax.patches)
    assert len(bars) == len(asha.trials)  # no pauses under ASHA "stop": one stretch per trial
    # The tuner's slots: the first two trials start together, in slots 0 and 1.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["slot 0", "slot 1"]
    assert {round(p.get_y() + p.get_height() / 2) for p in bars} == {0, 1}
    assert sorted(int(t.get_text()) for t in ax.texts) == [t.id for t in asha.trials]
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_title().get_text() == "training_iteration reached"
    assert [t.get_text() for t in legend.get_texts()] == ["< 1", "≥ 1", "≥ 3", "≥ 9", "failed"]
    swatches = [to_hex(h.get_facecolor()) for h in legend.legend_handles]  # type: ignore[union-attr]
    # Each bar has the colour of the highest milestone its trial reached (all passed the first).
    reached = {t.id: sum(1 for m in (1, 3, 9) if m <= t.iteration) for t in asha.trials}
    by_trial = {int(text.get_text()): bar for text, bar in zip(ax.texts, bars, strict=True)}
    assert {i: to_hex(bar.get_facecolor()) for i, bar in by_trial.items()} == {
        i: swatches[r] for i, r in reached.items()
    }
    assert len({to_hex(bar.get_facecolor()) for bar in bars}) > 1  # ASHA stopped some trials early


def failing(config: dict[str, Any]) -> None:
    if config["x"] > 0.5:
        raise RuntimeError("fails before reporting")
    rung.report({"loss": config["x"]})


def test_plot_timeline_shows_a_trial_that_failed_before_reporting(storage: Path) -> None:
    result = rung.run(failing, {"x": rung.grid([0.1, 0.9, 0.2])}, metric="loss", max_concurrent=1,
                      executor="thread", name="fails", storage=storage, verbose=0)  # fmt: skip
    ax = plot_timeline(result).axes[0]
    bars: list[Any] = list(ax.patches)
    assert [text.get_text().strip() for text in ax.texts] == ["1", "2", "3"]
    assert [to_hex(bar.get_facecolor()) for bar in bars] == ["#4a78c2", "#c2453f", "#4a78c2"]
    assert bars[1].get_width() > 0  # short, but drawn
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["ran", "failed"]


def test_plot_parallel_has_an_axis_per_varying_parameter_and_a_line_per_trial(asha: rung.ExperimentResult) -> None:
    fig = plot_parallel(asha)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["kind\n(categories)", "x", "loss\n(log)"]
    polylines = [line for line in ax.get_lines() if len(_xs(line)) == 3]
    assert len(polylines) == len(asha.trials)


def test_plot_schedules_follows_pbt_changes(storage: Path) -> None:
    result = rung.run(
        trainable,
        {"lr": rung.grid([0.1, 0.2, 0.3, 0.4])},
        metric="acc",
        mode="max",
        scheduler=rung.PBT(perturbation_interval=2, hyperparam_mutations={"lr": rung.uniform(0.05, 0.5)}, seed=1),
        max_concurrent=4,
        executor="thread",
        name="pbt",
        storage=storage,
        verbose=0,
    )
    fig = plot_schedules(result)
    ax = fig.axes[0]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    changed = [t.id for t in result.trials if len(result.schedule(t.id)) > 1]
    assert sorted(_label(line) for line in solid) == sorted(f"trial {t.id}" for t in result.trials)
    clones = [e for i in changed for e in result.schedule(i)[1:] if e.from_trial is not None]
    assert len(dashed) == len(clones) > 0
    assert changed  # PBT changed some trial's lr
    for line in solid:
        trial_id = int(_label(line).split()[1])
        entries = result.schedule(trial_id)
        assert _ys(line)[::2] == [e.config["lr"] for e in entries]  # type: ignore[index]
    assert ax.get_ylabel() == "lr"
    with pytest.raises(ValueError, match=r"^plot_schedules: param must be one of \['lr'\]; got param='momentum'$"):
        plot_schedules(result, "momentum")


def test_plots_without_metric_or_schedule_say_why(storage: Path) -> None:
    result = rung.run(curve, {"x": 0.3}, executor="thread", name="plain", storage=storage, verbose=0)
    with pytest.raises(ValueError, match=r"^plot_curves needs an experiment with a metric; 'plain' has metric=None$"):
        plot_curves(result)
    with pytest.raises(ValueError, match=r"^plot_schedules: no trial of 'plain' changed a numeric hyperparameter$"):
        plot_schedules(result)


def wide(config: dict[str, Any]) -> None:
    rung.report({"loss": 1 + abs(math.log10(config["lr"]) + 3) + (0.5 if config["act"] is None else 0.0)})


def test_plot_parallel_has_log_ticks_labelled_categories_none_and_the_best_trials(storage: Path) -> None:
    space = {"lr": rung.loguniform(1e-5, 1e-1), "act": rung.choice(["relu", None])}
    result = rung.run(wide, space, metric="loss", num_samples=12, search="random", seed=3, executor="thread",
                      name="wide", storage=storage, verbose=0)  # fmt: skip
    ax = plot_parallel(result).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["act\n(categories)", "lr\n(log)", "loss"]
    labels = [t.get_text() for t in ax.texts]
    assert {"relu", "None"} <= set(labels)  # a choice holding None keeps it as a value
    assert {"1e-05", "0.0001", "0.001", "0.01", "0.1"} <= set(labels)
    best = min(result.trials, key=lambda t: t.best_metrics["loss"])  # type: ignore[index]
    legend = ax.get_legend()
    assert legend is not None and legend.get_texts()[0].get_text() == f"best trial ({best.id})"
    thick = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    assert len(thick) == 1
    # On the log axis, the best trial's lr sits where log10(lr) falls between 1e-5 and 1e-1.
    lr = best.config["lr"]
    assert _ys(thick[0])[1] == pytest.approx((math.log10(lr) + 5) / 4, abs=1e-4)


def product(config: dict[str, Any]) -> None:
    rung.report({"loss": (config["a"] - 0.5) * (config["b"] - 0.5)})


def test_plot_importance_shows_both_measures_most_important_first(storage: Path) -> None:
    space = {"a": rung.uniform(0, 1), "b": rung.uniform(0, 1), "c": rung.uniform(0, 1)}
    result = rung.run(product, space, metric="loss", num_samples=60, search="random", seed=1, executor="thread",
                      name="imp", storage=storage, verbose=0)  # fmt: skip
    ax = plot_importance(result).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "c"  # the last row: c does not matter
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "alone",
        "with interactions (GP, Sobol total)",
        "of which interactions",
    ]
    assert len(ax.patches) == 9  # three bars (alone, by itself, through interactions) per hyperparameter


def recorded(config: dict[str, Any]) -> Curve:
    return Curve([{"loss": config["x"] + 1 / (i + 1)} for i in range(4)], [90.0] * 4, checkpoints=False)


@pytest.fixture
def simulated(storage: Path) -> rung.ExperimentResult:
    """Four trials of six simulated minutes each on two workers: twelve minutes."""
    return rung.run(recorded, {"x": rung.grid([0.4, 0.1, 0.3, 0.2])}, metric="loss", search="grid",
                    executor=SimulatedExecutor(workers=2, decision_seconds=0.0), name="sim", storage=storage,
                    verbose=0)  # fmt: skip


def test_plot_best_so_far_has_a_time_axis_in_minutes_and_names_the_best_trial(simulated: rung.ExperimentResult) -> None:
    ax = plot_best_so_far(simulated).axes[0]
    assert ax.get_xlabel() == "time since the experiment started (min)"
    legend = ax.get_legend()
    assert legend is not None and legend.get_texts()[0].get_text() == "best loss so far: 0.35, trial 2"
    step = ax.get_lines()[0]
    assert _xs(step)[-1] == pytest.approx(6.0)  # trial 2 ended 6 simulated minutes in: 4 steps of 90 s
    assert _ys(step)[-1] == pytest.approx(0.35)


def test_plot_curves_draws_the_best_trial_thick_and_says_so(simulated: rung.ExperimentResult) -> None:
    ax = plot_curves(simulated).axes[0]
    thick = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    assert [_label(line) for line in thick] == ["trial 2"]
    legend = ax.get_legend()
    assert legend is not None and legend.get_texts()[0].get_text() == "best trial (2)"


def test_plot_timeline_is_in_minutes_and_as_tall_as_its_slots(simulated: rung.ExperimentResult) -> None:
    fig = plot_timeline(simulated)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time since the first trial started (min)"
    bars: list[Any] = list(ax.patches)
    assert max(p.get_x() + p.get_width() for p in bars) == pytest.approx(12.0)  # not 720 "seconds"
    assert fig.get_figheight() < 2.5  # two slots: no large empty band
