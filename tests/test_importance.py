"""Hyperparameter importance (rung.store.importance): alone, and with interactions from a fitted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung.store.importance import model_importance, univariate_importance
from rung.store.views import experiment_view

SPACE = {k: {"type": "uniform", "low": -1.0, "high": 1.0} for k in ("x1", "x2", "x3")}


def _rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """loss = x1 * x2: neither matters alone (no correlation), both together; x3 and c do not matter."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        x1, x2, x3 = (float(v) for v in rng.uniform(-1, 1, 3))
        config = {"x1": x1, "x2": x2, "x3": x3, "c": str(rng.choice(["a", "b"]))}
        rows.append({"config": config, "best_result": {"loss": x1 * x2}})
    return rows


def test_an_interaction_shows_with_the_model_and_not_alone() -> None:
    rows = _rows(150)
    alone = univariate_importance(rows, "loss")
    model = model_importance(rows, "loss", SPACE)
    assert alone["x1"] < 0.2 and alone["x2"] < 0.2  # the univariate measure misses them
    for key in ("x1", "x2"):
        assert model[key]["effect"] > 0.7, model
        assert model[key]["interaction"] > 0.5, model  # most of it through the other
    for key in ("x3", "c"):
        assert model[key]["effect"] < 0.05, model
    assert set(model) == {"x1", "x2", "x3", "c"}


def test_a_main_effect_is_not_called_an_interaction() -> None:
    rows = [{**r, "best_result": {"loss": r["config"]["x1"] ** 2}} for r in _rows(100, seed=2)]  # not monotone
    model = model_importance(rows, "loss", SPACE)
    assert model["x1"]["effect"] > 0.8 and model["x1"]["interaction"] < 0.15, model
    assert max(model[k]["effect"] for k in ("x2", "x3", "c")) < 0.05, model
    assert univariate_importance(rows, "loss")["x1"] < 0.3  # |rank correlation| misses a U shape


def test_model_importance_is_deterministic_and_needs_eight_scored_trials() -> None:
    rows = _rows(40)
    assert model_importance(rows, "loss", SPACE) == model_importance(rows, "loss", SPACE)
    assert model_importance(rows[:7], "loss", SPACE) == {}
    assert model_importance(rows, None, SPACE) == {}
    unscored = [{"config": r["config"], "best_result": None} for r in rows]
    assert model_importance(unscored, "loss", SPACE) == {}


def objective(config: dict[str, Any]) -> None:
    rung.report({"loss": (config["a"] - 0.5) * (config["b"] - 0.5)})


def test_the_views_carry_both_measures(storage: Path) -> None:
    space = {"a": rung.uniform(0, 1), "b": rung.uniform(0, 1)}
    rung.run(objective, space, metric="loss", num_samples=12, search="random", seed=1, executor="thread",
             name="imp", storage=storage, verbose=0)  # fmt: skip
    view = experiment_view(storage, "imp")
    assert set(view["importance"]) == set(view["importance_model"]) == {"a", "b"}
    assert all(0.0 <= v["interaction"] <= v["effect"] <= 1.0 for v in view["importance_model"].values())
