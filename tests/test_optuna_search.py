from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import rung
from rung.search.optuna import OptunaSearch
from rung.types import Status


def branin(config: dict[str, Any]) -> dict[str, float]:
    x, y = config["x"], config["y"]
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi**2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return {"loss": a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s}


SPACE = {"x": rung.uniform(-5, 10), "y": rung.uniform(0, 15)}


@pytest.mark.parametrize(
    ("make", "good"),
    [
        (lambda: optuna.samplers.TPESampler(seed=1), 3.0),
        (lambda: optuna.samplers.CmaEsSampler(seed=1), None),
        (lambda: optuna.samplers.NSGAIISampler(seed=1, population_size=10), None),
    ],
    ids=["tpe", "cmaes", "nsga2"],
)
def test_samplers_propose_and_learn(make: Any, good: float | None, storage: Path) -> None:
    search = OptunaSearch(make())
    result = rung.run(branin, SPACE, metric="loss", num_samples=40, search=search, executor="thread",
                      max_concurrent=1, name="b", storage=storage, verbose=0)  # fmt: skip
    # Every config is what the Optuna sampler asked for, and every result was told back.
    study = search._study.trials
    assert [(t.config["x"], t.config["y"]) for t in result.trials] == [(s.params["x"], s.params["y"]) for s in study]
    assert [s.value for s in study] == [t.metrics["loss"] for t in result.trials]
    if good is not None:
        # Branin's minimum is 0.398; random search's best of 40 is around 1-3.
        assert min(s.value for s in study) < good


def test_mixed_space_types_and_quantisation(storage: Path) -> None:
    space = {
        "lr": rung.loguniform(1e-4, 1e-1),
        "drop": rung.quniform(0.0, 0.5, 0.05),
        "layers": rung.randint(1, 4),
        "width": rung.lograndint(16, 512),
        "act": rung.choice(["relu", "tanh"]),
        "block": rung.choice([{"kind": "a", "k": rung.randint(1, 3)}, {"kind": "b"}]),
        "noise": rung.normal(0, 1),  # not modelled by Optuna: sampled by rung
        "opt": rung.grid(["sgd", "adam"]),
        "wd": rung.sample_from(lambda c: c["lr"] / 10),
    }
    search = OptunaSearch(seed=3)
    result = rung.run(lambda c: {"m": c["lr"]}, space, metric="m", num_samples=5, search=search, executor="thread",
                      name="mixed", storage=storage, verbose=0)  # fmt: skip
    assert len(result.trials) == 10 and sorted({t.config["opt"] for t in result.trials}) == ["adam", "sgd"]
    for trial in result.trials:
        config = trial.config
        assert isinstance(config["layers"], int) and 1 <= config["layers"] <= 4
        assert round(config["drop"] / 0.05, 9).is_integer()
        assert config["block"]["kind"] in ("a", "b") and config["wd"] == pytest.approx(config["lr"] / 10)


def test_quantised_values_are_what_optuna_learns(storage: Path) -> None:
    # Ends on the grid: Optuna's stepped distributions hold the same values, so the study records the
    # values the trials ran with (it recorded the unsnapped proposal). A log scale keeps the snap.
    space = {
        "drop": rung.quniform(0.1, 0.5, 0.05),
        "units": rung.qrandint(16, 256, 16),
        "lr": rung.qloguniform(1e-3, 1.0, 1e-3),
    }
    search = OptunaSearch(seed=2)
    result = rung.run(lambda c: {"m": c["drop"] + c["units"] + c["lr"]}, space, metric="m", num_samples=25,
                      search=search, executor="thread", max_concurrent=1, name="q", storage=storage,
                      verbose=0)  # fmt: skip
    dists = search._study.trials[0].distributions
    assert dists["drop"].step == 0.05 and dists["units"].step == 16 and dists["lr"].step is None
    for trial, told in zip(result.trials, search._study.trials, strict=True):
        assert told.params["drop"] == pytest.approx(trial.config["drop"], abs=1e-12)
        assert told.params["units"] == trial.config["units"] and trial.config["units"] % 16 == 0
        assert round(trial.config["lr"] / 1e-3, 6).is_integer()
    assert len({t.config["drop"] for t in result.trials}) > 3


