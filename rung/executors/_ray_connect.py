"""Connecting the driver to Ray: a cluster by address, a cluster through Ray Client (`ray://`), or a new local Ray.

Ray itself retries a connection it cannot make: through Ray Client, for about 30 s, ending with a
"connection timeout" whatever the cause (nothing listening, a port that is not a Ray Client server,
a wrong authentication token). So the address is checked first, in well under a second on a live
cluster, and a failure says which of those it was, naming the address.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PROBE_TIMEOUT_S", "connect", "import_ray", "valid_address"]

PROBE_TIMEOUT_S = 5.0
"""How long the cluster's address may take to answer before it counts as unreachable."""

CLIENT_PREFIX = "ray://"

SERVER_DIED = "Starting Ray client server failed"
"""What Ray Client's `ray.init()` says when the server process for the connection died at start."""


def import_ray() -> Any:
    """`import ray`, or an ImportError that names the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"executor='ray' needs Ray, which is not installed ({exc}); install it with: pip install 'ray[client]>=2.9'"
            " (or pip install -e '.[ray]' in rung's checkout)"
        ) from exc
    return ray


def valid_address(address: str) -> bool:
    """Whether `address` has the shape "auto", "host:port" or "ray://host:port"."""
    host, _, port = address.removeprefix(CLIENT_PREFIX).rpartition(":")
    return address == "auto" or (bool(host) and "/" not in host and port.isdigit())


def connect(ray: Any, address: str | None, runtime_env: Mapping[str, Any] | None = None) -> None:
    """`ray.init()` for the cluster at `address` (None: `RAY_ADDRESS`, else a new local Ray), checked first;
    `runtime_env` is the job's (Ray uploads a local `working_dir` only for a whole job).

    Raises:
        ConnectionError: nothing answers at the address, or not a Ray Client server, or it refused
            the token; the message names the address and how it was given.
        ImportError: a `ray://` address without the Ray Client's dependency (grpcio).
    """
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    named = f"address={address!r}" if address is not None else f"RAY_ADDRESS={target!r}"
    if address is None and target != "local" and not valid_address(target):
        raise ValueError(f"RAY_ADDRESS must be 'auto', 'host:port' or 'ray://host:port'; got {named}")
    client = target.startswith(CLIENT_PREFIX)
    if client:
        _import_grpc(named)
    if target not in ("local", "auto"):
        _probe(target, named)
        if not client:
            _probe_gcs(target, named)
    if client:
        _probe_client(target, named)
        _quiet_client_relay()
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if runtime_env is not None:
        options["runtime_env"] = dict(runtime_env)
    if target == "local":
        options["include_dashboard"] = False
    for attempt in (1, 2):
        try:
            ray.init(address=target, **options)
            return
        except ConnectionError as exc:
            # Ray Client's server forks a server process for each connection while its gRPC threads
            # run, and that process sometimes dies at once (ray-project/ray#63202): a second try
            # gets a new one.
            if not (client and SERVER_DIED in str(exc)):
                raise ConnectionError(f"cannot connect to a Ray cluster with {named}: {exc}") from exc
            if attempt == 2:
                raise ConnectionError(
                    f"cannot connect through Ray Client with {named}: the server process that Ray Client starts"
                    " for each connection died at start, twice; a Ray bug (ray-project/ray#63202), avoided by"
                    " starting the head node with GRPC_ENABLE_FORK_SUPPORT=0 in its environment"
                ) from exc


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix(CLIENT_PREFIX).rpartition(":")
    return host.strip("[]"), int(port)


def _probe(address: str, named: str) -> None:
    """Fail within seconds, naming the address, when nothing listens there."""
    try:
        socket.create_connection(_split(address), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ConnectionError(
            f"cannot reach a Ray cluster at {named}: {reason}; start one with `ray start --head` or fix the address"
        ) from None


def _import_grpc(named: str) -> Any:
    try:
        return importlib.import_module("grpc")  # untyped; Any here
    except ImportError as exc:
        raise ImportError(
            f"{named} connects through Ray Client, which needs grpcio ({exc}); install it with:"
            " pip install 'ray[client]>=2.9' (or pip install -e '.[ray]' in rung's checkout)"
        ) from exc


def _rpc(address: str, service: str, call: Callable[[Any, Any], Any]) -> tuple[Any, str] | None:
    """Make one gRPC call to `address` as Ray's own clients do (with the token), with a deadline.

    `call(services, messages)` of the `ray.core.generated.<service>_pb2_grpc` / `_pb2` modules; returns
    None if it answered, else the status code and a reason for the codes every probe shares (the
    caller words the others). Returns None too when Ray's modules moved (ray.init() checks, slowly).
    """
    try:
        grpc: Any = importlib.import_module("grpc")  # a ray:// address checked it is there (_import_grpc)
        from ray._private.grpc_utils import init_grpc_channel  # adds the token when RAY_AUTH_MODE=token

        messages: Any = importlib.import_module(f"ray.core.generated.{service}_pb2")
        services: Any = importlib.import_module(f"ray.core.generated.{service}_pb2_grpc")
    except ImportError:
        return None
    host, port = _split(address)
    channel = init_grpc_channel(f"{host}:{port}", asynchronous=False)
    try:
        call(channel, (services, messages))
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return code, (
                f"it refused this driver's authentication token ({details}); give the driver the cluster's"
                " token: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN)"
            )
        return code, f"{code.name}: {details}"
    finally:
        channel.close()
    return None


def _probe_client(address: str, named: str) -> None:
    """Ping the Ray Client server as Ray's client does, with the token, once and with a deadline."""

    def ping(channel: Any, modules: tuple[Any, Any]) -> None:
        services, messages = modules
        request = messages.ClusterInfoRequest(type=messages.ClusterInfoType.PING)
        services.RayletDriverStub(channel).ClusterInfo(request, timeout=PROBE_TIMEOUT_S)

    failed = _rpc(address, "ray_client", ping)
    if failed is None:
        return
    code, reason = failed
    if code.name == "UNIMPLEMENTED":
        reason = (
            "a server answers there, but not a Ray Client server; ray:// takes the port of the head's"
            " Ray Client server (`ray start --head --ray-client-server-port`, 10001 by default), not the"
            " cluster's GCS port"
        )
    elif code.name == "DEADLINE_EXCEEDED":
        reason = f"no answer within {PROBE_TIMEOUT_S:g} s"
    raise ConnectionError(f"cannot connect through Ray Client with {named}: {reason}")


