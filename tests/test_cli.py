from __future__ import annotations

from pathlib import Path

import pytest

import rung
from rung.cli import main


def test_demo_ls_show(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--storage", str(storage), "--num-samples", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "best configuration" in out and "validation accuracy" in out
    result = rung.load("demo", storage=storage)
    assert len(result.trials) == 2 and all(1 <= t.iteration <= 15 for t in result.trials)
    # ASHA (grace 1, reduction 3) lets the better of the first two trials go on to the end.
    assert max(t.iteration for t in result.trials) == 15
    trained = sum(t.iteration for t in result.trials)
    assert f"ASHA trained {trained} epochs where running every trial to the end takes 30" in out.replace("\n", " ")
    assert result.best is not None and result.best.best_metrics is not None
    assert result.best.best_metrics["accuracy"] > 0.8
    assert f"{result.best.best_metrics['accuracy']:.4f}" in out

    assert main(["ls", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "FINISHED" in out

    assert main(["show", "demo", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert f"best: trial {result.best.id}" in out

    # `rung resume` finds the objective by its import path (rung.demo:train_mlp).
    assert main(["resume", "demo", "--storage", str(storage), "--verbose", "0"]) == 0
    assert f"best: trial {result.best.id}" in capsys.readouterr().out

    # A second `rung demo` resumes the finished experiment: nothing reruns, nothing is lost.
    assert main(["demo", "--storage", str(storage), "--num-samples", "2", "--verbose", "0"]) == 0
    again = rung.load("demo", storage=storage)
    assert [t.best_metrics for t in again.trials] == [t.best_metrics for t in result.trials]


def test_objective_import_path_is_stored(storage: Path) -> None:
    from rung.store.sqlite import Store

    assert main(["demo", "--storage", str(storage), "--num-samples", "1", "--verbose", "0"]) == 0
    store = Store.read(storage, "demo")
    try:
        assert store.experiment()["objective"] == "rung.demo:train_mlp"
    finally:
        store.close()


def test_show_unknown_experiment(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "nope", "--storage", str(storage)]) == 2
    assert "error: no experiment 'nope' in" in capsys.readouterr().err
