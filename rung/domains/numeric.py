"""The number domains: `Float` (uniform, log, quantised), `Integer` (both ends included) and `Normal`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import numpy as np

from rung._checks import INTEGER, Boolean, Interval, check
from rung.domains.base import Domain, _is_real, _unit, check_int, check_real, fmt
from rung.errors import SpaceError


def _bounds(kind: str, check: Callable[[str, str, Any], Any], low: Any, high: Any, log: bool) -> dict[str, Any]:
    """Checked `low` and `high`: numbers (ints for `check_int`), low < high, and 0 < low if `log`."""
    checked = {"low": check(kind, "low", low), "high": check(kind, "high", high)}
    if not (0 if log else -math.inf) < checked["low"] < checked["high"]:
        rule = "0 < low < high" if log else "low < high"
        raise SpaceError(f"{kind} needs {rule}; got low={fmt(low)}, high={fmt(high)}")
    return checked


POSITIVE = Interval(float, 0, None, closed="neither")


def _q(kind: str, q: Any) -> float | None:
    return None if q is None else float(check(kind, "q", q, POSITIVE, error=SpaceError))


def _set(domain: Domain, fields: dict[str, Any], q: float | None) -> None:
    """Store checked, plain-Python field values on a frozen domain."""
    for name, value in {**fields, "q": q}.items():
        object.__setattr__(domain, name, value)


def _q_fits(kind: str, fields: dict[str, Any], q: float | None, given: tuple[Any, Any, Any]) -> float | None:
    """`q`, if at most `high - low` (else one value would be left); `given`: low, high, q as passed."""
    if q is not None and q > fields["high"] - fields["low"]:
        low, high, raw_q = map(fmt, given)
        raise SpaceError(
            f"{kind} needs q <= high - low (a wider q leaves one value); got low={low}, high={high}, q={raw_q}"
        )
    return q


def _quantize(x: float, q: float) -> float:
    """The multiple of `q` nearest `x`, rounded to q's decimals (0.15, not 0.15000000000000002)."""
    exponent = Decimal(repr(q)).as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return round(round(x / q) * q, decimals)


def _on_grid(x: float, q: float) -> bool:
    return abs(x - round(x / q) * q) <= 1e-9 * max(abs(x), q)


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
        fields = _bounds(self.kind, check_real, self.low, self.high, self.log)
        _set(self, fields, q=_q_fits(self.kind, fields, _q(self.kind, self.q), (self.low, self.high, self.q)))

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
        q = int(check(self.kind, "q", self.q, Interval(int, 0, None, closed="neither"), error=SpaceError))
        _set(self, fields, q=int(_q_fits(self.kind, fields, q, (self.low, self.high, self.q)) or 1))

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
        if not INTEGER.accepts(value):
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
    """Floats from a normal distribution, or `exp` of one (`log`), optionally rounded to multiples of `q`.

    Built by `normal` and `qnormal` (and hyperopt's `hp.lognormal`, `hp.qlognormal`).
    """

    mu: float = 0.0
    sigma: float = 1.0
    q: float | None = None
    log: bool = False

    @property
    def kind(self) -> str:
        """The name of the function that builds this domain, also the `type` in `to_json`."""
        return ("q" if self.q is not None else "") + ("lognormal" if self.log else "normal")

    def __post_init__(self) -> None:
        mu = check_real(self.kind, "mu", self.mu)
        sigma = float(check(self.kind, "sigma", self.sigma, POSITIVE, error=SpaceError))
        check("Normal", "log", self.log, Boolean(), error=SpaceError)
        _set(self, {"mu": mu, "sigma": sigma}, q=_q(self.kind, self.q))

    def _finish(self, x: float) -> float:
        if self.log:
            x = math.exp(x)
        return float(x) if self.q is None else _quantize(x, self.q)

    def sample(self, rng: np.random.Generator) -> float:
        return self._finish(float(rng.normal(self.mu, self.sigma)))

    def contains(self, value: Any) -> bool:
        if not _is_real(value) or (self.log and value < 0):  # a rounded log-normal value may be 0
            return False
        return self.q is None or _on_grid(float(value), self.q)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "mu": self.mu, "sigma": self.sigma}
        return out if self.q is None else {**out, "q": self.q}

    def to_unit(self, value: Any) -> float:
        x = check_real(f"{self.kind}.to_unit", "value", value)
        if self.log:
            if x <= 0:
                return 0.0
            x = math.log(x)
        return NormalDist(self.mu, self.sigma).cdf(x)

    def from_unit(self, u: float) -> float:
        p = min(max(float(u), 1e-12), 1 - 1e-12)  # the inverse CDF is infinite at 0 and 1
        return self._finish(NormalDist(self.mu, self.sigma).inv_cdf(p))
