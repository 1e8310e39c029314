"""What the dashboard's experiment page draws first, read with SQLite and arrays: fast for 100,000 trials.

`views.experiment_view` decodes every stored trial, result and event in Python (everything
`rung.plots` draws; 37 s and 86 MiB of JSON for 100,000 trials). A browser cannot show that much
anyway, so the page gets an overview of what it can show, made from a `Snapshot` with SQLite reading
the JSON columns (`jsonsql`) and numpy doing the rest:

- the summary (counts by status, the best value), as `views.summary` gives it;
- learning curves of every trial when there are at most `CURVES_ALL`, else of the best `CURVES_BEST`
  trials, with a band of percentiles over `BAND_TRIALS` trials spread over the run (`band`);
- the best value so far: from every result when there are at most `EXACT_BEST_RESULTS`, else from
  each trial's best result (a trial that improved the best several times shows its best step only);
- the worker timeline, asked apart (`worker_timeline`: the page draws the rest before it): every
  running stretch when there are at most `TIMELINE_SPANS`, else per slot at the chart's resolution
  (`stretches.binned`);
- parallel coordinates of the best `PARALLEL_BEST` scored trials and others spread over the run, at
  most `PARALLEL_TRIALS`; importance from at most `IMPORTANCE_TRIALS` scored trials spread over the run;
- PBT schedules (of at most `SCHEDULE_TRIALS` trials: the best that changed);
- the first page of the trials table (`paging.page`); later pages come from the paging API.

Every count that was cut says so (`curves_of`, `parallel_of`, `importance_of`, `timeline_bins`).
"""

from __future__ import annotations

import collections
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rung._numbers import finite
from rung.objectives import Objectives
from rung.store import axes, driver, front, jsonsql, paging, spent, stretches, timeline, views
from rung.store.importance import model_importance, univariate_importance
from rung.store.snapshot import Snapshot
from rung.types import Status, flatten

__all__ = ["overview", "summary", "worker_timeline"]

CURVES_ALL = 50
CURVES_BEST = 20
BAND_TRIALS = 2000
BAND_POINTS = 200
EXACT_BEST_RESULTS = 50_000
BEST_POINTS = 2000
TIMELINE_SPANS = 2000
TIMELINE_BINS = 560
PARALLEL_TRIALS = 1000
PARALLEL_BEST = 100
IMPORTANCE_TRIALS = 2000
SCHEDULE_TRIALS = 100


def _ids_sql(ids: Sequence[int] | Any) -> tuple[str, list[str]]:
    """`IN (...)` for any number of ids (one parameter: SQLite caps their number)."""
    return "IN (SELECT value FROM json_each(?))", [json.dumps([int(i) for i in ids])]


def _spread(ids: Any, count: int) -> Any:
    """At most `count` of `ids`, evenly spread (all of them if there are no more)."""
    if len(ids) <= count:
        return ids
    return ids[np.linspace(0, len(ids) - 1, count).round().astype(np.int64)]


class _Trials:
    """Every trial's id, stored status and latest iteration, its best value of the metric (NaN if none)
    and when it reached it."""

    def __init__(self, conn: sqlite3.Connection, metric: str | None, mode: str) -> None:
        try:
            # SQLite's own reading first (half the JSON parsing of `value_sql`, which checks each
            # value's JSON first); a row holding NaN or Infinity, which SQLite before 3.42 rejects,
            # fails it, and every row is read as `value_sql` reads them.
            if metric is not None and '"' in metric:  # not a JSON path SQLite can spell
                raise sqlite3.OperationalError("metric name holds a double quote")
            plain = "json_extract(best_result, ?)" if metric else "NULL"
            rows = conn.execute(
                f"SELECT id, {plain}, json_extract(best_result, '$.timestamp'), iteration, status FROM trials"
                " ORDER BY id",
                [f'$."{metric}"'] if metric else [],
            ).fetchall()
        except sqlite3.OperationalError:
            value, params = jsonsql.value_sql("best_result", [metric]) if metric else ("NULL", [])
            stamp, stamp_params = jsonsql.value_sql("best_result", ["timestamp"])
            rows = conn.execute(
                f"SELECT id, {value}, {stamp}, iteration, status FROM trials ORDER BY id", [*params, *stamp_params]
            ).fetchall()
        ids, best, stamps, iterations, statuses = zip(*rows, strict=True) if rows else ((),) * 5
        self.ids = np.array(ids, dtype=np.int64)
        self.iteration = np.array(iterations, dtype=np.int64)
        self.status: Sequence[str] = statuses
        self.best = jsonsql.floats(best)
        self.best[~np.isfinite(self.best)] = np.nan
        self.stamp = jsonsql.floats(stamps)
        self.scored = self.ids[~np.isnan(self.best)]
        # Best first; ties by id, as the first to reach a value keeps the lead.
        key = -self.best if mode == "max" else self.best
        order = np.lexsort((self.ids, key))
        self.ranked = self.ids[order][~np.isnan(key[order])]


