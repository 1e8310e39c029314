"""BLAS held to one thread while a searcher works on small matrices (GP fits, TPE densities).

`load_soon` loads what a searcher's first model needs (scipy.special, which TPE's densities use,
and the BLAS libraries' controls) in a thread, so that the first fit does not stop the driver for
it: 0.2 s of CPU, 0.3-0.4 s of wall time on a loaded 2-core machine, in which every trial waited
for its next answer (BENCHMARKS.md, "200 trials x 10 reports x 50 ms with the default");
`import_soon` does the same for other modules (the GP's scipy.optimize and scipy.linalg).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["import_soon", "load_soon", "settle", "single_threaded"]


def _find_libraries() -> tuple[Any, ...]:
    """The BLAS libraries of numpy and scipy (scipy is loaded here if it is not yet: its searchers
    load it when first used, and its library must be in the list)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return ()
    importlib.import_module("scipy.special")
    return tuple(threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers)


class _Loading(threading.Thread):
    """`modules` imported (and, with `find`, the BLAS libraries found) in a thread of their own.

    A daemon: a process that ends (or is interrupted) while it loads does not wait for it. Not a
    daemon, it was waited for at the interpreter's exit, and a Ctrl-C that came while it loaded
    ended the process with status 1 instead of as interrupted by SIGINT (seen in
    tests/test_crash_resume.py; importing a compiled module at exit is what resets Python's note of
    an unhandled KeyboardInterrupt; `settle` closes the rest of that window).
    """

    def __init__(self, name: str, modules: tuple[str, ...], find: bool) -> None:
        super().__init__(name=name, daemon=True)
        self.modules, self.find = modules, find
        self.found: tuple[Any, ...] | None = None

    def run(self) -> None:
        # A failure (an import error, a warning made an error) shows where the modules are
        # needed: the caller imports them (or finds the libraries) again itself.
        with contextlib.suppress(Exception):
            for module in self.modules:
                importlib.import_module(module)
            if self.find:
                self.found = _find_libraries()


def _started(thread: _Loading) -> _Loading:
    thread.start()
    return thread


@functools.cache
def _loading() -> _Loading:
    """The thread that loads scipy.special and finds the BLAS libraries, started at the first call."""
    return _started(_Loading("rung-load-scipy", ("scipy.special",), find=True))


@functools.cache
def _importing(modules: tuple[str, ...]) -> _Loading:
    """The thread importing `modules`, started at the first call for them."""
    return _started(_Loading("rung-import", modules, find=False))


def load_soon() -> None:
    """Load scipy.special and find the BLAS libraries in a thread, unless done or under way.

    TPE calls it at its first result, while the first trials run, and its first model fit finds
    the modules loaded (or waits for the rest). Called at TPE's setup or first proposal, the thread
    competed with the worker processes' start and delayed the first trial by 0.1-0.25 s.
    """
    if _blas_libraries.cache_info().currsize == 0:
        _loading()


def import_soon(*modules: str) -> None:
    """Import `modules` in a thread, unless they are imported or under way (once per set of modules).

    For a model about to be fitted in the driver: the GP's first fit imported scipy.optimize and
    scipy.linalg (0.3-0.5 s on a loaded 2-core machine) inside the driver's loop, where every trial
    waited for its next answer. An import the driver makes meanwhile waits for the thread's (Python's
    import lock per module), so nothing is imported twice.
    """
    if not all(module in sys.modules for module in modules):
        _importing(modules)


def settle() -> None:
    """Wait for the loading threads to finish their imports (`rung.run` calls it on Ctrl-C).

    An import still running when an interrupted program exits can reset Python's note that the
    program ended by an unhandled KeyboardInterrupt (compiled modules may run code through
    `PyRun_*`, which clears it), and the process then exits with status 1 instead of by SIGINT
    (seen in tests/test_crash_resume.py). Done before the KeyboardInterrupt leaves `rung.run`, no
    import runs after it.
    """
    for thread in threading.enumerate():
        if isinstance(thread, _Loading) and thread is not threading.current_thread():
            thread.join()


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> tuple[Any, ...]:
    """The BLAS libraries (`_find_libraries`), found once: by the loading thread if one was started
    (waited for here, so that no two threads import the same modules at once), else now."""
    if _loading.cache_info().currsize:
        thread = _loading()
        thread.join()
        if thread.found is not None:
            return thread.found
    return _find_libraries()


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS limited to one thread, when `threadpoolctl` is installed (else nothing changes).

    The matrices here (up to ~1,000 rows) are too small for BLAS threads to pay off, and the many
    small calls of an acquisition or likelihood optimisation wait on thread wake-ups: on a busy
    2-core machine, 500 observations take 2-3x longer per suggestion with threads
    (`python -m bench.gp_cost`). The limit is process-wide while it lasts. The libraries' own
    get/set calls (about 1 us) replace `threadpoolctl.limit`, which re-reads every library's
    details each time (about 12 us, paid by every TPE proposal).
    """
    libraries = _blas_libraries()
    before = [library.num_threads for library in libraries]
    for library, threads in zip(libraries, before, strict=True):
        if threads != 1:
            library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in zip(libraries, before, strict=True):
            if threads != 1:
                library.set_num_threads(threads)
