"""`python -m bench crash`: kill -9 the driver hundreds of times across rung's methods, resume after
each kill, and compare every experiment with an uninterrupted run of the same seed.

    python -m bench crash --kills 500                    # >= 500 kills over FIFO+TPE, ASHA x2, HyperBand, PBT, PB2
    python -m bench crash --kills 60 --methods pbt pb2   # some methods only
    python -m bench crash --kills 500 --children         # each trial also starts a child process

Experiments go round the methods, seeds 0, 1, 2, ...; each plans `--per-experiment` kills drawn by
`rung.testing.crash.check` from a seeded generator: after a returned report, after or before a
commit, inside a checkpoint file's write, after a resume's first commit, at a random moment. The
report (markdown, and the raw reports as JSON) goes to `--out`: kills and resumes by method and kind
of kill, every mismatch with the kill points that reproduce it (`check(..., plan=[...])`), wall time
and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from rung.testing import crash

OUT = Path("bench/results/crash")


def _machine() -> str:
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def run(kills: int, methods: list[str], per: int, children: bool, work: Path) -> list[crash.CrashReport]:
    """Experiments round the methods until `kills` kills have happened."""
    reports: list[crash.CrashReport] = []
    done, seed = 0, 0
    while done < kills:
        for method in methods:
            want = min(per, kills - done)
            if want <= 0:
                break
            folder = work / f"{method}-{seed}"
            report = crash.check(method, folder, kills=want, seed=seed, children=children)
            shutil.rmtree(folder, ignore_errors=True)
            reports.append(report)
            done += len(report.kills)
            state = "ok" if report.ok else f"{len(report.mismatches)} MISMATCHES"
            print(f"[{done}/{kills}] {report.describe().splitlines()[0]}: {state}", flush=True)
        seed += 1
    return reports


def _spelled(point: crash.KillPoint) -> str:
    if point.kind == "time":
        return f'KillPoint("time", seconds={point.seconds:g})'
    return f'KillPoint("{point.kind}", {point.trial}, {point.iteration})'


def markdown(reports: list[crash.CrashReport], command: str, seconds: float) -> str:
    methods = list(dict.fromkeys(r.setup for r in reports))
    lines = [
        f"`{command}`",
        "",
        f"Machine: {_machine()}. Wall time {seconds:.0f} s.",
        "",
        "| method | experiments | kills | resumes | missed kill points | mismatches | "
        + " | ".join(crash.KINDS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(crash.KINDS),
    ]
    for method in [*methods, "all"]:
        rows = [r for r in reports if method in ("all", r.setup)]
        kinds = Counter(k.kind for r in rows for k in r.kills)
        lines.append(
            f"| {method} | {len(rows)} | {sum(len(r.kills) for r in rows)} | {sum(r.resumes for r in rows)}"
            f" | {sum(len(r.missed) for r in rows)} | {sum(len(r.mismatches) for r in rows)} | "
            + " | ".join(str(kinds[k]) for k in crash.KINDS)
            + " |"
        )
    failed = [r for r in reports if not r.ok]
    lines += ["", f"Experiments with mismatches: {len(failed)}."]
    for report in failed:
        plan = ", ".join(_spelled(k) for k in report.kills)
        replay = f"crash.check({report.setup!r}, folder, seed={report.seed}, plan=[{plan}])"
        lines += ["", "```", report.describe(), f"replay: {replay}", "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crash", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=500, help="kills in all (default 500)")
    parser.add_argument("--methods", nargs="+", default=list(crash.METHODS), choices=list(crash.METHODS))
    parser.add_argument("--per-experiment", type=int, default=8, help="kills aimed at per experiment (default 8)")
    parser.add_argument("--children", action="store_true", help="each trial starts a child process")
    parser.add_argument("--out", type=Path, default=OUT, help=f"report folder (default {OUT})")
    args = parser.parse_args(argv)
    if args.kills < 1 or args.per_experiment < 1:
        parser.error(f"--kills and --per-experiment must be >= 1; got {args.kills} and {args.per_experiment}")
    command = "python -m bench crash " + " ".join(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rung-crash-") as work:
        reports = run(args.kills, args.methods, args.per_experiment, args.children, Path(work))
    seconds = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(reports, command.strip(), seconds)
    (args.out / "report.md").write_text(text)
    raw = [{**asdict(r), "kills": [str(k) for k in r.kills], "missed": [str(k) for k in r.missed]} for r in reports]
    (args.out / "reports.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
