"""The worker timeline of a large experiment, computed with arrays: `timeline.spans`' stretches without
a Python step per stored row, and their aggregation per slot at the chart's resolution.

`timeline.spans` walks every stored event and result in Python (seconds for 100,000 trials); here
the events' plain columns (sequence number, trial, status, clock time, slot) and each result's
progress (`results.iteration` for `training_iteration`, read by SQLite otherwise) are read as
arrays, and each stretch is a RUNNING event up to the trial's next event, closed by the same rules.
It needs every RUNNING event to carry its time and slot (stores since schema version 2); for others
the caller uses `timeline.spans`. A chart of 100,000 stretches cannot show them one by one:
`binned` gives, per slot and per time bin, the legend entry that held the slot longest there.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any

import numpy as np

from rung.store import jsonsql
from rung.store.timeline import RUNG_COLOURS
from rung.types import Status

__all__ = ["Stretches", "binned", "from_spans", "read", "spans"]

_RUNNING, _PENDING, _ERROR = (Status.RUNNING.value, Status.PENDING.value, Status.ERROR.value)
_OPEN, _INTERRUPTED = "RUNNING", "INTERRUPTED"  # `ended` of a stretch still running, or cut by the driver


class Stretches:
    """Every running stretch as parallel arrays, sorted by (start, trial)."""

    def __init__(self, trial: Any, slot: Any, start: Any, end: Any, rung: Any, ended: list[str], legend: Any) -> None:
        order = np.lexsort((trial, start))
        self.trial = trial[order]
        self.slot = slot[order]
        self.start = start[order]
        self.end = end[order]
        self.rung = rung[order]
        self.ended = [ended[i] for i in order]
        self.legend = legend[order]

    def __len__(self) -> int:
        return len(self.trial)


def read(
    conn: sqlite3.Connection,
    time_attr: str,
    milestones: list[float],
    running: bool,
    iterations: tuple[Any, Any] | None = None,
) -> Stretches | None:
    """The stretches of the store behind `conn` (`jsonsql.install`ed), or None if some RUNNING event
    lacks its time or slot (a store older than schema version 2: use `timeline.spans`).

    `iterations`: every trial's id (sorted) and `iteration` column, if the caller has read them (see
    `_results`)."""
    untimed = conn.execute(
        "SELECT COUNT(*) FROM events WHERE status = ? AND (time IS NULL OR slot IS NULL)", (_RUNNING,)
    ).fetchone()[0]
    if untimed:
        return None
    # A trial's first event (PENDING, with its origin) closes nothing: left out, a third of the rows.
    rows = conn.execute(
        "SELECT seq, trial_id, status, time, COALESCE(slot, -1) FROM events"
        " WHERE NOT (status = ? AND data LIKE '{\"origin\":%') ORDER BY trial_id, seq",
        (_PENDING,),
    ).fetchall()
    if not rows:
        nothing = np.zeros(0, dtype=np.int64)
        return Stretches(nothing, nothing, np.zeros(0), np.zeros(0), nothing, [], nothing)
    columns = list(zip(*rows, strict=True))
    del rows
    seq = np.array(columns[0], dtype=np.int64)
    trial = np.array(columns[1], dtype=np.int64)
    status = np.array(columns[2])
    at = np.array(columns[3], dtype=float)  # NULL gives NaN
    slot = np.array(columns[4], dtype=np.int64)
    del columns
    starts = np.flatnonzero(status == _RUNNING)
    following = starts + 1
    has_next = following < len(seq)
    has_next[has_next] = trial[following[has_next]] == trial[starts[has_next]]
    nxt = np.where(has_next, following, 0)
    # How each stretch ended (the rules of timeline.spans), and when: NaN for "at its last result".
    next_status = np.where(has_next, status[nxt], "")
    ended = np.where(np.isin(next_status, (_ERROR, _PENDING)), _ERROR, next_status)
    cut = has_next & ~np.isnan(at[nxt]) & ((slot[nxt] < 0) | (next_status == _RUNNING))
    ended = np.where(cut, _INTERRUPTED, ended)
    ended = np.where(has_next, ended, _OPEN if running else _INTERRUPTED)
    end = np.where(has_next & ~cut, at[nxt], np.nan)
    end_seq = np.where(has_next, seq[nxt], np.iinfo(np.int64).max)
    top, last = _results(conn, time_attr, trial[starts], seq[starts], end_seq, np.isnan(end), iterations)
    start = at[starts]
    end = np.maximum(start, np.where(np.isnan(end), np.where(np.isnan(last), start, last), end))
    levels = min(len(milestones), len(RUNG_COLOURS) - 1)
    failed = levels + 1 if milestones else 1
    rung = np.searchsorted(np.sort(np.asarray(milestones, dtype=float)), top, side="right")
    legend = np.where(ended == _ERROR, failed, np.minimum(rung, levels))
    return Stretches(trial[starts], slot[starts], start, end, rung, [str(e) for e in ended], legend)


def from_spans(found: list[dict[str, Any]]) -> Stretches:
    """`timeline.spans`' stretches as arrays (for `binned`)."""

    def column(key: str, kind: Any) -> Any:
        return np.array([span[key] for span in found], dtype=kind)

    ended = [str(span["ended"]) for span in found]
    return Stretches(
        column("trial", np.int64),
        column("slot", np.int64),
        column("start", float),
        column("end", float),
        column("rung", np.int64),
        ended,
        column("legend", np.int64),
    )


