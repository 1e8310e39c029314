"""`python -m bench lcbench`: rung's methods and the peers on LCBench's 34 tasks, on one simulated clock.

Every method gets the same seeds, 4 workers and, per task, the largest budget asked for in
full-training equivalents of compute (budget / 4 equivalents of simulated time on the 4 workers);
the smaller budgets are read off the same runs (the anytime regret, as Syne Tune's benchmarking
does: no method here plans by the budget). Runs are appended to
`<out>/runs.jsonl` (a run already there is not run again, so a stopped command resumes), then
`report.md`, `summary.json` and `regret.png` are written from them.

    python -m bench lcbench reference                          # the per-task references (cached in bench/data/)
    python -m bench lcbench --tasks 3945 7593 --seeds 2        # a quick look
    nice -n 10 python -m bench lcbench --seeds 10 --jobs 2     # the full comparison (all 34 tasks)
    python -m bench lcbench --report-only                      # rewrite the report from runs.jsonl
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.lcbench import reference as references
from bench.lcbench.runner import METHODS, missing, run_many

__all__ = ["main"]

OUT = Path(__file__).resolve().parents[1] / "results" / "lcbench"
BUDGETS = (10.0, 30.0, 100.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench lcbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD")
    parser.add_argument("--tasks", nargs="+", default=None, help="OpenML task ids (default: all 34)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS), help="in equivalents")
    parser.add_argument("--workers", type=int, default=4, help="virtual workers (default 4)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, in processes (default 2)")
    parser.add_argument("--baseline", default="rung-default", help="the method the p-values compare with")
    parser.add_argument("--out", type=Path, default=OUT, help=f"results folder (default {OUT})")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report from runs.jsonl")
    parser.add_argument("--skip-missing", action="store_true", help="leave out methods whose engine is missing")
    return parser


def _reference_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench lcbench reference", description=references.__doc__)
    parser.add_argument("--sample", type=int, default=references.SAMPLE, help="configurations per task")
    args = parser.parse_args(argv)
    if args.sample < 2:
        parser.error(f"--sample must be an integer >= 2; got {args.sample}")
    made = references.compute(args.sample)
    print(f"wrote {references.PATH} ({len(made)} tasks, {args.sample} configurations each)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["reference"]:
        return _reference_main(args_in[1:])
    parser = _parser()
    args = parser.parse_args(args_in)
    for name, low in (("seeds", 1), ("workers", 1), ("jobs", 1)):
        if getattr(args, name) < low:
            parser.error(f"--{name} must be an integer >= {low}; got {getattr(args, name)}")
    if any(not b > 0 for b in args.budgets):
        parser.error(f"--budgets must be numbers > 0; got {args.budgets}")
    reference = references.load()
    tasks = sorted(args.tasks or reference, key=int)
    unknown = [t for t in tasks if t not in reference]
    if unknown:
        parser.error(f"--tasks must be LCBench task ids ({', '.join(sorted(reference, key=int))}); got {unknown}")
    methods = list(args.methods)
    for method in list(methods):
        why = missing(method)
        if why is not None:
            if not args.skip_missing:
                parser.error(f"{method} cannot run: {why} (or pass --skip-missing)")
            print(f"leaving out {method}: {why}", file=sys.stderr)
            methods.remove(method)
    budget = max(args.budgets)
    out: Path = args.out
    runs_path = out / "runs.jsonl"
    failed = 0
    if not args.report_only:
        runs = [(m, t, s) for t in tasks for s in range(args.seeds) for m in methods]
        equivalents = {t: reference[t]["equivalent_s"] for t in tasks}
        failed = run_many(
            runs,
            budget=budget,
            workers=args.workers,
            equivalents=equivalents,
            out=runs_path,
            jobs=args.jobs,
            log=sys.stderr,
        )
    from bench.lcbench import report

    wanted = set(tasks)
    lines = [
        r
        for r in report.load_runs(runs_path)
        if r["method"] in methods
        and r["task"] in wanted
        and r["seed"] < args.seeds
        and float(r["budget"]) == budget
        and r["workers"] == args.workers
    ]
    command = "python -m bench lcbench " + shlex.join(args_in)
    baseline = args.baseline if args.baseline in methods else methods[0]
    summary = report.write(lines, reference, sorted(args.budgets), methods, baseline, out, command)
    print((out / "report.md").read_text())
    print(f"{len(summary['tasks'])} tasks; wrote {out / 'report.md'}, {out / 'summary.json'}, {out / 'regret.png'}")
    if failed:
        print(f"{failed} runs failed (see above); run the command again to retry them", file=sys.stderr)
        return 1
    return 0
