"""The searcher contract suite.

Use from a test: `for check in SEARCHER_CHECKS: check(make_searcher)`, where `make_searcher()`
returns a fresh searcher (the checks seed it through `setup`, unless it was given a seed). Each
check raises AssertionError saying what went wrong. `check_resume_after_kill` pickles
`make_searcher` with cloudpickle for a driver subprocess (which gets this process's `sys.path`),
so it must be a class, a module-level function or a lambda.

The checks drive searchers as the tuner does (`drive`): suggest for each free slot, then the
oldest running trial reports its results (`observe`) and ends (`on_complete`).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

import rung
from rung import hp
from rung._numbers import is_number
from rung.domains import Categorical, Float, GridValues, Integer, Normal
from rung.objectives import Objectives
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config, Status

__all__ = ["CONDITIONAL", "RICH", "SEARCHER_CHECKS", "drive", "resume_after_kill"]

MakeSearcher = Callable[[], Searcher]
Outcome = tuple[list[dict[str, Any]], Status]
"""A trial's results (each a dict, as reported) and the status it ends with."""

RICH: dict[str, Any] = {
    "f": rung.uniform(-2.0, 3.0),
    "lf": rung.loguniform(1e-4, 1.0),
    "qf": rung.quniform(0.0, 1.0, 0.1),
    "qlf": rung.qloguniform(1.0, 1000.0, 5.0),
    "i": rung.randint(-3, 7),
    "qi": rung.qrandint(0, 100, 10),
    "li": rung.lograndint(1, 4096),
    "qli": rung.qlograndint(2, 512, 2),
    "n": rung.normal(0.0, 2.0),
    "qn": rung.qnormal(5.0, 1.0, 0.5),
    "ln": hp.lognormal("ln", 0.0, 1.0),
    "qln": hp.qlognormal("qln", 2.0, 0.5, 1.0),
    "c": rung.choice(["a", "b", 3, None, True]),
    "nested": {"deep": {"x": rung.uniform(0.0, 1.0)}, "tag": "k"},
    "derived": rung.sample_from(lambda cfg: cfg["f"] * 2),
    "const": 42,
}
"""Every kind of domain, nested dicts, a derived value and constants."""

CONDITIONAL: dict[str, Any] = {
    "model": rung.choice(
        [
            {
                "kind": "mlp",
                "width": rung.randint(8, 64),
                "act": rung.choice(["relu", "tanh"]),
                "opt": {"lr": rung.loguniform(1e-4, 1e-1)},
            },
            {
                "kind": "tree",
                "depth": rung.randint(1, 10),
                "leaf": rung.choice([{"min": rung.uniform(0.0, 1.0)}, {"min": 5}]),
            },
            {"kind": "linear"},
            {"kind": "stack", "sizes": [rung.randint(1, 4), rung.randint(1, 4)]},
        ]
    ),
    "outer": {"x": rung.uniform(0.0, 1.0)},
    "label": rung.sample_from(lambda cfg: cfg["model"]["kind"] + "!"),
}
"""Choices between nested spaces (one holding another choice, one a list of domains)."""


def drive(
    searcher: Searcher,
    spec: Mapping[str, Any],
    outcome: Callable[[int, Config], Outcome],
    *,
    num_samples: int,
    parallel: int = 1,
    mode: str = "min",
    seed: int = 0,
    objectives: Objectives | None = None,
) -> list[tuple[int, Config]]:
    """Run `searcher` to its end the way the tuner does; return every (trial id, config) proposed.

    Up to `parallel` trials run at once; the oldest running one reports `outcome(trial_id, config)`
    (each result through `observe`, then `on_complete` with the last). `objectives` (several, or
    constraints; the first metric must be "loss") are given by `set_objectives` after `setup`.
    """
    searcher.setup(Space(spec), metric="loss", mode=mode, num_samples=num_samples, seed=seed)
    if objectives is not None:
        searcher.set_objectives(objectives)
    proposed: list[tuple[int, Config]] = []
    running: list[tuple[int, Config]] = []
    done = False
    while True:
        while not done and len(running) < parallel:
            trial_id = len(proposed) + 1
            config = searcher.suggest(trial_id)
            if config is None:
                done = True
                break
            proposed.append((trial_id, config))
            running.append((trial_id, config))
        if not running:
            return proposed
        trial_id, config = running.pop(0)
        results, status = outcome(trial_id, config)
        for i, result in enumerate(results):
            searcher.observe(trial_id, {**result, "training_iteration": i + 1})
        last = {**results[-1], "training_iteration": len(results)} if results else None
        searcher.on_complete(trial_id, status, last)


