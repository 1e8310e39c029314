"""A small PyTorch CNN tuned twice: ASHA over a random search, then PBT changing the learning rate as it trains.

What it shows: a plain PyTorch training loop (no framework) that reports the validation accuracy to
rung each epoch with a checkpoint (the model's and the optimizer's `state_dict`, saved with
`torch.save`), and starts from `rung.get_checkpoint()` when there is one. It runs on CUDA when
there is a GPU, on the CPU otherwise (one torch thread per trial: trials run in parallel).
1. ASHA (`variant="promote"`): random configs of learning rate, momentum, batch size and width;
   every trial pauses at 2 and 6 epochs, and only the best third goes on, resumed from its
   checkpoint (the same model and optimizer, not a restart).
2. PBT (synchronous): a population of 4 trained for 18 epochs; every 3 epochs the worst member
   copies the best one's checkpoint and goes on with its learning rate and momentum perturbed.
Data: scikit-learn's digits (1,797 8x8 images of handwritten digits, shipped with scikit-learn:
nothing is downloaded), 60% to train on, 20% to validate on (the metric), 20% held out for the
best trial's test accuracy.

Run: `python examples/pytorch_cnn.py` (the full run: 1.5 minutes on 2 busy cores; trials are seeded
and PBT is synchronous, but ASHA's decisions depend on the order results arrive), or with `--smoke`
(up to two epochs per trial on 300 images, 40 s on 2 busy cores: what CI runs).

What it printed (full run, 2 cores):

    device: cpu; 1078 images to train on, 359 to validate on
    asha: 18 trials,  84 of 324 epochs,  35 s; best val accuracy 0.992 (held-out 0.986), trial 13:
          lr=0.016, momentum=0.936, batch_size=16, width=32
     pbt:  4 trials,  72 of 72 epochs,  28 s; best val accuracy 0.989 (held-out 0.986), trial 1:
          lr=0.0204, momentum=0.946, batch_size=32, width=16
          trial 1: 2 PBT changes; lr 0.038 -> 0.031 -> 0.02
          trial 2: 2 PBT changes; lr 0.0011 -> 0.025 -> 0.01
          trial 3: 0 PBT changes; lr 0.032
          trial 4: 1 PBT changes; lr 0.21 -> 0.025
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import rung

SPACE = {
    "lr": rung.loguniform(1e-3, 0.3),
    "momentum": rung.uniform(0.5, 0.99),
    "batch_size": rung.choice([16, 32, 64]),
    "width": rung.choice([8, 16, 32]),
}
SEED = 0


@dataclass(frozen=True)
class Budget:
    """Epochs per trial, trials per phase, and ASHA's first milestone and PBT's interval (in epochs)."""

    rows: int
    epochs: int
    asha_trials: int
    grace: int
    population: int
    interval: int


FULL = Budget(rows=1797, epochs=18, asha_trials=18, grace=2, population=4, interval=3)
SMOKE = Budget(rows=300, epochs=2, asha_trials=3, grace=1, population=2, interval=1)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Net(nn.Module):
    """Two 3x3 convolutions (`width` and 2 x `width` channels) and a linear layer, for 8x8 images."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
        )  # fmt: skip
        self.head = nn.Linear(2 * width * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def load_data(rows: int) -> dict[str, torch.Tensor]:
    """The digits, scaled to [0, 1], as (N, 1, 8, 8) float tensors: train, valid and test."""
    x, y = load_digits(return_X_y=True)
    x, y = (x[:rows] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y[:rows]
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=SEED, stratify=y)
    x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SEED)
    arrays = {"x_train": x_train, "y_train": y_train, "x_valid": x_valid, "y_valid": y_valid}
    arrays |= {"x_test": x_test, "y_test": y_test}
    return {name: torch.from_numpy(value) for name, value in arrays.items()}


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(x.to(device())).argmax(1).cpu()
    return float((predicted == y).float().mean())


