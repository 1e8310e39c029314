"""The dashboard's Pareto chart of an experiment with several objectives (JSON only).

Every trial whose judged result holds all objectives is a point `[id, [value per objective],
feasible, on the front]`; a run of more than `POINTS` such trials shows the whole front and
others spread over the run, and says so (`of`). The same trials make its parallel coordinates: an
axis per hyperparameter and per objective, the front highlighted.
"""

from __future__ import annotations

from typing import Any

from rung._numbers import finite
from rung.objectives import Objectives
from rung.store import axes
from rung.store.snapshot import Snapshot

__all__ = ["POINTS", "pareto_view"]

POINTS = 2000


def pareto_view(snap: Snapshot, exp: dict[str, Any]) -> dict[str, Any]:
    """`{"pareto": {"objectives", "points", "of"}}` for an experiment with several objectives, else
    `{"pareto": None}`."""
    objectives = Objectives.stored(exp["metric"], exp["mode"], exp["settings"])
    if objectives is None or not objectives.multi:
        return {"pareto": None}
    rows = snap.store.trials()
    configs = {row["id"]: row["config"] for row in rows}
    judged = [(row["id"], row["best_result"]) for row in rows]
    front = set(objectives.front(judged))
    points = [
        [trial_id, [float(result[m]) for m in objectives.metrics], objectives.feasible(result), trial_id in front]
        for trial_id, result in judged
        if result is not None and all(finite(result.get(m)) for m in objectives.metrics)
    ]
    shown = points
    if len(points) > POINTS:
        others = [p for p in points if not p[3]]
        room = max(POINTS - len(front), 0)
        step = len(others) / room if room else 0
        shown = [p for p in points if p[3]] + [others[int(i * step)] for i in range(room)]
        shown.sort(key=lambda p: p[0])
    metrics = objectives.metrics
    columns = [
        (f"{m} ({mode})", [p[1][k] for p in shown])
        for k, (m, mode) in enumerate(zip(metrics, objectives.modes, strict=True))
    ]
    parallel = axes.parallel_axes(exp["space"], [configs[p[0]] for p in shown], *columns[0], columns[1:])
    return {
        "pareto": {
            "objectives": [{"metric": m, "mode": mode} for m, mode in zip(metrics, objectives.modes, strict=True)],
            "points": shown,
            "of": {"shown": len(shown), "judged": len(points)},
        },
        # Parallel coordinates of the same trials: an axis per hyperparameter and per objective, the
        # front as the best trials (in place of the one-metric ones, which such a run has none of).
        "parallel": [{"id": p[0], "config": configs[p[0]], "best": None} for p in shown],
        "parallel_axes": parallel if shown else [],
        "parallel_best": sorted(p[0] for p in shown if p[3]),
        "parallel_of": {"shown": len(shown), "scored": len(points)},
    }
