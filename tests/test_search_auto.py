"""AutoSearch: the default's searcher picks its model from what the trials report and from the space."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.objectives import Objectives, hypervolume
from rung.search.auto import (
    CURVES_STARTUP,
    GP_MAX_DIMS,
    GP_MAX_OPTIONS,
    ONCE_STARTUP,
    AutoSearch,
    gp_fits,
    gp_fits_several,
    optuna_gamma,
)
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
    assert (tpe.n_startup, tpe.gamma) == (ONCE_STARTUP, optuna_gamma) == (20, optuna_gamma)
    assert [optuna_gamma(n) for n in (1, 10, 11, 100, 250, 1000)] == [1, 1, 2, 10, 25, 25]
    assert min(t.metrics["loss"] for t in result.trials) == 0


def test_learning_curves_get_their_own_startup_even_after_a_trial_that_reported_once() -> None:
    searcher = AutoSearch(seed=0)
    searcher.setup(Space({"x": rung.choice([1, 2, 3])}), metric="loss", mode="min", num_samples=10, seed=0)
    searcher.suggest(1)
    searcher.on_complete(1, Status.TERMINATED, {"loss": 1.0, "training_iteration": 1})
    assert (searcher.kind, searcher._tpe.n_startup, searcher._tpe.gamma) == ("once", 20, optuna_gamma)
    searcher.suggest(2)
    searcher.observe(2, {"loss": 1.0, "training_iteration": 2})
    # 5 ended trials before TPE models (TPE's own default: 10): measured better at small budgets; Optuna's
    # split of the good group (TPE's own: 0.2 n) was better at 50 and 100 full trainings on LCBench.
    assert (searcher.kind, searcher._tpe.n_startup, searcher._tpe.gamma) == ("curves", CURVES_STARTUP, optuna_gamma)
    assert CURVES_STARTUP == 5


def test_with_learning_curves_tpe_s_good_group_is_the_best_tenth_at_the_milestone() -> None:
    searcher = AutoSearch(seed=0)
    searcher.setup(Space(SPACE), metric="loss", mode="min", num_samples=40, seed=0)
    searcher.set_fidelity("training_iteration", [1, 3, 9])
    for trial in range(1, 21):
        searcher.suggest(trial)
        for step in (1, 2, 3):
            searcher.observe(trial, {"loss": float(trial) / step, "training_iteration": step})
        searcher.on_complete(trial, Status.TERMINATED, {"loss": float(trial) / 3, "training_iteration": 3})
    searcher.suggest(21)
    level = searcher._tpe._root
    assert (searcher._tpe._budget, level.done) == (3.0, 20)
    # The good density is fitted on the 2 best of the 20 trials compared at milestone 3 (TPE's own 0.2 n: 4).
    assert level._good is not None
    assert sorted(level._good[2].tolist()) == [0, 1]


def test_several_objectives_with_learning_curves_keep_motpe_s_split() -> None:
    searcher = AutoSearch(seed=0)
    searcher.setup(Space({"x": rung.uniform(0, 1)}), metric="a", mode="min", num_samples=10, seed=0)
    searcher.set_objectives(Objectives.of(["a", "b"], ["min", "min"]))
    searcher.suggest(1)
    searcher.observe(1, {"a": 1.0, "b": 1.0, "training_iteration": 2})
    assert (searcher.kind, searcher._tpe.n_startup, searcher._tpe.gamma) == ("curves", CURVES_STARTUP, None)


def test_with_learning_curves_tpe_models_once_five_trials_ended() -> None:
    searcher = AutoSearch(seed=0)
    searcher.setup(Space(SPACE), metric="loss", mode="min", num_samples=20, seed=0)
    searcher.set_fidelity("training_iteration", [1, 3, 9])
    budgets = []
    for trial in range(1, CURVES_STARTUP + 1):
        searcher.suggest(trial)
        for step in (1, 2, 3):
            searcher.observe(trial, {"loss": float(trial) / step, "training_iteration": step})
        budgets.append(searcher._tpe._budget)  # the milestone the model is fitted at (None: random)
        searcher.on_complete(trial, Status.TERMINATED, {"loss": float(trial) / 3, "training_iteration": 3})
    budgets.append(searcher._tpe._budget)
    assert searcher.kind == "curves"
    # Random until the 5th trial ended; then the model, at the highest milestone all 5 reached.
    assert budgets == [None] * CURVES_STARTUP + [3.0]


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


# Several objectives.
def zdt(config: dict[str, Any]) -> Curve:
    x1, x2 = config["x1"], config["x2"]
    g = 1 + 9 * x2
    return Curve([{"f1": x1, "f2": g * (1 - math.sqrt(x1 / g)), "mb": 10 * x2}], [1.0])


def _several(tmp_path: Path, name: str, space: dict[str, Any], **kwargs: Any) -> rung.ExperimentResult:
    return rung.run(
        zdt, space, metric=["f1", "f2"], mode="min", num_samples=kwargs.pop("num_samples", 30),
        executor=SimulatedExecutor(2, decision_seconds=0.0), storage=tmp_path, name=name, seed=4, verbose=0, **kwargs,
    )  # fmt: skip


UNIT = {"x1": rung.uniform(0, 1), "x2": rung.uniform(0, 1)}


def test_the_default_with_several_objectives_on_a_few_floats_is_the_gp_without_early_stopping(tmp_path: Path) -> None:
    result = _several(tmp_path, "mo-gp", UNIT, constraints={"mb": ("<=", 5.0)})
    # AutoScheduler learns that each trial reports once: every trial runs to its end, as under FIFO.
    built = result.settings["built"]
    assert (built["search"], built["scheduler"]) == ("AutoSearch", "AutoScheduler")
    assert result.settings["picked"] == [
        "search: GP, expected hypervolume improvement (several objectives; a low-dimensional space)",
        "schedule: each trial reports once, so every trial runs to its end",
    ]
    front = np.array([[t.best_metrics["f1"], t.best_metrics["f2"] / 10] for t in result.pareto_front()])
    random = _several(tmp_path, "mo-random", UNIT, search="random", constraints={"mb": ("<=", 5.0)})
    front_random = np.array([[t.best_metrics["f1"], t.best_metrics["f2"] / 10] for t in random.pareto_front()])
    assert hypervolume(front, [1.0, 1.0]) > hypervolume(front_random, [1.0, 1.0]) + 0.03
    assert all(t.best_metrics["mb"] <= 5.0 for t in result.pareto_front())


def test_the_default_with_several_objectives_elsewhere_is_tpe(tmp_path: Path) -> None:
    space = {**UNIT, "model": rung.choice([{"kind": "a", "x": rung.uniform(0, 1)}, {"kind": "b"}])}
    result = _several(tmp_path, "mo-tpe", space, num_samples=12)
    assert (result.settings["built"]["search"], result.settings["built"]["scheduler"]) == ("TPE", "AutoScheduler")


@pytest.mark.parametrize(
    ("space", "metrics", "fits"),
    [
        (UNIT, ["f1", "f2"], True),
        ({"x": rung.loguniform(1e-3, 1.0), "z": rung.normal(0, 1)}, ["f1", "f2", "f3"], True),
        (UNIT, ["f1", "f2", "f3", "f4"], False),
        ({f"x{i}": rung.uniform(0, 1) for i in range(GP_MAX_DIMS + 1)}, ["f1", "f2"], False),
        ({"x": rung.uniform(0, 1), "n": rung.randint(1, 5), "opt": rung.choice(["sgd", "adam"])}, ["f1", "f2"], True),
        ({"x": rung.uniform(0, 1), "g": rung.grid([1, 2])}, ["f1", "f2"], False),
    ],
)
def test_which_several_objective_runs_the_gp_takes(space: dict[str, Any], metrics: list[str], fits: bool) -> None:
    assert gp_fits_several(Space(space), Objectives.of(metrics, "min")) is fits


def test_auto_search_hands_several_objectives_to_both_models_and_the_gp_proposes_after_the_start() -> None:
    searcher = AutoSearch()
    searcher.setup(Space(UNIT), metric="f1", mode="min", num_samples=14, seed=0)
    searcher.set_objectives(Objectives.of(["f1", "f2"], "min"))
    models = []
    for trial_id in range(1, 15):
        config = searcher.suggest(trial_id)
        assert config is not None
        models.append(searcher.model)
        result = dict(zdt(config).metrics[0])
        searcher.on_complete(trial_id, Status.TERMINATED, result)
    assert models == ["tpe"] * 10 + ["gp"] * 4


def test_several_objectives_on_a_space_of_lists_take_the_gp_where_one_objective_takes_tpe() -> None:
    lists = Space({"width": rung.choice([16, 32, 64, 128]), "lr": rung.choice([1e-4, 1e-3, 1e-2])})
    assert not gp_fits(lists) and gp_fits_several(lists, Objectives.of(["f1", "f2"], "min"))
    searcher = AutoSearch()
    searcher.setup(lists, metric="f1", mode="min", num_samples=20, seed=0)
    assert searcher._gp is None
    searcher.set_objectives(Objectives.of(["f1", "f2"], "min"))
    assert searcher._gp is not None and searcher._gp.objectives is not None
    models = []
    for trial_id in range(1, 13):
        config = searcher.suggest(trial_id)
        assert config is not None
        models.append(searcher.model)
        result = {"f1": config["width"] / 128, "f2": config["lr"] * 100, "training_iteration": 1}
        searcher.on_complete(trial_id, Status.TERMINATED, result)
    assert models == ["tpe"] * 10 + ["gp"] * 2
    assert searcher._tpe.n_startup != ONCE_STARTUP  # MOTPE keeps its own settings


def test_with_several_objectives_the_gp_proposes_longer_than_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import rung.search.auto as auto

    monkeypatch.setattr(auto, "GP_MAX_TRIALS", 12)
    monkeypatch.setattr(auto, "GP_MAX_TRIALS_SEVERAL", 14)
    runs: dict[bool, list[str]] = {}
    for several in (False, True):
        searcher = AutoSearch()
        searcher.setup(Space(UNIT), metric="f1", mode="min", num_samples=16, seed=0)
        if several:
            searcher.set_objectives(Objectives.of(["f1", "f2"], "min"))
        models = runs.setdefault(several, [])
        for trial_id in range(1, 17):
            config = searcher.suggest(trial_id)
            assert config is not None
            models.append(searcher.model)
            result = dict(zdt(config).metrics[0])
            searcher.on_complete(trial_id, Status.TERMINATED, result)
    assert runs[False] == ["tpe"] * 10 + ["gp"] * 2 + ["tpe"] * 4
    assert runs[True] == ["tpe"] * 10 + ["gp"] * 4 + ["tpe"] * 2
