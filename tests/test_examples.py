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

if TYPE_CHECKING:
    from ray_cluster import Cluster

pytest_plugins = ["ray_cluster"]  # the fixture, and the `ray` marker on the Ray example's test

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--smoke", *args],
        cwd=cwd, capture_output=True, text=True, timeout=110, env=environment,
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
    assert len(rounds) == 2 and rounds[1] < rounds[0], out  # with ASHA: fewer rounds
    assert "0 stopped by ASHA" in out.splitlines()[0] and " 0 stopped" not in out.splitlines()[1]


def test_dqn_cartpole(tmp_path: Path) -> None:
    out = run_example("dqn_cartpole.py", tmp_path, "--out", "plots")
    for phase in ("grid", "random", "asha", "pbt"):
        assert re.search(rf"^ *{phase}: +\d+ trials", out, re.MULTILINE), out
        assert (tmp_path / "plots" / f"{phase}-curves.png").stat().st_size > 0
    assert (tmp_path / "plots" / "pbt-learning-rate.png").stat().st_size > 0
    assert re.search(r"grid:  3 trials", out)  # the batch_size choice crossed as a grid


def test_ray_cluster(tmp_path: Path, ray_cluster: Cluster) -> None:
    address = ray_cluster.address
    out = run_example("ray_cluster.py", tmp_path, env={"RAY_ADDRESS": address})
    assert f"4 trials on {address}" in out and "best accuracy" in out
