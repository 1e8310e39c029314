"""`rung resume NAME`: run a stored experiment on, with its stored objective (imported, or unpickled only
when the user says the store is theirs)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

import cloudpickle

from rung._text import visible
from rung.cli._common import _err
from rung.cli.listing import cmd_show


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
