"""A scikit-learn Pipeline tuned with `rung.sklearn.RungSearchCV`, the drop-in for GridSearchCV.

What it shows:
1. Drop-in: the same grid through `GridSearchCV` and `RungSearchCV` gives the same `cv_results_`
   scores and the same best params (each trial is one set of params, fitted on every fold).
2. What GridSearchCV cannot do: scipy.stats distributions searched by TPE, 2 trials at once in
   worker processes (`n_jobs=2`), and early stopping: `SGDClassifier.partial_fit` trains each
   trial one epoch per round, and ASHA stops the poor ones after 1 or 3 epochs instead of 27.
The data: scikit-learn's digits (8x8 images of handwritten digits), 75% to search on, 25% held out.

Run: `python examples/sklearn_pipeline.py` (about a minute on 2 cores), or with `--smoke` (tiny,
a few seconds: what CI runs).

What it printed (full run, 2 cores):

    (filled in below from a real run)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from rung.sklearn import RungSearchCV


def pipeline() -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("clf", SGDClassifier(loss="log_loss", learning_rate="adaptive", eta0=0.01, random_state=0)),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data and budgets (CI)")
    args = parser.parse_args(argv)
    x, y = load_digits(return_X_y=True)
    if args.smoke:
        x, y = x[:300], y[:300]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)

    # 1. The drop-in: same grid, same folds, same scores.
    grid = {"clf__alpha": [1e-4, 1e-3, 1e-2], "clf__penalty": ["l2", "l1"]}
    if args.smoke:
        grid = {"clf__alpha": [1e-4, 1e-2]}
    start = time.perf_counter()
    theirs = GridSearchCV(pipeline(), grid, cv=cv).fit(x_train, y_train)
    sk_time = time.perf_counter() - start
    start = time.perf_counter()
    ours = RungSearchCV(pipeline(), param_grid=grid, cv=cv).fit(x_train, y_train)
    rung_time = time.perf_counter() - start
    same = np.allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    print(f"grid of {len(ours.cv_results_['params'])}: GridSearchCV {sk_time:.1f} s, RungSearchCV {rung_time:.1f} s;")
    print(f"  same mean_test_score for every params: {same}; best {ours.best_params_}")
    print(f"  (GridSearchCV's best: {theirs.best_params_})")

    # 2. TPE over distributions, 2 trials at once, and ASHA stopping the poor trials early.
    rounds, n_iter, n_jobs = (3, 6, 1) if args.smoke else (27, 40, 2)
    space = {
        "clf__alpha": loguniform(1e-6, 1e-1),
        "clf__eta0": loguniform(1e-4, 1.0),
        "clf__penalty": ["l2", "l1", "elasticnet"],
    }
    search = RungSearchCV(
        pipeline(), space, n_iter=n_iter, cv=cv, n_jobs=n_jobs, random_state=0,
        early_stopping=True, rounds=rounds,  # one partial_fit epoch per round; ASHA stops at 1, 3, 9 rounds
    )  # fmt: skip
    start = time.perf_counter()
    search.fit(x_train, y_train)
    took = time.perf_counter() - start
    epochs = int(search.cv_results_["n_rounds"].sum())
    print(f"TPE + ASHA, {n_iter} trials x {search.n_splits_} folds in {took:.1f} s:")
    print(f"  epochs trained per fold: {epochs} of {n_iter * rounds} without early stopping")
    best = {k: round(v, 6) if isinstance(v, float) else v for k, v in search.best_params_.items()}
    print(f"  best {best}: CV accuracy {search.best_score_:.3f}, held-out accuracy {search.score(x_test, y_test):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
