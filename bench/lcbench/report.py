"""LCBench results: normalised regret over time, average rank and paired Wilcoxon tests per budget, and a plot.

A run's normalised regret at `x` equivalents of compute (workers x simulated time) is
`(best - b(x)) / spread`, with `b(x)` the best val_accuracy its tuner was told by then and the task's `best` and
`spread` (best minus median) from the reference sample (`reference.py`): 0 is the sample's best, 1
the sample's median configuration, below 0 a run that beat the sample. Before a run's first report
it has none (NaN).
Ranks: per task and seed, the methods ranked by regret (1 = best; ties share the mean rank), then
averaged. Tests: per task the mean over seeds, then a two-sided Wilcoxon signed-rank test over the
tasks between two methods (scipy). Tasks are split by the held-out rule: in numeric order, every
other task is held out (`halves`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["compute_to_reach", "halves", "load_runs", "regret_at", "summarise", "write"]


def halves(tasks: Sequence[str]) -> dict[str, list[str]]:
    """`{"all", "tuning", "held-out"}`: tasks in numeric order; the 2nd, 4th, ... are held out."""
    ordered = sorted(tasks, key=int)
    return {"all": ordered, "tuning": ordered[0::2], "held-out": ordered[1::2]}


def load_runs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def regret_at(line: dict[str, Any], x: float, best: float, spread: float) -> float:
    """The run's normalised regret at `x` equivalents (NaN before its first report)."""
    index = int(np.searchsorted(np.asarray(line["t"], dtype=np.float64), x, side="right")) - 1
    return math.nan if index < 0 else (best - float(line["best"][index])) / spread


def mean_curve(
    lines: Sequence[dict[str, Any]], tasks: Sequence[str], reference: dict[str, dict[str, float]], grid: np.ndarray
) -> np.ndarray:
    """Mean normalised regret over `lines` (one per task and seed) at each point of `grid`; a run with no report
    yet counts as infinitely far (so the mean is finite only once every run has reported)."""
    curves = np.array(
        [
            [regret_at(line, x, reference[task]["best"], reference[task]["spread"]) for x in grid]
            for line, task in zip(lines, tasks, strict=True)
        ]
    )
    mean: np.ndarray = np.where(np.isnan(curves), np.inf, curves).mean(axis=0)
    return mean


def compute_to_reach(mean: np.ndarray, grid: np.ndarray, target: float) -> float:
    """The least compute on `grid` from which the mean regret curve stays at or below `target` (inf: never).
    Means summed in another order may differ in the last bits: within 1e-9 counts as reached."""
    above = np.nonzero(mean > target + 1e-9)[0]
    if len(above) == 0:
        return float(grid[0])
    return math.inf if above[-1] + 1 >= len(grid) else float(grid[above[-1] + 1])


def _reach(
    by_key: dict[tuple[str, str, int], dict[str, Any]],
    reference: dict[str, dict[str, float]],
    tasks: Sequence[str],
    seeds: Sequence[int],
    methods: Sequence[str],
    baseline: str,
    top: float,
) -> dict[str, dict[str, float]]:
    """Per method: its mean regret at `top` equivalents, and the compute `baseline` needs to reach that, as a
    share of `top` (the issue's "reaches ASHA's final regret with at most 1/5 of ASHA's compute")."""
    grid = np.geomspace(top / 1000, top, 400)
    keys = [(t, s) for t in tasks for s in seeds]
    own = mean_curve([by_key[(baseline, t, s)] for t, s in keys], [t for t, _ in keys], reference, grid)
    out = {}
    for method in methods:
        final = mean_curve([by_key[(method, t, s)] for t, s in keys], [t for t, _ in keys], reference, grid[-1:])
        needed = compute_to_reach(own, grid, float(final[0]))
        out[method] = {"final_regret": float(final[0]), "share": needed / top}
    return out


