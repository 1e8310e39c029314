"""A pytest plugin for the Ray tests: a Ray cluster, and the `ray` marker on every test that uses it.

A test module loads it with `pytest_plugins = ["ray_cluster"]`; its tests that use the `ray_cluster`
fixture are marked `ray` (select them with `-m ray`, leave them out with `-m "not ray"`).

The cluster is the one named by `RAY_ADDRESS` (its Ray Client server at `RUNG_RAY_CLIENT_ADDRESS`),
or two local nodes on loopback.

`.ci/run` starts a cluster with `.ci/ray_cluster.sh` and exports both; without them the
`ray_cluster` fixture starts one itself: `ray start --head --block` (with a Ray Client server on a
free port) and a second node with `ray start --address=... --block`, each with its own `--temp-dir`,
in the background, and ends exactly those processes (SIGTERM to each `ray start` pid) when the
session ends, even on failure.

Everything stays on 127.0.0.1 (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`), with token authentication
(`RAY_AUTH_MODE=token`) and a token file in the cluster's own temporary folder.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NODE_START_TIMEOUT_S = 90.0
NODE_STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One `ray start --block` process and what it printed."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None


class LocalCluster:
    """Ray nodes started by this process on 127.0.0.1, stopped by the pids of their `ray start`."""

    def __init__(self, address: str = "") -> None:
        """A new cluster (with its own token), or, given the address of a running one, more nodes for it."""
        # Short paths: Ray's Unix sockets live under the temp dir and their paths have a length limit.
        self.root = Path(tempfile.mkdtemp(prefix="rung-ray-"))
        self.address = address
        self.client_address = ""  # ray://127.0.0.1:<port> once the head runs
        self.env: dict[str, str] = {}
        if not address:
            token = self.root / "token"
            token.write_text(secrets.token_hex(32))
            token.chmod(0o600)
            self.env = {
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(token),
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            }
        self.nodes: list[Node] = []

    def start_head(
        self, num_cpus: int = 2, resources: dict[str, float] | None = None, grpc_fork_support: bool = False
    ) -> str:
        """Starts the head node; `grpc_fork_support=True` leaves gRPC's fork support on, as Ray has it (ray#63202)."""
        port = free_port()
        client_port = free_port()
        while client_port == port:
            client_port = free_port()
        self.address = f"127.0.0.1:{port}"
        # Its own port: a head with grpcio installed would otherwise take Ray's fixed default, 10001.
        self.client_address = f"ray://127.0.0.1:{client_port}"
        extra = [f"--port={port}", f"--ray-client-server-port={client_port}", "--include-dashboard=false"]
        # Its Ray Client server forks a server process per connection while its gRPC threads run; with
        # gRPC's fork handlers on, that process sometimes dies at start (ray-project/ray#63202).
        env = {} if grpc_fork_support else {"GRPC_ENABLE_FORK_SUPPORT": "0"}
        self._start("head", ["--head", *extra], num_cpus, resources or {"head": 1}, env)
        return self.address

    def add_node(
        self, name: str, num_cpus: int = 2, resources: dict[str, float] | None = None, env: dict[str, str] | None = None
    ) -> Node:
        """A node that joins the cluster, with `env` added to its environment."""
        return self._start(name, [f"--address={self.address}"], num_cpus, resources or {name: 1}, env or {})

    def _start(
        self, name: str, args: list[str], num_cpus: int, resources: dict[str, float], env: dict[str, str] | None = None
    ) -> Node:
        command = [
            sys.executable,
            __file__,  # the `ray` command line, see ray_cli()
            "start",
            "--block",
            *args,
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            f"--resources={json.dumps(resources)}",
            f"--temp-dir={self.root / name}",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
        ]
        log_path = self.root / f"{name}.log"
        popen = subprocess.Popen(
            command,
            env={**os.environ, **self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops the node itself
        )
        node = Node(name, popen, log_path)
        self.nodes.append(node)
        node.reader = threading.Thread(target=_copy_output, args=(node,), daemon=True)
        node.reader.start()
        if not node.started.wait(NODE_START_TIMEOUT_S) or popen.poll() is not None:
            raise RuntimeError(f"the Ray node {name!r} did not start; its output:\n{log_path.read_text()}")
        return node

    def stop_node(self, node: Node) -> None:
        """SIGTERM to the node's `ray start --block`: it ends every process of that node."""
        if node.popen.poll() is None:
            node.popen.send_signal(signal.SIGTERM)
            try:
                node.popen.wait(NODE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                # Only this node's processes are in the session it was started in.
                os.killpg(node.popen.pid, signal.SIGKILL)
                node.popen.wait()
        if node.reader is not None:
            node.reader.join()
        if node.popen.stdout is not None:
            node.popen.stdout.close()
        if node in self.nodes:
            self.nodes.remove(node)

    def stop(self) -> None:
        for node in reversed(list(self.nodes)):
            self.stop_node(node)
        shutil.rmtree(self.root, ignore_errors=True)


def _copy_output(node: Node) -> None:
    """Copies a node's output to its log file; marks it started when Ray says so."""
    assert node.popen.stdout is not None
    with node.log_path.open("wb") as out:
        for line in node.popen.stdout:
            out.write(line)
            out.flush()
            if b"Ray runtime started" in line:
                node.started.set()
    node.started.set()  # it exited: the waiter checks poll()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: needs a Ray cluster (the ray_cluster fixture)")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker("ray")


@dataclass
class Cluster:
    """What the Ray tests get: the addresses, and the local cluster when this session started it."""

    address: str
    client_address: str  # ray://host:port of the head's Ray Client server; "" when not known
    local: LocalCluster | None
    ray: Any

    def more_nodes(self) -> LocalCluster:
        """Starts nodes that join this cluster (`add_node`); `stop()` ends them."""
        return LocalCluster(self.address)

    @staticmethod
    def free_port() -> int:
        return free_port()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        pytest.fail(f"the Ray tests need Ray: pip install -e '.[ray]' ({exc})", pytrace=False)
    return ray


def _reread_ray_settings() -> None:
    """Make an already imported Ray see the settings this fixture put in the environment.

    Ray reads them when imported: whether 127.0.0.1 stands for this machine's external address
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER) and the authentication mode and token. These are the calls
    Ray itself makes when it turns token authentication on in a running process.
    """
    # Any: Ray's private modules, untyped (its compiled _raylet has no stubs for these).
    constants: Any = importlib.import_module("ray._private.ray_constants")
    raylet: Any = importlib.import_module("ray._raylet")

    constants.ENABLE_RAY_CLUSTER = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0"
    raylet.Config.initialize("")
    raylet.AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    """Connects this process to the cluster at `RAY_ADDRESS`, or to two local nodes started here."""
    names = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    saved = {k: os.environ.get(k) for k in names}
    local: LocalCluster | None = None
    address = os.environ.get("RAY_ADDRESS", "")
    client_address = os.environ.get("RUNG_RAY_CLIENT_ADDRESS", "") if address else ""
    imported_before = "ray" in sys.modules  # by another test module (Ray Tune references)
    try:
        if not address:
            local = LocalCluster()
            os.environ.update(local.env)  # before `import ray`: Ray reads them when imported
            ray = _import_ray()
            address = local.start_head(resources={"head": 1})
            local.add_node("second", resources={"second": 1})
            client_address = local.client_address
        else:
            ray = _import_ray()
        if imported_before:
            _reread_ray_settings()
        ray.init(address=address, logging_level="warning", log_to_driver=False)
        try:
            shape = sorted(
                (name, n["Resources"].get("CPU"))
                for n in ray.nodes()
                if n["Alive"]
                for name in ("head", "second")
                if name in n["Resources"]
            )
            if shape != [("head", 2.0), ("second", 2.0)]:
                pytest.fail(
                    f"the Ray tests need a head node (2 CPUs, resource 'head') and a second node (2 CPUs, resource"
                    f" 'second'), as .ci/ray_cluster.sh starts; the cluster at {address} has {shape}",
                    pytrace=False,
                )
            yield Cluster(address, client_address, local, ray)
        finally:
            ray.shutdown()
    finally:
        if local is not None:
            local.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ray_cli() -> None:
    """Runs the `ray` command line (`python tests/ray_cluster.py start ...`), as `.ci/ray_cluster.sh` does too.

    The CLI refuses worker nodes when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (a guard meant for Windows
    and macOS), yet that setting is what keeps every listener of a node on 127.0.0.1. So this lifts
    the guard in the CLI only; Ray itself still binds loopback.
    """
    import types

    constants: Any = importlib.import_module("ray._private.ray_constants")
    scripts: Any = importlib.import_module("ray.scripts.scripts")

    cli_constants: Any = types.ModuleType("ray_constants_for_the_cli")
    cli_constants.__dict__.update(constants.__dict__)
    cli_constants.ENABLE_RAY_CLUSTER = True
    scripts.ray_constants = cli_constants
    sys.argv[0] = "ray"
    sys.exit(scripts.main())


if __name__ == "__main__":
    ray_cli()
