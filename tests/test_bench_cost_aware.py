"""bench.cost_aware: a run's regret curve against money spent."""

from __future__ import annotations

from bench.cost_aware import _at, run_once


def test_a_run_spends_its_budget_and_its_best_only_improves() -> None:
    curve = run_once("mlp", seed=0, cost_aware=True, trials=12)
    spent = [s for s, _ in curve]
    best = [b for _, b in curve]
    assert spent == sorted(spent) and 1.0 <= spent[-1] < 1.5  # stops once the budget is spent
    assert best == sorted(best)  # val_acc, maximised: the best so far never falls
    assert _at(curve, 0.5) <= _at(curve, 1.0) <= best[-1]
