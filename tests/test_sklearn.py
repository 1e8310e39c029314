"""`rung.sklearn.RungSearchCV` against scikit-learn itself, on small slices of iris and digits."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import rung
from rung.sklearn import RungSearchCV
from rung.store.sqlite import Store

CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x[:450], y[:450]


def _same_results(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert set(ours) - set(theirs) == {"trial_id"}
    assert ours["params"] == theirs["params"]
    for key, value in theirs.items():
        if key.startswith(("split", "mean_test", "std_test", "rank_test", "mean_train", "std_train")):
            np.testing.assert_allclose(ours[key], value, err_msg=key)
        elif key.startswith("param_"):
            assert ours[key].dtype == value.dtype, key
            assert list(ours[key]) == list(value), key
            assert list(ours[key].mask) == list(value.mask), key


def test_a_grid_gives_what_gridsearchcv_gives(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    grid = {"gamma": [0.01, 0.1, 1.0], "C": [0.1, 1, 10]}
    ours = RungSearchCV(SVC(), param_grid=grid, cv=CV, return_train_score=True).fit(x, y)
    theirs = GridSearchCV(SVC(), grid, cv=CV, return_train_score=True).fit(x, y)
    _same_results(ours.cv_results_, theirs.cv_results_)
    assert (ours.best_index_, ours.best_params_, ours.best_score_) == (
        theirs.best_index_,
        theirs.best_params_,
        theirs.best_score_,
    )
    assert ours.n_splits_ == 3 and not ours.multimetric_
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    assert ours.score(x, y) == theirs.score(x, y)
    assert ours.cv_results_["mean_fit_time"].shape == (9,) and (ours.cv_results_["mean_fit_time"] > 0).all()
    assert ours.result_ is None  # no storage given: the temporary store is gone


def test_a_list_of_grids_and_sample_weight_give_what_gridsearchcv_gives(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    grid = [{"kernel": ["linear"], "C": [0.5, 2]}, {"kernel": ["rbf"], "gamma": [0.1, 1.0], "C": [1]}]
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours = RungSearchCV(SVC(), param_grid=grid, cv=CV).fit(x, y, sample_weight=weights)
    theirs = GridSearchCV(SVC(), grid, cv=CV).fit(x, y, sample_weight=weights)
    _same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.cv_results_["param_gamma"].mask.tolist() == [True, True, False, False]


def test_a_precomputed_kernel_is_split_on_both_axes(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    kernel = x @ x.T
    grid = {"C": [0.01, 1.0]}
    ours = RungSearchCV(SVC(kernel="precomputed"), param_grid=grid, cv=CV).fit(kernel, y)
    theirs = GridSearchCV(SVC(kernel="precomputed"), grid, cv=CV).fit(kernel, y)
    _same_results(ours.cv_results_, theirs.cv_results_)


def test_n_jobs_2_runs_trials_in_processes_with_the_same_scores(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    grid = {"C": [0.1, 1, 10], "fit_intercept": [True, False]}
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    ours = RungSearchCV(pipe, param_grid={f"clf__{k}": v for k, v in grid.items()}, cv=CV, n_jobs=2).fit(x, y)
    theirs = GridSearchCV(pipe, {f"clf__{k}": v for k, v in grid.items()}, cv=CV).fit(x, y)
    _same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.best_params_ == theirs.best_params_
    assert isinstance(ours.best_estimator_, Pipeline) and ours.best_estimator_.named_steps["clf"].C in (0.1, 1, 10)


def test_multi_metric_scoring_and_each_kind_of_refit(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    grid = {"C": [0.01, 1.0]}
    est = SVC()
    scoring = ["accuracy", "f1_macro"]
    ours = RungSearchCV(est, param_grid=grid, cv=CV, scoring=scoring, refit="f1_macro").fit(x, y)
    theirs = GridSearchCV(est, grid, cv=CV, scoring=scoring, refit="f1_macro").fit(x, y)
    _same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.multimetric_ and ours.best_score_ == theirs.best_score_
    assert ours.score(x, y) == pytest.approx(theirs.score(x, y))

    no_refit = RungSearchCV(est, param_grid=grid, cv=CV, scoring=scoring, refit=False).fit(x, y)
    assert not hasattr(no_refit, "best_params_") and not hasattr(no_refit, "best_estimator_")
    with pytest.raises(AttributeError, match="has no attribute 'predict'") as info:
        no_refit.predict(x)
    assert "RungSearchCV was built with refit=False" in str(info.value.__cause__)
    single = RungSearchCV(est, param_grid=grid, cv=CV, refit=False).fit(x, y)
    by_accuracy = theirs.cv_results_["params"][np.argmin(theirs.cv_results_["rank_test_accuracy"])]
    assert single.best_params_ == by_accuracy and not hasattr(single, "best_estimator_")

    def lowest_c(results: dict[str, Any]) -> int:
        return int(np.argmin(results["param_C"]))

    chosen = RungSearchCV(est, param_grid=grid, cv=CV, refit=lowest_c).fit(x, y)
    assert chosen.best_index_ == 0 and chosen.best_params_ == {"C": 0.01} and not hasattr(chosen, "best_score_")
    with pytest.raises(ValueError, match=r"refit to be False, a callable or one of .*'f1_macro'.*got refit=True"):
        RungSearchCV(est, param_grid=grid, scoring=scoring).fit(x, y)


def test_distributions_become_rung_domains_and_a_seed_repeats_the_search(
    iris: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = iris
    space = {
        "C": stats.loguniform(1e-2, 1e2),  # a rung loguniform: TPE models it on the log scale
        "gamma": stats.expon(scale=0.5),  # no rung domain: drawn through its quantile
        "kernel": ["rbf", "sigmoid"],
        "class_weight": [None, {0: 2.0, 1: 1.0, 2: 1.0}],  # not plain values: chosen by index
        "tol": rung.loguniform(1e-4, 1e-2),
    }
    first = RungSearchCV(SVC(), space, n_iter=12, cv=CV, random_state=3, storage=str(tmp_path), name="svc")
    first.fit(x, y)
    again = RungSearchCV(SVC(), space, n_iter=12, cv=CV, random_state=3).fit(x, y)
    assert first.cv_results_["params"] == again.cv_results_["params"]
    params = first.cv_results_["params"]
    assert all(1e-2 <= p["C"] <= 1e2 and p["gamma"] > 0 and 1e-4 <= p["tol"] <= 1e-2 for p in params)
    assert {p["kernel"] for p in params} == {"rbf", "sigmoid"}
    assert {repr(p["class_weight"]) for p in params} == {"None", "{0: 2.0, 1: 1.0, 2: 1.0}"}
    assert sorted(params[0]) == ["C", "class_weight", "gamma", "kernel", "tol"]
    store = Store.read(tmp_path, "svc")
    assert store.experiment()["space"]["C"] == {"type": "loguniform", "low": 0.01, "high": 100.0}
    store.close()
    stored = rung.load("svc", storage=tmp_path)
    config = stored.trials[0].config
    assert config["class_weight"] in (0, 1) and 0 <= config["quantile(gamma)"] <= 1
    assert first.result_ is not None and [t.id for t in first.result_.trials] == list(first.cv_results_["trial_id"])


def test_a_list_of_distributions_chooses_one_dict_per_trial(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    space = [{"kernel": ["linear"], "C": stats.uniform(0.5, 1.0)}, {"kernel": ["rbf"], "gamma": stats.randint(1, 4)}]
    search = RungSearchCV(SVC(), space, n_iter=10, cv=CV, search="random", random_state=0).fit(x, y)
    for params in search.cv_results_["params"]:
        if params["kernel"] == "linear":
            assert set(params) == {"kernel", "C"} and 0.5 <= params["C"] <= 1.5
        else:
            assert set(params) == {"kernel", "gamma"} and params["gamma"] in (1, 2, 3)
    assert {p["kernel"] for p in search.cv_results_["params"]} == {"linear", "rbf"}


def test_it_clones_and_works_inside_a_pipeline_and_a_nested_cv(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    search = RungSearchCV(SVC(), param_grid={"C": [0.1, 10.0]}, cv=3)
    twin = clone(search)
    assert twin.get_params(deep=False).keys() == search.get_params(deep=False).keys()
    outer = Pipeline([("scale", StandardScaler()), ("search", search)]).fit(x, y)
    assert outer.score(x, y) > 0.9 and outer.named_steps["search"].best_params_["C"] in (0.1, 10.0)
    # Each fit is a search of its own (OptunaSearchCV's study went on from fit to fit, mixing folds).
    scores = cross_val_score(twin, x, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and (scores > 0.85).all()


def test_early_stopping_stops_partial_fit_trials_after_fewer_rounds(
    digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = digits
    pipe = Pipeline([("scale", StandardScaler()), ("clf", SGDClassifier(learning_rate="constant", random_state=0))])
    space = {"clf__alpha": stats.loguniform(1e-5, 1.0), "clf__eta0": stats.loguniform(1e-4, 1.0)}
    search = RungSearchCV(
        pipe, space, n_iter=9, cv=CV, early_stopping=True, rounds=9, search="random", random_state=0,
        storage=str(tmp_path), name="sgd",
    )  # fmt: skip
    search.fit(x, y)
    rounds = search.cv_results_["n_rounds"]
    assert rounds.max() == 9 and (rounds < 9).sum() >= 4  # ASHA (milestones 1, 3, 9) stopped most
    n_train = len(CV.split(x, y).__next__()[0])
    assert search.result_ is not None
    for trial, done in zip(search.result_.trials, rounds, strict=True):
        assert len(search.result_.history(trial.id)) == done
        for model, _, error in trial.checkpoint["folds"]:
            # SGD counts its updates: t_ = 1 + samples seen, so each fold took `done` epochs, no more.
            assert error is None and model.named_steps["clf"].t_ == pytest.approx(1 + done * n_train, abs=2)
    best = search.best_index_
    assert rounds[best] == 9 and search.cv_results_["rank_test_score"][best] == 1
    assert search.best_estimator_.named_steps["clf"].t_ == 1 + 9 * len(y)  # refit: 9 epochs on all rows


def test_early_stopping_grows_a_warm_started_ensemble(digits: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = digits
    est = GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0)
    search = RungSearchCV(
        est, {"learning_rate": stats.loguniform(1e-3, 1.0)}, n_iter=6, cv=2, early_stopping="asha", rounds=4,
        search="random", random_state=1, storage=str(tmp_path), name="gbt",
    )  # fmt: skip
    search.fit(x, y)
    assert search.result_ is not None
    for trial, done in zip(search.result_.trials, search.cv_results_["n_rounds"], strict=True):
        assert [len(model.estimators_) for model, _, _ in trial.checkpoint["folds"]] == [2 * done] * 2
    assert (search.cv_results_["n_rounds"] < 4).any()
    assert len(search.best_estimator_.estimators_) == 8


def test_failed_fits_score_error_score_with_a_warning_or_raise(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    grid = {"C": [1.0, -1.0]}  # SVC refuses C <= 0 when it fits
    with pytest.warns(FitFailedWarning, match=r"(?s)3 fits failed out of a total of 6.*InvalidParameterError"):
        search = RungSearchCV(SVC(), param_grid=grid, cv=3, error_score=0.0).fit(x, y)
    assert search.cv_results_["mean_test_score"][1] == 0.0 and search.best_params_ == {"C": 1.0}
    with pytest.raises(RuntimeError, match=r"(?s)trial 2 failed \(error_score='raise'\).*InvalidParameterError"):
        RungSearchCV(SVC(), param_grid=grid, cv=3, error_score="raise").fit(x, y)


def test_a_failing_scorer_scores_error_score_with_a_warning(iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris

    def picky(estimator: Any, x: Any, y: Any) -> float:
        if estimator.C < 1:
            raise ValueError("picky scores no small C")
        return float(estimator.score(x, y))

    with pytest.warns(UserWarning, match=r"(?s)Scoring failed on 3 of 6 fitted folds.*picky scores no small C"):
        search = RungSearchCV(SVC(), param_grid={"C": [0.5, 2.0]}, cv=3, scoring=picky, error_score=-1).fit(x, y)
    assert list(search.cv_results_["mean_test_score"][:1]) == [-1.0] and search.best_params_ == {"C": 2.0}


def test_resume_keeps_the_stored_trials_and_runs_the_rest(iris: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = iris
    space = {"C": stats.loguniform(1e-2, 1e2)}
    kept = {"storage": str(tmp_path), "name": "svc", "random_state": 0, "cv": CV}
    first = RungSearchCV(SVC(), space, n_iter=3, **kept).fit(x, y)
    with pytest.raises(rung.ExperimentExistsError, match="pass resume=True"):
        RungSearchCV(SVC(), space, n_iter=5, **kept).fit(x, y)
    resumed = RungSearchCV(SVC(), space, n_iter=5, resume=True, **kept).fit(x, y)
    assert resumed.cv_results_["params"][:3] == first.cv_results_["params"]
    assert len(resumed.cv_results_["params"]) == 5 and list(resumed.cv_results_["trial_id"]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"param_grid": {"C": [1]}, "param_distributions": {"C": [1]}},
            "exactly one of param_distributions and param_grid; got both",
        ),
        ({}, "exactly one of param_distributions and param_grid; got neither"),
        ({"param_grid": {"C": 1.0}}, r"param_grid\['C'\] to be a list of values; got 1.0"),
        ({"param_grid": {"C": []}}, r"param_grid\['C'\] to be a non-empty list"),
        ({"param_distributions": {"C": "big"}}, r"param_distributions\['C'\] to be a list, a scipy.stats distribution"),
        ({"param_grid": {"C": stats.uniform()}}, r"lists in param_grid; got a distribution at param_grid\['C'\]"),
        ({"param_grid": {"C": [1]}, "n_jobs": 0}, "n_jobs to be None or a non-zero integer; got n_jobs=0"),
        ({"param_grid": {"C": [1]}, "n_iter": 2, "num_samples": 3}, "n_iter or num_samples"),
        (
            {"param_grid": {"C": [1]}, "early_stopping": True},
            "early_stopping needs an estimator with partial_fit.*SVC has neither",
        ),
        ({"param_grid": {"C": [1]}, "early_stopping": "often"}, "early_stopping to be False, True"),
        ({"param_grid": {"C": [1]}, "early_stopping": True, "rounds": 0}, "rounds to be an integer >= 1; got rounds=0"),
        ({"param_grid": {"C": [1]}, "scoring": ["accuracy", "accuracy"]}, "distinct scorer names"),
        ({"param_grid": {"C": [1]}, "random_state": "x"}, "random_state to be None, an int"),
        ({"param_grid": {"C": [1]}, "resume": True}, "needs storage"),
        ({"param_grid": {"C": [1]}, "error_score": "nan"}, "error_score to be 'raise' or a number"),
    ],
)
def test_bad_arguments_are_named_when_fit_runs(
    iris: tuple[np.ndarray, np.ndarray], kwargs: dict[str, Any], message: str
) -> None:
    x, y = iris
    search = RungSearchCV(SVC(), **kwargs)  # built as given, checked in fit (scikit-learn's rule)
    with pytest.raises(ValueError, match=message):
        search.fit(x, y)


def test_scikit_learn_estimator_checks_pass() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    search = RungSearchCV(DecisionTreeClassifier(random_state=0), param_grid={"max_depth": [1, 2]}, cv=2)
    with warnings.catch_warnings():
        # The checks fit degenerate data on purpose, where estimators warn (GridSearchCV fails three
        # checks when warnings are errors); they assert the warnings they expect themselves.
        warnings.simplefilter("ignore")
        results = check_estimator(search, on_fail=None, on_skip=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_import_rung_does_not_import_sklearn() -> None:
    code = "import sys, rung; rung.run; rung.hp; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
