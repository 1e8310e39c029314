"""The crash harness (rung.testing.crash): kill -9 the driver at seeded points, resume, compare with an
uninterrupted run. 20 kills over FIFO+TPE, ASHA (stop, promote), HyperBand, PBT and PB2 (`slow`:
`pytest -m "not slow"` skips them); `python -m bench crash --kills 500` is the long run (BENCHMARKS.md)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.testing import crash
from rung.testing._crash_compare import leftovers, orphans
from rung.testing._crash_probe import PROCS, descendants
from rung.testing.crash import KillPoint
from rung.types import Decision, Resume, Start

# (method, kills, seed): 20 kills in all.
SPREAD = [
    ("fifo-tpe", 4, 0),
    ("asha-stop", 3, 1),
    ("asha-promote", 4, 2),
    ("hyperband", 3, 3),
    ("pbt", 3, 4),
    ("pb2", 3, 5),
]


# Every kind but "time" (a kill a random number of seconds in, which lands elsewhere on each attempt):
# the same kills on every run of the test.
KINDS = [kind for kind in crash.KINDS if kind != "time"]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "kills", "seed"), SPREAD)
def test_killed_and_resumed_runs_end_as_uninterrupted_ones(method: str, kills: int, seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(100 + seed)
    # Each trial starts a child process (as a data loader would): it must end with a killed driver too.
    report = crash.check(method, tmp_path / "crash", kills=kills, seed=seed, rng=rng, kinds=KINDS, children=True)
    assert report.ok, report.describe()
    assert len(report.kills) == kills and not report.missed, report.describe()  # each kill hit a run mid-way
    assert report.resumes == kills


def test_the_spread_makes_twenty_kills_over_every_method() -> None:
    assert sum(kills for _, kills, _ in SPREAD) == 20
    assert {method for method, _, _ in SPREAD} == set(crash.METHODS)


# A regression the harness found: a resume must hand the scheduler its paused trials in the order they
# paused (as an uninterrupted run does), not by trial id.


class TakeTurns(rung.Scheduler):
    """Pauses each trial after its first two results; resumes the trial that has waited longest."""

    def on_result(self, trial: rung.TrialInfo, result: dict[str, Any]) -> Decision:
        return Decision.PAUSE if result["training_iteration"] < 3 else Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Any) -> Start | Resume | None:
        if new_allowed:
            return Start()
        return Resume(paused[0].id) if paused else None


def take_turns(seed: int) -> dict[str, Any]:
    space = {"x": rung.uniform(0, 1), "lr": rung.uniform(0.1, 0.5), "steps": 4}
    return {"fn": crash.objective, "space": space, "metric": "loss", "num_samples": 3, "scheduler": TakeTurns()}


def test_paused_trials_wait_in_the_order_they_paused_after_a_resume(tmp_path: Path) -> None:
    # Trials 1, 2, 3 each report once and pause; trial 1 resumes and pauses at 2, so trial 2 has waited
    # longest. Killed right after that report, the resumed driver must resume trial 2 next, not trial 1.
    setup = f"{__name__}:take_turns"
    report = crash.check(setup, tmp_path / "crash", plan=[KillPoint("report", 1, 2)])
    assert report.kills == [KillPoint("report", 1, 2)], report.describe()
    assert report.ok, report.describe()


# The harness itself finds what it is meant to find.


def forgetful(seed: int) -> dict[str, Any]:
    """An objective that never checkpoints: a resumed trial starts over and reports its steps again."""
    return {"fn": _no_checkpoint, "space": {"x": rung.uniform(0, 1)}, "metric": "loss", "num_samples": 2}


def _no_checkpoint(config: dict[str, Any]) -> None:
    for step in range(1, 5):
        rung.report({"loss": config["x"] / step})


def test_the_harness_reports_steps_reported_again_after_a_resume(tmp_path: Path) -> None:
    report = crash.check(f"{__name__}:forgetful", tmp_path / "crash", plan=[KillPoint("report", 1, 2)])
    assert report.kills == [KillPoint("report", 1, 2)]
    assert "reported again after its report() had returned: trial 1 iteration 1" in report.mismatches
    assert "reported again after its report() had returned: trial 1 iteration 2" in report.mismatches


def test_the_harness_finds_leftover_files(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    trial = folder / "trials" / "000001"
    trial.mkdir(parents=True)
    kept = ["rung.db", "rung.db-wal", "driver.lock", "results.jsonl", "log.txt", "checkpoint-000002-7.pkl", "notes"]
    for name in kept:
        (folder / name if name.startswith(("rung", "driver", "results")) else trial / name).write_bytes(b"")
    referenced = {"trials/000001/checkpoint-000002-7.pkl"}
    assert leftovers(folder, referenced) == []
    for name in ("trials/000001/.checkpoint-000003-9.pkl.tmp-123", "rung.db.new-77", "rung.db.new-78-journal",
                 "rung.db-journal", "trials/000001/checkpoint-000001-3.pkl"):  # fmt: skip
        (folder / name).write_bytes(b"")
    assert leftovers(folder, referenced) == [
        "file no stored checkpoint names: trials/000001/checkpoint-000001-3.pkl",
        "temporary file left: rung.db.new-77",
        "temporary file left: rung.db.new-78-journal",
        "temporary file left: trials/000001/.checkpoint-000003-9.pkl.tmp-123",
        "unexpected file: rung.db-journal",
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process records read /proc")
def test_the_harness_finds_and_ends_orphan_processes(tmp_path: Path) -> None:
    code = "import time; print('up', flush=True); time.sleep(600)"
    sleeper = subprocess.Popen([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline() == "up\n"  # it runs its code now
        (tmp_path / PROCS).write_text("".join(f"{p} {s}\n" for p, s in descendants(sleeper.pid)))
        import time

        found = orphans(tmp_path, time.monotonic())  # no grace: it is alive now
        assert len(found) == 1 and re.fullmatch(rf"process {sleeper.pid} outlived its run: .*sleep\(600\)", found[0])
        assert sleeper.wait(timeout=10) == -signal.SIGKILL  # ended by the check
        assert orphans(tmp_path, time.monotonic()) == []  # gone: nothing to report
    finally:
        sleeper.kill()
        sleeper.communicate()


# Bad input.


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kills": -1}, ValueError, "check needs kills to be an int >= 0; got kills=-1"),
        ({"kills": 2.5}, ValueError, "check needs kills to be an int >= 0; got kills=2.5"),
        (
            {"kinds": ["reboot"]},
            ValueError,
            "check needs kinds to be some of ['report', 'commit', 'before-commit',"
            " 'checkpoint-write', 'start', 'time']; got kinds=['reboot']",
        ),
        ({"setup": "nocolon"}, ValueError, "setup must name a function as 'module:function'; got 'nocolon'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], message: str, tmp_path: Path) -> None:
    arguments: dict[str, Any] = {"setup": "fifo-tpe", "folder": tmp_path / "c", **kwargs}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        crash.check(**arguments)
    assert not (tmp_path / "c").exists()  # nothing ran


def test_check_needs_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    message = f"check needs an empty folder; got folder={str(tmp_path)!r}, which holds files"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        crash.check("fifo-tpe", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_driver_runs_one_setup_to_its_end(tmp_path: Path) -> None:
    # The probe's driver as users' own scripts would run it: one uninterrupted run, its results acknowledged.
    env = {**os.environ, "RUNG_CRASH_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable,
        "-m",
        "rung.testing._crash_probe",
        crash.METHODS["fifo-tpe"],
        str(tmp_path / "s"),
        "e",
        "3",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = rung.load("e", storage=tmp_path / "s")
    assert result.status == "FINISHED" and len(result.trials) == 8
    acks = (tmp_path / "acks").read_text().split("\n")[:-1]
    assert len(acks) == 48 and acks[0] == "1 1" and acks[-1] == "8 6"
