"""`python -m bench overhead`: engine overhead and latency, rung beside Ray Tune and Optuna in one run.

    python -m bench overhead                                    # everything, full size (about 10 minutes)
    python -m bench overhead --only sleep memory --engines rung optuna
    python -m bench overhead --trials 20 --sizes 100            # a quick check
    python -m bench overhead --out DIR                          # default: bench/results/overhead/

Engines: "rung" (process executor), "rung-ray" (`executor="ray"` on a local Ray), "ray-tune" (Ray Tune,
`reuse_actors=True`) and "optuna" (in-memory study, `study.optimize(n_jobs=2)`, threads). Each runs 2
trials at once with random search: the engines' overhead, not a model's. Workloads (--only):

1. sleep: 200 trials x 10 reports x 50 ms: seconds of the call (`rung.run` / `tuner.fit` /
   `study.optimize`) and the ratio to the ideal 50 s (rung, rung-ray, ray-tune, optuna);
2. noop: 200 trials x 10 reports, no work: the whole process, interpreter start and imports
   included (Ray: `ray.init` and `ray.shutdown` too), median of --repeat runs (rung, ray-tune, optuna);
3. throughput: 10,000 trials x 1 report: trials per second of the call (Ray Tune: its first
   --ray-tune-throughput-trials trials, 1,000 by default; 10,000 take about 20 minutes);
4. searcher: CPU time of one TPE proposal with 100 / 1,000 / 10,000 observations, rung.TPE against
   Optuna's TPESampler (the code of `python -m bench.searchers cost`, imported);
5. memory: the peak resident memory of the whole process tree (driver, workers, Ray's processes)
   during workload 1, summed over the processes every 50 ms from /proc (shared pages count once per
   process, so it is an upper bound);
6. first-trial: from the start of the call to the first line of the first trial's code (stamped with
   the wall clock across processes), in workload 1.

Each engine and workload runs in a fresh process (bench/suite_engines.py), so imports and memory do not
mix. Ray stays on loopback: a local instance per process (`ray.init` before the timed call, its time
shown apart) with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, token authentication (RAY_AUTH_MODE=token, a
token generated into a temporary folder) and its own `_temp_dir`; RAY_ADDRESS is not passed on.
The table is printed and written to `<out>/overhead.md` and `<out>/overhead.json` (every run's raw figures).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.suite_engines import ENGINES, REPORTS, SLEEP_S, SLOTS

WORKLOADS = ("sleep", "noop", "throughput", "searcher", "memory", "first-trial")
RUNS_ON = {
    "sleep": ENGINES,
    "noop": ("rung", "ray-tune", "optuna"),
    "throughput": ENGINES,
    "searcher": ("rung", "optuna"),
}
NEEDS = {"rung-ray": "ray", "ray-tune": "ray.tune", "optuna": "optuna"}
LABELS = {"rung": "rung", "rung-ray": "rung on Ray", "ray-tune": "Ray Tune", "optuna": "Optuna"}
DEFAULT_OUT = Path(__file__).parent / "results" / "overhead"
SAMPLE_S = 0.05
CHILD_TIMEOUT_S = 3600.0


@dataclass
class Run:
    """One engine's run of one workload, in its own process."""

    engine: str
    workload: str
    trials: int
    whole_s: float = 0.0  # the process, from start to exit, measured by this one
    figures: dict[str, Any] = field(default_factory=dict)  # what the engine's process measured
    peak_tree_mb: float | None = None
    peak_processes: int | None = None
    error: str | None = None


def tree_rss(root: int) -> tuple[int, int]:
    """Resident bytes summed over `root` and its descendants, and how many processes that is (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # the command name may hold spaces and parentheses
        parents.setdefault(ppid, []).append(int(entry.name))
    page = os.sysconf("SC_PAGE_SIZE")
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
            count += 1
        except OSError:
            pass
        todo.extend(parents.get(pid, ()))
    return total, count


class _Sampler(threading.Thread):
    """Samples `tree_rss(pid)` every `SAMPLE_S` until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self.peak_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            rss, count = tree_rss(self.pid)
            self.peak_bytes = max(self.peak_bytes, rss)
            self.peak_processes = max(self.peak_processes, count)


