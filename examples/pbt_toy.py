"""The toy experiment of the PBT paper (Jaderberg et al. 2017, "Population Based Training of Neural
Networks", Fig. 2), run with `rung.PBT`.

Weights θ ∈ R² start at θ = (0.9, 0.9). The true objective is Q(θ) = 1.2 - (θ₀² + θ₁²), best 1.2
at θ = 0. A member cannot see Q: it does gradient ascent on the surrogate Q̂(θ | h) = 1.2 - (h₀θ₀² +
h₁θ₁²) with its own hyperparameters h, and reports Q. The population has two members, starting with
h = (1, 0) and h = (0, 1): each alone shrinks only one coordinate of θ, so without PBT neither can
ever pass Q = 1.2 - 0.81 = 0.39. With PBT the worse member copies the better one's θ (exploit) and
its h plus Gaussian noise (explore, as in the paper), so h soon acts on both coordinates.

Settings used here (and in tests/test_pbt.py):
- step size η = 0.01 (θ ← θ - η · 2hθ, elementwise),
- perturbation interval: 4 steps (`synch=True`: both members meet at every point, as in the paper),
- explore: h ← h + N(0, 0.1²) per component (through `custom_explore`; the built-in x1.2/x0.8
  cannot move a 0),
- budget: 300 steps per member.

Run it with `python examples/pbt_toy.py`; it prints the best Q with and without PBT.
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any

import numpy as np

import rung
from rung.schedulers.pbt import PBT

STEP_SIZE = 0.01
INTERVAL = 4
STEPS = 300
NOISE = 0.1
SPACE = {"h": rung.grid([[1.0, 0.0], [0.0, 1.0]])}


def member(config: dict[str, Any]) -> None:
    """One population member: gradient ascent on the surrogate with its own h; reports the true Q."""
    state = rung.get_checkpoint() or {"theta": [0.9, 0.9], "step": 0}
    theta, h = np.array(state["theta"]), np.array(config["h"])
    for step in range(state["step"], STEPS):
        theta = theta + STEP_SIZE * (-2.0 * h * theta)
        q = 1.2 - float(np.sum(theta**2))
        rung.report({"Q": q}, checkpoint={"theta": theta.tolist(), "step": step + 1})


def add_noise(config: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Explore as the paper does: Gaussian noise on each hyperparameter."""
    return {**config, "h": [float(x + rng.normal(0.0, NOISE)) for x in config["h"]]}


def pbt() -> PBT:
    return PBT(perturbation_interval=INTERVAL, hyperparam_mutations={}, custom_explore=add_noise, synch=True)


def best_q(result: rung.ExperimentResult) -> float:
    return max(float(r["Q"]) for t in result.trials for r in result.history(t.id))


def main(storage: str) -> None:
    common: dict[str, Any] = {"metric": "Q", "mode": "max", "executor": "thread", "storage": storage, "verbose": 0}
    with_pbt = rung.run(member, SPACE, scheduler=pbt(), name="with-pbt", seed=0, **common)
    without = rung.run(member, SPACE, name="without-pbt", seed=0, **common)
    print(f"best Q with PBT:    {best_q(with_pbt):.6f}  (optimum 1.2)")
    print(f"best Q without PBT: {best_q(without):.6f}  (bound 0.39)")
    for trial in with_pbt.trials:
        changes = with_pbt.schedule(trial.id)[1:]
        print(f"member {trial.id}: {len(changes)} changes; final h = {[round(x, 3) for x in trial.config['h']]}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(sys.argv[1] if len(sys.argv) > 1 else tmp)
