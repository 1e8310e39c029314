"""Every example in examples/ runs, tiny (`--smoke`), as a user runs it: `python examples/X.py --smoke`.

Each run is a subprocess from a temporary working directory (the examples write plots there) with
the checkout first on the path. Each example's header records what its full run printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the fixture, and the `ray` marker on the Ray example's test

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 110) -> str:
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--smoke", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment,
    )  # fmt: skip
    assert out.returncode == 0, f"{name} --smoke failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_every_example_is_smoke_tested_and_records_a_full_run() -> None:
    tested = {path.name for path in EXAMPLES.glob("*.py")}
    here = Path(__file__).read_text()
    for name in tested - {"pbt_toy.py"}:  # pbt_toy has its own test (tests/test_pbt.py)
        assert f'"{name}"' in here, f"examples/{name} has no smoke test here"
        header = (EXAMPLES / name).read_text().split('"""')[1]
        assert "What it shows" in header and "What it printed" in header, name
        assert "filled in below" not in header, f"examples/{name}: paste the output of a full run into its header"


def test_sklearn_pipeline(tmp_path: Path) -> None:
    out = run_example("sklearn_pipeline.py", tmp_path)
    assert "same mean_test_score for every params: True" in out
    epochs = re.search(r"epochs trained per fold: (\d+) of (\d+)", out)
    assert epochs is not None and int(epochs[1]) < int(epochs[2])  # ASHA stopped some trials


def test_lightgbm_early_stopping(tmp_path: Path) -> None:
    out = run_example("lightgbm_early_stopping.py", tmp_path)
    rounds = [int(n) for n in re.findall(r"(\d+) boosting rounds", out)]
    stopped = [int(n) for n in re.findall(r"(\d+) stopped by ASHA", out)]
    assert len(rounds) == 2 and rounds[1] < rounds[0], out  # with ASHA: fewer rounds
    assert stopped[0] == 0 and stopped[1] > 0, out


def test_dqn_cartpole(tmp_path: Path) -> None:
    out = run_example("dqn_cartpole.py", tmp_path, "--out", "plots")
    for phase in ("grid", "random", "asha", "pbt"):
        assert re.search(rf"^ *{phase}: +\d+ trials", out, re.MULTILINE), out
        assert (tmp_path / "plots" / f"{phase}-curves.png").stat().st_size > 0
    assert (tmp_path / "plots" / "pbt-learning-rate.png").stat().st_size > 0
    assert re.search(r"grid:  3 trials", out)  # the batch_size choice crossed as a grid
    assert re.search(r"trial \d: [1-9] PBT changes; learning rate", out)


def test_ray_cluster(tmp_path: Path, ray_cluster: Cluster) -> None:
    address = ray_cluster.address
    out = run_example("ray_cluster.py", tmp_path, env={"RAY_ADDRESS": address})
    assert f"4 trials on {address}" in out and "best accuracy" in out


# The deep-learning examples import torch (and Lightning, Keras or Transformers) in the driver and in each
# worker process: tens of seconds of imports on a busy machine before any training, hence the longer timeouts.
# OMP_NUM_THREADS: the driver's torch on one thread too, as the examples set it in their trials.
TORCH_ENV = {"OMP_NUM_THREADS": "1"}


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_pytorch_cnn(tmp_path: Path) -> None:
    out = run_example("pytorch_cnn.py", tmp_path, env=TORCH_ENV, timeout=280)
    assert re.search(r"^device: (cpu|cuda);", out, re.MULTILINE), out
    # promote: the best of the trials waiting at epoch 1 goes on to 2 (the best of the first two, when a worker
    # is free and no trial is left to start, and the best of all three): one or two, the third stays behind
    assert re.search(r"^asha:  3 trials,   [45] of 6 epochs", out, re.MULTILINE), out
    assert re.search(r"^ pbt:  2 trials,   4 of 4 epochs", out, re.MULTILINE), out
    changes = re.findall(r"trial \d: (\d) PBT changes; lr", out)
    assert sorted(changes) == ["0", "1"], out  # after epoch 1 the worse member went on from the better one


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_lightning_digits(tmp_path: Path) -> None:
    out = run_example("lightning_digits.py", tmp_path, env=TORCH_ENV, timeout=280)
    assert "TPE + ASHA: 3 trials" in out, out
    # promote: one or two trials go on from epoch 1 to 3 (as in test_pytorch_cnn), resumed from their checkpoints
    resumed = re.search(r"resumed by Lightning from their checkpoints: (\d) trials", out)
    assert resumed is not None and resumed[1] in "12", out
    epochs = "[3, 1, 1]" if resumed[1] == "1" else "[3, 3, 1]"
    assert f"epochs per trial: {epochs}" in out, out
    assert re.search(r"held-out accuracy [01]\.\d{3}", out), out  # the best checkpoint loaded by Lightning


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_keras_digits(tmp_path: Path) -> None:
    out = run_example("keras_digits.py", tmp_path, env={**TORCH_ENV, "KERAS_BACKEND": "torch"}, timeout=280)
    assert "on torch; PBT: 2 members x 2 epochs" in out, out
    changes = re.findall(r"member \d: best val accuracy [01]\.\d{3}; (\d) PBT changes", out)
    assert sorted(changes) == ["0", "1"], out  # after epoch 1 the worse member went on from the better one
    assert re.search(r"^best: member \d, val accuracy [01]\.\d{3}, held-out accuracy [01]\.\d{3}$", out, re.MULTILINE)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_transformers_tiny(tmp_path: Path) -> None:
    out = run_example("transformers_tiny.py", tmp_path, env={**TORCH_ENV, "HF_HUB_OFFLINE": "1"}, timeout=280)
    assert "tune() + ASHA: 2 trials" in out and "epochs per trial: [1, 1]" in out, out
    # the best trial's checkpoint, unpacked and loaded with from_pretrained
    assert re.search(r"held-out accuracy [01]\.\d{3}:", out), out
