"""`rung ls` (one line per experiment) and `rung show NAME` (its trials, its best or its Pareto front)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rung._text import safe, visible
from rung.cli._common import _console, _fmt
from rung.types import flatten

FAILURES_SHOWN = 5
"""`rung show` prints the tracebacks of this many failed trials, and the ids of the rest."""


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rung.result import ExperimentResult
    from rung.store import list_experiments

    names = list_experiments(args.storage)
    if not names:
        missing = "" if Path(args.storage).is_dir() else " (no such folder; --storage names the folder of experiments)"
        print(visible(f"no experiments in {args.storage}{missing}"))
        return 0
    table = Table(title=safe(f"experiments in {args.storage}"))
    for column in ("name", "status", "trials", "metric", "best", "spent"):
        table.add_column(column)
    for name in names:
        try:
            result = ExperimentResult(args.storage, name)
        except Exception as exc:  # one broken store hides none of the others
            table.add_row(safe(name), "UNREADABLE", "", "", safe(f"{type(exc).__name__}: {exc}"), "")
            continue
        metric, value = _aim(result)
        cost = "" if result.total_cost is None else f"{result.total_cost:.2f}"
        table.add_row(safe(name), safe(result.status), str(len(result.trials)), safe(metric), safe(value), cost)
    _console().print(table)
    return 0


def _aim(result: Any) -> tuple[str, str]:
    """What `rung ls` says of an experiment's objectives and its best: "acc (max)" and its best value;
    with several objectives, the size of the Pareto front (and the weighted best); with constraints,
    how many trials break them."""
    objectives = result.objectives
    if objectives is None:
        return "-", ""
    if objectives.multi:
        aim = ", ".join(f"{m} ({mode})" for m, mode in zip(objectives.metrics, objectives.modes, strict=True))
        value = f"front: {len(result.pareto_front())} trials"
        if objectives.weights is not None and (best := result.best) is not None:
            value += f"; weighted best: trial {best.id}"
    else:
        aim = f"{result.metric} ({result.mode})"
        best = result.best
        value = "" if best is None else _fmt(best.best_metrics[result.metric])
    if objectives.constraints:
        infeasible = sum(1 for t in result.trials if t.feasible is False)
        value += f"{'; ' if value else ''}{infeasible} infeasible"
    return aim, value


def cmd_show(args: argparse.Namespace) -> int:
    from rung.result import ExperimentResult

    result = ExperimentResult(args.storage, args.name)
    objectives = result.objectives
    if objectives is not None and objectives.multi:
        return _show_front(args, result, objectives)
    best = result.best
    metric = result.metric or ""
    console = _console()
    aim = f", {metric} ({result.mode})" if metric else ", no metric"
    if objectives is not None and objectives.constraints:
        aim += "; constraints " + ", ".join(str(c) for c in objectives.constraints)
    console.print(safe(f"{result.name}: {result.status}, {len(result.trials)} trials{aim}"))
    _say_spent(console, result)
    if best is not None:
        console.print(safe(f"best: trial {best.id}, {metric}={_fmt(best.best_metrics[metric])}"))  # type: ignore[index]
    trials = list(result.trials)
    if getattr(args, "sort", "id") == "best" and metric:
        sign = -1.0 if result.mode == "max" else 1.0

        def rank(trial: Any) -> tuple[bool, bool, float]:
            value = (trial.best_metrics or {}).get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                return (trial.feasible is False, False, sign * float(value))
            return (True, True, 0.0)

        trials.sort(key=rank)
    limit = getattr(args, "limit", 100)  # `rung resume` ends with this view too
    shown = trials if limit == 0 else trials[:limit]
    keys = _config_keys(shown)
    rows = []
    for trial in shown:
        mark = "*" if best is not None and trial.id == best.id else ""
        last = trial.metrics.get(metric, "")
        top = (trial.best_metrics or {}).get(metric, "")
        status = _status(trial, result.status)
        cells = (f"{trial.id}{mark}", status, str(trial.iteration), _fmt(last), _fmt(top), *_config_cells(trial, keys))
        rows.append([safe(cell) for cell in cells])
    headers = ["trial", "status", "iter", f"last {metric}", f"best {metric}", *keys]
    return _show_end(args, result, trials, shown, ([safe(h) for h in headers], rows, 5))


def _config_keys(trials: list[Any]) -> list[str]:
    """The flattened hyperparameter names (`a/b`) of the trials shown, in their configs' order."""
    keys: dict[str, None] = {}
    for trial in trials:
        keys.update(dict.fromkeys(flatten(trial.config, "/")))
    return list(keys)


