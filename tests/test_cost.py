"""Money: each trial's cost (resources x wall time x prices), the cost budget, and money spent kept
across a resume and a kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from test_simulated import curve

import rung
from rung.cost import Budget, Prices, Spending
from rung.executors.simulated import SimulatedExecutor
from rung.store import overview, views
from rung.store.snapshot import Snapshot
from rung.store.sqlite import Store
from rung.types import Status

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the Ray cluster fixture; the tests that use it are marked `ray`

SPACE = {"x": rung.uniform(0, 1)}


def _sim(storage: Path, name: str, **kwargs: Any) -> rung.ExperimentResult:
    options: dict[str, Any] = {"metric": "loss", "num_samples": 12, "verbose": 0, "seed": 1, "scheduler": "fifo"}
    options.update(kwargs)
    executor = SimulatedExecutor(workers=3, decision_seconds=0.0)
    return rung.run(curve, SPACE, executor=executor, name=name, storage=storage, **options)


def _expected(trial: rung.Trial, per_hour: float) -> float:
    """The cost of one of `curve`'s trials run to its end: 9 steps of 60 + 10 x seconds."""
    return 9 * (60.0 + 10.0 * trial.config["x"]) * per_hour / 3600.0


# Prices and budgets, checked.
@pytest.mark.parametrize(
    ("prices", "error", "message"),
    [
        ([0.04], TypeError, "prices must be a dict {resource: price per resource-hour}"),
        (
            {"cpu": -1},
            ValueError,
            "prices['cpu'] must be a finite number >= 0 (money per resource-hour); got prices['cpu']=-1",
        ),
        ({"gpu": float("nan")}, ValueError, "prices['gpu'] must be a finite number >= 0"),
        ({"cpu": True}, ValueError, "prices['cpu'] must be a finite number >= 0"),
        ({"tpu": 1.0}, ValueError, "prices takes the resources trials hold on this executor ('cpu', 'gpu'; custom"),
        (
            {"node_types": {"a100": {"gpu": 4}}},
            ValueError,
            "prices['node_types'] prices Ray's node types; it needs executor=",
        ),
    ],
)
def test_prices_are_checked(prices: Any, error: type[Exception], message: str, storage: Path) -> None:
    with pytest.raises(error) as info:
        rung.run(curve, SPACE, metric="loss", prices=prices, storage=storage, verbose=0)
    assert message in str(info.value)
    assert not storage.exists()  # nothing stored for a run that could not start


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"budget": {"cost": 5}}, ValueError, "budget['cost'] needs prices= (what a resource-hour costs"),
        (
            {"budget": {"cost": 0}, "prices": {"cpu": 1}},
            ValueError,
            "budget['cost'] must be a finite number > 0 or None; got",
        ),
        ({"budget": {"money": 5}}, ValueError, "budget takes the keys 'cost' and 'time_s'; got budget={'money': 5}"),
        ({"budget": 5}, TypeError, "budget must be a dict like {'cost': 20.0, 'time_s': 3600}; got 5"),
        (
            {"budget": {"time_s": 10}, "time_budget_s": 20},
            ValueError,
            "budget['time_s'] and time_budget_s are the same budget",
        ),
        ({"budget": {"time_s": -1}}, ValueError, "budget['time_s'] must be a finite number > 0 or None; got -1"),
    ],
)
def test_budgets_are_checked(kwargs: dict[str, Any], error: type[Exception], message: str, storage: Path) -> None:
    with pytest.raises(error) as info:
        rung.run(curve, SPACE, metric="loss", storage=storage, verbose=0, **kwargs)
    assert message in str(info.value)


def test_budget_time_is_time_budget_s() -> None:
    assert Budget.of({"time_s": 60}, None, None) == Budget(None, 60.0) == Budget.of(None, 60, None)
    assert Budget.of({"time_s": 60}, 60, None).time_s == 60.0  # the same, given twice


