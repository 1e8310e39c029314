"""BLAS held to one thread while the small matrices of a GP are worked on."""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["single_threaded"]


@functools.lru_cache(maxsize=1)
def _thread_controller() -> Any:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return None
    return threadpoolctl.ThreadpoolController()  # finds numpy's and scipy's BLAS, both loaded by now


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS limited to one thread, when `threadpoolctl` is installed (else nothing changes).

    The matrices here (up to ~1,000 rows) are too small for BLAS threads to pay off, and the many
    small calls of an acquisition or likelihood optimisation wait on thread wake-ups: on a busy
    2-core machine, 500 observations take 2-3x longer per suggestion with threads
    (`python -m bench.gp_cost`). The limit is process-wide while it lasts.
    """
    controller = _thread_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
