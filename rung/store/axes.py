"""The axes of parallel coordinates, shared by the dashboard and `rung.plots` (JSON only).

Each axis places every trial's value at a height in [0, 1] and carries its ticks, so the page and
matplotlib draw the same picture:

- a log-scaled dimension (`loguniform`, `qloguniform`, `lograndint`, or positive numbers spanning
  `LOG_DECADES` decades or more with no domain to tell) gets a log axis with ticks at powers of ten;
- other numbers get a linear axis with "nice" ticks (1, 2 or 5 times a power of ten; whole numbers
  for integers);
- a `choice` or `grid` of numbers is a number axis (as above, with no domain), ticked at its values;
- any other `choice` or `grid`, and any text, gets a categorical axis: one tick per value, labelled
  with it, in the space's order;
- `None` is a value: a category of its own, or, on a number axis, a tick below the numbers (a
  conditional hyperparameter that a trial did not have gets one there too, "(absent)");
- the metric's axis is log-scaled when its values are positive and span `METRIC_DECADES` decades.

The best trials (`best_ids`) are the ones the charts draw on top, highlighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rung._numbers import finite
from rung.types import flatten

__all__ = ["ABSENT", "NONE_STEP", "best_ids", "domains", "parallel_axes", "parallel_view"]

LOG_DECADES = 2.0
"""Positive numbers spanning this many powers of ten, with no domain to tell, get a log axis."""
METRIC_DECADES = 1.5
"""The metric's axis is a log axis when its values are positive and span this many powers of ten."""
MAX_VALUE_TICKS = 8
"""A choice of at most this many numbers is ticked at each of them."""
NONE_STEP = 0.07
"""On a number axis, `None` (and "absent") sit at 0 (and NONE_STEP) below the numbers, which start a
step above them."""
ABSENT = "(absent)"
"""The label of a conditional hyperparameter that a trial's config does not hold."""
_LOG_TYPES = {"loguniform", "qloguniform", "lograndint", "qlograndint"}
_CATEGORY_TYPES = {"choice", "grid"}


