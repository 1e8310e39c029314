"""The store when writing fails (a full disk, an I/O error), when a driver was killed mid-write, when
its file is damaged, and when another driver holds it: nothing acknowledged is lost, and the error
says what happened and what to do."""

from __future__ import annotations

import errno
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rung
from rung import api
from rung.errors import ExperimentBusyError, ExperimentNotFoundError, StoreDamagedError, StoreFullError
from rung.store import checkpoints as files
from rung.store import driver
from rung.store.sqlite import INLINE_MAX, Store


class _FullOnCommit(sqlite3.Connection):
    """A real SQLite connection whose next COMMIT, once armed, does what SQLite does when the disk
    fills during a commit: rolls the transaction back and raises SQLITE_FULL."""

    armed = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.armed:
            self.armed = False
            super().execute("ROLLBACK")
            full = sqlite3.OperationalError("database or disk is full")
            full.sqlite_errorcode = 13  # SQLITE_FULL  # type: ignore[attr-defined]
            full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
            raise full
        return super().execute(sql, *args)


@pytest.fixture
def full_on_commit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real(*a, **k, factory=_FullOnCommit))
    yield


def _store(tmp_path: Path) -> Store:
    return Store.create(tmp_path, "exp", metric="loss", mode="min", settings={}, space={})


def _arm(store: Store) -> None:
    conn = store._conn
    assert isinstance(conn, _FullOnCommit)
    conn.armed = True


def _checkpoint_files(folder: Path) -> set[str]:
    """Every file in the trials' folders but their logs, relative to the experiment's folder."""
    return {str(p.relative_to(folder)) for p in (folder / "trials").rglob("*") if p.is_file() and p.name != "log.txt"}


def _referenced(folder: Path) -> set[str]:
    with sqlite3.connect(folder / "rung.db") as conn:
        return {path for (path,) in conn.execute("SELECT path FROM checkpoints WHERE path IS NOT NULL")}


BIG = INLINE_MAX + 1


def test_a_commit_rolled_back_keeps_the_files_of_the_committed_rows(tmp_path: Path, full_on_commit: None) -> None:
    # The tuner's next commit after a failed one used to go through empty and delete the files the
    # committed rows still named: the experiment could never be resumed.
    store = _store(tmp_path)
    for trial_id in (1, 2):
        store.add_trial(trial_id, {"x": trial_id}, "searcher")
        store.save_checkpoint(trial_id, 1, bytes([trial_id]) * BIG)
    store.commit()
    store.add_result(1, {"loss": 0.5, "training_iteration": 2}, {"loss": 0.5})
    store.save_checkpoint(1, 2, b"\x03" * BIG)  # replaces trial 1's file: its old one is superseded
    store.save_checkpoint(2, 2, b"\x04" * BIG)
    store.save_checkpoint(2, 3, b"\x05" * BIG)  # twice before the commit
    _arm(store)
    with pytest.raises(StoreFullError) as failed:
        store.commit()
    folder = tmp_path / "exp"
    assert str(failed.value) == (
        f"experiment 'exp' stopped: the disk holding {str(folder)!r} is full (database or disk is full)."
        " What was acknowledged is stored; the changes since the last commit were rolled back. Resume it"
        f" once there is room: rung resume exp --storage {tmp_path} (or rung.run(..., name='exp',"
        f" storage={str(tmp_path)!r}, resume=True))"
    )
    store.commit()  # what the tuner does next (then it marks the experiment ERROR)
    store.set_experiment("ERROR")
    store.commit()
    store.close()
    # The committed rows' files are there, and the files of the rolled-back rows are gone.
    assert _checkpoint_files(folder) == _referenced(folder) and len(_referenced(folder)) == 2
    reader = Store.read(tmp_path, "exp")
    assert reader.latest_checkpoint(1) == (1, b"\x01" * BIG) and reader.latest_checkpoint(2) == (1, b"\x02" * BIG)
    assert reader.results(1) == [] and reader.experiment()["status"] == "ERROR"
    reader.close()
    # The writer opened again goes on from the committed rows.
    again = Store.open(tmp_path, "exp")
    assert again.latest_checkpoint(1) == (1, b"\x01" * BIG)
    again.save_checkpoint(1, 2, b"\x06" * BIG)
    again.commit()
    assert again.latest_checkpoint(1) == (2, b"\x06" * BIG)
    again.close()
    assert _checkpoint_files(folder) == _referenced(folder) and len(_referenced(folder)) == 2


