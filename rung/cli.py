"""The command line: `rung demo | ls | show NAME | resume NAME | dashboard | export`."""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle

from rung._text import LogGuard, safe, visible
from rung.types import flatten

__all__ = ["main"]

FAILURES_SHOWN = 5
"""`rung show` prints the tracebacks of this many failed trials, and the ids of the rest."""


def _console() -> Any:
    """stdout, through rich. Every user string goes in as `safe(...)` Text; markup and emoji codes
    are off as well, so a str that slips through is still printed as written."""
    from rich.console import Console

    return Console(markup=False, emoji=False)


def _err(message: str) -> None:
    """A line on stderr, its control characters shown (it may quote a store's or a user's text)."""
    print(visible(message, multiline=True), file=sys.stderr)


def _fmt(value: Any, spec: str = ".5g") -> str:
    return format(value, spec) if isinstance(value, float) else str(value)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        _err("rung demo needs scikit-learn: pip install scikit-learn (or pip install -e '.[demo]' in rung's checkout)")
        return 2
    import rung
    from rung.demo import SPACE, train_mlp

    if args.fresh and (Path(args.storage) / "demo").is_dir():
        from rung.store import driver

        # Not from under a demo that still runs: its driver holds the lock (ExperimentBusyError then).
        lock = driver.take_lock(Path(args.storage) / "demo", "demo")
        try:
            shutil.rmtree(Path(args.storage) / "demo", ignore_errors=True)
        finally:
            driver.release_lock(lock)
    elif (Path(args.storage) / "demo").exists():
        seed = rung.load("demo", storage=args.storage).settings.get("seed")
        if seed is not None and seed != args.seed:
            _err(f"the stored demo ran with --seed {seed}; pass --fresh to run it again with --seed {args.seed}")
            return 2
    epochs = SPACE["epochs"]
    result = rung.run(
        train_mlp,
        SPACE,
        metric="accuracy",
        mode="max",
        num_samples=args.num_samples,
        scheduler=rung.ASHA(max_t=epochs, grace_period=1, reduction_factor=3),
        max_concurrent=2,
        name="demo",
        storage=args.storage,
        resume=True,
        seed=args.seed,
        verbose=args.verbose,
    )
    best = result.best
    console = _console()
    if best is None:
        console.print("no trial reported accuracy")
        return 1
    console.print(safe("best configuration", style="bold") + safe(f" (trial {best.id}):"))
    for key, value in flatten(best.config, "/").items():
        console.print(safe(f"  {key} = {_fmt(value)}"))
    accuracy = best.best_metrics["accuracy"]  # type: ignore[index]
    console.print(safe("validation accuracy", style="bold") + safe(f": {_fmt(accuracy, '.4f')}"))
    trained = sum(t.iteration for t in result.trials)
    full = len(result.trials) * epochs
    console.print(
        f"ASHA trained {trained} epochs where running every trial to the end takes {full}:"
        f" {1 - trained / full:.0%} of the training saved"
    )
    console.print(safe(f"stored in {result.path}; see it again with: rung show demo --storage {args.storage}"))
    return 0


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


