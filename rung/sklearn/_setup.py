"""What `RungSearchCV.fit` works out from its arguments before the search: workers, scorers, seed,
and how a trial trains in rounds under early stopping (and which scheduler stops it)."""

from __future__ import annotations

import copy
import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from rung.schedulers import Scheduler
from rung.sklearn._trial import Rounds

__all__ = ["early_stopping_scheduler", "rounds_of", "scorers", "seed_of", "workers"]

MULTIMETRIC_REFIT = (
    "RungSearchCV needs refit to be False, a callable or one of the scorers' names {names} for multi-metric"
    " scoring (the best_* attributes are those of that scorer); got refit={refit!r}"
)


def workers(n_jobs: Any) -> int:
    """Trials at once for `n_jobs`, as joblib reads it: None is 1, -1 every core, -2 all but one."""
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"RungSearchCV needs n_jobs to be None or a non-zero integer; got n_jobs={n_jobs!r}")
    cores, n = os.cpu_count() or 1, int(n_jobs)
    return n if n > 0 else max(1, cores + 1 + n)


def seed_of(random_state: Any) -> int:
    """rung's seed: the int given, one drawn from a `RandomState`, or a fresh one for None."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    raise ValueError(
        f"RungSearchCV needs random_state to be None, an int, a RandomState or a Generator; got {random_state!r}"
    )


def scorers(estimator: Any, scoring: Any, refit: Any) -> tuple[Any, bool, str]:
    """(what each fold is scored with, whether several scorers are named, the name of the metric rung
    optimises). One scorer is named "score" (a callable may also return a dict of scores)."""
    from sklearn.metrics import check_scoring, get_scorer

    if scoring is None or isinstance(scoring, str):
        return check_scoring(estimator, scoring), False, "score"
    if callable(scoring):
        return scoring, False, refit if isinstance(refit, str) else "score"
    if isinstance(scoring, Mapping):
        if not scoring:
            raise ValueError("RungSearchCV needs scoring to name at least one scorer; got an empty dict")
        named = {str(name): get_scorer(s) if isinstance(s, str) else s for name, s in scoring.items()}
    elif isinstance(scoring, (list, tuple, set, frozenset)):
        listed = list(scoring)
        if not listed or not all(isinstance(s, str) for s in listed) or len(set(listed)) != len(listed):
            raise ValueError(
                f"RungSearchCV needs a list of scoring to be distinct scorer names; got scoring={scoring!r}"
            )
        named = {name: get_scorer(name) for name in listed}
    else:
        raise ValueError(f"RungSearchCV needs scoring to be None, a str, a callable, a list or a dict; got {scoring!r}")
    for name, scorer in named.items():
        if not callable(scorer):
            raise ValueError(f"RungSearchCV needs scoring[{name!r}] to be a scorer name or callable; got {scorer!r}")
    if refit is not False and not callable(refit) and not (isinstance(refit, str) and refit in named):
        raise ValueError(MULTIMETRIC_REFIT.format(names=sorted(named), refit=refit))
    return named, True, refit if isinstance(refit, str) else next(iter(named))


def rounds_of(estimator: Any, rounds: Any, y: Any) -> Rounds:
    """How `estimator` trains in `rounds` rounds: `partial_fit` (preferred), else a warm start."""
    from sklearn.base import is_classifier
    from sklearn.pipeline import Pipeline

    final, step = estimator, None
    if isinstance(estimator, Pipeline):
        step, final = estimator.steps[-1]
    prefix = "" if step is None else f"{step}__"
    if hasattr(final, "partial_fit"):
        classes = np.unique(y) if is_classifier(final) and y is not None else None
        return Rounds(int(rounds), "partial_fit", classes=classes, last_step=step)
    params = final.get_params(deep=False) if hasattr(final, "get_params") else {}
    grows = next((p for p in ("n_estimators", "max_iter") if p in params), None)
    if "warm_start" in params and grows is not None:
        # Trees accumulate: n_estimators (and HistGradientBoosting's max_iter) counts the whole model.
        cumulative = grows == "n_estimators" or type(final).__name__.startswith("HistGradientBoosting")
        return Rounds(int(rounds), "warm_start", f"{prefix}{grows}", f"{prefix}warm_start", cumulative)
    raise ValueError(
        f"RungSearchCV's early_stopping needs an estimator with partial_fit, or with warm_start and n_estimators"
        f" or max_iter (the rounds are its fidelity); {type(final).__name__} has neither"
    )


def early_stopping_scheduler(early_stopping: Any, rounds: Any) -> Scheduler | str:
    """The scheduler that stops trials: ASHA for True, a name with `max_t=rounds`, or a copy of one given."""
    from rung._checks import Interval, check
    from rung.schedulers.asha import ASHA
    from rung.schedulers.hyperband import HyperBand, SuccessiveHalving

    rounds = int(check("RungSearchCV", "rounds", rounds, Interval(int, 1, None)))

    if early_stopping is True or early_stopping == "asha":
        return ASHA(max_t=rounds, grace_period=1, reduction_factor=3)
    if early_stopping == "hyperband":
        return HyperBand(max_t=rounds, reduction_factor=3)
    if early_stopping == "sha":
        return SuccessiveHalving(min_t=1, max_t=rounds, reduction_factor=3)
    if early_stopping == "median":
        return "median"
    if isinstance(early_stopping, Scheduler):
        return copy.deepcopy(early_stopping)  # a scheduler keeps state: each fit gets its own
    raise ValueError(
        "RungSearchCV needs early_stopping to be False, True (ASHA), 'asha', 'hyperband', 'sha', 'median' or a"
        f" rung Scheduler; got early_stopping={early_stopping!r}"
    )
