"""The live view (rich): what users wrote is shown, never obeyed; what the tuner tells a view."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import rung
from rung import api
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.progress import RichProgress
from rung.status import TrialRow, TuningStatus
from rung.tuner import Progress, Tuner
from rung.types import Status

HOSTILE = ["[/x]", "[link=http://evil]x[/link]", "\x1b]8;;http://evil\x07", "\x1b[2J"]


def test_live_view_shows_hostile_config_values_and_metric_names_as_text(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A config value `[/x]` crashed the live view with rich's MarkupError; [link] markup became a
    # hyperlink, and escape sequences reached the terminal.
    metric = "[/m]\x1b[2J"

    def objective(config: dict[str, Any]) -> None:
        for step in range(3):
            rung.report({metric: float(step)})

    console = Console(file=io.StringIO(), force_terminal=True, width=300)  # a terminal: markup and emoji on
    view = RichProgress("hostile", 1, console=console)
    monkeypatch.setattr("rung.api._progress", lambda verbose, name, total: view)
    space = {"e": ":+1:"} | {f"k{i}": value for i, value in enumerate(HOSTILE)}  # and an emoji code
    rung.run(objective, space, metric=metric, executor="thread", name="hostile", storage=storage, verbose=1)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b]" not in text and "\x1b[2J" not in text and "\x07" not in text  # rich's own styles only
    assert "[/m]\\x1b[2J" in text
    # The row is cut at 80 characters of what is shown (escapes are counted as shown).
    assert "e=:+1:, k0=[/x], k1=[link=http://evil]x[/link], k2=\\x1b]8;;http://evil\\x07, …" in text


def _curve(config: dict[str, Any]) -> Curve:
    """Loss falls with epochs, faster for x near 0.3; each epoch takes 60 s + 10 s * x (simulated)."""
    return Curve([{"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)} for i in range(9)], [60.0 + 10.0 * config["x"]] * 9)


class _EveryTurn(Progress):
    """A view that redraws after every turn: it keeps each status it is given."""

    max_running = 4

    def __init__(self) -> None:
        self.seen: list[TuningStatus] = []
        self.closed: list[TuningStatus] = []

    def wants_update(self) -> bool:
        return True

    def update(self, status: TuningStatus) -> None:
        self.seen.append(status)

    def close(self, status: TuningStatus) -> None:
        self.closed.append(status)


def test_the_view_gets_a_frozen_status_of_the_running_trials_it_shows_and_the_best(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[list[int], list[int]]] = []

    class Compared(Tuner):
        def status(self, running: int = Progress.max_running) -> TuningStatus:
            status = super().status(running)
            compared.append(([row.id for row in status.running], sorted(self.running)[:running]))
            return status

    view = _EveryTurn()
    monkeypatch.setattr(api, "Tuner", Compared)
    monkeypatch.setattr(api, "_progress", lambda verbose, name, total: view)
    result = rung.run(_curve, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=12, name="sim", storage=storage,
                      executor=SimulatedExecutor(workers=6, decision_seconds=0.0), seed=1, verbose=0,
                      search="tpe")  # fmt: skip
    # The running trials with the lowest ids, no more than the view shows (6 run at once).
    assert all(shown == lowest for shown, lowest in compared) and max(len(shown) for shown, _ in compared) == 4
    assert len(compared) == len(view.seen) + 1  # a status per update and one at the close, none else
    for status in view.seen:
        assert (status.metric, status.mode) == ("loss", "min")
        assert len(status.running) == min(4, status.counts.get(Status.RUNNING, 0))
        assert all(row.status is Status.RUNNING and row.iteration == row.result.get("training_iteration", 0)
                   for row in status.running)  # fmt: skip
    values = [status.best.result["loss"] for status in view.seen if status.best is not None]
    assert values and values == sorted(values, reverse=True)  # the best so far only improves
    (closed,) = view.closed
    assert result.best is not None and result.best.best_metrics is not None
    assert closed.best == TrialRow(result.best.id, Status.TERMINATED, 9, result.best.config, result.best.best_metrics)
    assert closed.counts == {Status.TERMINATED: 12} and closed.total == 12 and closed.running == ()
    assert closed.plan == ()  # TPE and FIFO say nothing of what they do
    ended = max(max(r["timestamp"] for r in result.history(t.id)) for t in result.trials)
    assert closed.elapsed_s == pytest.approx(ended)  # on the simulated clock
    with pytest.raises(dataclasses.FrozenInstanceError):
        closed.best = None  # type: ignore[misc]


def test_the_tuner_builds_a_status_only_when_the_view_will_redraw(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class EveryThirdTurn(Progress):
        def __init__(self) -> None:
            self.asked = self.updates = 0

        def wants_update(self) -> bool:
            self.asked += 1
            return self.asked % 3 == 0

        def update(self, status: TuningStatus) -> None:
            self.updates += 1

    built: list[int] = []
    status = Tuner.status

    def counted(tuner: Tuner, running: int = Progress.max_running) -> TuningStatus:
        built.append(running)
        return status(tuner, running)

    view = EveryThirdTurn()
    monkeypatch.setattr(Tuner, "status", counted)
    monkeypatch.setattr(api, "_progress", lambda verbose, name, total: view)
    rung.run(_curve, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=6, name="sim", storage=storage,
             executor=SimulatedExecutor(workers=2, decision_seconds=0.0), seed=1, verbose=0,
             scheduler="fifo")  # fmt: skip
    assert view.asked >= 6 * 9  # asked after every turn (a turn per report at least)
    assert view.updates == view.asked // 3 and len(built) == view.updates + 1  # and once at the close


def test_the_view_says_what_the_default_picked(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=300)
    view = RichProgress("default", 12, console=console)
    monkeypatch.setattr("rung.api._progress", lambda verbose, name, total: view)
    rung.run(_curve, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=24, name="default", storage=storage,
             executor=SimulatedExecutor(workers=4, decision_seconds=0.0), verbose=1)  # fmt: skip
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "search: TPE learning at the milestones (trials report learning curves)" in text
    assert "schedule: successive halving by promotion" in text and "longest training 9 (from trials)" in text
