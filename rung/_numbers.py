"""What counts as a number in a reported result: the checks the engine makes on every report."""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeGuard

__all__ = ["better", "finite", "is_number"]


def is_number(value: Any) -> TypeGuard[numbers.Real]:
    """A real number (bools are not): int, float, numpy scalars and other `numbers.Real`."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the ABC machinery (~4x cheaper)
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    """True for a real, finite number (NaN, inf and non-numbers are never best; nor is an int too
    large for a float)."""
    try:
        return is_number(value) and math.isfinite(value)
    except OverflowError:
        return False


def better(value: float, than: float, mode: str) -> bool:
    """Whether `value` beats `than` for an experiment of `mode` ("max" or "min"); ties do not."""
    return value > than if mode == "max" else value < than
