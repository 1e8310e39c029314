"""The domains over given values: `Categorical` (choice), `GridValues` (grid) and `SampleFrom` (derived)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung.domains.base import Domain, _unit, copy_tree, fmt, has_domain, json_value, matches
from rung.errors import SpaceError


def _as_items(fn: str, noun: str, items: Any) -> tuple[Any, ...]:
    """Options or grid values as a tuple of copies; numpy arrays and scalars become Python values."""
    if isinstance(items, np.ndarray):
        items = items.tolist()
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise SpaceError(f"{fn} needs a list or tuple of {noun}s; got {fmt(items)}")
    if len(items) == 0:
        raise SpaceError(f"{fn} needs at least one {noun}; got {fmt(items)}")
    return tuple(copy_tree(x.item() if isinstance(x, np.generic) else x) for x in items)


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

    def ordered(self) -> tuple[Any, ...] | None:
        """The options sorted, when they are three or more distinct numbers (`choice([32, 64, 128])`):
        a searcher models such a choice as ordered (64 lies between 32 and 128), by rank; None for
        anything else (strings, booleans, mixed kinds, nested spaces stay categories)."""
        options = tuple(self.options)
        numbers = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options)
        if not numbers or len(options) < 3 or len(set(options)) < len(options):
            return None
        if not all(math.isfinite(o) for o in options):
            return None
        return tuple(sorted(options))


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
