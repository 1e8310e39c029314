from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import rung
from rung.types import Status


def test_every_public_name_resolves() -> None:
    assert rung.__all__ == sorted(rung.__all__)
    for name in rung.__all__:
        assert getattr(rung, name) is not None, name
    assert set(dir(rung)) == set(rung.__all__)


def test_import_rung_stays_light() -> None:
    code = "import sys, rung; print(sorted(m for m in ('numpy', 'scipy', 'rich', 'sqlite3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tpe_loads_scipy_in_a_thread_from_its_first_result_on() -> None:
    # scipy takes about 0.2 s to import: the first trials (random until n_startup) start without it,
    # and a thread loads it while they run, so that the first fit does not stop the driver for it.
    code = (
        "import sys, rung\n"
        "from rung import _blas\n"
        "from rung.space import Space\n"
        "tpe = rung.TPE(n_startup=2, seed=0)\n"
        "tpe.setup(Space({'x': rung.uniform(0, 1)}), metric='loss', mode='min', num_samples=9, seed=0)\n"
        "first = tpe.suggest(1)\n"
        "print('scipy' in sys.modules, _blas._loading.cache_info().currsize)\n"
        "tpe.observe(1, {'loss': first['x']})\n"
        "print(_blas._loading.cache_info().currsize)\n"
        "tpe.on_complete(1, rung.Status.TERMINATED, None)\n"
        "tpe.observe(2, {'loss': tpe.suggest(2)['x']})\n"
        "tpe.on_complete(2, rung.Status.TERMINATED, None)\n"
        "tpe.suggest(3)\n"
        "print('scipy.special' in sys.modules, _blas._loading().found is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "0", "1", "True", "True"]


def test_the_default_searcher_builds_its_gp_without_loading_scipy() -> None:
    # rung.run's default sets up a GP for spaces it models before the first trial, though it fits one
    # only if trials report once: scipy (0.5-1.3 s here) must not delay the first trial.
    code = (
        "import sys, rung\n"
        "from rung.space import Space\n"
        "search = rung.AutoSearch(seed=0)\n"
        "search.setup(Space({'x': rung.uniform(0, 1)}), metric='loss', mode='min', num_samples=9, seed=0)\n"
        "print(search._gp is not None, 'scipy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def train(config: dict[str, Any]) -> None:
    ckpt = rung.get_checkpoint()
    start = ckpt["epoch"] + 1 if ckpt else 0
    for epoch in range(start, config["epochs"]):
        acc = 1 - abs(config["lr"] - 0.01) - config["dropout"] / (epoch + 1)
        rung.report({"loss": 1 - acc, "acc": acc}, checkpoint={"epoch": epoch, "weights": [epoch] * 3})


def test_the_issue_example_runs_as_written(storage: Path) -> None:
    space = {
        "lr": rung.loguniform(1e-4, 1e-1),
        "batch_size": rung.choice([32, 64, 128]),
        "momentum": rung.uniform(0.0, 0.99),
        "dropout": rung.quniform(0.0, 0.5, 0.05),
        "layers": rung.randint(1, 4),
        "width": rung.lograndint(16, 512),
        "noise": rung.normal(0.0, 1.0),
        "optimizer": rung.grid(["sgd", "adam"]),
        "wd": rung.sample_from(lambda cfg: cfg["lr"] / 10),
        "model": {"act": rung.choice(["relu", "tanh"])},
        "epochs": 5,
    }
    result = rung.run(
        train,
        space,
        metric="acc",
        mode="max",
        num_samples=3,
        search="random",
        scheduler=None,
        max_concurrent=None,
        resources={"cpu": 1, "gpu": 0},
        executor="process",
        name="exp1",
        storage=storage,
        resume=False,
        stop={"training_iteration": 4},
        time_budget_s=None,
        max_failures=0,
        seed=0,
        verbose=0,
    )
    assert len(result.trials) == 6
    assert sorted(t.config["optimizer"] for t in result.trials) == ["adam"] * 3 + ["sgd"] * 3
    assert all(t.status is Status.TERMINATED and t.iteration == 4 for t in result.trials)
    best = result.best
    assert best is not None and best.checkpoint == {"epoch": 3, "weights": [3, 3, 3]}
    assert best.config == result.best_config and best.error is None
    assert best.metrics["training_iteration"] == 4 and best.best_metrics is not None


def test_the_hyperopt_seed_space_runs_as_written(storage: Path) -> None:
    from rung import hp

    space = {
        "batch_size": hp.choice("batch_size", [32, 64, 128]),
        "learning_rate": hp.loguniform("learning_rate", [0.0001, 0.01]),
        "target_update": hp.uniform("target_update", [4, 100]),
    }
    result = rung.run(
        lambda c: {"score": c["learning_rate"] * c["target_update"]},
        space,
        metric="score",
        num_samples=5,
        storage=storage,
        name="hp",
        verbose=0,
    )
    for trial in result.trials:
        assert trial.config["batch_size"] in (32, 64, 128)
        assert 1e-4 <= trial.config["learning_rate"] <= 1e-2
        assert 4 <= trial.config["target_update"] <= 100


def test_the_default_loads_its_gps_scipy_in_a_thread_once_the_gp_will_fit() -> None:
    # Trials that report once: the GP fits from its 10th ended trial, and its scipy modules (0.3-0.5 s)
    # load in a thread from the first trial's end on. With learning curves the GP never fits: nothing loads.
    code = (
        "import sys, rung\n"
        "from rung import _blas\n"
        "from rung.space import Space\n"
        "for steps in (3, 1):\n"
        "    search = rung.AutoSearch(seed=0)\n"
        "    search.setup(Space({'x': rung.uniform(0, 1)}), metric='loss', mode='min', num_samples=9, seed=0)\n"
        "    config = search.suggest(1)\n"
        "    for step in range(1, steps + 1):\n"
        "        search.observe(1, {'loss': config['x'], 'training_iteration': step})\n"
        "    search.on_complete(1, rung.Status.TERMINATED, {'loss': config['x'], 'training_iteration': steps})\n"
        "    print(search.kind, _blas._importing.cache_info().currsize)\n"
        "_blas._importing(('scipy.linalg', 'scipy.optimize', 'scipy.special')).join()\n"
        "print('scipy.optimize' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["curves", "0", "once", "1", "True"]