def _config_cells(trial: Any, keys: list[str]) -> list[str]:
    """A trial's value per hyperparameter column ("" where its config has none: a conditional one)."""
    flat = flatten(trial.config, "/")
    return [_fmt(flat[k]) if k in flat else "" for k in keys]


def _say_spent(console: Any, result: Any) -> None:
    """The money spent (runs with prices), of the cost budget when there is one."""
    if result.total_cost is None:
        return
    budget = (result.settings.get("budget") or {}).get("cost")
    of = "" if budget is None else f" of a budget of {_fmt(budget)}"
    console.print(safe(f"spent: {result.total_cost:.4g}{of}"))


def _status(trial: Any, experiment_status: str) -> str:
    """A trial's status as shown, and "infeasible" when its judged result breaks a constraint."""
    from rung.store import driver

    status = driver.shown(trial.status.value, experiment_status)
    return f"{status} infeasible" if trial.feasible is False else status


def _show_front(args: argparse.Namespace, result: Any, objectives: Any) -> int:
    """`rung show` of an experiment with several objectives: the front marked, one column per objective."""
    console = _console()
    front = [t.id for t in result.pareto_front()]
    console.print(safe(f"{result.name}: {result.status}, {len(result.trials)} trials, {objectives.describe()}"))
    ids = ", ".join(str(i) for i in front) or "none yet"
    console.print(safe(f"pareto front: {len(front)} trials (marked *): {ids}"))
    _say_spent(console, result)
    if objectives.weights is not None and (best := result.best) is not None:
        console.print(safe(f"best by the scalarize weights: trial {best.id}"))
    trials = list(result.trials)
    if getattr(args, "sort", "id") == "best":
        place = {trial_id: i for i, trial_id in enumerate(front)}
        trials.sort(key=lambda t: (t.id not in place, place.get(t.id, 0), t.feasible is False, t.id))
    limit = getattr(args, "limit", 100)
    shown = trials if limit == 0 else trials[:limit]
    keys = _config_keys(shown)
    on_front = set(front)
    rows = []
    for trial in shown:
        judged = trial.best_metrics or {}
        cells = (
            f"{trial.id}{'*' if trial.id in on_front else ''}",
            _status(trial, result.status),
            str(trial.iteration),
            *(_fmt(judged.get(m, "")) for m in objectives.metrics),
            *_config_cells(trial, keys),
        )
        rows.append([safe(cell) for cell in cells])
    aims = [f"{metric} ({mode})" for metric, mode in zip(objectives.metrics, objectives.modes, strict=True)]
    headers = [safe(h) for h in ["trial", "status", "iter", *aims, *keys]]
    return _show_end(args, result, trials, shown, (headers, rows, 3 + len(aims)))


def _show_end(args: argparse.Namespace, result: Any, trials: list[Any], shown: list[Any], table: Any) -> int:
    """Print the trials' table (`(headers, rows, fixed)`: split by columns to fit the terminal, see
    `rung._table`), how many more trials there are, and the failed trials' tracebacks."""
    from rung._table import print_tables

    console = _console()
    print_tables(console, *table)
    if len(shown) < len(trials):
        console.print(f"... and {len(trials) - len(shown)} more trials (--limit 0 shows every one)", highlight=False)
    failed = [trial for trial in result.trials if trial.error]
    for trial in failed[:FAILURES_SHOWN]:
        console.print(safe(f"trial {trial.id} failed", style="red") + safe(f":\n{trial.error}", multiline=True))
    if len(failed) > FAILURES_SHOWN:
        more = ", ".join(str(t.id) for t in failed[FAILURES_SHOWN:])
        console.print(f"{len(failed) - FAILURES_SHOWN} more failed trials: {more}", highlight=False)
    return 0
