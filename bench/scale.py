"""ASHA with TPE (the BOHB-style pairing) over 100,000 simulated trials: how the driver scales.

    python -m bench.scale                                   # 100,000 trials, search="tpe", scheduler="asha"
    python -m bench.scale --search random                   # the same with random search, for comparison
    python -m bench.scale --trials 10000 --profile prof.out # cProfile: the top functions, and the stats file
    python -m bench.scale --trials 10000 --tracemalloc      # also the peak of Python allocations (3x slower)
    python -m bench.scale --tpe-cost 1000 10000 100000      # CPU ms of one TPE proposal after N ended trials
    python -m bench.scale --objective nearest               # each config gets its nearest recorded curve
    python -m bench.scale --trials 20000 --resume           # then resume it (replay the store), 100 more trials
    python -m bench.scale --trials 1000000 --search random  # a million trials (marks up to 1,000,000)
    python -m bench.scale --search default                  # rung.run's default: no search= or scheduler=

`rung.run(table.interpolated, table.space, search=..., scheduler="asha", executor=SimulatedExecutor(workers=4))`
on the recorded MLP table (`bench/data/mlp.npz`), store on (a temporary folder), as `rung.run`
builds the pair by name. `Table.interpolated` gives every configuration a curve of its own (the
inverse-distance average of the 4 nearest recorded ones): 100,000 trials on a table of 1,000 rows
with `--objective nearest` replay each recorded curve about 100 times, and once TPE has found the
best region, copies of the best curve tie at every rung and all train to the end (26 reports per
trial against about 4), a run no real objective gives. The time the driver spends deciding is
charged to the simulated clock (`decision_seconds=None`), so the simulated time includes the
searcher's cost. `--search default` passes neither `search=` nor `scheduler=` (`rung.AutoSearch` +
`rung.AutoScheduler`, which finds the curves' length itself; issue 22.4's target: < 120 s).
At 1k, 2k, 5k, 10k, 20k, 30k, 50k, 70k and 100k ended trials the driver's real time, CPU time (the
figure to read when other jobs load the machine), simulated time and resident memory (VmRSS) are
recorded and printed as they come; the table at the end adds the rate since the previous mark.

`--tpe-cost` times the searcher alone (`window` proposals as they come, then `window` with a refit of
the densities forced): a BOHB-style `rung.TPE` given an ASHA-shaped history of N
ended trials (see `tpe_cost`), so the cost of one proposal at 100,000 trials is known without
running 100,000 proposals.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import rung
from bench.overhead import rss_mb
from bench.tables import Table
from rung.callbacks import Callback
from rung.executors.simulated import SimulatedExecutor
from rung.types import Status

DEFAULT = "default"
"""`--search default`: rung.run's default, with neither `search=` nor `scheduler=` given."""
MARKS = (1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 70_000, 100_000, 200_000, 500_000, 1_000_000)
TARGET_S = 60.0
DEFAULT_TARGET_S = 120.0


@dataclass
class Mark:
    """The driver's state when `trials` trials had ended."""

    trials: int
    real_s: float
    cpu_s: float  # the driver's CPU time: less inflated than real time when others load the machine
    simulated_s: float
    rss_mb: float


@dataclass
class Outcome:
    """One scale run: totals, and the marks along the way."""

    search: str
    trials: int
    workers: int
    objective: str
    reports: int
    real_s: float
    cpu_s: float
    simulated_s: float
    rss_start_mb: float
    marks: list[Mark] = field(default_factory=list)
    tracemalloc_peak_mb: float | None = None
    resume_s: float | None = None
    """With `resume`: seconds to resume the ended experiment (replaying its store) and run 100 more trials."""
    result_rss_mb: float | None = None
    """The driver's RSS once `rung.run` returned its `ExperimentResult` (read lazily above 16,384 trials)."""
    growth: list[tuple[str, float]] = field(default_factory=list)
    """With tracemalloc: the source lines whose allocations grew most between the marks at about a
    third of the trials and at the end, with the bytes they hold per trial ended in between."""

    @property
    def trials_per_s(self) -> float:
        return self.trials / self.real_s


