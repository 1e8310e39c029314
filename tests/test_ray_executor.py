"""The Ray executor on a real 2-node cluster on loopback (`-m ray` selects these tests).

The `ray_cluster` fixture (tests/ray_cluster.py) connects to `RAY_ADDRESS` (CI starts a cluster with
`.ci/ray_cluster.sh`) or starts two local nodes; it fails, not skips, when Ray is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import rung
from rung.errors import ResourceError
from rung.executors.base import Ended, Executor, Reported
from rung.executors.ray import RayExecutor
from rung.session import Job
from rung.store.sqlite import Store
from rung.testing.executors import EXECUTOR_CHECKS, collect
from rung.types import Decision, Status

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the fixture, and the `ray` marker on every test here
pytestmark = pytest.mark.usefixtures("ray_cluster")


def node_ids(cluster: Cluster) -> dict[str, str]:
    """The node id of each node with a "head", "second" or "third" custom resource."""
    found = {}
    for node in cluster.ray.nodes():
        for name in ("head", "second", "third"):
            if node["Alive"] and name in node["Resources"]:
                found[name] = node["NodeID"]
    return found


def here() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


# Objectives (module level: the actors import this module by name).
def chatty(config: dict[str, Any]) -> None:
    """Prints, reports its node and pid, and checkpoints 1 MB (more than Ray keeps inline)."""
    start = rung.get_checkpoint()["step"] if rung.get_checkpoint() else 0
    for step in range(start, config["n"]):
        print(f"trial {rung.get_trial_id()} step {step} on {here()}", flush=True)
        sys.stderr.write(f"stderr {step}\n")
        os.write(1, b"raw fd write\n")
        payload = bytes([step % 256]) * 1_000_000
        rung.report(
            {"score": config["x"] + step, "node": here(), "pid": os.getpid()},
            checkpoint={"step": step + 1, "payload": payload},
        )


def steps(config: dict[str, Any]) -> None:
    checkpoint = rung.get_checkpoint() or {"w": 0.0, "step": 0}
    w = checkpoint["w"]
    for step in range(checkpoint["step"], 9):
        w += config["lr"]
        rung.report({"score": w, "lr": config["lr"]}, checkpoint={"w": w, "step": step + 1})


def until_node_lost(config: dict[str, Any]) -> None:
    """Reports 4 steps; on the doomed node it waits after step 2 for the node to go."""
    for step in range(rung.get_checkpoint() or 0, 4):
        if here() == config["doomed"] and step >= 2:
            threading.Event().wait()
        rung.report({"score": step, "node": here()}, checkpoint=step + 1)


def report_then_work(config: dict[str, Any]) -> None:
    rung.report({"started": 1})
    threading.Event().wait()


# The executor contract.
@pytest.mark.parametrize("check", EXECUTOR_CHECKS, ids=lambda c: c.__name__)
def test_executor_contract(check: Callable[[Callable[[int], Executor]], None]) -> None:
    check(lambda capacity: RayExecutor(capacity=capacity))


# Placement, checkpoints and logs.
def _start_placed(executor: RayExecutor, fn: Callable[..., Any]) -> None:
    """Start the executor's actors and wait until Ray has placed every one: trials go only to placed
    actors, so a test that needs them spread over the nodes waits for all (rung.run's own start()
    with the same objective then keeps them)."""
    executor.start(fn)
    executor._ray.get([slot.where for slot in executor._slots], timeout=60)


def test_trials_run_on_both_nodes_and_checkpoints_and_logs_reach_the_driver(
    ray_cluster: Cluster, storage: Path
) -> None:
    executor = RayExecutor(resources={"cpu": 1})
    assert executor.capacity == 4  # 2 nodes x 2 CPUs, one CPU per trial
    _start_placed(executor, chatty)  # else the first actors placed may run every (short) trial
    result = rung.run(chatty, {"x": rung.grid([0, 10, 20, 30]), "n": 2}, metric="score", mode="max",
                      executor=executor, name="both", storage=storage, verbose=0)  # fmt: skip
    nodes = node_ids(ray_cluster)
    seen = {r["node"] for t in result.trials for r in result.history(t.id)}
    # Four actors of one CPU each fill both nodes: trials ran on the head and on the second node.
    assert seen == {nodes["head"], nodes["second"]}
    for trial in result.trials:
        assert trial.status is Status.TERMINATED and trial.iteration == 2
        assert trial.checkpoint == {"step": 2, "payload": bytes([1]) * 1_000_000}
        node = result.history(trial.id)[0]["node"]
        log = trial.log_path.read_text()
        assert f"trial {trial.id} step 0 on {node}\nstderr 0\nraw fd write\n" in log
        assert log.count("raw fd write") == 2, log


def test_custom_resources_pin_trials_to_the_second_node(ray_cluster: Cluster, storage: Path) -> None:
    executor = RayExecutor(resources={"cpu": 1, "resources": {"second": 0.5}})
    assert executor.capacity == 2
    result = rung.run(chatty, {"x": rung.grid([0, 1, 2]), "n": 2}, metric="score", executor=executor,
                      name="pinned", storage=storage, verbose=0)  # fmt: skip
    second = node_ids(ray_cluster)["second"]
    assert [{r["node"] for r in result.history(t.id)} for t in result.trials] == [{second}] * 3
    pids = {r["pid"] for t in result.trials for r in result.history(t.id)}
    # 3 trials in at most 2 actors: actors are reused, no process start per trial. A trial goes only to an
    # actor Ray has placed, so when the first ends before the second actor is placed it takes them all.
    assert 1 <= len(pids) <= executor.capacity < len(result.trials)


def test_capacity_is_what_fits_per_node(ray_cluster: Cluster) -> None:
    cpus = sorted(int(n["Resources"]["CPU"]) for n in ray_cluster.ray.nodes() if n["Alive"])
    assert RayExecutor(resources={"cpu": 1}).capacity == sum(cpus)
    assert RayExecutor(resources={"cpu": 1}, capacity=3).capacity == 3
    # A trial takes its CPU and its share of "head" on one node: only the head node has both.
    assert RayExecutor(resources={"cpu": 1, "resources": {"head": 0.25}}).capacity == 2
    assert RayExecutor(resources={"cpu": 0.5, "resources": {"head": 0.25}}).capacity == 4


# Failures.
def test_killed_actor_fails_its_trial_and_the_slot_recovers() -> None:
    executor = RayExecutor(capacity=1)
    executor.start(chatty)
    pids: list[int] = []

    def kill_on_first(event: Reported) -> Decision:
        if not pids:
            pids.append(event.result["pid"])
            os.kill(event.result["pid"], signal.SIGKILL)
        return Decision.CONTINUE

    try:
        executor.submit(Job(1, {"x": 0, "n": 3}))
        events = collect(executor, kill_on_first)
        executor.submit(Job(2, {"x": 0, "n": 1}))
        events += collect(executor)
    finally:
        executor.shutdown()
    ended = [e for e in events if isinstance(e, Ended)]
    assert [(e.trial_id, e.kind) for e in ended] == [(1, "error"), (2, "completed")]
    assert ended[0].error is not None
    assert ended[0].error.startswith(f"the Ray actor running trial 1 (pid {pids[0]} on node 127.0.0.1 "), ended[0].error
    assert "The actor died unexpectedly" in ended[0].error
    assert [e.result["pid"] for e in events if isinstance(e, Reported) and e.trial_id == 2] != pids


def test_stop_while_computing_ends_the_actor_and_the_slot_recovers() -> None:
    executor = RayExecutor(capacity=1)
    executor.start(report_then_work)
    try:
        executor.submit(Job(1, {}))
        first = executor.poll(30.0)
        assert len(first) == 1 and isinstance(first[0], Reported)
        executor.reply(1, Decision.CONTINUE)
        executor.stop(1)  # it computes and will never report again: its actor is ended
        events = collect(executor)
        executor.start(chatty)
        executor.submit(Job(2, {"x": 0, "n": 1}))
        events += collect(executor)
    finally:
        executor.shutdown()
    assert [(e.trial_id, e.kind) for e in events if isinstance(e, Ended)] == [(1, "interrupted"), (2, "completed")]


def test_killed_actor_with_max_failures_resumes_from_its_checkpoint(storage: Path) -> None:
    killed: list[int] = []

    def kill_once(trial_id: int, result: dict[str, Any]) -> bool:
        if (trial_id, result["training_iteration"]) == (1, 2) and not killed:
            killed.append(result["pid"])
            os.kill(result["pid"], signal.SIGKILL)
        return False

    result = rung.run(chatty, {"x": rung.grid([0, 10]), "n": 4}, metric="score", mode="max", max_failures=1,
                      stop=kill_once, executor=RayExecutor(capacity=2), name="kill", storage=storage,
                      verbose=0)  # fmt: skip
    one, two = result.trials
    assert one.status is Status.TERMINATED and one.num_failures == 1 and one.iteration == 4
    history = result.history(1)
    assert [r["training_iteration"] for r in history] == [1, 2, 3, 4]
    # Iterations 1-2 ran in the killed actor; 3-4 in another one, from the checkpoint of iteration 2.
    assert [r["pid"] == killed[0] for r in history] == [True, True, False, False]
    assert [r["score"] for r in history] == [0, 1, 2, 3]
    assert two.status is Status.TERMINATED and two.num_failures == 0


def test_lost_node_fails_its_trials_and_they_resume_on_other_nodes(ray_cluster: Cluster, storage: Path) -> None:
    extra = ray_cluster.more_nodes()
    try:
        # SIGTERM to it is then a loss at once, without draining.
        third = extra.add_node("third", resources={"third": 1}, env={"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
        doomed = node_ids(ray_cluster)["third"]
        executor = RayExecutor(resources={"cpu": 1})
        # One CPU per trial and as many trials as CPUs: two of the actors must be on the third node.
        capacity = executor.capacity
        _start_placed(executor, until_node_lost)

        def end_third_node(trial_id: int, result: dict[str, Any]) -> bool:
            if result["node"] == doomed and result["training_iteration"] == 2 and third.popen.poll() is None:
                third.popen.send_signal(signal.SIGTERM)
            return False

        result = rung.run(until_node_lost, {"doomed": doomed}, metric="score", num_samples=capacity, max_failures=1,
                          stop=end_third_node, executor=executor, name="lost", storage=storage, verbose=0)  # fmt: skip
    finally:
        extra.stop()
    assert result.status == "FINISHED"
    assert all(t.status is Status.TERMINATED and t.iteration == 4 for t in result.trials)
    histories = {t.id: result.history(t.id) for t in result.trials}
    assert all([r["training_iteration"] for r in h] == [1, 2, 3, 4] for h in histories.values())
    # The two trials on the third node failed once each and finished elsewhere.
    assert sorted(t.num_failures for t in result.trials) == [0] * (capacity - 2) + [1, 1]
    on_doomed = []
    for trial in result.trials:
        nodes = [r["node"] for r in histories[trial.id]]
        k = nodes.count(doomed)
        # Its first k results came from the third node; the retry resumed from the checkpoint of
        # iteration k (a restart from the beginning would have replaced them) on one other node.
        assert nodes == [doomed] * k + [nodes[3]] * (4 - k) and nodes[3] != doomed, nodes
        if k:
            assert trial.num_failures == 1
            on_doomed.append(k)
    assert 2 in on_doomed, on_doomed  # the trial whose result ended the node had reported twice there


# Same decisions as the process executor.
def _schedulers() -> dict[str, Callable[[], rung.Scheduler]]:
    from rung.schedulers.asha import ASHA
    from rung.schedulers.pbt import PBT

    return {
        "asha-promote": lambda: ASHA(max_t=9, grace_period=1, reduction_factor=3, variant="promote"),
        "pbt": lambda: PBT(3, {"lr": rung.uniform(0, 1)}, resample_probability=0.5),
    }


@pytest.mark.parametrize("name", ["asha-promote", "pbt"])
def test_schedulers_decide_as_on_the_process_executor(name: str, storage: Path) -> None:
    outcomes = []
    for executor in ("process", RayExecutor(capacity=1)):
        run = f"{name}-{type(executor).__name__}"
        result = rung.run(steps, {"lr": rung.uniform(0, 1)}, metric="score", mode="max", num_samples=6,
                          scheduler=_schedulers()[name](), max_concurrent=1, seed=5, executor=executor,
                          name=run, storage=storage, verbose=0)  # fmt: skip
        store = Store.read(storage, run)
        try:
            # Every status change in order, with the config and donor of each resume.
            changes = [(trial_id, data) for kind, trial_id, data in store.history() if kind != "result"]
        finally:
            store.close()
        trials = [(t.config, t.status, t.iteration, [r["score"] for r in result.history(t.id)]) for t in result.trials]
        outcomes.append((changes, trials, [t.checkpoint for t in result.trials]))
    assert outcomes[0] == outcomes[1]
    resumed = [data for _, (status, data) in outcomes[0][0] if status is Status.RUNNING and "origin" not in data]
    assert len(resumed) > 6, "the scheduler paused and resumed trials (ASHA promotions, PBT exploits)"


# Bad input.
def test_resources_no_node_has_are_refused(ray_cluster: Cluster) -> None:
    with pytest.raises(ResourceError) as info:
        _ = RayExecutor(resources={"cpu": 1, "resources": {"tpu_pod": 1}}).capacity
    message = str(info.value)
    assert message.startswith(
        "each trial needs cpu=1, gpu=0, resources={'tpu_pod': 1}; no node of the Ray cluster has that much: its "
    ), message
    assert "cpu=2, gpu=0, resources={'second': 1}" in message and "cpu=2, gpu=0, resources={'head': 1}" in message


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"address": "nowhere"}, ValueError,
         "address must be None, 'auto', 'host:port' or 'ray://host:port'; got 'nowhere'"),
        ({"capacity": 0}, ValueError, "capacity must be an integer >= 1 or None; got 0"),
        ({"resources": {"cpu": 1, "disk": 2}}, ResourceError,
         "resources has unknown keys ['disk']; known keys: 'cpu', 'gpu', 'resources'"),
        ({"resources": {"cpu": -1}}, ResourceError, "resources['cpu'] must be >= 0; got -1"),
        ({"resources": {"resources": ["a"]}}, ResourceError,
         "resources['resources'] must be a dict of Ray custom resources; got ['a']"),
        ({"resources": {"resources": {"a": 0}}}, ResourceError,
         "resources['resources']['a'] must be a number > 0; got 0"),
        ({"resources": {"resources": {"CPU": 1}}}, ResourceError,
         "resources['resources'] takes Ray custom resource names (use 'cpu' and 'gpu' for those); got 'CPU'"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_when_built(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        RayExecutor(**kwargs)
    assert str(info.value) == message


def test_ray_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError) as info:
        RayExecutor().start(steps)
    assert str(info.value) == (
        "executor='ray' needs Ray, which is not installed (import of ray halted; None in sys.modules);"
        " install it with: pip install 'ray[client]>=2.9' (or pip install -e '.[ray]' in rung's checkout)"
    )


SUBPROCESS = textwrap.dedent(
    """
    import os, sys, time, tempfile
    import rung
    from rung.executors.ray import RayExecutor
    assert "ray" not in sys.modules, "import rung imported ray"
    # Unreachable: a clear error within seconds, naming the address.
    t0 = time.monotonic()
    try:
        RayExecutor(address="127.0.0.1:{dead_port}").start(print)
    except ConnectionError as exc:
        print("ERROR", exc)
        print("SECONDS", time.monotonic() - t0 < 5)
    # address=None connects to RAY_ADDRESS, and disconnects at the end of the run.
    def train(config):
        return {{"score": config["x"]}}
    with tempfile.TemporaryDirectory() as storage:
        result = rung.run(train, {{"x": rung.grid([1, 2])}}, metric="score", executor=RayExecutor(),
                          storage=storage, name="own", verbose=0)
        print("SCORES", sorted(t.metrics["score"] for t in result.trials))
    import ray
    print("CONNECTED", ray.is_initialized())
    """
)


def test_connects_itself_without_importing_ray_in_rung(ray_cluster: Cluster) -> None:
    port = ray_cluster.free_port()
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.address, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", SUBPROCESS.format(dead_port=port)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"ERROR cannot reach a Ray cluster at address='127.0.0.1:{port}': Connection refused;"
        " start one with `ray start --head` or fix the address",
        "SECONDS True",
        "SCORES [1, 2]",
        "CONNECTED False",
    ]


WORKING_DIR = textwrap.dedent(
    """
    import rung
    from rung.executors.ray import RayExecutor
    def train(config):
        import shipped  # only in the driver's folder: the actors import it from the uploaded working_dir
        return {"score": shipped.VALUE + config["x"]}
    executor = RayExecutor(runtime_env={"working_dir": ".", "excludes": ["runs"]})
    result = rung.run(train, {"x": rung.grid([1, 2])}, metric="score", executor=executor, storage="runs",
                      name="wd", verbose=0)
    print("SCORES", sorted(t.metrics["score"] for t in result.trials))
    import ray
    ray.init(address="auto") if not ray.is_initialized() else None
    try:
        rung.run(train, {"x": 1}, metric="score", executor=RayExecutor(runtime_env={"working_dir": "."}),
                 storage="runs", name="wd2", verbose=0)
    except ValueError as exc:
        print("ERROR", exc)
    """
)


def test_runtime_env_working_dir_ships_the_code(ray_cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "shipped.py").write_text("VALUE = 100\n")
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.address, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", WORKING_DIR], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "SCORES [101, 102]"
    assert lines[1].startswith("ERROR runtime_env 'working_dir' names a local folder, which Ray uploads only for")


LOCAL = textwrap.dedent(
    """
    import os, tempfile
    import rung
    from rung.executors.ray import RayExecutor
    def train(config):
        return {"score": config["x"]}
    with tempfile.TemporaryDirectory() as storage:
        result = rung.run(train, {"x": rung.grid([1, 2])}, metric="score", executor=RayExecutor(),
                          storage=storage, name="local", verbose=0)
        print(sorted(t.metrics["score"] for t in result.trials))
    import ray
    print(ray.is_initialized(), "session_latest" in os.listdir(os.path.join(os.environ["RAY_TMPDIR"], "ray")))
    """
)


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:  # it ended meanwhile
        return ""


def test_without_an_address_starts_a_local_ray_and_stops_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Its own temporary folder (short: Ray's socket paths have a length limit), on loopback.
    with tempfile.TemporaryDirectory(prefix="rr", dir="/tmp") as ray_tmp:
        token = Path(ray_tmp) / "token"
        token.write_text(secrets.token_hex(32))
        env.update(RAY_TMPDIR=ray_tmp, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", PYTHONPATH=os.pathsep.join(sys.path))
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
        done = subprocess.run([sys.executable, "-c", LOCAL], env=env, capture_output=True, text=True, timeout=90)
        left = [proc.name for proc in Path("/proc").glob("[0-9]*") if ray_tmp in _cmdline(proc)]
    assert done.returncode == 0, done.stderr
    # It ran a Ray instance of its own (a session in RAY_TMPDIR), disconnected, and stopped it.
    assert done.stdout.splitlines() == ["[1, 2]", "False True"]
    assert left == []


def test_poll_waits_without_spinning() -> None:
    executor = RayExecutor(capacity=1)
    executor.start(report_then_work)
    try:
        executor.submit(Job(1, {}))
        first = executor.poll(30.0)
        assert len(first) == 1 and isinstance(first[0], Reported)
        executor.reply(1, Decision.CONTINUE)
        # The trial computes and reports nothing more: poll returns at its timeout, having slept.
        cpu, t0 = time.process_time(), time.monotonic()
        assert executor.poll(0.5) == []
        waited, used = time.monotonic() - t0, time.process_time() - cpu
        assert waited >= 0.45 and used < 0.1, (waited, used)
    finally:
        executor.shutdown()


def test_executor_by_name_with_custom_resources(ray_cluster: Cluster, storage: Path) -> None:
    # executor="ray" takes the per-trial resources as given, custom Ray resources included.
    result = rung.run(chatty, {"x": rung.grid([0, 1]), "n": 1}, metric="score", executor="ray",
                      resources={"cpu": 1, "resources": {"second": 0.5}}, name="byname", storage=storage,
                      verbose=0)  # fmt: skip
    second = node_ids(ray_cluster)["second"]
    assert [{r["node"] for r in result.history(t.id)} for t in result.trials] == [{second}] * 2
    assert result.settings["resources"] == {"cpu": 1, "resources": {"second": 0.5}}


def _ignores_stop(config: dict[str, Any]) -> None:
    for i in range(200):
        with contextlib.suppress(BaseException):  # the misuse under test: it swallows rung's TrialInterrupt
            rung.report({"loss": float(i)})


def test_a_trial_that_swallows_its_stop_has_its_actor_ended(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    executor = RayExecutor(capacity=2)
    result = rung.run(_ignores_stop, {"x": rung.grid([1, 2, 3])}, metric="loss", stop={"training_iteration": 3},
                      executor=executor, name="swallow", storage=storage, verbose=0)  # fmt: skip
    assert [(t.status, t.iteration) for t in result.trials] == [(Status.TERMINATED, 3)] * 3
    assert "trial 1 reported after it was told to end; ending its process" in caplog.text


@pytest.mark.parametrize("value", ["localhost", "ray://127.0.0.1:10001/", "http://127.0.0.1:8265"])
def test_a_malformed_ray_address_variable_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rung.executors._ray_connect import connect

    monkeypatch.setenv("RAY_ADDRESS", value)
    message = f"RAY_ADDRESS must be 'auto', 'host:port' or 'ray://host:port'; got RAY_ADDRESS={value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        connect(None, None)


def test_trials_go_to_placed_actors_on_a_shared_cluster(ray_cluster: Cluster, storage: Path) -> None:
    # Another job holds the second node's CPUs: capacity counts them, but those actors wait unplaced.
    # Trials given to them waited as long as the other job ran (forever, for a long-lived one).
    ray = ray_cluster.ray

    @ray.remote(num_cpus=2, resources={"second": 1})
    class Blocker:
        def ping(self) -> int:
            return 1

    blocker = Blocker.remote()  # type: ignore[attr-defined]
    ray.get(blocker.ping.remote(), timeout=60)
    try:
        executor = RayExecutor(resources={"cpu": 1})
        assert executor.capacity == 4
        result = rung.run(lambda c: {"loss": c["x"]}, {"x": rung.grid(list(range(6)))}, metric="loss",
                          executor=executor, name="shared", storage=storage, verbose=0)  # fmt: skip
    finally:
        ray.kill(blocker)
    assert sorted(t.metrics["loss"] for t in result.trials) == list(range(6))
    assert all(t.status is Status.TERMINATED for t in result.trials)


def test_a_port_where_no_gcs_answers_fails_in_seconds_naming_it() -> None:
    # ray.init() waited minutes at an HTTP server (the dashboard's port is the likely mix-up).
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import ray

    from rung.executors._ray_connect import connect

    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionError) as caught:
            connect(ray, address)
        assert time.monotonic() - started < 30
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value).startswith(
        f"cannot connect to a Ray cluster with address={address!r}: nothing there answers as a Ray cluster's GCS ("
    )
    assert "not the dashboard's (8265)" in str(caught.value)
