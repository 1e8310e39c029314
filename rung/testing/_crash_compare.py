"""What the crash harness checks: an experiment read from its store, compared with another, and what
a kill may leave behind (lost or repeated results, processes, files).

Each check returns a list of mismatches, one sentence each; an empty list means it held.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rung._numbers import better, finite
from rung.store import views
from rung.store.schema import DB_NAME
from rung.store.snapshot import snapshot
from rung.testing._crash_probe import ACKS, PROCS, identity

__all__ = ["Experiment", "compare", "duplicates", "leftovers", "lost", "orphans", "read_acks"]

TIMING = ("time_this_iter_s", "time_total_s", "timestamp")
"""Result keys that measure time: they differ between any two runs, so they are not compared."""

# Names a writer gives a file while it is being made: `write_atomic`'s temporaries and the database
# built beside its final name (rung.store.checkpoints, rung.store.sqlite).
_TEMPORARY = re.compile(r".*\.(tmp|new)-\d+(-journal|-wal|-shm)?")
_CHECKPOINT = re.compile(r"checkpoint-.*\.pkl")
# The database's own files (the WAL files come and go).
_KNOWN = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"}


def _metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in TIMING}


@dataclass
class Experiment:
    """What the harness compares of one stored experiment (read from a private copy of its database).

    Attributes:
        status: the experiment's stored status ("FINISHED" once a run completed).
        trials: per trial id: (config, status, iteration, parent id).
        results: per (trial id, iteration): the stored metrics without timing fields.
        events: the stored history in order, a trial's restart after a kill left out: ("result",
            trial, iteration) and ("status", trial, status, data), data being the creation's origin
            and config or a scheduler's change of config and donor (PBT).
        schedules: `ExperimentResult.schedule` of every trial.
        best: (trial id, metrics) of the best result by the run's metric, or None.
        checkpoint_files: the checkpoint files the store's rows name, relative to its folder.
        times: per (trial id, iteration): the result's `timestamp` (epoch seconds of its report).
    """

    status: str
    trials: dict[int, tuple[Any, str, int, int | None]] = field(default_factory=dict)
    results: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    schedules: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    best: tuple[int, dict[str, Any]] | None = None
    checkpoint_files: set[str] = field(default_factory=set)
    times: dict[tuple[int, int], float] = field(default_factory=dict)

    @classmethod
    def read(cls, storage: Path, name: str) -> Experiment:
        with snapshot(storage, name) as store:
            experiment = store.experiment()
            out = cls(status=experiment["status"])
            metric, mode = experiment["metric"], experiment["mode"] or "min"
            best_value: float | None = None
            for row in store.trials():
                out.trials[row["id"]] = (row["config"], row["status"], row["iteration"], row["parent_id"])
                # The best trial as `ExperimentResult.best` chooses it: by each trial's best result.
                value: Any = (row["best_result"] or {}).get(metric) if metric else None
                if not finite(value):
                    continue
                if best_value is None or better(float(value), best_value, mode):
                    best_value, out.best = float(value), (row["id"], _metrics(row["best_result"]))
            history = list(store.timed_history())
            running: set[int] = set()
            for kind, trial_id, data, _at, _slot in history:
                if kind == "result":
                    iteration = int(data["training_iteration"])
                    out.results[(trial_id, iteration)] = _metrics(data)
                    out.times[(trial_id, iteration)] = float(data.get("timestamp", 0.0))
                    out.events.append(("result", trial_id, iteration))
                    continue
                status, info = data
                if status.value == "RUNNING":
                    if trial_id in running and not info:
                        continue  # started again after a kill, from its newest checkpoint
                    running.add(trial_id)
                else:
                    running.discard(trial_id)
                out.events.append(("status", trial_id, status.value, json.dumps(info, sort_keys=True)))
            out.schedules = views.schedules(history)
            query = "SELECT path FROM checkpoints WHERE path IS NOT NULL"
            out.checkpoint_files = {str(Path(p)) for (p,) in store._conn.execute(query)}
        return out


def _first_difference(a: list[Any], b: list[Any]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(clean: Experiment, crashed: Experiment) -> list[str]:
    """How the killed-and-resumed experiment differs from the uninterrupted one."""
    out: list[str] = []
    if crashed.status != "FINISHED" or clean.status != "FINISHED":
        out.append(f"experiment status: uninterrupted {clean.status}, killed and resumed {crashed.status}")
    if sorted(clean.trials) != sorted(crashed.trials):
        out.append(f"trials: uninterrupted {sorted(clean.trials)}, killed and resumed {sorted(crashed.trials)}")
    for trial_id in sorted(set(clean.trials) & set(crashed.trials)):
        (c_config, c_status, c_iter, c_parent), (k_config, k_status, k_iter, k_parent) = (
            clean.trials[trial_id],
            crashed.trials[trial_id],
        )
        if c_config != k_config:
            out.append(f"trial {trial_id}'s config: uninterrupted {c_config}, killed and resumed {k_config}")
        if (c_status, c_iter, c_parent) != (k_status, k_iter, k_parent):
            out.append(
                f"trial {trial_id} ended {c_status} at iteration {c_iter} (parent {c_parent}) uninterrupted,"
                f" {k_status} at iteration {k_iter} (parent {k_parent}) killed and resumed"
            )
        if clean.schedules.get(trial_id) != crashed.schedules.get(trial_id):
            out.append(
                f"trial {trial_id}'s schedule: uninterrupted {clean.schedules.get(trial_id)}, killed and resumed"
                f" {crashed.schedules.get(trial_id)}"
            )
    for key in sorted(set(clean.results) | set(crashed.results)):
        ours, theirs = clean.results.get(key), crashed.results.get(key)
        if ours != theirs:
            out.append(
                f"result of trial {key[0]} at iteration {key[1]}: uninterrupted {ours}, killed and resumed {theirs}"
            )
    if clean.events != crashed.events:
        i = _first_difference(clean.events, crashed.events)
        out.append(
            f"the order of events differs at event {i} of {len(clean.events)}: uninterrupted"
            f" {clean.events[i : i + 3]}, killed and resumed {crashed.events[i : i + 3]}"
        )
    if clean.best != crashed.best:
        out.append(f"best result: uninterrupted {clean.best}, killed and resumed {crashed.best}")
    return out


def read_acks(folder: Path) -> list[tuple[int, int]]:
    """The acknowledged (trial, iteration) pairs, in order (a report() that returned in a trial)."""
    path = folder / ACKS
    if not path.exists():
        return []
    pairs = (line.split() for line in path.read_text().splitlines())
    return [(int(t), int(i)) for t, i in pairs]


def lost(acks: Iterable[tuple[int, int]], stored: Experiment) -> list[str]:
    """Acknowledged results the store does not hold."""
    missing = sorted(set(acks) - set(stored.results))
    return [f"acknowledged but not stored: trial {t} iteration {i}" for t, i in missing]


def duplicates(acks: list[tuple[int, int]]) -> list[str]:
    """Results acknowledged twice: a trial ran a step again after its report had returned."""
    seen: set[tuple[int, int]] = set()
    twice: list[tuple[int, int]] = []
    for pair in acks:
        if pair in seen:
            twice.append(pair)
        seen.add(pair)
    return [f"reported again after its report() had returned: trial {t} iteration {i}" for t, i in twice]


def orphans(folder: Path, deadline: float) -> list[str]:
    """Processes recorded in runs of the experiment (drivers, workers, what trials started) that are
    still alive once `deadline` (a `time.monotonic()` value) has passed; waits for them until then."""
    path = folder / PROCS
    recorded: set[tuple[int, int]] = set()
    if path.exists():
        for line in path.read_text().splitlines():
            fields = line.split()
            recorded.add((int(fields[0]), int(fields[1])))
    alive = [p for p in sorted(recorded) if identity(p[0]) == p]
    alive = _wait_for_exit(alive, deadline)
    found = [f"process {pid} outlived its run: {_cmdline(pid)}" for pid, _ in alive]
    for pid, start in alive:  # found and named: now ended, so that the next check starts clean
        if identity(pid) == (pid, start):
            os.kill(pid, signal.SIGKILL)
    return found


def _wait_for_exit(processes: list[tuple[int, int]], deadline: float) -> list[tuple[int, int]]:
    """Wait until the processes exit or the deadline passes; return those still alive."""
    fds: dict[int, tuple[int, int]] = {}
    try:
        for proc in processes:
            # No pidfd here (not Linux, or an old kernel): polled below.
            with contextlib.suppress(AttributeError, OSError):
                fds[os.pidfd_open(proc[0])] = proc
        pending = dict(fds)
        while pending and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(pending), [], [], left)
            for fd in ready:
                pending.pop(fd)
        while time.monotonic() < deadline and any(identity(p[0]) == p for p in processes if p not in fds.values()):
            time.sleep(0.01)
    finally:
        for fd in fds:
            os.close(fd)
    return [p for p in processes if identity(p[0]) == p]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def leftovers(folder: Path, referenced: set[str]) -> list[str]:
    """Files of rung's that an experiment's folder should not hold once a run has finished: temporaries
    of writes cut short (with their SQLite journals), other files named like the database, and
    checkpoint files no stored row names. Files rung does not name (a callback's, the user's) are not
    looked at."""
    out: list[str] = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), folder)
            parts = Path(rel).parts
            if _TEMPORARY.fullmatch(name):
                out.append(f"temporary file left: {rel}")
            elif len(parts) == 1 and name.startswith(DB_NAME) and name not in _KNOWN:
                out.append(f"unexpected file: {rel}")
            elif parts[0] == "trials" and _CHECKPOINT.fullmatch(name) and str(Path(rel)) not in referenced:
                out.append(f"file no stored checkpoint names: {rel}")
    return sorted(out)