def test_a_checkpoint_saved_again_at_the_same_iteration_never_overwrites_the_committed_file(
    tmp_path: Path, full_on_commit: None
) -> None:
    # PBT saves a donor's copy into a trial at the iteration the trial had reached: under the same
    # file name, the committed row named the copy's bytes before the copy was committed.
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.save_checkpoint(1, 10, b"own" * BIG)
    store.commit()
    store.save_checkpoint(1, 10, b"donor" * BIG)
    _arm(store)
    with pytest.raises(StoreFullError):
        store.commit()
    reader = Store.read(tmp_path, "exp")
    assert reader.latest_checkpoint(1) == (10, b"own" * BIG)
    reader.close()
    store.save_checkpoint(1, 10, b"donor" * BIG)
    store.commit()
    assert Store.read(tmp_path, "exp").latest_checkpoint(1) == (10, b"donor" * BIG)
    store.close()
    assert _checkpoint_files(tmp_path / "exp") == _referenced(tmp_path / "exp")


def _objective(acks: list[tuple[int, int]]) -> Callable[[dict[str, Any]], None]:
    def train(config: dict[str, Any]) -> None:
        """Six steps, each saving a checkpoint file; writes down each report() that returned."""
        step = rung.get_checkpoint() or {"step": 0}
        for i in range(step["step"], 6):
            rung.report(
                {"loss": config["x"] / (i + 1), "note": "n" * 400},  # a page of the database holds a few
                checkpoint={"step": i + 1, "pad": bytes(BIG)},
            )
            acks.append((rung.get_trial_id(), i + 1))

    return train


def _run(storage: Path, acks: list[tuple[int, int]], resume: bool = False) -> rung.ExperimentResult:
    return rung.run(
        _objective(acks),
        {"x": rung.grid([1.0, 2.0, 3.0])},
        metric="loss",
        executor="thread",
        max_concurrent=1,
        name="full",
        storage=storage,
        resume=resume,
        verbose=0,
    )


def _results(storage: Path) -> set[tuple[int, int]]:
    with sqlite3.connect(storage / "full" / "rung.db") as conn:
        return set(conn.execute("SELECT trial_id, iteration FROM results"))


