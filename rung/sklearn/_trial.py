"""One trial of `RungSearchCV`: the estimator with one set of params, fitted and scored on every fold.

Without early stopping a trial fits each fold once, as `GridSearchCV` does (`clone`, `set_params`,
`fit` on the training rows, the scorers on the test rows), and returns every split's scores and
times. With early stopping it trains in rounds (one `partial_fit` epoch, or a `warm_start` fit that
adds trees or iterations) and reports the scores after each round, so that a scheduler can stop it;
the fold models are its checkpoint, so a paused trial resumes where it was.
"""

from __future__ import annotations

import inspect
import math
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import rung

__all__ = ["Job", "Rounds", "run_trial", "train_in_rounds"]

MAX_ERRORS = 5
"""Fit errors kept per trial (their text, for the FitFailedWarning): the first ones suffice."""


@dataclass(frozen=True)
class Rounds:
    """How a trial trains in rounds, the fidelity of early stopping.

    Attributes:
        rounds: the number of rounds of a trial trained to the end.
        method: "partial_fit" (one call per round) or "warm_start" (one `fit` per round, growing `param`).
        param: the parameter a warm start grows (`n_estimators`, `max_iter`, with the step's prefix).
        warm: the name of the `warm_start` parameter (with the step's prefix).
        cumulative: whether `param` counts the whole model (trees) or each fit's own iterations.
        classes: the classes, passed to a classifier's `partial_fit` (None for other estimators).
        last_step: for a Pipeline with `partial_fit` on its last step, that step's name: the steps
            before it are fitted once per fold, the last one takes a `partial_fit` per round.
    """

    rounds: int
    method: str
    param: str | None = None
    warm: str | None = None
    cumulative: bool = True
    classes: Any = None
    last_step: str | None = None

    def grown(self, params: Mapping[str, Any], estimator: Any, done: int) -> dict[str, Any]:
        """The params of the warm-start fit that brings a model to `done` rounds."""
        assert self.param is not None and self.warm is not None
        total = params.get(self.param, estimator.get_params()[self.param])
        if self.cumulative:
            size = max(1, math.ceil(total * done / self.rounds))
        else:
            size = max(1, math.ceil(total / self.rounds))
        return {self.param: size, self.warm: True}


@dataclass
class Job:
    """What every trial of one search shares (sent to each worker once, never stored).

    Attributes:
        estimator: the estimator as given (cloned for each fold).
        x, y: the data; `splits`: the (train, test) row indices of each fold.
        scoring: a dict of name -> scorer, or one scorer (named "score", or returning a dict).
        fit_params: passed to `fit` (rows split with the data when they have one per sample).
        error_score: "raise", or the score of a fold whose fit failed.
        return_train_score: whether to score the training rows too.
        decode: the config -> estimator params function.
        rounds: early stopping's rounds, or None.
        metric: the key rung optimises (`mean_test_<name>`).
    """

    estimator: Any
    x: Any
    y: Any
    splits: list[tuple[np.ndarray, np.ndarray]]
    scoring: Any
    fit_params: dict[str, Any]
    error_score: Any
    return_train_score: bool
    decode: Callable[[Mapping[str, Any]], dict[str, Any]]
    rounds: Rounds | None
    metric: str


class _Fold:
    """One fold's data and its model's state across rounds."""

    def __init__(
        self, x_train: Any, y_train: Any, fit_params: dict[str, Any], x_test: Any = None, y_test: Any = None
    ) -> None:
        self.x_train, self.y_train, self.fit_params = x_train, y_train, fit_params
        self.x_test, self.y_test = x_test, y_test
        self.weight_test: Any = None
        self.model: Any = None
        self.resumed = False
        self.fit_time = 0.0
        self.score_time = 0.0
        self.error: str | None = None  # the fit failed
        self.score_error: str | None = None  # the fit worked, its scoring failed
        self.transformed: Any = None  # a Pipeline's training rows through its fitted first steps
        self.test: dict[str, float] = {}
        self.train: dict[str, float] = {}


