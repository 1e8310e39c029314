"""The scheduler contract suite.

Use from a test: `for check in SCHEDULER_CHECKS: check(make_scheduler, executor, storage)`, where
`make_scheduler()` returns a fresh scheduler (not set up), `executor` is "thread" or "process" and
`storage` an empty folder. Each check runs `rung.run` on a small deterministic problem (10 trials,
9 steps, loss curves that cross) and raises AssertionError with what went wrong:

- `check_legal_decisions`: only legal answers (a Decision, or a `Pause(copy_weights_from=k)` naming
  another trial the scheduler was told of, per result; Start only while the searcher has configs;
  Resume and Stop only for paused trials); every trial ends; no trial it paused is left
  waiting until the run ends, unless the scheduler says it may be (`leaves_paused = True`, as
  ASHA's promotion variant does: trials not good enough to promote stay paused).
- `check_same_decisions`: the same seed and the same results give the same decisions, donors
  included (on this
  executor with one slot, and with three simulated workers, where the order of results is fixed).
- `check_error_mid_bracket`: trials that fail mid-way stall nothing: no paused trial is left waiting
  (as above) and others reach the last step.
- `check_kill_and_resume`: `kill -9` of the driver, then `resume=True`, gives the decisions and the
  trials of an uninterrupted run.

The driver of the kill check runs as `python -m rung.testing.schedulers ...`: a forked child that the
objective kills, then the same process resuming the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle

import rung
from rung.errors import ExperimentNotFoundError
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.schedulers.base import Scheduler
from rung.store.sqlite import Store
from rung.types import Decision, Pause, Resume, Start, Status, Stop, Suggestion, TrialInfo

__all__ = [
    "NUM_SAMPLES",
    "N_STEPS",
    "SCHEDULER_CHECKS",
    "Recorder",
    "check_error_mid_bracket",
    "check_kill_and_resume",
    "check_legal_decisions",
    "check_same_decisions",
    "objective",
]

MakeScheduler = Callable[[], Scheduler]
N_STEPS = 9
NUM_SAMPLES = 10
SEED = 3
KILL_ENV = "RUNG_CONTRACT_KILL"  # "counter-file:count:pid": kill pid at the count-th returned report()


def loss(x: float, step: int) -> float:
    """Learning curves that cross: small x starts best, x near 0.3 ends best."""
    return (x - 0.3) ** 2 + (0.2 + 0.5 * x) / step


def objective(config: dict[str, Any]) -> None:
    """The test objective: checkpoints every step; with `fail`, every third trial raises at its first step."""
    checkpoint = rung.get_checkpoint()
    step = 0 if checkpoint is None else int(checkpoint)
    while step < config["n"]:
        step += 1
        if config["fail"] and step == 1 and rung.get_trial_id() % 3 == 0:
            raise RuntimeError("injected failure")
        rung.report({"loss": loss(config["x"], step), "step": step}, checkpoint=step)
        kill = os.environ.get(KILL_ENV)
        if kill:  # report() returned: count it, and kill the driver at the chosen one
            counter, at, pid = kill.rsplit(":", 2)
            with open(counter, "a") as f:
                f.write("x")
            if Path(counter).stat().st_size == int(at):
                os.kill(int(pid), signal.SIGKILL)


def simulated_objective(config: dict[str, Any]) -> Curve:
    """The same curves for the simulated executor, with steps whose length depends on x."""
    steps = range(1, config["n"] + 1)
    metrics = [{"loss": loss(config["x"], s), "step": s} for s in steps]
    return Curve(metrics, [1.0 + config["x"] + 0.1 * s for s in steps])


class Recorder(Scheduler):
    """Wraps a scheduler: checks and logs every answer it gives (optionally to a file, a JSON line each).

    On resume, the tuner first replays the store: `replayed` says how many calls of each kind ("add",
    "result", "end") that makes (see `replay_counts`); those are passed on but not logged. A result's
    entry is `["result", trial, iteration, decision]`, with the donor after "PAUSE" for a `Pause`.
    """

    def __init__(self, inner: Scheduler, path: str | None = None, replayed: dict[str, int] | None = None) -> None:
        self.inner = inner
        self.path = path
        self.log: list[list[Any]] = []
        self.violations: list[str] = []
        self.replayed = dict(replayed or {})
        self.added: set[int] = set()  # every trial the scheduler was told of (replayed ones too)

    def _write(self, kind: str, *entry: Any) -> None:
        if self.replayed.get(kind, 0) > 0:
            self.replayed[kind] -= 1
            return
        self.log.append([kind, *entry])
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps([kind, *entry]) + "\n")

    def setup(self, *, metric: str | None, mode: str, seed: int) -> None:
        super().setup(metric=metric, mode=mode, seed=seed)
        self.inner.setup(metric=metric, mode=mode, seed=seed)

    def on_trial_add(self, trial: TrialInfo) -> None:
        self.inner.on_trial_add(trial)
        self.added.add(trial.id)
        self._write("add", trial.id)

    def on_result(self, trial: TrialInfo, result: dict[str, Any]) -> Decision | Pause:
        decision = self.inner.on_result(trial, result)
        said: list[Any] = [str(getattr(decision, "value", decision))]
        if isinstance(decision, Pause):
            said = ["PAUSE", decision.copy_weights_from]
            if decision.copy_weights_from == trial.id or decision.copy_weights_from not in self.added:
                self.violations.append(f"on_result for trial {trial.id} returned {decision!r}: no such other trial")
        elif not isinstance(decision, Decision):
            self.violations.append(f"on_result for trial {trial.id} returned {decision!r}, not a Decision or Pause")
        self._write("result", trial.id, result["training_iteration"], *said)
        return decision

    def next_trial(self, *, new_allowed: bool, paused: Sequence[TrialInfo]) -> Suggestion | None:
        suggestion = self.inner.next_trial(new_allowed=new_allowed, paused=paused)
        ids = {t.id for t in paused}
        if isinstance(suggestion, Start):
            if not new_allowed:
                self.violations.append("next_trial returned Start() while new_allowed=False")
            self._write("start")
        elif isinstance(suggestion, (Resume, Stop)):
            if suggestion.trial_id not in ids:
                self.violations.append(f"next_trial returned {suggestion!r}; paused trials: {sorted(ids)}")
            self._write(type(suggestion).__name__.lower(), suggestion.trial_id)
        elif suggestion is not None:
            self.violations.append(f"next_trial returned {suggestion!r}")
        return suggestion

    def on_complete(self, trial: TrialInfo, status: Status) -> None:
        self.inner.on_complete(trial, status)
        self._write("end", trial.id, status.value)


def run_recorded(
    scheduler: Scheduler,
    executor: str | SimulatedExecutor,
    storage: Path,
    name: str,
    *,
    max_concurrent: int = 1,
    fail: bool = False,
    resume: bool = False,
    log: str | None = None,
) -> tuple[Recorder, rung.ExperimentResult]:
    """One run of the contract problem with `scheduler` wrapped in a `Recorder`."""
    recorder = Recorder(scheduler, log, replay_counts(storage, name) if resume else None)
    simulated = isinstance(executor, SimulatedExecutor)
    result = rung.run(
        simulated_objective if simulated else objective,
        {"x": rung.uniform(0, 1), "n": N_STEPS, "fail": fail},
        metric="loss",
        mode="min",
        num_samples=NUM_SAMPLES,
        scheduler=recorder,
        max_concurrent=None if simulated else max_concurrent,
        executor=executor,
        name=name,
        storage=storage,
        resume=resume,
        seed=SEED,
        verbose=0,
    )
    return recorder, result


def replay_counts(storage: Path, name: str) -> dict[str, int]:
    """How many calls of each kind the tuner's replay of a stored experiment makes (as `Tuner.replay`)."""
    counts = {"add": 0, "result": 0, "end": 0}
    try:
        store = Store.read(storage, name)
    except ExperimentNotFoundError:
        return counts
    try:
        for kind, _, data in store.history():
            if kind == "result":
                counts["result"] += 1
            elif "origin" in data[1]:
                counts["add"] += 1
            elif data[0].finished:
                counts["end"] += 1
    finally:
        store.close()
    return counts


