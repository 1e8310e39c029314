"""What a large stored setup costs on disk: `python bench/setup_size.py` (issue 17).

A closure over 40 MiB of random bytes is the objective of a 4-trial run (thread executor), which is
then resumed for 2 more trials; printed: the size of rung.db and its WAL after each. Before schema
version 3 the setup pickle sat in the experiment's row, which every status change rewrites whole.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import numpy as np

import rung

BLOB = np.random.default_rng(0).bytes(40 * 2**20)


def train(config: dict[str, Any]) -> None:
    rung.report({"loss": config["x"] + len(BLOB) * 0})


def _size(db: str) -> float:
    wal = db + "-wal"
    return (os.path.getsize(db) + (os.path.getsize(wal) if os.path.exists(wal) else 0)) / 2**20


def main() -> None:
    warnings.simplefilter("ignore", rung.LargeObjectiveWarning)  # the point of the run
    space = {"x": rung.uniform(0, 1)}
    with tempfile.TemporaryDirectory() as storage:
        options: dict[str, Any] = {"metric": "loss", "executor": "thread", "name": "e", "storage": storage}
        options["verbose"] = 0
        rung.run(train, space, num_samples=4, **options)
        db = os.path.join(storage, "e", "rung.db")
        first = _size(db)
        rung.run(train, space, num_samples=6, resume=True, **options)
        print(f"40 MiB setup: rung.db + WAL {first:.1f} MiB after the run, {_size(db):.1f} MiB after a resume")


if __name__ == "__main__":
    main()
