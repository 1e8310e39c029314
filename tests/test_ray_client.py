"""The Ray executor through Ray Client (`RayExecutor(address="ray://host:port")`), on the loopback cluster.

The `ray_cluster` fixture (tests/ray_cluster.py) gives the address of the head's Ray Client server
(`RUNG_RAY_CLIENT_ADDRESS` from `.ci/ray_cluster.sh`, or the cluster it starts itself). This process
is a Ray driver already (the fixture connected it), and one process cannot also be a Ray Client, so
each test drives rung from a fresh Python process, as a user's program on another machine would.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the fixture, and the `ray` marker on every test here
pytestmark = pytest.mark.usefixtures("ray_cluster")

PAYLOAD = 6_000_000  # bytes per checkpoint: more than one 5 MiB chunk of Ray Client's object transfer


@pytest.fixture
def client_address(ray_cluster: Cluster) -> str:
    if not ray_cluster.client_address:
        pytest.fail(
            f"RAY_ADDRESS={ray_cluster.address} is set but RUNG_RAY_CLIENT_ADDRESS is not: start the cluster with"
            " .ci/ray_cluster.sh (its head runs a Ray Client server), or unset RAY_ADDRESS",
            pytrace=False,
        )
    return ray_cluster.client_address


def drive(script: str, *args: str, env: dict[str, str] | None = None, stderr: str = "") -> list[Any]:
    """Runs `script` in a new Python (warnings are errors there too); returns its stdout, one JSON value a line.

    Its stderr must be `stderr`: in particular, nothing that Ray Client relays from the cluster.
    """
    environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # only the ray:// address given
    environ.update(PYTHONPATH=os.pathsep.join(sys.path), **(env or {}))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, *args], env=environ, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


EXPERIMENT = textwrap.dedent(
    """
    import json, os, signal, sys, tempfile
    import ray
    import rung

    def train(config):
        node = ray.get_runtime_context().get_node_id()
        start = rung.get_checkpoint()["step"] if rung.get_checkpoint() else 0
        for step in range(start, 3):
            print(f"trial {rung.get_trial_id()} step {step}", flush=True)
            rung.report({"score": config["x"] + step, "node": node, "pid": os.getpid()},
                        checkpoint={"step": step + 1, "payload": bytes([step]) * PAYLOAD})

    def kill_once(trial_id, result):
        # Trial 1's actor dies after its second report: a failure seen through the client connection.
        if (trial_id, result["training_iteration"]) == (1, 2) and os.environ.get("KILLED") is None:
            os.environ["KILLED"] = str(result["pid"])
            os.kill(result["pid"], signal.SIGKILL)
        return False

    executor = rung.RayExecutor(address=sys.argv[1], resources={"cpu": 1, "resources": {"second": 0.5}})
    print(json.dumps({"capacity": executor.capacity, "through_client": ray.util.client.ray.is_connected()}))
    with tempfile.TemporaryDirectory() as storage:
        result = rung.run(train, {"x": rung.grid([0, 10, 20])}, metric="score", mode="max", max_failures=1,
                          stop=kill_once, executor=executor, storage=storage, name="client", verbose=0)
        for t in result.trials:
            history = result.history(t.id)
            print(json.dumps({
                "id": t.id, "status": t.status.value, "failures": t.num_failures,
                "scores": [r["score"] for r in history], "nodes": sorted({r["node"] for r in history}),
                "killed": [r["pid"] == int(os.environ["KILLED"]) for r in history],
                "checkpoint": [t.checkpoint["step"], t.checkpoint["payload"] == bytes([2]) * PAYLOAD],
                "log": t.log_path.read_text(),
            }))
    print(json.dumps({"connected_after": ray.is_initialized()}))
    """
).replace("PAYLOAD", str(PAYLOAD))


def test_an_experiment_through_ray_client_runs_on_the_cluster_and_its_checkpoints_reach_the_driver(
    ray_cluster: Cluster, client_address: str
) -> None:
    second = next(n["NodeID"] for n in ray_cluster.ray.nodes() if n["Alive"] and "second" in n["Resources"])
    lines = drive(EXPERIMENT, client_address, stderr="trial 1 failed (1 of 1 retries); restarting it\n")
    # Two slots fit (2 CPUs and 0.5 + 0.5 of "second" on the second node), counted through the client.
    assert lines[0] == {"capacity": 2, "through_client": True}
    trials = {t["id"]: t for t in lines[1:-1]}
    assert sorted(trials) == [1, 2, 3]
    for trial_id, x in ((1, 0), (2, 10), (3, 20)):
        trial = trials[trial_id]
        assert trial["status"] == "TERMINATED"
        assert trial["scores"] == [x, x + 1, x + 2]
        assert trial["nodes"] == [second]  # pinned by the custom resource: it ran on the cluster's second node
        # The last checkpoint (6 MB) came back through the client into the driver's store.
        assert trial["checkpoint"] == [3, True]
        # What it printed, on whichever actor, is in its log file on the driver's side.
        assert trial["log"] == "".join(f"trial {trial_id} step {step}\n" for step in range(3)), trial
    # Trial 1's actor was killed after 2 reports: it failed once and resumed from its checkpoint in another actor.
    assert (trials[1]["failures"], trials[1]["killed"]) == (1, [True, True, False])
    assert [(trials[i]["failures"], trials[i]["killed"]) for i in (2, 3)] == [(0, [False] * 3)] * 2
    assert lines[-1] == {"connected_after": False}  # the executor made the connection, so it closed it


CONTRACT = textwrap.dedent(
    """
    import json, sys
    from rung.executors.ray import RayExecutor
    from rung.testing.executors import EXECUTOR_CHECKS

    for check in EXECUTOR_CHECKS:  # each executor connects, and disconnects at shutdown()
        check(lambda capacity: RayExecutor(address=sys.argv[1], capacity=capacity))
        print(json.dumps(check.__name__))
    """
)


def test_the_executor_contract_holds_through_ray_client(client_address: str) -> None:
    from rung.testing.executors import EXECUTOR_CHECKS

    assert drive(CONTRACT, client_address) == [check.__name__ for check in EXECUTOR_CHECKS]


BAD = textwrap.dedent(
    """
    import json, sys, time
    import ray  # imported first: the time measured is the connection attempt's
    from rung.executors.ray import RayExecutor

    for address in sys.argv[1:]:
        t0 = time.monotonic()
        try:
            RayExecutor(address=address).start(print)
        except (ConnectionError, ImportError) as exc:
            print(json.dumps([type(exc).__name__, str(exc), time.monotonic() - t0]))
    """
)
NO_GRPC = 'import sys; sys.modules["grpc"] = None  # `import grpc` raises ImportError\n' + BAD


def test_bad_ray_client_addresses_fail_within_seconds_naming_the_address(
    ray_cluster: Cluster, client_address: str, tmp_path: Path
) -> None:
    closed = f"ray://127.0.0.1:{ray_cluster.free_port()}"
    gcs = f"ray://{ray_cluster.address}"  # the cluster's GCS port, a gRPC server, but not a Ray Client server
    failures = drive(BAD, closed, gcs)
    wrong_token = tmp_path / "token"
    wrong_token.write_text(secrets.token_hex(32))
    failures += drive(BAD, client_address, env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(wrong_token)})
    failures += drive(NO_GRPC, client_address)
    assert [(kind, message) for kind, message, _ in failures] == [
        ("ConnectionError",
         f"cannot reach a Ray cluster at address={closed!r}: Connection refused; start one with `ray start --head` or"
         " fix the address"),
        ("ConnectionError",
         f"cannot connect through Ray Client with address={gcs!r}: a server answers there, but not a Ray Client"
         " server; ray:// takes the port of the head's Ray Client server (`ray start --head"
         " --ray-client-server-port`, 10001 by default), not the cluster's GCS port"),
        ("ConnectionError",
         f"cannot connect through Ray Client with address={client_address!r}: it refused this driver's"
         " authentication token (Invalid or missing authentication token); give the driver the cluster's token:"
         " RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN)"),
        ("ImportError",
         f"address={client_address!r} connects through Ray Client, which needs grpcio (import of grpc halted; None"
         " in sys.modules); install it with: pip install 'ray[client]>=2.9' (or pip install -e '.[ray]' in rung's"
         " checkout)"),
    ]  # fmt: skip
    # Ray's own client retries for about 30 s in each of the first three cases; these fail at once.
    seconds = [round(took, 2) for _, _, took in failures]
    assert max(seconds) < 5.0, seconds


class _RayWhoseClientServerDies:
    """Stands in for `ray` in `connect()`: the first `deaths` connections fail as in ray-project/ray#63202."""

    def __init__(self, deaths: int) -> None:
        self.deaths = deaths
        self.calls: list[str] = []

    def init(self, address: str, **options: Any) -> None:
        self.calls.append(address)
        if len(self.calls) <= self.deaths:
            raise ConnectionAbortedError(
                "Initialization failure from server:\nTraceback (most recent call last):\nRuntimeError: Starting Ray"
                " client server failed. See ray_client_server_23000.err for detailed logs.\n"
            )


def test_a_client_server_process_that_dies_at_start_is_tried_again_once(client_address: str) -> None:
    from rung.executors._ray_connect import connect

    # The address is checked for real (a TCP connection and a Ray Client ping); then ray.init() fails once.
    once = _RayWhoseClientServerDies(deaths=1)
    connect(once, client_address)
    assert once.calls == [client_address] * 2
    twice = _RayWhoseClientServerDies(deaths=2)
    with pytest.raises(ConnectionError) as info:
        connect(twice, client_address)
    assert twice.calls == [client_address] * 2
    assert str(info.value) == (
        f"cannot connect through Ray Client with address={client_address!r}: the server process that Ray Client"
        " starts for each connection died at start, twice; a Ray bug (ray-project/ray#63202), avoided by starting"
        " the head node with GRPC_ENABLE_FORK_SUPPORT=0 in its environment"
    )
