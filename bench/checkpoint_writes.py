"""What a checkpoint file costs the driver: `Store.save_checkpoint` + `commit`, synced to disk.

    python bench/checkpoint_writes.py [SIZE_MB ...]   # default: 1 10

For each size, 40 commits of 1 and of 8 checkpoint files each (8 trials saving in the same turn),
in a fresh temporary folder under /tmp; prints milliseconds per checkpoint. Run it with
`PYTHONPATH=<checkout>` to compare versions.
"""

from __future__ import annotations

import sys
import tempfile
import time

from rung.store.sqlite import Store

TURNS = 40


def per_checkpoint_ms(size: int, per_turn: int) -> float:
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        store = Store.create(folder, "bench", metric="loss", mode="min", settings={}, space={})
        for trial in range(1, per_turn + 1):
            store.add_trial(trial, {"x": trial}, "searcher")
        store.commit()
        data = b"x" * size
        start = time.perf_counter()
        for turn in range(1, TURNS + 1):
            for trial in range(1, per_turn + 1):
                store.save_checkpoint(trial, turn, data)
                store.add_result(trial, {"loss": 1.0, "training_iteration": turn}, None)
            store.commit()
        took = time.perf_counter() - start
        store.close()
    return took / TURNS / per_turn * 1e3


def main(argv: list[str]) -> None:
    for mb in [float(a) for a in argv] or [1.0, 10.0]:
        for per_turn in (1, 8):
            ms = per_checkpoint_ms(int(mb * 1e6), per_turn)
            print(f"{mb:g} MB, {per_turn} per commit: {ms:.2f} ms per checkpoint")


if __name__ == "__main__":
    main(sys.argv[1:])
