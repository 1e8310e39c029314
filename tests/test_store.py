from __future__ import annotations

import math
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rung.errors import ExperimentBusyError, ExperimentExistsError
from rung.store import driver
from rung.store.idset import IdSet
from rung.store.schema import list_experiments
from rung.store.sqlite import INLINE_MAX, Store
from rung.types import Status


def _store(tmp_path: Path) -> Store:
    return Store.create(tmp_path, "exp", metric="loss", mode="min", settings={"a": 1}, space={"x": 1})


def test_small_checkpoints_inline_big_ones_in_files(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.save_checkpoint(1, 1, b"small")
    store.commit()
    assert store.latest_checkpoint(1) == (1, b"small") and store.checkpoint_path(1) is None
    big = b"b" * (INLINE_MAX + 1)
    store.save_checkpoint(1, 2, big)
    store.commit()
    path = store.checkpoint_path(1)
    assert path is not None and path.read_bytes() == big and store.latest_checkpoint(1) == (2, big)
    store.save_checkpoint(1, 3, b"small again")
    assert path.exists()  # the replaced file goes only once the replacement is committed
    store.commit()
    assert not path.exists() and store.latest_checkpoint(1) == (3, b"small again")
    store.add_trial(2, {"x": 2}, "searcher")
    store.save_checkpoint(2, 1, big)
    assert store.checkpoint_paths() == {2: store.checkpoint_path(2)} and store.checkpoint_path(1) is None
    # One row per trial is kept (keep=1), replaced in place.
    assert store._conn.execute("SELECT COUNT(*) FROM checkpoints WHERE trial_id = 1").fetchone()[0] == 1
    store.close()


def test_history_is_in_write_order_and_survives_reopen(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.set_status(1, Status.RUNNING)
    store.add_result(1, {"loss": math.nan, "training_iteration": 1, "time_total_s": 0.1}, None)
    store.add_trial(2, {"x": (1, 2)}, "scheduler", parent_id=1)  # a tuple: kept exactly (pickled)
    store.add_result(1, {"loss": 0.5, "training_iteration": 2, "time_total_s": 0.2}, {"loss": 0.5})
    store.set_status(1, Status.TERMINATED)
    store.commit()
    store.close()

    again = Store.read(tmp_path, "exp")
    kinds = [(kind, trial_id) for kind, trial_id, _ in again.history()]
    assert kinds == [("status", 1), ("status", 1), ("result", 1), ("status", 2), ("result", 1), ("status", 1)]
    trials = again.trials(objects=True)
    assert trials[0]["status"] == "TERMINATED" and trials[0]["best_result"] == {"loss": 0.5}
    assert trials[1]["config"] == {"x": (1, 2)} and trials[1]["parent_id"] == 1
    assert again.trials()[1]["config"] == {"x": [1, 2]}  # read as JSON: nothing unpickled
    assert math.isnan(again.results(1)[0]["loss"])
    assert again.result_at(1, 2) == {"loss": 0.5, "training_iteration": 2, "time_total_s": 0.2}
    assert again.result_at(1, 3) is None
    assert again.experiment()["settings"] == {"a": 1}
    again.close()
    assert list_experiments(tmp_path) == ["exp"]


def test_uncommitted_writes_are_not_visible_to_readers(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    reader = Store.read(tmp_path, "exp")
    assert reader.trials() == []
    store.commit()
    assert [t["id"] for t in reader.trials()] == [1]
    reader.close()
    store.close()


class _InterruptedBegin(Store):
    """A store whose next BEGIN is cut short, as a Ctrl-C between COMMIT and BEGIN cuts it."""

    cut = False

    def _begin(self) -> None:
        if self.cut:
            self.cut = False
            raise KeyboardInterrupt
        super()._begin()


def test_a_commit_cut_short_between_commit_and_begin_leaves_the_store_usable(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.__class__ = _InterruptedBegin
    store.add_trial(1, {"x": 1}, "searcher")
    store.cut = True  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        store.commit()
    # What the tuner's Ctrl-C handler does next: it raised "cannot commit - no transaction is active",
    # and the experiment ended KILLED instead of INTERRUPTED.
    store.commit()
    store.set_experiment("INTERRUPTED")
    store.commit()
    store.close()
    reader = Store.read(tmp_path, "exp")
    assert reader.experiment()["status"] == "INTERRUPTED" and [t["id"] for t in reader.trials()] == [1]
    reader.close()


def test_numpy_values_are_stored_as_numbers(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.add_result(1, {"loss": np.float32(0.25), "n": np.int64(3), "training_iteration": 1}, None)
    store.commit()
    assert store.results(1)[0] == {"loss": 0.25, "n": 3, "training_iteration": 1}
    store.close()


def test_status_events_carry_clock_time_and_slot(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher", at=10.0)
    store.set_status(1, Status.RUNNING, at=11.0, slot=2)
    store.add_result(1, {"loss": 0.5, "training_iteration": 1}, {"loss": 0.5})
    store.set_status(1, Status.TERMINATED, at=12.5, slot=2)
    store.set_status(1, Status.STOPPED)  # times and slots are optional
    store.commit()
    assert [(kind, t, at, slot) for kind, t, _, at, slot in store.timed_history()] == [
        ("status", 1, 10.0, None),
        ("status", 1, 11.0, 2),
        ("result", 1, None, None),
        ("status", 1, 12.5, 2),
        ("status", 1, None, None),
    ]
    assert [data for _, _, data in store.history()] == [data for _, _, data, _, _ in store.timed_history()]
    store.close()


def _event_columns(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    finally:
        conn.close()


def test_store_of_schema_1_is_read_as_it_is_and_upgraded_when_opened_to_write(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.set_status(1, Status.RUNNING)
    store.close()
    db = tmp_path / "exp" / "rung.db"
    conn = sqlite3.connect(db)  # what a store written before event times and slots looks like
    conn.executescript(
        "ALTER TABLE events DROP COLUMN time; ALTER TABLE events DROP COLUMN slot; UPDATE experiment SET version = 1;"
    )
    conn.close()
    assert _event_columns(db) == ["seq", "trial_id", "status", "data"]

    reader = Store.read(tmp_path, "exp")
    assert [(t, at, slot) for _, t, _, at, slot in reader.timed_history()] == [(1, None, None), (1, None, None)]
    reader.close()
    assert _event_columns(db) == ["seq", "trial_id", "status", "data"]  # reading never changes it

    writer = Store.open(tmp_path, "exp")
    assert _event_columns(db) == ["seq", "trial_id", "status", "data", "time", "slot"]
    writer.set_status(1, Status.TERMINATED, at=3.0, slot=0)
    writer.commit()
    assert [(at, slot) for *_, at, slot in writer.timed_history()] == [(None, None), (None, None), (3.0, 0)]
    assert writer.experiment()["version"] == 3
    writer.close()


def test_a_trials_row_shows_its_latest_result_before_and_after_commit(tmp_path: Path) -> None:
    # Result fields reach the trial's row once per commit; reads and status changes see them first.
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.add_result(1, {"loss": 0.5, "training_iteration": 1, "time_total_s": 1.0}, {"loss": 0.5})
    store.add_result(1, {"loss": 0.7, "training_iteration": 2, "time_total_s": 2.0}, None)  # not better
    (row,) = store.trials()
    assert (row["iteration"], row["last_result"]["loss"], row["best_result"]["loss"]) == (2, 0.7, 0.5)
    store.add_result(1, {"loss": 0.6, "training_iteration": 3, "time_total_s": 3.0}, None)
    store.set_status(1, Status.TERMINATED)
    store.commit()
    store.close()
    (row,) = Store.read(tmp_path, "exp").trials()
    assert (row["iteration"], row["last_result"]["loss"], row["best_result"]["loss"]) == (3, 0.6, 0.5)
    assert row["status"] == "TERMINATED" and row["time_total"] == 3.0


def test_results_and_checkpoints_waiting_for_commit_are_read_back_and_stored_once(tmp_path: Path) -> None:
    # Results and replaced checkpoint rows go to SQLite at commit; the writer's own reads see them
    # before, a reader only after, and a crash before the commit loses them as it loses any write.
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.save_checkpoint(1, 1, b"one")
    store.commit()
    big = b"b" * (INLINE_MAX + 1)
    for iteration in (2, 3):
        store.add_result(1, {"loss": 1 / iteration, "training_iteration": iteration}, None)
        store.save_checkpoint(1, iteration, big + bytes([iteration]))
    store.add_result(1, {"loss": 0.25, "training_iteration": 3}, None)  # the same iteration again: replaced
    assert store.latest_checkpoint(1) == (3, big + b"\x03")
    path = store.checkpoint_path(1)
    assert path is not None and path.name.startswith("checkpoint-000003-")  # its iteration, then its seq
    assert [r["loss"] for r in store.results(1)] == [0.5, 0.25] and store.result_at(1, 2) == {
        "loss": 0.5,
        "training_iteration": 2,
    }
    reader = Store.read(tmp_path, "exp")
    assert reader.results(1) == [] and reader.latest_checkpoint(1) == (1, b"one")
    store.add_result(1, {"loss": 0.2, "training_iteration": 4}, None)
    store.save_checkpoint(1, 4, b"four")
    store.commit()
    assert not path.exists() and [p.name for p in path.parent.iterdir()] == []  # the third one is inline
    assert reader.latest_checkpoint(1) == (4, b"four")
    assert [r["training_iteration"] for r in reader.results(1)] == [2, 3, 4]
    assert [kind for kind, _, _ in reader.history()] == ["status", "result", "result", "result"]
    assert store._conn.execute("SELECT COUNT(*) FROM checkpoints WHERE trial_id = 1").fetchone()[0] == 1
    reader.close()
    store.close()


def test_discard_drops_what_was_not_committed_and_keeps_what_was(tmp_path: Path) -> None:
    # Ctrl-C between a checkpoint and its result: the tuner discards the half-stored event (see Tuner.run).
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    big = b"b" * (INLINE_MAX + 1)
    store.add_result(1, {"loss": 0.5, "training_iteration": 1}, None)
    store.save_checkpoint(1, 1, big + b"\x01")
    store.commit()
    kept = store.checkpoint_path(1)
    store.save_checkpoint(1, 2, big + b"\x02")  # its result never stored
    written = store.checkpoint_path(1)
    assert written is not None and written != kept and written.exists()
    store.discard()
    assert store.latest_checkpoint(1) == (1, big + b"\x01") and store.checkpoint_path(1) == kept
    assert not written.exists() and kept is not None and kept.exists()
    assert [r["training_iteration"] for r in store.results(1)] == [1]
    store.add_result(1, {"loss": 0.4, "training_iteration": 2}, None)  # the store goes on after it
    store.commit()
    reader = Store.read(tmp_path, "exp")
    assert [r["training_iteration"] for r in reader.results(1)] == [1, 2] and reader.latest_checkpoint(1)[0] == 1
    reader.close()
    store.close()


def test_an_ended_trials_checkpoints_stay_readable_when_the_writer_forgets_them(tmp_path: Path) -> None:
    # The writer indexes only the checkpoints of trials that may still save (memory per ended
    # trial); an ended trial's newest checkpoint is still read back, before and after reopening.
    store = _store(tmp_path)
    for trial_id in (1, 2):
        store.add_trial(trial_id, {"x": trial_id}, "searcher")
        store.save_checkpoint(trial_id, 1, b"first")
        store.commit()
        store.save_checkpoint(trial_id, 2, b"second")  # replaces the stored row at the commit
    store.set_status(1, Status.TERMINATED)
    store.commit()
    assert 1 not in store._checkpoints and store.latest_checkpoint(1) == (2, b"second")
    store.save_checkpoint(1, 3, b"after its end")  # never done by the tuner: read back, still keep=1
    store.commit()
    rows = store._conn.execute("SELECT iteration FROM checkpoints WHERE trial_id = 1").fetchall()
    assert rows == [(3,)] and store.latest_checkpoint(1) == (3, b"after its end")
    store.set_status(1, Status.STOPPED)
    store.commit()
    store.close()
    again = Store.open(tmp_path, "exp")
    assert set(again._checkpoints) == {2} and again.latest_checkpoint(1) == (3, b"after its end")
    again.save_checkpoint(2, 3, b"third")
    again.commit()
    assert again.latest_checkpoint(2) == (3, b"third")
    assert again._conn.execute("SELECT COUNT(*) FROM checkpoints WHERE trial_id = 2").fetchone()[0] == 1
    again.close()


def test_a_running_experiment_whose_driver_is_gone_shows_as_killed() -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)  # exited and reaped: no process has this id now (barring reuse)
    here = driver.here()
    assert driver.status("RUNNING", {"driver": here}) == "RUNNING"  # this process
    assert driver.status("RUNNING", {"driver": {**here, "pid": dead_pid}}) == driver.KILLED
    assert driver.status("FINISHED", {"driver": {**here, "pid": dead_pid}}) == "FINISHED"
    elsewhere = {"host": here["host"] + "-other", "pid": dead_pid}
    assert driver.status("RUNNING", {"driver": elsewhere}) == "RUNNING"  # cannot be checked from here
    assert driver.status("RUNNING", {}) == "RUNNING"  # stored before drivers were recorded


def test_id_set_holds_trial_ids_in_a_byte_each() -> None:
    ids = IdSet()
    assert 0 not in ids and 5 not in ids and "5" not in ids
    for trial_id in (5, 1, 1000, 0):
        ids.add(trial_id)
    assert [t for t in range(1002) if t in ids] == [0, 1, 5, 1000]
    ids.discard(5)
    ids.discard(10**9)  # never added: nothing to do
    assert 5 not in ids and 1000 in ids and len(ids._flags) < 2100  # grown by doubling, not per id
    with pytest.raises(ValueError, match=r"^IdSet holds trial ids >= 0; got -1$"):
        ids.add(-1)


def test_create_leaves_nothing_under_the_name_until_the_store_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # as if the driver died between building the store and naming it

    monkeypatch.setattr("os.link", killed)
    with pytest.raises(KeyboardInterrupt):
        Store.create(tmp_path, "e", metric="loss", mode="min", settings={}, space={})
    monkeypatch.undo()
    assert list_experiments(tmp_path) == [] and not (tmp_path / "e" / "rung.db").exists()
    store = Store.create(tmp_path, "e", metric="loss", mode="min", settings={}, space={})  # the name is free
    store.close()
    assert list_experiments(tmp_path) == ["e"] and sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        "driver.lock",
        "rung.db",
    ]
    with pytest.raises(ExperimentExistsError):
        Store.create(tmp_path, "e", metric="loss", mode="min", settings={}, space={})


def test_one_driver_at_a_time_and_the_error_names_the_one_running(tmp_path: Path) -> None:
    first = Store.create(tmp_path, "e", metric="loss", mode="min", settings={}, space={})
    here = driver.here()
    message = f"experiment 'e' in {str(tmp_path)!r} is busy: driver pid {here['pid']} on {here['host']} runs it."
    with pytest.raises(ExperimentBusyError, match=f"^{re.escape(message)} Wait for it to end, or stop it"):
        Store.open(tmp_path, "e")
    Store.read(tmp_path, "e").close()  # readers need no lock
    first.close()
    Store.open(tmp_path, "e").close()  # free again once the first writer closed
    # A driver killed without closing lets go too (the kernel drops the lock with the process).
    script = f"from rung.store.sqlite import Store; Store.open({str(tmp_path)!r}, 'e'); import os; os._exit(9)"
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    Store.open(tmp_path, "e").close()


def test_read_only_storage_is_read_and_resuming_it_says_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import rung

    rung.run(lambda c: {"loss": 0.5}, {}, metric="loss", executor="thread", name="e", storage=tmp_path, verbose=0)
    # As on a read-only mount: the folder cannot be written (SQLite could not make the WAL's files).
    real_access, real_connect = os.access, sqlite3.connect

    def connect(db: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if not kwargs.get("uri"):  # what a read-only mount answers to a plain open
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(db, *args, **kwargs)

    monkeypatch.setattr("os.access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    monkeypatch.setattr("rung.store.sqlite.sqlite3.connect", connect)
    result = rung.load("e", storage=tmp_path)
    assert result.status == "FINISHED" and result.best is not None and result.best.metrics["loss"] == 0.5

    def read_only(path: object, *args: object) -> int:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("rung.store.driver.os.open", read_only)
    message = (
        f"[Errno 30] experiment 'e' in {str(tmp_path)!r} cannot be written (Read-only file system); read it with"
        " rung.load, or copy it somewhere writable to resume it"
    )
    with pytest.raises(OSError, match=f"^{re.escape(message)}$"):
        rung.run(lambda c: {"loss": 0.5}, {}, metric="loss", executor="thread", name="e", storage=tmp_path,
                 resume=True, num_samples=2, verbose=0)  # fmt: skip