def summary(snap: Snapshot, name: str, trials: _Trials | None = None) -> dict[str, Any]:
    """`views.summary` of the snapshot's experiment, counted by SQLite (or from `trials`, read already)."""
    exp = snap.store.experiment(setup=False)
    jsonsql.install(snap.conn)
    metric, mode = exp["metric"], exp["mode"] or "min"
    if trials is None:
        trials = _Trials(snap.conn, metric, mode)
    counts: dict[str, int] = {}
    for status, n in collections.Counter(trials.status).items():  # in order of first appearance
        shown = driver.shown(status, exp["status"])
        counts[shown] = counts.get(shown, 0) + n
    updated = snap.conn.execute("SELECT MAX(updated) FROM trials").fetchone()[0]
    return {
        "name": name,
        "status": exp["status"],
        "metric": metric,
        "mode": mode,
        "created": exp["created"],
        "updated": max(exp["updated"], updated if updated is not None else exp["updated"]),
        "trials": len(trials.ids),
        "by_status": counts,
        "best": float(trials.best[np.searchsorted(trials.ids, trials.ranked[0])]) if len(trials.ranked) else None,
        "total_cost": spent.total_sql(snap.conn, exp["settings"]),
        **_objectives(snap, exp),
    }


def _objectives(snap: Snapshot, exp: dict[str, Any]) -> dict[str, Any]:
    """With several objectives or constraints, what `views.summary` adds (read from every trial's row)."""
    objectives = Objectives.stored(exp["metric"], exp["mode"], exp["settings"])
    if objectives is None or objectives.plain:
        return {}
    summary = views.summary(snap.store)
    keys = ("objectives", "constraints", "infeasible", "front", "best")
    return {key: summary[key] for key in keys if key in summary}


def overview(snap: Snapshot, name: str) -> dict[str, Any]:
    """What the experiment page draws first (see the module docstring), JSON-ready."""
    conn = snap.conn
    jsonsql.install(conn)
    exp = snap.store.experiment(setup=False)
    metric, mode = exp["metric"], exp["mode"] or "min"
    time_attr, milestones = views.fidelity(exp["settings"] or {})
    trials = _Trials(conn, metric, mode)
    curves, curves_of, band = _curves(conn, trials, metric, time_attr)
    configs = _configs(conn, trials)
    parallel_ids = _parallel_ids(trials)
    sample = _spread(trials.scored, IMPORTANCE_TRIALS)
    rows = [{"config": configs[int(i)], "best_result": {metric: float(b)}} for i, b in _with_best(trials, sample)]
    first_page = paging.page(conn, exp, paging.PageQuery())
    keys = {key for config in configs.values() if isinstance(config, dict) for key in flatten(config, "/")}
    view: dict[str, Any] = {
        "summary": summary(snap, name, trials),
        "settings": exp["settings"],
        "time_attr": time_attr,
        "milestones": milestones,
        "curves": curves,
        "curves_of": curves_of,
        "curve_status": _statuses(conn, exp, [int(k) for k in curves]),
        "band": band,
        "best_so_far": _best_so_far(conn, trials, metric, mode),
        "spent_so_far": spent.over_time(conn, exp["settings"]),
        "parallel": [
            {"id": int(i), "config": configs[int(i)], "best": float(b)} for i, b in _with_best(trials, parallel_ids)
        ],
        "parallel_of": {"shown": len(parallel_ids), "scored": len(trials.scored)},
        "importance": univariate_importance(rows, metric),
        "importance_model": model_importance(rows, metric, exp["space"]),
        "importance_of": {"used": len(rows), "scored": len(trials.scored)},
        **_schedules(conn, trials),
        "config_keys": sorted(keys | set(first_page["columns"])),
        "trials_page": first_page,
    }
    view.update(axes.parallel_view(exp["space"], view["parallel"], metric, mode))  # its axes and best trials
    view.update(front.pareto_view(snap, exp))  # several objectives: the points of the Pareto chart
    return views.clean(view)  # type: ignore[no-any-return]


def _with_best(trials: _Trials, ids: Any) -> list[tuple[int, float]]:
    position = np.searchsorted(trials.ids, ids)
    return [(int(i), float(trials.best[p])) for i, p in zip(ids, position, strict=True)]


