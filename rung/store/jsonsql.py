"""Values inside the store's JSON columns, read by SQLite itself (the read side's aggregates and pages).

SQLite's `json_extract` reads a value in C, thousands of times faster than decoding each row in
Python. But the store keeps NaN and infinities in its JSON (`NaN`, `Infinity`), which SQLite before
3.42 rejects as malformed: such rows (rare: a trial that reported NaN) are read by a Python function
registered on the connection instead, so every row gives its value. NaN reads as NULL.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["floats", "install", "number", "value_sql"]

_FUNCTION = "rung_json_value"


def _value(text: str | bytes | None, keys: str) -> Any:
    """The value at `keys` (a JSON list of keys) in the JSON `text`, as `json_extract` gives it."""
    if text is None:
        return None
    try:
        value: Any = json.loads(text)
        for key in json.loads(keys):
            value = value[key]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if isinstance(value, bool):
        return int(value)  # as json_extract gives true and false
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, allow_nan=True)
    return value


def install(conn: sqlite3.Connection) -> None:
    """Register the Python reader of rows SQLite's JSON functions reject (see the module docstring)."""
    conn.create_function(_FUNCTION, 2, _value, deterministic=True)


def value_sql(column: str, keys: Sequence[str]) -> tuple[str, list[str]]:
    """SQL (and its parameters) for the value at `keys` of the JSON in `column` (one of the store's
    JSON columns, never user input), NULL where there is none; needs `install` on the connection."""
    if any('"' in key for key in keys):  # SQLite's JSON paths cannot quote a double quote
        return f"{_FUNCTION}({column}, ?)", [json.dumps(list(keys))]
    path = "$" + "".join(f'."{key}"' for key in keys)
    sql = f"CASE WHEN json_valid({column}) THEN json_extract({column}, ?) ELSE {_FUNCTION}({column}, ?) END"
    return sql, [path, json.dumps(list(keys))]


def number(value: Any) -> float:
    """A value read from SQLite as a float: NaN unless it is a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def floats(values: Sequence[Any]) -> Any:
    """A column read from SQLite as a float array (`number` of each value), in one step when it
    holds only numbers and NULLs (the usual case: no Python call per value)."""
    if set(map(type, values)) <= {float, int, type(None)}:
        try:
            return np.array(values, dtype=float)  # None gives NaN
        except OverflowError:  # an int too large for a float
            pass
    return np.array([number(v) for v in values], dtype=float)
