"""BLAS held to one thread while a searcher works on small matrices (GP fits, TPE densities)."""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["single_threaded"]


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> tuple[Any, ...]:
    """The BLAS libraries of numpy and scipy (scipy is loaded here if it is not yet: its searchers
    load it when first used, and its library must be in the list)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return ()
    importlib.import_module("scipy.special")
    return tuple(threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS limited to one thread, when `threadpoolctl` is installed (else nothing changes).

    The matrices here (up to ~1,000 rows) are too small for BLAS threads to pay off, and the many
    small calls of an acquisition or likelihood optimisation wait on thread wake-ups: on a busy
    2-core machine, 500 observations take 2-3x longer per suggestion with threads
    (`python -m bench.gp_cost`). The limit is process-wide while it lasts. The libraries' own
    get/set calls (about 1 us) replace `threadpoolctl.limit`, which re-reads every library's
    details each time (about 12 us, paid by every TPE proposal).
    """
    libraries = _blas_libraries()
    before = [library.num_threads for library in libraries]
    for library, threads in zip(libraries, before, strict=True):
        if threads != 1:
            library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in zip(libraries, before, strict=True):
            if threads != 1:
                library.set_num_threads(threads)
