"""Known results: configurations evaluated elsewhere, given with their results, that are not run again.

`rung.run(..., known=[{"config": {...}, "result": {"loss": 0.3}}])` (Ray Tune's `points_to_evaluate`
with `evaluated_rewards`, Optuna's `study.add_trial`): each becomes a stored trial with origin
"known", TERMINATED, holding its one result. The searcher learns it as it learns a given point
(`on_given`, `observe`, `on_complete`); the scheduler is told nothing (it decides about trials that
run, and one result at an arbitrary iteration would skew its rungs). A resume replays it with the rest.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung._numbers import finite, is_number
from rung.errors import SpaceError
from rung.objectives import Objectives
from rung.search.base import Searcher
from rung.space import Space
from rung.store.sqlite import Store
from rung.types import Config, Status

__all__ = ["Known", "check", "record"]


@dataclass(frozen=True)
class Known:
    """One known result, checked: its full config and the result to store."""

    config: Config
    result: dict[str, Any]


def check(
    given: Any, space: Space, searcher: Searcher, metric: str | Sequence[str] | None, seed: int, where: str = "known"
) -> list[Known]:
    """`known` checked against the space: each item `{"config": {...}, "result": {...}}` with a value
    for every hyperparameter of the space (constants and `sample_from` values are filled in) and, when
    there is a metric (or several), a number for it in the result.

    Raises:
        TypeError: `known` is not a list of dicts.
        SpaceError: a config leaves out a hyperparameter, names one not in the space, or holds a value
            outside its dimension.
        ValueError: a result without the metric, or with a bad `training_iteration`; a searcher
            that cannot learn from configs it did not propose.
    """
    if given is None:
        return []
    if isinstance(given, Mapping) or not isinstance(given, Sequence) or isinstance(given, str):
        raise TypeError(f'{where} must be a list of {{"config": {{...}}, "result": {{...}}}} dicts; got {given!r:.200}')
    if given and type(searcher).on_given is Searcher.on_given:
        raise ValueError(
            f"search={type(searcher).__name__} cannot take {where} results: it does not implement on_given (how to"
            " learn from a configuration it did not propose)"
        )
    dims = [*space.paths, *space.grid_dims]
    out = []
    for i, item in enumerate(given):
        place = f"{where}[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"config", "result"}:
            raise TypeError(
                f'{place} must be a dict with the keys "config" and "result" (e.g. {{"config": {{"x": 0.3}},'
                f' "result": {{"loss": 0.1}}}}); got {item!r:.200}'
            )
        fixed = space.fixed_paths(item["config"], f"{place}['config']")
        missing = [".".join(path) for path, _ in dims if path not in fixed]
        if missing:
            raise SpaceError(
                f"{place}['config'] leaves out {', '.join(missing)}: a known result needs the value of every"
                " hyperparameter it was measured with"
            )
        # Nothing is drawn (every dimension is fixed): constants and derived values are filled in.
        config = space.sample(np.random.default_rng([seed & (2**64 - 1), 0x6B6E, i]), fixed=fixed)
        out.append(Known(config, _result(item["result"], metric, f"{place}['result']")))
    return out


def _result(result: Any, metric: str | Sequence[str] | None, where: str) -> dict[str, Any]:
    if not isinstance(result, Mapping) or not all(isinstance(k, str) for k in result):
        raise TypeError(f"{where} must be a dict of metrics with str keys, e.g. {{'loss': 0.1}}; got {result!r:.200}")
    out = dict(result)
    for name in [metric] if isinstance(metric, str) else metric or ():
        if not is_number(out.get(name)):
            got = f"{name}={out[name]!r}" if name in out else f"the keys {sorted(out)}"
            raise ValueError(f"{where} needs a number for the metric {name!r}; got {got}")
    iteration = out.setdefault("training_iteration", 1)
    if isinstance(iteration, bool) or not isinstance(iteration, numbers.Integral) or iteration < 1:
        raise ValueError(f"{where} needs training_iteration to be an integer >= 1 (default 1); got {iteration!r}")
    out["training_iteration"] = int(iteration)
    return out


def record(
    store: Store,
    searcher: Searcher,
    trial_id: int,
    known: Known,
    metric: str | None,
    at: float,
    objectives: Objectives | None = None,
) -> dict[str, Any]:
    """Store `known` as trial `trial_id` (origin "known", TERMINATED) and teach the searcher, in the
    order a replay tells it (`on_given`, `observe`, `on_complete`); returns the result as stored.
    `objectives` (several, or constraints) judge the result in place of `metric`."""
    result = dict(known.result)
    result.setdefault("timestamp", at)
    store.add_trial(trial_id, known.config, "known", at=at)
    searcher.on_given(trial_id, known.config)
    if objectives is not None and not objectives.plain:
        best = result if objectives.judge(None, result) else None
    else:
        best = result if metric is not None and finite(result.get(metric)) else None
    store.add_result(trial_id, result, best)
    searcher.observe(trial_id, result)
    store.set_status(trial_id, Status.TERMINATED, at=at)
    searcher.on_complete(trial_id, Status.TERMINATED, result)
    return result
