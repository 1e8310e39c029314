"""Every scheduler passes the scheduler contract suite on the thread and process executors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import rung
from rung.schedulers.asha import ASHA
from rung.schedulers.base import FIFO, Scheduler
from rung.schedulers.hyperband import HyperBand, SuccessiveHalving
from rung.schedulers.median import MedianStopping
from rung.schedulers.pb2 import PB2
from rung.schedulers.pbt import PBT
from rung.testing.schedulers import N_STEPS, SCHEDULER_CHECKS

SCHEDULERS: dict[str, Callable[[], Scheduler]] = {
    "fifo": FIFO,
    "median": lambda: MedianStopping(grace_period=2, min_samples=2),
    "median-soft": lambda: MedianStopping(grace_period=2, min_samples=2, hard_stop=False),
    "sha": lambda: SuccessiveHalving(min_t=1, max_t=N_STEPS, reduction_factor=3),
    "hyperband": lambda: HyperBand(max_t=N_STEPS, reduction_factor=3),
    "asha": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3),
    "asha-brackets": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=2, brackets=3),
    "asha-promote": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3, variant="promote"),
    "pbt": lambda: PBT(2, {"x": rung.uniform(0, 1)}),
    "pbt-synch": lambda: PBT(2, {"x": rung.uniform(0, 1)}, synch=True),
    "pb2": lambda: PB2(2, {"x": [0.0, 1.0]}),
}


@pytest.mark.parametrize("check", SCHEDULER_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_contract(check: Callable[..., None], name: str, executor: str, tmp_path: Path) -> None:
    check(SCHEDULERS[name], executor, tmp_path)