def test_a_full_database_ends_the_run_with_a_named_error_and_the_resume_finishes(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real SQLITE_FULL: the writer's database may grow by a few pages only (max_page_count).
    real = Store._connect

    def limited(db: Path, writable: bool = True) -> sqlite3.Connection:
        conn = real(db, writable)
        if writable and db.name == "rung.db":
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(Store, "_connect", staticmethod(limited))
    acks: list[tuple[int, int]] = []
    with pytest.raises(StoreFullError, match=r"^experiment 'full' stopped: the disk holding .* is full \("):
        _run(storage, acks)
    folder = storage / "full"
    stored = _results(storage)
    assert 0 < len(stored) < 18 and set(acks) <= stored, "acknowledged but lost"
    assert _checkpoint_files(folder) == _referenced(folder)  # every row's file, and no other
    assert Store.read(storage, "full").experiment()["status"] == "ERROR"

    monkeypatch.undo()  # room again
    result = _run(storage, acks, resume=True)
    assert result.status == "FINISHED" and len(result.trials) == 3
    assert _results(storage) == {(t, i) for t in (1, 2, 3) for i in range(1, 7)} == set(acks)
    assert all(t.status is rung.Status.TERMINATED for t in result.trials)
    assert _checkpoint_files(folder) == _referenced(folder)


def test_a_full_disk_while_writing_a_checkpoint_file_ends_the_run_and_leaves_no_temporary(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    writes = 0

    def fsync(fd: int) -> None:  # a filesystem that says ENOSPC when the data reaches the disk
        nonlocal writes
        if os.fstat(fd).st_size > INLINE_MAX:
            writes += 1
            if writes == 8:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    acks: list[tuple[int, int]] = []
    with pytest.raises(StoreFullError) as failed:
        _run(storage, acks)
    assert re.match(
        r"experiment 'full' stopped: the disk holding .* is full \(writing trials/000002/checkpoint-000002-\d+\.pkl:"
        r" No space left on device\)\. What was acknowledged is stored; .* Resume it once there is room: rung resume",
        str(failed.value),
    ), str(failed.value)
    folder = storage / "full"
    assert set(acks) <= _results(storage) and _checkpoint_files(folder) == _referenced(folder)
    monkeypatch.undo()
    result = _run(storage, acks, resume=True)
    assert result.status == "FINISHED" and set(acks) == _results(storage) and len(acks) == 18


def test_temporaries_and_uncommitted_checkpoint_files_of_a_killed_driver_are_removed_on_resume(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.add_trial(1, {"x": 1}, "searcher")
    store.add_trial(2, {"x": 2}, "searcher")
    store.save_checkpoint(1, 1, b"1" * BIG)
    store.save_checkpoint(2, 1, b"2" * BIG)
    store.set_status(2, rung.Status.TERMINATED)
    store.commit()
    store.save_checkpoint(1, 2, b"newer" * BIG)
    store.close()  # (committed: its file stays; the files below are what a killed driver leaves)
    folder = tmp_path / "exp"
    committed = _referenced(folder)
    one, two = files.trial_dir(folder, 1), files.trial_dir(folder, 2)
    leftovers = [
        one / ".checkpoint-000003-9.pkl.tmp-4242",  # a kill during a large write
        one / ".checkpoint-000003.pkl.tmp-4243",  # as older versions named it
        one / "checkpoint-000004-12.pkl",  # written, the driver killed before its commit
        files.trial_dir(folder, 3) / ".checkpoint-000001-13.pkl.tmp-4244",  # a trial never committed
        folder / "rung.db.new-4245",  # a driver killed creating the name, before this one created it
        folder / "rung.db.new-4246-journal",  # ... while SQLite wrote the schema (its rollback journal)
        folder / "rung.db.new-4247-wal",  # ... once the database it built was in WAL mode
    ]
    kept = [one / "notes.txt", one / "log.txt", two / ".checkpoint-000001-3.pkl.tmp-1"]  # not ours / ended
    for path in [*leftovers, *kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    Store.read(tmp_path, "exp").close()  # readers change nothing
    assert all(p.exists() for p in leftovers)
    Store.open(tmp_path, "exp").close()
    assert [p for p in leftovers if p.exists()] == [] and all(p.exists() for p in kept)
    assert _referenced(folder) == committed and all((folder / p).exists() for p in committed)


KILLED_WRITING = textwrap.dedent(
    """
    import os, signal, sys
    import rung
    from rung.store import checkpoints

    storage, acks, where = sys.argv[1], sys.argv[2], sys.argv[3]
    real_replace, renames = os.replace, []

    def replace(src, dst):  # the driver dies writing its third checkpoint file
        renames.append(dst)
        if where != "before" or len(renames) != 3:
            real_replace(src, dst)
        if len(renames) == 3 and where != "none":
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoints.os.replace = replace

    def train(config):
        step = rung.get_checkpoint() or {"step": 0}
        for i in range(step["step"], 4):
            rung.report({"loss": config["x"] / (i + 1)}, checkpoint={"step": i + 1, "pad": bytes(100_000)})
            with open(acks, "a") as f:
                f.write(f"{rung.get_trial_id()} {i + 1}\\n")

    rung.run(train, {"x": rung.grid([1.0, 2.0])}, metric="loss", executor="thread",
             max_concurrent=1, name="killed", storage=storage, resume=True, verbose=0)
    """
)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_driver_killed_writing_a_checkpoint_file_leaves_nothing_after_its_resume(where: str, tmp_path: Path) -> None:
    # Killed before the rename: a temporary file is left; after it: a whole file that no row names
    # (its commit never came). The resume removes either, and finishes.
    script, storage, acks = tmp_path / "driver.py", tmp_path / "runs", tmp_path / "acks.txt"
    script.write_text(KILLED_WRITING)
    run = [sys.executable, str(script), str(storage), str(acks)]
    killed = subprocess.run([*run, where], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = storage / "killed"
    left = _checkpoint_files(folder) - _referenced(folder)
    pattern = r"\.checkpoint-000003-\d+\.pkl\.tmp-\d+" if where == "before" else r"checkpoint-000003-\d+\.pkl"
    assert [re.fullmatch(f"trials/000001/{pattern}", p) is not None for p in left] == [True], left
    resumed = subprocess.run([*run, "none"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert _checkpoint_files(folder) == _referenced(folder)
    with sqlite3.connect(folder / "rung.db") as conn:
        stored = set(conn.execute("SELECT trial_id, iteration FROM results"))
    acknowledged = {tuple(map(int, line.split())) for line in acks.read_text().splitlines()}
    assert stored == acknowledged == {(t, i) for t in (1, 2) for i in range(1, 5)}


def test_checkpoint_files_reach_the_disk_before_their_name_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file's data is synced before the rename makes it the checkpoint, and the folder after it
    # (so the new name outlives a power cut too).
    real_fsync, real_replace = os.fsync, os.replace
    done: list[str] = []

    def fsync(fd: int) -> None:
        done.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        done.append(f"replace {src} {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    target = tmp_path / "trial" / "checkpoint.pkl"
    files.write_atomic(target, b"data")
    tmp = target.with_name(f".checkpoint.pkl.tmp-{os.getpid()}")
    # (The new folder's name is synced in its parent first.)
    assert done == [f"fsync {tmp_path}", f"fsync {tmp}", f"replace {tmp} {target}", f"fsync {target.parent}"]
    assert target.read_bytes() == b"data" and not tmp.exists()


def test_a_damaged_store_raises_rungs_error_from_python(storage: Path) -> None:
    rung.run(
        lambda c: {"loss": c["x"]},
        {"x": rung.grid([1, 2])},
        metric="loss",
        executor="thread",
        name="e",
        storage=storage,
        verbose=0,
    )
    db = storage / "e" / "rung.db"
    good = db.read_bytes()
    message = f"the experiment's store ({db}) cannot be read: file is not a database; is it damaged?"
    db.write_bytes(b"not a database, " * 512)
    for call in (
        lambda: rung.load("e", storage=storage),
        lambda: rung.run(
            lambda c: {"loss": 1.0},
            {},
            metric="loss",
            executor="thread",
            name="e",
            storage=storage,
            resume=True,
            verbose=0,
        ),
    ):
        with pytest.raises(StoreDamagedError, match=f"^{re.escape(message)}$"):
            call()
    db.write_bytes(good[:4096] + b"\xff" * (len(good) - 4096))  # the header holds, the pages do not
    with pytest.raises(StoreDamagedError, match=r"cannot be read: .*; is it damaged\?$"):
        rung.load("e", storage=storage)


def test_a_second_driver_is_told_the_experiment_is_busy_and_by_whom(tmp_path: Path) -> None:
    first = _store(tmp_path)
    here = driver.here()
    message = (
        f"experiment 'exp' in {str(tmp_path)!r} is busy: driver pid {here['pid']} on {here['host']} runs it. Wait"
        " for it to end, or stop it (it stays resumable) and then resume; or choose another name"
    )
    with pytest.raises(ExperimentBusyError, match=f"^{re.escape(message)}$"):
        Store.open(tmp_path, "exp")
    first.close()


def test_a_driver_resuming_while_another_creates_the_experiment_is_told_it_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two drivers start `resume=True` on a new name together: the second one looks while the first
    # is still building the store. It was told to "pass resume=True", which it had passed.
    real_link = os.link
    seen: list[BaseException] = []

    def link(src: Any, dst: Any) -> None:
        monkeypatch.setattr(os, "link", real_link)
        with pytest.raises(ExperimentNotFoundError):
            Store.open(tmp_path, "exp")  # nothing under the name yet
        try:
            Store.create(tmp_path, "exp", metric="loss", mode="min", settings={}, space={}).close()
        except BaseException as exc:
            seen.append(exc)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    first = _store(tmp_path)
    first.close()
    assert [type(e) for e in seen] == [ExperimentBusyError] and "is busy: driver pid" in str(seen[0])


def test_resume_true_resumes_an_experiment_created_meanwhile(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The other driver created the experiment (and ended) between this driver's look and its create.
    real_open = Store.open

    def open_(storage_: str | Path, name: str, *, writable: bool = True) -> Store:
        monkeypatch.setattr(Store, "open", real_open)
        rung.run(lambda c: {"loss": 1.0}, {}, metric="loss", executor="thread", name=name, storage=storage_, verbose=0)
        raise ExperimentNotFoundError(name)

    monkeypatch.setattr(Store, "open", staticmethod(open_))
    result = api.run(
        lambda c: {"loss": 1.0},
        {},
        metric="loss",
        executor="thread",
        name="e",
        storage=storage,
        resume=True,
        verbose=0,
        num_samples=2,
    )
    assert len(result.trials) == 2
