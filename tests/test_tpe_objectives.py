"""rung.TPE with several objectives (MOTPE) and constraints (c-TPE's rule), and its split beside Optuna's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.objectives import Objectives, hypervolume, pareto_ranks
from rung.search._tpe_objectives import hssp_order, motpe_losses, reference_point
from rung.space import Space
from rung.types import Status


def test_hssp_order_is_the_greedy_hypervolume_order() -> None:
    rng = np.random.default_rng(0)
    for dims in (2, 3):
        for _ in range(10):
            points = rng.random((12, dims))
            front = points[pareto_ranks(points) == 0]
            ref = reference_point(front)
            picked: list[int] = []
            for _ in range(len(front)):  # the greedy order by the definition: the largest hypervolume gain next
                gains = [(hypervolume(front[[*picked, i]], ref), -i) for i in range(len(front)) if i not in picked]
                picked.append(-max(gains)[1])
            assert hssp_order(front, len(front)) == picked


def test_motpe_losses_rank_fronts_then_the_greedy_order_and_match_optunas_split() -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.samplers._tpe.sampler import _split_complete_trials

    rng = np.random.default_rng(1)
    for n_good in (1, 4, 9):
        values = rng.random((30, 2))
        losses = motpe_losses(values, n_good)
        ranks = pareto_ranks(values)
        assert all(losses[i] < losses[j] for i in range(30) for j in range(30) if ranks[i] == 0 < ranks[j])
        study = optuna.create_study(directions=["minimize", "minimize"])
        dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
        study.add_trials(
            [optuna.trial.create_trial(params={"x": 0.5}, distributions=dist, values=list(v)) for v in values]
        )
        below, _ = _split_complete_trials(study.trials, study, n_good)
        assert {t.number for t in below} == set(np.argsort(losses, kind="stable")[:n_good].tolist())


def _zdt(config: dict[str, Any]) -> dict[str, float]:
    x = [config[f"x{i}"] for i in range(4)]
    g = 1 + 9 * sum(x[1:]) / 3
    return {"f1": x[0], "f2": g * (1 - math.sqrt(x[0] / g)), "training_iteration": 1}


def _loop(searcher: rung.Searcher, objectives: Objectives, fn: Any, trials: int) -> list[dict[str, float]]:
    space = Space.of({f"x{i}": rung.uniform(0, 1) for i in range(4)})
    searcher.setup(space, metric=objectives.metrics[0], mode=objectives.modes[0], num_samples=trials, seed=3)
    searcher.set_objectives(objectives)
    out = []
    for trial_id in range(1, trials + 1):
        config = searcher.suggest(trial_id)
        assert config is not None
        result = fn(config)
        searcher.observe(trial_id, result)
        searcher.on_complete(trial_id, Status.TERMINATED, result)
        out.append(result)
    return out


def test_motpe_finds_more_of_the_front_than_random_search() -> None:
    objectives = Objectives.of(["f1", "f2"], "min")

    def volume(results: list[dict[str, float]]) -> float:
        return hypervolume(np.array([[r["f1"], r["f2"] / 10] for r in results]), [1.0, 1.0])

    tpe = volume(_loop(rung.TPE(), objectives, _zdt, 80))
    random = volume(_loop(rung.Random(), objectives, _zdt, 80))
    assert tpe > random + 0.01, (tpe, random)


def test_tpe_learns_to_propose_feasible_configurations() -> None:
    def sphere(config: dict[str, Any]) -> dict[str, float]:
        x = [config[f"x{i}"] for i in range(4)]
        return {"loss": sum((v - 0.8) ** 2 for v in x), "total": sum(x), "training_iteration": 1}

    aware = Objectives.of("loss", "min", constraints={"total": ("<=", 1.6)})
    blind = Objectives.of("loss", "min", constraints={"other": ("<=", 1.0)})  # a constraint it never sees broken
    with_constraint = _loop(rung.TPE(), aware, sphere, 50)[10:]
    without = _loop(rung.TPE(), blind, lambda c: {**sphere(c), "other": 0.0}, 50)[10:]
    share = float(np.mean([r["total"] > 1.6 for r in with_constraint]))
    share_blind = float(np.mean([r["total"] > 1.6 for r in without]))
    assert share < 0.35 < share_blind, (share, share_blind)


def test_a_resumed_motpe_run_proposes_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> dict[str, float]:
        result = _zdt(config)
        del result["training_iteration"]
        return {**result, "mb": 100 * config["x1"]}

    space = {f"x{i}": rung.uniform(0, 1) for i in range(4)}
    settings: dict[str, Any] = {
        "metric": ["f1", "f2"], "mode": "min", "constraints": {"mb": ("<=", 50)}, "executor": "thread",
        "max_concurrent": 1, "verbose": 0, "seed": 4,
    }  # fmt: skip
    rung.run(train, space, num_samples=14, storage=tmp_path / "a", name="e", **settings)
    resumed = rung.run(train, space, num_samples=24, storage=tmp_path / "a", name="e", resume=True, **settings)
    straight = rung.run(train, space, num_samples=24, storage=tmp_path / "b", name="e", **settings)
    assert [t.config for t in resumed.trials] == [t.config for t in straight.trials]
    assert [t.id for t in resumed.pareto_front()] == [t.id for t in straight.pareto_front()]


def test_motpe_under_milestones_keeps_no_record_of_ended_trials() -> None:
    # Under a milestone scheduler TPE notes each trial's value at each milestone; with several objectives
    # those notes are not read once the trial has ended, and were kept for the whole run (one per trial).
    space = Space.of({f"x{i}": rung.uniform(0, 1) for i in range(4)})
    objectives = Objectives.of(["f1", "f2"], "min")
    tpe = rung.TPE()
    tpe.setup(space, metric="f1", mode="min", num_samples=30, seed=3)
    tpe.set_objectives(objectives)
    tpe.set_fidelity("training_iteration", [1.0, 3.0, 9.0])
    for trial_id in range(1, 31):
        config = tpe.suggest(trial_id)
        assert config is not None
        for step in (1, 2, 3):
            tpe.observe(trial_id, {**_zdt(config), "training_iteration": step})
        tpe.on_complete(trial_id, Status.TERMINATED, {**_zdt(config), "training_iteration": 3})
    assert tpe._at == {}