def test_rate_sums_resources_times_prices_and_node_types_override() -> None:
    prices = Prices.of({"cpu": 0.04, "gpu": 2.5, "node_types": {"a100": {"gpu": 4.0}}}, ray=True)
    assert prices is not None
    assert prices.rate({"cpu": 4, "gpu": 1}) == pytest.approx(2.66)
    assert prices.rate({"cpu": 4, "gpu": 1}, "a100") == pytest.approx(4.16)
    assert prices.rate({"cpu": 4, "gpu": 1, "big_disk": 1}, "unpriced-type") == pytest.approx(2.66)


def test_spending_goes_on_from_the_latest_cost_not_the_checkpoint() -> None:
    spending = Spending(Prices({"cpu": 3600.0}), {"cpu": 1.0})  # 1 per second
    spending.launched(1, 0.0)
    assert spending.charge(1, {"time_total_s": 10.0}) == 10.0
    assert spending.charge(1, {"time_total_s": 30.0}) == 30.0
    spending.stopped(1)
    # Started again from a checkpoint at 10 s: the 20 s after it were paid for already.
    spending.launched(1, 10.0)
    assert spending.charge(1, {"time_total_s": 15.0}) == 35.0
    assert spending.total == 35.0


# A run's costs.
def test_every_result_carries_its_trials_cost_and_the_experiment_its_total(storage: Path) -> None:
    result = _sim(storage, "priced", prices={"cpu": 0.04})
    for trial in result.trials:
        history = result.history(trial.id)
        costs = [r["cost"] for r in history]
        assert costs == sorted(costs) and costs[-1] == pytest.approx(_expected(trial, 0.04))
        assert costs[0] == pytest.approx(history[0]["time_total_s"] * 0.04 / 3600)
    assert result.total_cost == pytest.approx(sum(_expected(t, 0.04) for t in result.trials))
    listed = views.list_view(storage)  # summed by SQLite
    assert listed[0]["total_cost"] == pytest.approx(result.total_cost)
    store = Store.read(storage, "priced")
    try:
        assert views.summary(store)["total_cost"] == pytest.approx(result.total_cost)
    finally:
        store.close()
    spent = views.experiment_view(storage, "priced")["spent_so_far"]
    assert len(spent) == 12 * 9 and spent[-1][1] == pytest.approx(result.total_cost)
    assert [p[1] for p in spent] == sorted(p[1] for p in spent)
    copy = Snapshot(storage, "priced")  # the dashboard's experiment page, read by SQLite
    try:
        drawn = overview.overview(copy, "priced")
    finally:
        copy.close()
    assert np.allclose(drawn["spent_so_far"], spent)
    assert drawn["summary"]["total_cost"] == pytest.approx(spent[-1][1])


def test_without_prices_there_is_no_cost(storage: Path) -> None:
    result = _sim(storage, "free", num_samples=2)
    assert result.total_cost is None and "cost" not in result.history(1)[-1]
    assert views.experiment_view(storage, "free")["spent_so_far"] == []


def test_cost_budget_pauses_trials_and_a_larger_budget_continues_them(storage: Path) -> None:
    whole = _sim(storage, "whole", prices={"cpu": 3.6})
    spent = _sim(storage, "budget", prices={"cpu": 3.6}, budget={"cost": 3.0})
    # Money ran out after 3 of 12 trials: the running ones paused at their checkpoints, none started.
    assert 3.0 <= spent.total_cost < whole.total_cost  # type: ignore[operator]
    paused = [t for t in spent.trials if t.status is Status.PAUSED]
    assert paused and all(0 < t.iteration < 9 for t in paused)
    assert len(spent.trials) < 12
    assert spent.settings["budget"] == {"cost": 3.0}
    # A resume with the same budget spends nothing more.
    again = _sim(storage, "budget", prices={"cpu": 3.6}, budget={"cost": 3.0}, resume=True)
    assert again.total_cost == spent.total_cost
    assert [(t.id, t.status, t.iteration) for t in again.trials] == [
        (t.id, t.status, t.iteration) for t in spent.trials
    ]
    # A larger budget (no ResumeMismatchError) continues the paused trials where they were.
    more = _sim(storage, "budget", prices={"cpu": 3.6}, budget={"cost": 100.0}, resume=True)
    assert all(t.status is Status.TERMINATED and t.iteration == 9 for t in more.trials) and len(more.trials) == 12
    for trial in paused:
        assert [r["training_iteration"] for r in more.history(trial.id)] == list(range(1, 10))
    # What the interrupted run spent counts, and nothing twice: the same money as one run.
    assert more.total_cost == pytest.approx(whole.total_cost)


