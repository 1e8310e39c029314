"""Engine overhead, the four figures of BENCHMARKS.md.

    python bench/overhead.py all          # everything below, one after another
    python bench/overhead.py sleep        # 1. 200 trials x 10 reports x 50 ms, 2 slots, process executor
    python bench/overhead.py sleep-default  # 1 with rung.run's default (AutoSearch + AutoScheduler), 3 runs
    python bench/overhead.py noop         # 2. 200 trials x 10 reports, no work: whole process, import included
    python bench/overhead.py throughput   # 3. 10,000 trials x 1 report, thread and process executors
    python bench/overhead.py import       # 4a. `import rung` in a fresh interpreter
    python bench/overhead.py memory       # 4b. driver RSS after 1,000 and after 10,000 trials
    python bench/overhead.py first        # 5. first trial's start after `rung.run`, random and default search

Each run writes to a fresh temporary storage folder (the store is on, as in real use).
`python -m bench overhead` (bench/suite.py) runs these workloads beside Ray Tune and Optuna in one
run, each engine in a process of its own, through `_run` and the objectives here.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import rung


def sleepy(config: dict[str, Any]) -> None:
    for i in range(10):
        time.sleep(0.05)
        rung.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)})


def noop10(config: dict[str, Any]) -> None:
    for i in range(10):
        rung.report({"loss": config["x"] + i})


def once(config: dict[str, Any]) -> None:
    rung.report({"loss": config["x"]})


SPACE = {"x": rung.uniform(0, 1)}


def _run(
    fn: Any, n: int, executor: str, name: str, storage: str, space: dict[str, Any] | None = None, **options: Any
) -> float:
    t0 = time.perf_counter()
    rung.run(
        fn,
        SPACE if space is None else space,
        metric="loss",
        num_samples=n,
        max_concurrent=2,
        executor=executor,
        name=name,
        storage=storage,
        verbose=0,
        # The engine's overhead, not a model's (searchers: bench/searchers.py), unless options say otherwise.
        **({"search": "random"} | options),
    )
    return time.perf_counter() - t0


def bench_sleep() -> None:
    with tempfile.TemporaryDirectory() as storage:
        took = _run(sleepy, 200, "process", "sleep", storage)
    print(f"1. sleep: 200 trials x 10 x 50 ms on 2 slots: {took:.2f} s (ideal 50 s, ratio {took / 50:.3f})")


def bench_sleep_default(runs: int = 3) -> None:
    """Workload 1 with rung.run's default (no search= or scheduler=): AutoScheduler stops trials at its
    milestones, so the ideal is the 50 ms steps the trials did run, spread over the 2 slots (a lower
    bound: the last trials of the two slots need not end together). Also printed: the driver's CPU
    time, and how far apart the two slots' last trials ended (one slot idles meanwhile: half of it is
    wall time beyond the ideal that is scheduling, not overhead)."""
    for i in range(runs):
        load = os.getloadavg()[0]
        cpu = time.process_time()
        with tempfile.TemporaryDirectory() as storage:
            took = _run(sleepy, 200, "process", "sleep", storage, search="auto", scheduler=None)
            cpu = time.process_time() - cpu
            trials = rung.load("sleep", storage).trials
            apart = _slot_ends_apart(os.path.join(storage, "sleep", "rung.db"))
        reports = sum(t.iteration for t in trials)
        ideal = reports * 0.05 / 2
        print(
            f"1 (default) run {i + 1}: 200 trials x up to 10 x 50 ms on 2 slots: {took:.2f} s; {reports} reports"
            f" ({sum(t.iteration == 10 for t in trials)} trials ran all 10): ideal {ideal:.2f} s, ratio"
            f" {took / ideal:.3f}; the slots' last trials ended {apart:.3f} s apart; driver CPU {cpu:.2f} s;"
            f" load average {load:.2f} before",
            flush=True,
        )


def _slot_ends_apart(db: str) -> float:
    """Seconds between the two slots' last trial ends (the stored status events' times)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT slot, MAX(time) FROM events WHERE slot IS NOT NULL GROUP BY slot").fetchall()
    ends = [end for _, end in rows]
    return max(ends) - min(ends) if len(ends) > 1 else 0.0


