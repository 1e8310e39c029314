"""`python -m bench sleep-scale`: many short sleeping trials on many slots, the ratio to the ideal time.

    python -m bench sleep-scale                                   # Ray Tune's release test: 10,000 x 1 s, 16 slots
    python -m bench sleep-scale --trials 100000 --length 0.1 --slots 64
    python -m bench sleep-scale --trials 20000 --length 0.1 --slots 32 --profile /tmp/d.prof
    python -m bench sleep-scale --trials 200 --reports 10 --length 0.5 --slots 2 --executor ray   # RAY_ADDRESS

The default is Ray Tune's release test `tune_scalability_bookkeeping_overhead` (10,000 trials, each
sleeping 1 s and reporting once, 16 at a time: ideal 10,000 x 1 / 16 = 625 s; Ray Tune 2.x took 715 s,
1.14 x). Each trial sleeps `--length` seconds in `--reports` equal steps, reporting after each, FIFO,
random search, store on (a temporary folder), `executor="process"` unless `--executor` says otherwise
(`ray`: the cluster at RAY_ADDRESS, else a local Ray). The slots are `max_concurrent=--slots` with
`resources={"cpu": cpus / slots}`, so that they fit on this machine (the trials only sleep).

Printed (and written as JSON with `--json`): the call's seconds and its ratio to the ideal, the
driver's CPU seconds (user + system) and per trial, the workers' CPU seconds (the process executor's
children), and the load average of the machine sampled every 5 s during the run (its mean and max):
the trials sleep, so the ratio moves with what else the machine runs. Then where the slots' time went,
read from the store (`breakdown`): the start, the trials' own time beyond `--length`, and the
turn-around between trials in three parts, in % of the ideal (they add up to the ratio). The
objective is `bench/sleeper.py`'s, a module that imports only what it uses (workers import it).
`--profile` writes cProfile stats of the driver and prints the top functions. Sleep-bound: run it with `nice`.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rung
from bench.scale import profile_text
from bench.sleeper import sleeper
from rung.callbacks import Callback
from rung.types import Config, Status

LOAD_SAMPLE_S = 5.0


@dataclass
class Outcome:
    """One run: the call's time against the ideal, the driver's and the workers' CPU, the load."""

    executor: str
    trials: int
    reports: int
    length_s: float
    slots: int
    call_s: float
    driver_cpu_s: float
    workers_cpu_s: float
    first_start_s: float = 0.0
    """From the call to the first trial's start (workers starting, the objective sent)."""
    last_end_s: float = 0.0
    """From the call to the last trial's end; the rest of the call is the end of the run (the
    returned `ExperimentResult` reads every trial back from the store)."""
    load: list[float] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)
    """Where the slots' time went, in seconds per slot (see `breakdown`)."""

    @property
    def ideal_s(self) -> float:
        return self.trials * self.length_s / self.slots

    @property
    def ratio(self) -> float:
        return self.call_s / self.ideal_s


