"""End-to-end runs through `rung.run` on the thread and process executors."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import select
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.base import Ended, Event, Reported
from rung.executors.thread import ThreadExecutor
from rung.store.sqlite import Store
from rung.types import Decision, Resume, Start, Status, Suggestion, TrialInfo

EXECUTORS = ["thread", "process"]


def quadratic(config: dict[str, Any]) -> None:
    for i in range(config["n"]):
        rung.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1), "i": i}, checkpoint=i)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_run_finds_best_and_stores_everything(executor: str, storage: Path) -> None:
    result = rung.run(
        quadratic,
        {"x": rung.uniform(0, 1), "n": 4},
        metric="loss",
        num_samples=6,
        executor=executor,
        name="q",
        storage=storage,
        verbose=0,
        scheduler="fifo",
    )
    assert len(result.trials) == 6
    assert all(t.status is Status.TERMINATED and t.iteration == 4 for t in result.trials)
    losses = {t.id: t.best_metrics["loss"] for t in result.trials if t.best_metrics}
    assert result.best is not None and result.best.id == min(losses, key=losses.__getitem__)
    assert result.best_config == result.best.config
    history = result.history(result.best.id)
    assert [r["training_iteration"] for r in history] == [1, 2, 3, 4]
    assert {"time_this_iter_s", "time_total_s", "timestamp"} <= set(history[0])
    assert result.best.checkpoint == 3
    loaded = rung.load("q", storage=storage)
    assert [t.config for t in loaded.trials] == [t.config for t in result.trials]
    assert loaded.best is not None and loaded.best.id == result.best.id
    frame = result.dataframe()
    assert list(frame["trial_id"]) == [1, 2, 3, 4, 5, 6] and "config/x" in frame.columns


def test_same_seed_same_configs(storage: Path) -> None:
    space = {"x": rung.uniform(0, 1), "n": 1}
    a = rung.run(
        quadratic,
        space,
        metric="loss",
        num_samples=5,
        executor="thread",
        name="a",
        storage=storage,
        seed=3,
        verbose=0,
    )
    b = rung.run(
        quadratic,
        space,
        metric="loss",
        num_samples=5,
        executor="thread",
        name="b",
        storage=storage,
        seed=3,
        verbose=0,
        max_concurrent=1,
    )
    c = rung.run(
        quadratic,
        space,
        metric="loss",
        num_samples=5,
        executor="thread",
        name="c",
        storage=storage,
        seed=4,
        verbose=0,
    )
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    assert [t.config for t in a.trials] != [t.config for t in c.trials]


class PauseAtTwo(rung.Scheduler):
    """Pauses every trial once at iteration 2; resumes paused trials before starting new ones."""

    def __init__(self) -> None:
        self.paused_once: set[int] = set()

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        if result["training_iteration"] == 2 and trial.id not in self.paused_once:
            self.paused_once.add(trial.id)
            return Decision.PAUSE
        return Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if paused:
            return Resume(min(t.id for t in paused))
        return Start() if new_allowed else None


def resumable(config: dict[str, Any]) -> None:
    checkpoint = rung.get_checkpoint()
    start = 0 if checkpoint is None else checkpoint["step"] + 1
    for step in range(start, 5):
        rung.report({"score": config["x"] * step, "resumed_at": start}, checkpoint={"step": step})


@pytest.mark.parametrize("executor", EXECUTORS)
def test_pause_frees_slot_and_resume_continues_from_checkpoint(executor: str, storage: Path) -> None:
    result = rung.run(
        resumable,
        {"x": rung.uniform(1, 2)},
        metric="score",
        mode="max",
        num_samples=4,
        scheduler=PauseAtTwo(),
        max_concurrent=2,
        executor=executor,
        name="p",
        storage=storage,
        verbose=0,
    )
    for trial in result.trials:
        assert trial.status is Status.TERMINATED
        history = result.history(trial.id)
        assert [r["training_iteration"] for r in history] == [1, 2, 3, 4, 5]
        assert [r["resumed_at"] for r in history] == [0, 0, 2, 2, 2]
        assert history[-1]["score"] == pytest.approx(trial.config["x"] * 4)


def fails_once(config: dict[str, Any]) -> None:
    checkpoint = rung.get_checkpoint()
    start = 0 if checkpoint is None else checkpoint + 1
    for step in range(start, 4):
        if step == 2 and checkpoint is None:
            raise RuntimeError("flaky")
        rung.report({"step": step}, checkpoint=step)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failure_retries_from_checkpoint(executor: str, storage: Path) -> None:
    result = rung.run(
        fails_once,
        {},
        metric="step",
        mode="max",
        max_failures=1,
        executor=executor,
        name="f",
        storage=storage,
        verbose=0,
    )
    (trial,) = result.trials
    assert trial.status is Status.TERMINATED and trial.num_failures == 1
    assert trial.error is None  # it ended well: not shown as failed
    assert [r["step"] for r in result.history(1)] == [0, 1, 2, 3]
    store = Store.read(storage, "f")
    try:
        retries = [data[1] for kind, _, data in store.history() if kind == "status" and "retry" in data[1]]
    finally:
        store.close()
    assert len(retries) == 1 and retries[0]["failed"].strip().endswith("RuntimeError: flaky")


def flaky_by_x(config: dict[str, Any]) -> None:
    rung.report({"loss": config["x"]})
    if config["x"] > 0.5:
        raise RuntimeError(f"bad x {config['x']:.3f}")


def test_errors_are_stored_and_run_goes_on(storage: Path) -> None:
    result = rung.run(
        flaky_by_x,
        {"x": rung.uniform(0, 1)},
        metric="loss",
        num_samples=8,
        name="e",
        storage=storage,
        verbose=0,
    )
    errors = [t for t in result.trials if t.status is Status.ERROR]
    fine = [t for t in result.trials if t.status is Status.TERMINATED]
    assert errors and fine and len(errors) + len(fine) == 8
    assert all("RuntimeError: bad x" in (t.error or "") and "Traceback" in (t.error or "") for t in errors)
    assert all(t.config["x"] > 0.5 for t in errors)


def killed(config: dict[str, Any]) -> None:
    rung.report({"loss": config["x"]})
    if config["x"] > 0.5:
        os.kill(os.getpid(), signal.SIGKILL)


def test_worker_killed_by_signal_is_a_failure_not_a_hang(storage: Path) -> None:
    result = rung.run(
        killed, {"x": rung.grid([0.1, 0.9, 0.2, 0.8])}, metric="loss", name="k", storage=storage, verbose=0
    )
    status = {t.config["x"]: t.status for t in result.trials}
    assert status == {0.1: Status.TERMINATED, 0.9: Status.ERROR, 0.2: Status.TERMINATED, 0.8: Status.ERROR}
    errors = [t.error for t in result.trials if t.error]
    assert all(e and e.endswith("died: killed by signal SIGKILL") for e in errors)


def nan_for_big_x(config: dict[str, Any]) -> dict[str, float]:
    return {"acc": math.nan if config["x"] > 1 else config["x"]}


def test_nan_is_stored_but_never_best(storage: Path) -> None:
    result = rung.run(
        nan_for_big_x,
        {"x": rung.grid([0.2, 5.0, 0.7, math.inf])},
        metric="acc",
        mode="max",
        executor="thread",
        name="n",
        storage=storage,
        verbose=0,
    )
    assert result.best is not None and result.best.config["x"] == 0.7
    values = [t.metrics["acc"] for t in result.trials]
    assert sum(math.isnan(v) for v in values) == 2


def test_stop_dict_and_callable(storage: Path) -> None:
    space = {"x": 1.0, "n": 10}
    by_dict = rung.run(
        quadratic,
        space,
        metric="loss",
        stop={"training_iteration": 3},
        executor="thread",
        name="s1",
        storage=storage,
        verbose=0,
    )
    assert by_dict.trials[0].iteration == 3 and by_dict.trials[0].status is Status.TERMINATED
    by_fn = rung.run(
        quadratic,
        space,
        metric="loss",
        stop=lambda tid, r: r["i"] >= 4,
        executor="thread",
        name="s2",
        storage=storage,
        verbose=0,
    )
    assert by_fn.trials[0].iteration == 5


def test_grid_is_crossed_and_repeated(storage: Path) -> None:
    space = {"a": rung.grid([1, 2]), "b": rung.grid(["u", "v", "w"]), "x": rung.uniform(0, 1)}
    result = rung.run(
        lambda c: {"m": c["a"]},
        space,
        metric="m",
        num_samples=2,
        executor="thread",
        name="g",
        storage=storage,
        verbose=0,
    )
    pairs = [(t.config["a"], t.config["b"]) for t in result.trials]
    assert len(pairs) == 12 and sorted(set(pairs)) == [(a, b) for a in (1, 2) for b in "uvw"]
    assert all(pairs.count(p) == 2 for p in set(pairs))
    assert len({t.config["x"] for t in result.trials}) == 12


def test_grid_searcher_crosses_choices(storage: Path) -> None:
    space = {"opt": rung.choice(["sgd", "adam"]), "layers": rung.grid([1, 2, 3])}
    result = rung.run(
        lambda c: {"m": c["layers"]},
        space,
        metric="m",
        search="grid",
        executor="thread",
        name="gc",
        storage=storage,
        verbose=0,
    )
    assert sorted((t.config["opt"], t.config["layers"]) for t in result.trials) == sorted(
        (o, n) for o in ("sgd", "adam") for n in (1, 2, 3)
    )


def test_returned_dict_counts_as_last_report(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> dict[str, Any]:
        rung.report({"acc": 0.1})
        return {"acc": 0.9}

    result = rung.run(fn, {}, metric="acc", mode="max", executor="thread", name="r", storage=storage, verbose=0)
    assert [r["acc"] for r in result.history(1)] == [0.1, 0.9]
    assert result.trials[0].metrics["training_iteration"] == 2


def test_a_returned_number_is_the_metric(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> float:
        return (config["x"] - 0.3) ** 2

    space = {"x": rung.grid([0.1, 0.3, 0.6])}
    result = rung.run(fn, space, metric="loss", executor="thread", name="n", storage=storage, verbose=0)
    assert sorted(round(t.metrics["loss"], 6) for t in result.trials) == [0.0, 0.04, 0.09]
    assert result.best.config == {"x": 0.3} and all(t.status is Status.TERMINATED for t in result.trials)


@pytest.mark.parametrize(
    ("returned", "metric", "message"),
    [
        (
            "done",
            "loss",
            "TypeError: the objective returned 'done' (str) and reported nothing; return a dict of metrics such as"
            " {'loss': 0.5}, a number (the value of metric=), or call rung.report() as it trains",
        ),
        (
            0.25,
            None,
            "TypeError: the objective returned 0.25 (float), but rung.run has no metric= to record it as;"
            " pass metric= to rung.run, or return a dict such as {'loss': value}",
        ),
    ],
)
def test_an_unusable_return_fails_the_trial_and_says_why(
    storage: Path, returned: object, metric: str | None, message: str
) -> None:
    result = rung.run(lambda c: returned, {}, metric=metric, executor="thread", name="u", storage=storage, verbose=0)
    assert [(t.status, t.error) for t in result.trials] == [(Status.ERROR, message)]


def test_a_value_returned_after_reports_is_the_objectives_own(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> object:
        rung.report({"loss": 0.5})
        return object()  # e.g. the trained model, for use outside rung

    result = rung.run(fn, {}, metric="loss", executor="thread", name="o", storage=storage, verbose=0)
    assert [(t.status, t.metrics["loss"]) for t in result.trials] == [(Status.TERMINATED, 0.5)]


@pytest.mark.parametrize("value", ["0.5", True, None, [0.5]])
def test_a_metric_that_is_not_a_number_fails_the_trial_at_the_report(storage: Path, value: object) -> None:
    result = rung.run(
        lambda c: rung.report({"loss": value}), {}, metric="loss", executor="thread", name="t", storage=storage,
        verbose=0,
    )  # fmt: skip
    (trial,) = result.trials
    expected = f"TypeError: report() needs the metric 'loss' to be a number; got {value!r} ({type(value).__name__})"
    assert trial.status is Status.ERROR and trial.error is not None
    assert trial.error.splitlines()[-1] == expected
    assert 'rung.report({"loss": value})' in trial.error  # the traceback points at the call


def test_trials_stopped_before_their_first_metric_report_do_not_fail_the_run(storage: Path) -> None:
    def sparse(config: dict[str, Any]) -> None:
        for i in range(1, 11):
            rung.report({"train": i, **({"val": -i} if i % 5 == 0 else {})})

    result = rung.run(
        sparse, {"x": rung.uniform(0, 1)}, metric="val", num_samples=2, max_concurrent=1, executor="thread",
        stop={"training_iteration": 3}, name="s", storage=storage, seed=0, verbose=0,
    )  # fmt: skip
    assert [(t.status, t.iteration) for t in result.trials] == [(Status.TERMINATED, 3)] * 2
    assert result.best is None


def test_dataframe_keeps_metrics_named_like_its_own_columns(storage: Path) -> None:
    def fn(config: dict[str, Any]) -> None:
        rung.report({"error": config["x"], "status": "ok", "trial_id": 99, "config/x": 1})

    space = {"x": rung.grid([0.25, 0.5])}
    frame = rung.run(fn, space, metric="error", executor="thread", name="d", storage=storage, verbose=0).dataframe()
    assert list(frame["trial_id"]) == [1, 2] and list(frame["status"]) == ["TERMINATED"] * 2
    assert list(frame["error"]) == [None, None] and list(frame["config/x"]) == [0.25, 0.5]
    assert list(frame["metrics/error"]) == [0.25, 0.5] and list(frame["best_error"]) == [0.25, 0.5]
    assert list(frame["metrics/status"]) == ["ok"] * 2 and list(frame["metrics/trial_id"]) == [99] * 2
    assert list(frame["metrics/config/x"]) == [1, 1]


def test_a_failing_trial_in_a_worker_process_names_the_file_and_line(storage: Path) -> None:
    def failing(config: dict[str, Any]) -> None:  # nested: pickled by value, as __main__ code is
        raise ValueError("no luck")

    (trial,) = rung.run(failing, {}, metric="loss", name="tb", storage=storage, verbose=0).trials
    line = failing.__code__.co_firstlineno + 1
    assert f'File "{__file__}", line {line}, in failing\n    raise ValueError("no luck")\n' in (trial.error or "")


class _Echoing(ThreadExecutor):
    """Sends every end twice and, after it, a stray report: an executor's slip the tuner must survive."""

    def poll(self, timeout: float | None) -> list[Event]:
        events = super().poll(timeout)
        extra: list[Event] = []
        for event in events:
            if isinstance(event, Ended):
                extra += [event, Reported(event.trial_id, {"loss": -1.0, "training_iteration": 99}, None)]
        return events + extra


