"""Money spent, read from the store: each result's `cost` is its trial's cost so far (see `rung.cost`),
so the experiment's `total_cost` is every trial's latest cost, summed, and the money spent over time
adds each result's increase on its trial's previous one.

Only experiments run with `prices` have costs: for the others these give None and no points.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rung.store import jsonsql

__all__ = ["POINTS", "over_time", "over_time_of", "priced", "total", "total_sql"]

POINTS = 2000
"""The most points `over_time` gives (the first and last, and others spread between)."""


def priced(settings: Mapping[str, Any] | None) -> bool:
    """Whether the experiment was run with prices (its results carry `cost`)."""
    return bool(settings) and settings.get("prices") is not None  # type: ignore[union-attr]


def _cost(result: Mapping[str, Any] | None) -> float:
    value = (result or {}).get("cost")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def total(settings: Mapping[str, Any] | None, last_results: Iterable[Mapping[str, Any] | None]) -> float | None:
    """The money spent: the sum of each trial's latest `cost` (None: the run has no prices)."""
    if not priced(settings):
        return None
    return float(sum(_cost(result) for result in last_results))


def total_sql(conn: sqlite3.Connection, settings: Mapping[str, Any] | None) -> float | None:
    """`total` summed by SQLite from the trials' rows (needs `jsonsql.install` on the connection)."""
    if not priced(settings):
        return None
    cost, params = jsonsql.value_sql("last_result", ["cost"])
    found = conn.execute(f"SELECT SUM({cost}) FROM trials", params).fetchone()[0]
    return float(found or 0.0)


def over_time(conn: sqlite3.Connection, settings: Mapping[str, Any] | None) -> list[list[float]]:
    """[timestamp, money spent by then] after each result, in time order (at most `POINTS` of them)."""
    if not priced(settings):
        return []
    cost, c_params = jsonsql.value_sql("data", ["cost"])
    stamp, t_params = jsonsql.value_sql("data", ["timestamp"])
    rows = conn.execute(
        f"SELECT trial_id, {stamp}, {cost} FROM results ORDER BY seq", [*t_params, *c_params]
    ).fetchall()
    return _series(rows)


def over_time_of(settings: Mapping[str, Any] | None, results: Iterable[Mapping[str, Any]]) -> list[list[float]]:
    """`over_time` from results read already (each with its `trial_id`, in the order they were stored)."""
    if not priced(settings):
        return []
    return _series([(r["trial_id"], r.get("timestamp"), r.get("cost")) for r in results])


def _series(rows: list[tuple[Any, Any, Any]]) -> list[list[float]]:
    """[timestamp, money spent by then] from (trial id, timestamp, cost) rows in the order stored."""
    if not rows:
        return []
    trial_ids, stamps, costs = zip(*rows, strict=True)
    ids = np.asarray(trial_ids, dtype=np.int64)
    when, spent = jsonsql.floats(stamps), np.nan_to_num(jsonsql.floats(costs))
    # Each result adds what its trial spent since its previous result (in the order they were stored).
    order = np.lexsort((np.arange(len(ids)), ids))
    step = spent[order].copy()
    same = np.zeros(len(ids), dtype=bool)
    same[1:] = ids[order][1:] == ids[order][:-1]
    step[same] -= spent[order][:-1][same[1:]]
    added = np.empty_like(step)
    added[order] = step
    when[~np.isfinite(when)] = 0.0
    by_time = np.argsort(when, kind="stable")
    running = np.cumsum(added[by_time])
    points = [[float(t), float(s)] for t, s in zip(when[by_time], running, strict=True)]
    if len(points) > POINTS:
        keep = np.linspace(0, len(points) - 1, POINTS).round().astype(np.int64)
        points = [points[i] for i in keep]
    return points