class _Marker(Callback):
    """Takes a `Mark` when the number of ended trials reaches one of `marks`."""

    def __init__(
        self, marks: set[int], executor: SimulatedExecutor, started: float, cpu: float, snapshots: Collection[int] = ()
    ) -> None:
        self.marks = marks
        self.snapshots = snapshots  # marks at which to take a tracemalloc snapshot
        self.taken_snapshots: list[tuple[int, tracemalloc.Snapshot]] = []
        self.executor = executor
        self.started = started
        self.cpu = cpu
        self.ended = 0
        self.reports = 0
        self.taken: list[Mark] = []

    def on_result(self, trial_id: int, config: dict[str, Any], result: dict[str, Any]) -> None:
        self.reports += 1

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        self.ended += 1
        if self.ended in self.marks:
            now = time.perf_counter() - self.started
            cpu = time.process_time() - self.cpu
            mark = Mark(self.ended, now, cpu, self.executor.clock.now(), rss_mb())
            self.taken.append(mark)
            if self.ended in self.snapshots:
                self.taken_snapshots.append((self.ended, tracemalloc.take_snapshot()))
            # A long run shows its progress (stderr: the table on stdout stays clean).
            print(
                f"  {mark.trials:,} trials ended: {now:.1f} s real, {cpu:.1f} s CPU, {mark.rss_mb:.1f} MB",
                file=sys.stderr,
                flush=True,
            )


OBJECTIVES = ("interpolated", "nearest")


