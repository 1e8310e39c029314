"""The recursive walk over nested specs (dicts, lists, choice options) that `rung.space` samples with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rung.domains import PENDING, Categorical, Domain, SampleFrom

_PLAIN = frozenset({int, float, str, bool, type(None)})


class Resolver:
    """Turns a spec fragment into fresh plain values, drawing from `rng` in order of appearance.

    Values at paths in `fixed` are taken from there (and resolved in turn: a fixed choice option
    that holds domains gets them sampled). With `collect=True`, each `sample_from` leaves `PENDING`
    and is listed in `derived` with its path, for `Space.sample` to resolve last.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        fixed: Mapping[tuple[str, ...], Any] | None = None,
        collect: bool = False,
    ) -> None:
        self.rng = rng
        self.fixed: Mapping[tuple[str, ...], Any] = fixed or {}
        self.derived: list[tuple[tuple[str, ...], SampleFrom]] | None = [] if collect else None

    def resolve(self, node: Any, path: tuple[str, ...] | None, use_fixed: bool = True) -> Any:
        """The resolved value of `node` found at `path` (None once inside a list or tuple)."""
        if use_fixed and path is not None and path in self.fixed:
            return self.resolve(self.fixed[path], path, use_fixed=False)
        if type(node) in _PLAIN:
            return node  # the common leaf (a searcher's value, a constant): no ABC checks
        if type(node) is dict:
            return {k: self.resolve(v, None if path is None else (*path, k)) for k, v in node.items()}
        if isinstance(node, SampleFrom):
            if self.derived is None or path is None:
                return node.sample(self.rng)  # raises: needs a Space to resolve it
            self.derived.append((path, node))
            return PENDING
        if isinstance(node, Categorical):
            index = int(self.rng.integers(len(node.options)))
            return self.resolve(node.options[index], path, use_fixed=False)
        if isinstance(node, Domain):
            return node.sample(self.rng)
        if isinstance(node, Mapping):
            return {k: self.resolve(v, None if path is None else (*path, k)) for k, v in node.items()}
        if type(node) in (list, tuple):
            return type(node)(self.resolve(value, None) for value in node)
        return node