def test_a_trial_without_checkpoints_ends_when_the_money_is_spent(storage: Path) -> None:
    def no_checkpoints(config: dict[str, Any]) -> Any:
        plain = curve(config)
        return type(plain)(plain.metrics, plain.seconds, checkpoints=False)

    executor = SimulatedExecutor(workers=3, decision_seconds=0.0)
    result = rung.run(
        no_checkpoints, SPACE, metric="loss", num_samples=12, verbose=0, seed=1, scheduler="fifo", executor=executor,
        prices={"cpu": 3.6}, budget={"cost": 3.0}, storage=storage, name="plain",
    )  # fmt: skip
    assert not [t for t in result.trials if t.status is Status.PAUSED]
    assert {t.status for t in result.trials} == {Status.TERMINATED}


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_cost_budget_on_real_executors_pauses_and_resumes_from_checkpoints(storage: Path, executor: str) -> None:
    def train(config: dict[str, Any]) -> None:
        start = rung.get_checkpoint() or 0
        for step in range(start + 1, 6):
            rung.report({"loss": config["x"] / step}, checkpoint=step)

    options: dict[str, Any] = {
        "metric": "loss", "num_samples": 4, "max_concurrent": 2, "executor": executor, "verbose": 0,
        "scheduler": "fifo", "search": "random", "storage": storage, "name": "threads", "prices": {"cpu": 1.0},
    }  # fmt: skip
    # Any wall time costs more than this: the first report spends the budget.
    first = rung.run(train, SPACE, budget={"cost": 1e-12}, **options)
    assert first.total_cost is not None and first.total_cost > 1e-12
    assert not any(t.status is Status.TERMINATED for t in first.trials)
    assert any(t.status is Status.PAUSED for t in first.trials)
    done = rung.run(train, SPACE, budget={"cost": 1e6}, resume=True, **options)
    assert [t.status for t in done.trials] == [Status.TERMINATED] * 4
    for trial in done.trials:
        history = done.history(trial.id)
        assert [r["training_iteration"] for r in history] == [1, 2, 3, 4, 5]
        assert [r["cost"] for r in history] == sorted(r["cost"] for r in history)
    assert done.total_cost == pytest.approx(sum(t.metrics["cost"] for t in done.trials))
    assert done.total_cost >= first.total_cost  # type: ignore[operator]


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import rung

    storage, kill_at = sys.argv[1], int(sys.argv[2])
    budget = {"cost": float(sys.argv[3])} if len(sys.argv) > 3 else None

    def train(config):
        checkpoint = rung.get_checkpoint()
        start = 0 if checkpoint is None else checkpoint + 1
        for step in range(start, 8):
            rung.report({"loss": (config["x"] - 0.5) ** 2 + 1 / (step + 1)}, checkpoint=step)
            if kill_at and rung.get_trial_id() == 3 and step + 1 == kill_at:
                os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)

    rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=5, max_concurrent=2, name="money",
             storage=storage, resume=True, seed=3, verbose=0, search="random", prices={"cpu": 3600.0},
             budget=budget)
    """
)


def _costs(storage: Path) -> dict[int, list[tuple[int, float]]]:
    """Each trial's (iteration, cost) in the order stored."""
    with sqlite3.connect(storage / "money" / "rung.db") as conn:
        rows = conn.execute("SELECT trial_id, data FROM results ORDER BY seq").fetchall()
    out: dict[int, list[tuple[int, float]]] = {}
    for trial_id, data in rows:
        result = json.loads(data)
        out.setdefault(trial_id, []).append((result["training_iteration"], result["cost"]))
    return out


