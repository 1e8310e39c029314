"""The dashboard's Pareto chart data (rung.store.front): every judged trial, the front and feasibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rung
from rung.store import front
from rung.store.snapshot import Snapshot


def two_goals(config: dict[str, Any]) -> None:
    x = config["x"]
    rung.report({"err": x, "ms": (1 - x) ** 2, "mb": 10 * x})


def _view(storage: Path, name: str) -> dict[str, Any]:
    snap = Snapshot(storage, name)
    try:
        return front.pareto_view(snap, snap.store.experiment(setup=False))
    finally:
        snap.close()


def _pareto(storage: Path, name: str) -> Any:
    return _view(storage, name)["pareto"]


def test_points_mark_the_front_and_the_infeasible(storage: Path) -> None:
    space = {"x": rung.grid([0.1, 0.3, 0.5, 0.7, 0.9])}
    result = rung.run(two_goals, space, metric=["err", "ms"], mode="min", constraints={"mb": ("<=", 6)},
                      executor="thread", name="mo", storage=storage, verbose=0)  # fmt: skip
    pareto = _pareto(storage, "mo")
    assert pareto["objectives"] == [{"metric": "err", "mode": "min"}, {"metric": "ms", "mode": "min"}]
    assert [p[0] for p in pareto["points"]] == [1, 2, 3, 4, 5]
    assert [p[2] for p in pareto["points"]] == [True, True, True, False, False]  # mb 7 and 9 break mb <= 6
    assert [p[0] for p in pareto["points"] if p[3]] == sorted(t.id for t in result.pareto_front()) == [1, 2, 3]
    assert pareto["points"][1][1] == pytest.approx([0.3, 0.49])
    assert pareto["of"] == {"shown": 5, "judged": 5}


def test_a_large_run_keeps_the_whole_front(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rung.run(two_goals, {"x": rung.grid([i / 10 for i in range(1, 10)])}, metric=["err", "ms"], mode=["min", "max"],
             executor="thread", name="cut", storage=storage, verbose=0)  # fmt: skip
    monkeypatch.setattr(front, "POINTS", 4)
    pareto = _pareto(storage, "cut")
    on = [p[0] for p in pareto["points"] if p[3]]
    assert on == [1]  # err min and ms max: the smallest x wins both
    assert len(pareto["points"]) == 4 and pareto["of"] == {"shown": 4, "judged": 9}


def test_one_objective_has_no_pareto_chart(storage: Path) -> None:
    rung.run(two_goals, {"x": 0.5}, metric="err", executor="thread", name="one", storage=storage, verbose=0)
    assert _pareto(storage, "one") is None


def test_parallel_coordinates_get_an_axis_per_objective_and_the_front_as_the_best(storage: Path) -> None:
    space = {"x": rung.grid([0.1, 0.3, 0.5, 0.7, 0.9]), "kind": rung.grid(["a"])}
    rung.run(two_goals, space, metric=["err", "ms"], mode=["min", "max"], constraints={"mb": ("<=", 6)},
             executor="thread", name="mo", storage=storage, verbose=0)  # fmt: skip
    view = _view(storage, "mo")
    assert [(a["key"], a["scale"]) for a in view["parallel_axes"]] == [
        ("x", "linear"),
        ("err (min)", "linear"),
        ("ms (max)", "log"),  # 0.01 to 0.81: two decades
    ]  # kind does not vary: no axis
    assert [t["id"] for t in view["parallel"]] == [1, 2, 3, 4, 5]
    assert view["parallel_best"] == [p[0] for p in view["pareto"]["points"] if p[3]] == [1]
    assert view["parallel_of"] == {"shown": 5, "scored": 5}
