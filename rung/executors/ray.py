"""Trials on a Ray cluster: one long-lived actor per slot, reports streamed back to the driver.

Each slot is a Ray actor holding one trial's resources (CPUs, GPUs, custom resources) for the whole
run, so a trial costs a method call, not a process start. In the actor (`_ray_actor.TrialHost`) the
trial runs in a thread; one call per report: `begin(job)` returns the trial's first event,
`answer(decision)` delivers the decision and returns the next event.

Results, checkpoints and the trial's output since its last event travel in those return values,
through Ray's object store: no shared filesystem is needed, and the driver stays the only writer of
the store and of the trials' log files. An actor that dies (its process killed, its node lost) ends
its trial as a failure; a new actor, placed by Ray wherever resources are free, replaces it.

A trial goes only to an actor that Ray has placed on a node. Capacity counts what the live nodes
hold in all; on a cluster shared with other jobs (or just after a node is lost) some actors wait
for resources, and a trial given to one would wait with it while placed actors sit idle. Trials
submitted while no placed actor is idle wait in the executor, oldest first, for the next one.

The driver talks to the cluster as a Ray driver (`host:port`) or through Ray Client (`ray://host:port`,
`_ray_connect`): the calls here are the same either way; through Ray Client each call and its return
value cross one more gRPC hop, to the head's Ray Client server, which is the cluster's driver then.

Ray is imported when an executor connects, never by `import rung`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rung import _pickle
from rung.errors import ResourceError
from rung.executors._ray_actor import TrialHost
from rung.executors._ray_connect import connect, import_ray, valid_address
from rung.executors.base import Ended, Event, Executor, Reported
from rung.resources import Resources
from rung.session import Job
from rung.types import Config, Decision

__all__ = ["RayExecutor"]


@dataclass
class _Slot:
    actor: Any
    where: Any  # the ObjectRef of the actor's `where()`: (node id, pid) once it runs
    fn_key: str = ""
    job: Job | None = None  # the trial it runs
    pending: Any = None  # the ObjectRef of the call that returns the trial's next event
    stopping: bool = False
    killed: bool = False  # by stop()
    placed: bool = False  # Ray has started the actor on a node (its `where` returned)
    told_to_end: bool = False  # its last answer was STOP or PAUSE


class RayExecutor(Executor):
    """Runs each trial in a Ray actor that holds the trial's resources; actors are reused between trials.

    Args:
        address: "host:port" (the cluster's GCS, from a machine of the cluster's network) or
            "ray://host:port" (the head's Ray Client server, from anywhere that reaches that one
            port); "auto" (Ray's lookup: `RAY_ADDRESS`, then the newest cluster started on this
            machine); None: `RAY_ADDRESS` when set, else a new local Ray instance (stopped at
            `shutdown()`). If this process already called `ray.init()`, that connection is used (and
            kept open).
        resources: per trial, e.g. `{"cpu": 2, "gpu": 0.5, "resources": {"node_type_big": 1}}`: CPUs, GPUs
            (fractions allowed) and Ray custom resources, all on one node. Default: one CPU.
        capacity: at most this many trials at once; default and maximum: as many as fit on the live
            nodes (counted again when an actor dies).
        runtime_env: Ray's runtime environment, e.g. `{"working_dir": ".", "excludes": ["rung-runs"]}`
            to ship the objective's code to nodes that lack it (leave the storage folder out: Ray
            uploads everything else in the folder). It is given to `ray.init()` when rung connects;
            if this process called `ray.init()` itself, pass it there (a local folder is refused here).

    Example:
        >>> executor = rung.RayExecutor(resources={"cpu": 2, "gpu": 0.5})  # doctest: +SKIP
        >>> rung.run(train, space, metric="acc", mode="max", executor=executor)  # doctest: +SKIP
        >>> remote = rung.RayExecutor(address="ray://head.example.org:10001")  # doctest: +SKIP
    """

    def __init__(
        self,
        address: str | None = None,
        resources: Mapping[str, Any] | None = None,
        capacity: int | None = None,
        runtime_env: Mapping[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not valid_address(address)):
            raise ValueError(f"address must be None, 'auto', 'host:port' or 'ray://host:port'; got {address!r}")
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
            raise ValueError(f"capacity must be an integer >= 1 or None; got {capacity!r}")
        self.address = address
        self.cpu, self.gpu, self.custom = _parse_resources(resources)
        self.runtime_env = dict(runtime_env) if runtime_env is not None else None
        self._limit = capacity
        self._capacity: int | None = None
        self._ray: Any = None
        self._owns_connection = False
        self._host_class: Any = None
        self._slots: list[_Slot] = []
        self._ready: list[Event] = []
        # Trials submitted while no started actor is free (the cluster is shared, a node was lost, or
        # the actors are still starting): each goes to the first actor that is placed and idle.
        self._queue: list[Job] = []
        self._fn_key = ""
        self._fn_ref: Any = None

    @property
    def capacity(self) -> int:
        """Trials that run at once (connects to the cluster to count them)."""
        if self._capacity is None:
            self._connect()
        assert self._capacity is not None
        return self._capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        self._capacity = value

    def _connect(self) -> None:
        ray = self._ray = import_ray()
        options: dict[str, Any] = {
            "num_cpus": self.cpu,
            "num_gpus": self.gpu,
            "resources": self.custom,
            "max_restarts": 0,
        }
        if not ray.is_initialized():
            # The job's runtime environment: Ray uploads a local working_dir or py_modules only there.
            connect(ray, self.address, self.runtime_env)
            self._owns_connection = True
        elif self.runtime_env is not None:
            local = [k for k in ("working_dir", "py_modules") if _has_local_path(self.runtime_env.get(k))]
            if local:
                raise ValueError(
                    f"runtime_env {local[0]!r} names a local folder, which Ray uploads only for a whole job, and"
                    " this process already called ray.init(): pass runtime_env to that ray.init() call instead"
                    " (or let rung connect: do not call ray.init() first)"
                )
            options["runtime_env"] = self.runtime_env
        self._host_class = ray.remote(TrialHost).options(**options)
        self._refit()

    def _refit(self) -> None:
        """Count the trials that fit on the live nodes (raises if not even one); drop idle actors on dead ones."""
        nodes = self._ray.nodes()
        need = {k: v for k, v in {"CPU": self.cpu, "GPU": self.gpu, **self.custom}.items() if v > 0}
        alive = [node["Resources"] for node in nodes if node["Alive"]]
        fits = sum(min(math.floor(float(have.get(k, 0.0)) / v + 1e-9) for k, v in need.items()) for have in alive)
        if fits == 0:
            have = sorted(
                _describe(h.get("CPU", 0), h.get("GPU", 0), {k: v for k, v in h.items() if _custom(k)}) for h in alive
            )
            raise ResourceError(
                f"each trial needs {_describe(self.cpu, self.gpu, self.custom)}; no node of the Ray cluster has"
                f" that much: its {len(alive)} nodes have {'; '.join(have)}"
            )
        self._capacity = fits if self._limit is None else min(fits, self._limit)
        dead = {node["NodeID"] for node in nodes if not node["Alive"]}
        for slot in [s for s in self._slots if s.job is None and self._node_and_pid(s)[0] in dead]:
            self._slots.remove(slot)
            self._ray.kill(slot.actor)

    def _node_and_pid(self, slot: _Slot) -> tuple[str, int]:
        ready, _ = self._ray.wait([slot.where], timeout=0)
        if ready:
            with contextlib.suppress(self._ray.exceptions.RayError):
                node_id, pid, _type = self._ray.get(slot.where)
                return str(node_id), int(pid)
        return "", 0

    def trial_resources(self, trial_id: int) -> tuple[dict[str, float], str | None]:
        """What a running trial holds (its CPUs, GPUs and custom resources) and the type of the node it
        runs on (the node's `ray.io/node-group` label; None when Ray was not told it): what it costs."""
        held = {"cpu": self.cpu, "gpu": self.gpu, **self.custom}
        slot = self._running(trial_id)
        if slot is None:
            return held, None
        with contextlib.suppress(self._ray.exceptions.RayError):
            return held, self._ray.get(slot.where, timeout=10)[2]  # placed: its trial reported
        return held, None

    # The Executor contract.
    def start(self, fn: Callable[[Config], Any]) -> None:
        if self._capacity is None:
            self._connect()
        fn_bytes = _pickle.dumps(fn)
        fn_key = hashlib.sha1(fn_bytes).hexdigest()
        if fn_key == self._fn_key:
            return
        self._fn_key, self._fn_ref = fn_key, self._ray.put(fn_bytes)
        # Actors start (and load the objective) while the driver prepares.
        while len(self._slots) < self.capacity:
            actor = self._host_class.remote(list(sys.path))
            self._slots.append(_Slot(actor, actor.where.remote()))
        for slot in self._slots:
            if slot.job is None:
                slot.actor.load.remote(fn_key, self._fn_ref)
                slot.fn_key = fn_key

    def submit(self, job: Job) -> None:
        if sum(1 for s in self._slots if s.job is not None) + len(self._queue) >= self.capacity:
            raise RuntimeError("submit() with no free slot")
        # A trial goes only to an actor Ray has placed: one that waits for resources (held by another
        # job on a shared cluster, or on a lost node) would hold the trial while others sit idle.
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        """Begin queued trials on idle actors that Ray has placed, oldest trial first; start actors
        so that every trial, running or queued, has one (one that died before it started is replaced)."""
        if not self._queue:
            return
        while len(self._slots) < sum(1 for s in self._slots if s.job is not None) + len(self._queue):
            actor = self._host_class.remote(list(sys.path))
            self._slots.append(_Slot(actor, actor.where.remote()))
        unplaced = [s for s in self._slots if not s.placed]
        if unplaced:
            ready, _ = self._ray.wait([s.where for s in unplaced], num_returns=len(unplaced), timeout=0)
            for slot in unplaced:
                slot.placed = slot.where in ready
        for slot in self._slots:
            if not self._queue:
                return
            if slot.placed and slot.job is None:
                self._begin(slot, self._queue.pop(0))

    def _begin(self, slot: _Slot, job: Job) -> None:
        fn_ref = None if slot.fn_key == self._fn_key else self._fn_ref
        slot.fn_key, slot.job, slot.stopping, slot.told_to_end = self._fn_key, job, False, False
        slot.pending = slot.actor.begin.remote(job, self._fn_key, fn_ref)

    def poll(self, timeout: float | None) -> list[Event]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            events, placed = self._poll_once(timeout)
            if events or not placed:
                return events
            # Only an actor was placed (its queued trial began): wait on for events, within the timeout.
            if deadline is not None:
                timeout = max(0.0, deadline - time.monotonic())

    def _poll_once(self, timeout: float | None) -> tuple[list[Event], bool]:
        """The events ready within `timeout`, and whether an actor was placed meanwhile."""
        self._dispatch()
        events, self._ready = self._ready, []
        waiting = {slot.pending: slot for slot in self._slots if slot.pending is not None}
        # While trials wait for an actor, wake up as soon as one is placed too.
        starting = {s.where: s for s in self._slots if not s.placed} if self._queue else {}
        if not waiting and not starting:
            return events, False
        refs = [*waiting, *starting]
        wait_for = 0 if events else timeout
        # As few calls as can be: through Ray Client each one is a network round trip (2-3 ms on loopback).
        if len(refs) == 1:
            received = self._get(refs, wait_for)
        else:
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=wait_for)
            if ready:  # and all that are ready by now, in slot order
                ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
            received = self._get(ready, None) if ready else []
        placed = False
        for ref, message in received:
            if ref in waiting:
                events.append(self._receive(waiting[ref], message))
            elif isinstance(message, self._ray.exceptions.RayError):  # it died before it started
                self._slots.remove(starting[ref])
                self._ray.kill(starting[ref].actor)
            else:
                starting[ref].placed = placed = True
        self._dispatch()
        return events, placed

    def _get(self, refs: list[Any], timeout: float | None) -> list[tuple[Any, Any]]:
        """Each ref with its value, or with the RayError it raised (its actor died); [] if `timeout` passed first."""
        errors = self._ray.exceptions
        try:
            return list(zip(refs, self._ray.get(refs, timeout=timeout), strict=True))
        except errors.GetTimeoutError:
            return []
        except errors.RayError as exc:
            if len(refs) == 1:
                return [(refs[0], exc)]
            return [pair for ref in refs for pair in self._get([ref], None)]

    def _receive(self, slot: _Slot, message: Any) -> Event:
        slot.pending, job = None, slot.job
        assert job is not None
        if isinstance(message, self._ray.exceptions.RayError):
            return self._died(slot, job, message)
        if message[-1] and job.log_path is not None:
            Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
            with open(job.log_path, "ab") as f:
                f.write(message[-1])
        if slot.killed:  # sent just before stop() ended the actor: the trial's last event
            self._slots.remove(slot)
            if message[0] == "result":
                self._ready.append(Ended(job.trial_id, "interrupted"))
        if message[0] == "result":
            return Reported(job.trial_id, message[1], message[2])
        slot.job = None
        return Ended(job.trial_id, message[1], message[2])

    def _died(self, slot: _Slot, job: Job, exc: BaseException) -> Ended:
        self._slots.remove(slot)
        self._ray.kill(slot.actor)
        if slot.stopping:
            return Ended(job.trial_id, "interrupted")
        node_id, pid = self._node_and_pid(slot)
        # Its node may be gone: count again what fits, so that no trial waits for resources that
        # no longer exist, and drop the idle actors that were there.
        self._refit()
        ips = [n["NodeManagerAddress"] for n in self._ray.nodes() if n["NodeID"] == node_id]
        where = f"pid {pid} on node {ips[0]} {node_id[:8]}" if ips else "on an unknown node"
        return Ended(job.trial_id, "error", f"the Ray actor running trial {job.trial_id} ({where}) died: {exc}")

    def reply(self, trial_id: int, decision: Decision) -> None:
        slot = self._running(trial_id)
        if slot is not None and not slot.stopping and slot.pending is None:
            slot.pending = slot.actor.answer.remote(decision.value)
            slot.told_to_end = decision in (Decision.STOP, Decision.PAUSE)

    def stop(self, trial_id: int) -> None:
        queued = next((job for job in self._queue if job.trial_id == trial_id), None)
        if queued is not None:  # it never started
            self._queue.remove(queued)
            self._ready.append(Ended(trial_id, "interrupted"))
            return
        slot = self._running(trial_id)
        if slot is None or slot.killed:
            return
        if slot.pending is None and (slot.stopping or slot.told_to_end):
            # Told to end, it reported again (it caught rung's TrialInterrupt): end its actor, as the
            # process executor ends its worker; nothing more will come from it.
            slot.killed = True
            self._slots.remove(slot)
            self._ray.kill(slot.actor)
            assert slot.job is not None
            self._ready.append(Ended(slot.job.trial_id, "interrupted"))
            return
        if slot.stopping:
            return
        slot.stopping = True
        if slot.pending is None:
            # It waits for an answer: STOP ends it cleanly and keeps the actor for the next trial.
            slot.pending = slot.actor.answer.remote(Decision.STOP.value)
        else:
            # It is computing: end its actor, as the process executor ends its worker.
            slot.killed = True
            self._ray.kill(slot.actor)

    def _running(self, trial_id: int) -> _Slot | None:
        return next((s for s in self._slots if s.job is not None and s.job.trial_id == trial_id), None)

    def shutdown(self) -> None:
        for slot in self._slots:
            self._ray.kill(slot.actor)
        self._slots, self._ready, self._queue, self._fn_key, self._fn_ref = [], [], [], "", None
        if self._owns_connection:
            self._ray.shutdown()
            self._owns_connection, self._capacity = False, None


