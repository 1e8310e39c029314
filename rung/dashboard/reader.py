"""The dashboard's cache of store views: a view is rebuilt only when the store's files changed."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from rung.store import driver, views
from rung.store import snapshot as snap
from rung.store.schema import DB_NAME

__all__ = ["Reader"]


def _driver_gone(summary: dict[str, Any], driver_of: Any) -> bool:
    """Whether a view made while the experiment ran is stale because its driver has died since: KILLED
    is read from the driver's process, which can end without a file of the store changing."""
    return summary.get("status") == "RUNNING" and driver.status("RUNNING", {"driver": driver_of}) != "RUNNING"


class Reader:
    """Cached views: a view is rebuilt only when the database or its WAL changed on disk.

    Example:
        >>> Reader("rung-runs").experiment("exp1")["summary"]["status"]  # doctest: +SKIP
    """

    def __init__(self, storage: str | Path) -> None:
        self.storage = Path(storage)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {}
        self._summaries: dict[str, tuple[tuple[int, ...], dict[str, Any], Any]] = {}
        self._building: dict[str, threading.Lock] = {}

    def experiments(self) -> list[dict[str, Any]]:
        """A summary per experiment, as `list_view`, re-read only for stores that changed."""
        out: list[dict[str, Any]] = []
        if not self.storage.is_dir():
            return out
        for child in sorted(self.storage.iterdir()):
            db = child / DB_NAME
            if not db.is_file():
                continue
            stamp = snap.stamp(db)
            with self._lock:
                hit = self._summaries.get(child.name)
            if hit is None or hit[0] != stamp or _driver_gone(hit[1], hit[2]):
                driver_of: Any = None
                try:
                    with snap.snapshot(self.storage, child.name) as store:
                        summary = views.clean(views.summary(store))
                        driver_of = store.experiment(setup=False)["settings"].get("driver")
                except Exception as exc:  # damaged, or unreadable here: listed as such, the others still shown
                    summary = {"name": child.name, "status": "UNREADABLE", "error": str(exc)}
                hit = (stamp, summary, driver_of)
                with self._lock:
                    self._summaries[child.name] = hit
            out.append(hit[1])
        return out

    def experiment(self, name: str) -> dict[str, Any]:
        try:
            found = name not in ("", ".", "..") and os.sep not in name and (self.storage / name / DB_NAME).is_file()
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            found = False
        if not found:
            raise FileNotFoundError(name)
        with self._lock:
            building = self._building.setdefault(name, threading.Lock())
        # One build per experiment at a time: requests that arrive meanwhile (a page's several charts,
        # several tabs) wait for it and take its view, instead of each copying and reading the store.
        with building:
            stamp = snap.stamp(self.storage / name / DB_NAME)
            with self._lock:
                hit = self._cache.get(name)
            if hit is not None and hit[0] == stamp:
                view = hit[1]
                if not _driver_gone(view["summary"], (view.get("settings") or {}).get("driver")):
                    return view
            view = views.experiment_view(self.storage, name)
            with self._lock:
                self._cache[name] = (stamp, view)
            return view