def _split(job: Job, k: int) -> _Fold:
    from sklearn.utils import _safe_indexing, get_tags

    train, test = job.splits[k]
    n = _num_samples(job.x)
    fit_params = {key: _rows(v, train) if _per_sample(v, n) else v for key, v in job.fit_params.items()}
    x_train, x_test = _safe_indexing(job.x, train), _safe_indexing(job.x, test)
    if get_tags(job.estimator).input_tags.pairwise:
        # A precomputed kernel or distance matrix: its columns are the training samples too.
        x_train, x_test = _safe_indexing(x_train, train, axis=1), _safe_indexing(x_test, train, axis=1)
    fold = _Fold(x_train, _rows(job.y, train), fit_params, x_test, _rows(job.y, test))
    weight = job.fit_params.get("sample_weight")
    fold.weight_test = _rows(weight, test) if _per_sample(weight, n) else None
    return fold


def train_in_rounds(
    estimator: Any, rounds: Rounds, params: dict[str, Any], x: Any, y: Any, fit_params: dict[str, Any]
) -> Any:
    """`estimator` with `params`, trained on all of x and y the way the trials were: `rounds` rounds."""
    fold = _Fold(x, y, fit_params)
    for done in range(1, rounds.rounds + 1):
        grow(estimator, rounds, fold, params, done)
    return fold.model


def _num_samples(x: Any) -> int:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(x)


def _per_sample(value: Any, n: int) -> bool:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        return False
    try:
        return _num_samples(value) == n
    except TypeError:
        return False


def _rows(value: Any, rows: np.ndarray) -> Any:
    from sklearn.utils import _safe_indexing

    return None if value is None else _safe_indexing(value, rows)


def accepts_weight(scorer: Any) -> bool:
    """Whether a scorer takes sample_weight (scikit-learn's own test: its metric's signature)."""
    check = getattr(scorer, "_accept_sample_weight", None)
    if callable(check):
        return bool(check())
    try:
        return "sample_weight" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def _call(scorer: Any, model: Any, x: Any, y: Any, weight: Any) -> Any:
    # As GridSearchCV does (scikit-learn >= 1.7): a fit's sample_weight also weighs its scores.
    if weight is not None and accepts_weight(scorer):
        return scorer(model, x, y, sample_weight=weight)
    return scorer(model, x, y)


def _scores(scoring: Any, model: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    if isinstance(scoring, Mapping):
        return {name: _number(name, _call(scorer, model, x, y, weight)) for name, scorer in scoring.items()}
    value = _call(scoring, model, x, y, weight)
    if isinstance(value, Mapping):
        return {str(name): _number(str(name), v) for name, v in value.items()}
    return {"score": _number("score", value)}


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"scoring must return a number; the scorer {name!r} returned {value!r}") from None


def _failed(job: Job, fold: _Fold, error: BaseException, scoring: bool = False) -> None:
    """A fit (or, `scoring`, a scorer) raised: raise it under error_score='raise', else keep its text."""
    if job.error_score == "raise":
        raise error
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if scoring:
        fold.score_error = text  # the model is fine: under early stopping it trains on
    else:
        fold.error = text
    fold.test = {}
    fold.train = {}


def _score(job: Job, fold: _Fold) -> None:
    start = time.perf_counter()
    fold.score_error = None
    try:
        fold.test = _scores(job.scoring, fold.model, fold.x_test, fold.y_test, fold.weight_test)
        fold.score_time = time.perf_counter() - start
        if job.return_train_score:
            weight = fold.fit_params.get("sample_weight")
            fold.train = _scores(job.scoring, fold.model, fold.x_train, fold.y_train, weight)
    except Exception as error:
        _failed(job, fold, error, scoring=True)


def _fit_once(job: Job, fold: _Fold, params: dict[str, Any]) -> None:
    from sklearn.base import clone

    start = time.perf_counter()
    try:
        fold.model = clone(job.estimator).set_params(**clone(params, safe=False))
        fold.model.fit(fold.x_train, fold.y_train, **fold.fit_params)
    except Exception as error:
        fold.fit_time = time.perf_counter() - start
        _failed(job, fold, error)
        return
    fold.fit_time = time.perf_counter() - start
    _score(job, fold)