def domains(space: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """The domain (its JSON) of each flattened key (`a/b`) of a stored space; keys inside a choice's
    dict options are reached too. A key two options declare differently is left out (read from data)."""
    out: dict[str, dict[str, Any]] = {}
    clash: set[str] = set()

    def put(key: str, domain: dict[str, Any]) -> None:
        if key in out and out[key] != domain:
            clash.add(key)
        out[key] = domain

    if not isinstance(space, Mapping):
        return out
    for name, spec in space.items():
        key = f"{prefix}{name}"
        if isinstance(spec, Mapping) and "type" in spec:
            put(key, dict(spec))
            for option in spec.get("options", ()) if spec.get("type") == "choice" else ():
                if isinstance(option, Mapping):
                    for inner, domain in domains(option, f"{key}/").items():
                        put(inner, domain)
        elif isinstance(spec, Mapping):
            for inner, domain in domains(spec, f"{key}/").items():
                put(inner, domain)
    for key in clash:
        del out[key]
    return out


def best_ids(scores: Sequence[tuple[int, float]], mode: str, share: float = 0.1, most: int = 5) -> list[int]:
    """The ids of the best `share` of scored trials (at least one, at most `most`), best first."""
    ranked = sorted((s for s in scores if finite(s[1])), key=lambda s: ((-s[1] if mode == "max" else s[1]), s[0]))
    count = min(most, max(1, math.ceil(share * len(ranked))))
    return [i for i, _ in ranked[:count]]


def parallel_view(space: Any, rows: Sequence[Mapping[str, Any]], metric: Any, mode: str) -> dict[str, Any]:
    """What the dashboard adds to its `parallel` rows (`{"id", "config", "best"}`): their axes
    (`parallel_axes`, none without one metric) and the best trials' ids (`parallel_best`)."""
    if not isinstance(metric, str) or not rows:
        return {"parallel_axes": [], "parallel_best": []}
    return {
        "parallel_axes": parallel_axes(space, [r["config"] for r in rows], metric, [r["best"] for r in rows]),
        "parallel_best": best_ids([(r["id"], r["best"]) for r in rows], mode),
    }


def parallel_axes(
    space: Any,
    configs: Sequence[Mapping[str, Any]],
    metric: str,
    values: Sequence[float],
    more: Sequence[tuple[str, Sequence[float]]] = (),
) -> list[dict[str, Any]]:
    """An axis per flattened hyperparameter that varies among `configs` (numbers, text, booleans or
    None), then one for the metric (`values`, one per config) and one per `more` metric (several
    objectives): each `{"key", "scale" ("log", "linear" or "category"), "ticks": [[height, label],
    ...], "at": [height per config]}`."""
    flat = [flatten(dict(c), "/") for c in configs]
    known = domains(space)
    keys = sorted({k for c in flat for k in c})
    out: list[dict[str, Any]] = []
    for key in keys:
        column = [c.get(key, _Absent) for c in flat]
        if not all(v is _Absent or _plain(v) for v in column) or len({_tag(v) for v in column}) < 2:
            continue
        out.append({"key": key, **_axis(known.get(key), column)})
    for name, scores in [(metric, values), *more]:
        out.append({"key": name, **_axis({"type": "metric"}, [float(v) for v in scores], missing=False)})
    return out


class _Absent:
    """A conditional key that a config does not hold."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and finite(value)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str | bool)


def _tag(value: Any) -> str:
    return "absent" if value is _Absent else repr(value)


def _label(value: Any) -> str:
    if value is _Absent:
        return ABSENT
    if isinstance(value, float):
        return format(value, ".3g")
    return str(value)


def _axis(domain: Mapping[str, Any] | None, column: list[Any], missing: bool = True) -> dict[str, Any]:
    kind = (domain or {}).get("type")
    numbers = [float(v) for v in column if _number(v)]
    others = [v for v in column if not _number(v)]
    options = list((domain or {}).get("options", (domain or {}).get("values", ()))) if kind in _CATEGORY_TYPES else []
    # A choice of numbers (a grid of learning rates) is a number axis, ticked at its values.
    listed = [float(v) for v in options if _number(v)]
    if not numbers or any(v is not None and v is not _Absent for v in [*others, *options] if not _number(v)):
        return _categories(domain, column)
    lo, hi = min(numbers + listed), max(numbers + listed)
    if kind in _CATEGORY_TYPES:
        kind = None
    if kind == "metric":  # a loss of 0.2 beside one outlier at 20 would flatten the rest on a linear axis
        log = lo > 0 and math.log10(hi / lo) >= METRIC_DECADES
    elif kind not in (None, *_LOG_TYPES):
        log = False
    else:
        log = lo > 0 and (kind in _LOG_TYPES or math.log10(hi / lo) >= LOG_DECADES)
    if domain is not None and finite(domain.get("low")) and finite(domain.get("high")):
        # The domain's range, so trials of two runs of one space line up (and a lone value is not at an end).
        lo, hi = min(lo, float(domain["low"])), max(hi, float(domain["high"]))
    integer = all(float(v).is_integer() for v in numbers) and kind not in ("uniform", "loguniform", "normal")
    if listed and len(set(listed)) <= MAX_VALUE_TICKS:
        ticks = sorted(set(listed))
    else:
        ticks = _log_ticks(lo, hi) if log else _linear_ticks(lo, hi, integer)
    below = sorted({_tag(v): v for v in others}.items()) if missing else []  # "None" (and "absent") under the numbers
    low_at = {tag: i * NONE_STEP for i, (tag, _) in enumerate(below)}
    bottom = (len(below) + 1) * NONE_STEP if below else 0.0

    def height(v: Any) -> float:
        if not (isinstance(v, int | float) and finite(v)):
            return low_at.get(_tag(v), 0.0)
        if hi <= lo:
            return (bottom + 1.0) / 2
        f = (math.log(v) - math.log(lo)) / math.log(hi / lo) if log else (v - lo) / (hi - lo)
        return bottom + (1.0 - bottom) * f

    tick_list = [[height(t), _label(t) if not integer else str(int(t))] for t in ticks]
    if hi <= lo:
        tick_list = [[height(lo), _label(lo)]]
    tick_list += [[low_at[tag], _label(v)] for tag, v in below]
    # Heights to 1e-4: a tenth of a pixel on a 1,000-pixel axis, and half the JSON of 1,000 trials.
    return {"scale": "log" if log else "linear", "ticks": tick_list, "at": [round(height(v), 4) for v in column]}


def _categories(domain: Mapping[str, Any] | None, column: list[Any]) -> dict[str, Any]:
    """One tick per value: the domain's options in its order (if it lists them), then the others seen."""
    declared = list((domain or {}).get("options", (domain or {}).get("values", ())))
    order: dict[str, Any] = {}
    for v in [*(d for d in declared if _plain(d)), *column]:
        order.setdefault(_tag(v), v)
    seen = {_tag(v) for v in column}
    tags = [t for t in order if t in seen]  # only values some trial has: no empty ticks
    place = {t: (i / (len(tags) - 1) if len(tags) > 1 else 0.5) for i, t in enumerate(tags)}
    return {
        "scale": "category",
        "ticks": [[place[t], _label(order[t])] for t in tags],
        "at": [round(place[_tag(v)], 4) for v in column],
    }


def _linear_ticks(lo: float, hi: float, integer: bool) -> list[float]:
    """About five ticks at 1, 2 or 5 times a power of ten within [lo, hi] (whole numbers if `integer`)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / 5
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi]; with fewer than two of them, 1, 2 and 5 times powers of ten."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    ticks = [10.0**e for e in range(first, last + 1)]
    if len(ticks) < 2:
        ticks = [m * 10.0**e for e in range(first - 1, last + 1) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    if len(ticks) > 8:  # a wide range: every other power, so the labels do not overlap
        ticks = ticks[:: math.ceil(len(ticks) / 6)]
    return ticks
