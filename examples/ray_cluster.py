"""Trials on a Ray cluster: rung's loop, searcher, scheduler and store stay on this machine (the
driver); each trial runs in a Ray actor on whichever node has a free CPU.

What it shows: `executor=rung.RayExecutor(address=...)` is the only change from a local run. The
objective (an SGD classifier on scikit-learn's digits, one epoch per report, ASHA stopping the poor
trials) travels to the nodes with cloudpickle; each trial reports the node it ran on, and the run
ends with how many trials each node ran. Results and checkpoints come back to the driver's store.

Run it on a cluster (`ray start --head` on one machine, `ray start --address=HEAD:6379` on the
others; see docs/scaling-out.md):

    RAY_ADDRESS=HEAD:6379 python examples/ray_cluster.py          # or --address HEAD:6379

Without RAY_ADDRESS (and without --address) it starts a local Ray for the run. `--smoke` runs a few
short trials (CI runs it against its 2-node test cluster). About 1 minute on 2 nodes of 2 CPUs.

What it printed (full run, RAY_ADDRESS set to a 2-node cluster on loopback, 2 CPUs per node):

    (filled in below from a real run)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from typing import Any

import rung

SPACE = {
    "alpha": rung.loguniform(1e-6, 1e-1),
    "eta0": rung.loguniform(1e-4, 1.0),
    "penalty": rung.choice(["l2", "l1", "elasticnet"]),
}


def train(config: dict[str, Any], epochs: int) -> None:
    """One trial, on a Ray node: an epoch of SGD per report, from its checkpoint when resumed."""
    import ray
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    saved = rung.get_checkpoint()
    model = saved["model"] if saved else SGDClassifier(learning_rate="constant", random_state=0, **config)
    node = ray.get_runtime_context().get_node_id()[:8]
    for epoch in range(saved["epoch"] + 1 if saved else 1, epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=list(range(10)))
        rung.report(
            {"accuracy": float(model.score(x_val, y_val)), "node": node}, checkpoint={"model": model, "epoch": epoch}
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few short trials (CI)")
    parser.add_argument("--address", default=None, help="the cluster (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    epochs, trials = (2, 4) if args.smoke else (27, 32)
    where = args.address or os.environ.get("RAY_ADDRESS") or "a local Ray"
    executor = rung.RayExecutor(address=args.address, resources={"cpu": 1})
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        result = rung.run(
            rung.with_parameters(train, epochs=epochs), SPACE, metric="accuracy", mode="max",
            num_samples=trials, search="random", scheduler=rung.ASHA(max_t=epochs, grace_period=1, reduction_factor=3),
            executor=executor, storage=storage, seed=0, verbose=0,
        )  # fmt: skip
        took = time.perf_counter() - start
    best = result.best
    assert best is not None and best.best_metrics is not None
    nodes = Counter(str(t.metrics.get("node")) for t in result.trials)
    epochs_run = sum(t.iteration for t in result.trials)
    print(f"{trials} trials on {where} in {took:.1f} s ({epochs_run} epochs of {trials * epochs} without ASHA)")
    print(f"trials per node: {dict(sorted(nodes.items()))}")
    config = {k: round(v, 6) if isinstance(v, float) else v for k, v in best.config.items()}
    print(f"best accuracy {best.best_metrics['accuracy']:.3f} (trial {best.id}, {config})")


if __name__ == "__main__":
    main(sys.argv[1:])