def ray_environment(root: Path) -> dict[str, str]:
    """The environment of the engines' processes: Ray on loopback with a token of its own, no RAY_ADDRESS."""
    token = root / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def run_child(run: Run, env: dict[str, str], work: Path, memory: bool) -> Run:
    """Run `run` in a fresh `python -m bench.suite_engines` process; fill in what it measured."""
    work.mkdir(parents=True)
    result, log = work / "result.json", work / "log.txt"
    command = [sys.executable, "-m", "bench.suite_engines", run.engine, run.workload, str(run.trials), str(result)]
    with log.open("wb") as out:
        start = time.perf_counter()
        # Its own session: on a timeout, its whole group (Ray's processes included) ends with it.
        child = subprocess.Popen(
            [*command, str(work)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        sampler = _Sampler(child.pid) if memory else None
        if sampler is not None:
            sampler.start()
        try:
            code = child.wait(CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            code = child.wait()
        run.whole_s = time.perf_counter() - start
        if sampler is not None:
            sampler.done.set()
            sampler.join()
            run.peak_tree_mb = sampler.peak_bytes / 2**20
            run.peak_processes = sampler.peak_processes
    if code != 0 or not result.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        run.error = f"exit code {code}: " + "\n".join(tail)
    else:
        run.figures = json.loads(result.read_text())
    return run


@dataclass
class Plan:
    """What to run: engines, workloads and sizes (from the command line)."""

    engines: list[str]
    only: list[str]
    trials: dict[str, int]  # per workload 1-3
    ray_tune_throughput: int
    sizes: list[int]
    window: int
    repeat: int

    def runs(self) -> list[Run]:
        """The runs in order, engines interleaved within each workload (so load drifts hit all alike)."""
        wanted = set(self.only)
        if wanted & {"memory", "first-trial"}:
            wanted.add("sleep")
        out: list[Run] = []
        for workload in ("sleep", "noop", "throughput", "searcher"):
            if workload not in wanted:
                continue
            engines = [e for e in self.engines if e in RUNS_ON[workload]]
            if workload == "searcher":
                out += [Run(e, workload, size) for size in self.sizes for e in engines]
            elif workload == "noop":
                out += [Run(e, workload, self.trials[workload]) for _ in range(self.repeat) for e in engines]
            else:
                for e in engines:
                    n = self.trials[workload]
                    if e == "ray-tune" and workload == "throughput":
                        n = min(n, self.ray_tune_throughput)
                    out.append(Run(e, workload, n))
        return out


def table_rows(plan: Plan, runs: list[Run]) -> list[dict[str, Any]]:
    """The summary: one row per figure, one value per engine (None where the engine does not run it)."""
    ok = [r for r in runs if r.error is None]

    def values(workload: str, figure: Any) -> dict[str, float | None]:
        cells: dict[str, float | None] = {}
        for engine in plan.engines:
            mine = [figure(r) for r in ok if r.engine == engine and r.workload == workload]
            mine = [m for m in mine if m is not None]
            cells[engine] = statistics.median(mine) if mine else None
        return cells

    n1, n2, n3 = plan.trials["sleep"], plan.trials["noop"], plan.trials["throughput"]
    ideal = n1 * REPORTS["sleep"] * SLEEP_S / SLOTS
    wanted = set(plan.only)
    rows: list[dict[str, Any]] = []

    def add(key: str, label: str, unit: str, cells: dict[str, float | None], note: str = "") -> None:
        rows.append({"key": key, "label": label, "unit": unit, "values": cells, "note": note})

    if "sleep" in wanted:
        add(
            "sleep_s",
            f"1. {n1} trials x 10 reports x 50 ms, {SLOTS} slots: the call",
            "s",
            values("sleep", lambda r: r.figures["call_s"]),
        )
        add(
            "sleep_ratio",
            f"1. the same, ratio to the ideal {ideal:g} s",
            "x",
            values("sleep", lambda r: r.figures["call_s"] / ideal),
        )
    if wanted & {"sleep", "memory", "first-trial"} and {"rung-ray", "ray-tune"} & set(plan.engines):
        add(
            "ray_init_s",
            "Ray's start (`ray.init`, before the call, not in 1 or 6)",
            "s",
            values("sleep", lambda r: r.figures.get("ray_init_s")),
        )
    if "noop" in wanted:
        add(
            "noop_whole_s",
            f"2. {n2} trials x 10 reports, no work: whole process, median of {plan.repeat}",
            "s",
            values("noop", lambda r: r.whole_s),
        )
    if "throughput" in wanted:
        capped = min(n3, plan.ray_tune_throughput)
        note = f"Ray Tune: {capped:,} trials" if capped < n3 and "ray-tune" in plan.engines else ""
        add(
            "throughput",
            f"3. {n3:,} trials x 1 report: trials per second of the call",
            "trials/s",
            values("throughput", lambda r: r.trials / r.figures["call_s"]),
            note,
        )
    if "searcher" in wanted:
        for size in plan.sizes:
            add(
                f"tpe_ms_{size}",
                f"4. TPE proposal with {size:,} observations (CPU time, median)",
                "ms",
                values("searcher", lambda r, size=size: r.figures["ms"] if r.trials == size else None),
            )
    if "memory" in wanted:
        add("peak_tree_mb", "5. peak RSS of the process tree during 1", "MB", values("sleep", lambda r: r.peak_tree_mb))
        add("peak_processes", "5. processes in the tree at most", "", values("sleep", lambda r: r.peak_processes))
    if "first-trial" in wanted:
        add(
            "first_trial_s",
            "6. time to first trial: the call's start to the trial's first line",
            "s",
            values("sleep", lambda r: r.figures.get("first_trial_s")),
        )
    return rows


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.3f}x"
    if unit in ("trials/s", "MB", ""):
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def markdown(plan: Plan, rows: list[dict[str, Any]], meta: dict[str, Any], runs: list[Run]) -> str:
    """The table, with the command, the machine and the versions above it and the failures below."""
    lines = [
        f"`{meta['command']}` — {meta['date']}",
        "",
        f"Machine: {meta['machine']['cpus']} CPUs ({meta['machine']['cpu']}), {meta['machine']['memory_gb']:.0f} GB;"
        f" Python {meta['python']}; " + ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items())) + ";"
        f" load average {meta['load_before'][0]:.2f} before, {meta['load_after'][0]:.2f} after.",
        "",
        "| figure | unit | " + " | ".join(LABELS[e] for e in plan.engines) + " |",
        "|---|---|" + "---|" * len(plan.engines),
    ]
    for row in rows:
        cells = " | ".join(_cell(row["values"][e], row["unit"]) for e in plan.engines)
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(f"| {row['label']}{note} | {row['unit']} | {cells} |")
    failed = [r for r in runs if r.error is not None]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r.engine} {r.workload} ({r.trials}): {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_kb = 0
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            memory_kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal:")))
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": memory_kb / 2**20, "system": platform.platform()}


def parse(argv: list[str]) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(
        prog="python -m bench overhead", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), help="workloads to run")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES), help="engines to run")
    parser.add_argument("--trials", type=int, help="trials of workloads 1-3 (default 200, 200, 10,000)")
    parser.add_argument(
        "--ray-tune-throughput-trials",
        type=int,
        default=1_000,
        metavar="N",
        help="Ray Tune's trials in workload 3 (default 1,000)",
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 1_000, 10_000], help="observations (4)")
    parser.add_argument("--window", type=int, default=20, help="proposals timed per size (4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of workload 2 per engine (median)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for overhead.md and overhead.json")
    args = parser.parse_args(argv)
    for name in ("trials", "ray_tune_throughput_trials", "window", "repeat"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {value}")
    if min(args.sizes) < 1:
        parser.error(f"--sizes must all be >= 1; got {args.sizes}")
    missing = [e for e in args.engines if e in NEEDS and importlib.util.find_spec(NEEDS[e].split(".")[0]) is None]
    if missing:
        parser.error(f"--engines {' '.join(missing)} need Ray Tune / Optuna: pip install -e '.[bench]'")
    defaults = {"sleep": 200, "noop": 200, "throughput": 10_000}
    trials = {k: args.trials or v for k, v in defaults.items()}
    engines = [e for e in ENGINES if e in args.engines]
    plan = Plan(engines, args.only, trials, args.ray_tune_throughput_trials, args.sizes, args.window, args.repeat)
    return plan, args.out


def main(argv: list[str]) -> int:
    plan, out = parse(argv)
    meta: dict[str, Any] = {
        "command": " ".join(["python -m bench overhead", *argv]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(),
        "python": platform.python_version(),
        "load_before": list(os.getloadavg()),
    }
    runs = plan.runs()
    root = Path(tempfile.mkdtemp(prefix="rung-suite-"))  # short: Ray's socket paths have a length limit
    try:
        env = {**ray_environment(root), "RUNG_SUITE_WINDOW": str(plan.window)}  # the window: read by the searchers
        for i, run in enumerate(runs):
            run_child(run, env, root / f"w{i}", memory=run.workload == "sleep")
            shown = run.error or ", ".join(
                f"{k}={v:.4g}" for k, v in run.figures.items() if isinstance(v, float) and k != "call_started"
            )
            print(
                f"[{i + 1}/{len(runs)}] {run.workload} {run.engine} ({run.trials}): {run.whole_s:.1f} s; {shown}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    meta["load_after"] = list(os.getloadavg())
    meta["versions"] = {k: v for r in runs for k, v in r.figures.get("versions", {}).items()}
    rows = table_rows(plan, runs)
    text = markdown(plan, rows, meta, runs)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text(text)
    report = {"meta": meta, "plan": asdict(plan), "rows": rows, "runs": [asdict(r) for r in runs]}
    (out / "overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
