"""The worker timeline: slots assigned by the tuner, event times in the store, stretches in the view."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_tuner import PauseAtTwo

import rung
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.store.sqlite import Store
from rung.store.timeline import ERROR_COLOUR
from rung.store.views import experiment_view
from rung.types import Status

ENDS = {Status.PAUSED, Status.TERMINATED, Status.STOPPED, Status.ERROR, Status.PENDING}


def _events(storage: Path, name: str) -> list[tuple[int, Status, float | None, int | None]]:
    store = Store.read(storage, name)
    try:
        return [(t, data[0], at, slot) for kind, t, data, at, slot in store.timed_history() if kind == "status"]
    finally:
        store.close()


def _check_slots(storage: Path, name: str, capacity: int) -> set[int]:
    """Walk the events in order: each start takes the lowest free slot, its end gives the same one back."""
    held: dict[int, int] = {}  # slot -> trial
    used: set[int] = set()
    last = -float("inf")
    for trial_id, status, at, slot in _events(storage, name):
        assert at is not None and at >= last, "event times go forward"
        last = at
        holding = next((s for s, t in held.items() if t == trial_id), None)
        if status is Status.RUNNING:
            assert holding is None
            assert slot == min(set(range(capacity)) - set(held)), (trial_id, slot, held)
            held[slot] = trial_id
            used.add(slot)
        elif holding is not None:
            assert status in ENDS and slot == holding, (trial_id, status, slot, holding)
            del held[holding]
        else:
            assert slot is None, (trial_id, status, slot)
    assert held == {}
    return used


def _no_overlap(view: dict[str, Any]) -> None:
    by_slot: dict[int, list[tuple[float, float]]] = {}
    for span in view["timeline"]:
        assert span["start"] <= span["end"]
        by_slot.setdefault(span["slot"], []).append((span["start"], span["end"]))
    for spans in by_slot.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans


def steps(config: dict[str, Any]) -> None:
    start = rung.get_checkpoint() or 0
    for i in range(start, 6):
        rung.report({"loss": config["x"] + 1 / (i + 1)}, checkpoint=i + 1)


def test_thread_run_with_pauses_holds_each_slot_until_the_stretch_ends(storage: Path) -> None:
    rung.run(
        steps,
        {"x": rung.grid([0.1, 0.5, 0.2, 0.8, 0.3, 0.6, 0.4])},
        metric="loss",
        scheduler=PauseAtTwo(),
        executor=rung.ThreadExecutor(3),
        name="pauses",
        storage=storage,
        verbose=0,
    )
    assert _check_slots(storage, "pauses", 3) == {0, 1, 2}
    view = experiment_view(storage, "pauses")
    _no_overlap(view)
    paused = [s for s in view["timeline"] if s["ended"] == "PAUSED"]
    assert len(paused) == 7  # each trial once, at iteration 2
    # A trial's stretches, one per RUNNING event, in the slots the events name.
    running = [(t, slot) for t, status, _, slot in _events(storage, "pauses") if status is Status.RUNNING]
    assert sorted((s["trial"], s["slot"]) for s in view["timeline"]) == sorted(running)


def table(config: dict[str, Any]) -> Curve:
    """Three steps of 10 s * x each (x = 1, 2, 3: 30, 60 and 90 simulated seconds)."""
    return Curve([{"loss": config["x"] / (i + 1)} for i in range(3)], [10.0 * config["x"]] * 3)


def _spans(view: dict[str, Any]) -> list[tuple[int, int, float, float, str]]:
    return [(s["trial"], s["slot"], s["start"], s["end"], s["ended"]) for s in view["timeline"]]


def test_simulated_timeline_is_exact(storage: Path) -> None:
    rung.run(
        table,
        {"x": rung.grid([1.0, 2.0, 3.0])},
        metric="loss",
        scheduler=PauseAtTwo(),
        executor=SimulatedExecutor(workers=2, decision_seconds=0.0),
        name="sim",
        storage=storage,
        verbose=0,
    )
    view = experiment_view(storage, "sim")
    # Each trial pauses after 2 steps and is resumed at once into the lowest free slot.
    assert _spans(view) == [
        (1, 0, 0.0, 20.0, "PAUSED"),
        (2, 1, 0.0, 40.0, "PAUSED"),
        (1, 0, 20.0, 30.0, "TERMINATED"),
        (3, 0, 30.0, 90.0, "PAUSED"),
        (2, 1, 40.0, 60.0, "TERMINATED"),
        (3, 0, 90.0, 120.0, "TERMINATED"),
    ]
    assert _check_slots(storage, "sim", 2) == {0, 1}
    assert view["timeline_legend"] == {
        "title": "trials",
        "items": [{"label": "ran", "colour": "#4a78c2"}, {"label": "failed", "colour": ERROR_COLOUR}],
    }
    assert {s["legend"] for s in view["timeline"]} == {0}


def test_resumed_simulated_run_continues_its_clock(storage: Path) -> None:
    def run(**kwargs: Any) -> None:
        rung.run(
            table,
            {"x": rung.grid([1.0, 2.0, 3.0, 1.0])},
            metric="loss",
            executor=SimulatedExecutor(workers=2, decision_seconds=0.0),
            name="again",
            storage=storage,
            verbose=0,
            resume=True,
            **kwargs,
        )

    # Trial 1 ends at 30 s; 2 and 3 are stopped at the first event past the budget (60 s); 4 waits.
    run(time_budget_s=45.0)
    before = _spans(experiment_view(storage, "again"))
    assert before == [
        (1, 0, 0.0, 30.0, "TERMINATED"),
        (2, 1, 0.0, 60.0, "TERMINATED"),
        (3, 0, 30.0, 60.0, "TERMINATED"),
    ]
    run()
    # The resumed executor's clock starts at 0 again; stored times go on from the last event.
    assert _spans(experiment_view(storage, "again")) == [*before, (4, 0, 60.0, 90.0, "TERMINATED")]


def failing(config: dict[str, Any]) -> None:
    if config["x"] == 0.9:
        raise RuntimeError("fails before its first report")
    steps(config)


def test_a_trial_failing_before_its_first_report_has_a_failed_bar_per_attempt(storage: Path) -> None:
    rung.run(
        failing,
        {"x": rung.grid([0.1, 0.9, 0.3])},
        metric="loss",
        max_concurrent=1,
        max_failures=1,
        executor="thread",
        name="fails",
        storage=storage,
        verbose=0,
    )
    view = experiment_view(storage, "fails")
    failed = len(view["timeline_legend"]["items"]) - 1
    assert [(s["trial"], s["slot"], s["ended"], s["legend"]) for s in view["timeline"]] == [
        (1, 0, "TERMINATED", 0),
        (2, 0, "ERROR", failed),  # the first attempt, retried (its closing event is PENDING)
        (2, 0, "ERROR", failed),
        (3, 0, "TERMINATED", 0),
    ]
    assert view["timeline_legend"]["items"][failed] == {"label": "failed", "colour": ERROR_COLOUR}
    _no_overlap(view)
    _check_slots(storage, "fails", 1)


CRASHING = """
import os, sys
import rung

