"""`cv_results_` built from the stored trials, with the keys and types `GridSearchCV` gives.

One row per trial, in the order the trials were started: `mean_fit_time`, `std_fit_time`,
`mean_score_time`, `std_score_time`, `param_<name>` (masked arrays), `params`, then per scorer
`split<k>_test_<name>`, `mean_test_<name>`, `std_test_<name>`, `rank_test_<name>` and, with
`return_train_score`, the `train` ones; then rung's own `trial_id` and, with early stopping,
`n_rounds` (the rounds each trial trained before it ended or was stopped).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.ma import MaskedArray

__all__ = ["Row", "best_index", "cv_results", "scorer_names"]


@dataclass(frozen=True)
class Row:
    """What one trial left: its id, params, last reported metrics and whether it failed."""

    trial_id: int
    params: dict[str, Any]
    metrics: Mapping[str, Any]
    error: str | None


def scorer_names(rows: Sequence[Row]) -> list[str]:
    """The scorers' names seen in the trials' reports, in the order of the first that has them."""
    names: list[str] = []
    for row in rows:
        for key in row.metrics:
            if key.startswith("split0_test_") and key[len("split0_test_") :] not in names:
                names.append(key[len("split0_test_") :])
    return names


def _masked(rows: Sequence[Row]) -> dict[str, MaskedArray]:
    """`param_<name>`: one masked array per parameter, masked where a trial lacks it (as sklearn does)."""
    values: dict[str, dict[int, Any]] = {}
    for i, row in enumerate(rows):
        for name, value in row.params.items():
            values.setdefault(f"param_{name}", {})[i] = value
    out = {}
    for key, found in values.items():
        listed = list(found.values())
        try:
            arr = np.array(listed)
        except ValueError:
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        masked = MaskedArray(np.empty(len(rows), dtype=dtype), mask=True)
        for i, value in found.items():
            masked[i] = value
        out[key] = masked
    return out


def _rank(means: np.ndarray, rounds: np.ndarray | None) -> np.ndarray:
    """1 for the best mean, ties share the lowest rank, NaN ranks last; trained longer ranks first."""
    from scipy.stats import rankdata

    if np.isnan(means).all() and rounds is None:
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1 if not np.isnan(means).all() else 0.0, means)
    if rounds is None:
        return np.asarray(rankdata(-filled, method="min"), dtype=np.int32)
    # Rounds first (a trial stopped early scores a less trained model), then the mean: keys whose
    # order is that of (rounds, mean), so that rankdata gives equal pairs the same rank.
    order = np.lexsort((filled, rounds))
    keys = np.empty(len(means))
    rank, previous = 0, None
    for position, i in enumerate(order):
        pair = (rounds[i], filled[i])
        if pair != previous:
            rank, previous = position, pair
        keys[i] = rank
    return np.asarray(rankdata(-keys, method="min"), dtype=np.int32)


def cv_results(
    rows: Sequence[Row],
    n_splits: int,
    names: Sequence[str],
    error_score: Any,
    return_train_score: bool,
    early_stopping: bool,
) -> dict[str, Any]:
    """The `cv_results_` dict of the trials `rows`."""
    fallback = math.nan if error_score == "raise" else float(error_score)

    def table(key: str, default: float) -> np.ndarray:
        return np.array(
            [[float(row.metrics.get(key.format(k=k), default)) for k in range(n_splits)] for row in rows],
            dtype=np.float64,
        ).reshape(len(rows), n_splits)

    results: dict[str, Any] = {}
    rounds = np.array([int(row.metrics.get("rounds", 0)) for row in rows]) if early_stopping else None

    def store(name: str, array: np.ndarray, splits: bool = False, rank: bool = False) -> None:
        if splits:
            for k in range(n_splits):
                results[f"split{k}_{name}"] = array[:, k]
        means = array.mean(axis=1) if n_splits else np.full(len(rows), np.nan)
        results[f"mean_{name}"] = means
        if name.startswith(("train_", "test_")) and len(means) and not np.isfinite(means).all():
            kind = name.split("_")[0]
            warnings.warn(f"One or more of the {kind} scores are non-finite: {means}", UserWarning, stacklevel=4)
        results[f"std_{name}"] = np.sqrt(((array - means[:, np.newaxis]) ** 2).mean(axis=1))
        if rank:
            results[f"rank_{name}"] = _rank(means, rounds)

    store("fit_time", table("split{k}_fit_time", 0.0))
    store("score_time", table("split{k}_score_time", 0.0))
    results.update(_masked(rows))
    results["params"] = [row.params for row in rows]
    for name in names:
        store(f"test_{name}", table(f"split{{k}}_test_{name}", fallback), splits=True, rank=True)
        if return_train_score:
            store(f"train_{name}", table(f"split{{k}}_train_{name}", fallback), splits=True)
    results["trial_id"] = np.array([row.trial_id for row in rows])
    if rounds is not None:
        results["n_rounds"] = rounds
    return results


def best_index(results: Mapping[str, Any], refit: Any, metric: str) -> int:
    """`best_index_`: what a callable `refit` answers, else the trial ranked first on `metric`."""
    if callable(refit):
        index = refit(results)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"RungSearchCV needs refit(cv_results_) to return an integer index; got {index!r}")
        if not 0 <= index < len(results["params"]):
            raise IndexError(f"RungSearchCV needs refit(cv_results_) in 0..{len(results['params']) - 1}; got {index}")
        return int(index)
    return int(np.asarray(results[f"rank_test_{metric}"]).argmin())
