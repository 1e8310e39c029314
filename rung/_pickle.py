"""Objectives pickled for worker processes with the file names of their code kept.

cloudpickle (3.1) replaces the file name of every code object it pickles by value (functions
defined in `__main__` or a notebook) with "<dynamic-code>", so a failing trial's traceback would
show `File "<dynamic-code>", line 4` with no file and no source line. Here the real file name is
kept; the worker's traceback then names the file and, on the same machine, shows the line.
"""

from __future__ import annotations

import io
import types
from collections import ChainMap
from typing import Any

import cloudpickle

__all__ = ["dumps"]

_cloudpickle_code_reduce = getattr(cloudpickle.cloudpickle, "_code_reduce", None)


def _code_reduce(code: types.CodeType) -> Any:
    assert _cloudpickle_code_reduce is not None  # only registered when it exists
    rebuild, args = _cloudpickle_code_reduce(code)
    return rebuild, tuple(code.co_filename if arg == "<dynamic-code>" else arg for arg in args)


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    if _cloudpickle_code_reduce is not None:  # another cloudpickle: its own reduction, file names or not
        dispatch_table = ChainMap({types.CodeType: _code_reduce}, cloudpickle.Pickler.dispatch_table)


def dumps(obj: Any) -> bytes:
    """`cloudpickle.dumps(obj)`, keeping the file names of code pickled by value."""
    with io.BytesIO() as buffer:
        _Pickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
        return buffer.getvalue()
