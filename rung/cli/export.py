"""`rung export NAME --optuna URL`: write an experiment into an Optuna storage."""

from __future__ import annotations

import argparse

from rung._text import visible
from rung.cli._common import _err


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
