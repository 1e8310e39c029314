"""CPU a trial costs, measured where the load of other jobs matters least (CPU time, not wall time).

    python -m bench.trial_cost whole SRC [SRC ...] [--trials 200] [--repeat 7]
    python -m bench.trial_cost pieces [--trials 3000]

`whole`: workload 2 of `python -m bench overhead` (TRIALS trials x 10 reports, no work, 2 slots, the
process executor) run as a whole process from each source tree SRC in turn (a `git archive` of a
commit, or a checkout), REPEAT times; the CPU of the process tree (driver and workers, user + sys,
`getrusage(RUSAGE_CHILDREN)`): its median and every run. Interpreter start and imports included.

`pieces`: per trial, in this process, the worker's handling of a trial's output, the old way
(`_Capture`: the trial's folder and `log.txt` made for every trial) and the spool's way (one file per
worker, a log made only for a trial that prints), and deleting what each left; and the process-tree
sweep around each trial (`_procs.children` before it, `_procs.kill_tree` after it).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_WORKLOAD = (
    "import sys; from bench import overhead;"
    " overhead._run(overhead.noop10, int(sys.argv[1]), 'process', 'noop', sys.argv[2])"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def whole(sources: list[Path], trials: int, repeat: int) -> None:
    runs: dict[Path, list[float]] = {src: [] for src in sources}
    loads: list[float] = []
    for _ in range(repeat):
        for src in sources:
            folder = tempfile.mkdtemp(prefix="rung-trial-cost-")
            before = _children_cpu()
            env = {**os.environ, "PYTHONPATH": str(src)}
            subprocess.run([sys.executable, "-c", _WORKLOAD, str(trials), folder], cwd=src, env=env, check=True)
            runs[src].append(_children_cpu() - before)
            loads.append(os.getloadavg()[0])
            shutil.rmtree(folder, ignore_errors=True)
    for src, cpu in runs.items():
        shown = ", ".join(f"{c:.3f}" for c in cpu)
        median = statistics.median(cpu)
        print(f"{src}: {trials} trials x 10 reports, CPU s of the whole process: median {median:.3f} ({shown})")
    print(f"load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")


def pieces(trials: int) -> None:
    from rung.executors import _procs
    from rung.executors._spool import Spool
    from rung.executors._worker import _Capture

    def log(root: str, i: int) -> str:
        return os.path.join(root, "trials", f"{i:06d}", "log.txt")

    for how in ("per-trial log", "spool"):
        root = tempfile.mkdtemp(prefix="rung-trial-cost-")
        spool = Spool()
        cpu, wall = _own_cpu(), os.times().elapsed
        for i in range(1, trials + 1):
            if how == "spool":
                spool.start(log(root, i))
                spool.stop()
                spool.finish()
            else:
                with _Capture(log(root, i)):
                    pass
        cpu, wall = _own_cpu() - cpu, os.times().elapsed - wall
        spool.close()
        removal = _own_cpu()
        shutil.rmtree(root)
        removal = _own_cpu() - removal
        print(
            f"{how}: {cpu / trials * 1e6:.0f} µs CPU, {wall / trials * 1e6:.0f} µs wall per trial that prints nothing;"
            f" deleting what it left: {removal / trials * 1e6:.0f} µs CPU per trial"
        )
    cpu = _own_cpu()
    for _ in range(trials):
        _procs.kill_tree(spare=frozenset(_procs.children(os.getpid())))
    print(f"process-tree sweep: {(_own_cpu() - cpu) / trials * 1e6:.0f} µs CPU per trial")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trial_cost", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("whole", help="workload 2's whole-process CPU, per source tree in turn")
    one.add_argument("sources", type=Path, nargs="+")
    one.add_argument("--trials", type=int, default=200)
    one.add_argument("--repeat", type=int, default=7)
    two = sub.add_parser("pieces", help="per trial: output files and the process-tree sweep")
    two.add_argument("--trials", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be >= 1; got {args.trials}")
    if args.command == "whole":
        if args.repeat < 1:
            parser.error(f"--repeat must be >= 1; got {args.repeat}")
        whole([p.resolve() for p in args.sources], args.trials, args.repeat)
    else:
        pieces(args.trials)


if __name__ == "__main__":
    main()
