"""Reading a store without touching it: a private copy of its database, and a stamp of its files.

SQLite readers of a WAL database write to its `-shm` index (and rebuild it after a crash), so the read
side never opens a store's own files while a driver may be writing them: it copies `rung.db` and
`rung.db-wal` into a private temporary folder and reads the copy. A copy taken while the driver
checkpoints is detected (the WAL header's salt changed) and taken again.

A store no driver has open (no `rung.db-wal`: SQLite removes it when the last connection closes,
a crashed driver leaves it) is read in place instead, as immutable (no lock, no `-shm`, nothing
written): copying a 150 MiB database cost the dashboard's first view of 100,000 trials 0.1-5 s of
disk time. Its stamp is taken again after opening; if a driver started meanwhile, it is copied as
above. A driver that starts later changes the stamp, which makes the dashboard take a new snapshot
at its next request.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rung.store.schema import DB_NAME
from rung.store.sqlite import Store

__all__ = ["Snapshot", "snapshot", "stamp"]

_ATTEMPTS = 5


def stamp(db: Path) -> tuple[int, ...]:
    """Sizes and mtimes of a database and its WAL: unchanged stamps mean unchanged contents."""
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


class Snapshot:
    """A private copy of an experiment's database, open for reading until `close()`: the read side
    keeps one while its queries (the dashboard's pages of trials) may come, and drops it when the
    store's files change.

    Attributes:
        store: a read-only `Store` over the copy; `conn`: its connection, for the read side's queries;
        `stamp`: the original's `stamp()` taken before it was copied; `direct`: the original is read
        in place (no driver had it open; see the module's docstring).
    """

    def __init__(self, storage: str | Path, name: str) -> None:
        path = Path(storage) / name
        db = path / DB_NAME
        wal = db.with_name(DB_NAME + "-wal")
        if not db.is_file():
            raise FileNotFoundError(f"no experiment {name!r} in {str(storage)!r}")
        self.stamp = stamp(db)
        self.direct = self.stamp[2] == -1  # no WAL: no driver has the database open
        if self.direct:
            # The stamp, taken again once open, says whether a driver started meanwhile.
            self.conn = sqlite3.connect(f"{db.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False)
            self.direct = stamp(db) == self.stamp
            if self.direct:
                self._remove = weakref.finalize(self, _remove, self.conn, None)
                try:
                    self.store = Store(path, self.conn, writable=False)
                except BaseException:
                    self._remove()
                    raise
                return
            self.conn.close()
        folder = tempfile.mkdtemp(prefix="rung-read-")
        try:
            copy = Path(folder) / DB_NAME
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
            self.conn = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # A copy nobody closed (a reader dropped) goes when it is collected, or at exit.
        self._remove = weakref.finalize(self, _remove, self.conn, folder)
        try:
            self.store = Store(path, self.conn, writable=False)
        except BaseException:
            self._remove()
            raise

    def close(self) -> None:
        """Close the copy and remove it; again does nothing."""
        self._remove()


def _remove(conn: sqlite3.Connection, folder: str | None) -> None:
    conn.close()
    if folder is not None:  # None: the original, read in place
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def snapshot(storage: str | Path, name: str) -> Iterator[Store]:
    """A read-only `Store` over a private copy of the experiment's database (the original is only read).

    Example:
        >>> with snapshot("rung-runs", "exp1") as store:  # doctest: +SKIP
        ...     rows = store.trials()
    """
    copy = Snapshot(storage, name)
    try:
        yield copy.store
    finally:
        copy.close()
