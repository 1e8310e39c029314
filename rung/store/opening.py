"""Connecting to an experiment's database, building a new one so that its name appears only once
it is complete, and upgrading an older one in place."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rung.errors import ExperimentExistsError
from rung.store.encoding import dumps
from rung.store.schema import ADDED_EVENT_COLUMNS, DB_NAME, SCHEMA, SCHEMA_VERSION, SETUP_TABLE

__all__ = ["build", "connect", "has_setup_table", "upgrade"]


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
            "INSERT INTO experiment VALUES (1, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?)",
            (name, SCHEMA_VERSION, now, now, metric, mode, dumps(settings), dumps(space), objective),
        )
        if setup is not None:
            conn.execute("INSERT INTO setup VALUES (1, ?)", (setup,))
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


def has_setup_table(conn: sqlite3.Connection) -> bool:
    """Whether the database keeps the setup in its own table (version 3), not in the experiment row."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'setup'").fetchone() is not None


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring a store of an older schema to the current one, in one transaction (writers only: readers
    read every version as it is).

    Version 1 lacks the events' `time` and `slot` columns (they read as NULL); versions 1 and 2 keep the
    setup pickle in the experiment row, which every status change rewrote: it moves to the `setup`
    table and the old column is left NULL (dropping it would copy the table, for no gain).
    """
    events = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    missing = [(column, kind) for column, kind in ADDED_EVENT_COLUMNS if column not in events]
    moved = not has_setup_table(conn)
    if not missing and not moved:
        return
    with conn:
        conn.execute("BEGIN")
        for column, kind in missing:
            conn.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
        if moved:
            conn.execute(SETUP_TABLE)
            conn.execute("INSERT INTO setup SELECT 1, setup FROM experiment WHERE id = 1 AND setup IS NOT NULL")
            conn.execute("UPDATE experiment SET setup = NULL WHERE id = 1")
        conn.execute("UPDATE experiment SET version = MAX(version, ?) WHERE id = 1", (SCHEMA_VERSION,))
