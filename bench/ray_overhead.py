"""What the Ray executor costs per report, and the sleep workload beside Ray Tune.

    python bench/ray_overhead.py roundtrip      # per-report round trip: Ray executor vs process executor
    python bench/ray_overhead.py designs        # three ways to get a report to the driver and back, raw Ray
    python bench/ray_overhead.py sleep [N]      # N (200) trials x 10 reports x 50 ms, 2 slots; then Ray Tune
    python bench/ray_overhead.py wake           # both hops of an actor call, after a method that ran 0 vs 50 ms
    python bench/ray_overhead.py profile [N]    # N (100) stamped trials: start, report-to-report, between trials
    python bench/ray_overhead.py all
    python bench/ray_overhead.py client [ray://HOST:PORT]   # as a Ray driver (RAY_ADDRESS) vs through Ray Client
    python bench/ray_overhead.py client-start [N]  # N (12) fresh heads, with and without GRPC_ENABLE_FORK_SUPPORT=0

Uses the cluster at RAY_ADDRESS when set, else starts a local Ray with 2 CPUs. On a loopback cluster
started by `.ci/ray_cluster.sh`, run it with that script's environment (RAY_ADDRESS, the token, and
RUNG_RAY_CLIENT_ADDRESS, the default address of `client`). `client` runs, in a new process for each
address, the executor alone: per-report round trip, then reports that carry checkpoints of 1, 10 and
100 MB; everything the driver receives crosses the Ray Client connection in the second process.
`client-start` starts its own loopback heads (tests/ray_cluster.py) and counts how often the first Ray
Client connection to a fresh head fails because the head's server process for it died at start
(ray-project/ray#63202), with gRPC's fork support as it comes and turned off on the head.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import ray

import rung
from rung.executors.base import Reported
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


def with_checkpoint(config: dict[str, Any]) -> None:
    payload = b"x" * config["size"]
    for i in range(config["n"]):
        rung.report({"loss": i}, checkpoint=payload)


def _connect() -> None:
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)


N_TRIALS, N_REPORTS = 20, 50  # per-report round trip: 1,000 reports in 20 trials


def _executor_roundtrip(executor: RayExecutor, label: str) -> None:
    n_trials, n_reports = N_TRIALS, N_REPORTS
    reports = n_trials * n_reports
    executor.start(noop)
    executor.submit(Job(0, {"n": 1}))
    collect(executor)  # warm up: the actor has started and loaded the objective
    t0 = time.perf_counter()
    for trial_id in range(1, n_trials + 1):
        executor.submit(Job(trial_id, {"n": n_reports}))
        collect(executor)
    took = time.perf_counter() - t0
    print(f"{label}: {took / reports * 1e3:.3f} ms per report ({reports} reports, {took:.2f} s)", flush=True)


def bench_roundtrip() -> None:
    executor = RayExecutor(capacity=1)
    _executor_roundtrip(executor, "executor alone, 1 slot")
    executor.shutdown()
    n_trials, n_reports = N_TRIALS, N_REPORTS
    reports = n_trials * n_reports
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
    # Any: Ray's stubs type an actor handle's methods as the plain functions, without `.remote`.
    one: Any = ray.remote(_OneCall).remote()
    two: Any = ray.remote(_OneCall).options(max_concurrency=2).remote()
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


SETTLE_S = 10.0
"""Before each engine's run of `sleep`: a Ray just started by `ray.init()` keeps starting its worker
processes for seconds (two actors created at once took 3.4 s there, 0.57 s five seconds later), and
a run started then pays for that. Both engines start on a cluster up for at least this long, as on
a cluster started with `ray start` before the tuning job."""


def bench_sleep(n: int) -> None:
    ideal = n * 10 * 0.05 / 2
    time.sleep(SETTLE_S)
    with tempfile.TemporaryDirectory() as storage:
        t0 = time.perf_counter()
        executor = RayExecutor(resources={"cpu": 1}, capacity=2)
        # Every trial to its end, as Ray Tune's FIFO runs them (the default would stop some early).
        rung.run(sleepy, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=n, executor=executor,
                 search="random", scheduler="fifo", storage=storage, name="s", verbose=0)  # fmt: skip
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

    time.sleep(SETTLE_S)
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


def bench_executor(address: str) -> None:
    """The executor alone, connected to `address` by itself: round trip per report, then checkpoints."""
    t0 = time.perf_counter()
    executor = RayExecutor(address=address, capacity=1)
    _ = executor.capacity
    print(f"{address}: connected in {time.perf_counter() - t0:.2f} s", flush=True)
    _executor_roundtrip(executor, f"{address}: executor alone, 1 slot")
    executor.start(with_checkpoint)
    for size_mb, n in ((1, 20), (10, 10), (100, 3)):
        executor.submit(Job(size_mb, {"size": size_mb * 1_000_000, "n": n}))
        t0 = time.perf_counter()
        events = collect(executor)
        took = time.perf_counter() - t0
        sizes = [len(e.checkpoint or b"") for e in events if isinstance(e, Reported)]
        assert len(sizes) == n and min(sizes) > size_mb * 1_000_000, sizes  # pickled: a few bytes more
        print(
            f"{address}: report with a {size_mb} MB checkpoint: {took / n * 1e3:.1f} ms"
            f" ({n * size_mb / took:.0f} MB/s, {n} reports)",
            flush=True,
        )
    executor.shutdown()


def bench_client(client_address: str) -> None:
    """`bench_executor` as a Ray driver (RAY_ADDRESS), then through Ray Client, each in a new process."""
    for address in (os.environ["RAY_ADDRESS"], client_address):
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        subprocess.run([sys.executable, __file__, "executor", address], env=env, check=True)


CONNECT = """
import logging, sys, time, ray
t0 = time.monotonic()
try:
    ray.init(address=sys.argv[1], logging_level=logging.WARNING, log_to_driver=False)
    print("connected", round(time.monotonic() - t0, 1))
