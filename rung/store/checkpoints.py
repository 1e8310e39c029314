"""Checkpoint files: written atomically and durably (temporary file, fsync, rename), one folder per trial."""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

__all__ = [
    "Transaction",
    "checkpoint_file",
    "log_file",
    "read_bytes",
    "remove",
    "remove_leftovers",
    "trial_dir",
    "write_atomic",
]

WRITERS = 4
"""Threads that write (and sync) checkpoint files: the syncs of one turn's files overlap."""

_TEMPORARY = re.compile(r"\.checkpoint--?\d+(?:-\d+)?\.pkl\.tmp-\d+")
"""`write_atomic`'s temporary names of checkpoint files (of this version, and of those before the sequence number)."""
_CHECKPOINT = re.compile(r"checkpoint--?\d+(?:-\d+)?\.pkl")
"""`checkpoint_file`'s names (of this version, and of those before the sequence number)."""


def trial_dir(root: Path, trial_id: int) -> Path:
    """The folder of one trial's files (checkpoints, log)."""
    return root / "trials" / f"{trial_id:06d}"


def checkpoint_file(root: Path, trial_id: int, iteration: int, seq: int) -> Path:
    """The file of one saved checkpoint. The store's sequence number in the name makes every save a new
    file, so that a save never takes the name of a committed checkpoint (PBT copies a donor's checkpoint
    at the iteration the trial had reached; a restarted trial saves its iterations again): until its
    row is committed, the committed one's file is untouched."""
    return trial_dir(root, trial_id) / f"checkpoint-{iteration:06d}-{seq}.pkl"


def log_file(root: str | Path, trial_id: int) -> str:
    """The file of what the trial printed, in `trial_dir`, as a string (cheaper than a Path)."""
    return os.path.join(root, "trials", f"{trial_id:06d}", "log.txt")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either no file or the whole new one, also after a
    power cut: the data reaches the disk before the rename gives it its name, and the folder after it.

    A write that fails (a full disk) leaves no temporary file behind.
    """
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        _sync_folder(folder.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened here (Windows): their entries are the filesystem's business
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems do not sync folders
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EACCES):
            raise
    finally:
        os.close(fd)


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_leftovers(root: Path, may_have_written: Callable[[int], bool], referenced: Collection[str]) -> int:
    """Remove what a killed driver left in the folders of the trials `may_have_written` says yes to:
    temporaries of checkpoint writes cut short, and checkpoint files no stored row names (written for a
    commit that never came). Only the store's own names are touched; returns the bytes freed.

    `referenced` holds the stored rows' paths, relative to `root`. Only the experiment's writer may
    call this (it holds the experiment's lock: no other process writes checkpoints there).
    """
    freed = 0
    try:
        with os.scandir(root / "trials") as trials:
            folders = [e for e in trials if e.name.isdigit() and may_have_written(int(e.name))]
    except FileNotFoundError:
        return 0
    for folder in folders:
        with os.scandir(folder.path) as entries:
            for entry in entries:
                name = entry.name
                stale = _TEMPORARY.fullmatch(name) or (
                    _CHECKPOINT.fullmatch(name) and os.path.join("trials", folder.name, name) not in referenced
                )
                if stale and entry.is_file(follow_symlinks=False):
                    freed += entry.stat(follow_symlinks=False).st_size
                    remove(Path(entry.path))
    return freed


class Transaction:
    """The checkpoint files of the store's open transaction: those it writes and those it replaces.

    A file is written (and synced) by a thread while the driver goes on; `wait` before the commit
    makes sure that every file a row names is on disk before the row can be. After the commit, the
    replaced files go (`committed`); after a failed one, the written files (`failed`).

    Example:
        >>> files = Transaction()
        >>> files.write(Path("/tmp/t/checkpoint-000001-1.pkl"), b"...")  # doctest: +SKIP
        >>> files.wait()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._writes: dict[Path, Future[None]] = {}
        self.superseded: list[Path] = []

    def write(self, path: Path, data: bytes) -> None:
        """Start writing `data` to the new file `path` (see `write_atomic`)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="rung-checkpoint")
        self._writes[path] = self._pool.submit(write_atomic, path, data)

    def wait(self, path: Path | None = None) -> tuple[Path, BaseException] | None:
        """Wait until the file `path` (or every file started) is written; returns the first that
        failed, with its error (the files stay started: `committed` or `failed` settles them)."""
        if path is None:
            writes = list(self._writes.items())
        else:
            writes = [(path, self._writes[path])] if path in self._writes else []
        for file, write in writes:
            error = write.exception()
            if error is not None:
                return file, error
        return None

    def committed(self) -> None:
        """The transaction is committed: the files it replaced go."""
        for path in self.superseded:
            remove(path)
        self.superseded.clear()
        self._writes.clear()

    def failed(self, named: Callable[[Path], bool]) -> None:
        """The transaction was rolled back: the files it wrote or replaced that no committed row
        names (`named` tells) go, once every write has ended."""
        for path, write in self._writes.items():
            write.exception()  # ended, however
            if not named(path):
                remove(path)
        for path in self.superseded:
            if not named(path):
                remove(path)
        self.superseded.clear()
        self._writes.clear()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
