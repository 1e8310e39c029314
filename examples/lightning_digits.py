"""A PyTorch Lightning model tuned with TPE and ASHA through `rung.integrations.lightning`.

What it shows: an unchanged LightningModule (an MLP on 8x8 digit images) whose `Trainer` gets
`RungCallback`, which reports what `validation_step` logged (`val_loss`, `val_acc`) after each
validation epoch with the Trainer's full checkpoint, and `resume_path()`, which hands
`trainer.fit(..., ckpt_path=...)` the trial's checkpoint. ASHA runs as `variant="promote"`: every
trial pauses at 1 and 3 epochs, and the best third of them are resumed by Lightning from their
checkpoints (same weights, optimizer and epoch counter) up to 9 epochs; TPE proposes the configs
(its first ones at random). The best trial's checkpoint is then loaded with
`LightningModule.load_from_checkpoint` and scored on held-out data. CUDA when present, CPU otherwise.
Data: scikit-learn's digits (1,797 images, shipped with scikit-learn: nothing is downloaded), 60%
to train on, 20% to validate on (the metric), 20% held out.

Run: `python examples/lightning_digits.py` (the full run: 1 minute on 2 busy cores; trials are
seeded, but ASHA's decisions depend on the order results arrive), or with `--smoke` (three trials of
up to 3 epochs on 300 images, about a minute on 2 busy cores, half of it importing Lightning: what
CI runs).

What it printed (full run, 2 cores):

    TPE + ASHA: 18 trials in 37 s, 42 epochs (of 162);
      paused at epoch 1, then resumed by Lightning from their checkpoints: 6 trials
      epochs per trial: [9, 9, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
      best val accuracy 0.969 (trial 8, 9 epochs), held-out accuracy 0.978:
        lr=0.0114, hidden=128, dropout=0.325, batch_size=32
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import rung
from rung.integrations.lightning import RungCallback, resume_path

SPACE = {
    "lr": rung.loguniform(1e-4, 1e-1),
    "hidden": rung.choice([32, 64, 128]),
    "dropout": rung.uniform(0.0, 0.5),
    "batch_size": rung.choice([16, 32, 64]),
}
SEED = 0


class DigitsMLP(pl.LightningModule):  # type: ignore[misc]
    """64 pixels -> `hidden` ReLU units (with dropout) -> 10 classes, trained with Adam."""

    def __init__(self, lr: float, hidden: int, dropout: float) -> None:
        super().__init__()
        self.save_hyperparameters()  # in the checkpoint: load_from_checkpoint rebuilds the model
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def load_data(rows: int) -> dict[str, torch.utils.data.TensorDataset]:
    """The digits, scaled to [0, 1]: train, valid and test datasets."""
    x, y = load_digits(return_X_y=True)
    x, y = (x[:rows] / 16.0).astype(np.float32), y[:rows]
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=SEED, stratify=y)
    x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SEED)
    return {
        name: torch.utils.data.TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys))
        for name, xs, ys in [("train", x_train, y_train), ("valid", x_valid, y_valid), ("test", x_test, y_test)]
    }


def trainer(**kwargs: Any) -> pl.Trainer:
    return pl.Trainer(
        accelerator="auto", devices=1, logger=False, enable_checkpointing=False,  # rung keeps the checkpoints
        enable_progress_bar=False, enable_model_summary=False, deterministic=True, **kwargs,
    )  # fmt: skip


def quiet() -> None:
    # Lightning's advice for bigger data (DataLoader worker processes) and its banner: noise in a trial's log
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def train(config: dict[str, Any], data: dict[str, Any], epochs: int) -> None:
    """One trial: a Trainer with RungCallback, resumed from the trial's checkpoint when ASHA promotes it."""
    torch.set_num_threads(1)  # trials run in parallel worker processes: one thread each
    quiet()
    pl.seed_everything(SEED, verbose=False)  # the same initial weights and batch order for every trial
    model = DigitsMLP(config["lr"], config["hidden"], config["dropout"])
    shuffle = torch.Generator().manual_seed(SEED)
    train_loader = torch.utils.data.DataLoader(data["train"], batch_size=config["batch_size"], shuffle=True,
                                               generator=shuffle)  # fmt: skip
    valid_loader = torch.utils.data.DataLoader(data["valid"], batch_size=256)
    fit = trainer(max_epochs=epochs, callbacks=[RungCallback(["val_loss", "val_acc"])])
    with resume_path() as ckpt_path:  # None at the trial's start; its last checkpoint when resumed
        fit.fit(model, train_loader, valid_loader, ckpt_path=ckpt_path)


def held_out_accuracy(trial: rung.Trial, data: dict[str, Any]) -> float:
    """The accuracy on the held-out images of the model in the trial's last checkpoint."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "best.ckpt"
        path.write_bytes(trial.checkpoint["ckpt"])  # the file Lightning wrote: its own format
        model = DigitsMLP.load_from_checkpoint(path, map_location="cpu")
    model.eval()
    x, y = data["test"].tensors
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="three trials of up to 3 epochs on 300 images (CI)")
    args = parser.parse_args(argv)
    rows, epochs, trials = (300, 3, 3) if args.smoke else (1797, 9, 18)
    quiet()
    data = load_data(rows)
    asha = rung.ASHA(max_t=epochs, grace_period=1, reduction_factor=3, variant="promote")
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        result = rung.run(
            rung.with_parameters(train, data=data, epochs=epochs), SPACE, metric="val_acc", mode="max",
            num_samples=trials, search="tpe", scheduler=asha, name="lightning-digits", storage=storage,
            seed=SEED, verbose=0,
        )  # fmt: skip
        took = time.perf_counter() - start
        best = result.best
        assert best is not None and best.best_metrics is not None
        done = [t.iteration for t in result.trials]
        resumed = sum(n > 1 for n in done)  # paused at epoch 1 (ASHA's first milestone), then resumed
        print(f"TPE + ASHA: {trials} trials in {took:.0f} s, {sum(done)} epochs (of {trials * epochs});")
        print(f"  paused at epoch 1, then resumed by Lightning from their checkpoints: {resumed} trials")
        print(f"  epochs per trial: {sorted(done, reverse=True)}")
        config = ", ".join(f"{k}={v:.3g}" for k, v in best.config.items())
        print(
            f"  best val accuracy {best.best_metrics['val_acc']:.3f} (trial {best.id}, {best.iteration} epochs),"
            f" held-out accuracy {held_out_accuracy(best, data):.3f}:"
        )
        print(f"    {config}")


if __name__ == "__main__":
    main(sys.argv[1:])
