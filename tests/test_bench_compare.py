"""bench/compare: the comparison runner end to end on a tiny budget, its statistics, its trials and its CLI."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from bench.compare import cli, methods_rung, simulate
from bench.compare.report import REFERENCE, Runs, load_lines, markdown, reach_times, write_report
from bench.compare.runner import launch
from bench.compare.spec import EXTRA, METHODS, Spec
from bench.compare.stats import median_ci, regret_at, regret_grid, regret_steps, time_to_reach, upper_median
from bench.compare.trial import Replay, read_trace
from bench.tables import Table

# The smoke run: methods of each engine, and the package each peer needs (None: rung itself).
SMOKE = {"rung-default": None, "rung-asha": None, "optuna-hyperband": "optuna", "ray-asha": "ray"}
# Ray Tune takes 5-20 wall seconds (the more load, the longer) to start its first trial here: 5
# recorded seconds at scale 6 (30 wall seconds) leave every engine time to report; 2 workers (fewer
# Ray actors to start); the 4 runs go side by side (--jobs 4).
BUDGET, SCALE, WORKERS = 5.0, 6.0, 2
SETTINGS = ["--tables", "gbt", "--seeds", "1"]
SETTINGS += ["--budget", str(BUDGET), "--scale", str(SCALE), "--workers", str(WORKERS)]


def _installed(package: str | None) -> bool:
    return package is None or importlib.util.find_spec(package) is not None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("compare")
    methods = [m for m, package in SMOKE.items() if _installed(package)]
    assert cli.main([*SETTINGS, "--jobs", "4", "--methods", *methods, "--out", str(out)]) == 0
    return out, methods


@pytest.mark.parametrize("method", list(SMOKE))
def test_smoke_run_line_has_a_non_empty_trace_within_the_budget(smoke: tuple[Path, list[str]], method: str) -> None:
    package = SMOKE[method]
    if package is not None:
        pytest.importorskip(package)
    out, _ = smoke
    lines = [line for line in load_lines(out / "runs.jsonl") if line["spec"]["method"] == method]
    assert len(lines) == 1
    line = lines[0]
    assert line["status"] == "ok", line.get("error")
    assert line["spec"] == {
        "table": "gbt",
        "method": method,
        "seed": 0,
        "budget": BUDGET,
        "scale": SCALE,
        "workers": WORKERS,
        "metric": "val_loss",
    }
    t, values = line["trace"]["t"], line["trace"]["value"]
    assert len(t) == len(values) == line["reports"] > 0
    assert t == sorted(t) and t[0] >= 0 and t[-1] <= BUDGET
    assert line["trials"] >= 1 and 0 < line["wall_s"] < line["process_s"]
    assert line["best"] == round(-Table.load("gbt", metric="val_loss").best[1], 6)  # replayed negated
    assert all(v <= line["best"] for v in values)
    engine = METHODS[method].engine
    assert line["versions"][engine] and line["versions"]["python"]
    times, regrets = regret_steps(t, values, line["best"])
    assert np.all(np.diff(regrets) < 0) and np.all(regrets >= 0)
    curve = regret_grid(times, regrets, np.linspace(0, BUDGET, 200))
    finite = curve[np.isfinite(curve)]
    assert finite.size > 0 and np.all(np.diff(finite) <= 0)


def test_smoke_report_has_a_row_and_a_line_per_method(smoke: tuple[Path, list[str]]) -> None:
    out, methods = smoke
    report = write_report(out, ["gbt"])
    assert (out / "regret-gbt.png").stat().st_size > 0
    assert (out / "report.md").read_text() == report.markdown
    rows = [row for row in report.markdown.splitlines() if row.startswith("| ") and not row.startswith("| method")]
    assert [row.split(" | ")[0][2:] for row in rows] == [m for m in METHODS if m in methods]
    assert all(len(row.split(" | ")) == 10 for row in rows)
    ax = report.figures["gbt"].axes[0]
    assert [line.get_label() for line in ax.get_lines()] == [f"{m} (1)" for m in METHODS if m in methods]
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel().startswith("regret of val_loss ")  # the runs' metric (the default)
    if REFERENCE in methods:
        ray_row = next(row for row in rows if row.startswith(f"| {REFERENCE} "))
        assert ray_row.endswith(" | 1.00 |")


def test_smoke_rerun_skips_what_is_done(smoke: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    out, methods = smoke
    before = (out / "runs.jsonl").read_text()
    assert cli.main([*SETTINGS, "--methods", *methods, "--out", str(out)]) == 0
    assert (out / "runs.jsonl").read_text() == before
    assert f"{len(methods)} of {len(methods)} runs already in {out / 'runs.jsonl'}: skipped" in capsys.readouterr().err


# --- statistics on hand-made traces ---


def test_regret_steps_keeps_the_improvements_of_the_running_best() -> None:
    times, regrets = regret_steps([3.0, 1.0, 2.0, 2.0, 4.0, 5.0], [0.7, 0.5, 0.4, 0.6, math.nan, 0.9], best=1.0)
    assert times.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert np.allclose(regrets, [0.5, 0.4, 0.3, 0.1])
    assert regret_at(times, regrets, 0.5) == math.inf
    assert regret_at(times, regrets, 2.0) == pytest.approx(0.4)
    assert regret_at(times, regrets, 4.9) == pytest.approx(0.3)
    assert np.allclose(regret_grid(times, regrets, np.array([0.0, 1.0, 2.5, 6.0])), [math.inf, 0.5, 0.4, 0.1])
    with pytest.raises(ValueError, match=r"^regret_steps needs one time per value; got 2 times and 1 values$"):
        regret_steps([1.0, 2.0], [0.5], best=1.0)


def test_time_to_reach_is_the_first_time_at_or_below_the_target_within_the_budget() -> None:
    times, regrets = np.array([1.0, 2.0, 6.0]), np.array([0.5, 0.3, 0.1])
    assert time_to_reach(times, regrets, 0.3, budget=8.0) == 2.0
    assert time_to_reach(times, regrets, 0.4, budget=8.0) == 2.0
    assert time_to_reach(times, regrets, 0.1, budget=8.0) == 6.0
    assert time_to_reach(times, regrets, 0.1, budget=5.0) == math.inf
    assert time_to_reach(times, regrets, 0.05, budget=8.0) == math.inf


def test_upper_median_is_a_value_half_the_runs_reach() -> None:
    assert upper_median([3.0, 1.0, 2.0]) == 2.0
    assert upper_median([0.4, 0.1, 0.3, 0.2]) == 0.3
    with pytest.raises(ValueError, match=r"^upper_median needs at least one value; got none$"):
        upper_median([])


def test_bootstrap_interval_on_known_distributions() -> None:
    assert median_ci([0.25] * 7) == (0.25, 0.25, 0.25)
    # Medians of 3 draws from {1, 2, 3}: P(1) = P(3) = 7/27, far above 2.5%, so the interval is [1, 3].
    assert median_ci([1.0, 2.0, 3.0]) == (2.0, 1.0, 3.0)
    # Two values: resampled medians are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4.
    assert median_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)
    # "Not reached" (infinity) stays exact: no interpolation between infinities.
    assert median_ci([1.0, math.inf, math.inf]) == (math.inf, 1.0, math.inf)
    values = list(np.random.default_rng(1).normal(size=30))
    assert median_ci(values, seed=5) == median_ci(values, seed=5)
    median, low, high = median_ci(values)
    assert low < median < high and median == float(np.median(values))
    with pytest.raises(ValueError, match=r"^median_ci needs at least one value; got none$"):
        median_ci([])
    with pytest.raises(ValueError, match=r"^median_ci needs 0 < level < 1; got level=1.5$"):
        median_ci([1.0], level=1.5)


def _runs(method: str, curves: list[tuple[list[float], list[float]]]) -> Runs:
    runs = Runs(method)
    for seed, (t, r) in enumerate(curves):
        runs.seeds.append(seed)
        runs.steps.append((np.array(t), np.array(r)))
        runs.trials.append(3)
        runs.reports.append(len(t))
    return runs


def test_time_to_the_reference_regret_and_ratio_on_hand_made_runs() -> None:
    runs = {
        "rung-asha": _runs("rung-asha", [([0.5, 1.0], [0.3, 0.15]), ([3.0], [0.2])]),
        REFERENCE: _runs(REFERENCE, [([1.0, 4.0], [0.5, 0.2]), ([2.0, 6.0], [0.4, 0.1])]),
        "optuna-tpe": _runs("optuna-tpe", [([1.0], [0.3]), ([2.0], [0.25])]),
    }
    reached = reach_times(runs, budget=8.0)
    assert reached is not None
    target, times = reached
    assert target == 0.2  # final regrets 0.2 and 0.1: the upper median
    assert times[REFERENCE][0] == 5.0  # reached at 4 and at 6
    assert times["rung-asha"][0] == 2.0  # reached at 1 and at 3
    assert times["optuna-tpe"] == (math.inf, math.inf, math.inf)
    text = markdown("mlp", {"budget": 8.0}, runs)
    rows = {row.split(" | ")[0][2:]: row for row in text.splitlines() if row.startswith("| ")}
    assert rows["rung-asha"].endswith(" | 2.00 [1.00, 3.00] | 0.40 |")
    assert rows[REFERENCE].endswith(" | 5.00 [4.00, 6.00] | 1.00 |")
    assert rows["optuna-tpe"].endswith(" | not reached | — |")
    # first report 1.75 s (0.5 and 3); at 2 s one seed has no report yet; at 4 and 8 s: 0.15 and 0.2
    assert rows["rung-asha"].startswith("| rung-asha | 2 | 3 | 2 | 1.75 | no report | 0.1750 [0.1500, 0.2000] | ")
    assert "Target: ray-asha's median final regret, 0.2000." in text
    assert reach_times({"rung-asha": runs["rung-asha"]}, budget=8.0) is None
    silent = _runs(REFERENCE, [([1.0], [0.5]), ([9.0], [0.1])])  # the second seed reported after the budget
    assert reach_times({REFERENCE: silent}, budget=8.0) is None
    assert "ray-asha: no report within the budget in half of its runs or more" in markdown(
        "mlp", {"budget": 8.0}, {REFERENCE: silent}
    )


# --- the replaying trial ---


def _replay(trace: Path, deadline: float = math.inf) -> Replay:
    values = np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.4]])
    domains: list[tuple[str, rung.Domain]] = [("x", rung.uniform(0.0, 1.0))]
    units = np.array([[0.1], [0.9]])
    claims = str(trace.with_suffix(".claims"))
    return Replay("mlp", domains, units, values, np.ones((2, 3)), 0.6, "val_acc", str(trace), 0.0, deadline, claims)


def test_replay_plays_the_nearest_curve_from_a_step_and_traces_each_report(tmp_path: Path) -> None:
    replay = _replay(tmp_path / "trace.txt")
    got: list[tuple[int, float]] = []
    assert replay.play({"x": 0.8}, 0, lambda step, value: got.append((step, value))) == 0.4
    assert got == [(1, 0.5), (2, 0.6), (3, 0.4)]
    got.clear()
    # A second config nearest the same recorded one gets the other (unused) curve; asked again, the
    # first config keeps its curve (a paused trial resuming from step 2).
    assert replay.play({"x": 0.85}, 2, lambda step, value: got.append((step, value))) == 0.3
    assert got == [(3, 0.3)]
    got.clear()
    assert replay.play({"x": 0.8}, 2, lambda step, value: got.append((step, value))) == 0.4
    assert got == [(3, 0.4)]
    lines = (tmp_path / "trace.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["s", "r", "r", "r", "r", "r"]  # resumed trials are no new starts
    assert [line.split()[2:] for line in lines[1:]] == [
        ["1", "0.5"],
        ["2", "0.6"],
        ["3", "0.4"],
        ["3", "0.3"],
        ["3", "0.4"],
    ]
    trace = read_trace(tmp_path / "trace.txt", t0=0.0, scale=1.0, budget=math.inf)
    assert trace.values == [0.5, 0.6, 0.4, 0.3, 0.4] and trace.starts == 1 and trace.late == 0


def test_replay_after_the_deadline_reports_nothing(tmp_path: Path) -> None:
    replay = _replay(tmp_path / "trace.txt", deadline=0.0)
    assert math.isnan(replay.play({"x": 0.8}, 0, lambda step, value: pytest.fail("reported")))
    assert not (tmp_path / "trace.txt").exists()


def test_read_trace_counts_only_reports_within_the_budget(tmp_path: Path) -> None:
    text = "s 100.0 0\nr 100.5 1 0.5\ns 101.0 0\nr 101.5 1 0.7\nr 102.5 2 0.8\nr 104.0 2 0.9\n"
    (tmp_path / "trace.txt").write_text(text)
    trace = read_trace(tmp_path / "trace.txt", t0=100.0, scale=2.0, budget=1.5)
    assert trace.t == [0.25, 0.75, 1.25] and trace.values == [0.5, 0.7, 0.8]
    assert trace.starts == 2 and trace.late == 1


def test_replay_of_a_table_answers_as_the_tables_own_replay(tmp_path: Path) -> None:
    table = Table.load("mlp")
    replay = Replay.of(table, tmp_path / "t", scale=1.0, deadline=math.inf, claims=tmp_path / "claims")
    same = table.replay()  # in memory: the same rule, nearest not yet used
    assert replay.steps == 50 and replay.best == table.best[1] and replay.metric == "val_acc"
    rng = np.random.default_rng(0)
    configs = [rung.Space(table.space).sample(rng) for _ in range(20)]
    configs += [{**configs[0], "beta_1": configs[0]["beta_1"] * (1 + 1e-6 * i)} for i in range(1, 6)]  # near one
    for config in configs:
        assert replay.nearest(config) == same.index(config)
    assert len({replay.nearest(c) for c in configs}) == len(configs)  # no recorded curve twice
    assert replay.values[7].tolist() == [m["val_acc"] for m in table.curve(7).metrics]
    assert replay.seconds[7].tolist() == list(table.curve(7).seconds)


def test_a_minimised_metric_is_replayed_negated(tmp_path: Path) -> None:
    table = Table.load("gbt", metric="val_loss")
    replay = Replay.of(table, tmp_path / "t", scale=1.0, deadline=math.inf, claims=tmp_path / "claims")
    assert replay.metric == "neg_val_loss" and replay.best == -table.best[1]
    assert replay.values[3].tolist() == [-m["val_loss"] for m in table.curve(3).metrics]


@pytest.mark.parametrize("method", [m for m in METHODS if METHODS[m].engine == "rung"])
def test_every_rung_method_builds_its_run_arguments(tmp_path: Path, method: str) -> None:
    replay = Replay.of(Table.load("gbt"), tmp_path / "t", scale=1.0, deadline=math.inf, claims=tmp_path / "c")
    extra, checkpoint = methods_rung.arguments(method, replay)
    assert checkpoint == (method in ("rung-hyperband", "rung-pbt", "rung-bohb", "rung-hyperband-tpe"))
    if method == "rung-default":
        assert extra == {}
    if method == "rung-pbt":
        assert extra["num_samples"] == methods_rung.PBT_POPULATION


# --- the command line and the runner ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "rung-foo"], f"--methods needs names from {', '.join(METHODS)}; got 'rung-foo'"),
        (["--tables", "mlp,cnn"], "--tables needs names from mlp, gbt; got 'cnn'"),
        (["--seeds", "0"], "--seeds must be an integer >= 1; got 0"),
        (["--budget", "-1"], "--budget must be a number > 0; got -1.0"),
        (["--scale", "nan"], "--scale must be a number > 0; got nan"),
        (["--workers", "0"], "--workers must be an integer >= 1; got 0"),
        (["--jobs", "0"], "--jobs must be an integer >= 1; got 0"),
    ],
)
def test_bad_options_are_named(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(args) == 2
    assert capsys.readouterr().err == f"python -m bench compare: {message}\n"


def test_report_of_a_folder_without_runs_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--report", str(tmp_path)]) == 2
    missing = tmp_path / "runs.jsonl"
    message = f"no runs to report: {missing} does not exist; run python -m bench compare --out {tmp_path}"
    assert capsys.readouterr().err == f"python -m bench compare: {message}\n"


def test_missing_peers_are_skipped_with_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "missing_modules", lambda m: ["ray"] if m.startswith("ray-") else [])
    assert cli._available(["rung-asha", "ray-asha", "ray-random", "optuna-tpe"]) == ["rung-asha", "optuna-tpe"]
    assert (
        capsys.readouterr().err
        == f"skipping ray-asha, ray-random: ray cannot be imported; install the bench extra: {EXTRA}\n"
    )


def test_a_crashed_run_is_recorded_as_failed_with_its_stderr() -> None:
    line: dict[str, Any] = launch(Spec("mlp", "no-such-method", 0, 1.0, 1.0, 1), timeout=120)
    assert line["status"] == "failed" and line["spec"]["method"] == "no-such-method"
    assert line["error"].startswith("exit code 1\n") and "KeyError: 'no-such-method'" in line["error"]
    json.dumps(line)  # a runs.jsonl line


def test_a_run_past_its_timeout_is_ended_and_recorded_as_failed() -> None:
    line = launch(Spec("mlp", "rung-random", 0, 30.0, 1.0, 1), timeout=0.5)
    assert line["status"] == "failed" and line["error"].startswith("timed out after 0.5 s\n")


# --- the simulated comparison (python -m bench simulate) ---


@pytest.mark.parametrize("objective", simulate.OBJECTIVES)
def test_simulated_runs_are_exact_regrets_and_repeat_for_a_seed(objective: str) -> None:
    options: dict[str, Any] = {"objective": objective, "budget": 3.0, "workers": 2, "charge": False}
    asha = simulate.simulate("rung-asha", "gbt", 1, **options)
    assert asha == simulate.simulate("rung-asha", "gbt", 1, **options)
    fifo = simulate.simulate("rung-random", "gbt", 1, **options)
    regret, trials = asha
    # A stopping scheduler starts more trials than FIFO on the same simulated budget; no run beats the table.
    assert 0.0 <= regret < 0.2 and 0.0 <= fifo[0] < 0.2 and trials > fifo[1] >= 2


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="needs optuna (the bench extra)")
@pytest.mark.parametrize("objective", simulate.OBJECTIVES)
def test_optuna_on_the_simulated_clock_repeats_for_a_seed_and_its_pruner_starts_more_trials(objective: str) -> None:
    options: dict[str, Any] = {"objective": objective, "budget": 3.0, "workers": 2, "charge": False}
    hyperband = simulate.simulate("optuna-hyperband", "gbt", 1, **options)
    assert hyperband == simulate.simulate("optuna-hyperband", "gbt", 1, **options)
    plain = simulate.simulate("optuna-tpe", "gbt", 1, **options)
    regret, trials = hyperband
    # Pruned trials free their worker: more trials on the same simulated budget; no run beats the table.
    assert 0.0 <= regret < 0.2 and 0.0 <= plain[0] < 0.2 and trials > plain[1] >= 2


def test_simulate_prints_a_table_per_objective(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--seeds", "2", "--budget", "2", "--tables", "mlp", "--methods", "rung-asha-tpe", "rung-hyperband-tpe"]
    assert simulate.main([*argv, "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("| rung-asha-tpe | ") == 2 and out.count("| rung-hyperband-tpe | ") == 2
    assert "Objective: nearest" in out and "Objective: interpolated" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0"], "--seeds must be an integer >= 1; got 0"),
        (["--budget", "nan"], "--budget must be a number > 0; got nan"),
        (["--methods", "ray-asha"], "argument --methods: invalid choice: 'ray-asha'"),
    ],
)
def test_simulate_refuses_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        simulate.main(args)
    assert message in capsys.readouterr().err
