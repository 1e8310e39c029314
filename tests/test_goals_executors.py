"""Several objectives, constraints and money together, on every executor: the front holds only feasible,
non-dominated trials, every result is priced and the experiment's total is their sum, and a cost budget
pauses the trials that a resume with more money continues to their end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.types import Status

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the Ray cluster fixture; the test that uses it is marked `ray`

SPACE = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}
STEPS = 3


def _step(config: dict[str, Any], step: int) -> dict[str, float]:
    """ZDT1's two objectives (f1 falling with the steps) and a model size to constrain."""
    x, y = config["x"], config["y"]
    g = 1 + 9 * y
    return {"f1": x + 1 / step, "f2": g * (1 - math.sqrt(x / g)), "mb": 100 * y}


def zdt1_steps(config: dict[str, Any]) -> None:
    """Three checkpointed steps of `_step` (module level: Ray's actors import it by name)."""
    start = rung.get_checkpoint() or 0
    for step in range(start + 1, STEPS + 1):
        rung.report(_step(config, step), checkpoint=step)


def zdt1_curve(config: dict[str, Any]) -> Curve:
    """The same steps for the simulated executor, 10 s each."""
    return Curve([_step(config, step) for step in range(1, STEPS + 1)], [10.0] * STEPS)


def _executor(name: str) -> Any:
    if name == "simulated":
        return SimulatedExecutor(workers=2, decision_seconds=0.0)
    if name == "ray":
        from rung.executors.ray import RayExecutor

        return RayExecutor(capacity=2)
    return name


def _run(storage: Path, executor: str, budget: float, resume: bool = False) -> rung.ExperimentResult:
    fn = zdt1_curve if executor == "simulated" else zdt1_steps
    return rung.run(
        fn, SPACE, metric=["f1", "f2"], mode="min", constraints={"mb": ("<=", 60)},
        prices={"cpu": 3.6}, budget={"cost": budget}, search="random", scheduler="fifo", num_samples=8, seed=5,
        max_concurrent=2, executor=_executor(executor), name="goals", storage=storage, resume=resume, verbose=0,
    )  # fmt: skip


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(p <= q for p, q in zip(a, b, strict=True)) and a != b


def _check(storage: Path, executor: str) -> None:
    first = _run(storage, executor, budget=1e-9)
    # The first priced result spends the tiny budget: nothing more starts, what runs is paused.
    assert not any(t.status is Status.TERMINATED for t in first.trials)
    assert any(t.status is Status.PAUSED for t in first.trials)
    spent = first.total_cost
    assert spent is not None and spent > 0

    done = _run(storage, executor, budget=1e9, resume=True)
    assert len(done.trials) == 8 and all(t.status is Status.TERMINATED for t in done.trials)
    for trial in done.trials:
        history = done.history(trial.id)
        assert [r["training_iteration"] for r in history] == list(range(1, STEPS + 1))
        costs = [r["cost"] for r in history]
        assert all(c > 0 for c in costs) and costs == sorted(costs)  # a trial's cost only grows
    assert done.total_cost is not None and done.total_cost >= spent
    assert done.total_cost == pytest.approx(sum(t.metrics["cost"] for t in done.trials))

    feasible = {t.id: (t.metrics["f1"], t.metrics["f2"]) for t in done.trials if t.metrics["mb"] <= 60}
    assert [t.feasible for t in done.trials] == [t.id in feasible for t in done.trials]
    assert feasible and len(feasible) < len(done.trials)  # seed 5 draws both kinds
    front = {i for i, p in feasible.items() if not any(_dominates(q, p) for q in feasible.values())}
    assert {t.id for t in done.pareto_front()} == front
    assert list(done.dataframe()["pareto"]) == [t.id in front for t in done.trials]


@pytest.mark.parametrize("executor", ["process", "thread", "simulated"])
def test_fronts_constraints_and_money_on_each_local_executor(storage: Path, executor: str) -> None:
    _check(storage, executor)


def test_fronts_constraints_and_money_on_ray(ray_cluster: Cluster, storage: Path) -> None:
    _check(storage, "ray")
