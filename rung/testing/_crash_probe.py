"""The crash harness's hands inside the runs it kills: what the driver and the trials record, and the kills.

`rung.testing.crash` starts each run of an experiment as `python -m rung.testing._crash_probe SETUP
STORAGE NAME SEED` with the environment below. This module then

- runs the setup's `rung.run(...)` on one worker process (seeded, `resume=True`), its objective
  wrapped in `Probed`: each time a `report()` returns in a trial, the trial appends
  "trial iteration" to the acks file (the result is acknowledged: it must never be lost nor reported
  again), and records its worker's process tree (pid and start time of each process);
- kills the driver with SIGKILL at the point `RUNG_CRASH_KILL` names, after recording the driver's
  whole process tree (every process in it must be gone soon after).

Kill points (`kind:trial:iteration`, at the result of that trial and iteration):
    report:T:I            in the trial, once its report() of the result has returned
    commit:T:I            in the driver, right after the COMMIT that stores the result, before it
                          answers the waiting trial
    before-commit:T:I     in the driver, right before that COMMIT (the turn's rows are in memory)
    checkpoint-write:T:I  in the driver, inside the write of the result's checkpoint file: the
                          temporary file is written, not yet renamed (`writes` logs each such write)
    start                 in the driver, right after its first COMMIT (the replay's writes, if it resumed)
(`time:S`, S seconds after the driver started, is the harness's own: it sends that SIGKILL.)

Process records are Linux-only (read from /proc); elsewhere they are empty.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rung.types import Config, Decision

__all__ = ["DIR_ENV", "DRIVER_ENV", "KILL_ENV", "Probed", "descendants", "identity", "load_setup", "main"]

DIR_ENV = "RUNG_CRASH_DIR"
"""The folder of the records: `acks` (a "trial iteration" line per returned report), `procs` (a "pid
start-time" line per process seen) and `writes` (a "trial iteration" line per checkpoint file written)."""
KILL_ENV = "RUNG_CRASH_KILL"
"""Where to kill this run's driver (`kind:trial:iteration` or `start`, see the module docstring); unset: no kill."""
DRIVER_ENV = "RUNG_CRASH_DRIVER"
"""The driver's pid, set by the driver for the trials (the thread executor's trials run inside it)."""

ACKS, PROCS, WRITES = "acks", "procs", "writes"
DRIVER_KILLS = ("commit", "before-commit", "checkpoint-write", "start")


def identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time in clock ticks since boot) of a live process, or None if it is gone or a zombie.

    The start time tells a process from a later one given the same pid.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
    if fields[0] in (b"Z", b"X"):  # exited; only the pid is left, for its parent to collect
        return None
    return pid, int(fields[19])


def _children(pid: int) -> Iterator[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                yield from (int(child) for child in f.read().split())
        except OSError:
            continue


def descendants(pid: int) -> list[tuple[int, int]]:
    """The identities of `pid` and every live process below it (Linux; empty elsewhere)."""
    found: list[tuple[int, int]] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        ident = identity(current)
        if ident is None:
            continue
        found.append(ident)
        todo.extend(_children(current))
    return found


def _append(name: str, lines: list[str]) -> None:
    """Append whole lines with one write(): the writer may be killed at any moment, and a single
    O_APPEND write of a few bytes is never torn, so no reader sees half a record."""
    folder = os.environ.get(DIR_ENV)
    if folder is None or not lines:
        return
    fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, "".join(f"{line}\n" for line in lines).encode())
    finally:
        os.close(fd)


def _record_tree(pid: int) -> None:
    _append(PROCS, [f"{p} {start}" for p, start in descendants(pid)])


def _kill_point() -> tuple[str, int, int] | None:
    """(kind, trial, iteration) from `KILL_ENV`; None if unset."""
    value = os.environ.get(KILL_ENV)
    if not value:
        return None
    kind, trial, iteration = ([*value.split(":"), "0", "0"])[:3]
    return kind, int(trial), int(iteration)


def _die(pid: int) -> None:
    """SIGKILL `pid` (the driver), having recorded its process tree: all of it must be gone soon."""
    _record_tree(pid)
    os.kill(pid, signal.SIGKILL)