def test_money_spent_before_a_kill_counts_after_the_resume(tmp_path: Path) -> None:
    script, storage = tmp_path / "driver.py", tmp_path / "runs"
    script.write_text(KILLED)
    run = [sys.executable, str(script), str(storage)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(rung.__file__).parents[1]), *sys.path])}
    crashed = subprocess.run([*run, "4"], capture_output=True, text=True, timeout=120, env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    before = _costs(storage)
    spent_before = rung.load("money", storage=storage).total_cost
    assert spent_before == pytest.approx(sum(costs[-1][1] for costs in before.values()))
    resumed = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=120, env=env)
    assert resumed.returncode == 0, resumed.stderr
    after = _costs(storage)
    result = rung.load("money", storage=storage)
    assert [t.status for t in result.trials] == [Status.TERMINATED] * 5
    for trial_id, costs in before.items():
        # A trial started again goes on from its latest cost (the money it spent before the kill).
        new = [cost for point, cost in after[trial_id] if (point, cost) not in costs]
        assert all(cost >= costs[-1][1] for cost in new), (trial_id, costs, after[trial_id])
        assert after[trial_id][-1][1] >= costs[-1][1]
    assert result.total_cost == pytest.approx(sum(costs[-1][1] for costs in after.values()))
    assert result.total_cost >= spent_before  # type: ignore[operator]


