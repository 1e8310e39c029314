"""Parallel coordinates' axes (rung.store.axes): scales, ticks, categories and None, from a space's JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.space import Space
from rung.store import axes
from rung.store.overview import overview
from rung.store.snapshot import Snapshot


def _axis(found: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(a for a in found if a["key"] == key)


def test_a_log_dimension_gets_a_log_axis_with_powers_of_ten() -> None:
    space = Space({"lr": rung.loguniform(1e-5, 1e-1), "wd": rung.uniform(0.0, 1.0)}).to_json()
    configs = [{"lr": 1e-5, "wd": 0.1}, {"lr": 1e-3, "wd": 0.5}, {"lr": 1e-1, "wd": 0.9}]
    lr = _axis(axes.parallel_axes(space, configs, "loss", [1.0, 2.0, 3.0]), "lr")
    assert lr["scale"] == "log"
    assert [label for _, label in lr["ticks"]] == ["1e-05", "0.0001", "0.001", "0.01", "0.1"]
    assert lr["at"] == pytest.approx([0.0, 0.5, 1.0])
    # Without a domain, positive numbers over two decades or more are log-scaled too.
    bare = _axis(axes.parallel_axes({}, configs, "loss", [1.0, 2.0, 3.0]), "lr")
    assert bare["scale"] == "log" and bare["at"] == pytest.approx([0.0, 0.5, 1.0])


def test_a_linear_axis_has_nice_ticks_over_the_domain() -> None:
    space = Space({"wd": rung.uniform(0.0, 1.0), "layers": rung.randint(1, 4)}).to_json()
    configs = [{"wd": 0.25, "layers": 2}, {"wd": 0.5, "layers": 3}]
    found = axes.parallel_axes(space, configs, "loss", [1.0, 2.0])
    wd, layers = _axis(found, "wd"), _axis(found, "layers")
    assert wd["scale"] == "linear"
    assert [label for _, label in wd["ticks"]] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert wd["at"] == pytest.approx([0.25, 0.5])  # placed on the domain's range, not the two values'
    assert [label for _, label in layers["ticks"]] == ["1", "2", "3", "4"]


def test_categories_keep_the_space_order_and_none_as_a_value() -> None:
    space = Space({"act": rung.choice(["relu", "tanh", None]), "x": rung.uniform(0, 1)}).to_json()
    configs: list[dict[str, Any]] = [{"act": None, "x": 0.1}, {"act": "relu", "x": 0.2}, {"act": "tanh", "x": 0.3}]
    act = _axis(axes.parallel_axes(space, configs, "loss", [1.0, 2.0, 3.0]), "act")
    assert act["scale"] == "category"
    assert act["ticks"] == [[0.0, "relu"], [0.5, "tanh"], [1.0, "None"]]
    assert act["at"] == [1.0, 0.0, 0.5]


def test_none_and_absent_values_sit_below_a_number_axis() -> None:
    space = {"units": {"type": "randint", "low": 8, "high": 64}}
    configs: list[dict[str, Any]] = [{"units": 8}, {"units": None}, {"units": 64}, {}]
    units = _axis(axes.parallel_axes(space, configs, "loss", [1.0, 2.0, 3.0, 4.0]), "units")
    step = axes.NONE_STEP  # None at 0, "absent" a step above it, the numbers from three steps up
    assert units["at"] == pytest.approx([3 * step, 0.0, 1.0, step])
    assert units["ticks"][-2:] == [[0.0, "None"], [step, "(absent)"]]
    assert [label for _, label in units["ticks"]][:3] == ["20", "40", "60"]


def test_nested_keys_inside_choice_options_find_their_domain() -> None:
    space = Space({"opt": rung.choice([{"lr": rung.loguniform(1e-4, 1.0)}, {"lr": rung.loguniform(1e-4, 1.0)}])})
    assert axes.domains(space.to_json())["opt/lr"]["type"] == "loguniform"
    found = axes.parallel_axes(space.to_json(), [{"opt": {"lr": 1e-4}}, {"opt": {"lr": 1e-2}}], "loss", [1.0, 2.0])
    assert _axis(found, "opt/lr")["scale"] == "log"


def test_the_metric_axis_is_log_scaled_when_it_spans_decades() -> None:
    found = axes.parallel_axes({}, [{"x": 1}, {"x": 2}, {"x": 3}], "loss", [0.2, 0.3, 20.0])
    assert found[-1]["key"] == "loss" and found[-1]["scale"] == "log"
    assert axes.parallel_axes({}, [{"x": 1}, {"x": 2}], "loss", [1.0, 2.0])[-1]["scale"] == "linear"


def test_best_ids_are_the_best_tenth_at_least_one_at_most_five() -> None:
    scores = [(i, float(i)) for i in range(1, 31)]
    assert axes.best_ids(scores, "min") == [1, 2, 3]
    assert axes.best_ids(scores, "max") == [30, 29, 28]
    assert axes.best_ids(scores[:4], "min") == [1]
    assert axes.best_ids([(i, float(i)) for i in range(100)], "min") == [0, 1, 2, 3, 4]
    assert axes.best_ids([(1, math.nan), (2, 1.0)], "min") == [2]


def objective(config: dict[str, Any]) -> None:
    lr = float(config["lr"])
    rung.report({"loss": 1 + abs(math.log10(lr) + 3) + (0.5 if config["act"] is None else 0.0)})


def test_the_dashboard_overview_carries_the_axes_and_the_best(storage: Path) -> None:
    space = {"lr": rung.loguniform(1e-5, 1e-1), "act": rung.choice(["relu", None])}
    rung.run(objective, space, metric="loss", num_samples=12, search="random", seed=3, executor="thread",
             name="axes", storage=storage, verbose=0)  # fmt: skip
    snap = Snapshot(storage, "axes")
    try:
        view = overview(snap, "axes")
    finally:
        snap.close()
    scales = {a["key"]: a["scale"] for a in view["parallel_axes"]}
    assert scales == {"act": "category", "lr": "log", "loss": "linear"}
    act = next(a for a in view["parallel_axes"] if a["key"] == "act")
    assert [label for _, label in act["ticks"]] == ["relu", "None"]
    assert all(len(a["at"]) == len(view["parallel"]) == 12 for a in view["parallel_axes"])
    best = min(view["parallel"], key=lambda t: t["best"])
    assert view["parallel_best"][0] == best["id"] and len(view["parallel_best"]) == 2


def test_a_choice_of_numbers_is_a_number_axis_ticked_at_its_values() -> None:
    space = Space({"x": rung.grid([0.3, 0.9, 0.35, 0.5]), "lr": rung.choice([1e-4, 1e-3, 1e-2, None])}).to_json()
    configs: list[dict[str, Any]] = [{"x": 0.3, "lr": 1e-4}, {"x": 0.9, "lr": None}, {"x": 0.5, "lr": 1e-2}]
    found = axes.parallel_axes(space, configs, "loss", [1.0, 2.0, 3.0])
    x, lr = _axis(found, "x"), _axis(found, "lr")
    assert x["scale"] == "linear" and [label for _, label in x["ticks"]] == ["0.3", "0.35", "0.5", "0.9"]
    assert x["at"] == pytest.approx([0.0, 1.0, 1 / 3], abs=1e-4)  # heights to 1e-4
    assert lr["scale"] == "log" and [label for _, label in lr["ticks"]] == ["0.0001", "0.001", "0.01", "None"]
    assert lr["at"][1] == 0.0 and lr["at"][2] == pytest.approx(1.0)
