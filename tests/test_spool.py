"""A trial's folder and log file are made only when it prints (process executor, `_spool.py`).

Before, every trial got `trials/<id>/log.txt` whether it printed or not. Now a trial that prints
nothing leaves nothing; one that prints (itself, or a process it starts) gets its log, also when
its worker dies mid-trial, and a trial that runs again appends to its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors import _procs
from rung.executors.base import Ended
from rung.executors.process import ProcessExecutor
from rung.session import Job
from rung.testing.executors import collect

pytestmark = pytest.mark.skipif(not _procs.LINUX, reason="the spool needs a supervised worker (Linux)")


def speaks(config: dict[str, Any]) -> dict[str, int]:
    if config.get("say"):
        print(config["say"], flush=True)
        subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)
    if config.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-trial, its output already written
    return {"m": 1}


def _log(root: Path, trial_id: int) -> Path:
    return root / "trials" / f"{trial_id:06d}" / "log.txt"


def _run(root: Path, jobs: list[tuple[int, dict[str, Any]]], capacity: int = 1) -> list[Ended]:
    ex = ProcessExecutor(capacity)
    ex.start(speaks)
    ended: list[Ended] = []
    try:
        for trial_id, config in jobs:
            ex.submit(Job(trial_id, config, log_path=str(_log(root, trial_id))))
            ended += [e for e in collect(ex, until=1) if isinstance(e, Ended)]
    finally:
        ex.shutdown()
    return ended


def test_a_trial_that_prints_nothing_has_no_folder_and_one_that_prints_has_its_log(tmp_path: Path) -> None:
    ended = _run(tmp_path, [(1, {}), (2, {"say": "two"}), (3, {}), (4, {"say": "four"}), (5, {})])
    assert [e.kind for e in ended] == ["completed"] * 5
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["000002", "000004"]
    assert _log(tmp_path, 2).read_text() == "two\nfrom a child\n"
    assert _log(tmp_path, 4).read_text() == "four\nfrom a child\n"
    assert not _log(tmp_path, 1).exists() and not _log(tmp_path, 3).parent.exists()


def test_a_trial_that_runs_again_appends_to_its_log(tmp_path: Path) -> None:
    _run(tmp_path, [(1, {"say": "first"}), (1, {}), (1, {"say": "again"})])
    assert _log(tmp_path, 1).read_text() == "first\nfrom a child\nagain\nfrom a child\n"
    assert [p.name for p in (tmp_path / "trials").iterdir()] == ["000001"]  # no output file left


def test_the_output_of_a_trial_whose_worker_died_is_its_log(tmp_path: Path) -> None:
    ended = _run(tmp_path, [(1, {"say": "last words", "die": True}), (2, {"say": "next"})])
    assert ended[0].kind == "error" and ended[0].error is not None and "SIGKILL" in ended[0].error
    assert _log(tmp_path, 1).read_text() == "last words\nfrom a child\n"
    assert _log(tmp_path, 2).read_text() == "next\nfrom a child\n"
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["000001", "000002"]


def test_a_run_keeps_logs_of_the_trials_that_print(tmp_path: Path) -> None:
    def quiet_or_not(config: dict[str, Any]) -> dict[str, int]:
        if config["x"] % 2:
            print(f"odd {config['x']}")
        return {"m": config["x"]}

    result = rung.run(quiet_or_not, {"x": rung.grid([1, 2, 3, 4])}, metric="m", storage=tmp_path, name="q", verbose=0)
    assert [t.log_path.exists() for t in result.trials] == [True, False, True, False]
    assert [t.log_path.read_text() for t in result.trials if t.id % 2] == ["odd 1\n", "odd 3\n"]
    assert sorted(p.name for p in (tmp_path / "q" / "trials").iterdir()) == ["000001", "000003"]
