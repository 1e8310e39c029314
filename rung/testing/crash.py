"""Crash consistency: kill an experiment's driver with SIGKILL again and again, resume it each time, and
check that it ends as an uninterrupted run of the same seed on one worker does.

`check(setup, folder, kills=N)` runs the experiment once without a kill, then runs it again, kills
its driver at N points drawn from a seeded generator, and resumes it (`resume=True`, a new driver
process) after each kill until it finishes. It reports every mismatch it finds:

- the same trials with the same configs, the same results (metrics without timing fields), the same
  scheduler decisions (every start, pause, resume, stop and end, in the same order and at the same
  iteration; PBT's and PB2's schedules, `ExperimentResult.schedule`), the same best trial and result;
- no result lost: every `report()` that returned in a trial is in the store, checked after each kill;
- no result duplicated: no trial reports a step again after its `report()` returned;
- no orphan process: every process of a killed driver's tree (its workers, what their trials
  started) ends, and so does every process recorded in the runs once the experiment finished;
- no leftover file: no temporary file of a write cut short, no checkpoint file that no stored row
  names, once the experiment finished;
- no resume that fails or hangs (a stale lock, a replay error): each run has `timeout` seconds.

Kill points (`KillPoint`), placed at results of the uninterrupted run that the killed experiment has
not stored yet (a run on one worker reports them in the same order):

- `report`: in the trial, right after its `report()` of that result returned;
- `commit`: in the driver, right after the COMMIT that stores it, before the trial gets its answer;
- `before-commit`: in the driver, right before that COMMIT (the turn's rows are still in memory);
- `checkpoint-write`: in the driver, inside the write of the result's checkpoint file (the temporary
  file is written, not renamed yet);
- `start`: in the driver, right after its first COMMIT (what the replay of a resume wrote);
- `time`: the harness kills the driver a random number of seconds after it started (start-up,
  replay and shutdown included): the only kind whose point differs from one attempt to the next.

A setup is a function `setup(seed) -> dict` of `rung.run` keyword arguments (`fn`, `space`, `metric`,
`scheduler`, `num_samples`, ...), named "module:function" so that each driver process imports it;
the harness adds `name`, `storage`, `seed`, `resume=True`, `max_concurrent=1`, `executor="process"`.
Its objective must be deterministic in its config and step (no timing in its metrics) and checkpoint
at every report, so that a resume continues exactly. `METHODS` names the built-in setups (FIFO+TPE,
ASHA stop and promote, HyperBand, PBT, PB2) on `objective`.

The process checks read /proc (Linux); elsewhere they find nothing.

Example:
    >>> from rung.testing import crash
    >>> report = crash.check("mypackage.tuning:setup", "/tmp/crash", kills=20)  # doctest: +SKIP
    >>> assert report.ok, report.describe()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rung.testing import _crash_compare as checks
from rung.testing._crash_probe import DIR_ENV, KILL_ENV, PROCS, WRITES, descendants, load_setup
from rung.testing._crash_setups import CHILD_ENV, METHODS, objective

__all__ = ["KINDS", "METHODS", "CrashReport", "KillPoint", "check", "objective"]

KINDS: dict[str, float] = {
    "report": 0.35,
    "commit": 0.2,
    "before-commit": 0.15,
    "checkpoint-write": 0.15,
    "start": 0.05,
    "time": 0.1,
}
"""The kinds of kill point, and how often `check` draws each."""

_NAME = "crash"
_AT_RESULT = ("report", "commit", "before-commit", "checkpoint-write")


@dataclass(frozen=True)
class KillPoint:
    """Where a driver is killed: `kind` (a key of `KINDS`) at the result of `trial` at `iteration`,
    or `seconds` after the driver started (kind "time")."""

    kind: str
    trial: int = 0
    iteration: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.kind == "time":
            return f"time:{self.seconds:g}s"
        return self.kind if self.kind == "start" else f"{self.kind}:{self.trial}:{self.iteration}"


@dataclass
class CrashReport:
    """What `check` found for one experiment.

    Attributes:
        setup: the setup's name; `seed` the run's seed.
        kills: the kill points that killed a driver, in order.
        missed: planned kill points that killed nothing (the run had passed them, or finished first).
        resumes: runs that resumed the experiment.
        mismatches: every difference from the uninterrupted run and every broken promise; empty if none.
        seconds: wall time of the killed runs; `clean_seconds` that of the uninterrupted run.
    """

    setup: str
    seed: int
    kills: list[KillPoint] = field(default_factory=list)
    missed: list[KillPoint] = field(default_factory=list)
    resumes: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    clean_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def describe(self) -> str:
        """A few lines for an assertion message or a log."""
        head = (
            f"{self.setup} (seed {self.seed}): {len(self.kills)} kills ({', '.join(map(str, self.kills)) or 'none'}),"
            f" {len(self.missed)} missed, {self.resumes} resumes, {len(self.mismatches)} mismatches"
        )
        return "\n  ".join([head, *self.mismatches])


def check(
    setup: str,
    folder: str | Path,
    *,
    kills: int = 4,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    kinds: Sequence[str] = tuple(KINDS),
    plan: Sequence[KillPoint] | None = None,
    children: bool = False,
    timeout: float = 120.0,
    process_grace: float = 10.0,
) -> CrashReport:
    """Kill the experiment's driver `kills` times, resume it after each, and compare it with an
    uninterrupted run of the same seed.

    Args:
        setup: a key of `METHODS`, or "module:function" naming a setup (see the module docstring).
        folder: a new or empty folder for the runs and their records.
        kills: how many kills to plan (fewer if the experiment has fewer results).
        seed: the experiment's seed (`rung.run(seed=)`).
        rng: draws the kill points (default: `numpy.random.default_rng(seed)`).
        kinds: the kinds of kill point to draw (keys of `KINDS`).
        plan: the kill points to use, in order, instead of drawn ones (`kills` and `kinds` are then
            unused): to replay the kills of a report.
        children: each run of a trial of the built-in `objective` starts a child process.
        timeout: seconds one run (or resume) may take before it counts as hung.
        process_grace: seconds a killed driver's processes get to end before they count as orphans.

    Returns:
        A `CrashReport`; `report.ok` if nothing differed and nothing was lost, repeated or left behind.
    """
    if not isinstance(kills, int) or isinstance(kills, bool) or kills < 0:
        raise ValueError(f"check needs kills to be an int >= 0; got kills={kills!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"check needs kinds to be some of {list(KINDS)}; got kinds={list(kinds)!r}")
    spec = METHODS.get(setup, setup)
    load_setup(spec)  # a bad name fails here, not in a driver
    root = Path(folder)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"check needs an empty folder; got folder={str(root)!r}, which holds files")
    report = CrashReport(setup=setup, seed=seed)
    saved = os.environ.get(CHILD_ENV)
    os.environ[CHILD_ENV] = "1" if children else "0"
    try:
        _check(report, spec, root, rng or np.random.default_rng(seed), plan, kills, kinds, timeout, process_grace)
    finally:
        if saved is None:
            os.environ.pop(CHILD_ENV, None)
        else:
            os.environ[CHILD_ENV] = saved
    return report


def draw(
    rng: np.random.Generator,
    kills: int,
    kinds: Sequence[str],
    results: Sequence[tuple[int, int, float]],
    writes: set[tuple[int, int]],
    seconds: float,
) -> list[KillPoint]:
    """Plan `kills` kill points over an experiment whose uninterrupted run took `seconds`, stored
    `results` (trial, iteration, seconds since its driver started) in this order and wrote the
    checkpoint files of `writes`.

    Kills at results get distinct results, in their order; "start" kills fall between them. "time"
    kills come first, each before the time the uninterrupted run took to its first kill at a result
    (so that they pass none of those): in the first run's start-up, creation of the store and first
    results, then in the resumes' start-up and replay.
    """
    weights = np.array([KINDS[k] for k in kinds])
    chosen = [str(k) for k in rng.choice(list(kinds), size=kills, p=weights / weights.sum())]
    taken: set[int] = set()
    placed: list[tuple[int, str]] = []
    # Checkpoint writes first: only some results write a file.
    for kind in sorted(chosen, key=lambda k: k != "checkpoint-write"):
        if kind not in _AT_RESULT:
            continue
        free = [
            i
            for i, (t, it, _) in enumerate(results)
            if i not in taken and (kind != "checkpoint-write" or (t, it) in writes)
        ]
        if not free:
            free = [i for i in range(len(results)) if i not in taken]
            kind = "commit"
        if free:
            index = int(rng.choice(free))
            taken.add(index)
            placed.append((index, kind))
    placed.sort()
    points = [KillPoint(kind, *results[index][:2]) for index, kind in placed]
    before = results[placed[0][0]][2] if placed else 0.8 * seconds
    for kind in chosen:
        if kind == "time":
            points.insert(0, KillPoint("time", seconds=round(float(rng.uniform(0.05, 1.0)) * before, 3)))
        elif kind == "start":
            points.insert(int(rng.integers(0, len(points) + 1)), KillPoint("start"))
    return points


def _run(
    setup: str, storage: Path, seed: int, records: Path, kill: KillPoint | None, timeout: float
) -> tuple[int | None, str]:
    """One driver run: its return code (None: it hung past `timeout` and was killed) and its stderr."""
    env = {**os.environ, DIR_ENV: str(records)}
    env.pop(KILL_ENV, None)
    if kill is not None and kill.kind != "time":
        env[KILL_ENV] = f"{kill.kind}:{kill.trial}:{kill.iteration}"
    # The harness's import path, so that the driver imports the setup's module as the caller does.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    command = [sys.executable, "-m", "rung.testing._crash_probe", setup, str(storage), _NAME, str(seed)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill is not None and kill.kind == "time":
        try:
            proc.wait(kill.seconds)
        except subprocess.TimeoutExpired:
            # Its tree first, as the probes record it: every process of it must end with the driver.
            tree = descendants(proc.pid)
            with open(records / PROCS, "a") as f:
                f.writelines(f"{pid} {start}\n" for pid, start in tree)
            proc.send_signal(signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return None, err
    return proc.returncode, err


def _next_unstored(
    point: KillPoint,
    order: list[tuple[int, int]],
    stored: set[tuple[int, int]],
    writes: set[tuple[int, int]],
    todo: list[KillPoint],
) -> KillPoint | None:
    """`point` moved to the first result in `order` not yet stored, nor planned for a later kill (that
    wrote a checkpoint file, for a "checkpoint-write" kill); None if there is none."""
    planned = {(p.trial, p.iteration) for p in todo}
    for key in order:
        if key not in stored and key not in planned and (point.kind != "checkpoint-write" or key in writes):
            return KillPoint(point.kind, *key)
    return None


def _read_writes(records: Path) -> set[tuple[int, int]]:
    path = records / WRITES
    if not path.exists():
        return set()
    return {(int(t), int(i)) for t, i in (line.split() for line in path.read_text().splitlines())}


def _check(
    report: CrashReport,
    spec: str,
    root: Path,
    rng: np.random.Generator,
    plan: Sequence[KillPoint] | None,
    kills: int,
    kinds: Sequence[str],
    timeout: float,
    grace: float,
) -> None:
    clean_storage, clean_records = root / "uninterrupted", root / "uninterrupted-records"
    storage, records = root / "killed", root / "killed-records"
    for path in (clean_records, records):
        path.mkdir(parents=True)
    started, epoch = time.monotonic(), time.time()
    code, err = _run(spec, clean_storage, report.seed, clean_records, None, timeout)
    report.clean_seconds = time.monotonic() - started
    if code != 0:
        report.mismatches.append(f"the uninterrupted run failed (exit {code}):\n{err[-3000:]}")
        return
    clean = checks.Experiment.read(clean_storage, _NAME)
    order = [(e[1], e[2], clean.times[(e[1], e[2])] - epoch) for e in clean.events if e[0] == "result"]
    writes = _read_writes(clean_records)
    todo = list(plan) if plan is not None else draw(rng, kills, kinds, order, writes, report.clean_seconds)

    started = time.monotonic()
    stored: set[tuple[int, int]] = set()
    killed: KillPoint | None = None
    while True:
        point = None
        while todo and point is None:
            planned = todo.pop(0)
            point = planned
            if planned.kind in _AT_RESULT and (planned.trial, planned.iteration) in stored:
                # A "time" kill went past it: the next result of its kind the run has not stored.
                point = _next_unstored(planned, [(t, i) for t, i, _ in order], stored, writes, todo)
                if point is None:
                    report.missed.append(planned)
        # The resume starts at once, while the killed driver's workers may still be ending (a lock
        # they held would stall it); they are checked once it has run.
        code, err = _run(spec, storage, report.seed, records, point, timeout)
        if killed is not None:
            found = checks.orphans(records, time.monotonic() + grace)
            report.mismatches += [f"after the kill at {killed} and a resume: {m}" for m in found]
            killed = None
        if point is not None and code == -signal.SIGKILL:
            report.kills.append(point)
            report.resumes += 1
            killed = point
            acks = checks.read_acks(records)
            if (storage / _NAME / "rung.db").exists():
                now = checks.Experiment.read(storage, _NAME)
                stored = set(now.results)
                report.mismatches += [f"after the kill at {point}: {m}" for m in checks.lost(acks, now)]
            elif acks:
                report.mismatches.append(f"after the kill at {point}: no store, yet {len(acks)} results acknowledged")
            continue
        if code == 0:
            report.missed += ([point] if point is not None else []) + todo
            break
        hung = "hung past the timeout" if code is None else f"failed (exit {code})"
        report.mismatches.append(f"the run after kills {[str(k) for k in report.kills]} {hung}:\n{err[-3000:]}")
        return
    report.seconds = time.monotonic() - started

    final = checks.Experiment.read(storage, _NAME)
    acks = checks.read_acks(records)
    report.mismatches += checks.compare(clean, final)
    report.mismatches += checks.lost(acks, final)
    report.mismatches += checks.duplicates(acks)
    deadline = time.monotonic() + grace
    for folder in (records, clean_records):
        report.mismatches += checks.orphans(folder, deadline)
    report.mismatches += checks.leftovers(storage / _NAME, final.checkpoint_files)
    report.mismatches += [
        f"uninterrupted run: {m}" for m in checks.leftovers(clean_storage / _NAME, clean.checkpoint_files)
    ]
