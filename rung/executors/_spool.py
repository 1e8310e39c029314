"""A worker's output file, shared by its trials: a trial's folder and log file are made only when it
prints (Linux, supervised workers).

Creating `trials/<id>/` and its `log.txt` for every trial cost a worker 0.15-0.75 ms of CPU per trial
(2 ms of wall time on a busy disk), and a 100,000-trial experiment 100,000 folders, most of them
holding an empty file. Instead each worker points stdout and stderr (file descriptors 1 and 2, so the
processes a trial starts write there too) at one file of its own, `trials/.output.tmp-<pid>`. When the
trial ends and what it started has been killed, the file is renamed to the trial's `log.txt` if the
trial wrote anything (appended to it, for a trial that resumes), and otherwise used again.

What a trial printed is on disk as it prints, as before. If the worker dies mid-trial (a signal, the
out-of-memory killer, the driver's death), its supervisor (`_procs.split_worker`), which outlives it,
moves the file to the trial's log: it reads which trial was running from memory shared with the
worker (`publish`), since it runs no trial code and keeps no state of its own.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys

__all__ = ["Spool", "deliver"]

_SHARED_BYTES = 16384  # two paths; Linux paths are at most 4096 bytes
_HEADER = struct.Struct("<I")
_PREFIX = ".output.tmp-"  # named like rung's other temporaries: a leftover one is found (testing/crash)


class Spool:
    """The output file of one worker process, and what its supervisor needs to know of it.

    Made before the worker forks its supervisor (`_procs.split_worker`), so that both see the same
    shared memory; then `start`, `stop`, `finish` for each trial in the worker, `rescue` in the
    supervisor once the worker is gone.
    """

    def __init__(self) -> None:
        self._shared = mmap.mmap(-1, _SHARED_BYTES)  # anonymous and shared: the forked supervisor sees it
        self._fd = -1
        self._path = ""
        self._log = ""
        self._saved: list[int] = []

    def start(self, log_path: str) -> None:
        """Point fds 1 and 2 at the worker's output file (made if need be) for the trial logging to
        `log_path`. Raises OSError when the file cannot be made (no space, no permission)."""
        folder = os.path.dirname(os.path.dirname(log_path))  # <experiment>/trials
        path = os.path.join(folder, f"{_PREFIX}{os.getpid()}")
        if path != self._path:  # the first trial, or one of another experiment
            self.close()
            os.makedirs(folder, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._path = path
        self._log = log_path
        self._publish()
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._fd, 1)
        os.dup2(self._fd, 2)

    def stop(self) -> None:
        """Give fds 1 and 2 back (the trial's code has returned; what it started may still write)."""
        if not self._saved:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in zip((1, 2), self._saved, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        self._saved = []

    def finish(self) -> None:
        """The trial ended and what it started is dead: its output, if any, becomes its log file."""
        if not self._log:
            return
        log, self._log = self._log, ""
        # Renamed to the log: the next trial needs a new file.
        if os.fstat(self._fd).st_size > 0 and deliver(self._path, log, self._fd):
            os.close(self._fd)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._publish()

    def close(self) -> None:
        """Remove the output file (empty between trials); the worker is done with this experiment."""
        if self._fd >= 0:
            os.close(self._fd)
            with contextlib.suppress(OSError):
                os.unlink(self._path)
        self._fd, self._path, self._log = -1, "", ""
        self._publish()

    def _publish(self) -> None:
        """What the supervisor reads: the output file and the running trial's log ("" between trials).
        The length goes last, so a worker killed while writing leaves a length of 0 or the whole."""
        payload = f"{self._path}\0{self._log}".encode()
        self._shared[: _HEADER.size] = _HEADER.pack(0)
        self._shared[_HEADER.size : _HEADER.size + len(payload)] = payload
        self._shared[: _HEADER.size] = _HEADER.pack(len(payload))

    def rescue(self) -> None:
        """In the supervisor, once the worker has died and its trial's processes with it: the output
        of the trial that was running goes to its log file, and the worker's output file away."""
        (size,) = _HEADER.unpack(self._shared[: _HEADER.size])
        if not 0 < size <= _SHARED_BYTES - _HEADER.size:
            return
        try:
            path, log = self._shared[_HEADER.size : _HEADER.size + size].decode().split("\0")
        except ValueError:
            return
        if not path:
            return
        try:
            if log and os.path.getsize(path) > 0:
                fd = os.open(path, os.O_RDONLY)
                try:
                    deliver(path, log, fd)
                finally:
                    os.close(fd)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)


def deliver(path: str, log: str, fd: int) -> bool:
    """Move the output in file `path` (open as `fd`) to the log file `log`: renamed to it if there is
    none yet (True), else appended to it and `path` emptied (a trial that resumes appends, as before)."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if not os.path.exists(log):
        os.rename(path, log)
        return True
    with open(log, "ab") as out:
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            out.write(chunk)
            offset += len(chunk)
    os.ftruncate(fd, 0)
    return False
