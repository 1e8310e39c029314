"""`python -m bench compare`: rung beside Ray Tune and Optuna on the recorded tables, then the report.

Every (seed, table, method) runs in a fresh subprocess (`bench.compare.runner`) and appends one JSON
line to `<out>/runs.jsonl`; running the same command again skips the runs already done (and retries
failed ones). `python -m bench compare --report <out>` only rebuilds the report from that file.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.compare.report import write_report
from bench.compare.runner import ROOT, launch
from bench.compare.spec import EXTRA, METHODS, Spec, missing_modules
from bench.compare.stats import regret_at, regret_steps
from bench.tables import SPACES

__all__ = ["main"]

DEFAULT_OUT = ROOT / "bench" / "results" / "compare"

EPILOG = """\
Time: a run takes its budget x scale in wall seconds plus the engine's start and end. Measured on
this project's 2-core machine (with other work running): rung and Optuna runs 13-15 s (rung-pbt
4-8 s: it ends when its population is trained), Ray Tune runs 23-41 s; both tables x 2 seeds x all
15 methods took 18.4 minutes, so the defaults (10 seeds) take about 90 minutes (less on a quiet
machine). Ray Tune needs 5-12 s from the Tuner to its first report here (the more load, the longer):
at scale 1 that is half of a 12 s budget or more (the report's "first report" column shows it); a
larger --scale shrinks that share and lengthens every run by the same factor. Examples:

  python -m bench compare                                   # everything, resumable
  python -m bench compare --tables mlp --seeds 2 --methods rung-default ray-asha optuna-hyperband
  python -m bench compare --report bench/results/compare    # rebuild report.md and the PNGs
"""


def _names(values: Sequence[str] | None) -> list[str] | None:
    """Names given as separate words, comma-separated, or both."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench compare",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tables", nargs="+", help=f"recorded tables (default: all: {', '.join(SPACES)})")
    parser.add_argument("--methods", nargs="+", help=f"methods (default: all): {', '.join(METHODS)}")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per method and table (default 10)")
    parser.add_argument("--budget", type=float, default=12.0, help="recorded seconds per run (default 12)")
    parser.add_argument("--scale", type=float, default=1.0, help="wall seconds per recorded second (default 1)")
    parser.add_argument("--workers", type=int, default=4, help="trials at once (default 4)")
    parser.add_argument(
        "--metric",
        choices=["val_loss", "val_acc"],
        default="val_loss",
        help="the tables' metric to optimise (default val_loss: validation accuracy on these small"
        " validation sets moves in steps of 1/360 and 1/114, so many configurations tie at the top)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default bench/results/compare)")
    parser.add_argument(
        "--timeout", type=float, help="end a run after this many wall seconds (default 3 x budget x scale + 120)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once (default 1; more only for smoke tests: runs sharing the machine skew the overhead)",
    )
    parser.add_argument("--report", type=Path, metavar="OUT", help="only write the report of the runs in OUT")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    """The first thing wrong with the arguments, as a message naming the option, or None."""
    tables, methods = _names(args.tables), _names(args.methods)
    for option, names, known in (("--tables", tables, list(SPACES)), ("--methods", methods, list(METHODS))):
        unknown = [name for name in names or [] if name not in known]
        if unknown:
            return f"{option} needs names from {', '.join(known)}; got {unknown[0]!r}"
    if args.seeds < 1:
        return f"--seeds must be an integer >= 1; got {args.seeds}"
    for option, value in (("--budget", args.budget), ("--scale", args.scale), ("--timeout", args.timeout)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            return f"{option} must be a number > 0; got {value}"
    if args.workers < 1:
        return f"--workers must be an integer >= 1; got {args.workers}"
    if args.jobs < 1:
        return f"--jobs must be an integer >= 1; got {args.jobs}"
    return None


def _available(methods: list[str]) -> list[str]:
    """The methods whose packages import here; say which are skipped and what to install."""
    keep = []
    skipped: dict[str, list[str]] = {}
    for method in methods:
        missing = missing_modules(method)
        if missing:
            skipped.setdefault(", ".join(missing), []).append(method)
        else:
            keep.append(method)
    for packages, names in skipped.items():
        why = f"{packages} cannot be imported; install the bench extra: {EXTRA}"
        print(f"skipping {', '.join(names)}: {why}", file=sys.stderr)
    return keep


def _done(path: Path) -> set[str]:
    done = set()
    if path.exists():
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue  # cut short by a kill: that run is simply done again
            if line.get("status") == "ok":
                done.add(json.dumps(line["spec"], sort_keys=True))
    return done


class _Janitor:
    """Deletes finished runs' folders in the background (thousands of small files: seconds on some disks)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (path := self._queue.get()) is not None:
            shutil.rmtree(path, ignore_errors=True)

    def remove(self, path: Path) -> None:
        self._queue.put(path)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def _summary(line: dict[str, Any]) -> str:
    if line["status"] != "ok":
        last = (line.get("error") or "").strip().splitlines()[-1:] or ["?"]
        return f"FAILED ({last[0][:160]})"
    times, regrets = regret_steps(line["trace"]["t"], line["trace"]["value"], line["best"])
    final = regret_at(times, regrets, line["spec"]["budget"])
    return f"{line['trials']} trials, {line['reports']} reports, final regret {final:.4f}"


def run(specs: list[Spec], out: Path, timeout: float | None, jobs: int = 1) -> int:
    """Run every spec not yet in `<out>/runs.jsonl`, `jobs` at a time; the number of runs that failed."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    done = _done(path)
    todo = [spec for spec in specs if json.dumps(spec.to_json(), sort_keys=True) not in done]
    if len(todo) < len(specs):
        print(f"{len(specs) - len(todo)} of {len(specs)} runs already in {path}: skipped", file=sys.stderr)
    lock = threading.Lock()
    count = {"ended": 0, "failed": 0}
    janitor = _Janitor()
    started = time.time()

    def one(spec: Spec) -> None:
        limit = timeout if timeout is not None else 3 * spec.wall_budget + 120
        line = launch(spec, limit, cleanup=janitor.remove)
        with lock:
            with path.open("a") as stream:
                stream.write(json.dumps(line) + "\n")
            count["ended"] += 1
            count["failed"] += line["status"] != "ok"
            i = count["ended"]
            left = (time.time() - started) / i * (len(todo) - i)
            print(
                f"[{i}/{len(todo)}] {spec.table} {spec.method} seed {spec.seed}: {_summary(line)}; "
                f"{line['process_s']:.1f} s, about {left / 60:.0f} min left",
                file=sys.stderr,
            )

    try:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, todo))
    finally:
        janitor.close()
    return count["failed"]


def main(argv: list[str]) -> int:
    """`python -m bench compare [options]`; see `--help`."""
    args = _parser().parse_args(argv)
    problem = _check(args)
    if problem is not None:
        print(f"python -m bench compare: {problem}", file=sys.stderr)
        return 2
    tables = _names(args.tables) or list(SPACES)
    if args.report is not None:
        try:
            report = write_report(args.report, tables)
        except (FileNotFoundError, ValueError) as error:
            print(f"python -m bench compare: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.report / 'report.md'} and {len(report.figures)} PNG files", file=sys.stderr)
        return 0
    methods = _available(_names(args.methods) or list(METHODS))
    specs = [
        Spec(table, method, seed, args.budget, args.scale, args.workers, args.metric)
        for seed in range(args.seeds)
        for table in tables
        for method in methods
    ]
    failures = run(specs, args.out, args.timeout, args.jobs)
    report = write_report(args.out, tables)
    print(f"wrote {args.out / 'report.md'} and {len(report.figures)} PNG files", file=sys.stderr)
    if failures:
        again = "run the same command again to retry them"
        print(f"{failures} runs failed (see {args.out / 'report.md'}); {again}", file=sys.stderr)
        return 1
    return 0
