"""What every domain shares: the `Domain` base, argument checks, and the walk over plain values.

`check_real` and `check_int` (`rung._checks` rules raising `SpaceError`) and `fmt` make the errors
that name the argument, the rule and the value;
`copy_tree`, `has_domain`, `matches` and `json_value` walk nested dicts, lists and tuples that may
hold domains (choice options, grid values, whole specs).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung._checks import INTEGER, NUMBER, check
from rung._checks import fmt as fmt
from rung.errors import SpaceError

PENDING: Any = object()
"""Placeholder for a `sample_from` value that `Space.sample` resolves after everything else."""


def check_real(fn: str, arg: str, value: Any) -> float:
    """`value` as a finite float; bools and non-numbers raise a `SpaceError` naming `fn` and `arg`."""
    return float(check(fn, arg, value, NUMBER, error=SpaceError))


def check_int(fn: str, arg: str, value: Any) -> int:
    """`value` as an int; floats (even 2.0), bools and non-numbers raise a `SpaceError`."""
    return int(check(fn, arg, value, INTEGER, error=SpaceError))


_is_real = NUMBER.accepts


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