class _Load(threading.Thread):
    """Samples the 1-minute load average every `LOAD_SAMPLE_S` until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples = [os.getloadavg()[0]]
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(LOAD_SAMPLE_S):
            self.samples.append(os.getloadavg()[0])


class _Times(Callback):
    """When the first trial started and the last one ended (perf_counter)."""

    def __init__(self) -> None:
        self.first_start = 0.0
        self.last_end = 0.0

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        if not self.first_start:
            self.first_start = time.perf_counter()

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        self.last_end = time.perf_counter()


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_sleep(
    trials: int,
    length: float,
    slots: int,
    *,
    reports: int = 1,
    executor: str = "process",
    profiler: cProfile.Profile | None = None,
) -> Outcome:
    """`trials` trials of `length` seconds of sleep (`reports` reports each) on `slots` slots."""
    space = {"x": rung.uniform(0, 1), "length": length, "reports": reports}
    cpus = os.cpu_count() or 1
    load = _Load()
    load.start()
    driver, workers = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    times = _Times()
    with tempfile.TemporaryDirectory(prefix="rung-sleep-scale-") as storage:
        if profiler is not None:
            profiler.enable()
        started, epoch = time.perf_counter(), time.time()
        rung.run(
            sleeper,
            space,
            metric="score",
            mode="max",
            num_samples=trials,
            max_concurrent=slots,
            resources={"cpu": cpus / slots},
            executor=executor,
            search="random",
            storage=storage,
            name="sleep",
            verbose=0,
            callbacks=[times],
        )
        call = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        parts = breakdown(Path(storage) / "sleep" / "rung.db", epoch, epoch + call, slots, length)
    load.done.set()
    load.join()
    load.samples.append(os.getloadavg()[0])
    driver = _cpu(resource.RUSAGE_SELF) - driver
    workers = _cpu(resource.RUSAGE_CHILDREN) - workers
    first, last = times.first_start - started, times.last_end - started
    return Outcome(executor, trials, reports, length, slots, call, driver, workers, first, last, load.samples, parts)


def breakdown(db: Path, began: float, ended: float, slots: int, length: float) -> dict[str, float]:
    """Where the slots' time went (seconds per slot; they add up to the call's time), from the store.

    A trial's own time is read from its results (its first report's `timestamp` less `time_this_iter_s`
    is when its objective started in the worker, its last report when it finished); the driver's
    moments from its status events (`RUNNING`: submitted; the end: stored). Per slot of the tuner:
    `start` (the call to its first trial's objective), `trial` (objectives running: the sleep and the
    reports' round trips), `end` (last report to the stored end: the answer, the worker's return, its
    message), `refill` (the stored end to the next trial's launch on the slot: the driver's turn),
    `launch` (launch to the objective running in a worker: the message and the worker's wake-up),
    `tail` (the slot's last end to the call's return); `over` is trial time beyond `length`.
    """
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        results = conn.execute(
            "SELECT trial_id, MIN(json_extract(data, '$.timestamp') - json_extract(data, '$.time_this_iter_s')),"
            " MAX(json_extract(data, '$.timestamp')) FROM results GROUP BY trial_id"
        ).fetchall()
        events = conn.execute("SELECT trial_id, status, time, slot FROM events WHERE slot IS NOT NULL ORDER BY seq")
        stretches: dict[int, list[tuple[float, float, int]]] = {}
        running: dict[int, float] = {}
        for trial_id, status, at, slot in events:
            if status == "RUNNING":
                running[trial_id] = at
            elif trial_id in running:
                stretches.setdefault(slot, []).append((running.pop(trial_id), at, trial_id))
    own = {trial_id: (first, last) for trial_id, first, last in results}
    parts = dict.fromkeys(("start", "trial", "end", "refill", "launch", "tail", "over"), 0.0)
    for runs in stretches.values():
        previous_end = began
        for i, (launched, stored_end, trial_id) in enumerate(runs):
            first, last = own.get(trial_id, (launched, stored_end))
            if i == 0:
                parts["start"] += first - began
            else:
                parts["refill"] += launched - previous_end
                parts["launch"] += first - launched
            parts["trial"] += last - first
            parts["over"] += last - first - length
            parts["end"] += stored_end - last
            previous_end = stored_end
        parts["tail"] += ended - previous_end
    parts["start"] += (slots - len(stretches)) * (ended - began)  # slots that never ran a trial
    return {name: value / slots for name, value in parts.items()}


def summary(outcome: Outcome) -> str:
    """The run in a few lines of Markdown."""
    load = outcome.load
    return (
        f"{outcome.trials:,} trials x {outcome.length_s:g} s ({outcome.reports} report(s) each) on {outcome.slots}"
        f" slots, executor={outcome.executor!r}: **{outcome.call_s:.1f} s**, ideal {outcome.ideal_s:.1f} s,"
        f" **{outcome.ratio:.3f} x**; the first trial started at {outcome.first_start_s:.2f} s, the last ended at"
        f" {outcome.last_end_s:.1f} s ({outcome.call_s - outcome.last_end_s:.2f} s to the call's return)\n"
        f"driver CPU {outcome.driver_cpu_s:.1f} s ({outcome.driver_cpu_s / outcome.trials * 1e3:.2f} ms per trial),"
        f" workers' CPU {outcome.workers_cpu_s:.1f} s; load average (1 min) during the run: mean"
        f" {sum(load) / len(load):.2f}, max {max(load):.2f} ({len(load)} samples, every {LOAD_SAMPLE_S:g} s)"
        + _parts(outcome)
    )


def _parts(outcome: Outcome) -> str:
    if not outcome.breakdown:
        return ""
    parts = outcome.breakdown
    said = ", ".join(
        f"{name} {parts[name]:.2f} s ({parts[name] / outcome.ideal_s * 100:.2f} %)"
        for name in ("start", "over", "end", "refill", "launch", "tail")
    )
    per_trial = outcome.slots / outcome.trials * 1e3
    return (
        f"\nper slot, beyond the ideal: {said}; per trial: end {parts['end'] * per_trial:.2f} ms, refill"
        f" {parts['refill'] * per_trial:.2f} ms, launch {parts['launch'] * per_trial:.2f} ms, over"
        f" {parts['over'] * per_trial:.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench sleep-scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--length", type=float, default=1.0, help="seconds of sleep per trial")
    parser.add_argument("--reports", type=int, default=1, help="reports per trial (the sleep split evenly)")
    parser.add_argument("--slots", type=int, default=16, help="trials at once")
    parser.add_argument("--executor", choices=("process", "thread", "ray"), default="process")
    parser.add_argument("--profile", type=Path, help="write the driver's cProfile stats here, print the top")
    parser.add_argument("--top", type=int, default=30, help="functions shown with --profile")
    parser.add_argument("--json", type=Path, help="also write the outcome as JSON here")
    args = parser.parse_args(argv)
    for name in ("trials", "reports", "slots"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1; got {getattr(args, name)}")
    if not args.length > 0:
        parser.error(f"--length must be > 0; got {args.length}")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()},"
        f" rung {rung.__version__}; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    profiler = cProfile.Profile() if args.profile else None
    outcome = run_sleep(
        args.trials, args.length, args.slots, reports=args.reports, executor=args.executor, profiler=profiler
    )
    print(summary(outcome), flush=True)
    if args.json is not None:
        data = {**asdict(outcome), "ideal_s": outcome.ideal_s, "ratio": outcome.ratio}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if profiler is not None and args.profile is not None:
        profiler.dump_stats(str(args.profile))
        print("\n" + profile_text(args.profile, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
