"""The live terminal view of a run (rich), quiet with `verbose=0`."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung._text import safe, visible
from rung.status import TuningStatus
from rung.tuner import Progress
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
    """Counts by status, best so far and the running trials (the first `max_running`), redrawn at most
    4 times a second, on a terminal only."""

    def __init__(self, name: str, total: int | None, console: Console | None = None) -> None:
        from rich.console import Console

        self.name = name
        self.total = total
        # User strings reach it only as `safe` Text; markup and emoji codes stay off for the rest.
        self.console = console or Console(stderr=True, markup=False, emoji=False)
        self._live: Live | None = None
        self._last = 0.0

    def _render(self, status: TuningStatus) -> Any:
        from rich.table import Table

        counts = status.counts
        parts = [f"{counts[s]} {s.value.lower()}" for s in Status if counts.get(s)]
        total = f"/{self.total}" if self.total else ""
        title = f"rung · {self.name} · {status.total}{total} trials: " + ", ".join(parts)
        if status.cost is not None:  # money spent (of the budget)
            budget = "" if status.cost_budget is None else f" of {status.cost_budget:.2f}"
            title += f" · spent {status.cost:.2f}{budget}"
        table = Table(title=safe(title), title_justify="left", expand=False)
        table.add_column("trial", justify="right")
        table.add_column("status")
        table.add_column("iter", justify="right")
        shown_metrics = status.objectives if len(status.objectives) > 1 else (status.metric or "",)
        for metric in shown_metrics:
            table.add_column(safe(metric or "metric"), justify="right")
        table.add_column("config")
        best = status.best
        # The best trial's row (first unless it runs among those shown) shows the result that made it
        # best (what the summary reports).
        shown = list(status.running)
        if best is not None and all(row.id != best.id for row in shown):
            shown = [best, *shown]
        for row in shown:
            if best is not None and row.id == best.id:
                row, label = best, "best " + best.status.value.lower()
            else:
                label = row.status.value.lower()
            values = [safe(_fmt(row.result.get(metric, ""))) for metric in shown_metrics]
            # Made visible before it is cut, so the 80 characters are the ones shown.
            config = visible(", ".join(f"{k}={_fmt(v)}" for k, v in flatten(row.config, "/").items()))
            if len(config) > 80:
                cut = config.rfind(", ", 0, 80)
                config = config[:cut] + ", …" if cut > 0 else config[:79] + "…"
            table.add_row(str(row.id), label, str(row.iteration), *values, safe(config))
        if not status.plan:
            return table
        from rich.console import Group

        return Group(table, *(safe(line) for line in status.plan))  # what the default picked, under the table

    def wants_update(self) -> bool:
        return time.monotonic() - self._last >= 0.25 and self.console.is_terminal

    def update(self, status: TuningStatus) -> None:
        self._last = time.monotonic()
        if self._live is None:
            from rich.live import Live

            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(self._render(status), refresh=True)

    def note(self, line: str) -> None:
        """Print one line after the view (the command that resumes an interrupted run), unwrapped so
        that it can be copied whole."""
        self.console.print(safe(line), soft_wrap=True)

    def close(self, status: TuningStatus) -> None:
        if self._live is not None:
            self._live.update(self._render(status), refresh=True)
            self._live.stop()
            self._live = None
        else:
            self.console.print(self._render(status))


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
