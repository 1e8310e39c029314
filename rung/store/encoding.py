"""How the store encodes values: JSON that keeps NaN and numpy scalars, and a pickle for configs JSON would change."""

from __future__ import annotations

import json
import math
from typing import Any

import cloudpickle

from rung.types import Config

__all__ = ["config_blob", "dumps"]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return repr(value)


_ENCODER = json.JSONEncoder(default=_plain, allow_nan=True, separators=(",", ":"))
"""Made once: `json.dumps` with options builds a new encoder per call."""


def dumps(value: Any) -> str:
    """JSON with NaN/inf kept, numpy scalars as numbers, anything else as its repr."""
    return _ENCODER.encode(value)


_PLAIN = (str, int, bool, type(None))


def config_blob(config: Config) -> bytes | None:
    """A pickle of the config when JSON would not give it back unchanged."""
    if all(type(v) in _PLAIN or (type(v) is float and math.isfinite(v)) for v in config.values()):
        return None  # flat and plain (the usual config): JSON gives it back; no round trip needed
    try:
        if json.loads(json.dumps(config, allow_nan=True)) == config:
            return None
    except (TypeError, ValueError):
        pass
    return bytes(cloudpickle.dumps(config))