def _numbers(config: Mapping[str, Any]) -> float:
    """A smooth loss from a config's numeric leaves (so model-based searchers have a signal)."""
    total = 0.0
    for value in config.values():
        if isinstance(value, Mapping):
            total += _numbers(value)
        elif is_number(value):
            total += math.tanh(float(value) / 10.0) ** 2
    return total


def _plain(trial_id: int, config: Config) -> Outcome:
    return [{"loss": _numbers(config) + 1.0 / (step + 1)} for step in range(2)], Status.TERMINATED


def _leaves_plain(node: Any, where: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _leaves_plain(value, f"{where}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _leaves_plain(value, f"{where}[{i}]")
    else:
        assert not isinstance(node, np.generic), f"{where} is a numpy scalar: {node!r}"


def _check_config(space: Space, config: Config) -> None:
    assert space.contains(config), f"proposal outside the space: {config}"
    _leaves_plain(config, "config")
    for path, domain in space.paths:
        value: Any = config
        for key in path:
            value = value[key]
        where = ".".join(path)
        if isinstance(domain, Integer):
            assert type(value) is int, f"{where} should be an int; got {value!r} ({type(value).__name__})"
        elif isinstance(domain, (Float, Normal)):
            assert type(value) is float, f"{where} should be a float; got {value!r} ({type(value).__name__})"
        elif isinstance(domain, (Categorical, GridValues)):
            assert domain.contains(value), f"{where} is not one of the options: {value!r}"


def check_proposals_inside_space(make: MakeSearcher) -> None:
    """Every proposal is in the space, of the right types; exactly num_samples of them, then None."""
    space = Space(RICH)
    searcher = make()
    proposed = drive(searcher, RICH, _plain, num_samples=30, parallel=3)
    expected = searcher.total if searcher.total is not None else 30
    assert len(proposed) == expected, f"expected {expected} proposals for num_samples=30; got {len(proposed)}"
    assert searcher.suggest(len(proposed) + 1) is None and searcher.suggest(len(proposed) + 2) is None
    for _, config in proposed:
        _check_config(space, config)
        assert config["derived"] == config["f"] * 2 and config["const"] == 42, config
        assert config["nested"]["tag"] == "k" and set(config) == set(RICH), config


def check_same_seed_same_proposals(make: MakeSearcher) -> None:
    """The same seed and the same events give the same proposals; another seed gives others."""

    def configs(seed: int) -> list[Config]:
        return [c for _, c in drive(make(), RICH, _plain, num_samples=25, parallel=2, seed=seed)]

    first = configs(3)
    assert first == configs(3), "two searchers with the same seed and events proposed different configs"
    if make().seed is None:
        assert first != configs(4), "seeds 3 and 4 gave the same proposals: is the seed used?"


def check_bad_results_tolerated(make: MakeSearcher) -> None:
    """NaN/inf values, a missing or non-numeric metric, failed trials and unknown trial ids do not break it."""
    space = Space(RICH)
    kinds = ["nan", "inf", "-inf", "missing", "none", "text", "error", "error-empty", "empty", "ok", "ok", "ok"]

    def outcome(trial_id: int, config: Config) -> Outcome:
        kind = kinds[trial_id % len(kinds)]
        value: Any = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "none": None, "text": "high"}.get(
            kind, _numbers(config)
        )
        if kind == "missing":
            return [{"other": 1.0}], Status.TERMINATED
        if kind in ("error-empty", "empty"):
            return [], Status.ERROR if kind == "error-empty" else Status.TERMINATED
        return [{"loss": 0.5}, {"loss": value}], Status.ERROR if kind == "error" else Status.TERMINATED

    for mode in ("min", "max"):
        searcher = make()
        proposed = drive(searcher, RICH, outcome, num_samples=40, parallel=2, mode=mode)
        assert len(proposed) == (searcher.total if searcher.total is not None else 40)
        for _, config in proposed:
            _check_config(space, config)
        # Trials it never proposed (a scheduler's clones) are reported too.
        searcher.observe(10_000, {"loss": 1.0, "training_iteration": 1})
        searcher.on_complete(10_000, Status.TERMINATED, {"loss": 1.0, "training_iteration": 1})
        searcher.on_complete(10_001, Status.ERROR, None)


def check_conditional_and_nested(make: MakeSearcher) -> None:
    """Choices between nested spaces: proposals match the chosen option; every option gets tried."""
    space = Space(CONDITIONAL)
    proposed = drive(make(), CONDITIONAL, _plain, num_samples=40, parallel=2)
    kinds = set()
    for _, config in proposed:
        _check_config(space, config)
        model = config["model"]
        kinds.add(model["kind"])
        assert config["label"] == model["kind"] + "!", config
        if model["kind"] == "mlp":
            assert type(model["width"]) is int and 1e-4 <= model["opt"]["lr"] <= 1e-1, config
        if model["kind"] == "stack":
            assert all(type(s) is int and 1 <= s <= 4 for s in model["sizes"]), config
    assert kinds == {"mlp", "tree", "linear", "stack"}, f"options never proposed: {kinds}"


DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    import cloudpickle
    import rung

    storage, factory, executor = sys.argv[1], sys.argv[2], sys.argv[3]
    kill_trial, kill_step = int(sys.argv[4]), int(sys.argv[5])
    with open(factory, "rb") as f:
        make = cloudpickle.load(f)

    def train(config):
        checkpoint = rung.get_checkpoint()
        for step in range(0 if checkpoint is None else checkpoint + 1, 3):
            loss = (config["x"] - 0.3) ** 2 + {"a": 0.0, "b": 0.1, "c": 0.2}[config["k"]] + 0.01 * config["n"]
            rung.report({"loss": loss + 1 / (step + 1)}, checkpoint=step)
            if rung.get_trial_id() == kill_trial and step == kill_step:
                # The driver: this process (thread executor) or the one that started the worker.
                os.kill(os.getpid() if executor == "thread" else int(os.environ["RUNG_DRIVER_PID"]), signal.SIGKILL)

    space = {"x": rung.uniform(0, 1), "k": rung.choice(["a", "b", "c"]), "n": rung.randint(1, 5)}
    points = [{"x": 0.31, "k": "a"}, {"k": "c"}, {"x": 0.9, "k": "b", "n": 2}]  # run first, then learnt from
    rung.run(train, space, metric="loss", num_samples=14, max_concurrent=1, executor=executor,
             search=make(), name="kill", storage=storage, resume=True, seed=11, verbose=0,
             points_to_evaluate=points)
    """
)


def check_resume_after_kill(make: MakeSearcher) -> None:
    """Killed (SIGKILL) during trial 12 and resumed, a run proposes what an uninterrupted run proposed."""
    resume_after_kill(make, "thread")


def resume_after_kill(make: MakeSearcher, executor: str, kill_trial: int = 12) -> None:
    """`check_resume_after_kill` on the given executor ("thread" or "process"), the driver killed during
    trial `kill_trial` (trials 1-3 are the run's `points_to_evaluate`).

    One trial runs at a time, so the events, and what a searcher proposes, do not depend on timing.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script, factory = root / "driver.py", root / "factory.pkl"
        script.write_text(DRIVER)
        factory.write_bytes(cloudpickle.dumps(make))

        def run(storage: Path, kill_trial: int) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, str(script), str(storage), str(factory), executor, str(kill_trial), "1"]
            # The driver imports what `make` needs (e.g. a test module) from this process's path.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

        crashed = run(root / "crashed", kill_trial)
        assert crashed.returncode == -signal.SIGKILL, f"the driver should die by SIGKILL:\n{crashed.stderr}"
        assert len(rung.load("kill", storage=root / "crashed").trials) == kill_trial
        resumed = run(root / "crashed", 0)
        assert resumed.returncode == 0, resumed.stderr
        clean = run(root / "clean", 0)
        assert clean.returncode == 0, clean.stderr
        after = [t.config for t in rung.load("kill", storage=root / "crashed").trials]
        expected = [t.config for t in rung.load("kill", storage=root / "clean").trials]
        assert len(expected) > kill_trial and after == expected, f"resumed: {after}\nuninterrupted: {expected}"


def check_given_points(make: MakeSearcher) -> None:
    """`points_to_evaluate` run first, in order, as given (the keys they leave out drawn inside the
    space), in addition to the searcher's own proposals; conditional and nested values included."""
    spec = {**RICH, "cond": CONDITIONAL["model"]}
    space = Space(spec)
    points: list[dict[str, Any]] = [
        {"f": 2.5, "lf": 0.001, "i": 6, "c": None, "nested": {"deep": {"x": 0.25}}, "qf": 0.3, "li": 64},
        {"cond": {"kind": "tree", "depth": 3, "leaf": {"min": 5}}},
        {},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        result = rung.run(
            lambda config: {"loss": _numbers(config)}, spec, metric="loss", num_samples=12, search=make(),
            executor="thread", max_concurrent=1, storage=tmp, name="given", seed=5, verbose=0,
            points_to_evaluate=points,
        )  # fmt: skip
        configs = [t.config for t in result.trials]
    own = make()
    own.setup(space, metric="loss", mode="min", num_samples=12, seed=5)
    assert len(configs) == len(points) + (own.total if own.total is not None else 12), len(configs)
    for config in configs:
        _check_config(space, config)
    first, second = configs[0], configs[1]
    assert (first["f"], first["lf"], first["i"], first["c"], first["qf"], first["li"]) == (2.5, 0.001, 6, None, 0.3, 64)
    assert first["nested"] == {"deep": {"x": 0.25}, "tag": "k"} and first["derived"] == 5.0
    assert second["cond"] == {"kind": "tree", "depth": 3, "leaf": {"min": 5}}


def check_several_objectives(make: MakeSearcher) -> None:
    """With constraints, and with several objectives when it takes them (`multi_objective = True`), it
    proposes inside the space, tolerates results that lack an objective, are not finite, break a
    constraint or fail, and gives the same proposals for the same seed and events."""
    space = Space(RICH)
    kinds = ["ok", "nan", "missing", "infeasible", "unreported", "error", "ok", "ok"]

    def outcome(trial_id: int, config: Config) -> Outcome:
        kind = kinds[trial_id % len(kinds)]
        x = _numbers(config)
        result: dict[str, Any] = {"loss": x, "size": 1.0 / (1.0 + abs(x)), "mb": 10.0}
        if kind == "nan":
            result["size"] = math.nan
        elif kind == "missing":
            del result["size"]
        elif kind == "infeasible":
            result["mb"] = 90.0
        elif kind == "unreported":
            del result["mb"]
        return [result], Status.ERROR if kind == "error" else Status.TERMINATED

    several = make().multi_objective
    goals = (["loss", "size"], ["min", "max"]) if several else ("loss", "min")
    objectives = Objectives.of(*goals, constraints={"mb": ("<=", 50)})

    def configs(seed: int) -> list[Config]:
        proposed = drive(make(), RICH, outcome, num_samples=30, parallel=2, seed=seed, objectives=objectives)
        return [c for _, c in proposed]

    first = configs(3)
    for config in first:
        _check_config(space, config)
    assert first == configs(3), "two searchers with the same seed and events proposed different configs"


SEARCHER_CHECKS: list[Callable[[MakeSearcher], None]] = [
    check_several_objectives,
    check_given_points,
    check_proposals_inside_space,
    check_same_seed_same_proposals,
    check_bad_results_tolerated,
    check_conditional_and_nested,
    check_resume_after_kill,
]
