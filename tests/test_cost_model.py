"""TPE(cost_aware=True): the cost model, and proposals weighed by their predicted cost."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.search._cost_model import MIN_TRIALS, CostModel, rate


def test_rate_is_cost_or_wall_time_per_iteration() -> None:
    assert rate({"cost": 6.0, "time_total_s": 100.0, "training_iteration": 3}) == 2.0
    assert rate({"time_total_s": 10.0, "training_iteration": 5}) == 2.0
    assert rate({"time_total_s": 0.0, "training_iteration": 1}) is None
    assert rate({"cost": float("nan"), "training_iteration": 1}) is None
    assert rate({"loss": 1.0}) is None


def test_the_model_learns_a_log_linear_cost_and_waits_for_enough_trials() -> None:
    rng = np.random.default_rng(0)
    model = CostModel(numeric=2, ordinal_sizes=(), choice_sizes=(3,))
    rows = np.column_stack([rng.random(40), rng.random(40), rng.integers(3, size=40)])
    # Cost per step: e^(3 x0) times 1, 2 or 4 by the choice; x1 plays no part.
    costs = np.exp(3 * rows[:, 0]) * np.array([1.0, 2.0, 4.0])[rows[:, 2].astype(int)]
    for i in range(MIN_TRIALS - 1):
        model.observe(i, rows[i], {"time_total_s": float(costs[i]), "training_iteration": 1})
    assert model.log_cost(rows) is None
    for i in range(MIN_TRIALS - 1, 40):
        model.observe(i, rows[i], {"time_total_s": float(costs[i]) * 2, "training_iteration": 2})
    predicted = model.log_cost(np.array([[0.0, 0.5, 0], [1.0, 0.5, 0], [0.5, 0.0, 2]]))
    assert predicted is not None
    assert predicted[1] - predicted[0] == pytest.approx(3.0, abs=0.3)
    assert predicted[2] == pytest.approx(1.5 + math.log(4.0), abs=0.3)


def slow_or_fast(config: dict[str, Any]) -> Curve:
    """A loss that does not depend on x, and steps that take e^(4x) seconds: x only costs."""
    loss = (config["y"] - 0.5) ** 2
    return Curve([{"loss": loss + 1 / (i + 1)} for i in range(3)], [math.exp(4 * config["x"])] * 3)


def _proposed_x(storage: Path, cost_aware: bool) -> list[float]:
    result = rung.run(
        slow_or_fast, {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}, metric="loss", num_samples=60,
        search=rung.TPE(n_startup=10, cost_aware=cost_aware), scheduler="fifo", seed=3, verbose=0,
        executor=SimulatedExecutor(2, decision_seconds=0.0), storage=storage, name=f"aware-{cost_aware}",
    )  # fmt: skip
    return [t.config["x"] for t in sorted(result.trials, key=lambda t: t.id)[20:]]


def test_cost_aware_tpe_proposes_cheaper_configurations(storage: Path) -> None:
    plain, aware = _proposed_x(storage, False), _proposed_x(storage, True)
    # Once the model is used, the cost-aware proposals lean to cheap x (the loss does not care).
    assert np.median(aware) < 0.3 < np.median(plain)


def test_cost_aware_is_checked() -> None:
    with pytest.raises(TypeError, match=r"TPE needs cost_aware to be True or False; got cost_aware=1"):
        rung.TPE(cost_aware=1)  # type: ignore[arg-type]


def test_cost_aware_tpe_resumed_proposes_what_an_uninterrupted_run_proposed(storage: Path) -> None:
    # The money runs out midway (trials pause), then a resume with more: the searcher is rebuilt by
    # replaying the stored results, costs and all, and goes on as one uninterrupted run would.
    options: dict[str, Any] = {
        "metric": "loss", "num_samples": 40, "scheduler": "fifo", "seed": 4, "verbose": 0,
        "storage": storage, "prices": {"cpu": 3600.0},
    }  # fmt: skip
    space = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}

    def run(name: str, cost: float, resume: bool = False) -> rung.ExperimentResult:
        return rung.run(
            slow_or_fast, space, search=rung.TPE(n_startup=8, cost_aware=True), name=name, resume=resume,
            executor=SimulatedExecutor(2, decision_seconds=0.0), budget={"cost": cost}, **options,
        )  # fmt: skip

    whole = run("whole", 1e9)
    cut = run("cut", 60.0)
    assert len(cut.trials) < 40
    resumed = run("cut", 1e9, resume=True)
    assert [t.config for t in resumed.trials] == [t.config for t in whole.trials]
    assert resumed.total_cost == pytest.approx(whole.total_cost)
