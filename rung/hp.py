"""Hyperopt-style spelling of the `rung.sampling` functions: `hp.uniform(label, ...)`, ...

The label is required (it must be a str) for compatibility with hyperopt code and is otherwise
unused: the dict key is what names the value in the config. Each function returns an ordinary
rung domain.

Two forms are accepted:

1. rung's list form: a two-item list or tuple gives the REAL bounds, as the rung functions do::

       from rung import hp
       space = {
           "batch_size": hp.choice("batch_size", [32, 64, 128]),
           "learning_rate": hp.loguniform("learning_rate", [0.0001, 0.01]),  # == rung.loguniform(1e-4, 1e-2)
           "target_update": hp.uniform("target_update", [4, 100]),           # == rung.uniform(4, 100)
           "layers": hp.randint("layers", [1, 4]),                           # == rung.randint(1, 4): 1..4
       }

2. hyperopt's own positional form, with hyperopt's meaning:

   - `hp.uniform(label, low, high)` and `hp.quniform(label, low, high, q)`: real bounds.
   - `hp.loguniform(label, low, high)`: bounds in LOG space, i.e. values in exp(low)..exp(high),
     so `hp.loguniform("lr", -9.2, -4.6)` is about `rung.loguniform(1e-4, 1e-2)`.
   - `hp.qloguniform(label, low, high, q)`: the same log-space bounds, rounded to multiples of q.
   - `hp.randint(label, upper)`: hyperopt's 0..upper-1 (upper excluded), i.e. `rung.randint(0, upper - 1)`;
     `hp.randint(label, low, high)`: low..high-1, i.e. `rung.randint(low, high - 1)`.
   - `hp.uniformint(label, low, high)`: integers low..high, both ends included (`rung.randint(low, high)`).
   - `hp.normal(label, mu, sigma)` and `hp.qnormal(label, mu, sigma, q)`.
   - `hp.lognormal(label, mu, sigma)` and `hp.qlognormal(label, mu, sigma, q)`: exp of a normal value
     (then rounded to multiples of q).

hyperopt's `hp.pchoice` (a weighted choice) has no rung counterpart: rung's searchers treat the
options of a choice alike.

Example:
    >>> import math
    >>> loguniform("lr", [1e-4, 1e-2]) == sampling.loguniform(1e-4, 1e-2)
    True
    >>> loguniform("lr", math.log(1e-4), math.log(1e-2)).to_json()["high"] == math.exp(math.log(1e-2))
    True
    >>> randint("n", 10) == sampling.randint(0, 9)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rung import sampling, space
from rung.domains import check_int, check_real, fmt
from rung.errors import SpaceError

__all__ = [
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
    "uniformint",
]


def _label(fn: str, label: Any) -> None:
    if not isinstance(label, str):
        raise SpaceError(f"hp.{fn} needs a str label first; got {fmt(label)}")


def _parse(fn: str, label: Any, args: tuple[Any, ...], extra: int) -> tuple[bool, tuple[Any, ...]]:
    """(list form?, (low, high, *extras)) from `[low, high], *extras` or `low, high, *extras`."""
    _label(fn, label)
    usage = f"[low, high]{', q' * extra} or low, high{', q' * extra}"
    if args and isinstance(args[0], (list, tuple)):
        if len(args[0]) != 2:
            raise SpaceError(f"hp.{fn} needs a two-item [low, high] list; got {fmt(args[0])}")
        if len(args) != 1 + extra:
            raise SpaceError(f"hp.{fn} needs either {usage} after the label; got {fmt(args)}")
        return True, (*args[0], *args[1:])
    if len(args) != 2 + extra:
        raise SpaceError(f"hp.{fn} needs {usage} after the label; got {fmt(args)}")
    return False, args


def _exp(fn: str, arg: str, value: Any) -> float:
    """exp of a hyperopt log-space bound."""
    try:
        return math.exp(check_real(f"hp.{fn}", arg, value))
    except OverflowError:
        raise SpaceError(f"hp.{fn} takes log-space bounds and exp({arg}) overflows; got {arg}={fmt(value)}") from None


def choice(label: str, options: Sequence[Any]) -> space.Categorical:
    """`rung.choice(options)`; options may hold nested domains.

    Example:
        >>> choice("batch_size", [32, 64, 128]) == sampling.choice([32, 64, 128])
        True
    """
    _label("choice", label)
    return sampling.choice(options)


def uniform(label: str, *args: Any) -> space.Float:
    """`uniform(label, [low, high])` or hyperopt's `uniform(label, low, high)`: both real bounds.

    Example:
        >>> uniform("t", [4, 100]) == uniform("t", 4, 100) == sampling.uniform(4, 100)
        True
    """
    _, (low, high) = _parse("uniform", label, args, 0)
    return sampling.uniform(low, high)


def quniform(label: str, low: float, high: float, q: float) -> space.Float:
    """`rung.quniform(low, high, q)`: real bounds, values rounded to multiples of q.

    Example:
        >>> quniform("units", 16, 256, 16) == sampling.quniform(16, 256, 16)
        True
    """
    _label("quniform", label)
    return sampling.quniform(low, high, q)


def loguniform(label: str, *args: Any) -> space.Float:
    """`loguniform(label, [low, high])` (real bounds) or hyperopt's `(label, low, high)` (LOG bounds).

    The hyperopt form gives values in exp(low)..exp(high).

    Example:
        >>> loguniform("lr", [1e-4, 1e-2]).to_json()
        {'type': 'loguniform', 'low': 0.0001, 'high': 0.01}
        >>> loguniform("lr", 0, 1).to_json()
        {'type': 'loguniform', 'low': 1.0, 'high': 2.718281828459045}
    """
    listed, (low, high) = _parse("loguniform", label, args, 0)
    return sampling.loguniform(low, high) if listed else sampling.loguniform(*_log_bounds("loguniform", low, high))


def qloguniform(label: str, *args: Any) -> space.Float:
    """`qloguniform(label, [low, high], q)` (real bounds) or hyperopt's `(label, low, high, q)` (LOG bounds).

    Example:
        >>> qloguniform("n", [1, 1000], 10) == sampling.qloguniform(1, 1000, 10)
        True
        >>> qloguniform("n", 0, 1, 0.5).to_json()["high"]
        2.718281828459045
    """
    listed, (low, high, q) = _parse("qloguniform", label, args, 1)
    if listed:
        return sampling.qloguniform(low, high, q)
    return sampling.qloguniform(*_log_bounds("qloguniform", low, high), q)


def _log_bounds(fn: str, low: Any, high: Any) -> tuple[float, float]:
    if not check_real(f"hp.{fn}", "low", low) < check_real(f"hp.{fn}", "high", high):
        raise SpaceError(f"hp.{fn} needs low < high (log-space bounds); got low={fmt(low)}, high={fmt(high)}")
    return _exp(fn, "low", low), _exp(fn, "high", high)


def randint(label: str, *args: Any) -> space.Integer:
    """`randint(label, [low, high])` (rung's: both ends included) or hyperopt's forms (upper excluded).

    Hyperopt's `randint(label, upper)` is 0..upper-1 and `randint(label, low, high)` is low..high-1.

    Example:
        >>> randint("n", [1, 4]) == randint("n", 1, 5) == sampling.randint(1, 4)
        True
        >>> randint("seed", 10) == sampling.randint(0, 9)
        True
    """
    _label("randint", label)
    if len(args) == 1 and not isinstance(args[0], (list, tuple)):
        upper = check_int("hp.randint", "upper", args[0])
        if upper < 2:
            raise SpaceError(f"hp.randint needs upper >= 2 (values 0..upper-1); got upper={fmt(args[0])}")
        return sampling.randint(0, upper - 1)
    if len(args) not in (1, 2):
        raise SpaceError(f"hp.randint needs [low, high], upper, or low, high after the label; got {fmt(args)}")
    listed, (low, high) = _parse("randint", label, args, 0)
    if listed:
        return sampling.randint(low, high)
    if not check_int("hp.randint", "low", low) < check_int("hp.randint", "high", high) - 1:
        raise SpaceError(f"hp.randint needs low < high - 1 (high is excluded); got low={fmt(low)}, high={fmt(high)}")
    return sampling.randint(low, high - 1)


def normal(label: str, mu: float, sigma: float) -> space.Normal:
    """`rung.normal(mu, sigma)`.

    Example:
        >>> normal("x", 0, 1) == sampling.normal(0.0, 1.0)
        True
    """
    _label("normal", label)
    return sampling.normal(mu, sigma)


def qnormal(label: str, mu: float, sigma: float, q: float) -> space.Normal:
    """`rung.qnormal(mu, sigma, q)`: normal values rounded to multiples of q.

    Example:
        >>> qnormal("x", 10, 2, 1) == sampling.qnormal(10, 2, 1)
        True
    """
    _label("qnormal", label)
    return sampling.qnormal(mu, sigma, q)


def uniformint(label: str, *args: Any) -> space.Integer:
    """Hyperopt's `uniformint(label, low, high)`: the integers low..high, both ends included.

    Example:
        >>> uniformint("layers", 1, 4) == uniformint("layers", [1, 4]) == sampling.randint(1, 4)
        True
    """
    _, (low, high) = _parse("uniformint", label, args, 0)
    return sampling.randint(low, high)


def lognormal(label: str, mu: float, sigma: float) -> space.Normal:
    """Hyperopt's `lognormal(label, mu, sigma)`: exp(x) for x drawn from N(mu, sigma**2).

    Example:
        >>> lognormal("scale", 0, 1).from_unit(0.5)
        1.0
    """
    _label("lognormal", label)
    return space.Normal(mu, sigma, log=True)


def qlognormal(label: str, mu: float, sigma: float, q: float) -> space.Normal:
    """Hyperopt's `qlognormal(label, mu, sigma, q)`: `lognormal` rounded to multiples of q (0 included).

    Example:
        >>> qlognormal("units", 3, 1, 8).from_unit(0.5)
        24.0
    """
    _label("qlognormal", label)
    check_real("hp.qlognormal", "q", q)  # None would silently mean no rounding
    return space.Normal(mu, sigma, q=q, log=True)
