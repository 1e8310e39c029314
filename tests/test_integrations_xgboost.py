"""rung.integrations.xgboost with the real XGBoost, on 300 rows, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.types import Status

xgb = pytest.importorskip("xgboost")
from rung.integrations.xgboost import RungCallback, load_booster  # noqa: E402

pytestmark = pytest.mark.integration

ROUNDS = 9


def data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return xgb.DMatrix(x[:200], label=y[:200]), xgb.DMatrix(x[200:], label=y[200:])


def params(eta: float) -> dict[str, Any]:
    return {"eta": eta, "objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 2, "nthread": 1}


def train(config: dict[str, Any], log: Path) -> None:
    dtrain, dvalid = data()
    booster = load_booster()
    done = booster.num_boosted_rounds() if booster else 0
    with log.open("a") as fh:  # which trial started from which round: the test reads it
        fh.write(f"{config['eta']} {done}\n")
    xgb.train(
        params(config["eta"]),
        dtrain,
        num_boost_round=ROUNDS - done,
        evals=[(dtrain, "train"), (dvalid, "eval")],
        xgb_model=booster,
        verbose_eval=False,
        callbacks=[RungCallback({"logloss": "eval-logloss", "train_logloss": "train-logloss"})],
    )


def starts(log: Path) -> list[tuple[float, int]]:
    return [(float(a), int(b)) for a, b in (line.split() for line in log.read_text().splitlines())]


def uninterrupted(eta: float) -> Any:
    dtrain, _ = data()
    return xgb.train(params(eta), dtrain, num_boost_round=ROUNDS, verbose_eval=False)


ETAS = [1.0, 0.6, 0.3, 0.1, 0.03, 0.01]  # the best first at every milestone: ASHA stops the later ones


def test_asha_stops_boosting_and_each_round_is_reported(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"eta": rung.grid(ETAS)},
        metric="logloss",
        scheduler=rung.ASHA(max_t=ROUNDS, grace_period=1, reduction_factor=3),
        executor="process",  # rung's default: XGBoost in a worker process, unwound there by the stop
        max_concurrent=1,
        name="xgb-stop",
        storage=storage,
        verbose=0,
    )
    _, dvalid = data()
    stopped = [t for t in result.trials if t.status is Status.STOPPED]
    assert stopped and all(t.iteration < ROUNDS for t in stopped)
    assert any(t.status is Status.TERMINATED and t.iteration == ROUNDS for t in result.trials)
    for trial in result.trials:
        history = result.history(trial.id)
        # one result per boosting round, named as documented
        assert [r["round"] for r in history] == list(range(1, trial.iteration + 1))
        assert {"logloss", "train_logloss", "round"} <= set(history[-1])
        # a stopped trial's booster stopped at its last report: boosting really ended there
        booster = xgb.Booster()
        booster.load_model(bytearray(trial.checkpoint["booster"]))
        assert booster.num_boosted_rounds() == trial.iteration
        # what was reported is XGBoost's own evaluation of that booster
        logloss = float(booster.eval(dvalid, "eval").split(":")[1])
        assert history[-1]["logloss"] == pytest.approx(logloss, abs=1e-6)
    assert all(done == 0 for _, done in starts(log))  # ASHA "stop" never pauses


def test_a_paused_trial_resumes_boosting_from_its_checkpoint(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"eta": rung.grid(ETAS)},
        metric="logloss",
        scheduler=rung.ASHA(max_t=ROUNDS, grace_period=1, reduction_factor=3, variant="promote"),
        executor="thread",
        max_concurrent=1,
        name="xgb-promote",
        storage=storage,
        verbose=0,
    )
    resumed = {eta: done for eta, done in starts(log) if done > 0}
    assert resumed, "ASHA promote resumes paused trials"
    finished = [t for t in result.trials if t.iteration == ROUNDS]
    assert finished
    for trial in finished:
        # promoted through every milestone: paused at 1 and 3 rounds, resumed from those boosters
        assert resumed[trial.config["eta"]] == 3
        assert [r["round"] for r in result.history(trial.id)] == list(range(1, ROUNDS + 1))
        booster = xgb.Booster()
        booster.load_model(bytearray(trial.checkpoint["booster"]))
        _, dvalid = data()
        # boosting on from the checkpoint gives the booster that trained without a pause
        expected = uninterrupted(trial.config["eta"]).predict(dvalid)
        np.testing.assert_allclose(booster.predict(dvalid), expected, rtol=1e-6)


def test_run_stop_ends_boosting_at_the_round_it_names(storage: Path, tmp_path: Path) -> None:
    result = rung.run(
        rung.with_parameters(train, log=tmp_path / "starts.txt"),
        {"eta": 0.3},
        metric="logloss",
        stop={"training_iteration": 4},
        executor="thread",
        storage=storage,
        verbose=0,
    )
    (trial,) = result.trials
    assert trial.status is Status.TERMINATED and trial.iteration == 4
    booster = xgb.Booster()
    booster.load_model(bytearray(trial.checkpoint["booster"]))
    assert booster.num_boosted_rounds() == 4  # of the ROUNDS = 9 asked for: boosting ended at the stop


def test_load_booster_refuses_a_checkpoint_of_another_kind(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        if rung.get_checkpoint() is None:
            rung.report({"x": 1.0}, checkpoint={"epoch": 1})
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
        and "load_booster() reads checkpoints that rung.integrations.xgboost.RungCallback reported;" in (errors[0])
    )
    assert "this trial's checkpoint is a dict" in errors[0]


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"RungCallback needs checkpoint_every to be an integer >= 0; got checkpoint_every=-1"
    ):
        RungCallback(checkpoint_every=-1)
    with pytest.raises(TypeError, match=r"RungCallback needs metrics to be None, a logged name, .*; got metrics=3"):
        RungCallback(3)  # type: ignore[arg-type]


def test_a_metric_that_xgboost_did_not_log_fails_the_trial_with_the_names_it_did(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        dtrain, dvalid = data()
        xgb.train(params(0.1), dtrain, 3, evals=[(dvalid, "eval")], verbose_eval=False,
                  callbacks=[RungCallback("valid-logloss")])  # fmt: skip

    result = rung.run(objective, {}, executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    assert trial.status is Status.ERROR
    assert "KeyError: \"RungCallback was asked to report 'valid-logloss', which was not logged in round 1;" in (
        trial.error or ""
    )
    assert "logged: ['eval-logloss']" in (trial.error or "")