def test_events_for_a_trial_that_is_not_running_are_ignored(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rung"):
        result = rung.run(
            quadratic, {"x": rung.grid([0.1, 0.2, 0.3]), "n": 2}, metric="loss", executor=_Echoing(2),
            name="echo", storage=storage, verbose=0,
        )  # fmt: skip
    assert [(t.status, t.iteration) for t in result.trials] == [(Status.TERMINATED, 2)] * 3
    assert all(len(result.history(t.id)) == 2 for t in result.trials)  # the stray reports were not stored
    ignored = sorted(r.getMessage() for r in caplog.records if r.getMessage().startswith("ignored"))
    expected = [
        f"ignored {kind} for trial {t}, which is not running" for t in (1, 2, 3) for kind in ("Ended", "Reported")
    ]
    assert ignored == sorted(expected)


def test_time_budget_ends_the_run(storage: Path) -> None:
    def forever(config: dict[str, Any]) -> None:
        i = 0
        while True:
            rung.report({"i": i})
            i += 1

    result = rung.run(
        forever,
        {},
        metric="i",
        num_samples=3,
        executor="thread",
        time_budget_s=0.3,
        name="t",
        storage=storage,
        verbose=0,
    )
    assert len(result.trials) <= 3
    assert all(t.status is Status.TERMINATED and t.iteration > 0 for t in result.trials)


def test_nested_space_and_sample_from_reach_the_objective(storage: Path) -> None:
    space = {
        "lr": rung.loguniform(1e-4, 1e-1),
        "wd": rung.sample_from(lambda c: c["lr"] / 10),
        "model": {"act": rung.choice(["relu", "tanh"]), "width": rung.lograndint(16, 512)},
        "epochs": 2,
    }
    result = rung.run(
        lambda c: {"ok": c["wd"] * 10 / c["lr"]},
        space,
        metric="ok",
        num_samples=3,
        executor="thread",
        name="nest",
        storage=storage,
        verbose=0,
    )
    for trial in result.trials:
        assert trial.metrics["ok"] == pytest.approx(1.0)
        assert trial.config["model"]["act"] in ("relu", "tanh") and trial.config["epochs"] == 2


class CloneOnce(rung.Scheduler):
    """Pauses trial 2 at iteration 2; resumes it from trial 1's checkpoint with x doubled."""

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision:
        if trial.id == 2 and result["training_iteration"] == 2 and "cloned" not in trial.config:
            return Decision.PAUSE
        return Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        for trial in paused:
            return Resume(trial.id, config={**trial.config, "x": 2 * trial.config["x"], "cloned": 1}, from_trial=1)
        return Start() if new_allowed else None


def weights(config: dict[str, Any]) -> None:
    checkpoint = rung.get_checkpoint() or {"w": [], "owner": rung.get_trial_id()}
    for _ in range(len(checkpoint["w"]), 5):
        # Padding past the 64 KiB inline limit: these checkpoints are files.
        checkpoint = {"w": [*checkpoint["w"], config["x"]], "owner": checkpoint["owner"], "pad": b"." * 70_000}
        rung.report({"score": sum(checkpoint["w"]), "owner": checkpoint["owner"]}, checkpoint=checkpoint)


def test_resume_from_another_trials_checkpoint_with_new_config(storage: Path) -> None:
    result = rung.run(
        weights,
        {"x": rung.grid([1.0, 10.0])},
        metric="score",
        mode="max",
        scheduler=CloneOnce(),
        max_concurrent=1,
        executor="thread",
        name="clone",
        storage=storage,
        verbose=0,
    )
    one, two = result.trials
    pad = {"pad": b"." * 70_000}
    assert one.checkpoint == {"w": [1.0] * 5, "owner": 1, **pad}
    # Trial 2 ran 2 steps with x=10, then continued from trial 1's final weights with x=20: those
    # weights are complete, so it reports nothing more and ends. Its own config and weights, which
    # made its results, are put back (they held a config that never ran and another trial's weights).
    assert [r["owner"] for r in result.history(2)] == [2, 2]
    assert two.config == {"x": 10.0} and two.checkpoint == {"w": [10.0, 10.0], "owner": 2, **pad}
    assert two.checkpoint_path is not None and one.checkpoint_path is not None
    assert two.checkpoint_path != one.checkpoint_path


def report_devices(config: dict[str, Any]) -> dict[str, Any]:
    return {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "omp": os.environ.get("OMP_NUM_THREADS"), "m": 1}


@pytest.mark.parametrize(
    ("visible", "resources", "expected"),
    [
        ("0,1", {"cpu": 1, "gpu": 1}, {"0", "1"}),
        ("3", {"cpu": 0.5, "gpu": 0.5}, {"3"}),
        ("0,1,2,3", {"cpu": 1, "gpu": 2}, {"0,1", "2,3"}),
        ("0,1", {"cpu": 1, "gpu": 0}, {""}),  # no GPU asked: none visible
    ],
)
def test_gpus_are_assigned_per_slot(
    visible: str, resources: dict[str, float], expected: set[str], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setattr("rung.parts.machine_cpus", lambda: 2)
    result = rung.run(
        report_devices,
        {"i": rung.grid(list(range(8)))},
        metric="m",
        resources=resources,
        name="gpu",
        storage=storage,
        verbose=0,
    )
    # The first two trials start on the two slots, so every slot's devices show up.
    assert {t.metrics["cuda"] for t in result.trials} == expected
    assert {t.metrics["omp"] for t in result.trials} == {"1"}


def test_more_gpus_than_the_machine_has(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(
        rung.ResourceError,
        match=r"^each trial needs 2 GPUs; this machine has 1 \(counted from CUDA_VISIBLE_DEVICES when it is set,"
        r" else from nvidia-smi -L\)$",
    ):
        rung.run(report_devices, {}, metric="m", resources={"gpu": 2}, storage=storage, verbose=0)


def test_time_budget_stops_process_trials(storage: Path) -> None:
    def slow(config: dict[str, Any]) -> None:
        import time

        rung.report({"i": 0})
        time.sleep(60)  # work that never reports again: the budget must end it
        rung.report({"i": 1})

    result = rung.run(slow, {}, metric="i", num_samples=2, time_budget_s=1.0, name="tb", storage=storage, verbose=0)
    assert [t.status for t in result.trials] == [Status.TERMINATED, Status.TERMINATED]
    assert all(t.iteration == 1 for t in result.trials)


def test_trial_logs_are_captured(storage: Path) -> None:
    def chatty(config: dict[str, Any]) -> dict[str, int]:
        print(f"training with x={config['x']}")
        return {"m": 1}

    result = rung.run(chatty, {"x": rung.grid([7, 8])}, metric="m", name="log", storage=storage, verbose=0)
    for trial in result.trials:
        assert trial.log_path.read_text() == f"training with x={trial.config['x']}\n"


def test_resume_with_other_metric_is_an_error(storage: Path) -> None:
    rung.run(quadratic, {"x": 0.5, "n": 1}, metric="loss", executor="thread", name="mm", storage=storage, verbose=0)
    with pytest.raises(
        rung.ResumeMismatchError,
        match="^experiment 'mm' was stored with metric='loss', mode='min'; got metric='acc', mode='max'$",
    ):
        rung.run(
            quadratic,
            {"x": 0.5, "n": 1},
            metric="acc",
            mode="max",
            executor="thread",
            name="mm",
            storage=storage,
            resume=True,
            verbose=0,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, "seed=0; got seed=1"),
        ({"search": "random"}, "search='TPE'; got search='Random'"),
        ({"scheduler": "asha"}, "scheduler='FIFO'; got scheduler='ASHA'"),
    ],
)
def test_resume_with_another_seed_search_or_scheduler_is_an_error(
    storage: Path, change: dict[str, Any], message: str
) -> None:
    space = {"x": rung.uniform(0, 1), "n": 1}
    common: dict[str, Any] = {"metric": "loss", "executor": "thread", "name": "ss", "storage": storage, "verbose": 0}
    common["scheduler"] = "fifo"  # with a scheduler given, "auto" is TPE
    rung.run(quadratic, space, num_samples=2, search="auto", **common)
    key = next(iter(change))
    full = f"experiment 'ss' was stored with {message}: resume it with the same {key}, or choose another name"
    with pytest.raises(ValueError, match=f"^{re.escape(full)}$"):
        rung.run(quadratic, space, num_samples=3, resume=True, **{"search": "auto", **common, **change})
    # The same searcher by another name resumes ("auto" built TPE).
    assert len(rung.run(quadratic, space, num_samples=3, resume=True, search="tpe", **common).trials) == 3


def test_resume_with_another_space_is_an_error_and_changes_nothing(storage: Path) -> None:
    class Act:  # its default repr has the object's address
        pass

    def space_with(x_high: float, **more: Any) -> dict[str, Any]:
        return {"x": rung.uniform(0, x_high), "n": 1, "net": {"act": rung.choice([Act(), "relu"]), **more}}

    space = space_with(1, k=1)
    assert " at 0x" in repr(space["net"]["act"].options[0])
    rung.run(quadratic, space, metric="loss", num_samples=2, executor="thread", name="sp", storage=storage, verbose=0)
    other = {**space_with(2), "y": 3}
    message = (
        "experiment 'sp' was stored with another search space (x.high: 1.0 -> 2.0; net.k: removed; y: added);"
        " resume it with the space it was started with, or choose another name to tune this one"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        rung.run(quadratic, other, metric="loss", num_samples=4, executor="thread", name="sp", storage=storage,
                 resume=True, verbose=0)  # fmt: skip
    assert len(rung.load("sp", storage=storage).trials) == 2
    # The same space resumes, though an option's repr is another address (as in another process).
    same = space_with(1, k=1)
    result = rung.run(quadratic, same, metric="loss", num_samples=4, executor="thread", name="sp", storage=storage,
                      resume=True, verbose=0)  # fmt: skip
    assert len(result.trials) == 4


def test_live_view_renders(storage: Path) -> None:
    import io

    from rich.console import Console

    from rung.progress import RichProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = RichProgress("live", 3, console=console)
    monkey = pytest.MonkeyPatch()
    monkey.setattr("rung.api._progress", lambda verbose, name, searcher: view)
    try:
        rung.run(
            quadratic,
            {"x": rung.uniform(0, 1), "n": 3},
            metric="loss",
            num_samples=3,
            executor="thread",
            name="live",
            storage=storage,
            verbose=1,
            scheduler="fifo",
        )
    finally:
        monkey.undo()
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "rung · live · 3/3 trials: 3 terminated" in text
    assert "best terminated" in text


def test_live_view_shows_the_best_trials_best_value(storage: Path) -> None:
    import io

    from rich.console import Console

    from rung.progress import RichProgress

    def dips(config: dict[str, Any]) -> None:
        for loss in (0.5, 0.123, 0.987):
            rung.report({"loss": loss})

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = RichProgress("dip", 1, console=console)
    with pytest.MonkeyPatch.context() as monkey:
        monkey.setattr("rung.api._progress", lambda verbose, name, searcher: view)
        rung.run(dips, {}, metric="loss", executor="thread", name="dip", storage=storage, verbose=1)
    last_table = console.file.getvalue().split("rung · dip")[-1]  # type: ignore[attr-defined]
    assert "0.123" in last_table and "0.987" not in last_table  # the summary's value, not the last one


def test_ended_trials_leave_the_driver_for_the_store(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The driver's memory does not grow with ended trials: it lets go of them (counting them by
    # status) and keeps only the best trial's row and best result (the live view shows them); every
    # trial and result is still in the store, and a resume reads them back.
    from rung import api
    from rung.status import TrialRow, TuningStatus
    from rung.tuner import Progress, Tuner

    tuners: list[Tuner] = []
    closed: list[TuningStatus] = []

    class Kept(Tuner):
        def run(self) -> None:
            tuners.append(self)
            super().run()

    class Keep(Progress):
        def close(self, status: TuningStatus) -> None:
            closed.append(status)

    monkeypatch.setattr(api, "Tuner", Kept)
    monkeypatch.setattr(api, "_progress", lambda *args: Keep())
    space = {"x": rung.uniform(0, 1), "n": 3}
    kwargs: dict[str, Any] = {"metric": "loss", "executor": "thread", "name": "m", "storage": storage, "seed": 3}
    kwargs["scheduler"] = "fifo"  # every trial to its end
    first = rung.run(quadratic, space, num_samples=8, **kwargs)
    resumed = rung.run(quadratic, space, num_samples=12, resume=True, **kwargs)
    for tuner, status, result in zip(tuners, closed, (first, resumed), strict=True):
        assert result.best is not None and result.best.best_metrics is not None
        expected = TrialRow(result.best.id, Status.TERMINATED, 3, result.best.config, result.best.best_metrics)
        assert tuner.best == status.best == expected
        assert status.best.result["i"] == 2  # type: ignore[union-attr]
        assert tuner.trials == {}  # every trial ended
        assert tuner.status_counts() == status.counts == {Status.TERMINATED: len(result.trials)}
        assert status.running == () and status.total == len(result.trials)
        assert all(len(result.history(t.id)) == 3 and t.metrics["i"] == 2 for t in result.trials)
    assert len(resumed.trials) == 12


def _ignores_stop(config: dict[str, Any]) -> None:
    for i in range(200):
        with contextlib.suppress(BaseException):  # the misuse under test: it swallows rung's TrialInterrupt
            rung.report({"loss": float(i)})


def test_a_trial_that_swallows_its_stop_is_ended(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    result = rung.run(_ignores_stop, {"x": rung.grid([1, 2])}, metric="loss", stop={"training_iteration": 3},
                      name="swallow", storage=storage, verbose=0)  # fmt: skip
    assert [(t.status, t.iteration) for t in result.trials] == [(Status.TERMINATED, 3)] * 2
    assert "trial 1 reported after it was told to end; ending its process" in caplog.text


class _Unloadable:
    """Pickles in the worker; its load fails in the driver (its __init__ needs an argument)."""

    def __init__(self, needed: int) -> None:
        self.needed = needed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Unloadable, ())


def test_results_the_driver_cannot_read_fail_their_trial_not_the_run(storage: Path) -> None:
    def reports(config: dict[str, Any]) -> None:
        rung.report({"loss": 10**400 if config["x"] == 2 else 1.0, "extra": _Unloadable(1) if config["x"] == 1 else 0})

    result = rung.run(reports, {"x": rung.grid([1, 2, 3])}, metric="loss", max_concurrent=1, name="unread",
                      storage=storage, verbose=0)  # fmt: skip
    (failed, huge, fine) = result.trials
    assert failed.status is Status.ERROR and failed.error is not None
    assert failed.error.startswith("the driver could not read what trial 1 sent (TypeError:")
    assert huge.status is Status.TERMINATED and huge.metrics["loss"] == 10**400  # stored, never best
    assert fine.status is Status.TERMINATED and result.best is not None and result.best.id == fine.id


def test_configs_with_lambdas_and_local_classes_reach_worker_processes(storage: Path) -> None:
    class Scale:  # local: like a class of the driver's script, the worker cannot import it
        def __init__(self, k: float) -> None:
            self.k = k

    def fn(config: dict[str, Any]) -> dict[str, float]:
        return {"loss": config["f"](config["scale"].k)}

    space = {"f": rung.choice([lambda v: v, lambda v: 2 * v]), "scale": Scale(3.0)}
    result = rung.run(fn, space, metric="loss", num_samples=4, name="lam", storage=storage, seed=1, verbose=0)
    assert all(t.status is Status.TERMINATED for t in result.trials)
    assert {t.metrics["loss"] for t in result.trials} <= {3.0, 6.0}


def _starts_a_child(config: dict[str, Any]) -> None:
    import subprocess

    child = subprocess.Popen(["sleep", "1234"])
    Path(config["pids"]).write_text(str(child.pid))
    rung.report({"loss": 1.0})
    child.wait()  # hangs: the time budget ends the trial


def test_ending_a_trial_ends_the_processes_it_started(storage: Path, tmp_path: Path) -> None:
    pids = tmp_path / "child.pid"
    rung.run(_starts_a_child, {"pids": str(pids)}, metric="loss", time_budget_s=2, name="child", storage=storage,
             verbose=0)  # fmt: skip
    child = int(pids.read_text())
    try:
        handle = os.pidfd_open(child)
    except ProcessLookupError:
        return  # gone and reaped already
    try:
        # Readable once the process has exited: waits for the kill to land, at most 10 s.
        assert select.select([handle], [], [], 10)[0] == [handle], f"process {child} outlived its trial"
    finally:
        os.close(handle)


def test_the_paused_trials_a_scheduler_reads_act_as_the_list_of_them_in_the_tuners_order() -> None:
    from rung.tuner import _Paused, _Trial

    trials = {i: _Trial(id=i, config={"x": i}, status=Status.PAUSED) for i in (5, 2, 9)}
    view = _Paused(trials)
    listed = list(trials.values())
    assert len(view) == 3 and bool(view) and list(view) == listed
    assert view[0] is trials[5] and view[-1] is trials[9] and list(view[1:]) == listed[1:]
    assert trials[2] in view and view.index(trials[9]) == 2
    assert sorted(view, key=lambda t: t.id) == [trials[2], trials[5], trials[9]]
    assert not _Paused({}) and list(_Paused({})) == []
