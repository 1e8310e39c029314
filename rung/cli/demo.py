"""`rung demo`: tune an MLP on the digits data set with ASHA, stored as the experiment `demo`."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rung._text import safe
from rung.cli._common import _console, _err, _fmt
from rung.types import flatten


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
