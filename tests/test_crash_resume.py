"""SIGKILL the driver mid-run, resume, and check that nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.types import Status

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import rung

    storage, acks, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def train(config):
        checkpoint = rung.get_checkpoint()
        start = 0 if checkpoint is None else checkpoint + 1
        for step in range(start, 12):
            rung.report({"loss": (config["x"] - 0.5) ** 2 + 1 / (step + 1)}, checkpoint=step)
            # report() returned: the result is acknowledged.
            with open(acks, "a") as f:
                f.write(f"{rung.get_trial_id()} {step + 1}\\n")
            if kill_at and rung.get_trial_id() == 3 and step + 1 == kill_at:
                os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)

    # Random search: its proposals do not depend on the order in which parallel results arrive
    # (the searcher contract suite checks model-based searchers' replay).
    rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=6, max_concurrent=2,
             name="crash", storage=storage, resume=True, seed=7, verbose=0, search="random")
    """
)


def _run(script: Path, storage: Path, acks: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(storage), str(acks), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rows(storage: Path) -> list[tuple[int, int, str]]:
    with sqlite3.connect(storage / "crash" / "rung.db") as conn:
        return conn.execute("SELECT trial_id, iteration, data FROM results ORDER BY trial_id, iteration").fetchall()


def test_sigkill_driver_then_resume(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(SCRIPT)
    storage, acks = tmp_path / "runs", tmp_path / "acks.txt"

    crashed = _run(script, storage, acks, kill_at=5)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    acknowledged = {tuple(map(int, line.split())) for line in acks.read_text().splitlines()}
    before = _rows(storage)
    stored = {(t, i) for t, i, _ in before}
    assert (3, 5) in acknowledged
    assert acknowledged <= stored, f"acknowledged but lost: {sorted(acknowledged - stored)}"

    resumed = _run(script, storage, acks, kill_at=0)
    assert resumed.returncode == 0, resumed.stderr
    after = _rows(storage)
    # Nothing stored before the crash was lost or changed.
    assert set(before) <= set(after)
    result = rung.load("crash", storage=storage)
    assert len(result.trials) == 6
    for trial in result.trials:
        assert trial.status is Status.TERMINATED
        assert [r["training_iteration"] for r in result.history(trial.id)] == list(range(1, 13))

    # The searcher's replay gives the configs an uninterrupted run proposes.
    clean_storage = tmp_path / "clean"
    clean = _run(script, clean_storage, tmp_path / "acks2.txt", kill_at=0)
    assert clean.returncode == 0, clean.stderr
    uninterrupted = rung.load("crash", storage=clean_storage)
    assert [t.config for t in result.trials] == [t.config for t in uninterrupted.trials]


def test_cli_resume_after_sigkill(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(SCRIPT)
    storage, acks = tmp_path / "runs", tmp_path / "acks.txt"
    assert _run(script, storage, acks, kill_at=3).returncode == -signal.SIGKILL
    # The driver died mid-run: shown as KILLED (it was on this machine), stored as RUNNING.
    assert rung.load("crash", storage=storage).status == "KILLED"
    with sqlite3.connect(storage / "crash" / "rung.db") as conn:
        assert conn.execute("SELECT status FROM experiment").fetchone() == ("RUNNING",)
    listed = subprocess.run(
        [sys.executable, "-m", "rung.cli", "--storage", str(storage), "ls"], capture_output=True, text=True,
        timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "KILLED" in listed.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "rung.cli", "--storage", str(storage), "show", "crash"], capture_output=True,
        text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "INTERRUPTED" in shown.stdout and "RUNNING" not in shown.stdout  # its cut trials: nothing runs them

    # The objective lives in the script's __main__, so only its pickle can run it: `rung resume` unpickles
    # it only when told to trust the store (unpickling runs code).
    command = [sys.executable, "-m", "rung.cli", "--storage", str(storage), "resume", "crash", "--verbose", "0"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "keeps its objective only as a pickle in rung.db" in refused.stderr and "--trust" in refused.stderr
    assert rung.load("crash", storage=storage).status == "KILLED"  # nothing ran
    resumed = subprocess.run(
        [*command, "--trust"], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}
    )
    assert resumed.returncode == 0, resumed.stderr
    result = rung.load("crash", storage=storage)
    assert result.status == "FINISHED" and len(result.trials) == 6
    assert all(len(result.history(t.id)) == 12 for t in result.trials)
    assert "best: trial" in resumed.stdout


OBJECTIVE_MODULE = textwrap.dedent(
    """
    import os, signal
    import rung

    def train(config):
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 30):
            rung.report({"loss": config["x"] + 1 / (step + 1)}, checkpoint=step)
            if os.environ.get("KILL") == "1" and rung.get_trial_id() == 2 and step == 2:
                os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)

    def enough(trial_id, result):
        return result["training_iteration"] >= 5
    """
)

MODULE_DRIVER = textwrap.dedent(
    """
    import sys
    import rung
    from objmod import enough, train

    rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=4, max_concurrent=2, stop=enough,
             scheduler="fifo", name="mod", storage=sys.argv[1], verbose=0, callbacks=[rung.callbacks.JSONL()])
    """
)


def test_cli_resume_finds_the_objectives_module_and_keeps_a_callable_stop(tmp_path: Path) -> None:
    (tmp_path / "objmod.py").write_text(OBJECTIVE_MODULE)
    (tmp_path / "driver.py").write_text(MODULE_DRIVER)
    storage = tmp_path / "runs"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    crashed = subprocess.run(
        [sys.executable, "driver.py", str(storage)], cwd=tmp_path, env={**env, "KILL": "1"}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    def resume(cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rung.cli", "--storage", str(storage), "resume", "mod", "--verbose", "0"]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

    elsewhere = resume(tmp_path.parent)  # objmod does not import from here
    assert elsewhere.returncode == 2
    assert elsewhere.stderr == (
        "experiment 'mod' cannot be resumed: loading objmod:train failed with ModuleNotFoundError: No module named"
        " 'objmod'; run `rung resume` from the folder the experiment was started in, or put the folder that holds"
        " the objective's module on PYTHONPATH\n"
    )
    resumed = resume(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = rung.load("mod", storage=storage)
    assert result.status == "FINISHED" and len(result.trials) == 4
    assert [t.iteration for t in result.trials] == [5] * 4  # `stop` held after the resume too
    # The callbacks were stored with the rest: the resumed trials' results reached the JSONL file too.
    rows = [json.loads(line) for line in (storage / "mod" / "results.jsonl").read_text().splitlines()]
    stored = {(t.id, r["training_iteration"]) for t in result.trials for r in result.history(t.id)}
    assert {(r["trial_id"], r["training_iteration"]) for r in rows} == stored


CTRL_C = textwrap.dedent(
    """
    import os, signal, sys
    import rung

    storage, interrupt = sys.argv[1], sys.argv[2] == "1"

    def train(config):
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 6):
            rung.report({"loss": config["x"] + step}, checkpoint=step)
            if interrupt and rung.get_trial_id() == 2 and step == 2:
                os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGINT)  # Ctrl-C reaches the driver

    rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=4, max_concurrent=2,
             name="ctrlc", storage=storage, resume=True, verbose=0, scheduler="fifo")
    """
)


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(CTRL_C)
    storage = tmp_path / "runs"
    run = [sys.executable, str(script), str(storage)]
    stopped = subprocess.run([*run, "1"], capture_output=True, text=True, timeout=120)
    assert stopped.returncode == -signal.SIGINT, stopped.stderr
    assert "interrupted: the experiment is stored and can be resumed" in stopped.stderr
    interrupted = rung.load("ctrlc", storage=storage)
    assert interrupted.status == "INTERRUPTED"
    assert len(interrupted.history(2)) >= 3

    resumed = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    result = rung.load("ctrlc", storage=storage)
    assert result.status == "FINISHED" and len(result.trials) == 4
    assert all([r["training_iteration"] for r in result.history(t.id)] == list(range(1, 7)) for t in result.trials)


DECIDED = textwrap.dedent(
    """
    import os, signal, sys
    import rung

    storage, acks, kill = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Decide(rung.Scheduler):
        # Trial 1 is told to stop and trial 2 to pause at their second result; trial 2 resumes later.
        def on_result(self, trial, result):
            if result["training_iteration"] == 2 and trial.id in (1, 2) and trial.iteration == 2:
                return rung.Decision.STOP if trial.id == 1 else rung.Decision.PAUSE
            return rung.Decision.CONTINUE

        def next_trial(self, *, new_allowed, paused):
            if new_allowed:
                return rung.Start()
            return rung.Resume(paused[0].id) if paused else None

    def train(config):
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 4):
            try:
                rung.report({"loss": config["x"] + step}, checkpoint=step)
            except rung.TrialInterrupt:
                with open(acks, "a") as f:
                    f.write(f"{rung.get_trial_id()} interrupted\\n")
                if rung.get_trial_id() == kill:
                    # The answer arrived: the driver dies now.
                    os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)
                raise
            with open(acks, "a") as f:
                f.write(f"{rung.get_trial_id()} {step + 1}\\n")

    rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=3, max_concurrent=1,
             scheduler=Decide(), name="decided", storage=storage, resume=True, verbose=0)
    """
)


@pytest.mark.parametrize("killer", [1, 2])
def test_decisions_answered_before_a_crash_hold_after_resume(killer: int, tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DECIDED)
    storage, acks = tmp_path / "runs", tmp_path / "acks.txt"
    run = [sys.executable, str(script), str(storage), str(acks)]
    crashed = subprocess.run([*run, str(killer)], capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # The crash came after the answer, before the trial's end reached the store.
    assert rung.load("decided", storage=storage).trials[killer - 1].status is Status.INTERRUPTED  # stored RUNNING

    resumed = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    result = rung.load("decided", storage=storage)
    one, two, three = result.trials
    lines = acks.read_text().splitlines()
    # Trial 1 was told to stop: it stays stopped, never restarted.
    assert one.status is Status.STOPPED and one.iteration == 2 and "1 3" not in lines
    # Trial 2 was told to pause: on resume it waits while trial 3 starts, then goes on from its
    # checkpoint (iterations 3 and 4), never from the start.
    assert two.status is Status.TERMINATED and three.status is Status.TERMINATED
    assert [r["training_iteration"] for r in result.history(2)] == [1, 2, 3, 4]
    assert lines.count("2 1") == 1 and lines.count("2 3") == 1
    assert lines.index("3 1") < lines.index("2 3")


def test_ctrl_c_between_a_checkpoint_and_its_result_leaves_no_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing after a report's checkpoint is stored and before its result is: the resumed
    trial goes on from the last checkpoint whose result is stored, so its history has no hole."""
    from rung.store.sqlite import Store

    def train(config: dict[str, float]) -> None:
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 6):
            rung.report({"loss": config["x"] + step}, checkpoint=step)

    add_result = Store.add_result
    interrupted: list[tuple[int, int]] = []

    def interrupt_once(self: Store, trial_id: int, result: dict[str, Any], best: dict[str, Any] | None) -> None:
        if not interrupted and trial_id == 1 and result["training_iteration"] == 3:
            interrupted.append((trial_id, 3))
            raise KeyboardInterrupt  # as if Ctrl-C reached the driver here
        add_result(self, trial_id, result, best)

    common: dict[str, Any] = dict(
        metric="loss",
        num_samples=3,
        max_concurrent=1,
        name="hole",
        storage=tmp_path,
        resume=True,
        verbose=0,
        seed=3,
        search="random",
        scheduler="fifo",
        executor="thread",
    )
    monkeypatch.setattr(Store, "add_result", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        rung.run(train, {"x": rung.uniform(0, 1)}, **common)
    assert interrupted == [(1, 3)]
    stored = rung.load("hole", storage=tmp_path)
    assert stored.status == "INTERRUPTED"
    assert [r["training_iteration"] for r in stored.history(1)] == [1, 2]

    monkeypatch.setattr(Store, "add_result", add_result)
    result = rung.run(train, {"x": rung.uniform(0, 1)}, **common)
    assert len(result.trials) == 3
    assert all([r["training_iteration"] for r in result.history(t.id)] == list(range(1, 7)) for t in result.trials)