def _probe_gcs(address: str, named: str) -> None:
    """Ask the GCS at `address` for the cluster's id, as `ray.init()` does first, with the token and a
    deadline: `ray.init()` itself waits minutes when another server listens there (the dashboard's
    port, 8265, is the likely mix-up), and names no token when it is refused one."""

    def cluster_id(channel: Any, modules: tuple[Any, Any]) -> None:
        services, messages = modules
        services.NodeInfoGcsServiceStub(channel).GetClusterId(messages.GetClusterIdRequest(), timeout=PROBE_TIMEOUT_S)

    failed = _rpc(address, "gcs_service", cluster_id)
    if failed is None:
        return
    code, reason = failed
    if code.name == "UNIMPLEMENTED":
        reason = (
            "a gRPC server answers there, but not a Ray cluster's GCS (a Ray Client port? give it as ray://host:port)"
        )
    elif code.name != "UNAUTHENTICATED":
        reason = (
            f"nothing there answers as a Ray cluster's GCS ({code.name}); give the port `ray start --head`"
            " printed (6379 by default), not the dashboard's (8265)"
        )
    raise ConnectionError(f"cannot connect to a Ray cluster with {named}: {reason}")


class _DropServerThreadWarning(logging.Filter):
    """Drops one warning the Ray Client server logs at every connection, relayed to the driver's stderr.

    The server's `ray.init()` runs in a thread and says it could not set a SIGTERM handler: nothing a
    user can act on, and rung keeps the driver's output for its own reporter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SIGTERM handler is not set because current thread")


_DROP_SERVER_THREAD_WARNING = _DropServerThreadWarning()


def _quiet_client_relay() -> None:
    # The logger that re-logs, in the driver, what the Ray Client server logged (propagate=False).
    logging.getLogger("ray.util.client.logsclient").addFilter(_DROP_SERVER_THREAD_WARNING)