def _has_local_path(value: Any) -> bool:
    """Whether a runtime_env `working_dir` / `py_modules` entry names a local path (not a URI)."""
    items = value if isinstance(value, list | tuple) else [] if value is None else [value]
    return any(not (isinstance(item, str) and "://" in item) for item in items)


def _custom(name: str) -> bool:
    """Whether a node resource is a custom one (not CPU/GPU/memory, nor one of Ray's node markers)."""
    return name not in ("CPU", "GPU", "memory", "object_store_memory") and not name.startswith(
        ("node:", "accelerator_type:")
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _describe(cpu: float, gpu: float, custom: Mapping[str, float]) -> str:
    extra = ", ".join(f"{k!r}: {_number(v)}" for k, v in sorted(custom.items()))
    return f"cpu={_number(cpu)}, gpu={_number(gpu)}, resources={{{extra}}}"


def _parse_resources(spec: Mapping[str, Any] | None) -> tuple[float, float, dict[str, float]]:
    if spec is None:
        return 1.0, 0.0, {}
    if not isinstance(spec, Mapping):
        raise ResourceError(f"resources must be a dict like {{'cpu': 1, 'gpu': 0, 'resources': {{}}}}; got {spec!r}")
    unknown = sorted(set(spec) - {"cpu", "gpu", "resources"})
    if unknown:
        raise ResourceError(f"resources has unknown keys {unknown}; known keys: 'cpu', 'gpu', 'resources'")
    base = Resources.parse({k: v for k, v in spec.items() if k in ("cpu", "gpu")})
    custom = spec.get("resources", {})
    if not isinstance(custom, Mapping):
        raise ResourceError(f"resources['resources'] must be a dict of Ray custom resources; got {custom!r}")
    parsed: dict[str, float] = {}
    for name, value in custom.items():
        if not isinstance(name, str) or not name or not _custom(name):
            raise ResourceError(
                f"resources['resources'] takes Ray custom resource names (use 'cpu' and 'gpu' for those); got {name!r}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ResourceError(f"resources['resources'][{name!r}] must be a number > 0; got {value!r}")
        parsed[name] = float(value)
    return base.cpu, base.gpu, parsed
