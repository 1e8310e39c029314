"""The crash harness's built-in setups (`rung.testing.crash.METHODS`) and their objective.

Each setup is `setup(seed) -> dict` of `rung.run` keyword arguments: small experiments (6 to 8
trials of 6 to 9 steps) on `objective`, one per method: FIFO+TPE, ASHA (stop and promote),
HyperBand, PBT and PB2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import rung

__all__ = ["CHILD_ENV", "METHODS", "asha_promote", "asha_stop", "fifo_tpe", "hyperband", "objective", "pb2", "pbt"]

METHODS: dict[str, str] = {
    "fifo-tpe": "rung.testing._crash_setups:fifo_tpe",
    "asha-stop": "rung.testing._crash_setups:asha_stop",
    "asha-promote": "rung.testing._crash_setups:asha_promote",
    "hyperband": "rung.testing._crash_setups:hyperband",
    "pbt": "rung.testing._crash_setups:pbt",
    "pb2": "rung.testing._crash_setups:pb2",
}
"""The built-in setups by method, as `rung.testing.crash.check` takes them."""

CHILD_ENV = "RUNG_CRASH_CHILD"
"""Set to 1: each run of a trial of `objective` starts a child process that lives as long as it does."""

_PAD = 70_000  # over the store's 64 KiB inline limit: such checkpoints are files


def objective(config: dict[str, Any]) -> None:
    """The harness's objective: deterministic in config and step, a checkpoint at every report.

    Its weight `w` moves towards 1 at rate `lr` (what PBT exploits and PB2 tunes); the loss falls with
    `w` and curves cross (small `x` starts best, `x` near 0.3 ends best). Trials with an even id
    checkpoint more than 64 KiB (a file), the others a small row in the database. With `CHILD_ENV`
    set, a trial starts a child process as a data loader would, and ends it as it ends.
    """
    child = None
    if os.environ.get(CHILD_ENV) == "1":
        child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(600)"])
    try:
        state = rung.get_checkpoint() or {"step": 0, "w": 0.0}
        step, w = int(state["step"]), float(state["w"])
        pad = b"\0" * _PAD if rung.get_trial_id() % 2 == 0 else b""
        while step < config["steps"]:
            step += 1
            w += config["lr"] * (1.0 - w)
            loss = (config["x"] - 0.3) ** 2 + (1.0 - w) * (0.2 + 0.5 * config["x"])
            rung.report({"loss": loss, "w": w, "step": step}, checkpoint={"step": step, "w": w, "pad": pad})
    finally:
        if child is not None:
            child.kill()
            child.wait()


def _space(steps: int) -> dict[str, Any]:
    return {"x": rung.uniform(0, 1), "lr": rung.loguniform(0.05, 0.5), "steps": steps}


def _common(steps: int, num_samples: int) -> dict[str, Any]:
    return {"fn": objective, "space": _space(steps), "metric": "loss", "mode": "min", "num_samples": num_samples}


def fifo_tpe(seed: int) -> dict[str, Any]:
    """FIFO with TPE (model-based after 3 trials): 8 trials of 6 steps."""
    return {**_common(6, 8), "search": rung.TPE(n_startup=3)}


def asha_stop(seed: int) -> dict[str, Any]:
    """ASHA stopping at rungs 1, 3, 9 (TPE, BOHB-style): 8 trials of up to 9 steps."""
    return {**_common(9, 8), "scheduler": rung.ASHA(max_t=9, grace_period=1, reduction_factor=3, variant="stop")}


def asha_promote(seed: int) -> dict[str, Any]:
    """ASHA pausing at rungs 1, 3, 9 and promoting (TPE, BOHB-style): 8 trials of up to 9 steps."""
    return {**_common(9, 8), "scheduler": rung.ASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote")}


def hyperband(seed: int) -> dict[str, Any]:
    """Synchronous HyperBand up to 9 steps, eta 3: 8 trials."""
    return {**_common(9, 8), "scheduler": rung.HyperBand(max_t=9, reduction_factor=3)}


def pbt(seed: int) -> dict[str, Any]:
    """PBT exploring `lr` every 2 steps (random search): 6 trials of 8 steps."""
    scheduler = rung.PBT(2, {"lr": rung.loguniform(0.05, 0.5)}, resample_probability=0.5)
    return {**_common(8, 6), "scheduler": scheduler, "search": "random"}


def pb2(seed: int) -> dict[str, Any]:
    """PB2 choosing `lr` in [0.05, 0.5] every 2 steps (random search): 6 trials of 8 steps."""
    return {**_common(8, 6), "scheduler": rung.PB2(2, {"lr": [0.05, 0.5]}), "search": "random"}
