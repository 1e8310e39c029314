"""The comparison's report: anytime regret plots (PNG) and a Markdown table per recorded table.

Reads `<out>/runs.jsonl` (the last successful line of each table, method and seed counts) and
writes `<out>/regret-<table>.png` and `<out>/report.md`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bench.compare.spec import METHODS
from bench.compare.stats import median_ci, regret_at, regret_grid, regret_steps, time_to_reach, upper_median

__all__ = ["REFERENCE", "Report", "Runs", "collect", "load_lines", "markdown", "plot", "reach_times", "write_report"]

REFERENCE = "ray-asha"
"""The method whose final regret is the target every method's time is measured to."""

COLOURS = [f"C{i}" for i in range(10)] + ["#000000", "#e6ab02", "#66a61e", "#a6761d", "#6a3d9a"]
"""One colour per method, by its place in `METHODS` (the same in every plot); line styles tell the engines."""

STYLES = {"rung": "-", "ray": "--", "optuna": ":"}


@dataclass
class Runs:
    """The successful runs of one method on one table, one per seed."""

    method: str
    seeds: list[int] = field(default_factory=list)
    steps: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (times, regrets) per seed
    trials: list[int] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)


@dataclass
class Report:
    """What `write_report` wrote: the Markdown text and each table's figure."""

    markdown: str
    figures: dict[str, Figure]


def load_lines(path: Path) -> list[dict[str, Any]]:
    """The lines of a `runs.jsonl` (a line cut short by a kill is skipped)."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return lines


def collect(lines: Sequence[dict[str, Any]], table: str) -> tuple[dict[str, Any], dict[str, Runs]]:
    """The settings of `table`'s runs and its successful runs by method (in `METHODS` order)."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    settings: set[tuple[float, float, int, str]] = set()
    for line in lines:
        spec = line["spec"]
        if spec["table"] != table or line.get("status") != "ok":
            continue
        settings.add((spec["budget"], spec["scale"], spec["workers"], spec.get("metric", "val_acc")))
        latest[(spec["method"], spec["seed"])] = line
    if len(settings) > 1:
        raise ValueError(
            f"runs.jsonl holds runs of table {table!r} with different (budget, scale, workers, metric): "
            f"{sorted(settings)}; give each setting its own --out"
        )
    budget, scale, workers, metric = settings.pop() if settings else (0.0, 0.0, 0, "val_loss")
    runs: dict[str, Runs] = {}
    for method in METHODS:
        for (name, seed), line in sorted(latest.items()):
            if name != method:
                continue
            entry = runs.setdefault(method, Runs(method))
            entry.seeds.append(seed)
            entry.steps.append(regret_steps(line["trace"]["t"], line["trace"]["value"], line["best"]))
            entry.trials.append(int(line["trials"]))
            entry.reports.append(int(line["reports"]))
    return {"budget": budget, "scale": scale, "workers": workers, "metric": metric}, runs