except ConnectionError as exc:
    print("died" if "Starting Ray client server failed" in str(exc) else "failed", round(time.monotonic() - t0, 1))
"""


def bench_client_start(n: int) -> None:
    """The first `ray.init("ray://...")` to each of `n` fresh heads, by the head's GRPC_ENABLE_FORK_SUPPORT."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    ray_cluster: Any = importlib.import_module("ray_cluster")  # the test suite's loopback clusters

    for fork_support in ("as it comes", "0"):
        outcomes = []
        for _ in range(n):
            cluster = ray_cluster.LocalCluster()
            env = {**os.environ, **cluster.env}
            env.pop("RAY_ADDRESS", None)
            try:
                cluster.start_head(grpc_fork_support=fork_support == "as it comes")
                done = subprocess.run([sys.executable, "-c", CONNECT, cluster.client_address], env=env,
                                      capture_output=True, text=True, timeout=300)  # fmt: skip
                outcomes.append(done.stdout.strip() or done.stderr.strip().splitlines()[-1])
            finally:
                cluster.stop()
        died = sum(o.startswith("died") for o in outcomes)
        print(f"GRPC_ENABLE_FORK_SUPPORT {fork_support} on the head: {died} of {n} first connections died; {outcomes}")


@ray.remote
class _Sleeper:
    def run(self, sent: float, seconds: float) -> tuple[float, float]:
        started = time.time()
        time.sleep(seconds)
        return started - sent, time.time()


def bench_wake() -> None:
    """Each hop of a call, by how long the method ran: the driver's call to the method's start, and the
    method's return to the driver's `ray.get` waking (same machine, so one clock)."""
    import numpy as np

    time.sleep(SETTLE_S)
    actor = _Sleeper.remote()  # type: ignore[attr-defined]
    ray.get(actor.run.remote(time.time(), 0.0))
    for seconds in (0.0, 0.05):
        there, back = [], []
        for _ in range(40):
            took, returned = ray.get(actor.run.remote(time.time(), seconds))
            back.append(time.time() - returned)
            there.append(took)
        print(
            f"method ran {seconds * 1e3:.0f} ms: call to method start {np.median(there) * 1e3:.2f} ms, return to"
            f" driver awake {np.median(back) * 1e3:.2f} ms (medians of 40)"
        )


def _stamped(config: dict[str, Any]) -> None:
    entered = time.time()
    for i in range(10):
        time.sleep(0.05)
        rung.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1), "entered": entered, "at": time.time()})


def bench_profile(n: int) -> None:
    """Workload 1 at `n` trials on the Ray executor, each trial stamping its entry and every report:
    when the first trial entered, report-to-report gaps, and a trial's last report to the next entry."""
    import numpy as np

    time.sleep(SETTLE_S)
    with tempfile.TemporaryDirectory() as storage:
        t0 = time.time()
        executor = RayExecutor(resources={"cpu": 1}, capacity=2)
        result = rung.run(_stamped, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=n, executor=executor,
                          storage=storage, name="p", verbose=0)  # fmt: skip
        took = time.time() - t0
        stamps = sorted((h[0]["entered"], [r["at"] for r in h]) for h in (result.history(t.id) for t in result.trials))
    gaps = np.diff([at for _, at in stamps], axis=1).ravel()
    lasts = sorted(at[-1] for _, at in stamps)
    between = [entered - max(last for last in lasts if last <= entered) for entered, _ in stamps[2:]]
    first = stamps[0][0] - t0
    print(f"{n} trials: {took:.2f} s (ideal {n * 0.25:.1f} s); first trial entered {first:.2f} s after start")
    print(f"report to report: median {np.median(gaps) * 1e3:.1f} ms, mean {gaps.mean() * 1e3:.1f} ms (50 ms of sleep)")
    print(f"a trial's last report to the next trial's entry: median {np.median(between) * 1e3:.1f} ms")


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "all"
    if what == "client-start":
        bench_client_start(int(argv[2]) if len(argv) > 2 else 12)
        return
    if what == "executor":
        bench_executor(argv[2])
        return
    if what == "client":
        bench_client(argv[2] if len(argv) > 2 else os.environ["RUNG_RAY_CLIENT_ADDRESS"])
        return
    _connect()
    try:
        if what in ("roundtrip", "all"):
            bench_roundtrip()
        if what in ("designs", "all"):
            bench_designs()
        if what in ("wake", "all"):
            bench_wake()
        if what == "profile":
            bench_profile(int(argv[2]) if len(argv) > 2 else 100)
        if what in ("sleep", "all"):
            bench_sleep(int(argv[2]) if len(argv) > 2 else 200)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv)
