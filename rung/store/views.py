"""The read side of a store: JSON-ready views of stored experiments, made from JSON columns only.

What the CLI, the dashboard, `rung.plots` and the callbacks' export show is built here, from a
`snapshot` (a private copy of the database). Nothing here unpickles: a store handed to you, or a
page that asks the dashboard for an experiment, cannot run code through these views. Configs that
hold objects (a class in a `choice`) are shown by their stored text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rung._numbers import better, finite
from rung.objectives import Objectives
from rung.store import driver, spent, timeline
from rung.store.importance import model_importance, univariate_importance
from rung.store.schema import DB_NAME
from rung.store.snapshot import Snapshot, snapshot
from rung.store.sqlite import Store
from rung.types import Status

__all__ = ["clean", "experiment_view", "fidelity", "list_view", "schedules", "summary"]


def clean(value: Any) -> Any:
    """`value` with NaN and inf replaced by None (browsers' JSON.parse rejects them)."""
    kind = type(value)
    # The exact types first (a dashboard view holds tens of thousands of values: isinstance's ABC
    # checks were a fifth of its CPU at 100,000 trials); subclasses (numpy floats) below.
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): clean(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def fidelity(settings: dict[str, Any]) -> tuple[str, list[float]]:
    """The scheduler's `time_attr` and milestones, as `run()` stored them in the settings."""
    fid = settings.get("fidelity")
    if isinstance(fid, dict):
        return str(fid.get("time_attr", "training_iteration")), [float(m) for m in fid.get("milestones", [])]
    return "training_iteration", []  # stores older than the setting: no milestones (never a pickle read)


def schedules(records: Any) -> dict[int, list[dict[str, Any]]]:
    """Each trial's hyperparameter schedule from the stored history: from which iteration it ran
    which config, and from whose weights (PBT, PB2). `records` yields `Store.timed_history()` entries."""
    out: dict[int, list[dict[str, Any]]] = {}
    for kind, trial_id, data, *_ in records:
        if kind != "status":
            continue
        _status, info = data
        if "origin" in info:  # created, with its first config
            out.setdefault(trial_id, []).append(
                {"iteration": 0, "config": info.get("config"), "from_trial": info.get("parent_id")}
            )
        elif info.get("reverted") and len(out.get(trial_id, [])) > 1:
            out[trial_id].pop()  # ended before its last change made a result: undone
        elif "iteration" in info and _status is Status.RUNNING:
            # resumed with a new config or from another trial's weights
            entries = out.setdefault(trial_id, [])
            previous = entries[-1]["config"] if entries else None
            entries.append(
                {
                    "iteration": int(info["iteration"]),
                    "config": info.get("config", previous),
                    "from_trial": info.get("from_trial"),
                }
            )
    return out


def summary(store: Store) -> dict[str, Any]:
    """An experiment in one line: status, trials by status, the best value of its metric."""
    return _summary(store.path.name, store.experiment(setup=False), store.trials())


def _summary(name: str, exp: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    metric, mode = exp["metric"], exp["mode"] or "min"
    objectives = Objectives.stored(metric, mode, exp["settings"])
    counts: dict[str, int] = {}
    best: float | None = None
    for row in rows:
        status = driver.shown(row["status"], exp["status"])
        counts[status] = counts.get(status, 0) + 1
        value: Any = (row["best_result"] or {}).get(metric) if metric else None
        if objectives is not None and objectives.constraints and not objectives.feasible(row["best_result"]):
            continue  # never best
        if finite(value) and (best is None or better(float(value), best, mode)):
            best = float(value)
    extra: dict[str, Any] = {}
    if objectives is not None and not objectives.plain:
        extra = _objectives_summary(objectives, rows)
        if objectives.multi:
            best = extra.pop("best_score")
    return {
        "name": name,  # the folder: a copied or renamed experiment is found (and linked) by it
        "status": exp["status"],
        "metric": metric,
        "mode": mode,
        "created": exp["created"],
        # The experiment row changes only at start and end: a running one is as recent as its trials.
        "updated": max([exp["updated"], *(row["updated"] for row in rows)]),
        "trials": len(rows),
        "by_status": counts,
        "best": best,  # with several objectives: the smallest weighted score (None without scalarize weights)
        "total_cost": spent.total(exp["settings"], (row["last_result"] for row in rows)),  # None: no prices
        **extra,
    }


def _objectives_summary(objectives: Objectives, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What a summary adds with several objectives or constraints: the objectives, the Pareto front
    (ids, with several objectives), how many trials are infeasible, and the best weighted score."""
    judged = [(row["id"], row["best_result"]) for row in rows]
    scores = [s for _, r in judged if (s := objectives.score(r)) is not None]
    out: dict[str, Any] = {
        "objectives": [
            {"metric": m, "mode": mode} for m, mode in zip(objectives.metrics, objectives.modes, strict=True)
        ],
        "constraints": objectives.to_json()["constraints"],
        "infeasible": sum(1 for _, r in judged if r is not None and not objectives.feasible(r)),
        "best_score": min(scores) if scores else None,  # the weighted sum of losses (see rung.run's scalarize)
    }
    if objectives.multi:
        out["front"] = objectives.front(judged)
    return out


def _front_points(objectives: Objectives | None, rows: list[dict[str, Any]], front: list[int]) -> list[dict[str, Any]]:
    if objectives is None or not front:
        return []
    judged = {row["id"]: row["best_result"] or {} for row in rows}
    return [{"id": i, "values": [judged[i].get(m) for m in objectives.metrics]} for i in front]


def list_view(storage: str | Path) -> list[dict[str, Any]]:
    """One summary per experiment under `storage` (unreadable ones are listed with their error)."""
    from rung.store import overview  # it builds on this module

    root = Path(storage)
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for child in sorted(root.iterdir()):
        if not (child / DB_NAME).is_file():
            continue
        try:
            copy = Snapshot(root, child.name)
            try:
                out.append(clean(overview.summary(copy, child.name)))  # counted by SQLite: fast for many trials
            finally:
                copy.close()
        except Exception as exc:  # damaged, or unreadable here: listed as such, the others still shown
            out.append({"name": child.name, "status": "UNREADABLE", "error": str(exc)})
    return out


def experiment_view(storage: str | Path, name: str) -> dict[str, Any]:
    """Everything the experiment page draws, as plain JSON-ready data."""
    with snapshot(storage, name) as store:
        exp = store.experiment(setup=False)
        rows = store.trials()
        records = list(store.timed_history())
    results = [{**data, "trial_id": trial_id} for kind, trial_id, data, _at, _slot in records if kind == "result"]
    plans = schedules(records)
    spent_so_far = spent.over_time_of(exp["settings"], results)
    time_attr, milestones = fidelity(exp["settings"] or {})
    metric, mode = exp["metric"], exp["mode"] or "min"
    objectives = Objectives.stored(metric, mode, exp["settings"])
    best_mode = mode
    if objectives is not None and objectives.multi:
        # Curves of the first objective; no best so far unless weighted (then the weighted score, lowest best).
        metric, best_mode = objectives.metrics[0], "min"
    curves: dict[int, list[list[Any]]] = {}
    best_so_far: list[list[float]] = []
    best: float | None = None
    for res in sorted(results, key=lambda r: float(r.get("timestamp", 0.0))):
        value: Any = res.get(metric) if metric else None
        curves.setdefault(res["trial_id"], []).append([res.get(time_attr), value if finite(value) else None])
        if objectives is not None and not objectives.plain:
            # Results that may make their trial best: feasible ones, or (several objectives) weighed.
            score = objectives.score(res)
            if objectives.multi:
                value = score
            elif score is None:
                continue
        if finite(value) and (best is None or better(float(value), best, best_mode)):
            best = float(value)
            best_so_far.append([float(res.get("timestamp", 0.0)), best])
    for points in curves.values():
        points.sort(key=lambda p: (p[0] is None, p[0] if finite(p[0]) else 0))
    summary = _summary(name, exp, rows)
    front = set(summary.get("front", ()))
    constrained = objectives is not None and bool(objectives.constraints)
    trials = [
        {
            "id": r["id"],
            "status": driver.shown(r["status"], exp["status"]),
            "config": r["config"],
            "last": r["last_result"],
            "best": r["best_result"],
            "iteration": r["iteration"],
            "error": r["error"],
            "parent_id": r["parent_id"],
            "num_failures": r["num_failures"],
            # With constraints: whether its judged result meets them (None: no result yet).
            "feasible": (None if r["best_result"] is None else objectives.feasible(r["best_result"]))
            if constrained and objectives is not None
            else True,
            "pareto": r["id"] in front,
        }
        for r in rows
    ]
    view = {
        "summary": summary,
        # With several objectives: the Pareto front's trials, each with its objectives' values (in the
        # order of summary.objectives), from the result each trial is judged by.
        "pareto_front": _front_points(objectives, rows, summary.get("front", [])),
        "settings": exp["settings"],
        "time_attr": time_attr,
        "milestones": milestones,
        "trials": trials,
        "curves": {str(k): v for k, v in curves.items()},
        "best_so_far": best_so_far,
        "spent_so_far": spent_so_far,  # [timestamp, money spent by then] (runs with prices)
        "timeline": timeline.spans(records, time_attr, milestones, running=exp["status"] == "RUNNING"),
        "timeline_legend": timeline.legend(time_attr, milestones),
        "importance": univariate_importance(rows, metric),
        "importance_model": model_importance(rows, metric, exp["space"]),
        # Every trial's schedule (donors too) once any trial changed its config; else none.
        "schedules": {str(k): v for k, v in plans.items()} if any(len(v) > 1 for v in plans.values()) else {},
    }
    return clean(view)  # type: ignore[no-any-return]