def plot(table: str, budget: float, runs: dict[str, Runs], metric: str = "val_loss") -> Figure:
    """Median anytime regret (one line per method) and its interquartile band, log y."""
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    ax = figure.add_subplot()
    grid = np.linspace(0.0, budget, 600)
    # A regret of 0 cannot sit on a log axis: draw it at half the smallest positive regret seen.
    positive = [r[r > 0].min() for entry in runs.values() for _, r in entry.steps if np.any(r > 0)]
    floor = float(min(positive)) / 2 if positive else 1e-4
    order = list(METHODS)
    for method, entry in runs.items():
        curves = np.array([regret_grid(times, regrets, grid) for times, regrets in entry.steps])
        median = np.median(curves, axis=0)
        low, high = np.quantile(curves, [0.25, 0.75], axis=0, method="inverted_cdf")
        colour = COLOURS[order.index(method) % len(COLOURS)]
        style = STYLES.get(METHODS[method].engine, "-")
        shown = np.where(np.isfinite(median), np.maximum(median, floor), np.nan)
        ax.plot(grid, shown, style, color=colour, label=f"{method} ({len(entry.seeds)})", linewidth=1.6)
        band = np.isfinite(high)
        ax.fill_between(
            grid, np.maximum(low, floor), np.maximum(np.where(band, high, np.nan), floor), color=colour, alpha=0.12
        )
    ax.set_yscale("log")
    ax.set_xlim(0, budget)
    ax.set_xlabel("recorded seconds (wall seconds / scale)")
    ax.set_ylabel(f"regret of {metric} (0 drawn at {floor:.2g})")
    ax.set_title(f"{table}: median anytime regret and interquartile band over seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    return figure


def _interval(value: tuple[float, float, float], digits: int, infinite: str) -> str:
    median, low, high = value
    if math.isinf(median):
        return infinite

    def show(x: float) -> str:
        return "inf" if math.isinf(x) else f"{x:.{digits}f}"

    return f"{show(median)} [{show(low)}, {show(high)}]"


def reach_times(runs: dict[str, Runs], budget: float) -> tuple[float, dict[str, tuple[float, float, float]]] | None:
    """The target (`REFERENCE`'s median final regret) and each method's time to reach it, with its interval.

    Returns:
        None without `REFERENCE` runs, or when half of them or more reported nothing within the
        budget (no finite target); else `(target, {method: (median, low, high)})`, the medians and
        bootstrap intervals over seeds of the first recorded second at or below the target
        (infinity for a seed that never gets there within the budget).
    """
    reference = runs.get(REFERENCE)
    if reference is None:
        return None
    target = upper_median([regret_at(t, r, budget) for t, r in reference.steps])
    if not math.isfinite(target):
        return None
    times = {
        method: median_ci([time_to_reach(t, r, target, budget) for t, r in entry.steps])
        for method, entry in runs.items()
    }
    return target, times


def markdown(table: str, settings: dict[str, Any], runs: dict[str, Runs]) -> str:
    """The Markdown section of one table: regret at 1/4, 1/2 and the whole budget, and time to the target."""
    budget = settings["budget"]
    marks = [budget / 4, budget / 2, budget]
    lines = [f"## {table}", ""]
    reached = reach_times(runs, budget)
    if reached is None:
        why = "no runs" if REFERENCE not in runs else "no report within the budget in half of its runs or more"
        lines.append(f"{REFERENCE}: {why}; so no target regret and no times to reach it.")
        times: dict[str, tuple[float, float, float]] = {}
    else:
        target, times = reached
        lines.append(f"Target: {REFERENCE}'s median final regret, {target:.4f}.")
    lines.append("")
    head = "| method | seeds | trials | reports | first report (s) | "
    head += " | ".join(f"regret at {m:g} s" for m in marks)
    head += f" | time to {REFERENCE}'s final regret (s) | / {REFERENCE}'s time |"
    lines += [head, "|" + "---|" * 10]
    own = times.get(REFERENCE, (math.inf, 0.0, 0.0))[0]
    for method, entry in runs.items():
        first = np.median([t[0] if t.size else math.inf for t, _ in entry.steps])
        cells = [method, str(len(entry.seeds)), f"{np.median(entry.trials):.0f}", f"{np.median(entry.reports):.0f}"]
        cells.append(f"{first:.2f}" if math.isfinite(first) else "none")
        for mark in marks:
            cells.append(_interval(median_ci([regret_at(t, r, mark) for t, r in entry.steps]), 4, "no report"))
        if method in times:
            mine = times[method][0]
            cells.append(_interval(times[method], 2, "not reached"))
            cells.append(f"{mine / own:.2f}" if math.isfinite(mine) and math.isfinite(own) and own > 0 else "—")
        else:
            cells += ["—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


HOW_TO_READ = """\
Each method ran with {workers} workers for {budget:g} recorded seconds per run (scale {scale:g}: wall seconds per
recorded second), its trials replaying the recorded curve of the nearest recorded configuration not yet
used in the run and sleeping each step's recorded seconds x scale, in its own engine. Regret = how far
the best {metric} reported so far is from the table's best {metric} (reports stamped inside the trials;
only reports within the budget count). Cells: median over seeds [bootstrap 95% interval: 2,000
resamples of the seeds, seeded].
"trials": trials started from scratch; "reports": results reported; "first report": recorded seconds
from the engine's call to the first report (engine start-up included); medians over seeds. The target is
{reference}'s median final regret (for an even number of seeds the higher middle value, one its runs
reached); a method's time is the median over seeds of the first recorded second its regret is at or
below the target, a seed that never gets there counting as infinity; the ratio divides it by
{reference}'s own median time.
"""


def _ran(lines: Sequence[dict[str, Any]], method: str) -> bool:
    return any(line["spec"]["method"] == method and line.get("status") == "ok" for line in lines)


def write_report(out: Path, tables: Sequence[str] = ("mlp", "gbt")) -> Report:
    """Write `<out>/report.md` and `<out>/regret-<table>.png` from `<out>/runs.jsonl`."""
    path = out / "runs.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no runs to report: {path} does not exist; run python -m bench compare --out {out}")
    lines = load_lines(path)
    done = {json.dumps(line["spec"], sort_keys=True) for line in lines if line.get("status") == "ok"}
    failed = [line for line in lines if json.dumps(line["spec"], sort_keys=True) not in done]
    sections = ["# rung beside Ray Tune and Optuna on recorded learning curves", ""]
    figures: dict[str, Figure] = {}
    versions: dict[str, str] = {}
    for line in lines:
        versions.update(line.get("versions", {}))
    for table in tables:
        settings, runs = collect(lines, table)
        if not runs:
            continue
        if len(figures) == 0:
            sections += [HOW_TO_READ.format(reference=REFERENCE, **settings)]
            sections += [f"- `{name}`: {METHODS[name].description}" for name in METHODS if _ran(lines, name)]
            sections.append("")
        figure = plot(table, settings["budget"], runs, settings["metric"])
        figure.savefig(out / f"regret-{table}.png", dpi=110)
        figures[table] = figure
        sections += [markdown(table, settings, runs), f"![{table}](regret-{table}.png)", ""]
    sections.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".")
    if failed:
        sections += ["", f"Failed runs ({len(failed)}, retried by the next run of the same command):", ""]
        for line in failed:
            spec = line["spec"]
            first = (line.get("error") or "").strip().splitlines()[-1:] or [""]
            sections.append(f"- {spec['table']} {spec['method']} seed {spec['seed']}: {first[0][:200]}")
    text = "\n".join(sections) + "\n"
    (out / "report.md").write_text(text)
    return Report(text, figures)
