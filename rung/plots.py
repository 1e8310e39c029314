"""Static pictures of an experiment with matplotlib (imported only when a plot is drawn).

Each function takes an `ExperimentResult`, returns a `matplotlib.figure.Figure` (built without
pyplot, so no global figure state and no GUI backend) and, given `path=`, saves it as PNG. They
draw the same data as the dashboard (`rung.store.views.experiment_view`), read from JSON only.

Example:
    >>> from rung.plots import plot_curves
    >>> fig = plot_curves(rung.load("exp1"), path="curves.png")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung._numbers import finite
from rung.store.views import experiment_view

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rung.result import ExperimentResult

__all__ = [
    "plot_best_so_far",
    "plot_curves",
    "plot_importance",
    "plot_parallel",
    "plot_pareto",
    "plot_schedules",
    "plot_timeline",
]

_GREY = "#bbbbbb"
_BEST = "#c2185b"  # the best trial's line, as on the dashboard


def _figure(width: float = 7.0, height: float = 4.0) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("rung's plots need matplotlib, which is not installed; pip install matplotlib") from exc
    return Figure(figsize=(width, height), layout="constrained")


def _view(result: ExperimentResult) -> dict[str, Any]:
    return experiment_view(result.storage, result.name)


def _unit(span: float) -> tuple[float, str]:
    """Seconds in the unit that reads best for a span of `span` seconds: (divisor, name), as the dashboard."""
    if span < 120:
        return 1.0, "s"
    if span < 7200:
        return 60.0, "min"
    return (3600.0, "h") if span < 172800 else (86400.0, "days")


def _best_id(view: dict[str, Any], metric: str, mode: str) -> int | None:
    """The id of the trial with the best value of `metric` (None if none has one)."""
    from rung.store.axes import best_ids

    scores = [
        (t["id"], float((t["best"] or {})[metric])) for t in view["trials"] if finite((t["best"] or {}).get(metric))
    ]
    found = best_ids(scores, mode, most=1)
    return found[0] if found else None


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def plot_curves(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """The metric of every trial against `time_attr`: a line per trial, milestones dashed, stopped trials grey.

    Example:
        >>> fig = plot_curves(result)  # doctest: +SKIP
        >>> len(fig.axes[0].get_lines())  # one per trial that reported, plus one per milestone  # doctest: +SKIP
    """
    if result.metric is None:
        raise ValueError(f"plot_curves needs an experiment with a metric; {result.name!r} has metric=None")
    view = _view(result)
    fig = _figure()
    ax = fig.add_subplot()
    status = {t["id"]: t["status"] for t in view["trials"]}
    best = _best_id(view, result.metric, result.mode or "min") if isinstance(result.metric, str) else None
    for key, points in view["curves"].items():
        trial_id = int(key)
        xs = [p[0] for p in points if p[1] is not None]
        ys = [p[1] for p in points if p[1] is not None]
        if not xs:
            continue
        faded = status.get(trial_id) in ("STOPPED", "ERROR")
        if trial_id == best:
            ax.plot(xs, ys, color=_BEST, linewidth=3, label=f"trial {trial_id}", zorder=3)
            continue
        ax.plot(xs, ys, color=_GREY if faded else None, linewidth=1 if faded else 1.5, label=f"trial {trial_id}")
    if best is not None:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=_BEST, linewidth=3, label=f"best trial ({best})")]
        if any(s in ("STOPPED", "ERROR") for s in status.values()):
            handles.append(Line2D([], [], color=_GREY, linewidth=1, label="stopped early or failed"))
        ax.legend(handles=handles, fontsize=8)
    for milestone in view["milestones"]:
        ax.axvline(milestone, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xlabel(view["time_attr"])
    ax.set_ylabel(result.metric)
    ax.set_title(f"{result.name}: learning curves")
    return _finish(fig, path)


def plot_best_so_far(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """The best value of the metric so far against the time since the experiment started, in a unit
    that fits the run (s, min, h or days); the legend names the trial that holds the best value.

    Example:
        >>> fig = plot_best_so_far(result)  # doctest: +SKIP
        >>> fig.axes[0].get_xlabel()  # doctest: +SKIP
        'time since the experiment started (min)'
    """
    metric = result.metric
    if not isinstance(metric, str):
        raise ValueError(f"plot_best_so_far needs an experiment with one metric; {result.name!r} has metric={metric!r}")
    view = _view(result)
    points: list[list[float]] = view["best_so_far"]
    fig = _figure()
    ax = fig.add_subplot()
    if points:
        created = view["summary"]["created"]
        first = points[0][0]
        # Wall-clock runs stamp results in epoch seconds; a simulated clock starts at 0 (as the dashboard).
        t0 = created if finite(created) and created <= first else (0.0 if 0 <= first < 1e9 else first)
        per, unit = _unit(points[-1][0] - t0)
        best = _best_id(view, metric, result.mode or "min")
        label = f"best {metric} so far" + ("" if best is None else f": {points[-1][1]:.5g}, trial {best}")
        xs, ys = [(p[0] - t0) / per for p in points], [p[1] for p in points]
        ax.step(xs, ys, where="post", color="#3c9e5f", linewidth=2, label=label)
        ax.plot(xs, ys, "o", color="#3c9e5f", markersize=3)
        ax.set_xlabel(f"time since the experiment started ({unit})")
        ax.legend(fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{result.name}: best {metric} so far")
    return _finish(fig, path)


def plot_timeline(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """Which trial ran in which worker slot when: a bar per running stretch, coloured by the rung it
    reached, or red if it failed; the legend tells the colours.

    The slots are the tuner's (the lowest free one when a trial starts) and the times those of its
    clock: seconds of wall time, or simulated seconds with `executor="simulated"`. A failure before
    the first report is a short bar.

    Example:
        >>> fig = plot_timeline(result)  # doctest: +SKIP
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]  # doctest: +SKIP
        ['< 1', '≥ 1', '≥ 3', '≥ 9', 'failed']
    """
    from matplotlib.patches import Patch

    view = _view(result)
    spans = view["timeline"]
    slots = 1 + max((s["slot"] for s in spans), default=0)
    fig = _figure(7.0, min(4.0, 1.4 + 0.35 * slots))  # as tall as its slots: no empty band under few
    ax = fig.add_subplot()
    key = view["timeline_legend"]
    t0 = min((s["start"] for s in spans), default=0.0)
    t1 = max((s["end"] for s in spans), default=t0)
    per, unit = _unit(t1 - t0)
    shortest = 0.004 * (t1 - t0) or 0.01  # so a trial that failed at once is still seen
    for span in spans:
        ax.barh(
            span["slot"],
            max(span["end"] - span["start"], shortest) / per,
            left=(span["start"] - t0) / per,
            height=0.8,
            color=key["items"][span["legend"]]["colour"],
            edgecolor="white",
        )
        ax.text((span["start"] - t0) / per, span["slot"], f" {span['trial']}", va="center", fontsize=7)
    ax.set_yticks(range(slots), [f"slot {i}" for i in range(slots)])
    handles = [Patch(facecolor=item["colour"], label=item["label"]) for item in key["items"]]
    ax.legend(handles=handles, title=key["title"], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_xlabel(f"time since the first trial started ({unit})")
    ax.set_title(f"{result.name}: worker timeline")
    return _finish(fig, path)


def plot_parallel(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """Parallel coordinates: an axis per hyperparameter that varies (nested ones as `a/b`) and the
    metric, a line per trial; the axes as the dashboard draws them (`rung.store.axes`): log axes for
    log-scaled dimensions, a tick per category, `None` kept as a value. Lines are coloured by the
    metric (green: better); the best trials are drawn on top, thick, and named in the legend.

    Example:
        >>> fig = plot_parallel(result)  # doctest: +SKIP
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][0]  # doctest: +SKIP
        'best trial (7)'
    """
    from rung.store import axes
    from rung.store.snapshot import snapshot

    metric = result.metric
    if not isinstance(metric, str):
        raise ValueError(f"plot_parallel needs an experiment with one metric; {result.name!r} has metric={metric!r}")
    scored = [t for t in result.trials if t.best_metrics is not None and finite(t.best_metrics.get(metric))]
    with snapshot(result.storage, result.name) as store:
        space = store.experiment(setup=False)["space"]
    rows: list[dict[str, Any]] = [
        {"id": t.id, "config": t.config, "best": float(t.best_metrics[metric])}  # type: ignore[index]
        for t in scored
    ]
    found = axes.parallel_view(space, rows, metric, result.mode or "min")
    columns: list[dict[str, Any]] = found["parallel_axes"]
    best: list[int] = found["parallel_best"]
    fig = _figure(max(7.0, 1.3 * len(columns)), 4.5)
    ax = fig.add_subplot()
    if rows and len(columns) > 1:
        import matplotlib as mpl

        cmap = mpl.colormaps["RdYlGn"]
        values = [r["best"] for r in rows]
        lo, hi = min(values), max(values)
        place = {r["id"]: k for k, r in enumerate(rows)}
        for k, r in enumerate(rows):
            if r["id"] in best:
                continue
            f = (r["best"] - lo) / (hi - lo) if hi > lo else 1.0
            colour = cmap(f if result.mode == "max" else 1 - f)
            ax.plot(range(len(columns)), [c["at"][k] for c in columns], color=colour, alpha=0.45, linewidth=0.8)
        for rank, trial_id in reversed(list(enumerate(best))):  # the very best last, on top
            k = place[trial_id]
            label = f"best trial ({trial_id})" if rank == 0 else f"next best ({', '.join(map(str, best[1:]))})"
            ax.plot(range(len(columns)), [c["at"][k] for c in columns], color="#c2185b" if rank == 0 else "#e07b39",
                    linewidth=3 if rank == 0 else 2, label=label, zorder=3)  # fmt: skip
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("best"))  # drawn last, named first
        unique = {labels[i]: handles[i] for i in order}
        ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    for i, column in enumerate(columns):
        ax.axvline(i, color="#333333", linewidth=0.8)
        for height, label in column["ticks"]:
            ax.plot([i - 0.03, i], [height, height], color="#333333", linewidth=0.8)
            ax.text(i - 0.05, height, label, ha="right", va="center", fontsize=7)
    names = [c["key"] + {"log": "\n(log)", "category": "\n(categories)"}.get(c["scale"], "") for c in columns]
    ax.set_xticks(range(len(columns)), names, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlim(-0.5, max(len(columns) - 1, 0) + 0.2)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{result.name}: hyperparameters vs {metric} (green: better)")
    return _finish(fig, path)


def plot_importance(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """Hyperparameter importance, two bars each: alone (|rank correlation| with the metric, or the
    correlation ratio of a category) and with its interactions (the Sobol total-effect index of a GP
    fitted to the trials; the lighter part is interactions only), as the dashboard shows them.

    Example:
        >>> fig = plot_importance(result)  # doctest: +SKIP
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]  # most important first  # doctest: +SKIP
        ['lr', 'weight_decay', 'act']
    """
    if not isinstance(result.metric, str):
        raise ValueError(
            f"plot_importance needs an experiment with one metric; {result.name!r} has metric={result.metric!r}"
        )
    view = _view(result)
    alone: dict[str, float] = view["importance"]
    model: dict[str, dict[str, float]] = view["importance_model"]
    keys = sorted(set(alone) | set(model), key=lambda k: (-model.get(k, {}).get("effect", -1.0), -alone.get(k, 0.0), k))
    fig = _figure(7.0, max(2.0, 0.45 * len(keys) + 1.2))
    ax = fig.add_subplot()
    rows = list(range(len(keys)))[::-1]  # the most important on top
    ax.barh([r + 0.2 for r in rows], [alone.get(k, 0.0) for k in keys], height=0.38, color="#4a78c2", label="alone")
    if model:
        own = [model.get(k, {}).get("effect", 0.0) - model.get(k, {}).get("interaction", 0.0) for k in keys]
        shared = [model.get(k, {}).get("interaction", 0.0) for k in keys]
        ax.barh([r - 0.2 for r in rows], own, height=0.38, color="#e07b39", label="with interactions (GP, Sobol total)")
        ax.barh([r - 0.2 for r in rows], shared, left=own, height=0.38, color="#f3c19d", label="of which interactions")
    ax.set_yticks(rows, keys)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"importance for {result.metric}")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{result.name}: hyperparameter importance")
    return _finish(fig, path)


def plot_schedules(result: ExperimentResult, param: str | None = None, *, path: str | Path | None = None) -> Figure:
    """PBT/PB2: a numeric hyperparameter over each trial's iterations; clone edges dashed from the donor.

    Args:
        result: the experiment.
        param: the hyperparameter to draw (default: the first numeric one that changed).
        path: save a PNG there.
    """
    view = _view(result)
    schedules: dict[str, list[dict[str, Any]]] = view["schedules"]
    numeric = sorted(
        {
            k
            for entries in schedules.values()
            for e in entries
            for k, v in (e["config"] or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    )
    if param is None:
        if not numeric:
            raise ValueError(f"plot_schedules: no trial of {result.name!r} changed a numeric hyperparameter")
        param = numeric[0]
    elif param not in numeric:
        raise ValueError(f"plot_schedules: param must be one of {numeric}; got param={param!r}")
    iterations = {t.id: t.iteration for t in result.trials}
    fig = _figure()
    ax = fig.add_subplot()

    def value_at(trial: int, iteration: int) -> float | None:
        value = None
        for entry in schedules.get(str(trial), []):
            if entry["iteration"] <= iteration and entry["config"] is not None:
                value = entry["config"].get(param)
        return value

    for key, entries in sorted(schedules.items(), key=lambda kv: int(kv[0])):
        trial = int(key)
        xs: list[float] = []
        ys: list[float] = []
        for i, entry in enumerate(entries):
            end = entries[i + 1]["iteration"] if i + 1 < len(entries) else max(iterations[trial], entry["iteration"])
            xs += [entry["iteration"], end]
            ys += [entry["config"][param]] * 2
            donor = entry["from_trial"]
            if donor is not None and entry["iteration"] > 0:
                before = value_at(donor, entry["iteration"])
                if before is not None:
                    ax.plot(
                        [entry["iteration"]] * 2, [before, entry["config"][param]], "--", color=_GREY, linewidth=0.8
                    )
        ax.plot(xs, ys, linewidth=1.5, label=f"trial {trial}")
    ax.set_xlabel("training_iteration")
    ax.set_ylabel(param)
    ax.set_title(f"{result.name}: {param} schedules (dashed: cloned from another trial)")
    return _finish(fig, path)


def plot_pareto(result: ExperimentResult, *, path: str | Path | None = None) -> Figure:
    """Several objectives: each trial's judged result as a point, the Pareto front drawn as a step line
    through its trials (larger, labelled with their ids), infeasible trials as grey crosses. Two
    objectives: one scatter; more: a scatter per pair of objectives (the front is the whole front,
    so some of its points are dominated in a pair's projection).

    Example:
        >>> fig = plot_pareto(result, path="front.png")  # doctest: +SKIP
    """
    objectives = result.objectives
    if objectives is None or not objectives.multi:
        raise ValueError(
            f"plot_pareto needs an experiment with several objectives (metric=[...]); {result.name!r} has"
            f" metric={result.metric!r}"
        )
    front = {t.id for t in result.pareto_front()}
    names = objectives.metrics
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    columns = min(len(pairs), 3)
    rows = -(-len(pairs) // columns)
    fig = _figure(4.5 * columns, 4.0 * rows)
    points = []
    for trial in result.trials:
        judged = trial.best_metrics
        if judged is not None and objectives.losses(judged) is not None:
            points.append((trial.id, [float(judged[m]) for m in names], trial.feasible is not False))
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(rows, columns, k + 1)
        other = [p for p in points if p[0] not in front and p[2]]
        infeasible = [p for p in points if not p[2]]
        on = sorted((p for p in points if p[0] in front), key=lambda p: (p[1][i], p[1][j]))
        if other:
            ax.scatter([p[1][i] for p in other], [p[1][j] for p in other], s=14, color="#4c72b0", alpha=0.6,
                       label="trials")  # fmt: skip
        if infeasible:
            ax.scatter([p[1][i] for p in infeasible], [p[1][j] for p in infeasible], s=14, color=_GREY, marker="x",
                       label="infeasible")  # fmt: skip
        if on:
            xs, ys = [p[1][i] for p in on], [p[1][j] for p in on]
            if len(pairs) == 1:
                ax.step(xs, ys, where="post" if objectives.modes[i] == "min" else "pre", color="#c44e52", linewidth=1.2)
            ax.scatter(xs, ys, s=36, color="#c44e52", zorder=3, label=f"pareto front ({len(on)})")
            for p in on:
                ax.annotate(str(p[0]), (p[1][i], p[1][j]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{names[i]} ({objectives.modes[i]})")
        ax.set_ylabel(f"{names[j]} ({objectives.modes[j]})")
        ax.legend(fontsize=8)
    fig.suptitle(f"{result.name}: pareto front")
    return _finish(fig, path)
