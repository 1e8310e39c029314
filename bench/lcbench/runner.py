"""One LCBench run (a method on a task for one seed) and the loop over many, written as `runs.jsonl` lines.

A run gets `budget` full-training equivalents of compute (one equivalent is the mean total seconds
of a 52-epoch run over random configurations of the task: `reference.py`), that is `budget / workers`
equivalents of simulated time on its `workers` workers, and reports what its tuner was told; its
line keeps the improvements of the running best (`t` in equivalents of compute, `workers` times the
simulated time; `best` in val_accuracy), the jobs started and the epochs trained. Methods whose engine cannot be
installed beside this project's numpy (SMAC3, DEHB) run in their own interpreter (`VENV_PYTHON`),
which loads the same surrogate itself and prints the run's trace as JSON.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lcbench.sim import Trace
from bench.lcbench.surrogate import Surrogate

__all__ = ["ENGINES", "METHODS", "Method", "missing", "run_child", "run_many", "run_one"]

ROOT = Path(__file__).resolve().parents[2]

ENGINES = {
    "rung": "bench.lcbench.methods_rung",
    "optuna": "bench.lcbench.peers_optuna",
    "ray": "bench.lcbench.peers_ray",
    "syne": "bench.lcbench.peers_syne",
    "smac": "bench.lcbench.peers_smac",
    "dehb": "bench.lcbench.peers_dehb",
}
"""The module that runs each engine's methods: `METHODS` and `run(method, curve, seed=, budget=, workers=)`."""

VENV_PYTHON = {"smac": "RUNG_SMAC_PYTHON", "dehb": "RUNG_SMAC_PYTHON"}
"""Engines that run in another interpreter: the environment variable naming it (default `DEFAULT_VENV`)."""

DEFAULT_VENV = "/work/venvs/smac/bin/python"


@dataclass(frozen=True)
class Method:
    engine: str
    description: str


def _methods() -> dict[str, Method]:
    # Each engine module lists its methods; modules of engines not installed are read without importing the engine.
    from bench.lcbench import catalogue

    return {name: Method(engine, text) for engine, names in catalogue.METHODS.items() for name, text in names.items()}


METHODS = _methods()


def python_for(engine: str) -> str:
    """The interpreter that runs `engine`'s methods."""
    if engine not in VENV_PYTHON:
        return sys.executable
    return os.environ.get(VENV_PYTHON[engine], DEFAULT_VENV)


def missing(method: str) -> str | None:
    """Why `method` cannot run here (None if it can)."""
    engine = METHODS[method].engine
    python = python_for(engine)
    if python != sys.executable and not Path(python).exists():
        return f"{python} does not exist (see bench/lcbench/setup_peers.sh; or set {VENV_PYTHON[engine]})"
    module = {"syne": "syne_tune", "ray": "ray", "optuna": "optuna", "smac": "smac", "dehb": "dehb"}.get(engine)
    if module is None:
        return None
    check = [python, "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"]
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        return f"{module} is not installed for {python}"
    return None


@functools.cache
def _surrogate() -> Surrogate:
    return Surrogate()


def run_child(method: str, task: str, seed: int, budget_s: float, workers: int) -> Trace:
    """Run `method` in this interpreter (its engine imported here)."""
    surrogate = _surrogate()
    surrogate.clear()
    module = importlib.import_module(ENGINES[METHODS[method].engine])

    def curve(config: Any) -> Any:
        return surrogate.curve(task, config)

    trace: Trace = module.run(method, curve, seed=seed, budget=budget_s, workers=workers)
    return trace


def _in_venv(method: str, task: str, seed: int, budget_s: float, workers: int) -> Trace:
    python = python_for(METHODS[method].engine)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [python, "-m", "bench.lcbench.child", method, task, str(seed), repr(budget_s), str(workers)]
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} on task {task}, seed {seed} failed in {python}:\n{done.stderr[-4000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Trace(data["t"], data["values"], data["jobs"], data["epochs"])


def run_one(method: str, task: str, seed: int, budget: float, equivalent_s: float, workers: int) -> dict[str, Any]:
    """One run of `budget` equivalents of compute (`budget / workers` of simulated time); its `runs.jsonl` line."""
    start = time.perf_counter()
    budget_s = budget * equivalent_s / workers
    if python_for(METHODS[method].engine) == sys.executable:
        trace = run_child(method, task, seed, budget_s, workers)
    else:
        trace = _in_venv(method, task, seed, budget_s, workers)
    times: list[float] = []
    best: list[float] = []
    for t, value in zip(trace.t, trace.values, strict=True):
        if t <= budget_s and (not best or value > best[-1]):
            times.append(round(t * workers / equivalent_s, 6))
            best.append(round(value, 5))
    return {
        "method": method,
        "task": task,
        "seed": seed,
        "budget": budget,
        "workers": workers,
        "t": times,
        "best": best,
        "jobs": trace.jobs,
        "epochs": trace.epochs,
        "wall_s": round(time.perf_counter() - start, 3),
    }


def _key(line: dict[str, Any]) -> tuple[str, str, int, float, int]:
    return line["method"], line["task"], int(line["seed"]), float(line["budget"]), int(line["workers"])


def run_many(
    runs: Iterable[tuple[str, str, int]],
    *,
    budget: float,
    workers: int,
    equivalents: dict[str, float],
    out: Path,
    jobs: int,
    log: Any = None,
) -> int:
    """Run each (method, task, seed) not already in `out` (runs.jsonl), appending its line; returns the failures.

    A run that fails is reported on `log` and left out of `out` (the next call tries it again); the others go on.
    """
    done: set[tuple[str, str, int, float, int]] = set()
    if out.exists():
        done = {_key(json.loads(line)) for line in out.read_text().splitlines() if line.strip()}
    todo = [(m, t, s) for m, t, s in runs if (m, t, s, float(budget), workers) not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(jobs) as pool, out.open("a") as fh:
        futures = [pool.submit(run_one, m, t, s, budget, equivalents[t], workers) for m, t, s in todo]
        failed = 0
        for count, ((method, task, seed), future) in enumerate(zip(todo, futures, strict=True), start=1):
            try:
                line = future.result()
            except Exception as exc:  # one failed run (an engine's bug, a missing venv) is no reason to stop the rest
                failed += 1
                if log is not None:
                    print(f"[{count}/{len(todo)}] {method} task {task} seed {seed} FAILED: {exc}", file=log, flush=True)
                continue
            fh.write(json.dumps(line) + "\n")
            fh.flush()
            if log is not None:
                regret = "" if not line["best"] else f", best {line['best'][-1]:.3f}"
                print(
                    f"[{count}/{len(todo)}] {line['method']} task {line['task']} seed {line['seed']}:"
                    f" {line['jobs']} jobs, {line['epochs']} epochs{regret}, {line['wall_s']:.1f} s",
                    file=log,
                    flush=True,
                )
    return failed