def _trials(result: rung.ExperimentResult) -> list[tuple[int, Any, Status, list[int]]]:
    return [(t.id, t.config, t.status, [r["training_iteration"] for r in result.history(t.id)]) for t in result.trials]


def _decisions(log: list[list[Any]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    return {(e[1], e[2]): tuple(e[3:]) for e in log if e[0] == "result"}


def _describe(make: MakeScheduler) -> str:
    return type(make()).__name__


def left_paused(log: list[list[Any]]) -> list[int]:
    """Trials the scheduler paused and then neither resumed nor stopped: the tuner stopped them at the end."""
    waiting: set[int] = set()
    left: list[int] = []
    for entry in log:
        if entry[0] == "result" and entry[3] == "PAUSE":
            waiting.add(entry[1])
        elif entry[0] in ("resume", "stop"):
            waiting.discard(entry[1])
        elif entry[0] == "end" and entry[1] in waiting:
            waiting.discard(entry[1])
            left.append(entry[1])
    return left


def _check_no_stall(make: MakeScheduler, log: list[list[Any]]) -> None:
    """Unless the scheduler may end a run with trials paused (`leaves_paused`), none is left so."""
    left = left_paused(log)
    if not getattr(make(), "leaves_paused", False):
        assert not left, f"{_describe(make)}: trials {left} were paused and then left waiting until the run ended"


def check_legal_decisions(make: MakeScheduler, executor: str, storage: Path) -> None:
    recorder, result = run_recorded(make(), executor, storage, "legal", max_concurrent=2)
    assert not recorder.violations, f"{_describe(make)}: {recorder.violations}"
    _check_no_stall(make, recorder.log)
    assert len(result.trials) == NUM_SAMPLES
    for trial_id, _, status, iterations in _trials(result):
        assert status.finished, f"trial {trial_id} ended {status}"
        # A PBT clone continues its own iteration count from a donor's weights, maybe ones behind it.
        cloned = len(result.schedule(trial_id)) > 1
        assert iterations and (max(iterations) <= N_STEPS or cloned), f"trial {trial_id} ran {max(iterations)} steps"
        decided = [e[3] for e in recorder.log if e[0] == "result" and e[1] == trial_id]
        assert decided, f"trial {trial_id} got no decision"
        if decided[-1] == "STOP":
            assert status is Status.STOPPED, f"trial {trial_id} was told to stop but ended {status}"
    assert any(e[0] == "result" for e in recorder.log)


def check_same_decisions(make: MakeScheduler, executor: str, storage: Path) -> None:
    logs = []
    for attempt in range(2):
        recorder, _ = run_recorded(make(), executor, storage, f"same-{attempt}")
        logs.append(recorder.log)
    assert logs[0] == logs[1], f"{_describe(make)} on {executor}: two runs with one seed decided differently"
    sims = []
    for attempt in range(2):
        sim = SimulatedExecutor(workers=3, decision_seconds=0.0)
        recorder, result = run_recorded(make(), sim, storage, f"sim-{attempt}")
        assert not recorder.violations, recorder.violations
        sims.append((recorder.log, _trials(result)))
    assert sims[0] == sims[1], f"{_describe(make)}: two simulated runs with one seed decided differently"


def check_error_mid_bracket(make: MakeScheduler, executor: str, storage: Path) -> None:
    recorder, result = run_recorded(make(), executor, storage, "errors", max_concurrent=2, fail=True)
    assert not recorder.violations, recorder.violations
    _check_no_stall(make, recorder.log)
    trials = _trials(result)
    failed = {t for t, _, status, _ in trials if status is Status.ERROR}
    assert failed and all(t % 3 == 0 for t in failed), f"failed trials: {sorted(failed)}"
    assert all(status.finished for _, _, status, _ in trials)
    # Training progress is the reported `step`, not the trial's own iteration count: a PBT clone counts
    # its own iterations but continues from its donor's step (ahead of it or behind it), so under some
    # orders of results every trial that trained to the end was a clone with fewer than N_STEPS results.
    reached = max(int(r["step"]) for t, _, status, _ in trials if status is not Status.ERROR for r in result.history(t))
    assert reached >= N_STEPS, f"{_describe(make)}: with failed trials {sorted(failed)}, none reached step {N_STEPS}"


def check_kill_and_resume(make: MakeScheduler, executor: str, storage: Path) -> None:
    reference, clean = run_recorded(make(), "thread", storage / "reference", "run")
    returned = sum(1 for e in reference.log if e[0] == "result" and e[3] == "CONTINUE")
    assert returned >= 4, f"too few reports to kill the driver in the middle: {reference.log}"
    runs, log, pickled = storage / "killed", storage / "log.jsonl", storage / "scheduler.pkl"
    pickled.write_bytes(cloudpickle.dumps(make()))
    args = [str(pickled), str(runs), executor, str(log), str(storage / "counter"), str(returned // 2)]
    driver = subprocess.run(
        [sys.executable, "-m", "rung.testing.schedulers", *args], capture_output=True, text=True, timeout=120
    )
    assert driver.returncode == 0, driver.stderr
    killed, before = driver.stdout.split()[-2:]
    assert int(killed) == signal.SIGKILL, f"the driver was not killed (wait status {killed}):\n{driver.stderr}"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    after = rung.load("run", storage=runs)
    assert 0 < int(before) < sum(len(h) for *_, h in _trials(after)), "the kill did not happen mid-run"
    assert _decisions(entries) == _decisions(reference.log), f"{_describe(make)}: decisions differ after resume"
    assert _trials(after) == _trials(clean), f"{_describe(make)}: trials differ after resume"


SCHEDULER_CHECKS: list[Callable[[MakeScheduler, str, Path], None]] = [
    check_legal_decisions,
    check_same_decisions,
    check_error_mid_bracket,
    check_kill_and_resume,
]


def _main(argv: list[str]) -> None:
    """The kill check's driver: `SCHEDULER_PICKLE STORAGE EXECUTOR LOG COUNTER KILL_AT`.

    A forked child runs the experiment until the objective kills it (SIGKILL at the KILL_AT-th
    returned report); this process then resumes the experiment to its end, and prints the signal
    that ended the child and the number of results stored before the resume.
    """
    pickled, storage, executor, log, counter, kill_at = argv
    scheduler = cloudpickle.loads(Path(pickled).read_bytes())
    child = os.fork()
    if child == 0:  # pragma: no cover (killed)
        os.environ[KILL_ENV] = f"{counter}:{kill_at}:{os.getpid()}"
        try:
            run_recorded(scheduler, executor, Path(storage), "run", resume=True, log=log)
        finally:
            os._exit(1)  # not killed: the parent reports it
    _, status = os.waitpid(child, 0)
    stored = rung.load("run", storage=storage)
    before = sum(len(stored.history(t.id)) for t in stored.trials)
    run_recorded(cloudpickle.loads(Path(pickled).read_bytes()), executor, Path(storage), "run", resume=True, log=log)
    print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, before)


if __name__ == "__main__":
    from rung.testing import schedulers

    schedulers._main(sys.argv[1:])
