"""All SQL of `rung`: one experiment per database, written by the driver alone.

Layout under `<storage>/<name>/`: `rung.db` (SQLite in WAL mode) and `trials/<id>/` (checkpoint
files, the trial's log). Every write gets a sequence number from one counter, so the order of
events (trial added, result, status change) can be replayed on resume. Status events also carry the
tuner's clock time and the worker slot the trial held (schema version 2; older stores gain the two
columns when opened for writing and read as NULL otherwise). The setup pickle has a table of its own
(version 3; see `schema`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import cloudpickle

from rung.errors import ExperimentExistsError, ExperimentNotFoundError
from rung.store import checkpoints as files
from rung.store import driver, failures, opening
from rung.store.encoding import config_blob, dumps
from rung.store.idset import IdSet
from rung.store.schema import ADDED_EVENT_COLUMNS, DB_NAME, list_experiments
from rung.types import Config, Status

__all__ = ["INLINE_MAX", "Store"]

log = logging.getLogger(__name__)

INLINE_MAX = 64 * 1024
"""Checkpoints up to this size live in the database (one transaction with their result); larger ones in files."""


_OPEN_CHECKPOINTS = (
    f"SELECT c.seq, c.trial_id, c.path, t.status IN ({', '.join(repr(s.value) for s in Status if s.finished)})"
    " FROM checkpoints c JOIN trials t ON t.id = c.trial_id ORDER BY c.seq"
)
"""Every stored checkpoint, oldest first, and whether its trial has ended (the writer indexes the others)."""

# The statements of the writes that wait for the commit (see `Store._write_pending`).
_INSERT_TRIAL = (
    "INSERT INTO trials (id, config, config_blob, status, origin, parent_id, created, updated)"
    " VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?)"
)
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"
# A trial that ends well after a failed attempt (retried) keeps no error; the attempt's traceback
# stays in its retry event.
_UPDATE_STATUS = (
    "UPDATE trials SET status = ?1, error = CASE WHEN ?1 IN ('TERMINATED', 'STOPPED') THEN NULL"
    " ELSE COALESCE(?2, error) END, updated = MAX(updated, ?3) WHERE id = ?4"
)
_INSERT_RESULT = "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)"
_UPDATE_CHECKPOINT = "UPDATE checkpoints SET seq = ?, iteration = ?, path = ?, size = ?, data = ? WHERE seq = ?"
_UPDATE_RESULT_FIELDS = (
    "UPDATE trials SET iteration = ?, time_total = ?, last_result = ?,"
    " best_result = COALESCE(?, best_result), updated = MAX(updated, ?) WHERE id = ?"
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reads(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """A read that raises `StoreDamagedError` for a damaged database, not SQLite's own error."""

    @functools.wraps(method)
    def read(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        # `failures.reading` inlined: the tuner reads once per trial launch, and a context manager
        # and a Path per call cost it 5 % of its time with a million trials.
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            damage = failures.damaged(exc, self.path / DB_NAME)
            if damage is None:
                raise
            raise damage from exc

    return read


class Store:
    """One experiment's database and files. Open with `create`, `open` (to write) or `read`.

    Example:
        >>> store = Store.read("rung-runs", "exp1")  # doctest: +SKIP
        >>> [t["status"] for t in store.trials()]  # doctest: +SKIP
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, writable: bool, lock: int | None = None) -> None:
        self.path = path
        self._conn = conn
        self._writable = writable
        self._lock = lock  # the writer's hold on the experiment (see driver.take_lock)
        row = conn.execute(
            "SELECT MAX(s) FROM (SELECT MAX(seq) s FROM events UNION ALL SELECT MAX(seq) FROM results"
            " UNION ALL SELECT MAX(seq) FROM checkpoints)"
        ).fetchone()
        self._seq = int(row[0] or 0)
        if writable:
            opening.upgrade(conn)  # a store of an older schema (readers never write: they read it as it is)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
        self._timed = all(column in columns for column, _ in ADDED_EVENT_COLUMNS)
        self._setup_table = opening.has_setup_table(conn)
        self._closed = False
        self._files = files.Transaction()  # the checkpoint files the open transaction writes and replaces
        self._root = str(path)
        # Writes of the hot path (per trial and per report) wait in memory and go to SQLite in one
        # executemany per kind at commit, or before anything reads what they change; durability is
        # the same (commit). Each trial's latest result fields: written once per trial, not per result.
        self._trial_rows: dict[int, tuple[int, float, str, str | None, float]] = {}
        self._new_trials: list[tuple[Any, ...]] = []  # rows of `trials`
        self._event_rows: list[tuple[Any, ...]] = []  # rows of `events`
        self._status_rows: list[tuple[str, str | None, float, int]] = []  # (status, error, updated, trial)
        self._result_rows: list[tuple[int, int, int, str]] = []  # (seq, trial, iteration, data)
        # Checkpoints replacing a stored row: trial -> (seq, iteration, path, size, data, row's seq)
        self._checkpoint_rows: dict[int, tuple[int, int, str | None, int, bytes | None, int]] = {}
        # Each trial's stored checkpoints (seq, path), oldest first, so saving needs no query; an ended
        # trial's list is dropped (it saves no more), and its id kept in `_ended_with_checkpoints`.
        self._checkpoints: dict[int, list[tuple[int, str | None]]] = {}
        self._ended_with_checkpoints = IdSet()
        if writable:
            self._remove_leftovers(self._index_checkpoints())

    def _index_checkpoints(self) -> set[str]:
        """Index the stored checkpoints (see `_checkpoints`); returns the files of those of trials that
        have not ended."""
        self._checkpoints.clear()
        self._ended_with_checkpoints = IdSet()
        paths = set()
        for seq, trial_id, path, ended in self._conn.execute(_OPEN_CHECKPOINTS):
            if ended:
                self._ended_with_checkpoints.add(trial_id)
            else:
                self._checkpoints.setdefault(trial_id, []).append((seq, path))
                if path is not None:
                    paths.add(path)
        return paths

    def _remove_leftovers(self, referenced: set[str]) -> None:
        """Remove the files a killed driver left: checkpoint files (temporaries of a write cut short,
        files of a commit that never came) in the folders of the trials that may have been writing
        then (those that had not ended, and those added after the last commit), and a database a
        killed creator was building."""
        finished = ", ".join(repr(s.value) for s in Status if s.finished)
        open_ids = {i for (i,) in self._conn.execute(f"SELECT id FROM trials WHERE status NOT IN ({finished})")}
        last = int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM trials").fetchone()[0])
        try:
            freed = files.remove_leftovers(self.path, lambda i: i in open_ids or i > last, referenced)
            # A creator killed before naming its database (creators hold the lock this writer holds).
            for building in self.path.glob(f"{DB_NAME}.new-*"):
                # With its SQLite journal files, which a kill during the building leaves too.
                if re.fullmatch(rf"{re.escape(DB_NAME)}\.new-\d+(-journal|-wal|-shm)?", building.name):
                    freed += building.stat().st_size
                    files.remove(building)
        except OSError as exc:  # the run can go on with them: they only take room
            log.warning("could not remove the checkpoint files a killed driver left in %s: %s", self.path, exc)
            return
        if freed:
            log.info("removed %d bytes of checkpoint files a killed driver left in %s", freed, self.path)

    # Opening.
    _connect = staticmethod(opening.connect)

    @classmethod
    def create(
        cls,
        storage: str | Path,
        name: str,
        *,
        metric: str | None,
        mode: str | None,
        settings: Mapping[str, Any],
        space: Any,
        objective: str | None = None,
        setup: bytes | None = None,
    ) -> Store:
        path = Path(storage) / name
        if (path / DB_NAME).exists():
            raise ExperimentExistsError(
                f"experiment {name!r} already exists in {str(Path(storage))!r}; "
                "pass resume=True to continue it, or choose another name"
            )
        path.mkdir(parents=True, exist_ok=True)
        # The experiment's lock first: a driver that resumes the name while this one creates it is told
        # that it is busy, and by whom (it found nothing to resume, and would build its own).
        lock = driver.take_lock(path, name)
        try:
            if (path / DB_NAME).exists():  # created by a driver that has ended since the look above
                raise ExperimentExistsError(
                    f"experiment {name!r} already exists in {str(Path(storage))!r}; "
                    "pass resume=True to continue it, or choose another name"
                )
            opening.build(path, name, metric, mode, settings, space, objective, setup)
        except BaseException:
            driver.release_lock(lock)
            raise
        return cls._writer(path, name, lock)

    @classmethod
    def open(cls, storage: str | Path, name: str, *, writable: bool = True) -> Store:
        path = Path(storage) / name
        db = path / DB_NAME
        if not db.is_file():
            known = list_experiments(storage)
            raise ExperimentNotFoundError(
                f"no experiment {name!r} in {str(Path(storage))!r}; experiments there: {known or 'none'}"
            )
        if writable:
            return cls._writer(path, name)
        with failures.reading(db):
            return cls(path, cls._connect(db, writable=False), writable=False)

    @classmethod
    def _writer(cls, path: Path, name: str, lock: int | None = None) -> Store:
        """The experiment's one writer: holds its lock (taken now unless given), released if the store
        cannot be opened."""
        if lock is None:
            lock = driver.take_lock(path, name)
        try:
            with failures.reading(path / DB_NAME):
                store = cls(path, cls._connect(path / DB_NAME), writable=True, lock=lock)
        except BaseException:
            driver.release_lock(lock)
            raise
        store._begin()
        return store

    @classmethod
    def read(cls, storage: str | Path, name: str) -> Store:
        return cls.open(storage, name, writable=False)

    def close(self) -> None:
        """Commit (a writer), close the database and let go of the experiment; again does nothing."""
        if self._closed:
            return
        try:
            if self._writable and self._conn.in_transaction:
                self.commit()
        finally:
            self._closed = True
            self._files.close()
            self._conn.close()
            if self._lock is not None:
                driver.release_lock(self._lock)
                self._lock = None

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event, result or checkpoint (written or waiting to be)."""
        return self._seq

    # Writing (the driver only). Changes become durable at commit().
    def _begin(self) -> None:
        self._conn.execute("BEGIN")

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def commit(self) -> None:
        """Make every change since the last commit durable, then drop superseded checkpoint files.

        A commit that fails (a full disk: `StoreFullError`; another I/O error: `StoreWriteError`) is
        undone whole, and the store is as it was after the last commit (see `_fail`).
        """
        if not self._conn.in_transaction:
            self._begin()  # a commit cut short between its COMMIT and BEGIN (Ctrl-C) left none open
        self._wait_for_files()  # a row reaches the disk only after the file it names
        self._write_pending()
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail(exc)
        self._files.committed()  # only now may the files that the committed rows replaced go
        self._begin()

    def _wait_for_files(self, path: Path | None = None) -> None:
        """Wait for the checkpoint file `path` (or all of the open transaction) to be written; one that
        could not be (a full disk) fails the transaction."""
        failed = self._files.wait(path)
        if failed is not None:
            self._fail(failed[1], what=f"writing {failed[0].relative_to(self.path)}")

    def _fail(self, exc: BaseException, what: str = "") -> NoReturn:
        """Undo a write that failed (SQLite's, or of the checkpoint file `what`) and raise rung's error.

        SQLite rolls a transaction back when the disk fills or an I/O error stops a write (or may leave
        it open: then it is rolled back here), so the database is as of the last commit. The store
        follows: the writes waiting in memory are dropped, the checkpoint files that transaction
        replaced stay (the committed rows name them), those it wrote go (no committed row names them),
        and a new transaction begins, so that the caller can still record how the run ended.
        """
        self._undo()
        error = failures.write_error(exc, self.path, what)
        if error is exc:  # a bug, not the disk: SQLite's own error
            raise exc
        raise error from exc

    def discard(self) -> None:
        """Drop every change since the last commit, as a failed commit does (see `_fail`): a Ctrl-C may land
        half-way through storing an event, and only whole turns of the tuner's loop were acknowledged."""
        self._files.wait()  # the transaction's checkpoint files are written (or failed) before they go
        self._undo()

    def _undo(self) -> None:
        """Roll the open transaction back and follow in memory and on disk; a new transaction begins."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("the failed transaction of %s could not be rolled back", self.path, exc_info=True)
        for pending in (self._new_trials, self._event_rows, self._status_rows, self._result_rows):
            pending.clear()
        self._checkpoint_rows.clear()
        self._trial_rows.clear()
        try:
            self._index_checkpoints()
            named = {p for (p,) in self._conn.execute("SELECT path FROM checkpoints WHERE path IS NOT NULL")}
            self._files.failed(lambda path: str(path.relative_to(self.path)) in named)
            self._begin()
        except sqlite3.Error:  # the database cannot be read either: every file stays (see _remove_leftovers)
            log.warning("the store of %s cannot be read after a failed write", self.path, exc_info=True)

    def _execute(self, sql: str, parameters: Any = ()) -> None:
        """One write now, undone with the rest of its transaction if it fails (see `_fail`)."""
        try:
            self._conn.execute(sql, parameters)
        except sqlite3.Error as exc:
            self._fail(exc)

    def _write_pending(self) -> None:
        """Write every change still waiting in memory, in one statement per kind; new trials first
        (the updates after them find their rows)."""
        result_fields = [(*row, trial_id) for trial_id, row in self._trial_rows.items()]
        for sql, rows in (
            (_INSERT_TRIAL, self._new_trials),
            (_INSERT_EVENT, self._event_rows),
            (_UPDATE_STATUS, self._status_rows),
            (_INSERT_RESULT, self._result_rows),
            (_UPDATE_CHECKPOINT, list(self._checkpoint_rows.values())),
            (_UPDATE_RESULT_FIELDS, result_fields),
        ):
            if rows:
                try:
                    self._conn.executemany(sql, rows)
                except sqlite3.Error as exc:
                    self._fail(exc)
        for pending in (self._new_trials, self._event_rows, self._status_rows, self._result_rows):
            pending.clear()
        self._checkpoint_rows.clear()
        self._trial_rows.clear()

    def set_experiment(self, status: str, **fields: Any) -> None:
        """Record the experiment's status, and any of `settings`, `objective` and `setup` given."""
        sets = ["status = ?", "updated = ?"]
        values: list[Any] = [status, time.time()]
        for key, value in fields.items():
            if key not in ("settings", "objective", "setup"):
                raise KeyError(key)
            if key == "setup":  # its own row: the experiment's updates never rewrite the blob
                if value is None:
                    self._execute("DELETE FROM setup")
                else:
                    self._execute("INSERT OR REPLACE INTO setup VALUES (1, ?)", (value,))
                continue
            sets.append(f"{key} = ?")
            values.append(dumps(value) if key == "settings" else value)
        self._execute(f"UPDATE experiment SET {', '.join(sets)} WHERE id = 1", values)

    def add_trial(
        self, trial_id: int, config: Config, origin: str, parent_id: int | None = None, *, at: float | None = None
    ) -> None:
        """Record a new trial (PENDING); `at` is the tuner's clock time of its creation."""
        now = time.time()
        encoded = dumps(config)
        self._new_trials.append((trial_id, encoded, config_blob(config), origin, parent_id, now, now))
        # The event's JSON around the config's, encoded once (as dumps({"origin": ..., "config": ...}) gives).
        data = f'{{"origin":{dumps(origin)},"parent_id":{dumps(parent_id)},"config":{encoded}}}'
        self._event_rows.append((self._next(), trial_id, "PENDING", data, at, None))

    def set_status(
        self,
        trial_id: int,
        status: Status,
        *,
        error: str | None = None,
        at: float | None = None,
        slot: int | None = None,
        **data: Any,
    ) -> None:
        """Record a status change at the tuner's clock time `at`, with the worker slot the trial holds
        (RUNNING) or has just left (the event that ends a running stretch); None when it holds none."""
        self._status_rows.append((status.value, error, time.time(), trial_id))
        if status.finished and self._checkpoints.pop(trial_id, None) is not None:
            self._ended_with_checkpoints.add(trial_id)
        self._event_rows.append((self._next(), trial_id, status.value, dumps(data) if data else None, at, slot))

    def set_config(self, trial_id: int, config: Config) -> None:
        self._write_pending()  # the trial's row may be waiting
        self._execute(
            "UPDATE trials SET config = ?, config_blob = ? WHERE id = ?",
            (dumps(config), config_blob(config), trial_id),
        )

    def set_failures(self, trial_id: int, num_failures: int) -> None:
        self._write_pending()
        self._execute("UPDATE trials SET num_failures = ? WHERE id = ?", (num_failures, trial_id))

    def add_result(self, trial_id: int, result: Mapping[str, Any], best: Mapping[str, Any] | None) -> None:
        data = dumps(result)
        iteration = int(result["training_iteration"])
        self._result_rows.append((self._next(), trial_id, iteration, data))
        previous = self._trial_rows.get(trial_id)
        best_data = dumps(best) if best is not None else (previous[3] if previous is not None else None)
        self._trial_rows[trial_id] = (iteration, float(result.get("time_total_s", 0.0)), data, best_data, time.time())

    def save_checkpoint(self, trial_id: int, iteration: int, data: bytes) -> None:
        """Record a checkpoint (in the database if small, else in a file written atomically).

        It replaces the trial's older one; its file goes after the commit that replaces it. A file
        that cannot be written (a full disk) fails the transaction at the commit: `StoreFullError`.
        """
        path: str | None = None
        seq = self._next()
        if len(data) > INLINE_MAX:
            file = files.checkpoint_file(self.path, trial_id, iteration, seq)
            self._files.write(file, data)
            path = str(file.relative_to(self.path))
        row = (iteration, path, len(data), None if path else data)
        kept = self._checkpoints.get(trial_id)
        if kept is None:
            kept = self._checkpoints[trial_id] = self._stored_checkpoints(trial_id)
        if len(kept) == 1:
            # The common case: the stored row is replaced at commit, in one
            # statement for all trials (only the newest of several saves in between is written).
            old_seq, old_path = kept[0]
            waiting = self._checkpoint_rows.get(trial_id)
            self._checkpoint_rows[trial_id] = (seq, *row, old_seq if waiting is None else waiting[5])
            kept[0] = (seq, path)
            if old_path is not None and old_path != path:
                self._files.superseded.append(self.path / old_path)
            return
        waiting = self._checkpoint_rows.pop(trial_id, None)
        if waiting is not None:  # the rows below are found by their seq as stored
            self._execute(_UPDATE_CHECKPOINT, waiting)
        self._execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)", (seq, trial_id, *row))
        kept.append((seq, path))
        while len(kept) > 1:
            old_seq, old_path = kept.pop(0)
            self._execute("DELETE FROM checkpoints WHERE seq = ?", (old_seq,))
            if old_path is not None and old_path != path:
                self._files.superseded.append(self.path / old_path)

    def _stored_checkpoints(self, trial_id: int) -> list[tuple[int, str | None]]:
        """The (seq, path) of a trial's stored checkpoints, oldest first: none for a trial the writer has
        not seen save, else read back (a trial saving again after it ended, which the tuner never does)."""
        if trial_id not in self._ended_with_checkpoints:
            return []
        self._ended_with_checkpoints.discard(trial_id)
        self._write_pending()
        query = "SELECT seq, path FROM checkpoints WHERE trial_id = ? ORDER BY seq"
        return [(int(seq), path) for seq, path in self._conn.execute(query, (trial_id,))]

    # Reading.
    @_reads
    def latest_checkpoint(self, trial_id: int) -> tuple[int, bytes] | None:
        """(iteration, bytes) of the trial's newest checkpoint, or None."""
        waiting = self._checkpoint_rows.get(trial_id)
        if waiting is not None:
            _, iteration, path, _, data, _ = waiting
            return iteration, self._read_file(path) if path is not None else bytes(data or b"")
        if self._writable and trial_id not in self._checkpoints and trial_id not in self._ended_with_checkpoints:
            return None  # the writer knows every checkpoint it holds (a new trial asks on each launch)
        row = self._conn.execute(
            "SELECT iteration, path, data FROM checkpoints WHERE trial_id = ? ORDER BY seq DESC LIMIT 1",
            (trial_id,),
        ).fetchone()
        if row is None:
            return None
        iteration, path, data = row
        return int(iteration), bytes(data) if path is None else self._read_file(path)

    def _read_file(self, path: str) -> bytes:
        """A checkpoint file's bytes, once written (the writer's own may still be on its way)."""
        file = self.path / path
        self._wait_for_files(file)
        return files.read_bytes(file)

    @_reads
    def checkpoint_path(self, trial_id: int) -> Path | None:
        """The file of the trial's newest checkpoint; None if it has none or it lives in the database."""
        self._wait_for_files()  # the path is for reading the file
        waiting = self._checkpoint_rows.get(trial_id)
        if waiting is not None:
            return None if waiting[2] is None else self.path / waiting[2]
        row = self._conn.execute(
            "SELECT path FROM checkpoints WHERE trial_id = ? ORDER BY seq DESC LIMIT 1", (trial_id,)
        ).fetchone()
        return None if row is None or row[0] is None else self.path / row[0]

    @_reads
    def checkpoint_paths(self, *, first: int = 0, last: int = -1) -> dict[int, Path]:
        """`checkpoint_path` of every trial whose newest checkpoint is a file (of trials `first` to
        `last` if `last` is given), in one query."""
        self._wait_for_files()
        self._write_pending()
        newest: dict[int, str | None] = {}
        where, bounds = ("WHERE trial_id BETWEEN ? AND ?", (first, last)) if last >= 0 else ("", ())
        for trial_id, path in self._conn.execute(
            f"SELECT trial_id, path FROM checkpoints {where} ORDER BY seq", bounds
        ):
            newest[trial_id] = path
        return {trial_id: self.path / path for trial_id, path in newest.items() if path is not None}

    @_reads
    def checkpoint_iterations(self) -> dict[int, int]:
        """The iteration of every trial's newest checkpoint, in one query (a replay reads it)."""
        self._write_pending()
        newest: dict[int, int] = {}
        for trial_id, iteration in self._conn.execute("SELECT trial_id, iteration FROM checkpoints ORDER BY seq"):
            newest[trial_id] = int(iteration)
        return newest

    def log_file(self, trial_id: int) -> str:
        """The trial's log file as a string (cheaper than a Path on the tuner's hot path)."""
        return files.log_file(self._root, trial_id)

    @_reads
    def experiment(self, setup: bool = True) -> dict[str, Any]:
        """The experiment's row: name, version, status, settings, space, objective, and its `setup`
        (the pickle `rung resume` needs, as bytes, never unpickled here; None if it could not be
        stored); `setup=False` leaves that key out and does not read the blob."""
        cur = self._conn.execute("SELECT * FROM experiment WHERE id = 1")
        row = cur.fetchone()
        out = dict(zip([c[0] for c in cur.description], row, strict=True))
        blob = out.pop("setup", None)  # stores before version 3 keep it in this row
        if setup:
            if self._setup_table:
                found = self._conn.execute("SELECT data FROM setup WHERE id = 1").fetchone()
                blob = None if found is None else found[0]
            out["setup"] = blob
        out["settings"] = json.loads(out["settings"])
        out["space"] = json.loads(out["space"])
        out["status"] = driver.status(out["status"], out["settings"])
        return out

    @_reads
    def trials(
        self, objects: bool = False, *, first: int = 0, last: int = -1, limit: int = -1, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Every trial's row (ids `first` to `last` if `last` is given; at most `limit` of them after
        skipping `offset`), its config read from JSON: a config holding objects (a class in a `choice`)
        has their stored text. `objects=True` unpickles those configs into the objects themselves, which
        runs code from the store: only for running the objective (resume), or for a store you trust."""
        self._write_pending()
        if last < 0 and limit < 0 and not offset:
            cur = self._conn.execute("SELECT * FROM trials ORDER BY id")
        else:
            bounded = "SELECT * FROM trials WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ? OFFSET ?"
            cur = self._conn.execute(bounded, (first, last if last >= 0 else 2**62, limit, offset))
        names = [c[0] for c in cur.description]
        out = []
        for row in cur.fetchall():
            trial = dict(zip(names, row, strict=True))
            blob = trial.pop("config_blob")
            trial["config"] = cloudpickle.loads(blob) if blob is not None and objects else json.loads(trial["config"])
            for key in ("last_result", "best_result"):
                trial[key] = json.loads(trial[key]) if trial[key] is not None else None
            out.append(trial)
        return out

    @_reads
    def trial_span(self) -> tuple[int, int, int]:
        """How many trials are stored, and their smallest and largest id (0 without trials)."""
        self._write_pending()
        count, low, high = self._conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM trials").fetchone()
        return int(count), int(low or 0), int(high or 0)

    @_reads
    def ranked(
        self, column: str, metric: str, *, descending: bool, last: int, limit: int, offset: int = 0
    ) -> list[tuple[int, Any]]:
        """(trial id, value) of the trials up to id `last` whose JSON `column` ("best_result" or
        "last_result") holds a finite number under `metric`, best first (then by id), read by SQLite:
        `limit` of them after the first `offset`."""
        from rung.store import jsonsql  # numpy: imported by the read side only

        if column not in ("best_result", "last_result"):
            raise ValueError(f"ranked: column must be 'best_result' or 'last_result'; got {column!r}")
        self._write_pending()
        jsonsql.install(self._conn)
        value, parameters = jsonsql.value_sql(column, [metric])
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT id, v FROM (SELECT id, {value} AS v FROM trials WHERE id <= ? AND {column} IS NOT NULL)"
            " WHERE typeof(v) IN ('integer', 'real') AND abs(v) <= 1.7976931348623157e308"
            f" ORDER BY v {order}, id LIMIT ? OFFSET ?"
        )
        return self._conn.execute(sql, [*parameters, last, limit, offset]).fetchall()

    @_reads
    def total_cost(self, settings: Mapping[str, Any] | None) -> float | None:
        """The money the experiment spent (None: run without prices), summed by SQLite over the
        trials' latest results (see `rung.store.spent`): no trial is read into Python."""
        from rung.store import jsonsql, spent  # numpy: imported by the read side only

        if not spent.priced(settings):
            return None
        self._write_pending()
        jsonsql.install(self._conn)
        return spent.total_sql(self._conn, settings)

    @_reads
    def results(self, trial_id: int | None = None) -> list[dict[str, Any]]:
        """Results in the order they were stored (of one trial, or all with a `trial_id` key)."""
        self._write_pending()
        if trial_id is None:
            rows = self._conn.execute("SELECT trial_id, data FROM results ORDER BY seq").fetchall()
            return [{**json.loads(d), "trial_id": t} for t, d in rows]
        rows = self._conn.execute(
            "SELECT data FROM results WHERE trial_id = ? ORDER BY iteration", (trial_id,)
        ).fetchall()
        return [json.loads(d) for (d,) in rows]

    @_reads
    def result_at(self, trial_id: int, iteration: int) -> dict[str, Any] | None:
        """The trial's result of one iteration, or None."""
        self._write_pending()
        row = self._conn.execute(
            "SELECT data FROM results WHERE trial_id = ? AND iteration = ?", (trial_id, iteration)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def history(self) -> Iterator[tuple[str, int, Any]]:
        """Every stored event in order: ("status", trial_id, (status, data)) or ("result", trial_id, result)."""
        for kind, trial_id, data, _at, _slot in self.timed_history():
            yield kind, trial_id, data

    def timed_history(self, since: int = 0) -> Iterator[tuple[str, int, Any, float | None, int | None]]:
        """`history()` with each status event's clock time and slot (None for results, and in old stores);
        only what came after sequence number `since` (see `last_seq`) when given."""
        self._write_pending()
        extra = "time, slot" if self._timed else "NULL, NULL"
        with failures.reading(self.path / DB_NAME):  # the rows are read as they are iterated
            rows = self._conn.execute(
                f"SELECT seq, 'status', trial_id, status, data, {extra} FROM events WHERE seq > ?1"
                " UNION ALL SELECT seq, 'result', trial_id, NULL, data, NULL, NULL FROM results WHERE seq > ?1"
                " ORDER BY 1",
                (since,),
            )
            for _seq, kind, trial_id, status, data, at, slot in rows:
                if kind == "result":
                    yield kind, trial_id, json.loads(data), None, None
                else:
                    yield kind, trial_id, (Status(status), json.loads(data) if data else {}), at, slot
