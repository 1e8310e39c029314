"""The store's SQL schema (version 3), its database file name, and the experiments under a storage folder.

Version 3 keeps the experiment's setup pickle (what `rung resume` unpickles; megabytes when a
closure holds data) in a table of its own: SQLite rewrites a whole row on every update, so in the
`experiment` row (version 2 and before) each status change wrote the blob again (a 40 MiB setup made a
84 MB rung.db). Older stores are read as they are and upgraded when opened for writing (`opening.upgrade`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ADDED_EVENT_COLUMNS", "DB_NAME", "SCHEMA", "SCHEMA_VERSION", "SETUP_TABLE", "list_experiments"]

DB_NAME = "rung.db"
SCHEMA_VERSION = 3

SETUP_TABLE = "CREATE TABLE setup (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL)"
"""The table that version 3 added (also made when an older store is upgraded)."""

SCHEMA = f"""
CREATE TABLE experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL,
    metric TEXT, mode TEXT, settings TEXT NOT NULL, space TEXT NOT NULL,
    objective TEXT
);
{SETUP_TABLE};
CREATE TABLE trials (
    id INTEGER PRIMARY KEY, config TEXT NOT NULL, config_blob BLOB, status TEXT NOT NULL,
    origin TEXT NOT NULL, parent_id INTEGER, iteration INTEGER NOT NULL DEFAULT 0,
    time_total REAL NOT NULL DEFAULT 0, num_failures INTEGER NOT NULL DEFAULT 0, error TEXT,
    last_result TEXT, best_result TEXT, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE results (
    seq INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL, iteration INTEGER NOT NULL, data TEXT NOT NULL,
    UNIQUE (trial_id, iteration)
);
CREATE TABLE checkpoints (
    seq INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL, iteration INTEGER NOT NULL,
    path TEXT, size INTEGER NOT NULL, data BLOB
);
CREATE INDEX checkpoints_trial ON checkpoints (trial_id, seq);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL, status TEXT NOT NULL, data TEXT, time REAL, slot INTEGER
);
"""
# Columns added since schema version 1, in the order of SCHEMA (so positional inserts fit both).
ADDED_EVENT_COLUMNS = (("time", "REAL"), ("slot", "INTEGER"))


def list_experiments(storage: str | Path) -> list[str]:
    """Names of the experiments under `storage`, sorted."""
    root = Path(storage)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / DB_NAME).is_file())
