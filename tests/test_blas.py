from __future__ import annotations

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