def save(model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> dict[str, Any]:
    """The checkpoint: the states as bytes (`torch.save`), so it loads on any device."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    return {"epoch": epoch, "states": buffer.getvalue()}


def train(config: dict[str, Any], data: dict[str, torch.Tensor], epochs: int) -> None:
    """One trial: train from its checkpoint (PBT may hand it a better trial's), report every epoch."""
    torch.set_num_threads(1)  # trials run in parallel worker processes: one thread each
    torch.manual_seed(SEED)  # every trial starts from the same weights for its width
    model = Net(config["width"]).to(device())
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    epoch = 0
    saved = rung.get_checkpoint()
    if saved is not None:
        states = torch.load(io.BytesIO(saved["states"]), map_location=device(), weights_only=True)
        model.load_state_dict(states["model"])
        optimizer.load_state_dict(states["optimizer"])
        epoch = saved["epoch"]
        for group in optimizer.param_groups:  # PBT's new values, not the ones the checkpoint saved
            group["lr"], group["momentum"] = config["lr"], config["momentum"]
    x, y = data["x_train"], data["y_train"]
    while epoch < epochs:
        model.train()
        # The order of each epoch's batches depends on the epoch only: a resumed trial sees what it would have
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + epoch))
        for batch in order.split(config["batch_size"]):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch].to(device())), y[batch].to(device()))
            loss.backward()
            optimizer.step()
        epoch += 1
        valid = accuracy(model, data["x_valid"], data["y_valid"])
        rung.report({"val_acc": valid, "loss": float(loss), "epoch": epoch}, checkpoint=save(model, optimizer, epoch))


def held_out_accuracy(trial: rung.Trial, data: dict[str, torch.Tensor]) -> float:
    """The held-out accuracy of the trial's last checkpoint."""
    model = Net(trial.config["width"]).to(device())
    states = torch.load(io.BytesIO(trial.checkpoint["states"]), map_location=device(), weights_only=True)
    model.load_state_dict(states["model"])
    return accuracy(model, data["x_test"], data["y_test"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two epochs per trial on 300 images (CI)")
    args = parser.parse_args(argv)
    budget = SMOKE if args.smoke else FULL
    data = load_data(budget.rows)
    print(f"device: {device()}; {len(data['x_train'])} images to train on, {len(data['x_valid'])} to validate on")
    asha = rung.ASHA(max_t=budget.epochs, grace_period=budget.grace, reduction_factor=3, time_attr="epoch",
                     variant="promote")  # fmt: skip
    pbt = rung.PBT(
        perturbation_interval=budget.interval,
        hyperparam_mutations={"lr": rung.loguniform(1e-3, 0.3), "momentum": rung.uniform(0.5, 0.99)},
        time_attr="epoch",
        synch=True,  # members meet at each perturbation point: the same run gives the same schedule
    )
    phases = [("asha", asha, budget.asha_trials), ("pbt", pbt, budget.population)]
    with tempfile.TemporaryDirectory() as storage:
        for name, scheduler, trials in phases:
            start = time.perf_counter()
            result = rung.run(
                rung.with_parameters(train, data=data, epochs=budget.epochs), SPACE, metric="val_acc", mode="max",
                num_samples=trials, search="random", scheduler=scheduler, name=f"cnn-{name}", storage=storage,
                seed=SEED, verbose=0,
            )  # fmt: skip
            took = time.perf_counter() - start
            best = result.best
            assert best is not None and best.best_metrics is not None
            epochs = sum(int(t.metrics.get("epoch", 0)) for t in result.trials)
            config = ", ".join(f"{k}={v:.3g}" for k, v in best.config.items())
            print(
                f"{name:>4}: {len(result.trials):2d} trials, {epochs:3d} of {trials * budget.epochs} epochs,"
                f" {took:3.0f} s; best val accuracy {best.best_metrics['val_acc']:.3f}"
                f" (held-out {held_out_accuracy(best, data):.3f}), trial {best.id}:"
            )
            print(f"      {config}")
            if name == "pbt":
                for trial in result.trials:
                    schedule = result.schedule(trial.id)
                    rates = " -> ".join(f"{e.config['lr']:.2g}" for e in schedule if e.config)
                    print(f"      trial {trial.id}: {len(schedule) - 1} PBT changes; lr {rates}")


if __name__ == "__main__":
    main(sys.argv[1:])
