"""The simulated executor: recorded curves replayed on a simulated clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tuner import PauseAtTwo

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.types import Status


def curve(config: dict[str, Any]) -> Curve:
    """A made-up table: loss falls with epochs, faster for x near 0.3; each epoch takes 60 s + 10 s * x."""
    steps = 9
    return Curve(
        [{"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)} for i in range(steps)],
        [60.0 + 10.0 * config["x"]] * steps,
    )


def _run(storage: Path, name: str, **kwargs: Any) -> rung.ExperimentResult:
    options: dict[str, Any] = {"metric": "loss", "num_samples": 12, "verbose": 0, "seed": 1}
    options.update(kwargs)
    return rung.run(curve, {"x": rung.uniform(0, 1)}, name=name, storage=storage, **options)


def test_trials_report_at_simulated_times(storage: Path) -> None:
    result = _run(storage, "sim", executor=SimulatedExecutor(workers=3, decision_seconds=0.0), scheduler="fifo")
    assert len(result.trials) == 12 and all(t.status is Status.TERMINATED and t.iteration == 9 for t in result.trials)
    ends = []
    for trial in result.trials:
        history = result.history(trial.id)
        step = 60.0 + 10.0 * trial.config["x"]
        assert [r["time_this_iter_s"] for r in history] == [step] * 9
        assert history[-1]["time_total_s"] == pytest.approx(9 * step)
        ends.append(history[-1]["timestamp"])
    # 12 trials of about 9-10 simulated minutes on 3 workers: about 40 simulated minutes in all.
    assert 36 * 60 <= max(ends) <= 40 * 60


def test_deterministic_for_a_seed_with_fixed_decision_time(storage: Path) -> None:
    runs = [
        _run(storage, f"d{i}", executor=SimulatedExecutor(workers=4, decision_seconds=0.001), scheduler=PauseAtTwo())
        for i in range(2)
    ]
    histories = [[r.history(t.id) for t in r.trials] for r in runs]
    assert histories[0] == histories[1]


def test_time_budget_is_simulated_seconds(storage: Path) -> None:
    result = _run(
        storage,
        "budget",
        executor=SimulatedExecutor(workers=2, decision_seconds=0.0),
        num_samples=100,
        time_budget_s=3600.0,
        scheduler="fifo",
    )
    # 2 workers for one simulated hour: at most 2 * 3600 / 60 = 120 steps in all, far fewer than 100 trials x 9.
    steps = sum(t.iteration for t in result.trials)
    assert 100 <= steps <= 120
    assert max(t.metrics["timestamp"] for t in result.trials) <= 3600.0 + 70.0


def test_pause_and_resume_continue_the_curve(storage: Path) -> None:
    result = _run(storage, "pause", executor="simulated", max_concurrent=2, scheduler=PauseAtTwo(), num_samples=4)
    for trial in result.trials:
        history = result.history(trial.id)
        assert [r["training_iteration"] for r in history] == list(range(1, 10))
        assert [r["loss"] for r in history] == [m["loss"] for m in curve(trial.config).metrics]


def test_measured_decision_time_is_charged(storage: Path) -> None:
    def slow_decision(trial_id: int, result: dict[str, Any]) -> bool:
        import time

        time.sleep(0.01)  # the driver's own work, which the simulated clock must count
        return False

    fast = _run(
        storage, "fast", executor=SimulatedExecutor(workers=1, decision_seconds=0.0), num_samples=2, scheduler="fifo"
    )
    slow = _run(
        storage, "slow", executor=SimulatedExecutor(workers=1), num_samples=2, stop=slow_decision, scheduler="fifo"
    )
    end = [max(t.metrics["timestamp"] for t in r.trials) for r in (fast, slow)]
    # 18 reports, each decided in at least 10 ms; the last decision comes after the last report.
    assert end[1] - end[0] >= 17 * 0.01


def test_bad_simulated_objective(storage: Path) -> None:
    with pytest.raises(TypeError, match="^a simulated objective must return a rung Curve; got dict$"):
        rung.run(lambda c: {"loss": 1.0}, {}, metric="loss", executor="simulated", storage=storage, verbose=0)
    with pytest.raises(ValueError, match="^SimulatedExecutor needs workers >= 1; got workers=0$"):
        SimulatedExecutor(workers=0)
    with pytest.raises(ValueError, match="^Curve needs one duration per step; got 2 metrics and 1 seconds$"):
        Curve([{}, {}], [1.0])
