"""Cost of `rung.GP`: time per suggestion at large histories (its quality: `bench/searchers.py`).

    python -m bench.gp_cost [--sizes 100 250 500] [--window 50] [--pending 0]

A 6-dimensional problem (Hartmann-6, from `bench.searchers`); the first n configurations are random
(so filling the history is cheap), one untimed suggestion fits the hyperparameters from scratch (in
a real run they are warm from the previous fit), then `window` suggestions are timed, each followed
by its observation. The default window spans a full hyperparameter refit cycle at 500 (refits happen
each time the data grew by 10%), so the mean includes its share of refits. Wall time is what a run
waits; CPU time (BLAS is held to one thread while suggesting, when threadpoolctl is installed) is
the work itself, the number to trust on a machine shared with other jobs. `--pending k` keeps k
trials running (kriging believer).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from bench.searchers import SPACES, hartmann6
from rung.search.gp import GP
from rung.space import Space
from rung.types import Status


def cost(sizes: list[int], window: int, pending: int) -> None:
    print(f"GP time per suggestion, Hartmann-6, pending={pending} ({platform.processor() or platform.machine()})")
    print(f"{'observations':>12} {'mean ms':>8} {'median ms':>9} {'max ms':>7} {'mean cpu ms':>11}")
    for n in sizes:
        searcher = GP(seed=0, n_startup=n + pending)
        searcher.setup(Space(SPACES["hartmann6"]), metric="y", mode="min", num_samples=n + pending + window + 1, seed=0)
        running: list[tuple[int, float]] = []
        times: list[float] = []
        cpu: list[float] = []
        for trial_id in range(1, n + pending + window + 2):
            start, start_cpu = time.perf_counter(), time.process_time()
            config = searcher.suggest(trial_id)
            if trial_id > n + pending + 1:
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            assert config is not None
            running.append((trial_id, hartmann6(config)))
            if len(running) > pending:
                done, value = running.pop(0)
                searcher.on_complete(done, Status.TERMINATED, {"y": value})
        ms = np.array(times) * 1000
        print(f"{n:>12} {ms.mean():>8.1f} {np.median(ms):>9.1f} {ms.max():>7.1f} {1000 * np.mean(cpu):>11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--pending", type=int, default=0)
    args = parser.parse_args()
    cost(args.sizes, args.window, args.pending)


if __name__ == "__main__":
    main()
