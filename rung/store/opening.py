"""Connecting to an experiment's database, and building a new one so that its name appears only
once it is complete."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rung.errors import ExperimentExistsError
from rung.store.encoding import dumps
from rung.store.schema import DB_NAME, SCHEMA, SCHEMA_VERSION

__all__ = ["build", "connect"]


def connect(db: Path, writable: bool = True) -> sqlite3.Connection:
    """A connection to `db` as the store uses it: autocommit (the store opens its transactions), WAL."""
    if not writable and not os.access(db.parent, os.W_OK):
        # Read-only storage (an archive, a read-only mount): SQLite cannot make the WAL's shared
        # memory file there, and nothing can change the store, so it is read as immutable.
        return sqlite3.connect(f"{db.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False)
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    if writable:
        conn.execute("PRAGMA journal_mode=WAL")  # kept in the file: readers need not set it
    # A process crash loses nothing committed in WAL mode with NORMAL; only a power cut could.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def build(
    path: Path,
    name: str,
    metric: str | None,
    mode: str | None,
    settings: Mapping[str, Any],
    space: Any,
    objective: str | None,
    setup: bytes | None,
) -> None:
    """Make the database of experiment `name` in the folder `path` (whose lock the caller holds)."""
    # Built beside its final name and linked to it once complete: a driver killed while creating
    # it leaves no half-made experiment under the name (only this file of its process id).
    building = path / f"{DB_NAME}.new-{os.getpid()}"
    building.unlink(missing_ok=True)
    conn = connect(building)
    now = time.time()
    with conn:
        conn.execute("BEGIN")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO experiment VALUES (1, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, SCHEMA_VERSION, now, now, metric, mode, dumps(settings), dumps(space), objective, setup),
        )
    conn.close()
    try:
        os.link(building, path / DB_NAME)  # fails if a driver of an older rung created it meanwhile
    except FileExistsError:
        raise ExperimentExistsError(
            f"experiment {name!r} was just created in {str(path.parent)!r} by another driver;"
            " pass resume=True to continue it, or choose another name"
        ) from None
    finally:
        building.unlink()
