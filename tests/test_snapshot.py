"""The read side's snapshot: a store no driver has open is read in place, changing no file; one a
driver has open (its WAL there) is copied, and a driver that starts later makes the reader read again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import rung
from rung.dashboard.reader import Reader
from rung.store.schema import DB_NAME
from rung.store.snapshot import Snapshot
from rung.store.sqlite import Store


def steps(config: dict[str, Any]) -> None:
    for i in range(2):
        rung.report({"loss": config["x"] + i})


def _run(storage: Path, samples: int, resume: bool = False) -> None:
    rung.run(steps, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=samples, executor="thread", scheduler="fifo",
             name="s", storage=storage, verbose=0, seed=3, resume=resume)  # fmt: skip


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_store_no_driver_has_open_is_read_in_place_changing_no_file(storage: Path) -> None:
    _run(storage, 5)
    folder = storage / "s"
    before = _files(folder)
    assert f"{DB_NAME}-wal" not in before  # the driver closed it: SQLite removed its WAL
    copy = Snapshot(storage, "s")
    try:
        assert copy.direct
        rows = copy.store.trials()
        assert len(rows) == 5 and all(r["iteration"] == 2 for r in rows)
        assert _files(folder) == before  # no -shm, no WAL, nothing written
    finally:
        copy.close()
    assert _files(folder) == before


def test_a_store_a_driver_has_open_is_copied_with_what_its_wal_holds(storage: Path) -> None:
    _run(storage, 3)
    writer = Store.open(storage, "s")  # a driver's connection: the WAL exists while it is open
    try:
        writer.add_trial(4, {"x": 0.5}, "search")
        writer.commit()
        assert (storage / "s" / f"{DB_NAME}-wal").exists()
        copy = Snapshot(storage, "s")
        try:
            assert not copy.direct
            assert [r["id"] for r in copy.store.trials()] == [1, 2, 3, 4]  # trial 4 is in the WAL only
        finally:
            copy.close()
    finally:
        writer.close()


def test_the_dashboard_reads_again_after_a_driver_changed_a_store_it_read_in_place(storage: Path) -> None:
    _run(storage, 3)
    reader = Reader(storage)
    try:
        assert reader.experiment("s")["summary"]["trials"] == 3
        _run(storage, 6, resume=True)
        assert reader.experiment("s")["summary"]["trials"] == 6
    finally:
        reader.close()
