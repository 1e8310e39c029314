"""AutoSearch: the default's searcher picks its model from what the trials report and from the space."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.search.auto import GP_MAX_DIMS, GP_MAX_OPTIONS, ONCE_STARTUP, AutoSearch, gp_fits, once_gamma
from rung.space import Space
from rung.types import Status


def branin(config: dict[str, Any]) -> Curve:
    """Branin-Hoo (minimum 0.397887), reported once."""
    x1, x2 = config["x1"], config["x2"]
    b, k = 5.1 / (4 * math.pi**2), 5 / math.pi
    value = (x2 - b * x1**2 + k * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
    return Curve([{"loss": value}], [1.0])


def curves(config: dict[str, Any]) -> Curve:
    x1, x2 = config["x1"], config["x2"]
    return Curve([{"loss": (x1 - 1) ** 2 + (x2 - 2) ** 2 + 1 / s} for s in range(1, 10)], [1.0] * 9)


SPACE = {"x1": rung.uniform(-5, 10), "x2": rung.uniform(0, 15)}


def run(fn: Any, tmp_path: Path, searcher: AutoSearch, name: str, **kwargs: Any) -> rung.ExperimentResult:
    return rung.run(
        fn,
        kwargs.pop("space", SPACE),
        metric="loss",
        num_samples=kwargs.pop("num_samples", 40),
        search=searcher,
        executor=SimulatedExecutor(2, decision_seconds=0.0),
        storage=tmp_path,
        name=name,
        seed=3,
        verbose=0,
        **kwargs,
    )


def test_one_result_per_trial_on_a_small_numeric_space_uses_a_gp(tmp_path: Path) -> None:
    searcher = AutoSearch()
    result = run(branin, tmp_path, searcher, "gp")
    assert searcher.kind == "once" and searcher.model == "gp"
    assert searcher.describe().startswith("search: GP")
    assert result.settings["built"]["scheduler"] == "AutoScheduler"
    assert {t.status for t in result.trials} == {Status.TERMINATED} and len(result.trials) == 40
    # 40 trials of a GP find Branin's minimum closely (random search: about 0.8 at the median).
    assert min(t.metrics["loss"] for t in result.trials) < 0.45


def test_learning_curves_use_tpe_at_the_milestones(tmp_path: Path) -> None:
    searcher = AutoSearch()
    result = run(curves, tmp_path, searcher, "tpe", num_samples=60)
    assert searcher.kind == "curves" and searcher.model == "tpe"
    assert "milestones" in searcher.describe()
    assert any(t.status is Status.STOPPED for t in result.trials)


def test_a_space_for_tpe_keeps_tpe_on_one_result_objectives(tmp_path: Path) -> None:
    searcher = AutoSearch()

    def fn(config: dict[str, Any]) -> Curve:
        return Curve([{"loss": config["model"]["x"] if config["model"]["kind"] == "a" else 1.0}], [1.0])

    space = {"model": rung.choice([{"kind": "a", "x": rung.uniform(0, 1)}, {"kind": "b"}])}
    run(fn, tmp_path, searcher, "conditional", space=space, num_samples=20)
    assert searcher.kind == "once" and searcher.model == "tpe"
    assert "not for a GP" in searcher.describe()


def test_a_space_of_lists_uses_tpe_split_as_optuna_does_after_twenty_random_trials(tmp_path: Path) -> None:
    widths, rates = [16, 32, 64, 128, 256], [1e-4, 1e-3, 1e-2, 1e-1]

    def fn(config: dict[str, Any]) -> Curve:
        return Curve([{"loss": abs(widths.index(config["width"]) - 3) + abs(rates.index(config["lr"]) - 1)}], [1.0])

    searcher = AutoSearch()
    space = {"width": rung.choice(widths), "lr": rung.choice(rates)}
    result = run(fn, tmp_path, searcher, "lists", space=space, num_samples=30)
    assert searcher.kind == "once" and searcher.model == "tpe"
    assert searcher.describe() == "search: TPE (each trial reports once; every hyperparameter is a list of values)"
    tpe = searcher._tpe
    assert (tpe.n_startup, tpe.gamma) == (ONCE_STARTUP, once_gamma) == (20, once_gamma)
    assert [once_gamma(n) for n in (1, 10, 11, 100, 250, 1000)] == [1, 1, 2, 10, 25, 25]
    assert min(t.metrics["loss"] for t in result.trials) == 0


def test_learning_curves_keep_tpe_s_own_split_even_after_a_trial_that_reported_once() -> None:
    searcher = AutoSearch(seed=0)
    searcher.setup(Space({"x": rung.choice([1, 2, 3])}), metric="loss", mode="min", num_samples=10, seed=0)
    searcher.suggest(1)
    searcher.on_complete(1, Status.TERMINATED, {"loss": 1.0, "training_iteration": 1})
    assert (searcher.kind, searcher._tpe.n_startup, searcher._tpe.gamma) == ("once", 20, once_gamma)
    searcher.suggest(2)
    searcher.observe(2, {"loss": 1.0, "training_iteration": 2})
    assert (searcher.kind, searcher._tpe.n_startup, searcher._tpe.gamma) == ("curves", 10, None)


def test_the_same_seed_gives_the_same_proposals(tmp_path: Path) -> None:
    runs = [run(branin, tmp_path, AutoSearch(), f"same-{i}", num_samples=20) for i in range(2)]
    assert [t.config for t in runs[0].trials] == [t.config for t in runs[1].trials]


@pytest.mark.parametrize(
    ("space", "fits"),
    [
        ({"x": rung.uniform(0, 1), "n": rung.randint(1, 5)}, True),
        ({"x": rung.uniform(0, 1), "width": rung.choice([32, 64, 128, 256])}, True),  # ordered: one dimension
        ({"x": rung.uniform(0, 1), "opt": rung.choice(["sgd", "adam"])}, True),
        ({f"x{i}": rung.uniform(0, 1) for i in range(GP_MAX_DIMS + 1)}, False),
        ({"x": rung.uniform(0, 1), "word": rung.choice([str(i) for i in range(GP_MAX_OPTIONS + 1)])}, False),
        ({"m": rung.choice([{"x": rung.uniform(0, 1)}, {"y": 1}])}, False),
        ({"x": rung.uniform(0, 1), "g": rung.grid([1, 2])}, False),
        # Lists of values only (hp.choice spaces, recorded tables): TPE, measured better there.
        ({"width": rung.choice([32, 64, 128, 256]), "lr": rung.choice([1e-3, 1e-2, 1e-1])}, False),
        ({"width": rung.choice([32, 64, 128, 256]), "opt": rung.choice(["sgd", "adam"])}, False),
        ({"width": rung.choice([32, 64, 128, 256]), "n": rung.randint(1, 5)}, True),
    ],
)
def test_which_spaces_a_gp_models(space: dict[str, Any], fits: bool) -> None:
    assert gp_fits(Space(space)) is fits


def test_the_default_is_auto_search_with_the_auto_scheduler(tmp_path: Path) -> None:
    result = rung.run(
        branin,
        SPACE,
        metric="loss",
        num_samples=12,
        executor=SimulatedExecutor(2, decision_seconds=0.0),
        storage=tmp_path,
        name="default",
        verbose=0,
    )
    assert result.settings["built"]["search"] == "AutoSearch"
    assert result.settings["built"]["scheduler"] == "AutoScheduler"
    assert result.settings["picked"] == [
        "search: GP (each trial reports once; a low-dimensional space of numbers)",
        "schedule: each trial reports once, so every trial runs to its end",
    ]
    # Without a metric there is nothing to model or compare: random search, every trial to its end.
    plain = rung.run(
        branin,
        SPACE,
        num_samples=3,
        executor=SimulatedExecutor(2, decision_seconds=0.0),
        storage=tmp_path,
        name="no-metric",
        verbose=0,
    )
    assert (plain.settings["built"]["search"], plain.settings["built"]["scheduler"]) == ("Random", "FIFO")


def test_ordered_choices_reaches_both_models_and_is_checked() -> None:
    space = Space({"x": rung.uniform(0, 1), "width": rung.choice([32, 64, 128, 256])})
    for ordered in (True, False):
        searcher = AutoSearch(seed=0, ordered_choices=ordered)
        searcher.setup(space, metric="loss", mode="min", num_samples=10, seed=0)
        assert searcher._gp is not None
        assert searcher._tpe.ordered_choices is searcher._gp.ordered_choices is ordered
    with pytest.raises(ValueError, match=r"^AutoSearch needs ordered_choices to be .*; got ordered_choices='yes'$"):
        AutoSearch(ordered_choices="yes")  # type: ignore[arg-type]
