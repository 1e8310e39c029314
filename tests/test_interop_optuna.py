"""`rung.interop`: a rung experiment exported into a real Optuna storage, and an Optuna study as known results."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import rung
from rung.cli import main
from rung.interop import from_optuna, to_optuna
from rung.interop._params import distributions, domain_paths, params

optuna.logging.set_verbosity(optuna.logging.WARNING)


def train(config: dict[str, Any]) -> None:
    if config["fail"] and config["x"] > 0.8:
        raise RuntimeError("diverged")
    for epoch in range(1, 4):
        value = (config["x"] - 0.3) ** 2 + config["model"].get("width", 8) / 1000 + 1 / epoch
        rung.report({"loss": value, "acc": 1 - value})


SPACE = {
    "x": rung.uniform(0, 1),
    "lr": rung.loguniform(1e-4, 1e-1),
    "layers": rung.randint(1, 4),
    "model": rung.choice([{"kind": "mlp", "width": rung.qrandint(16, 64, 16)}, {"kind": "linear"}]),
    "fail": rung.choice([False, True]),
    "epochs": 3,
}


@pytest.fixture
def experiment(storage: Path) -> rung.ExperimentResult:
    rung.run(train, SPACE, metric="loss", num_samples=12, search="random", scheduler=rung.ASHA(max_t=3, grace_period=1),
             executor="thread", max_concurrent=2, storage=storage, name="exp", seed=1, verbose=0)  # fmt: skip
    return rung.load("exp", storage=storage)


def test_export_gives_optuna_the_same_best(experiment: rung.ExperimentResult, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    to_optuna(experiment, url)
    study = optuna.load_study(study_name="exp", storage=url)
    best = experiment.best
    assert best is not None and best.best_metrics is not None
    assert study.best_value == best.best_metrics["loss"]
    expected = {"x": best.config["x"], "lr": best.config["lr"], "layers": best.config["layers"],
                "model/kind": best.config["model"]["kind"], "fail": best.config["fail"]}  # fmt: skip
    if "width" in best.config["model"]:
        expected["model/width"] = best.config["model"]["width"]
    assert study.best_params == expected  # the constant "epochs" is no param
    assert study.best_trial.user_attrs["rung"]["trial_id"] == best.id
    assert study.metric_names == ["loss"] and study.direction == optuna.study.StudyDirection.MINIMIZE
    states = {t.id: {"TERMINATED": TrialState.COMPLETE, "STOPPED": TrialState.PRUNED, "ERROR": TrialState.FAIL}[
        t.status.value] for t in experiment.trials}  # fmt: skip
    assert set(states.values()) == {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    assert [states[t.user_attrs["rung"]["trial_id"]] for t in study.trials] == list(states.values())
    for frozen in study.trials:
        trial = experiment.trials[frozen.user_attrs["rung"]["trial_id"] - 1]
        curve = {r["training_iteration"]: r["loss"] for r in experiment.history(trial.id)}
        assert frozen.intermediate_values == curve
        assert frozen.user_attrs.get("acc") == trial.metrics.get("acc")
        if frozen.state is TrialState.PRUNED:
            assert frozen.value == curve[max(curve)]  # as Optuna's tell stores a pruned trial's value
        if frozen.state is TrialState.FAIL:
            assert "RuntimeError: diverged" in frozen.system_attrs["fail_reason"] and frozen.value is None
    # What Optuna's own tools draw from it.
    assert len(study.trials_dataframe()) == len(experiment.trials)
    from optuna.visualization import plot_intermediate_values, plot_optimization_history, plot_param_importances

    figure = plot_optimization_history(study)
    assert min(figure.data[0].y) == study.best_value
    plot_param_importances(study)
    plot_intermediate_values(study)
    assert set(optuna.importance.get_param_importances(study)) >= {"x", "lr", "layers"}


def test_the_distributions_match_rungs_domains() -> None:
    space = {
        "u": rung.uniform(-1, 1), "lu": rung.loguniform(1e-3, 1.0), "qu": rung.quniform(0.0, 1.0, 0.25),
        "qu_off": rung.quniform(0.1, 1.0, 0.25), "qlu": rung.qloguniform(1, 100, 5), "ri": rung.randint(1, 4),
        "qri": rung.qrandint(0, 100, 10), "qri_off": rung.qrandint(5, 100, 10), "lri": rung.lograndint(1, 1024),
        "n": rung.normal(0.0, 1.0), "c": rung.choice(["a", None, 3]), "lists": rung.choice([[1, 2], [3]]),
        "g": rung.grid([1, 2]), "d": rung.sample_from(lambda c: c["u"] * 2), "k": 7,
        "nested": {"deep": rung.uniform(0, 1)},
    }  # fmt: skip
    domains = domain_paths(rung.Space(space).to_json())
    configs = [rung.Space(space).sample(np.random.default_rng(i)) for i in range(40)]
    flat = [params(c, domains) for c in configs]
    assert set(flat[0]) == set(space) - {"d", "k", "nested"} | {"nested/deep"}  # derived and constant values out
    seen: dict[str, list[Any]] = {}
    for values in flat:
        for key, value in values.items():
            seen.setdefault(key, []).append(value)
    got = distributions(seen, domains)
    assert got["u"] == FloatDistribution(-1, 1)
    assert got["lu"] == FloatDistribution(1e-3, 1.0, log=True)
    assert got["qu"] == FloatDistribution(0.0, 1.0, step=0.25)
    assert got["qu_off"] == FloatDistribution(0.1, 1.0)  # 0.1 is no multiple of 0.25: Optuna's steps would miss
    assert got["qlu"] == FloatDistribution(1, 100, log=True)  # Optuna has no step with log
    assert got["ri"] == IntDistribution(1, 4)  # rung.randint includes its upper end, as suggest_int does
    assert got["qri"] == IntDistribution(0, 100, step=10)
    assert got["qri_off"] == IntDistribution(5, 100)
    assert got["lri"] == IntDistribution(1, 1024, log=True)
    normal = got["n"]
    assert isinstance(normal, FloatDistribution) and normal.low <= -4 and normal.high >= 4
    assert got["c"] == CategoricalDistribution(["a", None, 3])
    assert got["lists"] == CategoricalDistribution(["[1, 2]", "[3]"]) and set(seen["lists"]) == {"[1, 2]", "[3]"}
    assert got["g"] == CategoricalDistribution([1, 2])
    assert got["nested/deep"] == FloatDistribution(0, 1)
    for key, values in seen.items():  # every value is inside its distribution
        assert all(got[key]._contains(got[key].to_internal_repr(v)) for v in values), key


def test_unended_trials_are_left_out_and_a_study_is_replaced_only_when_asked(storage: Path, tmp_path: Path) -> None:
    study = rung.Study({"x": rung.uniform(0, 1)}, metric="acc", mode="max", name="s", storage=storage)
    for value in (0.2, 0.9):
        study.tell(study.ask().id, {"acc": value})
    study.ask()  # running: not exported
    url = f"sqlite:///{tmp_path / 'o.db'}"
    exported = to_optuna(study.result(), url, study_name="mine")
    assert [t.value for t in exported.trials] == [0.2, 0.9] and exported.best_value == 0.9
    assert exported.direction == optuna.study.StudyDirection.MAXIMIZE
    message = (
        "to_optuna: the Optuna storage already holds a study 'mine'; pass replace=True (--replace) to write it"
        " again, or another study_name (--study)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        to_optuna(study.result(), url, study_name="mine")
    study.tell(3, {"acc": 0.5})
    assert len(to_optuna(study.result(), url, study_name="mine", replace=True).trials) == 3
    assert len(optuna.load_study(study_name="mine", storage=url).trials) == 3


def test_a_trial_that_never_gave_the_metric_fails_in_optuna(storage: Path, tmp_path: Path) -> None:
    rung.run(lambda c: {"loss": math.nan if c["x"] > 0.5 else c["x"]}, {"x": rung.grid([0.25, 0.75])}, metric="loss",
             executor="thread", storage=storage, name="nan", verbose=0)  # fmt: skip
    study = to_optuna(rung.load("nan", storage=storage), f"sqlite:///{tmp_path / 'o.db'}")
    assert [(t.state, t.value) for t in study.trials] == [(TrialState.COMPLETE, 0.25), (TrialState.FAIL, None)]
    rung.run(lambda c: {"loss": 1.0}, {"x": rung.uniform(0, 1)}, executor="thread", storage=storage, name="nometric",
             verbose=0)  # fmt: skip
    with pytest.raises(ValueError, match="^to_optuna: experiment 'nometric' has no metric, and an Optuna trial's"):
        to_optuna(rung.load("nometric", storage=storage), f"sqlite:///{tmp_path / 'o.db'}")


def test_export_unpickles_nothing(storage: Path, tmp_path: Path) -> None:
    # A choice of classes from a module the exporting process cannot import: the configs are stored
    # as pickles (for the objective) and as their text (for readers). Export reads the text.
    (tmp_path / "gone_module.py").write_text("class Adam:\n    pass\n\nclass SGD:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import gone_module

        rung.run(lambda c: {"loss": 0.1 if c["opt"] is gone_module.Adam else 0.2},
                 {"opt": rung.choice([gone_module.Adam, gone_module.SGD])}, metric="loss", num_samples=4,
                 search="random", executor="thread", storage=storage, name="objects", verbose=0)  # fmt: skip
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gone_module", None)
    (tmp_path / "gone_module.py").unlink()
    study = to_optuna(rung.load("objects", storage=storage), f"sqlite:///{tmp_path / 'o.db'}")
    assert study.best_params == {"opt": "<class 'gone_module.Adam'>"}


def test_an_optuna_study_warm_starts_a_run(storage: Path) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("opt/lr", 1e-4, 1e-1, log=True) - 0.01) ** 2
                   + t.suggest_int("layers", 1, 4), n_trials=6)  # fmt: skip
    known = from_optuna(study, metric="loss")
    assert known[0] == {"config": {"opt": {"lr": study.trials[0].params["opt/lr"]}, "layers": study.trials[0].params[
        "layers"]}, "result": {"loss": study.trials[0].value}}  # fmt: skip
    calls: list[Any] = []
    result = rung.run(lambda c: calls.append(c) or {"loss": 10.0}, {"opt": {"lr": rung.loguniform(1e-4, 1e-1)},
                      "layers": rung.randint(1, 4)}, metric="loss", num_samples=2, executor="thread", storage=storage,
                      name="warm", verbose=0, known=known)  # fmt: skip
    assert len(calls) == 2 and len(result.trials) == 8
    assert result.best is not None and result.best.best_metrics is not None
    assert result.best.best_metrics["loss"] == study.best_value


def test_a_rung_export_reads_back_as_the_same_known_results(experiment: rung.ExperimentResult, tmp_path: Path) -> None:
    study = to_optuna(experiment, f"sqlite:///{tmp_path / 'o.db'}")
    known = from_optuna(study)  # the metric name travels with the export
    completed = [t for t in experiment.trials if t.status is rung.Status.TERMINATED]
    assert known == [
        {"config": t.config, "result": {"loss": t.best_metrics["loss"]}} for t in completed if t.best_metrics
    ]
    with pytest.raises(TypeError, match=re.escape("a list of 2 str (one per objective of study 'multi'); got 'loss'")):
        from_optuna(optuna.create_study(study_name="multi", directions=["minimize", "maximize"]), metric="loss")


def _two(config: dict[str, Any]) -> None:
    for epoch in range(1, 4):
        rung.report({"err": (config["x"] - 0.3) ** 2 + 1 / epoch, "mb": 100 * config["x"], "acc": config["x"]})


def test_several_objectives_and_constraints_export_as_optuna_stores_them(storage: Path, tmp_path: Path) -> None:
    # Every trial to its end (the default would stop some early: see the test below for those).
    result = rung.run(_two, {"x": rung.uniform(0, 1)}, metric=["err", "acc"], mode=["min", "max"], num_samples=10,
                      constraints={"mb": ("<=", 60)}, scheduler="fifo", executor="thread", storage=storage,
                      name="mo", seed=2, verbose=0)  # fmt: skip
    study = to_optuna(result, f"sqlite:///{tmp_path / 'mo.db'}")
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    assert study.metric_names == ["err", "acc"]
    by_config = {t.params["x"]: t for t in study.trials}
    for trial in result.trials:
        exported = by_config[trial.config["x"]]
        assert trial.best_metrics is not None
        assert exported.values == [trial.best_metrics["err"], trial.best_metrics["acc"]]
        assert exported.system_attrs["constraints"] == [pytest.approx(100 * trial.config["x"] - 60)]
    # Optuna's own Pareto front (constraints aside) holds rung's front.
    optuna_front = {t.params["x"] for t in study.best_trials}
    assert {t.config["x"] for t in result.pareto_front()} <= optuna_front
    known = from_optuna(study)
    assert [k["result"] for k in known] == [
        {"err": t.best_metrics["err"], "acc": t.best_metrics["acc"]} for t in result.trials if t.best_metrics
    ]


def test_several_objectives_stopped_early_export_as_pruned_without_values(storage: Path, tmp_path: Path) -> None:
    # The default stops trials of several objectives at milestones; Optuna keeps no values for a pruned trial
    # of a multi-objective study (it has no intermediate values for several objectives either).
    result = rung.run(_two, {"x": rung.uniform(0, 1)}, metric=["err", "acc"], mode=["min", "max"], num_samples=12,
                      executor="thread", storage=storage, name="mo-stopped", seed=2, verbose=0)  # fmt: skip
    stopped = [t for t in result.trials if t.status.value == "STOPPED"]
    assert stopped, "the default stopped no trial: this test no longer checks what it says"
    study = to_optuna(result, f"sqlite:///{tmp_path / 'stopped.db'}")
    by_config = {t.params["x"]: t for t in study.trials}
    for trial in result.trials:
        exported = by_config[trial.config["x"]]
        if trial in stopped:
            assert exported.state is optuna.trial.TrialState.PRUNED and exported.values is None
        else:
            assert trial.best_metrics is not None
            assert exported.values == [trial.best_metrics["err"], trial.best_metrics["acc"]]


def test_rung_export_on_the_command_line(experiment: rung.ExperimentResult, tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    storage = str(experiment.storage)
    assert main(["export", "exp", "--optuna", url, "--storage", storage]) == 0
    counts = {
        state: sum(t.status.value == state for t in experiment.trials) for state in ("TERMINATED", "STOPPED", "ERROR")
    }
    out = capsys.readouterr().out
    assert (
        f"exported 'exp' to Optuna study 'exp' in {url}: {counts['TERMINATED']} COMPLETE, {counts['ERROR']} FAIL,"
        in out
    )
    assert f"see it with: optuna-dashboard {url}" in out
    assert main(["export", "exp", "--optuna", url, "--storage", storage]) == 2
    assert "pass replace=True (--replace)" in capsys.readouterr().err
    assert main(["export", "exp", "--optuna", url, "--storage", storage, "--study", "again"]) == 0
    assert {s.study_name for s in optuna.get_all_study_summaries(url)} == {"exp", "again"}