def bench_noop() -> None:
    code = (
        "import sys, tempfile; sys.path.insert(0, 'bench'); import rung, overhead\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    overhead._run(overhead.noop10, 200, 'process', 'noop', d)\n"
    )
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        f"2. noop: 200 trials x 10 reports, whole process: median {times[2]:.2f} s"
        f" (min {times[0]:.2f}, max {times[-1]:.2f}, 5 runs)"
    )


def bench_throughput() -> None:
    for executor in ("thread", "process"):
        with tempfile.TemporaryDirectory() as storage:
            took = _run(once, 10_000, executor, "tp", storage)
        print(f"3. throughput: 10,000 trials x 1 report, {executor}: {took:.2f} s = {10_000 / took:,.0f} trials/s")


def bench_import() -> None:
    # `import rung` loads names on first use; the second figure includes what a script touches.
    for label, code in (
        ("import rung", "import rung"),
        ("import rung + rung.run, rung.uniform, rung.report", "import rung; rung.run, rung.uniform, rung.report"),
    ):
        times = []
        for _ in range(7):
            timed = f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"
            out = subprocess.run([sys.executable, "-c", timed], check=True, capture_output=True, text=True)
            times.append(float(out.stdout))
        times.sort()
        print(f"4a. {label}: median {times[3] * 1000:.0f} ms (7 runs)")


def rss_mb(pid: int | None = None) -> float:
    """The resident memory (VmRSS) of process `pid` (default: this one), in MB."""
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_memory() -> None:
    seen: dict[int, float] = {}

    def sample(trial_id: int, result: dict[str, Any]) -> bool:
        if trial_id in (1_000, 10_000):
            seen[trial_id] = rss_mb()
        return False

    with tempfile.TemporaryDirectory() as storage:
        rung.run(
            once,
            SPACE,
            metric="loss",
            num_samples=10_000,
            max_concurrent=2,
            executor="process",
            name="mem",
            storage=storage,
            verbose=0,
            search="random",
            stop=sample,
        )
    print(
        f"4b. driver RSS in one 10,000-trial run: {seen[1_000]:.1f} MB at trial 1,000, {seen[10_000]:.1f} MB at"
        f" trial 10,000 (growth {seen[10_000] - seen[1_000]:+.1f} MB)"
    )


def stamp(config: dict[str, Any]) -> None:
    with open(config["out"], "a") as f:
        f.write(f"{time.time()}\n")
    rung.report({"loss": config["x"]})


def first_trial_seconds(search: str) -> float:
    """Seconds from `rung.run`'s call to the first trial's code running (process executor)."""
    with tempfile.TemporaryDirectory(prefix="rung-first-") as work:
        out = os.path.join(work, "stamps")
        t0 = time.time()
        rung.run(stamp, {**SPACE, "out": out}, metric="loss", num_samples=2, search=search, storage=work, verbose=0)
        with open(out) as f:
            return min(float(line) for line in f) - t0


def bench_first() -> None:
    # Each run in a fresh interpreter: what a searcher imports is paid there, as in a user's script.
    for search in ("random", "auto"):
        code = f"from bench.overhead import first_trial_seconds; print(first_trial_seconds({search!r}))"
        times = sorted(
            float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
            for _ in range(5)
        )
        spread = f"{times[0]:.3f}-{times[-1]:.3f}"
        print(f"5. first trial after rung.run, search={search!r}: median {times[2]:.3f} s (5 runs: {spread})")


BENCHES = {
    "sleep": bench_sleep,
    "sleep-default": bench_sleep_default,
    "noop": bench_noop,
    "throughput": bench_throughput,
    "import": bench_import,
    "memory": bench_memory,
    "first": bench_first,
}

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    for key, bench in BENCHES.items():
        if which in (key, "all"):
            bench()
