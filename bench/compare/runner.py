"""One run in a fresh subprocess: the parent side (`launch`) and the child side (`python -m bench.compare.runner`).

Each (table, method, seed) runs in its own interpreter, so Ray's and Optuna's global state and
memory end with it, and a crash is one failed run, not a failed command. The child loads the table,
builds the replay, hands it to the method's engine and writes `result.json`; the parent reads the
trace the trials wrote, keeps the reports made within the budget, and returns the line for
`runs.jsonl`. On a timeout, or when the child leaves processes behind, the parent ends the child's
process group (the child is started in a session of its own: that group holds only what it started).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.compare.spec import METHODS, Outcome, Spec
from bench.compare.trial import Replay, read_trace
from bench.tables import Table

__all__ = ["ENGINES", "ROOT", "launch", "main", "run_child"]

ENGINES = {
    "rung": "bench.compare.methods_rung",
    "ray": "bench.compare.peers_ray",
    "optuna": "bench.compare.peers_optuna",
}
"""The module that runs each engine's methods: `run(spec, replay, work) -> Outcome`."""

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: on the children's `PYTHONPATH`, so they (and Ray's workers) import `bench`."""

TAIL = 4000
"""Characters of a failed child's stderr kept in its line."""


def run_child(spec: Spec, work: Path) -> dict[str, Any]:
    """Run `spec` in this process; the trace goes to `work/trace.txt`, the engine's files under `work`."""
    table = Table.load(spec.table, metric=spec.metric)
    replay = Replay.of(table, work / "trace.txt", scale=spec.scale, deadline=math.inf, claims=work / "claims.tsv")
    module = importlib.import_module(ENGINES[METHODS[spec.method].engine])
    outcome: Outcome = module.run(spec, replay, work)
    versions = {"python": platform.python_version(), **outcome.versions}
    return {
        "t0": outcome.t0,
        "wall_s": outcome.wall,
        "errors": outcome.errors,
        "versions": versions,
        "best": replay.best,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.compare.runner SPEC_JSON WORK_DIR`: one run, its result in `WORK_DIR/result.json`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.compare.runner SPEC_JSON WORK_DIR", file=sys.stderr)
        return 2
    spec = Spec.from_json(json.loads(Path(args[0]).read_text()))
    work = Path(args[1])
    result = run_child(spec, work)
    (work / "result.json").write_text(json.dumps(result))
    return 0


def child_env() -> dict[str, str]:
    """The children's environment: `bench` importable, Ray on loopback, nothing phoning home."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.pop("RAY_ADDRESS", None)
    return env


def _end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-TAIL:]


def launch(spec: Spec, timeout: float, cleanup: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Run `spec` in a fresh subprocess and return its `runs.jsonl` line.

    Args:
        spec: the run.
        timeout: wall seconds after which the child's process group is ended (the run then fails).
        cleanup: deletes the run's temporary folder once read (default: `shutil.rmtree`, now).
    """
    # Short: Ray's socket paths under its temp dir have a length limit.
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    line: dict[str, Any] = {"spec": spec.to_json()}
    try:
        spec_file = work / "spec.json"
        spec_file.write_text(json.dumps(spec.to_json()))
        start = time.time()
        with (work / "stdout.txt").open("wb") as out, (work / "stderr.txt").open("wb") as err:
            child = subprocess.Popen(
                [sys.executable, "-m", "bench.compare.runner", str(spec_file), str(work)],
                env=child_env(),
                cwd=ROOT,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                code: int | None = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
            _end_group(child.pid)
            child.wait()
        line["process_s"] = round(time.time() - start, 3)
        result_file = work / "result.json"
        if code != 0 or not result_file.exists():
            why = f"timed out after {timeout:g} s" if code is None else f"exit code {code}"
            line.update(status="failed", error=f"{why}\n{_tail(work / 'stderr.txt')}")
            return line
        result = json.loads(result_file.read_text())
        trace = read_trace(work / "trace.txt", t0=result["t0"], scale=spec.scale, budget=spec.budget)
        line.update(
            status="ok" if not result["errors"] else "failed",
            best=round(result["best"], 6),
            trace={"t": [round(t, 4) for t in trace.t], "value": [round(v, 6) for v in trace.values]},
            trials=trace.starts,
            reports=len(trace.t),
            late_reports=trace.late,
            wall_s=round(result["wall_s"], 3),
            versions=result["versions"],
            finished=datetime.datetime.now().isoformat(timespec="seconds"),
        )
        if result["errors"]:
            line["error"] = f"{len(result['errors'])} trials failed; the first:\n{result['errors'][0][-TAIL:]}"
        return line
    finally:
        if cleanup is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            cleanup(work)


if __name__ == "__main__":
    raise SystemExit(main())
