"""Processes a trial starts on a Ray actor end with the trial, with the actor and with the driver.

On the loopback cluster of tests/ray_cluster.py (`-m ray`); the objectives and checks are those of
tests/test_procs.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_procs import run_driver_and_kill_it, spawner, started_by_first_report, wait_ended

from rung.executors.base import Ended
from rung.executors.ray import RayExecutor
from rung.testing.executors import collect
from rung.types import Decision

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]
pytestmark = [
    pytest.mark.usefixtures("ray_cluster"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees are read from /proc"),
]


def test_a_trials_processes_end_with_it_and_with_its_actor() -> None:
    executor = RayExecutor(capacity=1)
    executor.start(spawner)
    try:
        # It returns: the actor ends what it started before it reports the end.
        processes = started_by_first_report(executor, {"then": "return"})
        executor.reply(1, Decision.CONTINUE)
        assert [e.kind for e in collect(executor, until=1) if isinstance(e, Ended)] == ["completed"]
        wait_ended(processes)
        # It computes when stopped: its actor is killed, and the actor's guardian ends what it started.
        processes = started_by_first_report(executor, {"then": "work"}, trial_id=2)
        executor.reply(2, Decision.CONTINUE)
        executor.stop(2)
        assert [e.kind for e in collect(executor, until=1) if isinstance(e, Ended)] == ["interrupted"]
        wait_ended(processes)
    finally:
        executor.shutdown()


def test_a_killed_driver_takes_its_trials_processes_on_ray(ray_cluster: Cluster, tmp_path: Path) -> None:
    # Ray ends a dead driver's actors; the trial's child, its daemon and the actor must all end.
    processes = run_driver_and_kill_it(tmp_path, "ray", {"RAY_ADDRESS": ray_cluster.address})
    wait_ended(processes, within_s=90.0)