def cmd_resume(args: argparse.Namespace) -> int:
    import rung
    from rung.spec import stored_arguments
    from rung.store.sqlite import Store

    store = Store.read(args.storage, args.name)
    try:
        experiment = store.experiment()
    finally:
        store.close()
    if experiment["settings"].get("ask_tell"):
        _err(
            f"experiment {args.name!r} is an ask/tell study, driven by your own loop: continue it from Python with"
            f" rung.Study.load({args.name!r}, storage={args.storage!r})"
        )
        return 2
    given = experiment["settings"].get("with_parameters")
    if given:
        objects = ", ".join(f"{name}=..." for name in given)
        _err(
            f"experiment {args.name!r} cannot be resumed from the command line: its objective was given"
            f" rung.with_parameters objects ({objects}), which are not stored; pass them again from Python:"
            f" rung.run(rung.with_parameters(fn, {objects}), ..., name={args.name!r}, resume=True)"
        )
        return 2
    if not (args.objective or experiment["objective"]) and experiment["setup"] and not args.trust:
        _err(
            f"experiment {args.name!r} keeps its objective only as a pickle in rung.db, and unpickling runs"
            " whatever code the store holds. If you (or someone you trust) wrote this store, pass --trust;"
            " else pass the objective as --objective module:function (importable from here), or call"
            " rung.run(your_objective, space, ..., name=..., storage=..., resume=True) from Python"
        )
        return 2
    try:
        try:
            setup, fn = _stored_run(experiment, args.objective)
        except ImportError:
            # As `python driver.py` would: modules next to the script (run from its folder) import.
            sys.path.insert(0, os.getcwd())
            setup, fn = _stored_run(experiment, args.objective)
    except Exception as exc:
        where = experiment["objective"] or "its objective"
        _err(
            f"experiment {args.name!r} cannot be resumed: loading {where} failed with {type(exc).__name__}: {exc};"
            " run `rung resume` from the folder the experiment was started in, or put the folder that holds"
            " the objective's module on PYTHONPATH"
        )
        return 2
    if fn is None or setup is None:
        _err(
            f"experiment {args.name!r} cannot be resumed from the command line: its objective or search"
            " could not be stored; call rung.run(..., resume=True) from Python instead"
        )
        return 2
    settings = experiment["settings"]
    stop = settings["stop"] if isinstance(settings["stop"], dict) else setup.get("stop")
    if settings["stop"] is not None and stop is None:
        _err(
            f"experiment {args.name!r} cannot be resumed from the command line: its stop rule"
            f" {settings['stop']} could not be stored; call rung.run(..., resume=True) from Python instead"
        )
        return 2
    if setup.get("callbacks_lost"):
        _err(
            f"warning: the callbacks of experiment {args.name!r} ({', '.join(setup['callbacks_lost'])}) could not"
            " be stored and are not run; pass them to rung.run(..., resume=True) from Python to keep them"
        )
    stored = stored_arguments(experiment, setup)
    stored["executor"] = _executor_for_resume(settings["executor"])
    if args.budget_cost is not None:  # more money for a run that spent its budget
        stored["budget"] = {**(stored.get("budget") or {}), "cost": args.budget_cost}
    rung.run(
        fn, **stored, stop=stop, name=args.name, storage=args.storage, resume=True, verbose=args.verbose,
        callbacks=setup.get("callbacks", ()),
    )  # fmt: skip
    return cmd_show(args)


def _executor_for_resume(stored: str) -> str:
    """The executor a resumed run uses: the stored one when it has a name, Ray for a RayExecutor object
    (on the cluster that RAY_ADDRESS names), else worker processes."""
    if stored in ("process", "thread", "ray", "simulated"):
        return stored
    chosen = "ray" if stored == "RayExecutor" else "process"
    print(
        visible(
            f"note: the experiment ran on a {stored} object, which is not stored; resuming with executor={chosen!r}"
        )
    )
    return chosen


def _stored_run(experiment: dict[str, Any], objective: str | None = None) -> tuple[dict[str, Any] | None, Any]:
    """What `rung.run` was given (None if it could not be stored) and the objective (None likewise):
    imported from `objective` ("module:function") or the stored import path when there is one."""
    setup = cloudpickle.loads(experiment["setup"]) if experiment["setup"] else None
    fn: Any = None
    path = objective or experiment["objective"]
    if path:
        module, _, qualname = path.partition(":")
        fn = importlib.import_module(module)
        for part in qualname.split("."):
            fn = getattr(fn, part)
    elif setup is not None:
        fn = setup.get("fn")
        if isinstance(fn, bytes):  # pickled on its own (stores before it held the object itself)
            fn = cloudpickle.loads(fn)
    return setup, fn


