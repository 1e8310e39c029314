"""The engine side of `python -m bench overhead` (bench/suite.py): one workload of one engine, in this process.

    python -m bench.suite_engines ENGINE WORKLOAD TRIALS RESULT_JSON WORK_DIR

bench/suite.py starts one such process per engine and workload, so imports and memory do not mix.
ENGINE: "rung" (process executor), "rung-ray" (`executor="ray"` on a local Ray), "ray-tune" (Ray Tune,
`reuse_actors=True`) or "optuna" (in-memory study, `n_jobs=2` threads). WORKLOAD: "sleep" (TRIALS x 10
reports x 50 ms), "noop" (TRIALS x 10 reports), "throughput" (TRIALS x 1 report), or "searcher" (TPE
proposal time; TRIALS is then the number of observations). Every engine runs 2 trials at once and
searches at random (the engines' overhead, not a model's). The result JSON holds `call_s` (the call:
`rung.run` / `tuner.fit` / `study.optimize`), `first_trial_s` (from the start of that call to the
first line of the first trial's code, stamped across processes with the wall clock), `ray_init_s`
(Ray engines: `ray.init` runs before the call, in WORK_DIR/ray) and the versions.

Nothing here imports an engine at module level: the process imports only what its engine needs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ENGINES = ("rung", "rung-ray", "ray-tune", "optuna")
WORKLOADS = ("sleep", "noop", "throughput", "searcher")
SLOTS = 2
REPORTS = {"sleep": 10, "noop": 10, "throughput": 1}
SLEEP_S = 0.05
OBJECT_STORE_BYTES = 200_000_000
"""Ray's object store: small, the trials pass nothing but metrics."""


def first_line(path: str) -> None:
    """Stamp the wall-clock time into `path` unless a trial did already (the first trial's first line)."""
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(repr(time.time()))


# rung's objectives: bench/overhead.py's, behind the stamp.
def rung_sleepy(config: dict[str, Any]) -> None:
    from bench.overhead import sleepy

    first_line(config["first_line"])
    sleepy(config)


# Ray Tune's trainables: the same work, reported with tune.report.
def tune_sleepy(config: dict[str, Any]) -> None:
    from ray import tune

    first_line(config["first_line"])
    for i in range(REPORTS["sleep"]):
        time.sleep(SLEEP_S)
        tune.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)})


def tune_noop(config: dict[str, Any]) -> None:
    from ray import tune

    for i in range(REPORTS["noop"]):
        tune.report({"loss": config["x"] + i})


def tune_once(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"loss": config["x"]})


def _ray_init(work: Path) -> tuple[Any, float]:
    import logging

    import ray

    start = time.perf_counter()
    ray.init(
        num_cpus=SLOTS,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        object_store_memory=OBJECT_STORE_BYTES,
        _temp_dir=str(work / "ray"),
    )
    return ray, time.perf_counter() - start


def _rung(workload: str, n: int, work: Path, mark: str, on_ray: bool) -> dict[str, Any]:
    import rung
    from bench import overhead

    out: dict[str, Any] = {"versions": {"rung": rung.__version__}}
    ray: Any = None
    if on_ray:
        ray, out["ray_init_s"] = _ray_init(work)  # rung's RayExecutor uses this connection
        out["versions"]["ray"] = ray.__version__
    fn, space = {
        "sleep": (rung_sleepy, {**overhead.SPACE, "first_line": mark}),
        "noop": (overhead.noop10, None),
        "throughput": (overhead.once, None),
    }[workload]
    try:
        out["call_started"] = time.time()
        out["call_s"] = overhead._run(fn, n, "ray" if on_ray else "process", workload, str(work / "rung"), space)
    finally:
        if ray is not None:
            ray.shutdown()
    return out


def _ray_tune(workload: str, n: int, work: Path, mark: str) -> dict[str, Any]:
    ray, init_s = _ray_init(work)
    from ray import tune

    fn = {"sleep": tune_sleepy, "noop": tune_noop, "throughput": tune_once}[workload]
    tuner = tune.Tuner(
        fn,
        param_space={"x": tune.uniform(0, 1), "first_line": mark},
        tune_config=tune.TuneConfig(
            metric="loss", mode="min", num_samples=n, max_concurrent_trials=SLOTS, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(work / "ray-results"), name=workload, verbose=0),
    )
    try:
        started = time.time()
        t0 = time.perf_counter()
        results = tuner.fit()
        took = time.perf_counter() - t0
    finally:
        ray.shutdown()
    if results.errors:
        raise RuntimeError(f"Ray Tune: {len(results.errors)} trials failed, the first with {results.errors[0]!r}")
    return {"call_started": started, "call_s": took, "ray_init_s": init_s, "versions": {"ray": ray.__version__}}


def _optuna(workload: str, n: int, mark: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reports = REPORTS[workload]
    pause = SLEEP_S if workload == "sleep" else 0.0

    def objective(trial: optuna.Trial) -> float:
        first_line(mark)
        x = trial.suggest_float("x", 0, 1)
        value = x
        for i in range(reports):
            if pause:
                time.sleep(pause)
            value = (x - 0.3) ** 2 + 1 / (i + 1)
            trial.report(value, i)
        return value

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    started = time.time()
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, n_jobs=SLOTS)
    took = time.perf_counter() - t0
    return {"call_started": started, "call_s": took, "versions": {"optuna": optuna.__version__}}


def _searcher(engine: str, size: int) -> dict[str, Any]:
    from bench import searchers

    window = int(os.environ.get("RUNG_SUITE_WINDOW", "20"))
    if engine == "optuna":
        import optuna

        return {"ms": searchers._time_optuna(size, window) * 1e3, "versions": {"optuna": optuna.__version__}}
    import rung

    return {"ms": searchers._time_rung(size, window) * 1e3, "versions": {"rung": rung.__version__}}


def run(engine: str, workload: str, n: int, work: Path) -> dict[str, Any]:
    """Run one workload of one engine here; what bench/suite.py reads back."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}; got {workload!r}")
    if workload == "searcher":
        return _searcher(engine, n)
    mark = str(work / "first-line") if workload == "sleep" else ""
    if engine in ("rung", "rung-ray"):
        out = _rung(workload, n, work, mark, engine == "rung-ray")
    elif engine == "ray-tune":
        out = _ray_tune(workload, n, work, mark)
    else:
        out = _optuna(workload, n, mark)
    if mark:
        out["first_trial_s"] = float(Path(mark).read_text()) - out["call_started"]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    engine, workload, trials, result, work = argv
    out = run(engine, workload, int(trials), Path(work))
    Path(result).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
