"""The live terminal view of a run (rich), quiet with `verbose=0`."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung._text import safe, visible
from rung.tuner import Progress, Tuner
from rung.types import Status, flatten

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from rung.store.sqlite import Store

__all__ = ["RichProgress", "interrupted_line"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


class RichProgress(Progress):
    """Counts by status, best so far and the running trials, redrawn at most 4 times a second."""

    def __init__(self, name: str, total: int | None, console: Console | None = None) -> None:
        from rich.console import Console

        self.name = name
        self.total = total
        # User strings reach it only as `safe` Text; markup and emoji codes stay off for the rest.
        self.console = console or Console(stderr=True, markup=False, emoji=False)
        self._live: Live | None = None
        self._last = 0.0

    def _render(self, tuner: Tuner) -> Any:
        from rich.table import Table

        counts = tuner.status_counts()
        parts = [f"{counts[s]} {s.value.lower()}" for s in Status if counts[s]]
        total = f"/{self.total}" if self.total else ""
        title = f"rung · {self.name} · {counts.total()}{total} trials: " + ", ".join(parts)
        table = Table(title=safe(title), title_justify="left", expand=False)
        table.add_column("trial", justify="right")
        table.add_column("status")
        table.add_column("iter", justify="right")
        table.add_column(safe(tuner.metric or "metric"), justify="right")
        table.add_column("config")
        shown = sorted(tuner.running)[:8]
        best = tuner.best
        if best is not None and best.id not in shown:
            shown = [best.id, *shown]
        for trial_id in shown:
            trial = best if best is not None and trial_id == best.id else tuner.trials[trial_id]
            # The best trial's row shows the result that made it best (what the summary reports).
            shown_result = trial.best if trial is best and trial.best else trial.last_result
            value = shown_result.get(tuner.metric or "", "")
            label = "best " + trial.status.value.lower() if trial is best else trial.status.value.lower()
            # Made visible before it is cut, so the 80 characters are the ones shown.
            config = visible(", ".join(f"{k}={_fmt(v)}" for k, v in flatten(trial.config, "/").items()))
            if len(config) > 80:
                cut = config.rfind(", ", 0, 80)
                config = config[:cut] + ", …" if cut > 0 else config[:79] + "…"
            table.add_row(str(trial.id), label, str(trial.iteration), safe(_fmt(value)), safe(config))
        return table

    def update(self, tuner: Tuner) -> None:
        now = time.monotonic()
        if now - self._last < 0.25 or not self.console.is_terminal:
            return
        self._last = now
        if self._live is None:
            from rich.live import Live

            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(self._render(tuner), refresh=True)

    def note(self, line: str) -> None:
        """Print one line after the view (the command that resumes an interrupted run), unwrapped so
        that it can be copied whole."""
        self.console.print(safe(line), soft_wrap=True)

    def close(self, tuner: Tuner) -> None:
        if self._live is not None:
            self._live.update(self._render(tuner), refresh=True)
            self._live.stop()
            self._live = None
        else:
            self.console.print(self._render(tuner))


def interrupted_line(store: Store, name: str, storage: str | Path) -> str:
    """What `rung.run` says on Ctrl-C: the exact command that continues the experiment, which is
    `rung resume` unless the store lacks what that needs (then the `rung.run(..., resume=True)` call)."""
    try:
        stored = store.experiment()
    except Exception:  # a store that cannot be read now still resumes as it can
        stored = {"objective": "?", "settings": {}}
    said = "interrupted: the experiment is stored and can be resumed with:"
    if (stored.get("settings") or {}).get("with_parameters"):
        why = "its rung.with_parameters objects are not stored"
    elif not stored.get("objective") and not stored.get("setup"):
        why = "its objective could not be stored"
    else:
        # An objective kept only as a pickle (from __main__ or a notebook): this process wrote it.
        trust = "" if stored.get("objective") else " --trust"
        return f"{said} rung resume {name} --storage {shlex.quote(str(storage))}{trust}"
    return f"{said} rung.run(..., name={name!r}, storage={str(storage)!r}, resume=True) (not `rung resume`: {why})"
