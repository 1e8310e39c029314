"""The worker timeline: which trial held which slot when, read from the store's status events.

The tuner stores every status change with its clock time and the slot the trial held, so a running
stretch is a RUNNING event up to the event that ends it: PAUSED, TERMINATED, STOPPED, ERROR, or
PENDING when a failed trial is retried (shown as a failure). A trial that fails before its first
report still has its (short) stretch. Stores written before events had times (schema version 1)
get the older inference: a stretch spans its results' timestamps, and slots are packed greedily.
"""

from __future__ import annotations

from typing import Any

from rung._numbers import finite
from rung.types import Status

__all__ = ["ERROR_COLOUR", "RUNG_COLOURS", "legend", "spans"]

RUNG_COLOURS = ("#c9d6ee", "#8fb0e0", "#4a78c2", "#244e94", "#10295a")
"""Light to dark: no milestone reached, then each milestone (the last colour for the rest)."""
PLAIN_COLOUR = "#4a78c2"
"""Without milestones every stretch that did not fail has this colour."""
ERROR_COLOUR = "#c2453f"

Record = tuple[str, int, Any, float | None, int | None]
"""One entry of `Store.timed_history()`: (kind, trial_id, data, time, slot)."""


def legend(time_attr: str, milestones: list[float]) -> dict[str, Any]:
    """The timeline's colours, for both the dashboard and `rung.plots`: rungs reached, then failure.

    A span's `legend` is its index in `items`.
    """
    levels = min(len(milestones), len(RUNG_COLOURS) - 1)
    if milestones:
        labels = [f"< {milestones[0]:g}", *(f"≥ {m:g}" for m in milestones[:levels])]
        items = [{"label": label, "colour": RUNG_COLOURS[i]} for i, label in enumerate(labels)]
        title = f"{time_attr} reached"
    else:
        items, title = [{"label": "ran", "colour": PLAIN_COLOUR}], "trials"
    items.append({"label": "failed", "colour": ERROR_COLOUR})
    return {"title": title, "items": items}


def _open(trial_id: int, at: float | None, slot: int | None) -> dict[str, Any]:
    return {"trial": trial_id, "slot": slot, "start": at, "last": None, "top": 0.0}


def _add_result(span: dict[str, Any], result: dict[str, Any], time_attr: str) -> None:
    stamp: Any = result.get("timestamp")
    if finite(stamp):
        span["last"] = float(stamp)
        if span["start"] is None:  # schema 1: the stretch began when its first step did
            span["start"] = float(stamp) - float(result.get("time_this_iter_s", 0.0))
    progress: Any = result.get(time_attr)
    if finite(progress):
        span["top"] = max(span["top"], float(progress))


def spans(records: list[Record], time_attr: str, milestones: list[float], running: bool = True) -> list[dict[str, Any]]:
    """Every running stretch: trial, slot, start, end, rung reached, how it ended, legend index.

    `ended` is the status that closed it, ERROR for a failure that is retried, RUNNING while it
    runs (it ends at its last result so far), INTERRUPTED when the driver stopped while it ran (it
    ends at its last result: the event written at resume is not when it stopped, and a stretch left
    open by an experiment that is not `running`, interrupted or killed, is one of those).
    """
    levels = min(len(milestones), len(RUNG_COLOURS) - 1)
    failed = levels + 1 if milestones else 1
    out: list[dict[str, Any]] = []
    still: dict[int, dict[str, Any]] = {}  # the stretches open so far

    def close(span: dict[str, Any], end: float | None, ended: str) -> None:
        start = span.pop("start")
        last, top = span.pop("last"), span.pop("top")
        if start is None:
            return  # schema 1 and no result: nothing tells when it ran
        rung = sum(1 for m in milestones if m <= top)
        span.update(start=start, end=max(start, end if end is not None else last if last is not None else start))
        span.update(rung=rung, ended=ended, legend=failed if ended == "ERROR" else min(rung, levels))
        out.append(span)

    for kind, trial_id, data, at, slot in records:
        span = still.get(trial_id)
        if kind == "result":
            if span is not None:
                _add_result(span, data, time_attr)
            continue
        status = data[0]
        if span is not None:
            del still[trial_id]
            ended = "ERROR" if status in (Status.ERROR, Status.PENDING) else status.value
            if at is None:  # schema 1: no event times
                close(span, None, ended)
            elif slot is None or status is Status.RUNNING:
                close(span, None, "INTERRUPTED")
            else:
                close(span, at, ended)
        if status is Status.RUNNING:
            still[trial_id] = _open(trial_id, at, slot)
    for span in list(still.values()):
        close(span, None, "RUNNING" if running else "INTERRUPTED")
    out.sort(key=lambda s: (s["start"], s["trial"]))
    _pack([s for s in out if s["slot"] is None])
    return out


def _pack(unplaced: list[dict[str, Any]]) -> None:
    """Slots for stretches of a schema-1 store: the first slot free at each one's start."""
    free_at: list[float] = []
    for span in unplaced:
        slot = next((i for i, t in enumerate(free_at) if t <= span["start"] + 1e-6), len(free_at))
        if slot == len(free_at):
            free_at.append(span["end"])
        free_at[slot] = span["end"]
        span["slot"] = slot
