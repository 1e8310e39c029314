"""What one process knows of an ask/tell study (`rung.Study`): its searcher, fed every stored event in
order, and the trials not yet told their end; plus the lock the processes' calls take in turn."""

from __future__ import annotations

import fcntl
import numbers
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from rung._numbers import better, finite, is_number
from rung.errors import ExperimentNotFoundError, TrialEndedError, TrialNotFoundError
from rung.objectives import Objectives
from rung.search.base import Searcher
from rung.store.sqlite import Store
from rung.types import Config, Status

__all__ = ["LOCK_NAME", "Entry", "State", "locked"]

LOCK_NAME = "study.lock"
"""The file in a study's folder whose lock its calls take in turn."""


@dataclass
class Entry:
    """A trial not yet told its end, as far as this process has seen."""

    started: float
    last_time: float
    iteration: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    best: float | None = None
    judged: dict[str, Any] | None = None  # several objectives or constraints: the trial's judged result
    has_metric: bool = False
    slot: int | None = None  # its lane in the worker timeline: the lowest not held when it was asked


class State:
    """The searcher and open trials of a study as of the store's sequence number `seq`.

    `catch_up` replays what was stored after `seq` (everything, after `reset`) with the calls the
    tuner's replay makes: `suggest` for a trial asked (the seeded searcher proposes it again, which
    moves it on), `on_given` for a known result, `observe` per result, `on_complete` per end.
    """

    def __init__(self, pristine: bytes, metric: str | None, mode: str, objectives: Objectives | None = None) -> None:
        self.pristine = pristine  # the pickled space and searcher as set up, before any proposal
        self.metric, self.mode, self.objectives = metric, mode, objectives
        self.metrics: tuple[str, ...] = objectives.metrics if objectives is not None else (str(metric),)
        self.searcher: Searcher | None = None  # None: rebuilt from the store at the next call
        self.seq = 0
        self.open: dict[int, Entry] = {}
        self.next_id = 1

    def catch_up(self, store: Store) -> Searcher:
        """Replay into the searcher what was stored since `seq` (all of it, if it is to be rebuilt)."""
        if self.searcher is None:
            self.searcher = cloudpickle.loads(self.pristine)["search"]
            self.seq, self.open, self.next_id = 0, {}, 1
        searcher: Searcher = self.searcher
        if store.last_seq == self.seq:
            return searcher
        configs: dict[int, Config] | None = None
        for kind, trial_id, data, at, slot in store.timed_history(self.seq):
            if kind == "result":
                searcher.observe(trial_id, data)
                entry = self.open.get(trial_id)
                if entry is not None:
                    self.track(entry, data)
                continue
            status, info = data
            if "origin" in info:  # a trial created
                self.next_id = max(self.next_id, trial_id + 1)
                if info["origin"] in ("ask", "searcher"):
                    searcher.suggest(trial_id)  # moves the seeded searcher on as the proposal did
                elif info["origin"] in ("known", "point"):
                    if configs is None:  # as run (objects too: the event's copy holds their text)
                        configs = {row["id"]: row["config"] for row in store.trials(objects=True)}
                    searcher.on_given(trial_id, configs[trial_id])
                started = time.time() if at is None else float(at)
                self.open[trial_id] = Entry(started=started, last_time=started)
            elif status is Status.RUNNING and trial_id in self.open:
                self.open[trial_id].slot = slot
            elif status.finished:
                ended = self.open.pop(trial_id, None)
                searcher.on_complete(trial_id, status, (ended.last if ended else None) or None)
        self.seq = store.last_seq
        return searcher

    def free_slot(self) -> int:
        """The lowest timeline lane no open trial holds (the dashboard draws asked trials as on workers)."""
        held = {entry.slot for entry in self.open.values()}
        return next(i for i in range(len(held) + 1) if i not in held)

    def reports(self, result: dict[str, Any]) -> bool:
        """Whether the result holds every objective."""
        return all(m in result for m in self.metrics)

    def track(self, entry: Entry, result: dict[str, Any]) -> bool:
        """Note a trial's result in its entry; True if it holds the trial's best value of the metric
        (with several objectives or constraints: if it is now the trial's judged result, as in a run)."""
        entry.iteration, entry.last = int(result["training_iteration"]), result
        stamp = result.get("timestamp")
        if is_number(stamp):
            entry.last_time = float(stamp)
        entry.has_metric = entry.has_metric or self.reports(result)
        if self.objectives is not None:
            if not self.reports(result) or not self.objectives.judge(entry.judged, result):
                return False
            entry.judged = result
            return True
        value = result.get(self.metric) if self.metric is not None else None
        if is_number(value) and finite(value) and (entry.best is None or better(float(value), entry.best, self.mode)):
            entry.best = float(value)
            return True
        return False

    def entry(self, store: Store, trial_id: Any, call: str, name: str) -> tuple[int, Entry]:
        """Trial `trial_id` of study `name` and its entry: it must exist and not have ended."""
        if isinstance(trial_id, bool) or not isinstance(trial_id, numbers.Integral):
            raise TypeError(f"{call}: trial_id must be an int (AskedTrial.id); got {trial_id!r}")
        trial_id = int(trial_id)
        entry = self.open.get(trial_id)
        if entry is not None:
            return trial_id, entry
        if not 1 <= trial_id < self.next_id:
            span = f"1..{self.next_id - 1}" if self.next_id > 1 else "none yet"
            raise TrialNotFoundError(f"{call}: no trial {trial_id} in study {name!r}; its trials: {span}")
        status = next(row["status"] for row in store.trials() if row["id"] == trial_id)
        raise TrialEndedError(
            f"{call}: trial {trial_id} of study {name!r} has already ended ({status}); ask() for a new trial"
        )


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the study's lock, waiting for another process's call to end first (the kernel lets go of
    it if the process dies)."""
    if not folder.is_dir():
        raise ExperimentNotFoundError(f"no study {folder.name!r} in {str(folder.parent)!r}")
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
