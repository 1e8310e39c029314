"""`RungSearchCV`: scikit-learn's `GridSearchCV` / `RandomizedSearchCV`, searched and stopped by rung."""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags, indexable
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

import rung
from rung.callbacks import Callback
from rung.opening import default_name
from rung.result import ExperimentResult
from rung.sklearn import _results, _setup
from rung.sklearn._space import build_space
from rung.sklearn._trial import Job, Rounds, run_trial, train_in_rounds
from rung.types import Status

__all__ = ["RungSearchCV"]


def _estimator_has(attr: str) -> Callable[[Any], bool]:
    """available_if's check: the refitted best estimator has `attr` (or, before fit, the estimator)."""

    def check(self: RungSearchCV) -> bool:
        if self.refit is False:
            raise AttributeError(f"{attr} is not available: RungSearchCV was built with refit=False")
        getattr(self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator, attr)
        return True

    return check


F = TypeVar("F", bound=Callable[..., Any])


def _delegated(attr: str) -> Callable[[F], F]:
    """`available_if`, typed: the method exists when the (best) estimator has `attr`."""
    return cast(Callable[[F], F], available_if(_estimator_has(attr)))


class RungSearchCV(MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """Hyperparameter search with cross-validation, a drop-in for `GridSearchCV` and `RandomizedSearchCV`.

    Each trial is one set of params, fitted and scored on every fold as `GridSearchCV` fits them, so
    a grid gives the same `cv_results_` scores. rung decides which params to try (TPE by default,
    random, grid, ...), runs `n_jobs` trials at once in worker processes, keeps every trial in its
    store, and with `early_stopping` trains each trial in rounds (`partial_fit` epochs, or trees and
    iterations added by `warm_start`) and stops the poor ones early (ASHA by default).

    Args:
        estimator: the estimator (or Pipeline) to tune; cloned, never changed.
        param_distributions: what to search, by parameter name (Pipeline names too: `clf__C`): rung
            domains (`rung.loguniform(1e-4, 1e-1)`), scipy.stats distributions
            (`scipy.stats.loguniform(1e-4, 1e-1)`, `randint(1, 10)`, any with `ppf` or `rvs`) and
            lists of values; or a list of such dicts (one is chosen per trial).
        param_grid: a grid instead (`GridSearchCV`'s argument): lists of values, or a list of dicts of
            them. Every point is tried (search "grid") unless `n_iter` is given.
        n_iter: trials to run (default 10); with search "grid", how many times the grid is run (default 1).
            `num_samples` (rung's name) is the same.
        scoring: None (the estimator's `score`), a scorer name, a callable `scorer(estimator, X, y)`
            (which may return a dict of scores), or a list or dict of scorers (multi-metric).
        n_jobs: trials at once, each in a worker process (None: 1, in this process; -1: every core).
        refit: refit the best params on all of X (True); for multi-metric scoring, the scorer's name
            that picks the best; a callable `refit(cv_results_) -> index`; or False.
        cv: None (5 folds), a number of folds, a CV splitter, or an iterable of (train, test) indices.
        verbose: 0 quiet; > 0 shows rung's live view of the trials.
        random_state: seeds the search (and the scheduler): an int repeats the same search.
        error_score: the score of a fold whose fit failed (a `FitFailedWarning` names them), or "raise".
        return_train_score: score the training folds too (`mean_train_score`, ...).
        search: "auto" (TPE; "grid" for a `param_grid` without `n_iter`), "random", "grid", "tpe",
            "gp", or a rung Searcher object.
        early_stopping: False; True (ASHA); "asha", "hyperband", "sha", "median"; or a rung Scheduler
            (its `max_t` counts rounds). Needs an estimator with `partial_fit` (or a Pipeline ending in
            one), or with `warm_start` and `n_estimators` or `max_iter`.
        rounds: with early stopping, the rounds a trial trains at most: `partial_fit` epochs, or
            `n_estimators`/`max_iter` grown in that many steps by warm starts.
        time_budget_s: stop the search after this many seconds (running trials end; what ran is kept).
        storage: the folder that keeps the experiment (rung's store, to look at with `rung show`, the
            dashboard or `result_`); None: a temporary folder, removed after `fit`.
        name: the experiment's name in `storage` (default: the estimator's name, date and time).
        resume: continue the stored experiment `name` (needs `storage`): trials already ended are kept.
        executor: where trials run: None ("thread" for n_jobs=1, else "process"), "process",
            "thread", "ray", or a rung Executor.
        callbacks: rung callbacks told of each trial's start, results and end.

    Attributes:
        cv_results_: `GridSearchCV`'s dict (one row per trial, in the order they started), plus
            `trial_id` and, with early stopping, `n_rounds`: trials that trained more rounds rank
            first (as `HalvingGridSearchCV` ranks its last iteration first).
        best_index_: the row of the best trial (unless `refit=False` with several scorers).
        best_params_: its params; `best_score_`: its mean test score (not with a callable `refit`).
        best_estimator_: the estimator refitted on all of X with `best_params_` (with `refit`).
        refit_time_: seconds the refit took; `scorer_`, `n_splits_`, `multimetric_`: as `GridSearchCV` sets them.
        result_: the stored experiment (`rung.ExperimentResult`) when `storage` is given, else None.

    Example:
        >>> from scipy.stats import loguniform
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.svm import SVC
        >>> x, y = load_iris(return_X_y=True)
        >>> search = RungSearchCV(SVC(), {"C": loguniform(1e-2, 1e2)}, n_iter=8, random_state=0)
        >>> search.fit(x, y).best_score_ > 0.9
        True
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any = None,
        *,
        param_grid: Any = None,
        n_iter: int | None = None,
        num_samples: int | None = None,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: bool | str | Callable[..., int] = True,
        cv: Any = None,
        verbose: int = 0,
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        search: Any = "auto",
        early_stopping: Any = False,
        rounds: int = 10,
        time_budget_s: float | None = None,
        storage: str | None = None,
        name: str | None = None,
        resume: bool = False,
        executor: Any = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.param_grid = param_grid
        self.n_iter = n_iter
        self.num_samples = num_samples
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.cv = cv
        self.verbose = verbose
        self.random_state = random_state
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.search = search
        self.early_stopping = early_stopping
        self.rounds = rounds
        self.time_budget_s = time_budget_s
        self.storage = storage
        self.name = name
        self.resume = resume
        self.executor = executor
        self.callbacks = callbacks

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.target_tags = copy.deepcopy(inner.target_tags)  # multi-output, positive-only, ... as the estimator's
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan  # missing values go to the estimator as given
        return tags

    def _plan(self, grid: bool) -> tuple[Any, int]:
        """(the searcher, the number of trials) from `search`, `n_iter` and `num_samples`."""
        if self.n_iter is not None and self.num_samples is not None and self.n_iter != self.num_samples:
            raise ValueError(
                f"RungSearchCV takes n_iter or num_samples (the same thing); got n_iter={self.n_iter!r},"
                f" num_samples={self.num_samples!r}"
            )
        given = self.n_iter if self.n_iter is not None else self.num_samples
        search = self.search
        if search == "auto" and grid and given is None:
            search = "grid"
        if not isinstance(search, str):
            search = copy.deepcopy(search)  # a searcher keeps state: each fit gets its own
        return search, (given if given is not None else 1 if search == "grid" else 10)

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> RungSearchCV:
        """Search, then refit the best params on all of X and y (unless `refit=False`).

        Args:
            X: the training data; y: its targets (None for unsupervised estimators).
            **fit_params: passed to the estimator's `fit` (one value per sample is split with the
                folds, as `sample_weight` is); `groups` goes to the CV splitter.

        Returns:
            self, fitted.
        """
        groups = fit_params.pop("groups", None)
        if y is None and get_tags(self.estimator).target_tags.required:
            raise ValueError(f"{type(self.estimator).__name__} requires y to be passed, but the target y is None")
        space, decode, _ = build_space(self.param_distributions, self.param_grid)
        search, num_samples = self._plan(self.param_grid is not None)
        if self.resume and self.storage is None:
            raise ValueError("RungSearchCV needs storage (the folder of the experiment) to resume; got storage=None")
        if not (self.error_score == "raise" or isinstance(self.error_score, (int, float))):
            raise ValueError(f"RungSearchCV needs error_score to be 'raise' or a number; got {self.error_score!r}")
        n_jobs = _setup.workers(self.n_jobs)
        scoring, self.multimetric_, metric = _setup.scorers(self.estimator, self.scoring, self.refit)
        X, y, groups = indexable(X, y, groups)
        splitter = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(splitter.split(X, y, groups))
        self.n_splits_ = len(splits)
        rounds: Rounds | None = None
        scheduler: Any = None
        if self.early_stopping not in (False, None):
            scheduler = _setup.early_stopping_scheduler(self.early_stopping, self.rounds)
            rounds = _setup.rounds_of(self.estimator, self.rounds, y)
        job = Job(
            estimator=clone(self.estimator), x=X, y=y, splits=splits, scoring=scoring, fit_params=fit_params,
            error_score=self.error_score, return_train_score=self.return_train_score, decode=decode,
            rounds=rounds, metric=f"mean_test_{metric}",
        )  # fmt: skip
        rows = self._search(job, space, search, num_samples, scheduler, n_jobs)
        self._results(rows, metric, rounds is not None)
        if self.refit is not False:
            self._refit(rounds, X, y, fit_params)
        return self

    def _search(
        self, job: Job, space: dict[str, Any], search: Any, num_samples: int, scheduler: Any, n_jobs: int
    ) -> list[_results.Row]:
        """Run the trials with rung; the rows of cv_results_ (and `result_` when the store is kept)."""
        storage = self.storage if self.storage is not None else tempfile.mkdtemp(prefix="rung-sklearn-")
        name = self.name if self.name is not None else default_name(_named(type(self.estimator).__name__), storage)
        executor = self.executor if self.executor is not None else "thread" if n_jobs == 1 else "process"
        cores = _setup.workers(-1)
        try:
            result = rung.run(
                rung.with_parameters(run_trial, job=job), space, metric=job.metric, mode="max",
                num_samples=num_samples, search=search, scheduler=scheduler, max_concurrent=n_jobs,
                resources={"cpu": min(1.0, cores / n_jobs)}, executor=executor, name=name, storage=storage,
                resume=self.resume, time_budget_s=self.time_budget_s, seed=_setup.seed_of(self.random_state),
                verbose=1 if self.verbose else 0, callbacks=list(self.callbacks or ()),
            )  # fmt: skip
            trials = list(result.trials)  # read before a temporary store goes (a large result reads it)
        finally:
            if self.storage is None:
                shutil.rmtree(storage, ignore_errors=True)
        self.result_: ExperimentResult | None = result if self.storage is not None else None
        rows = [
            _results.Row(t.id, job.decode(t.config), t.metrics, t.error)
            for t in sorted(trials, key=lambda t: t.id)
            if t.status is not Status.PENDING
        ]
        if not rows:
            raise ValueError("RungSearchCV ran no trial (was time_budget_s too short?)")
        self._failures(rows, n_fits=len(rows) * self.n_splits_)
        return rows

    def _failures(self, rows: list[_results.Row], n_fits: int) -> None:
        """Raise for a failed trial under error_score='raise'; else warn of the fits that failed."""
        crashed = [row for row in rows if row.error is not None]
        if crashed and self.error_score == "raise":
            crash = crashed[0]
            raise RuntimeError(f"RungSearchCV: trial {crash.trial_id} failed (error_score='raise'):\n{crash.error}")
        failed = sum(int(row.metrics.get("failed_fits", 0)) for row in rows) + len(crashed) * self.n_splits_
        if failed:
            errors = [e for row in rows for e in row.metrics.get("fit_errors", [])] + [row.error for row in crashed]
            first = "\n".join(str(e) for e in errors[:1])
            if failed >= n_fits:  # as GridSearchCV: nothing to choose from, so it cannot be a warning
                raise ValueError(
                    f"All the {n_fits} fits failed; the estimator or its params are wrong. The first error:\n{first}"
                )
            warnings.warn(
                f"{failed} fits failed out of a total of {n_fits}; their scores are set to error_score="
                f"{self.error_score!r}. Set error_score='raise' to see the error. The first error:\n{first}",
                FitFailedWarning,
                stacklevel=3,
            )
        scorings = sum(int(row.metrics.get("failed_scores", 0)) for row in rows)
        if scorings:
            first = next(e for row in rows for e in row.metrics.get("score_errors", []))
            warnings.warn(
                f"Scoring failed on {scorings} of {n_fits} fitted folds; their scores are set to error_score="
                f"{self.error_score!r}. The first error:\n{first}",
                UserWarning,
                stacklevel=3,
            )

    def _results(self, rows: list[_results.Row], metric: str, early: bool) -> None:
        names = _results.scorer_names(rows) or [metric]
        if not self.multimetric_ and len(names) > 1:
            self.multimetric_ = True  # a callable scoring that returns a dict
            if self.refit is not False and not callable(self.refit) and self.refit not in names:
                raise ValueError(_setup.MULTIMETRIC_REFIT.format(names=sorted(names), refit=self.refit))
        self.cv_results_ = _results.cv_results(
            rows, self.n_splits_, names, self.error_score, self.return_train_score, early
        )
        refit_metric = self.refit if isinstance(self.refit, str) else names[0] if self.multimetric_ else metric
        if self.refit is not False or not self.multimetric_:
            self.best_index_ = _results.best_index(self.cv_results_, self.refit, refit_metric)
            if not callable(self.refit):
                self.best_score_ = float(self.cv_results_[f"mean_test_{refit_metric}"][self.best_index_])
            self.best_params_ = self.cv_results_["params"][self.best_index_]
        self._refit_metric = refit_metric
        self.scorer_ = _setup.scorers(self.estimator, self.scoring, self.refit)[0]

    def _refit(self, rounds: Rounds | None, X: Any, y: Any, fit_params: dict[str, Any]) -> None:
        params = clone(self.best_params_, safe=False)
        start = time.perf_counter()
        if rounds is None:
            self.best_estimator_ = clone(self.estimator).set_params(**params)
            if y is not None:
                self.best_estimator_.fit(X, y, **fit_params)
            else:
                self.best_estimator_.fit(X, **fit_params)
        else:
            self.best_estimator_ = train_in_rounds(clone(self.estimator), rounds, params, X, y, fit_params)
        self.refit_time_ = time.perf_counter() - start
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_

    def score(self, X: Any, y: Any = None) -> float:
        """The refit metric's scorer (or the best estimator's own `score`) on X and y."""
        check_is_fitted(self, "best_estimator_")
        scorer = self.scorer_
        if isinstance(scorer, Mapping):
            scorer = scorer[self._refit_metric]
        value = scorer(self.best_estimator_, X, y)
        if isinstance(value, Mapping):
            value = value[self._refit_metric]
        return float(value)

    @_delegated("predict")
    def predict(self, X: Any) -> Any:
        """The best estimator's `predict`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @_delegated("predict_proba")
    def predict_proba(self, X: Any) -> Any:
        """The best estimator's `predict_proba`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @_delegated("predict_log_proba")
    def predict_log_proba(self, X: Any) -> Any:
        """The best estimator's `predict_log_proba`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_log_proba(X)

    @_delegated("decision_function")
    def decision_function(self, X: Any) -> Any:
        """The best estimator's `decision_function`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    @_delegated("score_samples")
    def score_samples(self, X: Any) -> Any:
        """The best estimator's `score_samples`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score_samples(X)

    @_delegated("transform")
    def transform(self, X: Any) -> Any:
        """The best estimator's `transform`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.transform(X)

    @_delegated("inverse_transform")
    def inverse_transform(self, X: Any) -> Any:
        """The best estimator's `inverse_transform`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.inverse_transform(X)

    @property
    def classes_(self) -> Any:
        """The best estimator's classes (needs refit)."""
        _estimator_has("classes_")(self)
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self) -> int:
        """The number of features seen by the best estimator's fit (needs refit)."""
        try:
            check_is_fitted(self, "best_estimator_")
        except NotFittedError as error:
            raise AttributeError(f"{type(self).__name__} object has no n_features_in_ attribute") from error
        return int(self.best_estimator_.n_features_in_)


def _named(name: str) -> Callable[[], None]:
    """A function named `name`: what rung's default experiment name is made from."""

    def named() -> None:
        return None

    named.__name__ = name
    return named