class _AckChannel:
    """Wraps a trial's channel: once the driver's answer is back, the result is acknowledged."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def report(self, trial_id: int, result: dict[str, Any], checkpoint: bytes | None) -> Decision:
        decision: Decision = self.inner.report(trial_id, result, checkpoint)
        # Any answer (CONTINUE, PAUSE, STOP) means the driver committed the result.
        _append(ACKS, [f"{trial_id} {int(result['training_iteration'])}"])
        _record_tree(os.getpid())
        if _kill_point() == ("report", trial_id, int(result["training_iteration"])):
            _die(int(os.environ[DRIVER_ENV]))
        return decision


class Probed:
    """An objective wrapped so that its trials record their acknowledged reports and processes.

    Works with any objective: it changes nothing the objective sees. Picklable when `fn` is.
    """

    def __init__(self, fn: Callable[[Config], Any]) -> None:
        self.fn = fn

    def __call__(self, config: Config) -> Any:
        from rung import session

        current = session._current.get()
        if current is not None and not isinstance(current._channel, _AckChannel):
            current._channel = _AckChannel(current._channel)
        _record_tree(os.getpid())
        return self.fn(config)


_CHECKPOINT_TEMPORARY = re.compile(r"\.checkpoint-(\d+)(?:-\d+)?\.pkl\.tmp-\d+")
"""A checkpoint file's temporary name (`rung.store.checkpoints`), in `trials/<trial id>/`: the iteration."""


def _checkpoint_of(src: Any) -> tuple[int, int] | None:
    """(trial, iteration) of the checkpoint file whose temporary file `src` is; None for other files."""
    path = os.fspath(src)
    match = _CHECKPOINT_TEMPORARY.fullmatch(os.path.basename(path))
    folder = os.path.basename(os.path.dirname(path))
    if match is None or not folder.isdigit():
        return None
    return int(folder), int(match[1])


class _DriverHooks:
    """The driver's side: logs its checkpoint file writes, and dies at the kill point if it is its own.

    Installed over `Store.add_result`, `Store.commit` and `os.replace` (the rename that completes a
    checkpoint file's write, in whichever thread writes it) in the driver process only.
    """

    def __init__(self, kill: tuple[str, int, int] | None) -> None:
        self.kill = kill
        self.armed = False  # the kill's result is in this turn: die at its commit
        self.commits = 0

    def install(self) -> None:
        from rung.store.sqlite import Store

        add_result, commit = Store.add_result, Store.commit
        hooks = self

        def logged_add_result(store: Store, trial_id: int, result: Any, *args: Any, **kwargs: Any) -> None:
            add_result(store, trial_id, result, *args, **kwargs)
            if hooks.kill is not None and hooks.kill[1:] == (trial_id, int(result["training_iteration"])):
                hooks.armed = True

        def killing_commit(store: Store) -> None:
            kind = None if hooks.kill is None else hooks.kill[0]
            if kind == "before-commit" and hooks.armed:
                _die(os.getpid())
            commit(store)
            hooks.commits += 1
            if (kind == "commit" and hooks.armed) or (kind == "start" and hooks.commits == 1):
                _die(os.getpid())

        Store.add_result = logged_add_result  # type: ignore[method-assign,assignment]
        Store.commit = killing_commit  # type: ignore[method-assign,assignment]
        for name in ("replace", "rename"):
            setattr(os, name, self._move(getattr(os, name)))

    def _move(self, move: Callable[..., None]) -> Callable[..., None]:
        def moved(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            written = _checkpoint_of(src)
            if written is not None:
                # The temporary file of a checkpoint is written; its rename would complete it.
                if self.kill is not None and self.kill == ("checkpoint-write", *written):
                    _die(os.getpid())
                _append(WRITES, [f"{written[0]} {written[1]}"])
            move(src, dst, *args, **kwargs)

        return moved


def load_setup(spec: str) -> Callable[[int], dict[str, Any]]:
    """The setup function named "module:function" (see `rung.testing.crash.check`)."""
    module, _, function = spec.partition(":")
    if not module or not function:
        raise ValueError(f"setup must name a function as 'module:function'; got {spec!r}")
    found: Callable[[int], dict[str, Any]] = getattr(importlib.import_module(module), function)
    return found


def main(argv: list[str]) -> None:
    """`python -m rung.testing._crash_probe SETUP STORAGE NAME SEED`: one run (or resume) of the experiment."""
    import rung

    setup, storage, name, seed = argv
    os.environ[DRIVER_ENV] = str(os.getpid())  # inherited by the workers
    point = _kill_point()
    _DriverHooks(point if point is not None and point[0] in DRIVER_KILLS else None).install()
    kwargs = load_setup(setup)(int(seed))
    fn = kwargs.pop("fn")
    Path(storage).mkdir(parents=True, exist_ok=True)
    rung.run(
        Probed(fn),
        **kwargs,
        name=name,
        storage=storage,
        resume=True,
        seed=int(seed),
        max_concurrent=1,
        executor="process",
        verbose=0,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
