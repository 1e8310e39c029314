"""LightGBM tuned with early stopping at two levels: LightGBM's own, and rung's ASHA across trials.

What it shows: a plain objective that trains `lightgbm.train` and reports the validation log-loss to
rung from a LightGBM callback every 25 boosting rounds (the callback is the whole integration: ten
lines, below). Inside a trial, `lightgbm.early_stopping` ends training once the validation loss has
not improved for 50 rounds; across trials, ASHA stops the poor ones at their first reports (the
`rung.TrialInterrupt` that `rung.report` raises goes through LightGBM and ends `lightgbm.train`).
The same 24 trials run twice, without and with ASHA, to compare boosting rounds, time and the best
loss. Data: a synthetic binary classification (scikit-learn's `make_classification`, 20,000 rows),
60% to train on, 20% to validate on (the metric), 20% held out for the best model's test AUC.

Run: `python examples/lightgbm_early_stopping.py` (about 2 minutes on 2 cores), or with `--smoke`
(tiny, a few seconds: what CI runs).

What it printed (full run, 2 cores):

    (filled in below from a real run)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import rung

SPACE = {
    "learning_rate": rung.loguniform(0.01, 0.3),
    "num_leaves": rung.lograndint(8, 256),
    "min_child_samples": rung.randint(5, 100),
    "feature_fraction": rung.uniform(0.5, 1.0),
    "lambda_l2": rung.loguniform(1e-8, 10.0),
}


def report_every(rounds: int) -> Any:
    """A LightGBM callback that reports the validation metrics to rung every `rounds` boosting rounds."""

    def callback(env: Any) -> None:
        done = env.iteration + 1
        if done % rounds == 0:
            metrics = {f"{data}_{name}": value for data, name, value, *_ in env.evaluation_result_list}
            rung.report({**metrics, "boosting_rounds": done})  # raises TrialInterrupt when ASHA stops it

    callback.order = 30  # after LightGBM's own early_stopping (order 30 too, added first)
    return callback


def train(config: dict[str, Any], data: dict[str, np.ndarray], max_rounds: int, every: int) -> None:
    """One trial: up to `max_rounds` boosting rounds, LightGBM stopping itself after 50 without progress."""
    params = {
        "objective": "binary", "metric": "binary_logloss", "verbosity": -1, "seed": 0,
        "num_threads": 1, "deterministic": True, "force_col_wise": True, **config,
    }  # fmt: skip
    train_set = lgb.Dataset(data["x_train"], data["y_train"])
    valid_set = lgb.Dataset(data["x_valid"], data["y_valid"], reference=train_set)
    booster = lgb.train(
        params, train_set, num_boost_round=max_rounds, valid_sets=[valid_set], valid_names=["valid"],
        callbacks=[lgb.early_stopping(50, verbose=False), report_every(every)],
    )  # fmt: skip
    # LightGBM stopped itself (or ran out of rounds): the best iteration is the trial's result.
    best = booster.best_score["valid"]["binary_logloss"]
    rung.report({"valid_binary_logloss": best, "boosting_rounds": booster.current_iteration()})


def held_out_auc(config: dict[str, Any], data: dict[str, np.ndarray], rounds: int) -> float:
    params = {"objective": "binary", "verbosity": -1, "seed": 0, "num_threads": 2, "deterministic": True, **config}
    x = np.vstack([data["x_train"], data["x_valid"]])
    y = np.concatenate([data["y_train"], data["y_valid"]])
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds)
    return float(roc_auc_score(data["y_test"], booster.predict(data["x_test"])))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data and budgets (CI)")
    args = parser.parse_args(argv)
    rows, max_rounds, every, trials = (1_000, 40, 10, 4) if args.smoke else (20_000, 500, 25, 24)
    x, y = make_classification(rows, n_features=40, n_informative=12, flip_y=0.05, random_state=0)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=0)
    x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0)
    data = {"x_train": x_train, "y_train": y_train, "x_valid": x_valid, "y_valid": y_valid, "x_test": x_test}
    data["y_test"] = y_test
    objective = rung.with_parameters(train, data=data, max_rounds=max_rounds, every=every)
    reports = max_rounds // every
    with tempfile.TemporaryDirectory() as storage:
        for label, scheduler in [
            ("without ASHA", None),
            ("with ASHA", rung.ASHA(max_t=reports, grace_period=1, reduction_factor=3)),
        ]:
            start = time.perf_counter()
            result = rung.run(
                objective, SPACE, metric="valid_binary_logloss", mode="min", num_samples=trials,
                search="random", scheduler=scheduler, storage=storage, seed=0, verbose=0,
            )  # fmt: skip
            took = time.perf_counter() - start
            best = result.best
            assert best is not None and best.best_metrics is not None
            boosted = sum(int(t.metrics.get("boosting_rounds", 0)) for t in result.trials)
            stopped = sum(t.status is rung.Status.STOPPED for t in result.trials)
            rounds = int(best.metrics["boosting_rounds"])
            print(
                f"{label:>12}: {trials} trials in {took:5.1f} s, {boosted:5d} boosting rounds,"
                f" {stopped:2d} stopped by ASHA; best valid log-loss {best.best_metrics['valid_binary_logloss']:.4f}"
                f" (trial {best.id}, {rounds} rounds), test AUC {held_out_auc(best.config, data, rounds):.4f}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
