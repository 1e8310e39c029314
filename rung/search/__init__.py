"""Searchers: what to try next. `SEARCHERS` maps the names `run()` accepts to their factories.

Each entry is "module:factory", imported only when the name is used (GP brings scipy.optimize).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rung.search.base import Searcher
from rung.search.random import Grid, Random

__all__ = ["SEARCHERS", "Grid", "Random", "Searcher", "make"]

_TARGETS: dict[str, str] = {
    "random": "rung.search.random:Random",
    "grid": "rung.search.random:Grid",
    "tpe": "rung.search.tpe:TPE",
    "gp": "rung.search.gp:GP",
}


def _lazy(target: str) -> Callable[[], Searcher]:
    module, _, factory = target.partition(":")

    def make() -> Searcher:
        made: Searcher = getattr(importlib.import_module(module), factory)()
        return made

    make.__qualname__ = target
    return make


SEARCHERS: dict[str, Callable[[], Searcher]] = {name: _lazy(target) for name, target in _TARGETS.items()}


def make(name: str) -> Searcher:
    """A searcher with its default settings, by the name `run()` accepts."""
    return SEARCHERS[name]()
