"""The default executor: long-lived worker processes, one trial at a time each.

Workers start once per run, so a trial costs a message, not an interpreter start. Each worker owns a
slot: its CPU share (`OMP_NUM_THREADS`) and GPUs (`CUDA_VISIBLE_DEVICES`) are fixed when it starts.
A worker that dies (a signal, `os._exit`, an out-of-memory kill) ends its trial as a failure and is
replaced at the next submit. On Linux the workers are forked by a preloaded process (`_zygote.py`),
so that many start in a fraction of a second; elsewhere each is a new interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rung import _pickle
from rung.executors import _procs, _zygote
from rung.executors.base import Ended, Event, Executor, Reported
from rung.session import Job
from rung.types import Config, Decision

__all__ = ["ProcessExecutor"]

REAP_TIMEOUT_S = 30.0
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PLAIN = (str, int, float, bool, type(None), bytes)


def _plain(value: object, depth: int = 0) -> bool:
    """Whether `value` holds only what plain pickle sends as is (numbers, strings, and lists, tuples
    and dicts of them); anything else (a class of the driver's script, a lambda) goes by cloudpickle."""
    if type(value) in _PLAIN:
        return True
    if depth > 8:
        return False
    if type(value) in (list, tuple):
        return all(_plain(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


class _Later:
    """A worker the zygote is forking, handled as its process (`Popen` or `Forked`) once it is known.

    The driver does not wait for the zygote when it asks for workers: the zygote's first answer
    comes after its imports (0.2 s of CPU; twice that in wall time on a loaded machine), time in which
    the driver opens the store and proposes the first trials. The answer is read at the first use
    (the first `submit` to the slot polls its worker); a worker the zygote does not fork starts
    then as a new interpreter, on the driver's end of the socket pair kept open until then (what the
    driver sent to the worker waits in the socket for whichever process reads it).
    """

    def __init__(self, spawning: _zygote.Spawning, index: int, env: dict[str, str], theirs: socket.socket) -> None:
        self._spawning, self._index, self._env, self._theirs = spawning, index, env, theirs
        self._popen: subprocess.Popen[bytes] | _zygote.Forked | None = None

    def get(self) -> subprocess.Popen[bytes] | _zygote.Forked:
        if self._popen is None:
            child = self._spawning.result()[self._index]
            self._popen = child if child is not None else ProcessExecutor._start(self._env, self._theirs)
            self._theirs.close()
        return self._popen

    @property
    def pid(self) -> int:
        return self.get().pid

    @property
    def returncode(self) -> int | None:
        return self.get().returncode

    def poll(self) -> int | None:
        return self.get().poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.get().wait(timeout)

    def send_signal(self, signum: int) -> None:
        self.get().send_signal(signum)

    def kill(self) -> None:
        self.get().kill()


_Process = subprocess.Popen[bytes] | _zygote.Forked | _Later


@dataclass
class _Worker:
    popen: _Process
    conn: Connection
    env: dict[str, str]
    trial_id: int | None = None
    has_fn: bool = False
    stopping: bool = False


class ProcessExecutor(Executor):
    """Runs trials in `capacity` worker processes.

    Args:
        capacity: number of worker processes (slots).
        cpus_per_trial: sets `OMP_NUM_THREADS` in each worker (unless already set).
        gpus: per slot, the GPU ids its trials see through `CUDA_VISIBLE_DEVICES`; None leaves it alone.

    Example:
        >>> rung.run(train, space, metric="acc", mode="max", executor="process")  # doctest: +SKIP
    """

    def __init__(self, capacity: int, cpus_per_trial: float = 1.0, gpus: Sequence[Sequence[str]] | None = None) -> None:
        self.capacity = capacity
        self._envs = []
        for slot in range(capacity):
            env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, int(cpus_per_trial))))}
            if gpus is not None:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[slot])
            self._envs.append(env)
        self._workers: list[_Worker | None] = [None] * capacity
        # The busy workers, by trial and in a selector that lives as long as the executor: per event
        # the driver's cost does not grow with the number of slots (a `wait()` over every busy
        # worker's connection built a selector per poll; 64 slots cost 0.2 ms per poll).
        self._running: dict[int, _Worker] = {}
        self._selector = selectors.DefaultSelector()
        self._fn_bytes = b""
        self._fn_key = ""
        self._zygote: _zygote.Zygote | None = None

    def start(self, fn: Callable[[Config], Any]) -> None:
        try:
            fn_bytes = _pickle.dumps(fn)
        except Exception as exc:
            raise TypeError(
                f"the objective cannot be sent to worker processes ({type(exc).__name__}: {exc}); create what it"
                " holds (locks, clients, open files) inside it, or pass executor='thread'"
            ) from exc
        fn_key = hashlib.sha1(fn_bytes).hexdigest()
        if fn_key == self._fn_key:
            return
        self._fn_bytes, self._fn_key = fn_bytes, fn_key
        missing = [slot for slot in range(self.capacity) if self._workers[slot] is None]
        for slot, new in zip(missing, self._spawn_all(missing), strict=True):
            self._workers[slot] = new
        for worker in self._workers:
            assert worker is not None
            # Workers load the objective (and import its modules) while the driver prepares.
            worker.conn.send(("load", fn_key, fn_bytes))
            worker.has_fn = True

    def prepare(self) -> None:
        """Start the zygote (Linux): its imports (0.2 s of CPU) go on while the run is set up."""
        self._zygote_started()

    def _common_env(self) -> dict[str, str]:
        # RUNG_DRIVER_PID: a trial's parent process is its worker's supervisor (Linux), not the driver.
        return {**os.environ, "RUNG_SYS_PATH": json.dumps(sys.path), "RUNG_DRIVER_PID": str(os.getpid())}

    def _zygote_started(self) -> _zygote.Zygote | None:
        """The zygote, started if it is not yet and can be; None where workers are new interpreters."""
        if self._zygote is None and _zygote.AVAILABLE:
            # Its environment is what every slot shares (OMP_NUM_THREADS is read when numpy loads).
            env = {**self._common_env(), "OMP_NUM_THREADS": self._envs[0]["OMP_NUM_THREADS"]}
            with contextlib.suppress(OSError):  # it cannot start: new interpreters, as elsewhere
                self._zygote = _zygote.Zygote(env)
        return self._zygote if self._zygote is not None and self._zygote.alive else None

    def _spawn(self, slot: int) -> _Worker:
        worker = self._spawn_all([slot])[0]
        worker.popen.poll()  # forked now: a worker the driver holds the other end of could die unseen
        return worker

    def _spawn_all(self, slots: list[int]) -> list[_Worker]:
        """New workers for `slots`: forked by the zygote where it can (Linux), else new interpreters."""
        common = self._common_env()
        envs = [{**common, **self._envs[slot]} for slot in slots]
        pairs = [socket.socketpair() for _ in slots]
        workers = []
        zygote = self._zygote_started()
        if zygote is not None:
            spawning = zygote.spawn(envs, [theirs.fileno() for _, theirs in pairs])
            for i, (slot, env, (ours, theirs)) in enumerate(zip(slots, envs, pairs, strict=True)):
                workers.append(_Worker(_Later(spawning, i, env, theirs), Connection(ours.detach()), self._envs[slot]))
            return workers
        for slot, env, (ours, theirs) in zip(slots, envs, pairs, strict=True):
            popen = self._start(env, theirs)
            theirs.close()
            workers.append(_Worker(popen, Connection(ours.detach()), self._envs[slot]))
        return workers

    @staticmethod
    def _start(env: dict[str, str], theirs: socket.socket) -> subprocess.Popen[bytes]:
        """A worker started as a new interpreter."""
        return subprocess.Popen(
            [sys.executable, "-m", "rung.executors._worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Its own session: Ctrl-C in a terminal reaches only the driver, which decides; and
            # where workers are not supervised (not Linux), killing its group kills what it started.
            start_new_session=True,
        )

    def submit(self, job: Job) -> None:
        # The first free slot; only its worker is checked for life (a busy one that died shows at poll).
        slot = next((i for i, w in enumerate(self._workers) if w is None or w.trial_id is None), None)
        if slot is None:
            raise RuntimeError("submit() with no free slot")
        worker = self._workers[slot]
        if worker is None or worker.popen.poll() is not None:
            if worker is not None:
                worker.conn.close()
            worker = self._workers[slot] = self._spawn(slot)
        worker.trial_id = job.trial_id
        worker.stopping = False
        # Pickled as the objective is (cloudpickle): a config may hold lambdas or classes of the
        # driver's script, which plain pickle cannot send or the worker cannot import. A config of
        # plain values goes by plain pickle (a tenth of the driver's time per trial).
        try:
            content = ("run", job, self._fn_key, None if worker.has_fn else self._fn_bytes)
            message = pickle.dumps(content, _PROTOCOL) if _plain(job.config) else _pickle.dumps(content)
        except Exception as exc:
            worker.trial_id = None
            raise TypeError(
                f"trial {job.trial_id}'s config cannot be sent to a worker process ({type(exc).__name__}: {exc});"
                " keep picklable values in the search space, or pass executor='thread'"
            ) from exc
        self._running[job.trial_id] = worker
        self._selector.register(worker.conn.fileno(), selectors.EVENT_READ, worker)
        worker.conn.send_bytes(message)
        worker.has_fn = True

    def _free(self, worker: _Worker) -> None:
        """The worker's trial ended: it leaves the busy ones."""
        if worker.trial_id is not None:
            self._running.pop(worker.trial_id, None)
            worker.trial_id = None
        with contextlib.suppress(KeyError, ValueError):  # ValueError: its connection is closed
            self._selector.unregister(worker.conn.fileno())

    def poll(self, timeout: float | None) -> list[Event]:
        if not self._running:
            return []
        events: list[Event] = []
        for key, _ in self._selector.select(timeout):
            worker = key.data
            trial_id = worker.trial_id
            assert trial_id is not None
            try:
                message: Any = worker.conn.recv()
            except (EOFError, OSError):
                events.append(self._died(worker, trial_id))
                continue
            except Exception as exc:  # a message the driver cannot unpickle: that trial fails, not the run
                _kill(worker.popen)
                self._died(worker, trial_id)
                error = (
                    f"the driver could not read what trial {trial_id} sent ({type(exc).__name__}: {exc});"
                    " report numbers, strings and plain lists or dicts of them"
                )
                events.append(Ended(trial_id, "error", error))
                continue
            if message[0] == "result":
                events.append(Reported(trial_id, message[2], message[3]))
            else:
                self._free(worker)
                events.append(Ended(trial_id, message[2], message[3]))
        return events

    def _died(self, worker: _Worker, trial_id: int) -> Ended:
        code = _reap(worker.popen)
        self._free(worker)
        worker.conn.close()
        self._workers[self._workers.index(worker)] = None
        if worker.stopping:
            return Ended(trial_id, "interrupted")
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return Ended(trial_id, "error", f"the worker process running trial {trial_id} died: {how}")

    def reply(self, trial_id: int, decision: Decision) -> None:
        worker = self._running.get(trial_id)
        if worker is not None:
            # If the worker died, poll() reports it.
            with contextlib.suppress(OSError):
                worker.conn.send(("answer", decision.value))

    def stop(self, trial_id: int) -> None:
        worker = self._running.get(trial_id)
        if worker is not None and not worker.stopping:
            worker.stopping = True
            _kill(worker.popen)

    def shutdown(self) -> None:
        # Idle workers hold nothing (each trial's log is flushed when it ends), so ending them at
        # once spares the driver their interpreter teardown; busy ones are abandoned the same way.
        for worker in self._workers:
            if worker is not None:
                _kill(worker.popen)
        for worker in self._workers:
            if worker is not None:
                _reap(worker.popen)
                self._free(worker)
                worker.conn.close()
        self._workers = [None] * self.capacity
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None


def _kill(popen: _Process) -> None:
    """End a worker and every process its trial started.

    On Linux, SIGTERM to its supervisor, which kills the runner, its process group and every process
    left below it (daemons too), then exits (`_procs.split_worker`). Elsewhere, SIGKILL to the
    worker's process group: what left the group (setsid, daemons) is not reached.
    """
    if _procs.LINUX:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.kill()


def _reap(popen: _Process) -> int:
    """Wait for a worker that is ending; its exit code (negative: the signal that ended it)."""
    try:
        # A supervisor exits once the processes it kills have died: at once, unless one is stuck in
        # the kernel (uninterruptible I/O); then its group is killed and left to the kernel.
        return popen.wait(timeout=REAP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        return popen.wait()
