"""Every scheduler passes the scheduler contract suite on the thread and process executors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.schedulers.asha import ASHA
from rung.schedulers.auto import AutoScheduler
from rung.schedulers.base import FIFO, Scheduler
from rung.schedulers.hyperband import HyperBand, SuccessiveHalving
from rung.schedulers.median import MedianStopping
from rung.schedulers.moasha import MOASHA
from rung.schedulers.pb2 import PB2
from rung.schedulers.pbt import PBT
from rung.testing.schedulers import N_STEPS, SCHEDULER_CHECKS, check_legal_decisions, run_recorded
from rung.types import Decision, Pause, Resume, Start, Suggestion, TrialInfo

SCHEDULERS: dict[str, Callable[[], Scheduler]] = {
    "fifo": FIFO,
    "median": lambda: MedianStopping(grace_period=2, min_samples=2),
    "median-soft": lambda: MedianStopping(grace_period=2, min_samples=2, hard_stop=False),
    "sha": lambda: SuccessiveHalving(min_t=1, max_t=N_STEPS, reduction_factor=3),
    "hyperband": lambda: HyperBand(max_t=N_STEPS, reduction_factor=3),
    "asha": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3),
    "asha-brackets": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=2, brackets=3),
    "asha-promote": lambda: ASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3, variant="promote"),
    "auto": AutoScheduler,
    "auto-max-t": lambda: AutoScheduler(max_t=N_STEPS, reduction_factor=2),
    "moasha": lambda: MOASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3),
    "moasha-promote": lambda: MOASHA(max_t=N_STEPS, grace_period=1, reduction_factor=3, variant="promote"),
    "pbt": lambda: PBT(2, {"x": rung.uniform(0, 1)}),
    "pbt-synch": lambda: PBT(2, {"x": rung.uniform(0, 1)}, synch=True),
    "pb2": lambda: PB2(2, {"x": [0.0, 1.0]}),
}


@pytest.mark.parametrize("check", SCHEDULER_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_contract(check: Callable[..., None], name: str, executor: str, tmp_path: Path) -> None:
    check(SCHEDULERS[name], executor, tmp_path)


def test_the_log_names_each_exploit_donor(tmp_path: Path) -> None:
    recorder, _ = run_recorded(PBT(2, {"x": rung.uniform(0, 1)}), "thread", tmp_path, "donors", max_concurrent=2)
    exploits = [e for e in recorder.log if e[0] == "result" and len(e) == 5]
    assert exploits and all(e[3] == "PAUSE" and e[4] != e[1] for e in exploits), recorder.log


class _OwnDonor(Scheduler):
    """Pauses trial 2 at its second step to go on from its own weights: a Pause that names no other trial."""

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        if trial.id == 2 and result["training_iteration"] == 2:
            return Pause(copy_weights_from=2)
        return Decision.CONTINUE

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        if paused:
            return Resume(paused[0].id)
        return Start() if new_allowed else None


def test_the_suite_refuses_a_pause_that_names_no_other_trial(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"returned Pause\(copy_weights_from=2\): no such other trial"):
        check_legal_decisions(_OwnDonor, "thread", tmp_path)
