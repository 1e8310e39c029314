"""Argument checks, declared: the rules an argument must meet, and the one function that applies them.

Modelled on scikit-learn's `utils/_param_validation.py` (`Interval`, `StrOptions`): an argument's
rules are named, not coded by hand in each class, so every message reads alike. It names the owner,
the argument, the rule and the value received:

    >>> check("ASHA", "brackets", 0, Interval(int, 1, None))
    Traceback (most recent call last):
    ...
    ValueError: ASHA needs brackets to be an integer >= 1; got brackets=0

A value may meet any one of several rules; `None` among them allows None:

    >>> check("GP", "n_startup", 2.5, Interval(int, 1, None), None)
    Traceback (most recent call last):
    ...
    rung._checks.ArgumentTypeError: GP needs n_startup to be an integer >= 1 or None; got n_startup=2.5

A value of the right kind but out of range raises ValueError; a value of a kind that no rule takes
raises `ArgumentTypeError`, which is both a TypeError and a ValueError (as scikit-learn's
`InvalidParameterError` is), so code that catches either keeps working.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = [
    "INTEGER",
    "KEY",
    "NUMBER",
    "ArgumentTypeError",
    "Boolean",
    "Function",
    "Interval",
    "ListOf",
    "Options",
    "Rule",
    "Text",
    "check",
    "check_order",
    "fmt",
    "plain",
]

T = TypeVar("T")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of a kind that no rule takes (a str for a number, a float for an integer, ...)."""


def fmt(value: Any) -> str:
    """`repr` for error messages, with numpy scalars shown as the Python values they hold."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    return repr(value)


def _num(x: float) -> str:
    return f"{x:g}"


class Rule(abc.ABC):
    """One rule an argument may meet."""

    @abc.abstractmethod
    def takes(self, value: Any) -> bool:
        """Whether `value` is of the kind this rule is about (a value that is not fails with a TypeError)."""

    @abc.abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether `value` meets the rule."""

    @abc.abstractmethod
    def __str__(self) -> str:
        """The rule in words, to follow "needs x to be": "an integer >= 1"."""


@dataclass(frozen=True)
class Interval(Rule):
    """Integers (`kind=int`; bools are not) or finite real numbers (`kind=float`) within bounds.

    `closed` says which of the given bounds are included. `noun` names the values in the message
    instead of "an integer" / "a number" (TPE's "a share in (0, 1]").

    Example:
        >>> str(Interval(float, 0, 0.5, closed="right")), str(Interval(int, 2, None))
        ('a number in (0, 0.5]', 'an integer >= 2')
    """

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    noun: str | None = None

    def takes(self, value: Any) -> bool:
        kind = type(value)
        if kind is int or (kind is float and self.kind is float):  # the common case, without the ABCs
            return True
        wanted = numbers.Integral if self.kind is int else numbers.Real
        return isinstance(value, wanted) and not isinstance(value, bool)

    def accepts(self, value: Any) -> bool:
        if not self.takes(value):
            return False
        # An int is finite (and may be too large for a float: math.isfinite would overflow).
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return False
        low_in, high_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if low_in else value > self.low):
            return False
        return self.high is None or (value <= self.high if high_in else value < self.high)

    def _bounds(self) -> str:
        low_in, high_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f" in {'[' if low_in else '('}{_num(self.low)}, {_num(self.high)}{']' if high_in else ')'}"
        if self.low is not None:
            return f" {'>=' if low_in else '>'} {_num(self.low)}"
        if self.high is not None:
            return f" {'<=' if high_in else '<'} {_num(self.high)}"
        return ""

    def _noun(self) -> str:
        if self.noun is not None:
            return self.noun
        if self.kind is int:
            return "an integer"
        # With both bounds the range says the number is finite; with at most one it must be said.
        return "a number" if self.low is not None and self.high is not None else "a finite number"

    def __str__(self) -> str:
        return self._noun() + self._bounds()

    def plural(self) -> str:
        """The rule for several values: "numbers > 0"."""
        return self._noun().split(" ", 1)[1] + "s" + self._bounds()