def cmd_export(args: argparse.Namespace) -> int:
    import rung
    from rung.interop import to_optuna

    try:
        import optuna
    except ImportError:
        _err("rung export --optuna needs optuna: pip install 'rung[optuna]'")
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = rung.load(args.name, storage=args.storage)
    try:
        study = to_optuna(result, args.optuna, args.study, replace=args.replace)
    except ValueError as exc:
        _err(f"error: {exc}")
        return 2
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no trials"
    left = len(result.trials) - sum(counts.values())
    note = f"; {left} trials not ended were left out" if left else ""
    print(visible(f"exported {args.name!r} to Optuna study {study.study_name!r} in {args.optuna}: {states}{note}"))
    print(visible(f"see it with: optuna-dashboard {args.optuna}"))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from rung.dashboard.server import serve

    try:
        serve(
            args.storage,
            args.host,
            args.port,
            ready=lambda url: print(visible(f"rung dashboard: {url} (Ctrl-C to stop)")),
        )
    except OSError as exc:
        _err(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; choose another --port")
        return 2
    return 0


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0, else argparse's usage error naming the rule."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number > 0; got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"needs a finite number > 0; got {text}")
    return value


def _int_from(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer >= low (and <= high), else argparse's usage error naming the rule."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"needs an integer; got {text!r}") from None
        if value < low or (high is not None and value > high):
            rule = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"needs an integer {rule}; got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rung", description="Tune hyperparameters; inspect stored experiments.")
    parser.add_argument("--storage", default="rung-runs", help="folder of experiments (default: rung-runs)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="tune an MLP on the digits data set")
    demo.add_argument("--num-samples", type=_int_from(1), default=32)
    demo.add_argument("--seed", type=_int_from(0), default=0)
    demo.add_argument("--fresh", action="store_true", help="delete the stored demo and run it again")
    demo.add_argument("--verbose", type=int, default=1)
    sub.add_parser("ls", help="list experiments")
    show = sub.add_parser("show", help="trials table and best trial of an experiment")
    show.add_argument("name")
    show.add_argument(
        "--limit", type=_int_from(0, 10**9), default=100, help="rows at most (default 100; 0: every trial)"
    )
    show.add_argument("--sort", choices=("id", "best"), default="id", help="row order: trial id, or best first")
    resume = sub.add_parser("resume", help="continue an interrupted experiment")
    resume.add_argument("name")
    resume.add_argument(
        "--objective",
        metavar="MODULE:FUNCTION",
        help="the objective to run, imported (instead of the one stored; needed when it was kept only as a pickle)",
    )
    resume.add_argument(
        "--trust",
        action="store_true",
        help="unpickle an objective kept only as a pickle in rung.db (runs code from the store: only your own)",
    )
    resume.add_argument(
        "--budget-cost", type=_positive, default=None, help="the cost budget from now on (default: the stored one)"
    )
    resume.add_argument("--verbose", type=int, default=1)
    dash = sub.add_parser("dashboard", help="live read-only web view of the experiments")
    dash.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    dash.add_argument("--port", type=_int_from(0, 65535), default=8765)
    export = sub.add_parser("export", help="write an experiment into another tool's storage (Optuna)")
    export.add_argument("name")
    export.add_argument(
        "--optuna", metavar="URL", required=True, help="an Optuna storage URL, e.g. sqlite:///exp.db (made if missing)"
    )
    export.add_argument("--study", help="the Optuna study's name (default: the experiment's)")
    export.add_argument("--replace", action="store_true", help="replace an Optuna study of that name")
    for p in (demo, show, resume, dash, export, sub.choices["ls"]):
        p.add_argument("--storage", default=argparse.SUPPRESS, help="folder of experiments")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    LogGuard.install(logging.getLogger("rung"))
    commands = {
        "demo": cmd_demo,
        "ls": cmd_ls,
        "show": cmd_show,
        "resume": cmd_resume,
        "dashboard": cmd_dashboard,
        "export": cmd_export,
    }
    from rung.errors import RungError

    try:
        return commands[args.command](args)
    except RungError as exc:
        _err(f"error: {exc}")
        return 2
    except sqlite3.DatabaseError as exc:
        _err(f"error: the experiment's store (rung.db) cannot be read: {exc}; is it damaged?")
        return 2
    except ImportError as exc:
        _err(
            f"error: {exc}: the stored configs hold objects from that module; run this command from the folder"
            " (or with the PYTHONPATH) of the script that ran the experiment"
        )
        return 2
    except KeyboardInterrupt:
        # No traceback: a run that was interrupted has printed the command that resumes it.
        return 130


if __name__ == "__main__":
    sys.exit(main())
