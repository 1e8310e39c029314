"""The dashboard's overview reads each trial's best value by SQLite, and reads them all again the safe
way when a stored result holds NaN or Infinity (SQLite before 3.42 rejects such JSON)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.store import overview
from rung.store.schema import DB_NAME
from rung.store.snapshot import Snapshot

LOSSES = [0.5, 0.2, 0.9, 0.35]


def reports(config: dict[str, Any]) -> dict[str, float]:
    aux = math.nan if config["nan"] else 1.0  # stored inside the best result, beside the metric
    return {"loss": LOSSES[config["i"]], "aux": aux}


@pytest.mark.parametrize("with_nan", [False, True])
def test_the_overview_reads_best_values_with_or_without_nan_in_the_stored_json(storage: Path, with_nan: bool) -> None:
    space = {"i": rung.grid(list(range(len(LOSSES)))), "nan": with_nan}
    rung.run(reports, space, metric="loss", executor="thread", name="o", storage=storage, verbose=0)
    with sqlite3.connect(storage / "o" / DB_NAME) as conn:
        query = "SELECT json_extract(best_result, '$.loss') FROM trials"
        if with_nan and sqlite3.sqlite_version_info < (3, 42):
            with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
                conn.execute(query).fetchall()  # so the overview takes its second way
        else:
            assert [v for (v,) in conn.execute(query)] == LOSSES
    conn.close()
    snap = Snapshot(storage, "o")
    try:
        view = overview.overview(snap, "o")
    finally:
        snap.close()
    assert view["summary"]["best"] == 0.2 and view["summary"]["trials"] == 4
    assert sorted((p["id"], p["best"]) for p in view["parallel"]) == [(i + 1, x) for i, x in enumerate(LOSSES)]
