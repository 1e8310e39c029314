"""`python -m bench <command> [options]`: the benchmark suite's entry point.

    python -m bench compare ...    # rung beside Ray Tune and Optuna on the recorded tables (bench/compare/)
    python -m bench overhead ...   # engine overhead and latency, rung and the peers in one run
    python -m bench simulate ...   # rung's methods of `compare` on the simulated clock, many seeds fast
    python -m bench crash ...      # kill -9 the driver hundreds of times, resume, compare (bench/crash.py)
    python -m bench lcbench ...    # rung and the peers on LCBench's 34 tasks, one simulated clock (bench/lcbench/)
    python -m bench blackbox ...   # the default's search beside Optuna's TPESampler, one result per trial
    python -m bench sleep-scale ...  # many sleeping trials on many slots (Ray Tune's release test by default)
    python -m bench dashboard-scale ...  # the dashboard's first paint of an experiment of many trials

`python -m bench <command> --help` lists each command's options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "compare": "bench.compare.cli",
    "crash": "bench.crash",
    "overhead": "bench.suite",
    "simulate": "bench.compare.simulate",
    "lcbench": "bench.lcbench.cli",
    "blackbox": "bench.blackbox",
    "sleep-scale": "bench.sleep_scale",
    "dashboard-scale": "bench.dashboard_scale",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        known = ", ".join(COMMANDS)
        got = repr(args[0]) if args else "nothing"
        print(f"usage: python -m bench {{{known}}} [options]; got {got}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]])
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main())
