"""bench/suite.py (`python -m bench overhead`) and bench/scale.py, at a tiny size."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import suite
from bench.scale import run_scale, table_text

ROOT = Path(__file__).resolve().parents[1]


def _overhead(out: Path, *args: str) -> tuple[dict[str, Any], str]:
    command = [sys.executable, "-m", "bench", "overhead", "--out", str(out), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "overhead.json").read_text()), done.stdout


def _values(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row["values"] for row in report["rows"]}


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="needs optuna (the test extra)")
def test_tiny_suite_rung_and_optuna(tmp_path: Path) -> None:
    report, stdout = _overhead(
        tmp_path, "--engines", "rung", "optuna", "--trials", "4", "--sizes", "100", "--window", "3", "--repeat", "1"
    )
    values = _values(report)
    assert list(values) == [
        "sleep_s",
        "sleep_ratio",
        "noop_whole_s",
        "throughput",
        "tpe_ms_100",
        "peak_tree_mb",
        "peak_processes",
        "first_trial_s",
    ]
    for key, cells in values.items():
        assert set(cells) == {"rung", "optuna"}
        assert all(isinstance(v, (int, float)) and v > 0 for v in cells.values()), (key, cells)
    # 4 trials x 10 x 50 ms on 2 slots take at least the ideal 1 s; rung has a driver and 2 workers, each
    # a supervisor (which ends what the trials started when the driver dies) and the runner of the trials;
    # on Linux also the zygote the workers are forked from (rung/executors/_zygote.py).
    assert values["sleep_s"]["rung"] >= 1.0 and values["sleep_ratio"]["rung"] >= 1.0
    expected = 6 if sys.platform == "linux" else 3
    assert values["peak_processes"] == {"rung": expected, "optuna": 1}
    assert [(r["engine"], r["workload"], r["trials"]) for r in report["runs"]] == [
        ("rung", "sleep", 4),
        ("optuna", "sleep", 4),
        ("rung", "noop", 4),
        ("optuna", "noop", 4),
        ("rung", "throughput", 4),
        ("optuna", "throughput", 4),
        ("rung", "searcher", 100),
        ("optuna", "searcher", 100),
    ]
    assert all(r["error"] is None for r in report["runs"])
    assert report["meta"]["command"].startswith("python -m bench overhead --out ")
    table = (tmp_path / "overhead.md").read_text()
    assert "| figure | unit | rung | Optuna |" in table and table in stdout
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + len(values)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray[tune]")
def test_tiny_suite_ray_tune_sleep(tmp_path: Path) -> None:
    report, _ = _overhead(
        tmp_path, "--engines", "ray-tune", "--only", "sleep", "memory", "first-trial", "--trials", "2"
    )
    values = _values(report)
    assert list(values) == ["sleep_s", "sleep_ratio", "ray_init_s", "peak_tree_mb", "peak_processes", "first_trial_s"]
    assert all(cells["ray-tune"] > 0 for cells in values.values()), values
    # Ray's own processes (GCS, raylet, workers) are in the tree.
    assert values["peak_processes"]["ray-tune"] > 3


def test_bad_arguments_say_which_and_what(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        suite.parse(["--trials", "0"])
    assert "error: --trials must be >= 1; got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        suite.parse(["--sizes", "100", "0"])
    assert "error: --sizes must all be >= 1; got [100, 0]" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("optuna") is None, reason="needs every engine"
)
def test_plan_interleaves_engines_and_caps_ray_tune_throughput() -> None:
    plan, out = suite.parse(["--only", "throughput", "noop", "--repeat", "2", "--trials", "5000"])
    assert out == suite.DEFAULT_OUT
    runs = [(r.engine, r.workload, r.trials) for r in plan.runs()]
    assert runs == [
        ("rung", "noop", 5000),
        ("ray-tune", "noop", 5000),
        ("optuna", "noop", 5000),
        ("rung", "noop", 5000),
        ("ray-tune", "noop", 5000),
        ("optuna", "noop", 5000),
        ("rung", "throughput", 5000),
        ("rung-ray", "throughput", 5000),
        ("ray-tune", "throughput", 1000),
        ("optuna", "throughput", 5000),
    ]


def test_tree_rss_counts_this_process_and_its_children() -> None:
    alone, one = suite.tree_rss(os.getpid())
    assert one >= 1 and alone > 0
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with_child, more = suite.tree_rss(os.getpid())
        assert more == one + 1 and with_child > alone
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


def test_scale_marks_trials_real_and_simulated_time() -> None:
    outcome = run_scale(1_000, "random", workers=4)
    assert outcome.trials == 1_000 and outcome.real_s > 0 and outcome.simulated_s > 0
    assert outcome.objective == "interpolated" and 1_000 < outcome.reports < 50 * 1_000
    with pytest.raises(ValueError, match="objective to be one of"):
        run_scale(10, "random", objective="table")
    assert [m.trials for m in outcome.marks] == [1_000]
    assert outcome.marks[0].rss_mb > 0 and outcome.tracemalloc_peak_mb is None
    assert "| 1,000 |" in table_text(outcome)


def test_scale_times_a_resume_and_lists_where_memory_grows() -> None:
    outcome = run_scale(300, "random", workers=2, trace=True, resume=True)
    assert outcome.resume_s is not None and outcome.resume_s > 0
    sites = dict(outcome.growth)
    assert sites["all Python allocations"] > 0 and len(sites) > 1
    text = table_text(outcome)
    assert "Resumed (the store replayed into a new driver)" in text and "| all Python allocations |" in text
