"""`rung.GP`: proposals, learning, parallel slots, failures, determinism, resume and bad input."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.models.gp import GaussianProcess
from rung.search import SEARCHERS
from rung.search.gp import GP, _fit_budget
from rung.search.random import Random
from rung.space import Space
from rung.types import Status

Objective = Callable[[dict[str, Any]], float]


def branin(config: dict[str, Any]) -> float:
    x1, x2 = float(config["x1"]), float(config["x2"])
    return (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )


BRANIN = {"x1": rung.uniform(-5, 10), "x2": rung.uniform(0, 15)}


def drive(
    searcher: Any,
    space: dict[str, Any] | Space,
    fn: Objective,
    n: int,
    *,
    parallel: int = 1,
    mode: str = "min",
    seed: int = 0,
    status: Callable[[dict[str, Any]], Status] = lambda c: Status.TERMINATED,
) -> list[tuple[dict[str, Any], float]]:
    """Run `n` trials the way the tuner does, with `parallel` trials running at once."""
    searcher.setup(Space.of(space), metric="y", mode=mode, num_samples=n, seed=seed)
    running: list[tuple[int, dict[str, Any]]] = []
    out: list[tuple[dict[str, Any], float]] = []
    trial_id = 0
    while True:
        while len(running) < parallel:
            config = searcher.suggest(trial_id + 1)
            if config is None:
                break
            trial_id += 1
            running.append((trial_id, config))
        if not running:
            return out
        done, config = running.pop(0)
        value = fn(config)
        result = {"y": value, "training_iteration": 1}
        searcher.observe(done, result)
        searcher.on_complete(done, status(config), result)
        out.append((config, value))


def best(history: list[tuple[dict[str, Any], float]]) -> float:
    return min(v for _, v in history if math.isfinite(v))


def test_learns_branin_far_better_than_random() -> None:
    # Optimum 0.397887. Random search with 30 trials typically ends above 1.
    for seed in (0, 1):
        gp = best(drive(GP(seed=seed), BRANIN, branin, 30))
        random = best(drive(Random(seed=seed), BRANIN, branin, 30))
        assert gp < 0.45 < random


@pytest.mark.parametrize("acquisition", ["pi", "ucb"])
def test_other_acquisitions_learn_too(acquisition: str) -> None:
    assert best(drive(GP(acquisition, seed=1), BRANIN, branin, 30)) < 0.6


def test_mode_max_climbs() -> None:
    history = drive(GP(seed=0), {"x": rung.uniform(-2, 2)}, lambda c: -((c["x"] - 0.7) ** 2), 15, mode="max")
    assert max(v for _, v in history) > -1e-4


def test_every_suggestion_spends_a_bounded_share_of_the_hyperparameter_fit() -> None:
    assert [_fit_budget(n) for n in (2, 50, 100, 200, 300, 500, 2000)] == [200, 200, 50, 12, 5, 2, 2]
    searcher = GP(seed=0)
    searcher.setup(Space(BRANIN), metric="y", mode="min", num_samples=60, seed=0)
    spent: list[tuple[int, int]] = []
    for trial_id in range(1, 61):
        config = searcher.suggest(trial_id)
        assert config is not None
        fit = searcher._gp.last_fit
        if fit is not None and trial_id > 11:  # the startup trials are random: no fit
            spent.append((len(searcher._done), fit.evaluations))
        searcher.on_complete(trial_id, Status.TERMINATED, {"y": branin(config)})
    assert len(spent) == 49 and all(evaluations <= _fit_budget(n) for n, evaluations in spent)
    # Mostly a warm start needs only a few evaluations; the restarts (each time the data grew by 10%) need more.
    assert sorted(e for _, e in spent)[len(spent) // 2] < 40 < max(e for _, e in spent)


def test_fit_spread_over_suggestions_follows_a_full_fit() -> None:
    searcher = GP(seed=2)
    history = drive(searcher, BRANIN, branin, 80)
    assert best(history) < 0.405  # the optimum is 0.397887
    data = searcher._data()
    assert data is not None
    X, y = data
    model = searcher._gp
    full = GaussianProcess(model.n_dims, lengthscale_prior=model.lengthscale_prior)
    full.fit(X, y, rng=np.random.default_rng(0), restarts=4)
    model.X, model.y = X, y  # the last suggestion's data held the same points
    assert full.last_fit is not None
    gap = model.neg_log_likelihood(model.theta)[0] - full.last_fit.value
    assert gap / len(y) < 1e-3


def test_large_histories_keep_the_fit_to_a_few_evaluations() -> None:
    # 300 random observations first (as `python -m bench.gp_cost`), then the model: 5 evaluations at most.
    searcher = GP(seed=0, n_startup=300)
    searcher.setup(Space(BRANIN), metric="y", mode="min", num_samples=305, seed=0)
    for trial_id in range(1, 306):
        config = searcher.suggest(trial_id)
        assert config is not None
        if trial_id > 301:
            fit = searcher._gp.last_fit
            assert fit is not None and 1 <= fit.evaluations <= 5
        searcher.on_complete(trial_id, Status.TERMINATED, {"y": branin(config)})


def test_fewer_candidates_beyond_250_observations() -> None:
    searcher = GP(seed=0)
    searcher.setup(Space(BRANIN), metric="y", mode="min", num_samples=10, seed=0)
    rng = np.random.default_rng(0)
    for n, rows in ((10, 1024), (250, 1024), (500, 512), (1000, 256)):
        candidates = searcher._candidates(rng.uniform(size=(n, 2)), rng.normal(size=n), {})
        assert candidates.shape == (rows, 2) and ((candidates >= 0) & (candidates <= 1)).all()


MIXED = {
    "lr": rung.loguniform(1e-5, 1e-1),
    "layers": rung.randint(1, 4),
    "width": rung.qrandint(16, 256, 16),
    "batch": rung.lograndint(8, 512),
    "drop": rung.quniform(0.0, 0.5, 0.05),
    "shift": rung.normal(0.0, 2.0),
    "opt": rung.choice(["sgd", "adam", "rmsprop"]),
    "model": {"act": rung.choice(["relu", "tanh"]), "bias": True},
    "head": rung.choice([{"kind": "mlp", "units": rung.randint(8, 64)}, {"kind": "linear"}]),
    "wd": rung.sample_from(lambda c: c["lr"] / 10),
    "epochs": 3,
}


def mixed(c: dict[str, Any]) -> float:
    return float(
        (math.log10(c["lr"]) + 3) ** 2
        + (c["layers"] - 3) ** 2
        + ((c["width"] - 128) / 64) ** 2
        + (math.log2(c["batch"]) - 6) ** 2 / 4
        + (c["drop"] - 0.2) ** 2 * 10
        + (c["shift"] - 1) ** 2 / 4
        + (c["opt"] != "adam")
        + (c["model"]["act"] != "tanh")
        + (c["head"]["kind"] != "mlp")
    )


def test_mixed_space_proposals_are_valid_typed_and_beat_random() -> None:
    space = Space(MIXED)
    history = drive(GP(seed=0), space, mixed, 60)
    for config, _ in history:
        assert space.contains(config), config
        assert type(config["layers"]) is int and type(config["width"]) is int and type(config["batch"]) is int
        assert type(config["lr"]) is float and type(config["drop"]) is float
        assert config["wd"] == config["lr"] / 10 and config["epochs"] == 3 and config["model"]["bias"] is True
        assert -6.0 - 1e-9 <= config["shift"] <= 6.0 + 1e-9  # normal domains: searched within 3 sigma
        if config["head"]["kind"] == "mlp":
            assert type(config["head"]["units"]) is int
        else:
            assert config["head"] == {"kind": "linear"}
    # 13 encoded dimensions: after 60 trials the model is well ahead (at 40 it is about even).
    assert best(history) < 0.5 * best(drive(Random(seed=0), MIXED, mixed, 60))


def test_same_seed_and_events_same_proposals_other_seed_differs() -> None:
    a = drive(GP(seed=5), MIXED, mixed, 16, parallel=3)
    b = drive(GP(seed=5), MIXED, mixed, 16, parallel=3)
    c = drive(GP(seed=6), MIXED, mixed, 16, parallel=3)
    assert [x for x, _ in a] == [x for x, _ in b]
    assert [x for x, _ in a][12:] != [x for x, _ in c][12:]
    # The run's seed is used when the searcher has none.
    d = drive(GP(), MIXED, mixed, 16, parallel=3, seed=5)
    assert [x for x, _ in a] == [x for x, _ in d]


def test_parallel_proposals_spread_out() -> None:
    # Four slots free at once: the kriging believer keeps each proposal away from the running ones.
    for seed in range(3):
        gp = GP(seed=seed)
        gp.setup(Space(BRANIN), metric="y", mode="min", num_samples=30, seed=0)
        for trial_id in range(1, 9):
            config = gp.suggest(trial_id)
            assert config is not None
            gp.on_complete(trial_id, Status.TERMINATED, {"y": branin(config)})
        batch = [gp.suggest(trial_id) for trial_id in range(9, 13)]
        unit = np.array([[(c["x1"] + 5) / 15, c["x2"] / 15] for c in batch if c is not None])
        gaps = np.sqrt(((unit[:, None] - unit[None]) ** 2).sum(-1)) + np.eye(4)
        assert len(unit) == 4 and gaps.min() > 0.005


def test_integer_space_never_repeats_a_point_while_new_ones_remain() -> None:
    space = {"a": rung.randint(0, 3), "b": rung.choice(["x", "y"])}  # 8 points in all
    history = drive(GP(seed=0, n_startup=3), space, lambda c: c["a"] + (c["b"] == "x"), 8)
    model_made = [(c["a"], c["b"]) for c, _ in history[3:]]
    assert len(set(model_made)) == len(model_made)


def diverges(config: dict[str, Any]) -> float:
    return math.nan if config["x"] > 0.6 else (config["x"] - 0.5) ** 2


def test_nan_inf_and_failed_trials_do_not_break_it_and_diverged_regions_are_avoided() -> None:
    def status(config: dict[str, Any]) -> Status:
        return Status.ERROR if 0.1 < config["x"] < 0.15 else Status.TERMINATED

    history = drive(GP(seed=1), {"x": rung.uniform(0, 1)}, diverges, 30, status=status)
    assert len(history) == 30
    model_made = [c["x"] for c, _ in history[5:]]
    assert sum(x > 0.6 for x in model_made) <= 3  # random search: about 10 of 25
    assert best(history) < 1e-3

    # Only NaN, inf and errors: it keeps proposing (at random) without failing.
    history = drive(GP(seed=1), {"x": rung.uniform(0, 1)}, lambda c: math.inf, 10)
    history += drive(GP(seed=1), {"x": rung.uniform(0, 1)}, lambda c: 1.0, 10, status=lambda c: Status.ERROR)
    assert len(history) == 20


def test_last_reported_value_is_learnt_and_trials_without_the_metric_teach_nothing() -> None:
    gp = GP(seed=0, n_startup=2)
    gp.setup(Space({"x": rung.uniform(0, 1)}), metric="y", mode="min", num_samples=10, seed=0)
    for trial_id in (1, 2, 3):
        assert gp.suggest(trial_id) is not None
    gp.observe(1, {"y": 5.0})
    gp.observe(1, {"y": 1.0})
    gp.on_complete(1, Status.STOPPED, {"other": 1})  # the last result lacks the metric: 1.0 counts
    gp.observe(2, {"y": math.nan})
    gp.on_complete(2, Status.TERMINATED, {"y": math.nan})
    gp.on_complete(3, Status.TERMINATED, {"other": 2})  # never reported the metric
    assert gp._done == {1: 1.0, 2: pytest.approx(math.nan, nan_ok=True)}
    assert 3 not in gp._x


def test_num_samples_bounds_the_total_and_grids_are_crossed() -> None:
    gp = GP(seed=0, n_startup=2)
    space = {"x": rung.uniform(0, 1), "g": rung.grid(["a", "b", "c"])}
    history = drive(gp, space, lambda c: c["x"] + (c["g"] == "b"), 4)
    assert gp.total == 12 and len(history) == 12
    assert [c["g"] for c, _ in history] == ["a", "b", "c"] * 4
    assert gp.suggest(99) is None


def test_by_name_in_run_and_resume_replays_to_the_same_proposals(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> dict[str, float]:
        return {"y": branin(config)}

    common: dict[str, Any] = {
        "metric": "y",
        "executor": "thread",
        "max_concurrent": 1,
        "storage": storage,
        "seed": 4,
        "verbose": 0,
    }
    first = rung.run(objective, BRANIN, num_samples=14, search="gp", name="gp", **common)
    assert len(first.trials) == 14 and first.best is not None
    # The stored run is continued with a larger budget: the replay must rebuild the searcher exactly.
    resumed = rung.run(objective, BRANIN, num_samples=18, search=GP(), name="gp", resume=True, **common)
    clean = rung.run(objective, BRANIN, num_samples=18, search=GP(), name="clean", **common)
    assert [t.config for t in resumed.trials] == [t.config for t in clean.trials]
    assert isinstance(SEARCHERS["gp"](), GP)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"g": rung.grid([1, 2]), "c": 3}, "this space has only grid dimensions: use search='grid'"),
        ({"c": 3}, "this space has only constants: use search='grid'"),
        (
            {"m": rung.choice([{"a": rung.uniform(0, 1)}, {"b": rung.randint(1, 3)}]), "g": rung.grid([1, 2])},
            "this space has only choices between nested spaces (m): use search='tpe' or 'random'",
        ),
    ],
)
def test_spaces_it_cannot_model_fail_in_setup(space: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValueError, match="^" + re.escape("GP needs at least one number or choice to model; " + message) + "$"
    ):
        GP().setup(Space(space), metric="y", mode="min", num_samples=5, seed=0)


def test_bad_arguments_are_named(storage: Path) -> None:
    with pytest.raises(
        ValueError, match=r"^GP needs acquisition to be one of 'ei', 'pi', 'ucb'; got acquisition='lcb'$"
    ):
        GP("lcb")
    with pytest.raises(ValueError, match=r"^GP needs n_startup to be an integer >= 1 or None; got n_startup=0$"):
        GP(n_startup=0)
    with pytest.raises(ValueError, match=r"^GP needs seed to be an integer or None; got seed='1'$"):
        GP(seed="1")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^GP needs a metric to model; pass metric= to rung.run \(or use search='random'\)$"
    ):
        rung.run(lambda c: None, {"x": rung.uniform(0, 1)}, search="gp", executor="thread", storage=storage, verbose=0)
    assert not storage.exists()  # failed before anything was stored or started


def test_a_choice_of_numbers_is_one_ordered_input() -> None:
    space = Space({"x": rung.uniform(0, 1), "w": rung.choice([128, 32, 64, 256]), "opt": rung.choice(["a", "b"])})
    searcher = GP(seed=0)
    searcher.setup(space, metric="loss", mode="min", num_samples=10, seed=0)
    assert searcher._dims == 1 + 1 + 2  # x, w by rank, opt one-hot
    config = {"x": 0.5, "w": 128, "opt": "b"}
    x = searcher._encode(config)
    assert list(x[1:2]) == [(2 + 0.5) / 4]  # 128 is third of 32, 64, 128, 256
    assert searcher._decode(x)[("w",)] == 128
    assert GP(ordered_choices=False).ordered_choices is False