def _curves(
    conn: sqlite3.Connection, trials: _Trials, metric: str | None, time_attr: str
) -> tuple[dict[str, list[list[Any]]], dict[str, int], dict[str, Any] | None]:
    """The curves shown ({trial id: [[x, y], ...]}), how many of how many, and the band (None if all shown)."""
    with_results = np.array(conn.execute("SELECT id FROM trials WHERE iteration > 0 ORDER BY id").fetchall(), np.int64)
    with_results = with_results.reshape(-1)
    every = len(with_results) <= CURVES_ALL
    shown = with_results if every else trials.ranked[:CURVES_BEST]
    points = _points(conn, shown, metric, time_attr)
    curves: dict[str, list[list[Any]]] = {}
    for trial_id, x, y, _ in points:
        curves.setdefault(str(trial_id), []).append([x, y])
    for line in curves.values():
        line.sort(key=lambda p: (p[0] is None, p[0] if finite(p[0]) else 0))
    band = None if every else _band(_points(conn, _spread(with_results, BAND_TRIALS), metric, time_attr))
    return curves, {"shown": len(curves), "with_results": len(with_results)}, band


def _points(conn: sqlite3.Connection, ids: Any, metric: str | None, time_attr: str) -> list[tuple[int, Any, Any, Any]]:
    """(trial, x, y, timestamp) of the results of trials `ids`, in timestamp order (y None unless finite)."""
    if not len(ids):
        return []
    x, x_params = jsonsql.value_sql("data", [time_attr])
    y, y_params = jsonsql.value_sql("data", [metric]) if metric else ("NULL", [])
    t, t_params = jsonsql.value_sql("data", ["timestamp"])
    within, within_params = _ids_sql(ids)
    rows = conn.execute(
        f"SELECT trial_id, {x}, {y}, {t} FROM results WHERE trial_id {within}",
        [*x_params, *y_params, *t_params, *within_params],
    ).fetchall()
    rows.sort(key=lambda r: jsonsql.number(r[3]) if finite(r[3]) else 0.0)
    return [(i, vx, vy if finite(vy) else None, vt) for i, vx, vy, vt in rows]


def _band(points: list[tuple[int, Any, Any, Any]]) -> dict[str, Any] | None:
    """Percentiles (10, 25, 50, 75, 90) of y over the sampled trials at each x (binned if x takes many values)."""
    pairs = np.array([(jsonsql.number(x), jsonsql.number(y)) for _, x, y, _ in points], dtype=float).reshape(-1, 2)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if not len(pairs):
        return None
    xs = np.unique(pairs[:, 0])
    if len(xs) > BAND_POINTS:
        edges = np.linspace(xs[0], xs[-1], BAND_POINTS + 1)
        group = np.minimum(np.searchsorted(edges, pairs[:, 0], side="right") - 1, BAND_POINTS - 1)
        centres = (edges[:-1] + edges[1:]) / 2
    else:
        group = np.searchsorted(xs, pairs[:, 0])
        centres = xs
    out: dict[str, Any] = {"x": [], "p10": [], "p25": [], "p50": [], "p75": [], "p90": []}
    for g in np.unique(group):
        values = pairs[group == g, 1]
        out["x"].append(float(centres[g]))
        for q, key in zip((10, 25, 50, 75, 90), ("p10", "p25", "p50", "p75", "p90"), strict=True):
            out[key].append(float(np.percentile(values, q)))
    out["trials"] = len({i for i, *_ in points})
    return out


def _best_so_far(conn: sqlite3.Connection, trials: _Trials, metric: str | None, mode: str) -> list[list[float]]:
    """[timestamp, best so far] at each improvement (see the module docstring for large runs)."""
    if metric is None:
        return []
    count = conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    if count <= EXACT_BEST_RESULTS:
        y, y_params = jsonsql.value_sql("data", [metric])
        t, t_params = jsonsql.value_sql("data", ["timestamp"])
        rows = conn.execute(f"SELECT {t}, {y} FROM results ORDER BY seq", [*t_params, *y_params]).fetchall()
        stamps, values = zip(*rows, strict=True) if rows else ((), ())
        stamp, value = jsonsql.floats(stamps), jsonsql.floats(values)
    else:
        stamp, value = trials.stamp.copy(), trials.best.copy()
    stamp[~np.isfinite(stamp)] = 0.0
    keep = np.isfinite(value)
    stamp, value = stamp[keep], value[keep]
    order = np.argsort(stamp, kind="stable")
    stamp, value = stamp[order], value[order]
    signed = -value if mode == "max" else value
    running = np.minimum.accumulate(signed) if len(signed) else signed
    improved = np.ones(len(signed), dtype=bool)
    improved[1:] = signed[1:] < running[:-1]
    out = [[float(s), float(v)] for s, v in zip(stamp[improved], value[improved], strict=True)]
    if len(out) > BEST_POINTS:  # the first and last improvement, and others spread between
        keep_at = np.linspace(0, len(out) - 1, BEST_POINTS).round().astype(np.int64)
        out = [out[i] for i in keep_at]
    return out