def run_scale(
    trials: int,
    search: str,
    workers: int = 4,
    *,
    objective: str = "interpolated",
    trace: bool = False,
    resume: bool = False,
) -> Outcome:
    """ASHA with `search` (or, with search="default", rung.run's default) over `trials` replayed trials of the MLP
    table on `workers` virtual workers.

    `objective`: "interpolated" (`Table.interpolated`) or "nearest" (`Table.objective`).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"run_scale needs objective to be one of {OBJECTIVES}; got objective={objective!r}")
    table = Table.load("mlp")
    fn = table.interpolated if objective == "interpolated" else table.objective
    fn(table.configs[0])  # the table's first use (index arrays) is not the run's cost
    executor = SimulatedExecutor(workers=workers)
    rss_start = rss_mb()
    if trace:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    marks = {m for m in (*MARKS, trials) if m <= trials}
    if trace and len(marks) == 1:
        marks.add(max(1, trials // 3))  # a first snapshot to compare the last with
    snapshots = {min(marks, key=lambda m: abs(m - trials / 3)), trials} if trace else set()
    marker = _Marker(marks, executor, started, cpu, snapshots)
    options: dict[str, Any] = {"metric": table.metric, "mode": table.mode}
    if search != DEFAULT:
        options.update(search=search, scheduler="asha")
    resume_s = None
    with tempfile.TemporaryDirectory(prefix="rung-scale-") as storage:
        result = rung.run(
            fn,
            table.space,
            num_samples=trials,
            executor=executor,
            storage=storage,
            name="scale",
            verbose=0,
            callbacks=[marker],
            **options,
        )
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        result_rss = rss_mb()
        del result
        if resume:
            # The experiment resumed as after a crash: the store replayed into a new driver, then 100 more trials.
            again = time.perf_counter()
            more = SimulatedExecutor(workers=workers)
            rung.run(fn, table.space, num_samples=trials + 100, executor=more, storage=storage, name="scale",
                     verbose=0, resume=True, **options)  # fmt: skip
            resume_s = time.perf_counter() - again
    peak, growth = None, []
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        growth = _growth(marker.taken_snapshots)
    simulated, reports = executor.clock.now(), marker.reports
    totals = (reports, took, cpu, simulated, rss_start)
    return Outcome(search, trials, workers, objective, *totals, marker.taken, peak, resume_s, result_rss, growth)


def _growth(snapshots: list[tuple[int, tracemalloc.Snapshot]], top: int = 12) -> list[tuple[str, float]]:
    """The source lines whose live allocations grew most from the first snapshot to the last, per trial."""
    if len(snapshots) < 2 or snapshots[-1][0] <= snapshots[0][0]:
        return []
    (first_at, first), (last_at, last) = snapshots[0], snapshots[-1]
    diff = last.compare_to(first, "lineno")
    total = sum(stat.size_diff for stat in diff)
    rows = [("all Python allocations", total / (last_at - first_at))]
    for stat in diff[:top]:
        frame = stat.traceback[0]
        rows.append((f"{_short(frame.filename)}:{frame.lineno}", stat.size_diff / (last_at - first_at)))
    return rows


def _short(filename: str) -> str:
    """A source path from the package folder on (rung/..., bench/...), else as given."""
    parts = Path(filename).parts
    for root in ("rung", "bench"):
        if root in parts:
            return "/".join(parts[len(parts) - 1 - parts[::-1].index(root) :])
    return filename


def table_text(outcome: Outcome) -> str:
    """The marks as a Markdown table, with the rate since the previous mark and the totals."""
    default = outcome.search == DEFAULT
    parts = "the default (AutoSearch + AutoScheduler)" if default else f"search={outcome.search!r}, scheduler='asha'"
    target = DEFAULT_TARGET_S if default else TARGET_S
    lines = [
        f"{parts}, objective={outcome.objective!r}, {outcome.trials:,} trials"
        f" ({outcome.reports / outcome.trials:.1f} reports each) on {outcome.workers} simulated"
        f" workers: {outcome.real_s:.1f} s real ({outcome.trials_per_s:,.0f} trials/s; target < {target:.0f} s),"
        f" {outcome.cpu_s:.1f} s of the driver's CPU, {outcome.simulated_s:,.0f} s simulated;"
        f" driver RSS {outcome.rss_start_mb:.1f} MB before the run; load average {os.getloadavg()[0]:.2f} at the end",
        "",
        "| trials ended | real s | CPU s | trials/s since previous mark (real) | simulated s | driver RSS MB"
        " | RSS growth MB |",
        "|---|---|---|---|---|---|---|",
    ]
    previous = Mark(0, 0.0, 0.0, 0.0, outcome.rss_start_mb)
    for mark in outcome.marks:
        rate = (mark.trials - previous.trials) / max(mark.real_s - previous.real_s, 1e-9)
        lines.append(
            f"| {mark.trials:,} | {mark.real_s:.1f} | {mark.cpu_s:.1f} | {rate:,.0f} | {mark.simulated_s:,.0f}"
            f" | {mark.rss_mb:.1f} | {mark.rss_mb - outcome.rss_start_mb:+.1f} |"
        )
        previous = mark
    if outcome.result_rss_mb is not None:
        after = outcome.real_s - (outcome.marks[-1].real_s if outcome.marks else 0.0)
        lines.append(
            f"\nThe returned ExperimentResult: {after:.1f} s after the last trial ended;"
            f" driver RSS {outcome.result_rss_mb:.1f} MB with it"
        )
    if outcome.tracemalloc_peak_mb is not None:
        lines.append(f"\ntracemalloc peak (Python allocations during the run): {outcome.tracemalloc_peak_mb:.1f} MB")
    if outcome.resume_s is not None:
        lines.append(
            f"\nResumed (the store replayed into a new driver) and 100 more trials run: {outcome.resume_s:.1f} s real"
        )
    if outcome.growth:
        lines.append("\n| where the live Python allocations grew (tracemalloc) | bytes per ended trial |\n|---|---|")
        lines += [f"| {site} | {size:.0f} |" for site, size in outcome.growth]
    return "\n".join(lines)


def tpe_cost(size: int, window: int, profiler: cProfile.Profile | None = None) -> tuple[float, float]:
    """CPU ms of one BOHB-style TPE proposal (as under `scheduler="asha"`) after `size` ended
    trials: the mean as they come (with a long history the densities are reused and proposals
    chosen `reuse_batch` at a time, so a median would hide the batches), and the median with a
    refit forced before each.

    The history is shaped like an ASHA run's on the MLP table: each trial ends at the first (3/4
    of the trials), second, third milestone or the last step, with the table's values on the way
    (the searcher proposes at random while it is filled, so filling is cheap). `profiler` is on
    during the timed proposals only.
    """
    from rung.schedulers.asha import ASHA
    from rung.search.tpe import TPE
    from rung.space import Space

    table = Table.load("mlp")
    scheduler = ASHA()
    scheduler.setup(metric=table.metric, mode=table.mode, seed=0)
    fidelity = scheduler.fidelity()
    assert fidelity is not None
    ends = [int(m) for m in fidelity[1] if m < table.steps] + [table.steps]
    shares = [(1 - 1 / scheduler.reduction_factor) / scheduler.reduction_factor**k for k in range(len(ends))]
    shares[-1] = 1 - sum(shares[:-1])
    rng = np.random.default_rng(0)
    searcher = TPE(seed=0, n_startup=size + 1)
    searcher.setup(Space(table.space), metric=table.metric, mode=table.mode, num_samples=size + 2 * window, seed=0)
    searcher.set_fidelity(*fidelity)

    def play(trial_id: int, config: dict[str, Any], end: int) -> None:
        curve = table.objective(config)
        for step in range(end):
            searcher.observe(trial_id, {**curve.metrics[step], "training_iteration": step + 1})
        last = {**curve.metrics[end - 1], "training_iteration": end}
        searcher.on_complete(trial_id, Status.TERMINATED if end == table.steps else Status.STOPPED, last)

    for trial_id in range(1, size + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        play(trial_id, config, ends[int(rng.choice(len(ends), p=shares))])
    searcher.n_startup = 10
    spent: dict[bool, list[float]] = {False: [], True: []}
    for trial_id in range(size + 1, size + 2 * window + 1):
        refit = trial_id > size + window
        if refit:
            searcher._root._fitted = None  # the space of the tables has one level
        if profiler is not None:
            profiler.enable()
        start = time.thread_time()
        config = searcher.suggest(trial_id)
        if trial_id > size + 1:  # the first proposal makes the first fit (the filling never fits)
            spent[refit].append(time.thread_time() - start)
        if profiler is not None:
            profiler.disable()
        assert config is not None
        play(trial_id, config, ends[0])
    return float(np.mean(spent[False])) * 1e3, float(np.median(spent[True])) * 1e3


def profile_text(stats_path: Path, top: int) -> str:
    """The `top` functions by own time and by cumulative time, from a cProfile stats file."""
    out = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument(
        "--search",
        default="tpe",
        help="rung.run's search= (tpe, random, auto, ...) with scheduler='asha'; or"
        " 'default': neither search= nor scheduler= (rung.AutoSearch + rung.AutoScheduler)",
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--objective", choices=OBJECTIVES, default="interpolated", help="how configs get curves")
    parser.add_argument(
        "--profile", type=Path, help="write cProfile stats here and print the top functions (--tpe-cost: the proposals)"
    )
    parser.add_argument("--top", type=int, default=25, help="functions shown with --profile")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the Python allocation peak")
    parser.add_argument("--resume", action="store_true", help="then time resuming it and 100 more trials")
    parser.add_argument("--json", type=Path, help="also write the outcome as JSON here")
    parser.add_argument("--tpe-cost", type=int, nargs="+", metavar="N", help="instead: time TPE proposals after N")
    parser.add_argument("--window", type=int, default=96, help="proposals timed per size with --tpe-cost")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be >= 1; got {args.trials}")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, rung {rung.__version__}\n", flush=True)
    profiler = cProfile.Profile() if args.profile else None
    if args.tpe_cost:
        print(
            "| ended trials (ASHA-shaped history) | CPU ms per rung.TPE proposal, BOHB-style (mean) "
            "| with a refit of the densities before each (median) |\n|---|---|---|"
        )
        for size in args.tpe_cost:
            usual, refit = tpe_cost(size, args.window, profiler)
            print(f"| {size:,} | {usual:.2f} | {refit:.2f} |", flush=True)
        if profiler is not None:
            profiler.dump_stats(str(args.profile))
            print("\n" + profile_text(args.profile, args.top))
        return 0
    if profiler is not None:
        profiler.enable()
    outcome = run_scale(
        args.trials, args.search, args.workers, objective=args.objective, trace=args.tracemalloc, resume=args.resume
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    print(table_text(outcome))
    if args.json is not None:
        data: dict[str, Any] = {**asdict(outcome), "trials_per_s": outcome.trials_per_s}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.profile is not None:
        print("\n" + profile_text(args.profile, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