def test_stopped_and_failed_trials_are_told(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> None:
        if config["x"] > 8:
            raise RuntimeError("diverged")
        for i in range(3):
            rung.report({"loss": config["x"] + i})

    search = OptunaSearch(seed=0)
    result = rung.run(fn, {"x": rung.uniform(0, 10)}, metric="loss", num_samples=12, search=search,
                      scheduler=rung.ASHA(max_t=3, reduction_factor=2), executor="thread", max_concurrent=1,
                      name="told", storage=storage, verbose=0)  # fmt: skip
    states = [t.state.name for t in search._study.trials]
    statuses = [t.status for t in result.trials]
    assert states.count("FAIL") == statuses.count(Status.ERROR)
    assert states.count("PRUNED") == statuses.count(Status.STOPPED) > 0
    assert states.count("COMPLETE") == statuses.count(Status.TERMINATED)


def test_same_seed_same_proposals(storage: Path) -> None:
    runs = [
        rung.run(
            branin,
            SPACE,
            metric="loss",
            num_samples=15,
            search=OptunaSearch(seed=5),
            executor="thread",
            max_concurrent=1,
            name=f"s{i}",
            storage=storage,
            verbose=0,
        )
        for i in range(2)
    ]
    assert [t.config for t in runs[0].trials] == [t.config for t in runs[1].trials]


def test_bad_input(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match=r"^OptunaSearch needs an optuna sampler \(optuna.samplers.\*\); got 3$"):
        OptunaSearch(3)
    with pytest.raises(ValueError, match="^OptunaSearch found nothing Optuna can model in this space"):
        rung.run(branin, {"x": rung.grid([1, 2]), "y": 1}, metric="loss", search=OptunaSearch(), storage=storage,
                 verbose=0)  # fmt: skip
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"^OptunaSearch needs optuna, which is not installed: pip install"):
        OptunaSearch()


def test_a_last_result_without_the_metric_tells_the_last_value_that_had_it(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> None:
        rung.report({"loss": config["x"]})
        rung.report({"loss": float("nan") if config["x"] > 5 else config["x"] / 2})
        rung.report({"done": 1.0})  # a closing report without the metric

    search = OptunaSearch(seed=0)
    result = rung.run(fn, {"x": rung.uniform(0, 10)}, metric="loss", num_samples=6, search=search,
                      executor="thread", max_concurrent=1, name="last", storage=storage, verbose=0)  # fmt: skip
    told = {t.params["x"]: (t.state.name, t.value) for t in search._study.trials}
    for trial in result.trials:
        x = trial.config["x"]
        assert told[x] == (("FAIL", None) if x > 5 else ("COMPLETE", pytest.approx(x / 2)))


def zdt(config: dict[str, Any]) -> dict[str, float]:
    x, y = config["x"], config["y"]
    g = 1 + 9 * y
    return {"f1": x, "f2": g * (1 - math.sqrt(x / g)), "mb": 100 * y}


@pytest.mark.parametrize(
    "make",
    [lambda: None, lambda: optuna.samplers.NSGAIISampler(seed=1, population_size=8)],
    ids=["tpe", "nsga2"],
)
def test_several_objectives_and_constraints_are_told_to_optuna(make: Any, storage: Path) -> None:
    search = OptunaSearch(make(), seed=1)
    space = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}
    result = rung.run(zdt, space, metric=["f1", "f2"], mode="min", constraints={"mb": ("<=", 30)},
                      num_samples=24, search=search, executor="thread", max_concurrent=1, storage=storage,
                      name="mo", verbose=0)  # fmt: skip
    study = search._study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    told = study.trials
    assert [t.values for t in told] == [[r.metrics["f1"], r.metrics["f2"]] for r in result.trials]
    assert [t.constraints for t in told] == [{"mb": r.metrics["mb"] - 30} for r in result.trials]
    # Optuna's own front (feasible, non-dominated) is rung's.
    assert sorted(t.number + 1 for t in study.best_trials) == sorted(t.id for t in result.pareto_front())


def test_stopped_trials_of_several_objectives_are_pruned(storage: Path) -> None:
    def train(config: dict[str, Any]) -> None:
        for step in range(1, 5):
            rung.report({"f1": config["x"] + 1 / step, "f2": 1 - config["x"], "seconds": step * config["x"] * 10})

    search = OptunaSearch(seed=2)
    rung.run(train, {"x": rung.uniform(0, 1)}, metric=["f1", "f2"], mode="min", num_samples=6, search=search,
             constraints={"seconds": ("<=", 10, "monotone")}, executor="thread", storage=storage,
             verbose=0)  # fmt: skip
    states = [t.state.name for t in search._study.trials]
    assert "PRUNED" in states and set(states) <= {"PRUNED", "COMPLETE"}
