# A 2-node Ray cluster on loopback for the Ray tests; meant to be sourced by .ci/run:
#
#   source .ci/ray_cluster.sh
#   trap ray_cluster_stop EXIT   # stops exactly the nodes it started, even when a start or a test fails
#   ray_cluster_start            # exports RAY_ADDRESS, RUNG_RAY_CLIENT_ADDRESS, RAY_AUTH_MODE,
#                                # RAY_AUTH_TOKEN_PATH, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
#   python -m pytest -q
#
# Head: `ray start --head --block` on a free loopback port, 2 CPUs, custom resource {"head": 1}, and
# its Ray Client server on another free loopback port, exported as RUNG_RAY_CLIENT_ADDRESS
# (ray://127.0.0.1:<port>; the Ray Client needs grpcio, from the `ray` extra, and without the flag a
# head would take the fixed port 10001). Second node: `ray start --address=... --block`, 2 CPUs,
# {"second": 1}. Each node has its own --temp-dir under one temporary folder, which also holds the
# cluster's token (token auth). Each node runs in the background in its own session;
# ray_cluster_stop sends SIGTERM to the pid of each `ray start --block` (which ends every process of
# that node, the Ray Client server too), never `ray stop` (which would end every Ray process on the
# machine). Works with `set -euo pipefail`.

RUNG_RAY_START_TIMEOUT_S=${RUNG_RAY_START_TIMEOUT_S:-90}
RUNG_RAY_STOP_TIMEOUT_S=${RUNG_RAY_STOP_TIMEOUT_S:-30}
RUNG_RAY_DIR=""
RUNG_RAY_PIDS=()

# `python tests/ray_cluster.py` is the `ray` CLI with its Windows/macOS guard against worker nodes
# lifted (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every listener on 127.0.0.1, but the plain CLI
# then refuses to start a second node).
RUNG_RAY_CLI="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/ray_cluster.py"

_rung_ray_node() {
    local name=$1
    shift
    local log="$RUNG_RAY_DIR/$name.log"
    setsid python "$RUNG_RAY_CLI" start --block "$@" --num-gpus=0 --temp-dir="$RUNG_RAY_DIR/$name" \
        --object-store-memory=200000000 --disable-usage-stats >"$log" 2>&1 &
    local pid=$!
    RUNG_RAY_PIDS+=("$pid")
    local waited=0
    until grep -qs "Ray runtime started" "$log"; do
        if ! kill -0 "$pid" 2>/dev/null || ((waited >= RUNG_RAY_START_TIMEOUT_S * 10)); then
            echo "ray_cluster.sh: the Ray node '$name' did not start; its output:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "ray_cluster.sh: Ray node '$name' started (pid $pid)" >&2
}

_rung_free_port() {
    python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ray_cluster_start() {
    RUNG_RAY_DIR=$(mktemp -d /tmp/rung-ray-ci-XXXXXX) # short: Ray's socket paths have a length limit
    python -c 'import secrets; print(secrets.token_hex(32), end="")' >"$RUNG_RAY_DIR/token"
    chmod 600 "$RUNG_RAY_DIR/token"
    export RAY_AUTH_MODE=token
    export RAY_AUTH_TOKEN_PATH="$RUNG_RAY_DIR/token"
    export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    local port client_port
    port=$(_rung_free_port)
    client_port=$(_rung_free_port)
    while [[ "$client_port" == "$port" ]]; do client_port=$(_rung_free_port); done
    export RAY_ADDRESS="127.0.0.1:$port"
    export RUNG_RAY_CLIENT_ADDRESS="ray://127.0.0.1:$client_port"
    # The head's Ray Client server forks a server process per connection while its gRPC threads run;
    # with gRPC's fork handlers on, that process sometimes dies at start (ray-project/ray#63202).
    GRPC_ENABLE_FORK_SUPPORT=0 _rung_ray_node head --head --port="$port" --ray-client-server-port="$client_port" \
        --include-dashboard=false --num-cpus=2 --resources='{"head": 1}'
    _rung_ray_node second --address="$RAY_ADDRESS" --num-cpus=2 --resources='{"second": 1}'
}

ray_cluster_stop() {
    local i pid waited
    # The second node first, then the head.
    for ((i = ${#RUNG_RAY_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${RUNG_RAY_PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < RUNG_RAY_STOP_TIMEOUT_S * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            # Its session holds only that node's processes (started with setsid).
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    RUNG_RAY_PIDS=()
    if [[ -n "$RUNG_RAY_DIR" ]]; then
        rm -rf "$RUNG_RAY_DIR"
        RUNG_RAY_DIR=""
    fi
}
