"""A Keras 3 model tuned with Population Based Training through `rung.integrations.keras`.

What it shows: a plain Keras `model.fit` (torch backend, `KERAS_BACKEND=torch` unless you chose
another) with `RungCallback`, which reports each epoch's `val_loss` and `val_accuracy` with the
model's weights and optimizer state as the checkpoint, and `restore(model)`, which loads the
trial's checkpoint and returns the epoch to go on from (`initial_epoch`). PBT (synchronous) trains a
population of 4 MLPs for 12 epochs; every 3 epochs the worst member loads the best one's
checkpoint and goes on with a perturbed learning rate (set on the optimizer after `restore`) and
batch size. The best member's weights are then scored on held-out data.
Data: scikit-learn's digits (1,797 8x8 images, shipped with scikit-learn: nothing is downloaded),
60% to train on, 20% to validate on (the metric), 20% held out.

Run: `python examples/keras_digits.py` (the full run: 1.5 minutes on 2 busy cores; trials are seeded
and PBT is synchronous, so runs print much the same), or with `--smoke` (two members for 2 epochs on
300 images, about a minute on 2 busy cores, half of it importing Keras: what CI runs).

What it printed (full run, 2 cores):

    Keras 3.15.1 on torch; PBT: 4 members x 12 epochs in 44 s
      member 1: best val accuracy 0.958; 1 PBT changes; learning rate 0.0038 (batch 64) -> 0.018 (batch 32)
      member 2: best val accuracy 0.975; 1 PBT changes; learning rate 0.00013 (batch 32) -> 0.015 (batch 64)
      member 3: best val accuracy 0.975; 1 PBT changes; learning rate 0.00011 (batch 16) -> 0.012 (batch 32)
      member 4: best val accuracy 0.978; 0 PBT changes; learning rate 0.018 (batch 128)
    best: member 4, val accuracy 0.978, held-out accuracy 0.978
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# Keras picks its backend when first imported; torch here, unless you set another one
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

import rung
from rung.integrations.keras import RungCallback, restore

SPACE = {
    "learning_rate": rung.loguniform(1e-4, 3e-2),
    "batch_size": rung.choice([16, 32, 64, 128]),
    "hidden": 64,
}
MUTATIONS = {"learning_rate": rung.loguniform(1e-4, 3e-2), "batch_size": [16, 32, 64, 128]}
SEED = 0


def load_data(rows: int) -> dict[str, np.ndarray]:
    """The digits, scaled to [0, 1]: train, valid and test arrays."""
    x, y = load_digits(return_X_y=True)
    x, y = (x[:rows] / 16.0).astype(np.float32), y[:rows]
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=SEED, stratify=y)
    x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SEED)
    return {"x_train": x_train, "y_train": y_train, "x_valid": x_valid, "y_valid": y_valid,
            "x_test": x_test, "y_test": y_test}  # fmt: skip


def build(config: dict[str, Any]) -> keras.Model:
    """An MLP: 64 pixels -> `hidden` ReLU units -> 10 classes; compiled with Adam (built: it has an Input)."""
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(config["hidden"], activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train(config: dict[str, Any], data: dict[str, np.ndarray], epochs: int) -> None:
    """One trial: restore the checkpoint (its own, or the best member's after a PBT exploit), fit on."""
    import torch

    torch.set_num_threads(1)  # trials run in parallel worker processes: one thread each
    keras.utils.set_random_seed(SEED)  # the same initial weights and batch order for every member
    model = build(config)
    done = restore(model)  # 0 at the start; else the epochs done, with the weights and Adam's moments
    model.optimizer.learning_rate.assign(config["learning_rate"])  # PBT's value, not the checkpoint's
    model.fit(
        data["x_train"], data["y_train"], validation_data=(data["x_valid"], data["y_valid"]),
        batch_size=config["batch_size"], epochs=epochs, initial_epoch=done, verbose=0,
        callbacks=[RungCallback(["val_loss", "val_accuracy"])],
    )  # fmt: skip


def held_out_accuracy(trial: rung.Trial, data: dict[str, np.ndarray]) -> float:
    """The accuracy on the held-out images of the weights in the trial's last checkpoint."""
    model = build(trial.config)
    model.set_weights(trial.checkpoint["weights"])
    logits = model.predict(data["x_test"], verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == data["y_test"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two members for 2 epochs on 300 images (CI)")
    args = parser.parse_args(argv)
    rows, epochs, population, interval = (300, 2, 2, 1) if args.smoke else (1797, 12, 4, 3)
    data = load_data(rows)
    pbt = rung.PBT(
        perturbation_interval=interval,
        hyperparam_mutations=MUTATIONS,
        time_attr="epoch",
        synch=True,  # members meet at each perturbation point: the same run gives the same schedule
    )
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        result = rung.run(
            rung.with_parameters(train, data=data, epochs=epochs), SPACE, metric="val_accuracy", mode="max",
            num_samples=population, search="random", scheduler=pbt, name="keras-pbt", storage=storage,
            seed=SEED, verbose=0,
        )  # fmt: skip
        took = time.perf_counter() - start
        best = result.best
        assert best is not None and best.best_metrics is not None
        print(f"Keras {keras.__version__} on {keras.backend.backend()}; PBT: {population} members x {epochs} epochs"
              f" in {took:.0f} s")  # fmt: skip
        for trial in result.trials:
            schedule = result.schedule(trial.id)
            steps = " -> ".join(
                f"{e.config['learning_rate']:.2g} (batch {e.config['batch_size']})" for e in schedule if e.config
            )
            score = trial.best_metrics["val_accuracy"] if trial.best_metrics else float("nan")
            print(f"  member {trial.id}: best val accuracy {score:.3f}; {len(schedule) - 1}"
                  f" PBT changes; learning rate {steps}")  # fmt: skip
        print(
            f"best: member {best.id}, val accuracy {best.best_metrics['val_accuracy']:.3f},"
            f" held-out accuracy {held_out_accuracy(best, data):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
