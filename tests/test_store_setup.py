"""The experiment's setup pickle lives in a table of its own (schema version 3): a status change of the
experiment does not write it again, and stores of the older schemas are read and resumed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rung
from rung.cli import main
from rung.store.schema import DB_NAME
from rung.store.sqlite import Store

SETUP_BYTES = 5 * 1024 * 1024

# The schema of version 2, as rung wrote it before the setup had a table of its own.
SCHEMA_2_EXPERIMENT = """
CREATE TABLE experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL,
    metric TEXT, mode TEXT, settings TEXT NOT NULL, space TEXT NOT NULL,
    objective TEXT, setup BLOB
)
"""


def _size(db: Path) -> int:
    """Bytes of the database and its WAL: what the store takes on disk."""
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_a_status_change_does_not_write_the_setup_again(tmp_path: Path) -> None:
    setup = np.random.default_rng(0).bytes(SETUP_BYTES)  # incompressible, as a pickled array is
    store = Store.create(tmp_path, "e", metric="loss", mode="min", settings={}, space={}, setup=setup)
    store.commit()
    db = tmp_path / "e" / DB_NAME
    created = _size(db)
    for status in ("INTERRUPTED", "RUNNING", "FINISHED"):  # a run, its interruption and resume
        store.set_experiment(status)
        store.commit()
    grown = _size(db) - created
    assert grown < SETUP_BYTES // 10, f"{grown} bytes written for three status changes"
    assert store.experiment()["setup"] == setup
    store.close()
    assert _size(db) < created + SETUP_BYTES // 10
    reader = Store.read(tmp_path, "e")
    assert reader.experiment()["setup"] == setup and reader.experiment()["status"] == "FINISHED"
    assert "setup" not in reader.experiment(setup=False)
    reader.close()


OBJECTIVE = """
import os, signal
from pathlib import Path

import rung

KILL = Path(__file__).with_name("kill-once")


def train(config):
    start = rung.get_checkpoint()
    for step in range(0 if start is None else start + 1, 3):
        rung.report({"loss": config["x"] + step}, checkpoint=step)
        if KILL.exists():  # the driver dies once, after the first result it stored
            KILL.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
"""

DRIVER = """
import sys, rung
from v2_objective import train
rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=3, max_concurrent=1, executor="thread",
         name="old", storage=sys.argv[1], seed=3, verbose=0)
"""


def _as_version_2(db: Path) -> bytes:
    """Rewrite a store to the schema of version 2 (the setup in the experiment row); returns the setup."""
    conn = sqlite3.connect(db)
    try:
        (setup,) = conn.execute("SELECT data FROM setup").fetchone()
        with conn:
            conn.execute("ALTER TABLE experiment ADD COLUMN setup BLOB")  # v2's last column
            conn.execute("UPDATE experiment SET setup = ?, version = 2", (setup,))
            conn.execute("DROP TABLE setup")
        (schema,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'experiment'").fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(experiment)")]
    finally:
        conn.close()
    reference = sqlite3.connect(":memory:")
    reference.execute(SCHEMA_2_EXPERIMENT)
    assert columns == [row[1] for row in reference.execute("PRAGMA table_info(experiment)")], schema
    reference.close()
    return bytes(setup)


def _tables(db: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(db)
    try:
        version = conn.execute("SELECT version FROM experiment").fetchone()[0]
        tables = sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        conn.close()
    return int(version), tables


def test_a_store_of_version_2_is_read_and_resumed_from_its_stored_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "v2_objective.py").write_text(OBJECTIVE)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "kill-once").touch()
    storage = tmp_path / "runs"
    killed = subprocess.run([sys.executable, "driver.py", str(storage)], cwd=tmp_path, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    db = storage / "old" / DB_NAME
    setup = _as_version_2(db)

    # Read as it is: the setup from the experiment row; reading changes nothing.
    reader = Store.read(storage, "old")
    stored = reader.experiment()
    reader.close()
    assert stored["setup"] == setup and stored["version"] == 2 and stored["objective"] == "v2_objective:train"
    assert [t.iteration for t in rung.load("old", storage=storage).trials] == [1]
    assert _tables(db) == (2, ["checkpoints", "events", "experiment", "results", "trials"])

    # `rung resume` unpickles the stored setup (searcher, scheduler, space) and finishes the run;
    # opening the store to write moves the setup to its own table.
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["resume", "old", "--storage", str(storage), "--verbose", "0"]) == 0
    assert _tables(db) == (3, ["checkpoints", "events", "experiment", "results", "setup", "trials"])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT setup FROM experiment").fetchone() == (None,)
    conn.close()
    result = rung.load("old", storage=storage)
    assert result.status == "FINISHED" and [t.iteration for t in result.trials] == [3, 3, 3]
    reader = Store.read(storage, "old")
    assert reader.experiment()["setup"] == setup
    reader.close()