def objective(config):
    for i in range(3):
        rung.report({"loss": config["x"] + 1 / (i + 1)}, checkpoint=i + 1)
        if config["x"] > 0.5 and i == 1:
            os._exit(3)  # the driver dies while trial 3 runs in slot 0

rung.run(objective, {"x": rung.grid([0.1, 0.2, 0.9])}, metric="loss", max_concurrent=1,
         executor="thread", name="crashed", storage=sys.argv[1], verbose=0)
"""


def calm(config: dict[str, Any]) -> None:
    for i in range(rung.get_checkpoint() or 0, 3):
        rung.report({"loss": config["x"] + 1 / (i + 1)}, checkpoint=i + 1)


def test_stretch_cut_by_a_crash_ends_at_its_last_result_and_restarts_in_a_free_slot(tmp_path: Path) -> None:
    storage, script = tmp_path / "runs", tmp_path / "crash.py"
    script.write_text(CRASHING)
    assert subprocess.run([sys.executable, str(script), str(storage)]).returncode == 3
    view = experiment_view(storage, "crashed")
    [cut] = [s for s in view["timeline"] if s["trial"] == 3]
    assert cut["ended"] == "INTERRUPTED"  # the store still has it RUNNING; nothing runs it: the driver died
    last = Store.read(storage, "crashed").results(3)[-1]["timestamp"]
    assert cut["end"] == last
    rung.run(calm, {"x": rung.grid([0.1, 0.2, 0.9])}, metric="loss", max_concurrent=1, executor="thread",
             name="crashed", storage=storage, verbose=0, resume=True)  # fmt: skip
    view = experiment_view(storage, "crashed")
    assert [(s["trial"], s["slot"], s["ended"]) for s in view["timeline"]] == [
        (1, 0, "TERMINATED"),
        (2, 0, "TERMINATED"),
        (3, 0, "INTERRUPTED"),
        (3, 0, "TERMINATED"),
    ]
    assert view["timeline"][2]["end"] == last  # not the time of the resume
    assert view["timeline"][3]["rung"] == 0 and len(view["curves"]["3"]) == 3
    _no_overlap(view)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.db*")}


def _columns(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    finally:
        conn.close()


def _to_schema_1(db: Path) -> None:
    """Make a store look as one written before events had times and slots."""
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE events DROP COLUMN time")
    conn.execute("ALTER TABLE events DROP COLUMN slot")
    conn.execute("UPDATE experiment SET version = 1")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_old_schema_store_is_shown_and_resumed(storage: Path) -> None:
    def run(n: int, resume: bool = False) -> rung.ExperimentResult:
        return rung.run(
            steps,
            {"x": rung.uniform(0, 1)},
            metric="loss",
            num_samples=n,
            max_concurrent=2,
            seed=3,
            search="random",
            executor="thread",
            name="old",
            storage=storage,
            verbose=0,
            resume=resume,
        )

    run(2)
    db = storage / "old" / "rung.db"
    _to_schema_1(db)
    before = _hashes(storage / "old")
    assert _columns(db) == ["seq", "trial_id", "status", "data"]

    # Read-only: the dashboard, load() and a reader see it without changing it.
    view = experiment_view(storage, "old")
    assert [(s["trial"], s["ended"]) for s in view["timeline"]] == [(1, "TERMINATED"), (2, "TERMINATED")]
    assert {s["slot"] for s in view["timeline"]} <= {0, 1}  # packed from the results' times
    assert _hashes(storage / "old") == before
    assert [t.status for t in rung.load("old", storage=storage).trials] == [Status.TERMINATED] * 2
    assert all(at is None and slot is None for *_, at, slot in _events(storage, "old"))
    assert _columns(db) == ["seq", "trial_id", "status", "data"]  # readers never upgrade a store

    # Resume opens it for writing: the columns are added, the run goes on, new events carry both.
    result = run(4, resume=True)
    assert [t.status for t in result.trials] == [Status.TERMINATED] * 4
    assert _columns(db) == ["seq", "trial_id", "status", "data", "time", "slot"]
    assert Store.read(storage, "old").experiment()["version"] == 3
    events = _events(storage, "old")
    assert {(at, slot) for t, _, at, slot in events if t <= 2} == {(None, None)}
    assert all(at is not None for t, _, at, _ in events if t > 2)
    view = experiment_view(storage, "old")
    assert sorted(s["trial"] for s in view["timeline"]) == [1, 2, 3, 4]
    assert {s["slot"] for s in view["timeline"] if s["trial"] > 2} == {0, 1}


@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_slots_never_exceed_capacity(storage: Path, capacity: int) -> None:
    rung.run(steps, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=8, seed=1,
             scheduler=rung.ASHA(max_t=6, grace_period=1, reduction_factor=2), executor=rung.ThreadExecutor(capacity),
             name=f"c{capacity}", storage=storage, verbose=0)  # fmt: skip
    used = _check_slots(storage, f"c{capacity}", capacity)
    assert 0 in used and max(used) < capacity
