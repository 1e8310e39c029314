"""Worker processes forked from one preloaded process, the zygote (Linux): many workers start at once.

A worker started as a new interpreter (`python -m rung.executors._worker`) spends 0.15-0.2 s of CPU
before its first trial (Python's start-up, the site packages' `.pth` files, rung's modules), and an
objective that imports rung and numpy 0.1-0.2 s more: 64 workers on 2 cores left the slots idle for
the first 2.7-4 s of a run (`python -m bench sleep-scale`). Instead the driver starts one process, the
zygote, which imports rung (and numpy, when that starts no thread: `OMP_NUM_THREADS=1`) once and forks
a worker per request: about 15 ms of CPU per worker (its two forks, the pages they copy), and the
forked workers share the rest.

Safe to fork, by construction: the zygote runs no user code (each worker unpickles the objective and
imports its modules itself, as before, so what they do at import happens per worker), holds no lock
another thread could hold, and forks only while it has one thread, which it checks before every fork
(`/proc/self/task`). A forked worker gets its own session, the environment the driver sends (its
slot's `CUDA_VISIBLE_DEVICES`), and fresh seeds for `random` (Python's own after-fork hook) and
numpy's global generator, as a new interpreter would have.

The driver and the zygote talk over a socket pair (`SOCK_SEQPACKET`, a message per request, JSON):
`["spawn", env]` with the worker's end of its socket pair to the driver (passed as a file descriptor)
is answered by `["spawned", pid]` with a pidfd of the worker (`["refused", why]`: the driver starts
that worker as a new interpreter); `["reap", pid]` of a worker that has exited (its pidfd is readable)
by `["reaped", pid, wait_status]`. The zygote answers in order. The driver does not wait for the
answers to its first requests (`Spawning`): its first answer comes only after the zygote's imports
(0.2 s of CPU), time in which the driver opens the store and proposes the first trials. The zygote
keeps an exited worker as a zombie until the driver reaps it, so the pid the driver signals (through
the pidfd) and the process group it may kill are never another process's: a `Forked` worker is
handled as a `subprocess.Popen` child is.

When the driver dies, the kernel kills the zygote (`PR_SET_PDEATHSIG`), whose death the workers'
supervisors are told of (`_procs.split_worker`: SIGTERM, they end their runners and what those
started); a worker whose driver is gone reads EOF from it and quits, as before.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import traceback
from typing import Any

from rung.executors import _procs

__all__ = ["AVAILABLE", "Forked", "Spawning", "Zygote"]

AVAILABLE = (
    _procs.LINUX
    and hasattr(os, "pidfd_open")
    and hasattr(signal, "pidfd_send_signal")
    and hasattr(socket, "send_fds")
    and hasattr(socket, "SOCK_SEQPACKET")
)
"""Whether workers can be forked by a zygote here (Linux >= 5.3 with Python's pidfd calls)."""

REPLY_TIMEOUT_S = 120.0
"""How long the driver waits for the zygote's answer (its first one waits for its imports) before it
gives up on it and starts workers as new interpreters."""

_MESSAGE_BYTES = 1 << 20  # a request holds the worker's environment


class Zygote:
    """The driver's side: starts the zygote, asks it for workers, reaps them through it.

    Args:
        env: the zygote's environment: the workers' common one (`OMP_NUM_THREADS` is read once, when
            numpy loads), with `RUNG_SYS_PATH` and `RUNG_DRIVER_PID` as a worker's.
    """

    def __init__(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._popen: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "rung.executors._zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal reaches the driver alone, as for workers
            )
        finally:
            theirs.close()
        ours.settimeout(REPLY_TIMEOUT_S)
        self._sock: socket.socket | None = ours
        self._unread: list[Spawning] = []  # spawns asked, not answered yet (answers come in order)

    @property
    def alive(self) -> bool:
        """False once it failed (a refused or unanswered request, or its end): workers start as new interpreters."""
        return self._sock is not None

    def _send(self, requests: list[tuple[list[Any], list[int]]]) -> bool:
        """Send every request (answered later, in order, by `_read`); False if the zygote is gone."""
        if self._sock is None:
            return False
        try:
            for request, fds in requests:
                socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
        except OSError:
            self.close()
            return False
        return True

    def _read(self, n: int) -> list[tuple[list[Any], list[int]]] | None:
        """The next `n` answers; None if they do not all come (the zygote is then closed)."""
        answers: list[tuple[list[Any], list[int]]] = []
        try:
            while self._sock is not None and len(answers) < n:
                data, got, _, _ = socket.recv_fds(self._sock, _MESSAGE_BYTES, 1)
                if not data:
                    break
                answers.append((json.loads(data), got))
        except OSError:  # gone, or no answer in time (TimeoutError is an OSError)
            pass
        if len(answers) < n:
            for _, got in answers:
                for fd in got:
                    os.close(fd)
            self.close()
            return None
        return answers

    def _ask(self, requests: list[tuple[list[Any], list[int]]]) -> list[tuple[list[Any], list[int]]] | None:
        """Send every request, then read every answer: a batch costs the two processes a wake-up or
        two, not one per request. Spawns still unanswered are answered first."""
        while self._unread:
            self._unread[0].result()
        return self._read(len(requests)) if self._send(requests) else None

    def spawn(self, envs: list[dict[str, str]], fds: list[int]) -> Spawning:
        """Ask for workers forked with environments `envs`, each given its `fds` entry (its end of the
        driver's socket pair, which the caller keeps open until `result()`); answered by `result()`."""
        spawning = Spawning(self, len(envs))
        if self._send([(["spawn", env], [fd]) for env, fd in zip(envs, fds, strict=True)]):
            self._unread.append(spawning)
        else:
            spawning.forked = [None] * len(envs)
        return spawning

    def _answer(self, spawning: Spawning) -> None:
        """Read the answers to `spawning` (and to every spawn asked before it)."""
        while spawning in self._unread:
            first = self._unread.pop(0)
            answers = self._read(first.n)
            if answers is None:  # the zygote is closed now, which answers the later spawns alike
                first.forked = [None] * first.n
                return
            forked: list[Forked | None] = []
            for reply, got in answers:
                if reply[0] == "spawned" and len(got) == 1:
                    forked.append(Forked(self, int(reply[1]), got[0]))
                    continue
                for extra in got:
                    os.close(extra)
                forked.append(None)
            first.forked = forked
            if None in forked:
                self.close()  # it will not fork (threads): none of the later workers either

    def reap(self, pid: int) -> int | None:
        """Reap worker `pid`, which has exited; its wait status, None if the zygote is gone."""
        answers = self._ask([(["reap", pid], [])])
        return None if answers is None else int(answers[0][0][2])

    def close(self) -> None:
        """End the zygote; workers not reaped yet go to init.

        Killed, not left to exit when its socket closes: it holds nothing to save (it runs no user
        code and writes nothing), and its interpreter's teardown took 40 ms of the run's end.
        """
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for spawning in self._unread:  # never answered now: the caller starts those workers another way
            spawning.forked = [None] * spawning.n
        self._unread.clear()
        if self._popen is not None:
            self._popen.kill()
            self._popen.wait()
            self._popen = None


class Spawning:
    """Workers the zygote was asked for: `result()` waits for its answers (the first ones come after
    its imports), a `Forked` per worker, or None for each it could not fork."""

    def __init__(self, zygote: Zygote, n: int) -> None:
        self.n = n
        self.forked: list[Forked | None] | None = None
        self._zygote = zygote

    def result(self) -> list[Forked | None]:
        if self.forked is None:
            self._zygote._answer(self)
        assert self.forked is not None
        return self.forked


class Forked:
    """A worker forked by the zygote, handled as `subprocess.Popen` handles a child (`poll`, `wait`,
    `send_signal`, `kill`, `pid`, `returncode`), through its pidfd and the zygote."""

    def __init__(self, zygote: Zygote, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._zygote = zygote
        self._pidfd = pidfd
        self._poller = select.poll()
        self._poller.register(pidfd, select.POLLIN)  # readable once the process has exited

    def _exited(self, timeout: float | None) -> bool:
        return bool(self._poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def _reaped(self) -> int:
        status = self._zygote.reap(self.pid)
        os.close(self._pidfd)
        # A zygote that died before answering (killed): the status is lost; say it exited with 1.
        self.returncode = 1 if status is None else os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        """The exit code if the worker has exited (negative: the signal that ended it), else None."""
        if self.returncode is None and self._exited(0):
            return self._reaped()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the worker to exit; raises `subprocess.TimeoutExpired` after `timeout` seconds."""
        if self.returncode is not None:
            return self.returncode
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
        return self._reaped()

    def send_signal(self, signum: int) -> None:
        """Signal the worker (nothing once it is reaped; its pid may be another's by then)."""
        if self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


# The zygote process.
def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: not safe to fork


def _reseed() -> None:
    """A fresh seed for numpy's global generator in a forked worker, as a new interpreter draws one
    (Python reseeds `random` itself after a fork). The zygote does not load `numpy.random` today:
    this keeps workers apart should a preloaded module ever load it."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _fork(env: dict[str, str], fd: int, control: socket.socket) -> tuple[list[Any], list[int]]:
    if _threads() != 1:
        return ["refused", f"the zygote has {_threads()} threads"], []
    pid = os.fork()
    if pid:
        return ["spawned", pid], [os.pidfd_open(pid)]
    code = 1
    try:
        control.close()
        os.setsid()  # its own session and group, as `start_new_session` gives a new interpreter
        os.environ.clear()
        os.environ.update(env)
        _reseed()
        from rung.executors import _worker

        _worker.main(["", str(fd)])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _serve(control: socket.socket) -> None:
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, _MESSAGE_BYTES, 1)
        except OSError:
            return
        if not data:  # the driver closed its end, or died
            return
        request = json.loads(data)
        give: list[int] = []
        if request[0] == "spawn" and len(fds) == 1:
            reply, give = _fork(request[1], fds[0], control)
        elif request[0] == "reap":
            try:
                _, status = os.waitpid(int(request[1]), 0)
            except ChildProcessError:
                status = 1 << 8  # not ours (never, but answer): "exited with code 1"
            reply = ["reaped", request[1], status]
        else:
            reply = ["refused", f"cannot {request[0]!r}"]
        for fd in fds:
            os.close(fd)
        try:
            socket.send_fds(control, [json.dumps(reply).encode()], give)
        except OSError:
            return
        finally:
            for fd in give:
                os.close(fd)


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    # Dies with the driver; a driver gone before this line would not be noticed: checked after it.
    _procs.die_with_parent(signal.SIGKILL)
    if str(os.getppid()) != os.environ.get("RUNG_DRIVER_PID"):
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for entry in reversed(json.loads(os.environ.get("RUNG_SYS_PATH", "[]"))):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # What every worker imports (the worker's loop, and rung, which an objective that reports
    # imports); numpy, and rung's spaces (an objective's module may define its space), only where
    # numpy starts no thread (OpenBLAS starts one unless told 1).
    import rung
    import rung.executors._worker

    if os.environ.get("OMP_NUM_THREADS") == "1":
        with contextlib.suppress(ImportError):
            import numpy  # noqa: F401

            import rung.space  # noqa: F401
    # What it imported is never freed: out of the collector's sight, a forked worker's collections
    # do not touch (and so copy) those pages.
    gc.freeze()
    _serve(control)


if __name__ == "__main__":
    main(sys.argv)
