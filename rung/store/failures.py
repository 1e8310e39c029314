"""What the store says when its disk is full, its writes fail or its file is damaged: rung's own errors,
each naming what happened and what to do (for a stopped run: the exact call that resumes it)."""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from rung.errors import StoreDamagedError, StoreFullError, StoreWriteError

__all__ = ["damaged", "reading", "resume_hint", "write_error"]

# SQLite's primary result codes (sqlite3 names them from Python 3.11 on).
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26
_MESSAGES = {
    "database disk image is malformed": _SQLITE_CORRUPT,
    "database or disk is full": _SQLITE_FULL,
    "file is not a database": _SQLITE_NOTADB,
}
_FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # no room, or no quota left


def resume_hint(folder: Path) -> str:
    """The command (and the call) that resumes the experiment in `folder`."""
    folder = Path(os.path.abspath(folder))  # works from any folder the user is in
    storage, name = str(folder.parent), folder.name
    return (
        f"rung resume {shlex.quote(name)} --storage {shlex.quote(storage)} (or rung.run(..., name={name!r},"
        f" storage={storage!r}, resume=True))"
    )


def _code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of `exc` (from its message before Python 3.11)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF  # an extended code keeps the primary one in its low byte
    return _MESSAGES.get(str(exc))


def damaged(exc: sqlite3.Error, db: Path) -> StoreDamagedError | None:
    """rung's error for an SQLite error that says the database file is damaged; None for other errors."""
    if _code(exc) not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return None
    return StoreDamagedError(f"the experiment's store ({db}) cannot be read: {exc}; is it damaged?")


@contextlib.contextmanager
def reading(db: Path) -> Iterator[None]:
    """Raise `StoreDamagedError` for a damaged database met inside the block."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        damage = damaged(exc, db)
        if damage is None:
            raise
        raise damage from exc


def write_error(exc: BaseException, folder: Path, what: str = "") -> BaseException:
    """rung's error for a write of the experiment in `folder` that failed, after its changes were undone.

    `exc` is SQLite's error, or the OSError of writing the checkpoint file `what` says. An
    SQLite error that is a bug of the caller (a constraint, a misuse) is returned as it is.
    """
    folder = Path(os.path.abspath(folder))
    if isinstance(exc, sqlite3.Error):
        damage = damaged(exc, folder / "rung.db")
        if damage is not None or isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
            return damage or exc
        full = _code(exc) == _SQLITE_FULL
        cause = str(exc)
    elif isinstance(exc, OSError):
        full = exc.errno in _FULL_ERRNOS
        cause = f"{what}: {exc.strerror or exc}"
    else:
        return exc
    done = (
        "What was acknowledged is stored; the changes since the last commit were rolled back. Resume it once"
        f" {'there is room' if full else 'the storage works again'}: {resume_hint(folder)}"
    )
    name = folder.name
    if full:
        return StoreFullError(
            f"experiment {name!r} stopped: the disk holding {str(folder)!r} is full ({cause}). {done}"
        )
    return StoreWriteError(
        f"experiment {name!r} stopped: its store in {str(folder)!r} could not be written ({cause}). {done}"
    )
