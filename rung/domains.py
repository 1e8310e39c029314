"""The domain classes behind `rung.space`: one per kind of value, each sampling, checking and encoding itself.

The public names are re-exported by `rung.space`; import them from there (or from `rung`).
Everything here without a leading underscore is shared with `rung.sampling`, `rung.space`, `rung.hp`
and `rung._tree`.
Domains validate themselves on construction, so a `Float(...)` built directly is as safe as one
built with `rung.uniform(...)`, and the error names the function the user knows (`loguniform`).
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import numpy as np

from rung.errors import SpaceError

PENDING: Any = object()
"""Placeholder for a `sample_from` value that `Space.sample` resolves after everything else."""


def fmt(value: Any) -> str:
    """`repr` for error messages, with numpy scalars shown as the Python values they hold."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_real(fn: str, arg: str, value: Any) -> float:
    """`value` as a finite float; bools and non-numbers raise a `SpaceError` naming `fn` and `arg`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise SpaceError(f"{fn} needs {arg} to be a finite number; got {arg}={fmt(value)}")
    return float(value)


def check_int(fn: str, arg: str, value: Any) -> int:
    """`value` as an int; floats (even 2.0), bools and non-numbers raise a `SpaceError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise SpaceError(f"{fn} needs {arg} to be an integer; got {arg}={fmt(value)}")
    return int(value)


def _as_items(fn: str, noun: str, items: Any) -> tuple[Any, ...]:
    """Options or grid values as a tuple of copies; numpy arrays and scalars become Python values."""
    if isinstance(items, np.ndarray):
        items = items.tolist()
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise SpaceError(f"{fn} needs a list or tuple of {noun}s; got {fmt(items)}")
    if len(items) == 0:
        raise SpaceError(f"{fn} needs at least one {noun}; got {fmt(items)}")
    return tuple(copy_tree(x.item() if isinstance(x, np.generic) else x) for x in items)


def _bounds(kind: str, check: Callable[[str, str, Any], Any], low: Any, high: Any, log: bool) -> dict[str, Any]:
    """Checked `low` and `high`: numbers (ints for `check_int`), low < high, and 0 < low if `log`."""
    checked = {"low": check(kind, "low", low), "high": check(kind, "high", high)}
    if not (0 if log else -math.inf) < checked["low"] < checked["high"]:
        rule = "0 < low < high" if log else "low < high"
        raise SpaceError(f"{kind} needs {rule}; got low={fmt(low)}, high={fmt(high)}")
    return checked


def _q(kind: str, q: Any) -> float | None:
    if q is None:
        return None
    checked = check_real(kind, "q", q)
    if checked <= 0:
        raise SpaceError(f"{kind} needs q > 0; got q={fmt(q)}")
    return checked


def _set(domain: Domain, fields: dict[str, Any], q: float | None) -> None:
    """Store checked, plain-Python field values on a frozen domain."""
    for name, value in {**fields, "q": q}.items():
        object.__setattr__(domain, name, value)


def _quantize(x: float, q: float) -> float:
    """The multiple of `q` nearest `x`, rounded to q's decimals (0.15, not 0.15000000000000002)."""
    exponent = Decimal(repr(q)).as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return round(round(x / q) * q, decimals)


def _on_grid(x: float, q: float) -> bool:
    return abs(x - round(x / q) * q) <= 1e-9 * max(abs(x), q)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _unit(u: float) -> float:
    return min(max(float(u), 0.0), 1.0)


@dataclass(frozen=True)
class Domain(abc.ABC):
    """A dimension of a search space: something `Space.sample` draws a value for.

    Example:
        >>> from rung.sampling import uniform
        >>> from rung.space import Domain
        >>> isinstance(uniform(0, 1), Domain), uniform(0, 1).contains(0.5)
        (True, True)
    """

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with `rng` (plain Python values, never numpy scalars)."""

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether `value` could have been drawn: right type, in range, on the q grid."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """A JSON-able description, e.g. `{"type": "loguniform", "low": 0.0001, "high": 0.1}`."""

    @abc.abstractmethod
    def to_unit(self, value: Any) -> float:
        """`value` encoded into [0, 1] (log-aware; categorical values by index; normal by its CDF)."""

    @abc.abstractmethod
    def from_unit(self, u: float) -> Any:
        """The value that `u` in [0, 1] encodes (u outside [0, 1] is clipped)."""


@dataclass(frozen=True)
class Float(Domain):
    """Floats in [low, high], optionally log-uniform and/or rounded to multiples of `q`.

    Built by `uniform`, `quniform`, `loguniform` and `qloguniform`.
    """

    low: float
    high: float
    q: float | None = None
    log: bool = False

    @property
    def kind(self) -> str:
        """The name of the function that builds this domain, also the `type` in `to_json`."""
        return ("q" if self.q is not None else "") + ("loguniform" if self.log else "uniform")

    def __post_init__(self) -> None:
        _set(self, _bounds(self.kind, check_real, self.low, self.high, self.log), q=_q(self.kind, self.q))

    def _finish(self, x: float) -> float:
        if self.q is not None:
            x = _quantize(x, self.q)
        return float(min(max(x, self.low), self.high))

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return self._finish(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self._finish(float(rng.uniform(self.low, self.high)))

    def contains(self, value: Any) -> bool:
        if not _is_real(value) or not self.low <= value <= self.high:
            return False
        return self.q is None or value in (self.low, self.high) or _on_grid(float(value), self.q)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        return out if self.q is None else {**out, "q": self.q}

    def to_unit(self, value: Any) -> float:
        # A finite float needs no check (the common case: the message is built only when checking).
        x = (
            value
            if type(value) is float and math.isfinite(value)
            else check_real(f"{self.kind}.to_unit", "value", value)
        )
        if self.log:
            return _unit((math.log(max(x, self.low)) - math.log(self.low)) / math.log(self.high / self.low))
        return _unit((x - self.low) / (self.high - self.low))

    def from_unit(self, u: float) -> float:
        u = _unit(u)
        if self.log:
            return self._finish(math.exp(math.log(self.low) + u * math.log(self.high / self.low)))
        return self._finish(self.low + u * (self.high - self.low))


@dataclass(frozen=True)
class Integer(Domain):
    """Python ints in [low, high] with BOTH ends included, optionally log-uniform or multiples of `q`.

    Built by `randint`, `qrandint` and `lograndint`.
    """

    low: int
    high: int
    q: int = 1
    log: bool = False

    @property
    def kind(self) -> str:
        """The name of the function that builds this domain, also the `type` in `to_json`."""
        return ("q" if self.q != 1 else "") + ("lograndint" if self.log else "randint")

    def __post_init__(self) -> None:
        fields = _bounds(self.kind, check_int, self.low, self.high, self.log)
        _set(self, fields, q=int(_q(self.kind, check_int(self.kind, "q", self.q)) or 1))

    def _finish(self, x: int) -> int:
        if self.q != 1:
            x = (x + self.q // 2) // self.q * self.q
        return int(min(max(x, self.low), self.high))

    def _log_span(self) -> float:
        # Each integer k owns [log k, log(k + 1)), so high is as likely as its log-width says.
        return math.log((self.high + 1) / self.low)

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            return self._finish(math.floor(self.low * math.exp(rng.uniform(0.0, self._log_span()))))
        return self._finish(int(rng.integers(self.low, self.high + 1)))

    def contains(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            return False
        x = int(value)
        return self.low <= x <= self.high and (x % self.q == 0 or x in (self.low, self.high))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        return out if self.q == 1 else {**out, "q": self.q}

    def to_unit(self, value: Any) -> float:
        x = value if type(value) is int else check_int(f"{self.kind}.to_unit", "value", value)
        if self.log:
            # The log-space middle of x's cell [log x, log(x + 1)) decodes back to x.
            middle = 0.5 * (math.log(max(x, self.low)) + math.log(max(x, self.low) + 1))
            return _unit((middle - math.log(self.low)) / self._log_span())
        return _unit((x - self.low + 0.5) / (self.high - self.low + 1))

    def from_unit(self, u: float) -> int:
        u = _unit(u)
        if self.log:
            return self._finish(math.floor(self.low * math.exp(u * self._log_span())))
        n = self.high - self.low + 1
        return self._finish(self.low + min(int(u * n), n - 1))


@dataclass(frozen=True)
class Normal(Domain):
    """Floats from a normal distribution, optionally rounded to multiples of `q`.

    Built by `normal` and `qnormal`.
    """

    mu: float = 0.0
    sigma: float = 1.0
    q: float | None = None

    @property
    def kind(self) -> str:
        """The name of the function that builds this domain, also the `type` in `to_json`."""
        return "normal" if self.q is None else "qnormal"

    def __post_init__(self) -> None:
        mu, sigma = check_real(self.kind, "mu", self.mu), check_real(self.kind, "sigma", self.sigma)
        if sigma <= 0:
            raise SpaceError(f"{self.kind} needs sigma > 0; got sigma={fmt(self.sigma)}")
        _set(self, {"mu": mu, "sigma": sigma}, q=_q(self.kind, self.q))

    def _finish(self, x: float) -> float:
        return float(x) if self.q is None else _quantize(x, self.q)

    def sample(self, rng: np.random.Generator) -> float:
        return self._finish(float(rng.normal(self.mu, self.sigma)))

    def contains(self, value: Any) -> bool:
        return _is_real(value) and (self.q is None or _on_grid(float(value), self.q))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "mu": self.mu, "sigma": self.sigma}
        return out if self.q is None else {**out, "q": self.q}

    def to_unit(self, value: Any) -> float:
        x = check_real(f"{self.kind}.to_unit", "value", value)
        return NormalDist(self.mu, self.sigma).cdf(x)

    def from_unit(self, u: float) -> float:
        p = min(max(float(u), 1e-12), 1 - 1e-12)  # the inverse CDF is infinite at 0 and 1
        return self._finish(NormalDist(self.mu, self.sigma).inv_cdf(p))


def _index_of(fn: str, items: tuple[Any, ...], value: Any) -> float:
    for i, item in enumerate(items):
        if matches(item, value):
            return (i + 0.5) / len(items)
    raise SpaceError(f"{fn}.to_unit needs one of {fmt(list(items))}; got {fmt(value)}")


def _pick(items: tuple[Any, ...], u: float) -> Any:
    return items[min(int(_unit(u) * len(items)), len(items) - 1)]


@dataclass(frozen=True)
class Categorical(Domain):
    """One of `options`, each equally likely; options may hold nested domains (conditional spaces).

    Built by `choice`. Container options are copied on construction.
    """

    options: Sequence[Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _as_items("choice", "option", self.options))

    def sample(self, rng: np.random.Generator) -> Any:
        from rung._tree import Resolver  # the walker imports the domains; import it late

        return Resolver(rng).resolve(self, ())

    def contains(self, value: Any) -> bool:
        return any(matches(option, value) for option in self.options)

    def to_json(self) -> dict[str, Any]:
        return {"type": "choice", "options": [json_value(option) for option in self.options]}

    def to_unit(self, value: Any) -> float:
        return _index_of("choice", tuple(self.options), value)

    def from_unit(self, u: float) -> Any:
        """The option object at index `min(int(u * n), n - 1)` (unresolved if it holds domains)."""
        return _pick(tuple(self.options), u)


@dataclass(frozen=True)
class GridValues(Domain):
    """A grid dimension: `Space.grid_points` crosses its values with the other grid dimensions.

    Built by `grid`. Sampled on its own (no grid point fixed), it picks a value uniformly.
    """

    values: Sequence[Any]

    def __post_init__(self) -> None:
        values = _as_items("grid", "value", self.values)
        for i, value in enumerate(values):
            if has_domain(value):
                raise SpaceError(f"grid needs plain values, not domains; got {fmt(value)} at index {i}")
        object.__setattr__(self, "values", values)

    def sample(self, rng: np.random.Generator) -> Any:
        return copy_tree(self.values[int(rng.integers(len(self.values)))])

    def contains(self, value: Any) -> bool:
        return any(matches(item, value) for item in self.values)

    def to_json(self) -> dict[str, Any]:
        return {"type": "grid", "values": [json_value(value) for value in self.values]}

    def to_unit(self, value: Any) -> float:
        return _index_of("grid", tuple(self.values), value)

    def from_unit(self, u: float) -> Any:
        return copy_tree(_pick(tuple(self.values), u))


@dataclass(frozen=True)
class SampleFrom(Domain):
    """A value derived from the rest of the config: `fn(config)`. Built by `sample_from`.

    It has no distribution of its own: `Space.sample` resolves it, and `sample`, `to_unit` and
    `from_unit` raise `SpaceError`.
    """

    fn: Callable[[dict[str, Any]], Any]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise SpaceError(f"sample_from needs a callable; got {fmt(self.fn)}")

    def _alone(self, method: str) -> SpaceError:
        return SpaceError(f"sample_from has no {method} of its own; it is resolved by Space.sample")

    def sample(self, rng: np.random.Generator) -> Any:
        raise self._alone("distribution")

    def contains(self, value: Any) -> bool:
        return True

    def to_json(self) -> dict[str, Any]:
        return {"type": "sample_from", "fn": getattr(self.fn, "__qualname__", repr(self.fn))}

    def to_unit(self, value: Any) -> float:
        raise self._alone("unit-cube encoding")

    def from_unit(self, u: float) -> Any:
        raise self._alone("unit-cube encoding")


def copy_tree(node: Any) -> Any:
    """`node` with its dicts, lists and tuples copied (other objects are shared, not copied)."""
    if isinstance(node, Mapping):
        return {key: copy_tree(value) for key, value in node.items()}
    if type(node) in (list, tuple):
        return type(node)(copy_tree(value) for value in node)
    return node


def has_domain(node: Any) -> bool:
    """Whether a domain occurs anywhere in `node` (through dicts, lists and tuples)."""
    if isinstance(node, Domain):
        return True
    if isinstance(node, Mapping):
        return any(has_domain(value) for value in node.values())
    return type(node) in (list, tuple) and any(has_domain(value) for value in node)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False  # True == 1 in Python, but not here
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def matches(template: Any, value: Any) -> bool:
    """Whether `value` is a possible resolution of `template` (a spec fragment or plain value)."""
    if isinstance(template, Domain):
        return template.contains(value)
    if isinstance(template, Mapping):
        return (
            isinstance(value, Mapping)
            and set(value) == set(template)
            and all(matches(sub, value[key]) for key, sub in template.items())
        )
    if type(template) in (list, tuple):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(template)
            and all(matches(sub, item) for sub, item in zip(template, value, strict=True))
        )
    return _same(template, value)


def json_value(node: Any) -> Any:
    """A JSON-able description of a spec fragment; unknown objects become their `repr`."""
    if isinstance(node, Domain):
        return node.to_json()
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, np.generic):
        return node.item()
    if isinstance(node, Mapping):
        return {str(key): json_value(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [json_value(value) for value in node]
    return repr(node)
