"""The live view (rich): what users wrote is shown, never obeyed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import rung
from rung.progress import RichProgress

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