def _rank(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    ranks: np.ndarray = rankdata(values, method="average")
    return ranks


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if np.allclose(a, b):
        return 1.0
    return float(wilcoxon(a, b).pvalue)


def summarise(
    runs: list[dict[str, Any]],
    reference: dict[str, dict[str, float]],
    budgets: Sequence[float],
    methods: Sequence[str],
    baseline: str,
) -> dict[str, Any]:
    """Per subset of tasks and budget: each method's mean regret, mean rank and p-values (against `baseline`, all)."""
    by_key = {(r["method"], r["task"], r["seed"]): r for r in runs}
    tasks = sorted({r["task"] for r in runs}, key=int)
    seeds = sorted({r["seed"] for r in runs})
    complete = [t for t in tasks if all((m, t, s) in by_key for m in methods for s in seeds)]
    summary: dict[str, Any] = {"tasks": complete, "seeds": seeds, "methods": list(methods), "subsets": {}}
    for subset, chosen in halves(complete).items():
        if not chosen:
            continue
        per_budget = {}
        for budget in budgets:
            # regret[m, t, s]
            regret = np.array(
                [
                    [
                        [
                            regret_at(by_key[(m, t, s)], budget, reference[t]["best"], reference[t]["spread"])
                            for s in seeds
                        ]
                        for t in chosen
                    ]
                    for m in methods
                ]
            )
            filled = np.where(np.isnan(regret), np.inf, regret)
            ranks = np.apply_along_axis(_rank, 0, filled.reshape(len(methods), -1)).mean(axis=1)
            per_task = regret.mean(axis=2)  # [m, t]
            pairs = {
                a: {b: _wilcoxon(per_task[i], per_task[j]) for j, b in enumerate(methods) if j != i}
                for i, a in enumerate(methods)
            }
            per_budget[str(budget)] = {
                m: {
                    "mean_regret": float(np.mean(regret[i])),
                    "median_regret": float(np.median(regret[i])),
                    "rank": float(ranks[i]),
                    "p_vs_baseline": pairs[m].get(baseline, math.nan) if baseline in methods else math.nan,
                    "beat_reference": int(np.sum(regret[i] < 0)),
                    "pairs": pairs[m],
                }
                for i, m in enumerate(methods)
            }
        summary["subsets"][subset] = {"tasks": chosen, "budgets": per_budget}
        if baseline in methods and budgets:
            top = max(budgets)
            summary["subsets"][subset]["reach"] = _reach(by_key, reference, chosen, seeds, methods, baseline, top)
    return summary


def _plot(
    runs: list[dict[str, Any]], reference: dict[str, dict[str, float]], summary: dict[str, Any], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {(r["method"], r["task"], r["seed"]): r for r in runs}
    top = max(float(b) for b in summary["subsets"]["all"]["budgets"])
    grid = np.geomspace(0.1, top, 60)
    subsets = [s for s in ("all", "tuning", "held-out") if s in summary["subsets"]]
    fig, axes = plt.subplots(1, len(subsets), figsize=(6 * len(subsets), 4.5), squeeze=False, sharey=True)
    for ax, subset in zip(axes[0], subsets, strict=True):
        tasks = summary["subsets"][subset]["tasks"]
        for index, method in enumerate(summary["methods"]):
            curves = [
                [regret_at(by_key[(method, t, s)], x, reference[t]["best"], reference[t]["spread"]) for x in grid]
                for t in tasks
                for s in summary["seeds"]
            ]
            style = "-" if method.startswith("rung") else "--"
            ax.plot(grid, np.mean(curves, axis=0), style, label=method, color=plt.get_cmap("tab20")(index % 20))
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)  # a run that beats the reference sample goes below 0
        ax.set_xlabel("compute: full-training equivalents (4 workers x simulated time)")
        ax.set_title(f"{subset}: {len(tasks)} tasks x {len(summary['seeds'])} seeds")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("mean normalised regret")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(summary: dict[str, Any], budget: str, baseline: str) -> list[str]:
    subsets = [s for s in ("all", "tuning", "held-out") if s in summary["subsets"]]
    head = "| method | " + " | ".join(f"{s}: regret | {s}: rank | {s}: p vs {baseline}" for s in subsets) + " |"
    lines = [head, "|---|" + "---|---|---|" * len(subsets)]
    for method in summary["methods"]:
        cells = []
        for subset in subsets:
            row = summary["subsets"][subset]["budgets"][budget][method]
            p = "-" if method == baseline or math.isnan(row["p_vs_baseline"]) else f"{row['p_vs_baseline']:.3g}"
            cells += [f"{row['mean_regret']:.4f}", f"{row['rank']:.2f}", p]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def _reach_table(summary: dict[str, Any], baseline: str) -> list[str]:
    subsets = [s for s in ("all", "tuning", "held-out") if "reach" in summary["subsets"].get(s, {})]
    if not subsets:
        return []
    top = max(float(b) for b in summary["subsets"]["all"]["budgets"])
    lines = [
        f"## The compute {baseline} needs to reach each method's regret at {top:g} equivalents",
        "",
        f"Share of {top:g} equivalents from which {baseline}'s mean regret stays at or below the method's final one"
        " (inf: never within the budget).",
        "",
        "| method | " + " | ".join(f"{s}: final regret | {s}: {baseline} needs" for s in subsets) + " |",
        "|---|" + "---|---|" * len(subsets),
    ]
    for method in summary["methods"]:
        cells = []
        for subset in subsets:
            row = summary["subsets"][subset]["reach"][method]
            cells += [f"{row['final_regret']:.4f}", "inf" if math.isinf(row["share"]) else f"{row['share']:.3f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write(
    runs: list[dict[str, Any]],
    reference: dict[str, dict[str, float]],
    budgets: Sequence[float],
    methods: Sequence[str],
    baseline: str,
    out: Path,
    command: str,
) -> dict[str, Any]:
    """Write `summary.json`, `report.md` and `regret.png` under `out`; return the summary."""
    summary = summarise(runs, reference, budgets, methods, baseline)
    if not summary["tasks"]:
        raise ValueError("no task has a run of every method for every seed; nothing to report")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    _plot(runs, reference, summary, out / "regret.png")
    lines = [
        "# LCBench: mean normalised regret, average rank, Wilcoxon p-values",
        "",
        f"Command: `{command}`",
        "",
        f"Tasks: {len(summary['tasks'])} ({', '.join(summary['tasks'])}); seeds {summary['seeds']}; 4 workers.",
        "Held out: every other task in numeric order (see bench/lcbench/report.py).",
        "",
    ]
    for budget in summary["subsets"]["all"]["budgets"]:
        lines += [f"## {float(budget):g} full-training equivalents", ""]
        lines += [*_table(summary, budget, baseline), ""]
        lines += ["Pairwise two-sided Wilcoxon p-values over all tasks (row vs column):", ""]
        names = summary["methods"]
        lines.append("| | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        pairs = summary["subsets"]["all"]["budgets"][budget]
        for a in names:
            cells = ["-" if a == b else f"{pairs[a]['pairs'][b]:.2g}" for b in names]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _reach_table(summary, baseline)
    (out / "report.md").write_text("\n".join(lines))
    return summary