def test_a_kill_then_a_spent_budget_holds_the_interrupted_trials_until_more_money(tmp_path: Path) -> None:
    script, storage = tmp_path / "driver.py", tmp_path / "runs"
    script.write_text(KILLED)
    run = [sys.executable, str(script), str(storage)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(rung.__file__).parents[1]), *sys.path])}
    crashed = subprocess.run([*run, "4"], capture_output=True, text=True, timeout=120, env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    before = _costs(storage)
    # Resumed with less money than was spent already: nothing runs, and the trials the kill cut
    # short wait, paused, instead of restarting.
    held = subprocess.run([*run, "0", "1e-9"], capture_output=True, text=True, timeout=120, env=env)
    assert held.returncode == 0, held.stderr
    assert _costs(storage) == before
    paused = rung.load("money", storage=storage)
    assert paused.status == "FINISHED" and Status.PAUSED in {t.status for t in paused.trials}
    assert not {t.status for t in paused.trials} & {Status.RUNNING, Status.PENDING}
    # More money: they go on from their checkpoints, and every trial runs.
    done = subprocess.run([*run, "0", "1e9"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    result = rung.load("money", storage=storage)
    assert [t.status for t in result.trials] == [Status.TERMINATED] * 5
    assert all([i for i, _ in costs][-1] == 8 for costs in _costs(storage).values())


# Where the money is shown.
def test_ls_and_show_say_the_money_spent(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rung.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    spent = _sim(storage, "priced", prices={"cpu": 3.6}, budget={"cost": 3.0}).total_cost
    _sim(storage, "free", num_samples=2)
    assert main(["ls", "--storage", str(storage)]) == 0
    listed = capsys.readouterr().out
    assert "spent" in listed and f"{spent:.2f}" in listed
    assert main(["show", "priced", "--storage", str(storage)]) == 0
    assert f"spent: {spent:.4g} of a budget of 3\n" in capsys.readouterr().out
    assert main(["show", "free", "--storage", str(storage)]) == 0
    assert "spent" not in capsys.readouterr().out


def test_the_live_view_shows_the_money_spent_of_the_budget() -> None:
    import io

    from rich.console import Console

    from rung.progress import RichProgress
    from rung.status import TuningStatus

    console = Console(file=io.StringIO(), width=200)
    view = RichProgress("priced", 4, console=console)
    view.close(TuningStatus("loss", "min", {Status.RUNNING: 2}, 1.0, (), None, cost=1.2345, cost_budget=20.0))
    view.close(TuningStatus("loss", "min", {Status.RUNNING: 2}, 1.0, (), None))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "spent 1.23 of 20.00" in shown and shown.count("spent") == 1


def test_the_tuners_status_carries_the_money_spent(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rung import api
    from rung.status import TuningStatus
    from rung.tuner import Progress

    seen: list[TuningStatus] = []

    class Kept(Progress):
        def close(self, status: TuningStatus) -> None:
            seen.append(status)

    monkeypatch.setattr(api, "_progress", lambda *args: Kept())
    result = _sim(storage, "status", prices={"cpu": 3.6}, budget={"cost": 50.0}, num_samples=3)
    assert seen[0].cost == pytest.approx(result.total_cost) and seen[0].cost_budget == 50.0


def test_rung_resume_takes_a_larger_cost_budget(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rung.cli import main

    options: dict[str, Any] = {"metric": "loss", "num_samples": 6, "verbose": 0, "seed": 1, "scheduler": "fifo"}
    first = rung.run(
        curve, SPACE, executor="simulated", prices={"cpu": 3.6}, budget={"cost": 1.0}, name="cli", storage=storage,
        **options,
    )  # fmt: skip
    assert any(t.status is Status.PAUSED for t in first.trials)
    assert main(["resume", "cli", "--storage", str(storage), "--budget-cost", "100", "--verbose", "0"]) == 0
    done = rung.load("cli", storage=storage)
    assert [t.status for t in done.trials] == [Status.TERMINATED] * 6
    assert done.settings["budget"] == {"cost": 100.0} and done.settings["prices"] == {"cpu": 3.6}
    with pytest.raises(SystemExit):
        main(["resume", "cli", "--storage", str(storage), "--budget-cost", "-1"])
    assert "argument --budget-cost: needs a finite number > 0; got -1" in capsys.readouterr().err


def on_a_node(config: dict[str, Any]) -> None:
    """Reports the type of the node it runs on (module level: Ray's actors import it by name)."""
    import ray

    group = ray.get_runtime_context().get_node_labels().get("ray.io/node-group")
    for step in range(3):
        rung.report({"loss": float(step), "group": group or ""})


def test_on_ray_a_trial_costs_what_its_node_type_costs(ray_cluster: Cluster, storage: Path) -> None:
    from rung.executors.ray import RayExecutor

    prices = {"cpu": 3.6, "node_types": {"pricey": {"cpu": 360.0}}}
    extra = ray_cluster.more_nodes()
    try:
        # Ray labels a node ray.io/node-group from RAY_NODE_TYPE_NAME, as its autoscaler sets it.
        extra.add_node("third", resources={"third": 1}, env={"RAY_NODE_TYPE_NAME": "pricey"})
        ran = {}
        for node in ("head", "third"):
            executor = RayExecutor(resources={"cpu": 1, "resources": {node: 0.5}}, capacity=1)
            ran[node] = rung.run(
                on_a_node, {}, metric="loss", prices=prices, executor=executor, name=node, storage=storage, verbose=0
            )
    finally:
        extra.stop()
    cheap, pricey = (ran[node].history(1)[-1] for node in ("head", "third"))
    assert (cheap["group"], pricey["group"]) == ("", "pricey")
    assert cheap["cost"] == pytest.approx(cheap["time_total_s"] * 3.6 / 3600)
    assert pricey["cost"] == pytest.approx(pricey["time_total_s"] * 360.0 / 3600)
    assert ran["third"].settings["prices"] == prices


def checkpointed(config: dict[str, Any]) -> None:
    """Five steps, a checkpoint at each (module level: Ray's actors import it by name)."""
    start = rung.get_checkpoint() or 0
    for step in range(start + 1, 6):
        rung.report({"loss": config["x"] / step}, checkpoint=step)


def test_on_ray_the_cost_budget_pauses_trials_and_a_resume_continues_them(ray_cluster: Cluster, storage: Path) -> None:
    from rung.executors.ray import RayExecutor

    options: dict[str, Any] = {
        "metric": "loss", "num_samples": 3, "scheduler": "fifo", "search": "random", "verbose": 0,
        "storage": storage, "name": "ray-budget", "prices": {"cpu": 1.0},
    }  # fmt: skip
    first = rung.run(checkpointed, SPACE, executor=RayExecutor(capacity=2), budget={"cost": 1e-12}, **options)
    assert not any(t.status is Status.TERMINATED for t in first.trials)
    assert any(t.status is Status.PAUSED for t in first.trials)
    done = rung.run(checkpointed, SPACE, executor=RayExecutor(capacity=2), budget={"cost": 1e6}, resume=True, **options)
    assert [t.status for t in done.trials] == [Status.TERMINATED] * 3
    for trial in done.trials:
        assert [r["training_iteration"] for r in done.history(trial.id)] == [1, 2, 3, 4, 5]
    assert done.total_cost == pytest.approx(sum(t.metrics["cost"] for t in done.trials))
