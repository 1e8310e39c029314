"""Searchers: what to try next. Each is one module; `SEARCHERS` maps the names `run()` accepts."""

from __future__ import annotations

from collections.abc import Callable

from rung.search.base import Searcher
from rung.search.random import Grid, Random

__all__ = ["SEARCHERS", "Grid", "Random", "Searcher"]

SEARCHERS: dict[str, Callable[[], Searcher]] = {"random": Random, "grid": Grid}
