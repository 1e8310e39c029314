"""`python -m bench.lcbench.child METHOD TASK SEED BUDGET_S WORKERS`: one run in this interpreter, its trace as JSON.

The runner starts it with another environment's interpreter (SMAC3 and DEHB pin packages that
cannot live beside this project's), with the repository on `PYTHONPATH`; that environment needs
numpy and onnxruntime (for the surrogate) besides the engine.
"""

from __future__ import annotations

import json
import sys

from bench.lcbench.runner import run_child


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5:
        print("usage: python -m bench.lcbench.child METHOD TASK SEED BUDGET_S WORKERS", file=sys.stderr)
        return 2
    method, task, seed, budget, workers = args
    trace = run_child(method, task, int(seed), float(budget), int(workers))
    print(json.dumps({"t": trace.t, "values": trace.values, "jobs": trace.jobs, "epochs": trace.epochs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
