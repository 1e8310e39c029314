"""The dashboard's cache of store views: a view is rebuilt only when the store's files changed.

Per experiment it keeps the summary (the list page), the overview and the worker timeline
(`overview.overview`, `overview.worker_timeline`: the experiment page), and the private copy of the
database they were read from (`Snapshot`), which then answers the pages of the trials table
(`paging.page`) until the store changes. At most `OPEN_COPIES` copies are kept (each is as large as
the store's database); the least recently used goes first.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rung.store import driver, jsonsql, overview, paging, views
from rung.store import snapshot as snap
from rung.store.schema import DB_NAME

__all__ = ["OPEN_COPIES", "Reader"]

OPEN_COPIES = 4
"""Private copies of databases kept open at once."""


def _driver_gone(summary: dict[str, Any], driver_of: Any) -> bool:
    """Whether a view made while the experiment ran is stale because its driver has died since: KILLED
    is read from the driver's process, which can end without a file of the store changing."""
    return summary.get("status") == "RUNNING" and driver.status("RUNNING", {"driver": driver_of}) != "RUNNING"


@dataclass
class _Entry:
    """What is cached of one experiment, all read from one copy of its database (`stamp`)."""

    stamp: tuple[int, ...]
    copy: snap.Snapshot | None
    driver_of: Any = None
    summary: dict[str, Any] | None = None
    view: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Reader:
    """Cached views: a view is rebuilt only when the database or its WAL changed on disk.

    Example:
        >>> Reader("rung-runs").experiment("exp1")["summary"]["status"]  # doctest: +SKIP
    """

    def __init__(self, storage: str | Path) -> None:
        self.storage = Path(storage)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._used: list[str] = []  # experiments with an open copy, least recently used first
        self._closed = False

    def experiments(self) -> list[dict[str, Any]]:
        """A summary per experiment, as `list_view`, re-read only for stores that changed."""
        out: list[dict[str, Any]] = []
        if not self.storage.is_dir():
            return out
        for child in sorted(self.storage.iterdir()):
            if not (child / DB_NAME).is_file():
                continue
            try:
                entry = self._entry(child.name)
                with entry.lock:
                    if entry.summary is None or _driver_gone(entry.summary, entry.driver_of):
                        copy = self._open_copy(child.name, entry)
                        entry.summary = views.clean(overview.summary(copy, child.name))
                    summary = entry.summary
            except Exception as exc:  # damaged, or unreadable here: listed as such, the others still shown
                summary = {"name": child.name, "status": "UNREADABLE", "error": str(exc)}
            out.append(summary)
        return out

    def experiment(self, name: str) -> dict[str, Any]:
        """The experiment page's overview (`overview.overview`)."""
        entry = self._entry(name)
        with entry.lock:
            if entry.view is None or _driver_gone(entry.view["summary"], entry.driver_of):
                copy = self._open_copy(name, entry)
                entry.view = overview.overview(copy, name)
            return entry.view

    def timeline(self, name: str) -> dict[str, Any]:
        """The experiment's worker timeline (`overview.worker_timeline`)."""
        entry = self._entry(name)
        with entry.lock:
            if entry.timeline is None or _driver_gone(entry.timeline, entry.driver_of):
                copy = self._open_copy(name, entry)
                entry.timeline = overview.worker_timeline(copy)
            return entry.timeline

    def trials(self, name: str, query: paging.PageQuery) -> dict[str, Any]:
        """A page of the experiment's trials table (`paging.page`), read from the copy its overview was."""
        entry = self._entry(name)
        with entry.lock:
            copy = self._open_copy(name, entry)
            experiment = copy.store.experiment(setup=False)
            return views.clean(paging.page(copy.conn, experiment, query))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Remove every private copy (a closed reader reads nothing more)."""
        with self._lock:
            self._closed = True
            entries = list(self._entries.values())
            self._entries.clear()
            self._used.clear()
        for entry in entries:
            with entry.lock:
                if entry.copy is not None:
                    entry.copy.close()
                    entry.copy = None

    def _entry(self, name: str) -> _Entry:
        """The experiment's entry, as of its files now: a new one (nothing read yet) if they changed.

        One build per experiment at a time: requests that arrive meanwhile (a page's polls, several
        tabs) wait for it and take its view, instead of each copying and reading the store.
        """
        try:
            found = name not in ("", ".", "..") and os.sep not in name and (self.storage / name / DB_NAME).is_file()
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            found = False
        if not found:
            raise FileNotFoundError(name)
        stamp = snap.stamp(self.storage / name / DB_NAME)
        with self._lock:
            if self._closed:
                raise RuntimeError("the dashboard's reader is closed")
            entry = self._entries.get(name)
            if entry is not None and entry.stamp == stamp:
                return entry
            fresh = self._entries[name] = _Entry(stamp, None)
        if entry is not None:
            self._drop_copy(entry)
        return fresh

    def _open_copy(self, name: str, entry: _Entry) -> snap.Snapshot:
        """The entry's copy of the database, made now if it has none (the caller holds `entry.lock`)."""
        if entry.copy is None:
            entry.copy = snap.Snapshot(self.storage, name)
            jsonsql.install(entry.copy.conn)
            entry.driver_of = entry.copy.store.experiment(setup=False)["settings"].get("driver")
        with self._lock:
            if name in self._used:
                self._used.remove(name)
            self._used.append(name)
            evicted = [self._entries.get(n) for n in self._used[:-OPEN_COPIES]]
        for old in evicted:
            if old is not None and old is not entry:
                self._drop_copy(old, wait=False)
        return entry.copy

    def _drop_copy(self, entry: _Entry, wait: bool = True) -> None:
        """Close the entry's copy once no request uses it (its summary and view stay cached); without
        `wait`, only if none does now (a request holding another entry's lock never waits for this one)."""
        if not entry.lock.acquire(blocking=wait):
            return
        try:
            if entry.copy is not None:
                entry.copy.close()
                entry.copy = None
        finally:
            entry.lock.release()
        with self._lock:
            self._used = [n for n in self._used if (e := self._entries.get(n)) is not None and e.copy is not None]
