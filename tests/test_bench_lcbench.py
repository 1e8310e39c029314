"""bench/lcbench: the surrogate against YAHPO Gym's own numbers, the simulator, the report, and a smoke run."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.lcbench import report
from bench.lcbench.sim import Job, simulate


def _data_missing() -> str | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed (pip install -e '.[bench]')"
    from bench.lcbench.surrogate import data_dir

    try:
        data_dir()
    except FileNotFoundError as exc:
        return str(exc)
    return None


_MISSING = _data_missing()
needs_data = pytest.mark.skipif(_MISSING is not None, reason=f"LCBench surrogate unavailable: {_MISSING}")

# yahpo_gym 1.0.2's BenchmarkSet("lcbench").objective_function (in its own environment, numpy 1.26,
# ConfigSpace 0.6.1) on these inputs: time, val_accuracy, val_cross_entropy, val_balanced_accuracy,
# test_cross_entropy, test_balanced_accuracy.
_A = {
    "batch_size": 138,
    "learning_rate": 0.0007952411684214871,
    "max_dropout": 0.7970694287520462,
    "max_units": 129,
    "momentum": 0.9859952522566094,
    "num_layers": 2,
    "weight_decay": 0.0035776710745718783,
}
_B = {
    "batch_size": 358,
    "learning_rate": 0.041750370725703805,
    "max_dropout": 0.4679349528437208,
    "max_units": 219,
    "momentum": 0.8054691081002402,
    "num_layers": 1,
    "weight_decay": 0.05149373313893432,
}
_C = {
    "batch_size": 34,
    "learning_rate": 0.029086084075651858,
    "max_dropout": 0.2784256121007733,
    "max_units": 296,
    "momentum": 0.9801745314368775,
    "num_layers": 1,
    "weight_decay": 0.0917176056415533,
}
YAHPO = [
    ("3945", _A, 1, [7.78408, 42.12151, 0.53049, 0.53996, 0.67049, 0.54813]),
    ("3945", _B, 52, [82.81357, 72.4034, 0.52547, 0.71666, 0.58275, 0.70525]),
    ("189909", _B, 2, [6.83723, 62.87146, 0.84929, 0.61316, 1.01219, 0.61569]),
    ("189909", _C, 52, [63.34676, 59.93015, 0.86282, 0.59845, 1.02493, 0.60744]),
]


@needs_data
@pytest.mark.parametrize(("task", "config", "epoch", "expected"), YAHPO)
def test_surrogate_answers_as_yahpo_gym(task: str, config: dict[str, Any], epoch: int, expected: list[float]) -> None:
    from bench.lcbench.surrogate import Surrogate

    got = Surrogate().predict(task, [config], [epoch])[0, 0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=6e-5)


@needs_data
def test_curves_are_one_query_per_config_with_clipped_seconds() -> None:
    from bench.lcbench.surrogate import EPOCHS, FLOOR, Surrogate

    surrogate = Surrogate()
    curves = surrogate.curves("3945", [_A, _B, _A])
    assert curves.values.shape == curves.seconds.shape == (3, EPOCHS)
    raw = surrogate.predict("3945", [_A, _B], range(1, EPOCHS + 1))
    np.testing.assert_array_equal(curves.values[:2], raw[:, :, 1])
    np.testing.assert_array_equal(curves.values[0], curves.values[2])
    assert curves.seconds.min() >= FLOOR
    unclipped = np.diff(raw[:, :, 0], axis=1, prepend=0.0)
    np.testing.assert_array_equal(curves.seconds[:2], np.maximum(unclipped, FLOOR))


@needs_data
def test_the_34_tasks_are_the_spaces_instances_and_have_references() -> None:
    from bench.lcbench import reference
    from bench.lcbench.surrogate import Surrogate

    tasks = Surrogate().tasks
    # encoding.json also codes 167083, which is not one of LCBench's instances.
    assert len(tasks) == 34 and "167083" not in tasks
    assert sorted(reference.load(), key=int) == tasks


@needs_data
def test_unknown_task_is_named() -> None:
    from bench.lcbench.surrogate import Surrogate

    with pytest.raises(ValueError, match=r"LCBench has no task '42'; its tasks: 3945, 7593, "):
        Surrogate().curve("42", _A)


def test_data_dir_names_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.lcbench.surrogate import data_dir

    monkeypatch.setenv("RUNG_YAHPO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"not in {tmp_path}; set RUNG_YAHPO_DATA"):
        data_dir()


class _Fixed:
    """A peer that starts `n` trials of a given length and stops every trial whose first epoch is < 0.5."""

    def __init__(self, n: int, stop: int = 3, per_epoch: bool = True) -> None:
        self.n, self.stop, self.per_epoch = n, stop, per_epoch
        self.asked = 0
        self.events: list[tuple[str, int, int, float]] = []

    def ask(self) -> Job | None:
        if self.asked == self.n:
            return None
        self.asked += 1
        return Job(self.asked, {"x": self.asked}, stop=self.stop, per_epoch=self.per_epoch)

    def on_epoch(self, job: Job, epoch: int, value: float) -> bool:
        self.events.append(("epoch", int(job.key), epoch, value))  # type: ignore[call-overload]
        return not (epoch == 1 and value < 0.5)

    def on_end(self, job: Job, epoch: int, value: float) -> None:
        self.events.append(("end", int(job.key), epoch, value))  # type: ignore[call-overload]


def _curve(config: Any) -> tuple[np.ndarray, np.ndarray]:
    x = float(config["x"])
    return np.array([x / 10, x / 5, x / 4]), np.array([x, 1.0, 1.0])


def test_simulate_runs_workers_in_parallel_and_obeys_stops() -> None:
    peer = _Fixed(4)
    trace = simulate(peer, _curve, budget=100.0, workers=2)
    # Trials 1-4: first epochs take 1, 2, 3, 4 s; trials 1-4 report 0.1, 0.2, 0.3, 0.4 < 0.5: all stop at epoch 1.
    assert [e for e in peer.events if e[0] == "end"] == [
        ("end", 1, 1, 0.1),
        ("end", 2, 1, 0.2),
        ("end", 3, 1, 0.3),
        ("end", 4, 1, 0.4),
    ]
    assert trace.t == [1.0, 2.0, 4.0, 6.0]  # 3 starts at 1, 4 at 2
    assert (trace.jobs, trace.epochs) == (4, 4)


def test_simulate_stops_at_the_budget_and_reports_black_box_jobs_once() -> None:
    peer = _Fixed(10, per_epoch=False)
    trace = simulate(peer, _curve, budget=8.0, workers=1)
    # Job x takes x + 2 s: 3 s, then 4 s (ends at 7), then 5 s (would end at 12 > 8).
    assert trace.t == [3.0, 7.0]
    assert trace.values == [0.25, 0.5]
    assert [e[0] for e in peer.events] == ["end", "end"]
    assert (trace.jobs, trace.epochs) == (3, 6)


def test_simulate_rejects_bad_jobs_and_settings() -> None:
    with pytest.raises(ValueError, match=r"simulate needs workers >= 1; got workers=0"):
        simulate(_Fixed(1), _curve, budget=1.0, workers=0)
    with pytest.raises(ValueError, match=r"a job must train 0 <= start < stop <= 3 epochs; got start=0, stop=4"):
        simulate(_Fixed(1, stop=4), _curve, budget=1.0, workers=1)


def test_halves_alternate_in_numeric_order() -> None:
    got = report.halves(["7593", "3945", "126025", "34539"])
    assert got == {
        "all": ["3945", "7593", "34539", "126025"],
        "tuning": ["3945", "34539"],
        "held-out": ["7593", "126025"],
    }


def test_regret_at_is_nan_before_the_first_report() -> None:
    line = {"t": [0.5, 2.0], "best": [90.0, 95.0]}
    assert math.isnan(report.regret_at(line, 0.4, 100.0, 10.0))
    assert report.regret_at(line, 0.5, 100.0, 10.0) == 1.0
    assert report.regret_at(line, 3.0, 100.0, 10.0) == 0.5


def test_compute_to_reach_is_where_the_mean_curve_stays_below_the_target() -> None:
    grid = np.array([1.0, 2.0, 4.0, 8.0])
    reference = {"a": {"best": 100.0, "spread": 10.0}, "b": {"best": 100.0, "spread": 10.0}}
    lines = [{"t": [1.5, 3.0], "best": [90.0, 97.0]}, {"t": [0.5, 6.0], "best": [95.0, 99.0]}]
    mean = report.mean_curve(lines, ["a", "b"], reference, grid)
    assert math.isinf(mean[0])  # the first run has not reported at 1.0
    assert list(mean[1:]) == pytest.approx([(1.0 + 0.5) / 2, (0.3 + 0.5) / 2, (0.3 + 0.1) / 2])
    assert report.compute_to_reach(mean, grid, 0.4) == 4.0
    assert report.compute_to_reach(mean, grid, 0.2) == 8.0
    assert math.isinf(report.compute_to_reach(mean, grid, 0.1))
    assert report.compute_to_reach(np.array([0.5, 0.1, 0.3]), np.array([1.0, 2.0, 3.0]), 0.3) == 2.0


@needs_data
def test_smoke_run_writes_the_report_and_regret_falls_with_budget(tmp_path: Path) -> None:
    from bench.lcbench import cli

    args = ["--tasks", "3945", "7593", "--seeds", "1", "--budgets", "0.25", "1", "--jobs", "1"]
    code = cli.main([*args, "--methods", "rung-asha", "rung-random", "--out", str(tmp_path)])
    assert code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"runs.jsonl", "summary.json", "report.md", "regret.png"}
    runs = report.load_runs(tmp_path / "runs.jsonl")
    assert sorted((r["method"], r["task"]) for r in runs) == [
        ("rung-asha", "3945"),
        ("rung-asha", "7593"),
        ("rung-random", "3945"),
        ("rung-random", "7593"),
    ]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["subsets"]) == {"all", "tuning", "held-out"}
    assert summary["subsets"]["held-out"]["tasks"] == ["7593"]
    budgets = summary["subsets"]["all"]["budgets"]
    assert set(budgets) == {"0.25", "1.0"}
    for method in ("rung-asha", "rung-random"):
        early, late = budgets["0.25"][method]["mean_regret"], budgets["1.0"][method]["mean_regret"]
        assert 0 <= late <= early < 10
    assert budgets["1.0"]["rung-asha"]["mean_regret"] < budgets["0.25"]["rung-asha"]["mean_regret"]
    ranks = [budgets["1.0"][m]["rank"] for m in ("rung-asha", "rung-random")]
    assert sum(ranks) == 3.0  # two methods: ranks 1 and 2 (or shared) in every task
    # A second call runs nothing new: the runs are read back.
    before = (tmp_path / "runs.jsonl").read_text()
    assert cli.main([*args, "--methods", "rung-asha", "rung-random", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "runs.jsonl").read_text() == before


PEERS = ["optuna-hyperband", "ray-asha", "syne-asha", "syne-bohb", "syne-median", "dehb", "smac-mf"]


@needs_data
@pytest.mark.parametrize("method", PEERS)
def test_peer_runs_on_the_simulated_clock(method: str) -> None:
    from bench.lcbench import reference
    from bench.lcbench.runner import METHODS, missing, run_one

    if method not in METHODS:
        pytest.skip(f"{method} is not in this checkout's catalogue")
    why = missing(method)
    if why is not None:
        pytest.skip(f"{method} cannot run here: {why}")
    ref = reference.load()["34539"]
    line = run_one(method, "34539", 0, 1.0, ref["equivalent_s"], 4)
    assert line["jobs"] >= 4 and line["epochs"] >= 4
    assert line["t"] == sorted(line["t"]) and line["t"][0] > 0 and line["t"][-1] <= 1.0
    assert line["best"] == sorted(line["best"]) and len(set(line["best"])) == len(line["best"])
    assert ref["median"] - 3 * ref["spread"] < line["best"][-1] <= ref["best"]
    assert run_one(method, "34539", 0, 1.0, ref["equivalent_s"], 4)["best"] == line["best"]  # seeded


@needs_data
def test_a_failed_run_is_reported_and_the_others_are_kept(tmp_path: Path) -> None:
    import io

    from bench.lcbench.runner import run_many

    log = io.StringIO()
    out = tmp_path / "runs.jsonl"
    runs = [("no-such-method", "34539", 0), ("rung-random", "34539", 0)]
    failed = run_many(runs, budget=0.2, workers=4, equivalents={"34539": 140.568}, out=out, jobs=1, log=log)
    assert failed == 1
    assert "[1/2] no-such-method task 34539 seed 0 FAILED: 'no-such-method'" in log.getvalue()
    assert [line["method"] for line in report.load_runs(out)] == ["rung-random"]


def test_a_development_variant_of_the_default_replaces_only_the_settings_it_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.lcbench import methods_rung

    monkeypatch.delenv(methods_rung.VARIANT, raising=False)
    assert methods_rung.arguments("rung-default") == {}  # the product default, unchanged
    monkeypatch.setenv(methods_rung.VARIANT, '{"n_startup": 10, "brackets": 3, "pioneers": true}')
    searcher = methods_rung.arguments("rung-default")["search"]
    scheduler = searcher.paired_scheduler()
    assert (scheduler.brackets, scheduler.pioneers, scheduler.reduction_factor) == (3, True, 3)
    from rung.space import Space

    searcher.setup(Space(methods_rung.space()), metric="acc", mode="max", num_samples=10, seed=0)
    searcher._saw_curves()
    assert searcher._tpe.n_startup == 10


def test_a_development_variant_sets_tpe_s_split_and_random_share_once_curves_are_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.lcbench import methods_rung
    from rung.space import Space

    monkeypatch.setenv(methods_rung.VARIANT, '{"gamma": null}')  # TPE's own split, the default's before
    searcher = methods_rung.arguments("rung-default")["search"]
    searcher.setup(Space(methods_rung.space()), metric="acc", mode="max", num_samples=100, seed=0)
    searcher._saw_curves()
    assert searcher._tpe.gamma is None
    monkeypatch.setenv(methods_rung.VARIANT, '{"gamma": 0.3, "random_fraction": 0.5}')
    searcher = methods_rung.arguments("rung-default")["search"]
    searcher.setup(Space(methods_rung.space()), metric="acc", mode="max", num_samples=100, seed=0)
    searcher._saw_curves()
    assert searcher._tpe._n_below(30) == 9
    space = Space(methods_rung.space())
    drawn = 0
    for trial_id in range(1, 41):
        config = searcher.suggest(trial_id)
        own = np.random.default_rng([0, trial_id, 1])  # the trial's own generator decides, then samples
        if own.random() < 0.5:
            drawn += 1
            assert config == space.sample(own)
    assert drawn == 20


def test_adaptive_brackets_move_trials_from_a_milestone_whose_ranks_do_not_last() -> None:
    from bench.lcbench import methods_rung
    from rung.types import TrialInfo

    scheduler = methods_rung._AdaptiveBrackets({"min_pairs": 10, "floor": 0.25})
    scheduler.setup(metric=methods_rung.METRIC, mode="max", seed=0)
    base = list(scheduler.bracket_probabilities)
    for i in range(1, 61):
        trial = TrialInfo(id=i, config={}, checkpoint_iteration=1)
        scheduler.on_trial_add(trial)
        # The order at epoch 1 is reversed at epoch 3 (and kept at 9): milestone 1's ranks mislead.
        for step, value in ((1, i), (2, 0), (3, -i), (9, -i)):
            scheduler.on_result(trial, {methods_rung.METRIC: float(value), "training_iteration": step})
    tau = scheduler.consistency()
    assert tau[0] == -1.0 and tau[1] == 1.0
    scheduler.on_trial_add(TrialInfo(id=61, config={}, checkpoint_iteration=1))
    # Bracket 0's weight is 0, so it keeps its floor (a quarter of HyperBand's share) and the others
    # share the rest in HyperBand's proportions.
    floor, rest = 0.25 * base[0], [p / sum(base[1:]) for p in base[1:]]
    assert scheduler.bracket_probabilities == pytest.approx([p / (1 + floor) for p in (floor, *rest)])
