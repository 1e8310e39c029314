"""rung.integrations.lightgbm with the real LightGBM, on 300 rows, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.types import Status

lgb = pytest.importorskip("lightgbm")
from rung.integrations.lightgbm import RungCallback, load_booster  # noqa: E402

pytestmark = pytest.mark.integration

ROUNDS = 9
ETAS = [1.0, 0.6, 0.3, 0.1, 0.03, 0.01]  # the best first at every milestone: ASHA stops the later ones


def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return x, y


def datasets() -> tuple[Any, Any]:
    x, y = arrays()
    train_set = lgb.Dataset(x[:200], label=y[:200], params={"verbose": -1})
    return train_set, lgb.Dataset(x[200:], label=y[200:], reference=train_set)


def params(lr: float) -> dict[str, Any]:
    # deterministic, one thread, no bagging: boosting on from a checkpoint must equal boosting through
    return {
        "objective": "binary",
        "learning_rate": lr,
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def train(config: dict[str, Any], log: Path) -> None:
    train_set, valid_set = datasets()
    booster = load_booster()
    done = booster.current_iteration() if booster else 0
    with log.open("a") as fh:  # which trial started from which round: the test reads it
        fh.write(f"{config['lr']} {done}\n")
    lgb.train(
        params(config["lr"]),
        train_set,
        num_boost_round=ROUNDS - done,
        valid_sets=[train_set, valid_set],
        valid_names=["training", "valid_0"],
        init_model=booster,
        callbacks=[RungCallback({"logloss": "valid_0-binary_logloss", "train_logloss": "training-binary_logloss"})],
    )


def starts(log: Path) -> list[tuple[float, int]]:
    return [(float(a), int(b)) for a, b in (line.split() for line in log.read_text().splitlines())]


def logloss(booster: Any) -> float:
    x, y = arrays()
    p = np.clip(booster.predict(x[200:]), 1e-15, 1 - 1e-15)
    return float(-np.mean(y[200:] * np.log(p) + (1 - y[200:]) * np.log(1 - p)))


def test_asha_stops_boosting_and_each_round_is_reported(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(ETAS)},
        metric="logloss",
        scheduler=rung.ASHA(max_t=ROUNDS, grace_period=1, reduction_factor=3),
        executor="thread",
        max_concurrent=1,
        name="lgb-stop",
        storage=storage,
        verbose=0,
    )
    stopped = [t for t in result.trials if t.status is Status.STOPPED]
    assert stopped and all(t.iteration < ROUNDS for t in stopped)
    assert any(t.status is Status.TERMINATED and t.iteration == ROUNDS for t in result.trials)
    for trial in result.trials:
        history = result.history(trial.id)
        # one result per boosting round, named as documented
        assert [r["round"] for r in history] == list(range(1, trial.iteration + 1))
        assert {"logloss", "train_logloss", "round"} <= set(history[-1])
        # a stopped trial's booster stopped at its last report: boosting really ended there
        booster = lgb.Booster(model_str=trial.checkpoint["model"])
        assert booster.current_iteration() == trial.iteration
        # what was reported is the booster's log loss on the validation rows
        assert history[-1]["logloss"] == pytest.approx(logloss(booster), abs=1e-6)
    assert all(done == 0 for _, done in starts(log))  # ASHA "stop" never pauses


def test_a_paused_trial_resumes_boosting_from_its_checkpoint(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(ETAS)},
        metric="logloss",
        scheduler=rung.ASHA(max_t=ROUNDS, grace_period=1, reduction_factor=3, variant="promote"),
        executor="thread",
        max_concurrent=1,
        name="lgb-promote",
        storage=storage,
        verbose=0,
    )
    resumed = {lr: done for lr, done in starts(log) if done > 0}
    finished = [t for t in result.trials if t.iteration == ROUNDS]
    assert finished
    x, _ = arrays()
    for trial in finished:
        # promoted through every milestone: paused at 1 and 3 rounds, resumed from those boosters
        assert resumed[trial.config["lr"]] == 3
        assert [r["round"] for r in result.history(trial.id)] == list(range(1, ROUNDS + 1))
        booster = lgb.Booster(model_str=trial.checkpoint["model"])
        # boosting on from the checkpoint gives the booster that trained without a pause
        train_set, _ = datasets()
        through = lgb.train(params(trial.config["lr"]), train_set, num_boost_round=ROUNDS)
        np.testing.assert_allclose(booster.predict(x[200:]), through.predict(x[200:]), rtol=1e-9)


def test_the_default_scheduler_ends_boosting_early_too(storage: Path, tmp_path: Path) -> None:
    result = rung.run(  # no scheduler=: rung's default adapts, pausing at milestones the trials that checkpoint
        rung.with_parameters(train, log=tmp_path / "starts.txt"),
        {"lr": rung.loguniform(0.01, 1.0)},
        metric="logloss",
        num_samples=8,
        stop={"training_iteration": ROUNDS},
        executor="thread",
        max_concurrent=1,
        storage=storage,
        verbose=0,
    )
    short = [t for t in result.trials if t.iteration < ROUNDS]
    assert short and all(t.status is Status.STOPPED for t in short)
    for trial in result.trials:
        assert [r["round"] for r in result.history(trial.id)] == list(range(1, trial.iteration + 1))
        booster = lgb.Booster(model_str=trial.checkpoint["model"])
        assert booster.current_iteration() == trial.iteration  # boosting ended where the reports did


def test_load_booster_refuses_a_checkpoint_of_another_kind(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        if rung.get_checkpoint() is None:
            rung.report({"x": 1.0}, checkpoint={"integration": "xgboost", "booster": b""})
        load_booster()

    result = rung.run(
        objective,
        {},
        metric="x",
        scheduler=rung.ASHA(max_t=2, grace_period=1, variant="promote"),
        num_samples=2,
        executor="thread",
        max_concurrent=1,
        storage=storage,
        verbose=0,
    )
    errors = [t.error for t in result.trials if t.error]
    assert (
        errors
        and "ValueError: load_booster() reads checkpoints that rung.integrations.lightgbm.RungCallback" in (errors[0])
    )
    assert "reported; this trial's checkpoint is rung.integrations.xgboost's" in errors[0]


def test_lightgbm_early_stopping_ends_the_trial_before_its_round_is_reported(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        train_set, valid_set = datasets()
        lgb.train(
            {**params(1.0), "num_leaves": 31, "min_data_in_leaf": 1},  # overfits at once
            train_set,
            num_boost_round=50,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(2, verbose=False), RungCallback()],
        )

    result = rung.run(objective, {}, metric="valid_0-binary_logloss", executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    history = result.history(trial.id)
    assert trial.status is Status.TERMINATED and trial.iteration < 50
    assert [r["round"] for r in history] == list(range(1, trial.iteration + 1))
    assert set(history[0]) >= {"valid_0-binary_logloss", "round"}


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"RungCallback needs checkpoint_every to be an integer >= 0; got checkpoint_every=-1"
    ):
        RungCallback(checkpoint_every=-1)
    with pytest.raises(ValueError, match=r"RungCallback needs metrics to name at least one value \(or None for all\)"):
        RungCallback([])
