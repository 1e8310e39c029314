from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl

from rung._blas import single_threaded


def _blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]


def test_single_threaded_limits_blas_and_restores_it_even_after_an_error() -> None:
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS is loaded
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # a known starting point
        assert _blas_threads() and set(_blas_threads()) == {2}
        with single_threaded():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {2}
        with pytest.raises(ValueError), single_threaded():
            raise ValueError("inside")
        assert set(_blas_threads()) == {2}


def test_load_soon_loads_scipy_in_a_thread_and_the_first_use_takes_its_libraries() -> None:
    # In a fresh interpreter (this one has scipy loaded): the thread imports scipy.special and finds
    # the BLAS libraries; single_threaded() waits for it and uses what it found, not a search of its own.
    code = (
        "import sys, threading\n"
        "from rung import _blas\n"
        "_blas.load_soon()\n"
        "thread = _blas._loading()\n"
        "print(thread.name, thread.daemon)\n"
        "with _blas.single_threaded():\n"
        "    pass\n"
        "print(thread.is_alive(), 'scipy.special' in sys.modules, _blas._blas_libraries() is thread.found)\n"
        "_blas.load_soon()\n"
        "print(_blas._loading() is thread)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["rung-load-scipy", "True", "False", "True", "True", "True"]


def test_load_soon_does_nothing_once_the_libraries_are_found() -> None:
    code = (
        "from rung import _blas\n"
        "with _blas.single_threaded():\n"
        "    pass\n"
        "_blas.load_soon()\n"
        "print(_blas._loading.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0"]