def _results(
    conn: sqlite3.Connection,
    time_attr: str,
    trial: Any,
    start_seq: Any,
    end_seq: Any,
    needs_last: Any,
    iterations: tuple[Any, Any] | None,
) -> tuple[Any, Any]:
    """Per stretch (sorted by trial, then start): the highest `time_attr` of its results (0 if none),
    and, where `needs_last`, its last result's timestamp (NaN if none).

    With `iterations` (every trial's id and latest `training_iteration`, ids sorted) and time_attr
    `training_iteration`, a trial's only stretch reached its latest iteration: only the results of
    trials that ran more than once, or whose stretch ends at its last result, are read.
    """
    top = np.zeros(len(trial))
    last = np.full(len(trial), np.nan)
    if not len(trial):
        return top, last
    ids, counts = np.unique(trial, return_counts=True)
    if time_attr == "training_iteration" and iterations is not None:
        once = np.isin(trial, ids[counts == 1]) & ~needs_last
        known_ids, known = iterations
        at = np.minimum(np.searchsorted(known_ids, trial[once]), len(known_ids) - 1)
        top[once] = np.where(known_ids[at] == trial[once], known[at], 0)
        wanted: Any = np.unique(trial[~once])
        value_sql, params = "iteration", list[Any]()
    else:
        wanted = None
        value_sql, params = "iteration", []
        if time_attr != "training_iteration":
            value_sql, params = jsonsql.value_sql("data", [time_attr])
    query = f"SELECT seq, trial_id, {value_sql} FROM results"
    if wanted is not None:
        if not len(wanted):
            return top, last
        query += " WHERE trial_id IN (SELECT value FROM json_each(?))"
        params = [*params, json.dumps([int(i) for i in wanted])]
    rows = conn.execute(query, params).fetchall()
    if not rows:
        return top, last
    columns = list(zip(*rows, strict=True))
    del rows
    r_seq = np.array(columns[0], dtype=np.int64)
    r_trial = np.array(columns[1], dtype=np.int64)
    r_value = jsonsql.floats(columns[2])
    del columns
    # A result belongs to the stretch of its trial that began last before it (if it has not ended).
    scale = int(max(int(r_seq.max()), int(start_seq.max()))) + 1
    keys = trial * scale + start_seq
    index = np.searchsorted(keys, r_trial * scale + r_seq, side="right") - 1
    inside = index >= 0
    inside[inside] = (trial[index[inside]] == r_trial[inside]) & (r_seq[inside] < end_seq[index[inside]])
    finite = inside & np.isfinite(r_value)
    np.maximum.at(top, index[finite], r_value[finite])
    asked = inside & needs_last[np.where(inside, index, 0)]
    if asked.any():
        seqs = [int(s) for s in r_seq[asked]]
        sql, stamp_params = jsonsql.value_sql("data", ["timestamp"])
        stamps = dict(
            conn.execute(
                f"SELECT seq, {sql} FROM results WHERE seq IN (SELECT value FROM json_each(?))",
                [*stamp_params, json.dumps(seqs)],
            )
        )
        when = jsonsql.floats([stamps.get(s) for s in seqs])
        good = np.isfinite(when)
        np.fmax.at(last, index[asked][good], when[good])
    return top, last


def spans(stretches: Stretches) -> list[dict[str, Any]]:
    """The stretches as `timeline.spans` gives them."""
    return [
        {
            "trial": int(stretches.trial[i]),
            "slot": int(stretches.slot[i]),
            "start": float(stretches.start[i]),
            "end": float(stretches.end[i]),
            "rung": int(stretches.rung[i]),
            "ended": stretches.ended[i],
            "legend": int(stretches.legend[i]),
        }
        for i in range(len(stretches))
    ]


def binned(stretches: Stretches, bins: int, legends: int) -> dict[str, Any]:
    """Per slot, runs of time bins (`[slot, first bin, bins, legend]`) coloured by the legend entry that
    held the slot longest in each bin; bins where the slot was idle are left out.

    `bins` divide the time from the first start to the last end; `legends` is the number of legend
    entries. Also gives the range, the number of slots and stretches, and how many stretches failed.
    """
    t0 = float(stretches.start.min())
    t1 = float(stretches.end.max())
    width = max(t1 - t0, 1e-9) / bins
    slots = int(stretches.slot.max()) + 1
    a = (stretches.start - t0) / width
    b = np.maximum((stretches.end - t0) / width, a + 1e-3)  # an instant stretch still marks its bin
    first = np.minimum(a.astype(np.int64), bins - 1)
    last = np.minimum(b.astype(np.int64), bins - 1)
    held = np.zeros((slots, legends, bins + 1))
    one = first == last
    np.add.at(held, (stretches.slot[one], stretches.legend[one], first[one]), (b - a)[one])
    many = ~one
    slot, legend = stretches.slot[many], stretches.legend[many]
    np.add.at(held, (slot, legend, first[many]), (first[many] + 1 - a[many]))
    np.add.at(held, (slot, legend, last[many]), np.minimum(b[many] - last[many], 1.0))
    # Whole bins in between: +1 from the bin after the first up to the last, by a running sum.
    steps = np.zeros_like(held)
    np.add.at(steps, (slot, legend, first[many] + 1), 1.0)
    np.add.at(steps, (slot, legend, last[many]), -1.0)
    held += np.cumsum(steps, axis=2)
    held = held[:, :, :bins]
    top = np.where(held.sum(axis=1) > 0, held.argmax(axis=1), -1)
    runs: list[list[int]] = []
    for s in range(slots):
        row = top[s]
        change = np.flatnonzero(np.diff(row)) + 1
        edges = np.concatenate(([0], change, [bins]))
        for lo, hi in itertools.pairwise(edges):
            if row[lo] >= 0:
                runs.append([s, int(lo), int(hi - lo), int(row[lo])])
    return {
        "t0": t0,
        "t1": t1,
        "bins": bins,
        "slots": slots,
        "runs": runs,
        "stretches": len(stretches),
        "failed": sum(1 for e in stretches.ended if e == _ERROR),
    }
