"""What the Ray executor costs per report, and the sleep workload beside Ray Tune.

    python bench/ray_overhead.py roundtrip      # per-report round trip: Ray executor vs process executor
    python bench/ray_overhead.py designs        # three ways to get a report to the driver and back, raw Ray
    python bench/ray_overhead.py sleep [N]      # N (200) trials x 10 reports x 50 ms, 2 slots; then Ray Tune
    python bench/ray_overhead.py all

Uses the cluster at RAY_ADDRESS when set, else starts a local Ray with 2 CPUs. On a loopback cluster
started by `.ci/ray_cluster.sh`, run it with that script's environment (RAY_ADDRESS, the token).
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
import time
from typing import Any

import ray

import rung
from rung.executors.ray import RayExecutor
from rung.session import Job
from rung.testing.executors import collect


def noop(config: dict[str, Any]) -> None:
    for i in range(config["n"]):
        rung.report({"loss": i})


def sleepy(config: dict[str, Any]) -> None:
    for i in range(10):
        time.sleep(0.05)
        rung.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)})


def _connect() -> None:
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level="warning", log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)


def bench_roundtrip() -> None:
    n_trials, n_reports = 20, 50
    reports = n_trials * n_reports
    executor = RayExecutor(capacity=1)
    executor.start(noop)
    executor.submit(Job(0, {"n": 1}))
    collect(executor)  # warm up: the actor has started and loaded the objective
    t0 = time.perf_counter()
    for trial_id in range(1, n_trials + 1):
        executor.submit(Job(trial_id, {"n": n_reports}))
        collect(executor)
    took = time.perf_counter() - t0
    executor.shutdown()
    print(f"executor alone, 1 slot: {took / reports * 1e3:.3f} ms per report ({reports} reports, {took:.2f} s)")
    for name in ("process", "ray"):
        with tempfile.TemporaryDirectory() as storage:
            chosen: Any = RayExecutor(capacity=1) if name == "ray" else "process"
            t0 = time.perf_counter()
            rung.run(noop, {"n": n_reports}, num_samples=n_trials, max_concurrent=1, executor=chosen,
                     storage=storage, name="rt", verbose=0)  # fmt: skip
            took = time.perf_counter() - t0
        print(
            f"rung.run, store on, {name:7s}: {took / reports * 1e3:.3f} ms per report, start-up included ({took:.2f} s)"
        )


class _OneCall:
    """Our design: the trial runs in a thread of the actor; `answer` returns the next event."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.answers: queue.SimpleQueue[int] = queue.SimpleQueue()

    def begin(self, n: int) -> int:
        def trial() -> None:
            for i in range(n):
                self.events.put(i)
                self.answers.get()
            self.events.put(-1)

        threading.Thread(target=trial, daemon=True).start()
        return self.events.get()

    def answer(self, decision: int) -> int:
        self.answers.put(decision)
        return self.events.get()

    def next_event(self) -> int:
        return self.events.get()

    def only_answer(self, decision: int) -> None:
        self.answers.put(decision)


def _queue_trial(n: int, events: Any, answers: Any) -> None:
    for i in range(n):
        events.put(i)
        answers.get()
    events.put(-1)


def bench_designs() -> None:
    from ray.util.queue import Queue

    n = 2000
    one = ray.remote(_OneCall).remote()
    two = ray.remote(_OneCall).options(max_concurrency=2).remote()
    for name, actor, calls in (("one call per report (used)", one, 1), ("two calls: answer, next_event", two, 2)):
        ray.get(actor.begin.remote(0))
        t0 = time.perf_counter()
        event = ray.get(actor.begin.remote(n))
        while event != -1:
            if calls == 1:
                event = ray.get(actor.answer.remote(0))
            else:
                actor.only_answer.remote(0)
                event = ray.get(actor.next_event.remote())
        print(f"{name:32s}: {(time.perf_counter() - t0) / n * 1e3:.3f} ms per report")
    events, answers = Queue(), Queue()
    done = ray.remote(_queue_trial).remote(n, events, answers)
    t0 = time.perf_counter()
    while events.get() != -1:
        answers.put(0)
    print(f"{'two ray.util.queue.Queue actors':32s}: {(time.perf_counter() - t0) / n * 1e3:.3f} ms per report")
    ray.get(done)


def bench_sleep(n: int) -> None:
    ideal = n * 10 * 0.05 / 2
    with tempfile.TemporaryDirectory() as storage:
        t0 = time.perf_counter()
        executor = RayExecutor(resources={"cpu": 1}, capacity=2)
        rung.run(sleepy, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=n, executor=executor,
                 storage=storage, name="s", verbose=0)  # fmt: skip
        took = time.perf_counter() - t0
    print(
        f"rung, Ray executor: {n} trials x 10 x 50 ms, 2 slots: {took:.2f} s (ideal {ideal:.0f} s,"
        f" {took / ideal:.3f} x)"
    )
    from ray import tune

    def trainable(config: dict[str, Any]) -> None:
        for i in range(10):
            time.sleep(0.05)
            tune.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)})

    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(
                metric="loss", mode="min", num_samples=n, max_concurrent_trials=2, reuse_actors=True
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        t0 = time.perf_counter()
        tuner.fit()
        took = time.perf_counter() - t0
    print(f"Ray Tune, reuse_actors=True: same workload: {took:.2f} s ({took / ideal:.3f} x)")


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "all"
    _connect()
    try:
        if what in ("roundtrip", "all"):
            bench_roundtrip()
        if what in ("designs", "all"):
            bench_designs()
        if what in ("sleep", "all"):
            bench_sleep(int(argv[2]) if len(argv) > 2 else 200)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv)
