"""The functions that declare a search space's values: each builds the domain that draws one value.

`uniform`, `quniform`, `loguniform`, `qloguniform` (floats), `randint`, `qrandint`, `lograndint`,
`qlograndint` (ints), `normal`, `qnormal`, `choice` (one of some options, which may hold domains),
`grid` (a dimension `Space` crosses) and `sample_from` (a value derived from the others). The
domains check their arguments when built (`rung.domains`); a `Space` compiles a nested dict of them.
All are exported by `rung` (`rung.uniform(...)`); `rung.hp` spells them the hyperopt way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rung.domains import Categorical, Float, GridValues, Integer, Normal, SampleFrom, check_real

__all__ = [
    "choice",
    "grid",
    "lograndint",
    "loguniform",
    "normal",
    "qlograndint",
    "qloguniform",
    "qnormal",
    "qrandint",
    "quniform",
    "randint",
    "sample_from",
    "uniform",
]


def uniform(low: float, high: float) -> Float:
    """A float drawn uniformly from [low, high]; needs low < high.

    Example:
        >>> import numpy as np
        >>> 0.5 <= uniform(0.5, 2.0).sample(np.random.default_rng(0)) <= 2.0
        True
    """
    return Float(low, high)


def quniform(low: float, high: float, q: float) -> Float:
    """`uniform(low, high)` rounded to the nearest multiple of `q`, then clipped into [low, high].

    Example:
        >>> quniform(0.0, 1.0, 0.05).from_unit(0.15)
        0.15
    """
    check_real("quniform", "q", q)  # None would silently mean no rounding
    return Float(low, high, q=q)


def loguniform(low: float, high: float) -> Float:
    """A float whose log is uniform between log(low) and log(high); needs 0 < low < high.

    Example:
        >>> loguniform(1e-4, 1e-1).to_json()
        {'type': 'loguniform', 'low': 0.0001, 'high': 0.1}
    """
    return Float(low, high, log=True)


def qloguniform(low: float, high: float, q: float) -> Float:
    """`loguniform(low, high)` rounded to the nearest multiple of `q`, then clipped into [low, high].

    Example:
        >>> qloguniform(1, 1000, 10).from_unit(0.5)
        30.0
    """
    check_real("qloguniform", "q", q)  # None would silently mean no rounding
    return Float(low, high, q=q, log=True)


def randint(low: int, high: int) -> Integer:
    """An int drawn uniformly from low..high with BOTH ends included.

    Note: unlike `numpy.random.Generator.integers` and Ray Tune's `randint`, `high` CAN be drawn:
    `randint(1, 4)` gives 1, 2, 3 or 4.

    Example:
        >>> import numpy as np
        >>> sorted({randint(1, 4).sample(rng) for rng in [np.random.default_rng(0)] for _ in range(50)})
        [1, 2, 3, 4]
    """
    return Integer(low, high)


def qrandint(low: int, high: int, q: int) -> Integer:
    """`randint(low, high)` (both ends included) rounded to the nearest multiple of `q`, then clipped.

    Example:
        >>> qrandint(0, 100, 25).from_unit(0.6)
        50
    """
    return Integer(low, high, q=q)


def lograndint(low: int, high: int) -> Integer:
    """An int from low..high (BOTH ends included) whose log is uniform; needs 0 < low < high.

    Example:
        >>> lograndint(1, 1000).from_unit(0.5)
        31
    """
    return Integer(low, high, log=True)


def qlograndint(low: int, high: int, q: int) -> Integer:
    """`lograndint(low, high)` rounded to the nearest multiple of `q`, then clipped into low..high.

    Example:
        >>> qlograndint(1, 1000, 10).from_unit(0.5)
        30
    """
    return Integer(low, high, q=q, log=True)


def normal(mu: float = 0.0, sigma: float = 1.0) -> Normal:
    """A float from the normal distribution N(mu, sigma**2); needs sigma > 0.

    Example:
        >>> normal(0.0, 2.0).from_unit(0.5)
        0.0
    """
    return Normal(mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Normal:
    """`normal(mu, sigma)` rounded to the nearest multiple of `q` (not clipped).

    Example:
        >>> qnormal(10.0, 3.0, 0.5).contains(11.5)
        True
    """
    check_real("qnormal", "q", q)  # None would silently mean no rounding
    return Normal(mu, sigma, q=q)


def choice(options: Sequence[Any]) -> Categorical:
    """One of `options`, each equally likely; an option may be a dict or list holding domains.

    A chosen option that holds domains is resolved in turn (a conditional space); plain options are
    returned as they are.

    Example:
        >>> import numpy as np
        >>> model = choice([{"kind": "mlp", "width": randint(8, 64)}, {"kind": "linear"}])
        >>> model.sample(np.random.default_rng(1))
        {'kind': 'mlp', 'width': 37}
    """
    return Categorical(options)


def grid(values: Sequence[Any]) -> GridValues:
    """A grid dimension: not sampled, but crossed with the other grid dimensions of the space.

    Example:
        >>> from rung.space import Space
        >>> Space({"a": grid([1, 2]), "b": grid(["x", "y"])}).grid_size
        4
    """
    return GridValues(values)


def sample_from(fn: Callable[[dict[str, Any]], Any]) -> SampleFrom:
    """A derived value: `fn(config)`, called with the config whose other values are resolved.

    Derived values are resolved in order of appearance; one that raises KeyError or TypeError
    (because it reads another derived value not yet resolved) is retried after the others.

    Example:
        >>> import numpy as np
        >>> from rung.space import Space
        >>> space = Space({"lr": 0.1, "wd": sample_from(lambda cfg: cfg["lr"] / 10)})
        >>> space.sample(np.random.default_rng(0))
        {'lr': 0.1, 'wd': 0.01}
    """
    return SampleFrom(fn)
