"""bench/record.py and bench/tables.py: recorded learning curves, resumable, replayed on the simulated clock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rung
from bench.record import QUICK, draw_configs, main, record
from bench.tables import SPACES, Table
from rung.executors.simulated import SimulatedExecutor
from rung.space import Space
from rung.types import Status


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tables")
    for name in ("mlp", "gbt"):
        assert main([name, "--quick", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", ["mlp", "gbt"])
def test_quick_table_has_every_seed_config_and_step(quick: Path, name: str) -> None:
    table = Table.load(name, quick)
    seeds, configs, steps = QUICK["seeds"], QUICK["configs"], QUICK["steps"]
    assert table.seeds == (0, 1) and table.steps == steps
    assert sorted(table.metrics) == ["val_acc", "val_loss"]
    for array in [*table.metrics.values(), table.seconds]:
        assert array.shape == (seeds, configs, steps) and array.dtype == np.float32
    assert np.all(table.seconds > 0)
    assert np.all((table.metrics["val_acc"] >= 0) & (table.metrics["val_acc"] <= 1))
    assert np.all(np.isfinite(table.metrics["val_loss"]))
    assert table.configs == draw_configs(name, configs, 0)
    assert all(Space(SPACES[name]).contains(c) for c in table.configs)
    assert len({json.dumps(c, sort_keys=True) for c in table.configs}) == configs
    # Seeds change the training, so the curves of two seeds differ.
    assert not np.array_equal(table.metrics["val_loss"][0], table.metrics["val_loss"][1])
    assert table.meta["configs"] == configs and table.meta["space"] == Space(SPACES[name]).to_json()


def test_configs_are_a_prefix_whatever_the_size() -> None:
    assert draw_configs("gbt", 3, 0) == draw_configs("gbt", 10, 0)[:3]
    assert draw_configs("gbt", 3, 0) != draw_configs("gbt", 3, 1)


def test_same_seed_same_table_and_resume_continues_exactly(quick: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    record("mlp", again, QUICK["configs"], QUICK["steps"], QUICK["seeds"])
    resumed = tmp_path / "resumed"
    record("mlp", resumed, QUICK["configs"], QUICK["steps"], QUICK["seeds"], limit=8)  # stopped in seed 1
    partial = resumed / "mlp.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 8
    assert Table.load("mlp", resumed).seeds == (0,)  # the table so far: seed 0 is complete
    with partial.open("a") as stream:
        stream.write('{"seed": 1, "index": 2, "wa')  # killed while writing a line
    record("mlp", resumed, QUICK["configs"], QUICK["steps"], QUICK["seeds"])
    assert len(partial.read_text().splitlines()) == 1 + QUICK["configs"] * QUICK["seeds"]
    first = Table.load("mlp", quick)
    for other in (Table.load("mlp", again), Table.load("mlp", resumed)):
        assert other.configs == first.configs and other.seeds == first.seeds
        for metric, values in first.metrics.items():
            np.testing.assert_array_equal(other.metrics[metric], values)


def test_interrupted_in_seed_zero_keeps_the_finished_prefix(tmp_path: Path) -> None:
    record("gbt", tmp_path, 5, 2, 2, limit=3)
    table = Table.load("gbt", tmp_path)
    assert table.seeds == (0,) and len(table.configs) == 3 and table.metrics["val_acc"].shape == (1, 3, 2)


def test_other_settings_cannot_continue_a_recording(tmp_path: Path) -> None:
    record("gbt", tmp_path, 1, 2, 1)
    with pytest.raises(ValueError) as info:
        record("gbt", tmp_path, 1, 3, 1)
    assert str(info.value) == (
        f"{tmp_path / 'gbt.partial.jsonl'} was recorded with other settings: "
        "{'table': 'gbt', 'steps': 2, 'config_seed': 0}; this run has {'table': 'gbt', 'steps': 3, 'config_seed': 0}"
    )


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        record("svm", tmp_path, 1, 1, 1)
    assert str(info.value) == "record needs name to be one of ['gbt', 'mlp']; got name='svm'"
    with pytest.raises(ValueError) as info:
        record("mlp", tmp_path, 0, 1, 1)
    assert str(info.value) == "record needs configs >= 1; got configs=0"
    with pytest.raises(ValueError) as info:
        Table.load("svm")
    assert str(info.value) == "Table.load needs name to be one of ['gbt', 'mlp']; got name='svm'"
    with pytest.raises(FileNotFoundError, match="no recorded table 'mlp' at"):
        Table.load("mlp", tmp_path / "nothing")


def test_nearest_finds_recorded_configs_and_neighbours(quick: Path) -> None:
    table = Table.load("gbt", quick)
    assert [table.nearest(c) for c in table.configs] == list(range(len(table.configs)))
    moved = dict(table.configs[3], max_features=table.configs[3]["max_features"] + 1e-6)
    assert table.nearest(moved) == 3
    with pytest.raises(KeyError, match=r"Table 'gbt' needs config keys \['max_bins'\]"):
        table.nearest({k: v for k, v in table.configs[0].items() if k != "max_bins"})


def test_best_is_the_best_recorded_value(quick: Path) -> None:
    for metric, mode in [("val_acc", "max"), ("val_loss", "min")]:
        table = Table.load("mlp", quick, metric=metric, seed=1)
        assert table.mode == mode
        config, value = table.best
        values = table.metrics[metric][1]
        assert value == float(values.max() if mode == "max" else values.min())
        assert value in values[table.configs.index(config)]


def test_objective_replays_through_the_simulated_executor(quick: Path, storage: Path) -> None:
    table = Table.load("gbt", quick)
    result = rung.run(
        table.objective,
        table.space,
        metric=table.metric,
        mode=table.mode,
        num_samples=10,
        search="random",
        executor=SimulatedExecutor(workers=2, decision_seconds=0.0),
        storage=storage,
        verbose=0,
        seed=3,
    )
    assert len(result.trials) == 10
    for trial in result.trials:
        assert trial.status is Status.TERMINATED
        index = table.nearest(trial.config)
        history = result.history(trial.id)
        assert [r["val_acc"] for r in history] == table.metrics["val_acc"][0, index].tolist()
        assert [r["time_this_iter_s"] for r in history] == table.seconds[0, index].tolist()
    best = result.best
    assert best is not None and best.best_metrics is not None
    assert best.best_metrics["val_acc"] <= table.best[1]


def test_interpolated_gives_each_config_its_own_curve_and_none_beats_best(quick: Path) -> None:
    table = Table.load("mlp", quick, metric="val_loss")
    assert [table.interpolated(c) == table.curve(i) for i, c in enumerate(table.configs)] == [True] * len(table.configs)
    rng = np.random.default_rng(0)
    space = Space(table.space)
    curves = [table.interpolated(space.sample(rng)) for _ in range(50)]
    finals = {curve.metrics[-1]["val_loss"] for curve in curves}
    assert len(finals) == 50  # distinct configurations, distinct curves: no ties at a rung
    values, seconds = table.metrics["val_loss"][0], table.seconds[0]
    for curve in curves:
        losses = np.array([step["val_loss"] for step in curve.metrics])
        # Each step a convex combination of recorded values: inside their range, so regret stays exact.
        assert np.all(losses >= values.min(axis=0) - 1e-9) and np.all(losses <= values.max(axis=0) + 1e-9)
        assert np.all(np.asarray(curve.seconds) >= seconds.min(axis=0) - 1e-9)
        assert len(curve.metrics) == table.steps and curve.metrics[1:3] == [curve.metrics[1], curve.metrics[2]]
    assert min(float(curve.metrics[s]["val_loss"]) for curve in curves for s in range(table.steps)) >= table.best[1]
    with pytest.raises(ValueError, match=r"interpolated needs 1 <= k <= \d+ \(the recorded rows\); got k=0"):
        table.interpolated(table.configs[0], k=0)
    with pytest.raises(KeyError, match="needs config keys"):
        table.interpolated({})


@pytest.mark.parametrize("shared", [False, True])
def test_replay_answers_each_new_config_with_an_unused_recorded_one(quick: Path, tmp_path: Path, shared: bool) -> None:
    table = Table.load("gbt", quick)
    claims = tmp_path / "claims.tsv" if shared else None
    replay = table.replay(claims)
    # Another process of the same run: a second object over the same claims file.
    other = table.replay(claims) if shared else replay
    first = dict(table.configs[2])
    near = {**first, "max_features": first["max_features"] * 0.999}  # nearest to recorded config 2 too
    assert table.nearest(near) == 2
    assert replay.index(first) == 2
    given = other.index(near)
    assert given != 2 and given == table.nearest(near, exclude=[2])
    assert replay.index(first) == 2 and other.index(near) == given  # asked again: the same answer
    rest = [replay.index({**first, "max_bins": 16 + i}) for i in range(QUICK["configs"] - 2)]
    assert sorted([2, given, *rest]) == list(range(QUICK["configs"]))  # every recorded config used once
    # All used: the nearest of all again, and the curve is that config's.
    assert replay.index({**first, "max_bins": 200}) == table.nearest({**first, "max_bins": 200})
    assert replay(first) == table.curve(2)


def test_step_correlation_grows_towards_the_end_and_checks_its_step() -> None:
    table = Table.load("mlp", metric="val_loss")
    first, late = table.step_correlation(1), table.step_correlation(32)
    assert 0.0 < first < late <= 1.0
    with pytest.raises(ValueError, match=r"step_correlation needs 1 <= step <= 50; got step=51"):
        table.step_correlation(51)