def _fit_round(job: Job, fold: _Fold, params: dict[str, Any], done: int) -> None:
    """Train one fold's model to `done` rounds (from `done - 1`) and score it."""
    assert job.rounds is not None
    start = time.perf_counter()
    try:
        grow(job.estimator, job.rounds, fold, params, done)
    except Exception as error:
        fold.fit_time += time.perf_counter() - start
        _failed(job, fold, error)
        return
    fold.fit_time += time.perf_counter() - start
    _score(job, fold)


def grow(estimator: Any, rounds: Rounds, fold: _Fold, params: dict[str, Any], done: int) -> None:
    """Train `fold.model` (a clone of `estimator` with `params`, made if None) to `done` rounds."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    if fold.model is None:
        fold.model = clone(estimator).set_params(**clone(params, safe=False))
    with warnings.catch_warnings():
        # A round is cut short on purpose: each one would warn that the model has not converged.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if rounds.method == "warm_start":
            fold.model.set_params(**rounds.grown(params, estimator, done))
            fold.model.fit(fold.x_train, fold.y_train, **fold.fit_params)
        else:
            _partial_fit(rounds, fold)


def _partial_fit(rounds: Rounds, fold: _Fold) -> None:
    extra = {} if rounds.classes is None else {"classes": rounds.classes}
    if rounds.last_step is None:
        fold.model.partial_fit(fold.x_train, fold.y_train, **extra, **fold.fit_params)
        return
    prefix = f"{rounds.last_step}__"
    own = {key[len(prefix) :]: v for key, v in fold.fit_params.items() if key.startswith(prefix)}
    if fold.transformed is None:
        first = fold.model[:-1]  # shares the Pipeline's step objects: fitting it fits them
        if fold.resumed:
            fold.transformed = first.transform(fold.x_train)
        else:
            steps = {key: v for key, v in fold.fit_params.items() if not key.startswith(prefix)}
            fold.transformed = first.fit_transform(fold.x_train, fold.y_train, **steps)
    fold.model[-1].partial_fit(fold.transformed, fold.y_train, **extra, **own)


def _metrics(job: Job, folds: list[_Fold]) -> dict[str, Any]:
    """The scores and times of every split, their mean for the metric, and what failed."""
    out: dict[str, Any] = {}
    names: list[str] = []
    for fold in folds:
        names += [name for name in fold.test if name not in names]
    for k, fold in enumerate(folds):
        out[f"split{k}_fit_time"] = fold.fit_time
        out[f"split{k}_score_time"] = fold.score_time
        for name in names:
            failed = fold.error is not None or fold.score_error is not None
            out[f"split{k}_test_{name}"] = fold.test.get(name, job.error_score if failed else math.nan)
            if job.return_train_score:
                out[f"split{k}_train_{name}"] = fold.train.get(name, job.error_score)
    for name in names:
        out[f"mean_test_{name}"] = float(np.mean([out[f"split{k}_test_{name}"] for k in range(len(folds))]))
    out.setdefault(job.metric, math.nan)
    for kind, texts in (("fit", [f.error for f in folds]), ("score", [f.score_error for f in folds])):
        errors = [text for text in texts if text is not None]
        out[f"failed_{kind}s"] = len(errors)
        if errors:
            out[f"{kind}_errors"] = errors[:MAX_ERRORS]
    return out


def run_trial(config: dict[str, Any], job: Job) -> dict[str, Any] | None:
    """The objective `RungSearchCV` gives `rung.run` (with `rung.with_parameters(run_trial, job=job)`)."""
    params = job.decode(config)
    folds = [_split(job, k) for k in range(len(job.splits))]
    if job.rounds is None:
        for fold in folds:
            _fit_once(job, fold, params)
        return _metrics(job, folds)
    state = rung.get_checkpoint()
    done = 0
    if state is not None:
        done = state["round"]
        for fold, (model, fit_time, error) in zip(folds, state["folds"], strict=True):
            fold.model, fold.fit_time, fold.error, fold.resumed = model, fit_time, error, True
    while done < job.rounds.rounds:
        done += 1
        for fold in folds:
            if fold.error is None:
                _fit_round(job, fold, params, done)
        metrics = _metrics(job, folds)
        metrics["rounds"] = done
        saved = {"round": done, "folds": [(fold.model, fold.fit_time, fold.error) for fold in folds]}
        rung.report(metrics, checkpoint=saved)
        if all(fold.error is not None for fold in folds):
            break  # nothing left to train
    return None
