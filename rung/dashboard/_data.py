"""The dashboard's read layer: JSON-ready views of stored experiments, without touching the store.

SQLite readers of a WAL database write to its `-shm` index (and rebuild it after a crash), so the
dashboard never opens the store's own files: it copies `rung.db` and `rung.db-wal` into a private
temporary folder and reads the copy. A copy taken while the driver checkpoints is detected (the
WAL header's salt changed) and taken again. Views are cached by the files' sizes and mtimes.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cloudpickle

from rung._numbers import finite
from rung.dashboard import _timeline
from rung.store import driver
from rung.store.schema import DB_NAME
from rung.store.sqlite import Store
from rung.types import Status, flatten

__all__ = ["Reader", "clean", "experiment_view", "list_view"]

log = logging.getLogger("rung")

_ATTEMPTS = 5


def clean(value: Any) -> Any:
    """`value` with NaN and inf replaced by None (browsers' JSON.parse rejects them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _stamp(db: Path) -> tuple[int, ...]:
    out: list[int] = []
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            st = path.stat()
        except FileNotFoundError:
            out += [-1, -1]
        else:
            out += [st.st_size, st.st_mtime_ns]
    return tuple(out)


def _wal_salt(wal: Path) -> bytes:
    try:
        with wal.open("rb") as fh:
            return fh.read(32)[16:24]
    except FileNotFoundError:
        return b""


@contextmanager
def snapshot(storage: str | Path, name: str) -> Iterator[Store]:
    """A `Store` over a private copy of the experiment's database (the original is only read)."""
    path = Path(storage) / name
    db = path / DB_NAME
    wal = db.with_name(DB_NAME + "-wal")
    if not db.is_file():
        raise FileNotFoundError(f"no experiment {name!r} in {str(storage)!r}")
    with tempfile.TemporaryDirectory(prefix="rung-dashboard-") as tmp:
        copy = Path(tmp) / DB_NAME
        for _ in range(_ATTEMPTS):
            salt = _wal_salt(wal)
            shutil.copyfile(db, copy)
            if wal.exists():
                try:
                    shutil.copyfile(wal, copy.with_name(DB_NAME + "-wal"))
                except FileNotFoundError:  # checkpointed and removed meanwhile: the db has it all
                    continue
            if _wal_salt(wal) == salt:
                break
        conn = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
        try:
            yield Store(path, conn, writable=False)
        finally:
            conn.close()


def _fidelity(experiment: dict[str, Any]) -> tuple[str, list[float]]:
    """The scheduler's time_attr and milestones, from the settings or the pickled scheduler."""
    settings = experiment.get("settings") or {}
    fid = settings.get("fidelity")
    if isinstance(fid, dict):
        return str(fid.get("time_attr", "training_iteration")), [float(m) for m in fid.get("milestones", [])]
    # WORKAROUND until run() stores settings["fidelity"]: ask the pickled scheduler.
    blob = experiment.get("setup")
    if blob:
        try:
            scheduler = cloudpickle.loads(blob).get("scheduler")
            answer = scheduler.fidelity() if scheduler is not None else None
            if answer is not None:
                return str(answer[0]), [float(m) for m in answer[1]]
            time_attr = getattr(scheduler, "time_attr", None)
            if isinstance(time_attr, str):
                return time_attr, []
        except Exception:  # the objective's module may not import here: no milestones then
            log.debug("dashboard: could not read the scheduler of %r", experiment.get("name"), exc_info=True)
    return "training_iteration", []


def _better(value: float, best: float, mode: str) -> bool:
    return value > best if mode == "max" else value < best


def _summary(store: Store) -> dict[str, Any]:
    exp = store.experiment()
    rows = store.trials(plain=True)
    metric, mode = exp["metric"], exp["mode"] or "min"
    counts: dict[str, int] = {}
    best: float | None = None
    for row in rows:
        status = driver.shown(row["status"], exp["status"])
        counts[status] = counts.get(status, 0) + 1
        value: Any = (row["best_result"] or {}).get(metric) if metric else None
        if finite(value) and (best is None or _better(float(value), best, mode)):
            best = float(value)
    return {
        "name": store.path.name,  # the folder: a copied or renamed experiment is found (and linked) by it
        "status": exp["status"],
        "metric": metric,
        "mode": mode,
        "created": exp["created"],
        # The experiment row changes only at start and end: a running one is as recent as its trials.
        "updated": max([exp["updated"], *(row["updated"] for row in rows)]),
        "trials": len(rows),
        "by_status": counts,
        "best": best,
    }


def list_view(storage: str | Path) -> list[dict[str, Any]]:
    """One summary per experiment under `storage` (unreadable ones are listed with their error)."""
    root = Path(storage)
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for child in sorted(root.iterdir()):
        if not (child / DB_NAME).is_file():
            continue
        try:
            with snapshot(root, child.name) as store:
                out.append(clean(_summary(store)))
        except Exception as exc:  # damaged, or unreadable here: listed as such, the others still shown
            out.append({"name": child.name, "status": "UNREADABLE", "error": str(exc)})
    return out


def _importance(rows: list[dict[str, Any]], metric: str | None) -> dict[str, float]:
    """Per hyperparameter (nested ones as `a/b`): |Spearman correlation| of a number with the trials'
    best metric, or, for anything else, the correlation ratio adjusted for the number of groups
    (sqrt of epsilon squared): with one group per trial (an id, a seed) the plain ratio is always 1."""
    if metric is None:
        return {}
    import numpy as np
    from scipy.stats import rankdata

    scored = [
        (flatten(r["config"], "/"), float(r["best_result"][metric]))
        for r in rows
        if finite((r["best_result"] or {}).get(metric))
    ]
    if len(scored) < 3:
        return {}
    y = np.array([v for _, v in scored])
    ry = rankdata(y)
    total = float(((y - y.mean()) ** 2).sum())
    out: dict[str, float] = {}
    for key in sorted({k for config, _ in scored for k in config}):
        values = [config.get(key) for config, _ in scored]
        if all(finite(v) for v in values):
            x = rankdata(np.array(values, dtype=float))
            if x.std() > 0 and ry.std() > 0:
                out[key] = float(abs(np.corrcoef(x, ry)[0, 1]))
            continue
        _, group = np.unique([repr(v) for v in values], return_inverse=True)
        n, k = len(values), int(group.max()) + 1
        if total == 0 or k < 2 or n - k < 2:
            continue  # one value, or too few trials per value to tell anything
        counts = np.bincount(group)
        means = np.bincount(group, weights=y) / counts
        between = float((counts * (means - y.mean()) ** 2).sum())
        adjusted = 1.0 - (1.0 - between / total) * (n - 1) / (n - k)
        out[key] = float(math.sqrt(max(0.0, adjusted)))
    return out


def experiment_view(storage: str | Path, name: str) -> dict[str, Any]:
    """Everything the experiment page draws, as plain JSON-ready data."""
    with snapshot(storage, name) as store:
        exp = store.experiment()
        rows = store.trials(plain=True)
        results = []
        schedules: dict[int, list[dict[str, Any]]] = {}
        records = list(store.timed_history())
        for kind, trial_id, data, _at, _slot in records:
            if kind == "result":
                results.append({**data, "trial_id": trial_id})
                continue
            status, info = data
            if "origin" in info:
                schedules.setdefault(trial_id, []).append(
                    {"iteration": 0, "config": info.get("config"), "from_trial": info.get("parent_id")}
                )
            elif info.get("reverted") and len(schedules.get(trial_id, [])) > 1:
                schedules[trial_id].pop()  # ended before its last change made a result: undone
            elif "iteration" in info and status is Status.RUNNING:
                entries = schedules.setdefault(trial_id, [])
                previous = entries[-1]["config"] if entries else None
                entries.append(
                    {
                        "iteration": int(info["iteration"]),
                        "config": info.get("config", previous),
                        "from_trial": info.get("from_trial"),
                    }
                )
    time_attr, milestones = _fidelity(exp)
    metric, mode = exp["metric"], exp["mode"] or "min"
    curves: dict[int, list[list[Any]]] = {}
    best_so_far: list[list[float]] = []
    best: float | None = None
    for res in sorted(results, key=lambda r: float(r.get("timestamp", 0.0))):
        value: Any = res.get(metric) if metric else None
        curves.setdefault(res["trial_id"], []).append([res.get(time_attr), value if finite(value) else None])
        if finite(value) and (best is None or _better(float(value), best, mode)):
            best = float(value)
            best_so_far.append([float(res.get("timestamp", 0.0)), best])
    for points in curves.values():
        points.sort(key=lambda p: (p[0] is None, p[0] if finite(p[0]) else 0))
    trials = [
        {
            "id": r["id"],
            "status": driver.shown(r["status"], exp["status"]),
            "config": r["config"],
            "last": r["last_result"],
            "best": r["best_result"],
            "iteration": r["iteration"],
            "error": r["error"],
            "parent_id": r["parent_id"],
            "num_failures": r["num_failures"],
        }
        for r in rows
    ]
    view = {
        "summary": _summary_from(Path(storage) / name, exp, rows),
        "settings": exp["settings"],
        "time_attr": time_attr,
        "milestones": milestones,
        "trials": trials,
        "curves": {str(k): v for k, v in curves.items()},
        "best_so_far": best_so_far,
        "timeline": _timeline.spans(records, time_attr, milestones, running=exp["status"] == "RUNNING"),
        "timeline_legend": _timeline.legend(time_attr, milestones),
        "importance": _importance(rows, metric),
        # Every trial's schedule (donors too) once any trial changed its config; else none.
        "schedules": {str(k): v for k, v in schedules.items()} if any(len(v) > 1 for v in schedules.values()) else {},
    }
    return clean(view)  # type: ignore[no-any-return]


def _summary_from(path: Path, exp: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    class _Rows:
        def __init__(self) -> None:
            self.path = path

        def experiment(self) -> dict[str, Any]:
            return exp

        def trials(self, plain: bool = False) -> list[dict[str, Any]]:
            return rows

    return _summary(_Rows())  # type: ignore[arg-type]


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
            stamp = _stamp(db)
            with self._lock:
                hit = self._summaries.get(child.name)
            if hit is None or hit[0] != stamp or _driver_gone(hit[1], hit[2]):
                driver_of: Any = None
                try:
                    with snapshot(self.storage, child.name) as store:
                        summary = clean(_summary(store))
                        driver_of = store.experiment()["settings"].get("driver")
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
            stamp = _stamp(self.storage / name / DB_NAME)
            with self._lock:
                hit = self._cache.get(name)
            if hit is not None and hit[0] == stamp:
                view = hit[1]
                if not _driver_gone(view["summary"], (view.get("settings") or {}).get("driver")):
                    return view
            view = experiment_view(self.storage, name)
            with self._lock:
                self._cache[name] = (stamp, view)
            return view