def worker_timeline(snap: Snapshot) -> dict[str, Any]:
    """The worker timeline (asked apart from the overview, so that the page draws before it): every
    running stretch (`timeline`), or, beyond `TIMELINE_SPANS`, per slot at the chart's resolution
    (`timeline_bins`); the legend, and the experiment's status it was read with."""
    conn = snap.conn
    jsonsql.install(conn)
    exp = snap.store.experiment(setup=False)
    time_attr, milestones = views.fidelity(exp["settings"] or {})
    running = exp["status"] == "RUNNING"
    rows = conn.execute("SELECT id, iteration FROM trials ORDER BY id").fetchall()
    ids, iterations = zip(*rows, strict=True) if rows else ((), ())
    known = (np.array(ids, dtype=np.int64), np.array(iterations, dtype=np.int64))
    found = stretches.read(conn, time_attr, milestones, running, known)
    if found is None:  # a store from before event times: the stretches are inferred in Python
        found = stretches.from_spans(timeline.spans(list(snap.store.timed_history()), time_attr, milestones, running))
    legend = timeline.legend(time_attr, milestones)
    out: dict[str, Any] = {"status": exp["status"], "timeline": [], "timeline_bins": None, "timeline_legend": legend}
    if len(found) <= TIMELINE_SPANS:
        out["timeline"] = stretches.spans(found)
    else:
        out["timeline_bins"] = stretches.binned(found, TIMELINE_BINS, len(legend["items"]))
    return views.clean(out)  # type: ignore[no-any-return]


def _configs(conn: sqlite3.Connection, trials: _Trials) -> dict[int, Any]:
    """The configs (from JSON) of the trials that parallel coordinates and importance use."""
    wanted = np.union1d(_parallel_ids(trials), _spread(trials.scored, IMPORTANCE_TRIALS))
    within, params = _ids_sql(wanted)
    return {i: json.loads(c) for i, c in conn.execute(f"SELECT id, config FROM trials WHERE id {within}", params)}


def _parallel_ids(trials: _Trials) -> Any:
    if len(trials.scored) <= PARALLEL_TRIALS:
        return trials.scored
    best = trials.ranked[:PARALLEL_BEST]
    rest = np.setdiff1d(trials.scored, best, assume_unique=True)  # ids: unique (no sort of 100,000 to find out)
    return np.union1d(best, _spread(rest, PARALLEL_TRIALS - len(best)))


def _statuses(conn: sqlite3.Connection, experiment: Mapping[str, Any], ids: list[int]) -> dict[str, str]:
    shown, params = paging.shown_status_sql(experiment["status"])
    within, within_params = _ids_sql(ids)
    rows = conn.execute(f"SELECT id, {shown} FROM trials WHERE id {within}", [*params, *within_params])
    return {str(i): s for i, s in rows}


def _schedules(conn: sqlite3.Connection, trials: _Trials) -> dict[str, Any]:
    """`views.schedules` of the trials that changed their config (every trial's, donors too, in a run
    of at most `SCHEDULE_TRIALS` trials; else the best that changed), or none if no trial did; and the
    iteration each of those trials reached."""
    none: dict[str, Any] = {"schedules": {}, "schedule_iterations": {}}
    changed = [
        i
        for (i,) in conn.execute(
            "SELECT DISTINCT trial_id FROM events WHERE status = ? AND data LIKE '%\"iteration\"%'",
            (Status.RUNNING.value,),
        )
    ]
    if not changed:
        return none
    if len(trials.ids) <= SCHEDULE_TRIALS:
        ids = [int(i) for i in trials.ids]
    else:
        rank = {int(i): r for r, i in enumerate(trials.ranked)}
        ids = sorted(changed, key=lambda i: rank.get(i, len(rank)))[:SCHEDULE_TRIALS]
    within, params = _ids_sql(ids)
    records = (
        ("status", trial_id, (Status(status), json.loads(data) if data else {}))
        for trial_id, status, data in conn.execute(
            f"SELECT trial_id, status, data FROM events WHERE trial_id {within} ORDER BY seq", params
        )
    )
    plans = views.schedules(records)
    if not any(len(v) > 1 for v in plans.values()):
        return none
    reached = trials.iteration[np.searchsorted(trials.ids, [int(k) for k in plans])]
    return {
        "schedules": {str(k): v for k, v in plans.items()},
        "schedule_iterations": {str(k): int(n) for k, n in zip(plans, reached, strict=True)},
    }
