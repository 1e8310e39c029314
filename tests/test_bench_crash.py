"""bench/crash.py (`python -m bench crash`) at a tiny size, and its report of a mismatch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.crash import markdown
from rung.testing.crash import CrashReport, KillPoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_three_kills_of_one_method(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "crash", "--kills", "3", "--methods", "pbt", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    raw = json.loads((tmp_path / "reports.json").read_text())
    assert [r["setup"] for r in raw] == ["pbt"] and len(raw[0]["kills"]) == 3 and raw[0]["mismatches"] == []
    text = (tmp_path / "report.md").read_text()
    assert "| pbt | 1 | 3 | 3 | 0 | 0 |" in text and "Experiments with mismatches: 0." in text


def test_a_mismatch_is_reported_with_the_kills_that_replay_it() -> None:
    report = CrashReport("pbt", 7, kills=[KillPoint("report", 2, 3), KillPoint("time", seconds=0.5)], resumes=2)
    report.mismatches.append("best result: uninterrupted (1, {}), killed and resumed (2, {})")
    text = markdown([report], "python -m bench crash --kills 2", 12.0)
    assert "| pbt | 1 | 2 | 2 | 0 | 1 | 1 | 0 | 0 | 0 | 0 | 1 |" in text
    assert (
        'replay: crash.check(\'pbt\', folder, seed=7, plan=[KillPoint("report", 2, 3), KillPoint("time", seconds=0.5)])'
        in text
    )