INTEGER = Interval(int)
"""Any integer (bools are not); `INTEGER.accepts(x)` is the predicate."""
NUMBER = Interval(float)
"""Any finite real number (bools are not)."""


def _same_kind(value: Any, option: Any) -> bool:
    return isinstance(value, type(option)) and isinstance(value, bool) == isinstance(option, bool)


@dataclass(frozen=True)
class Options(Rule):
    """One of the given values (compared by ==, of the same type: True is not 1).

    Example:
        >>> str(Options(("stop", "promote"))), str(Options(("ei", "pi", "ucb")))
        ("'stop' or 'promote'", "one of 'ei', 'pi', 'ucb'")
    """

    values: tuple[Any, ...]

    def takes(self, value: Any) -> bool:
        return any(_same_kind(value, option) for option in self.values)

    def accepts(self, value: Any) -> bool:
        return any(_same_kind(value, option) and value == option for option in self.values)

    def __str__(self) -> str:
        if len(self.values) == 2:
            return " or ".join(fmt(v) for v in self.values)
        return "one of " + ", ".join(fmt(v) for v in self.values)


@dataclass(frozen=True)
class Boolean(Rule):
    """True or False (not 0, 1 or "yes")."""

    def takes(self, value: Any) -> bool:
        return isinstance(value, bool)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Function(Rule):
    """A callable; `what` says which (e.g. "a callable(config) -> config")."""

    what: str = "a callable"

    def takes(self, value: Any) -> bool:
        return callable(value)

    def accepts(self, value: Any) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class Text(Rule):
    """A non-empty str; `what` says which (e.g. "the name of a reported key")."""

    what: str = "a non-empty str"

    def takes(self, value: Any) -> bool:
        return isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value != ""

    def __str__(self) -> str:
        return self.what


KEY = Text("the name of a reported key")
"""A key of the results (`time_attr`)."""


@dataclass(frozen=True)
class ListOf(Rule):
    """A non-empty list or tuple whose items all meet `item`."""

    item: Interval

    def takes(self, value: Any) -> bool:
        return isinstance(value, (list, tuple))

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(self.item.accepts(v) for v in value)

    def __str__(self) -> str:
        return f"a non-empty list of {self.item.plural()}"


def _words(rules: Iterable[Rule | None]) -> str:
    said = ["None" if rule is None else str(rule) for rule in rules]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1]


def check(owner: str | None, name: str, value: T, *rules: Rule | None, error: type[Exception] | None = None) -> T:
    """`value` if it meets one of `rules` (`None` allows None), else an error naming them all.

    The message reads "`owner` needs `name` to be <rules>; got `name`=<value>", or, without an owner
    (the arguments of `rung.run`), "`name` must be <rules>; got <value>". The error is `error` if
    given (domains raise `SpaceError`), else ValueError, or `ArgumentTypeError` when no rule takes
    the value's kind.
    """
    for rule in rules:
        if value is None if rule is None else rule.accepts(value):
            return value
    if owner is None:
        message = f"{name} must be {_words(rules)}; got {fmt(value)}"
    else:
        message = f"{owner} needs {name} to be {_words(rules)}; got {name}={fmt(value)}"
    if error is None:
        error = ValueError if any(rule is not None and rule.takes(value) for rule in rules) else ArgumentTypeError
    raise error(message)


def plain(value: Any) -> Any:
    """A checked number as a Python int (an integer stays one: milestones computed from it stay exact) or
    float."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_order(owner: str, low_name: str, low: Any, high_name: str, high: Any) -> None:
    """Two checked numbers that must not be in reverse order: `low <= high`."""
    if not low <= high:
        raise ValueError(f"{owner} needs {low_name} <= {high_name}; got {low_name}={fmt(low)}, {high_name}={fmt(high)}")
