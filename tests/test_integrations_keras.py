"""rung.integrations.keras with the real Keras 3 (torch backend), a linear model on 96 rows, on the CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.types import Status

torch = pytest.importorskip("torch")
# Keras picks its backend when first imported: torch, which the other integrations install too
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from rung.integrations.keras import RungCallback, restore  # noqa: E402

pytestmark = pytest.mark.integration

EPOCHS = 9


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # Trials run in threads of this process: one torch thread each, not a pool that oversubscribes 2 cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


LRS = [0.05, 0.02, 0.005, 0.002, 0.0005, 0.0002]  # the best first at every milestone


def arrays() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.1 * rng.normal(size=96).astype(np.float32))[:, None]
    return x[:64], y[:64], x[64:], y[64:]


def model(lr: float) -> Any:
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    net.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.5), loss="mse")
    return net


def fit(net: Any, initial_epoch: int, callbacks: list[Any]) -> None:
    x, y, xv, yv = arrays()
    net.fit(x, y, validation_data=(xv, yv), batch_size=16, epochs=EPOCHS, initial_epoch=initial_epoch,
            shuffle=False, verbose=0, callbacks=callbacks)  # fmt: skip


def weights(net: Any) -> list[np.ndarray]:
    # not net.get_weights(): with torch 2.13 and numpy 2, Keras' np.array(tensor) warns (an error here)
    return [v.value.detach().numpy().copy() for v in net.weights]


def train(config: dict[str, Any], log: Path) -> None:
    net = model(config["lr"])
    done = restore(net)
    with log.open("a") as fh:  # which trial started from which epoch, with which weights: the test reads it
        fh.write(f"{rung.get_trial_id()} {done} {float(weights(net)[0].sum())}\n")
    fit(net, done, [RungCallback({"loss": "val_loss", "train_loss": "loss"})])


def starts(log: Path) -> list[tuple[int, int, float]]:
    return [(int(a), int(b), float(c)) for a, b, c in (line.split() for line in log.read_text().splitlines())]


def test_asha_promote_pauses_and_restores_weights_and_optimizer(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(LRS)},
        metric="loss",
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3, variant="promote"),
        executor="thread",
        max_concurrent=1,
        name="keras-promote",
        storage=storage,
        verbose=0,
    )
    finished = [t for t in result.trials if t.iteration == EPOCHS]
    assert finished and any(t.iteration < EPOCHS for t in result.trials)
    for trial in finished:
        history = result.history(trial.id)
        # one result per epoch, numbered on across the pauses
        assert [r["epoch"] for r in history] == list(range(1, EPOCHS + 1))
        # paused after epochs 1 and 3, resumed there with the weights it had then
        resumed = [(done, weight) for tid, done, weight in starts(log) if tid == trial.id and done]
        assert [done for done, _ in resumed] == [1, 3]
        assert all(weight != 0.0 for _, weight in resumed)  # trained weights, not the zeros of a new model
        # weights and momentum restored: the same model as one trained straight through
        straight = model(trial.config["lr"])
        fit(straight, 0, [])
        for got, expected in zip(trial.checkpoint["weights"], weights(straight), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_asha_stop_ends_fit_and_the_checkpoint_holds_the_reported_model(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.txt"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(LRS)},
        metric="loss",
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3),
        executor="thread",
        max_concurrent=1,
        name="keras-stop",
        storage=storage,
        verbose=0,
    )
    stopped = [t for t in result.trials if t.status is Status.STOPPED]
    assert stopped and all(t.iteration < EPOCHS for t in stopped)
    assert all(done == 0 for _, done, _ in starts(log))
    _, _, xv, yv = arrays()
    for trial in result.trials:
        assert trial.checkpoint["epoch"] == trial.iteration
        kernel, bias = trial.checkpoint["weights"]  # the Dense layer's: val_loss by hand
        val_loss = float(np.mean((xv @ kernel + bias - yv) ** 2))
        assert trial.metrics["loss"] == pytest.approx(val_loss, rel=1e-5)


def resumed_error(storage: Path, name: str, resume: Any) -> str:
    """The error of a trial that reported one Keras checkpoint, was paused, and resumed with `resume()`."""

    def objective(config: dict[str, Any]) -> None:
        if rung.get_checkpoint() is None:
            x, y, _, _ = arrays()
            model(0.01).fit(x, y, epochs=2, verbose=0, callbacks=[RungCallback()])
        resume()

    scheduler = rung.ASHA(max_t=2, grace_period=1, variant="promote")
    result = rung.run(objective, {}, metric="loss", scheduler=scheduler, executor="thread", name=name,
                      storage=storage, verbose=0)  # fmt: skip
    (trial,) = result.trials
    assert trial.status is Status.ERROR
    return trial.error or ""


def test_restore_needs_a_built_model_and_the_same_optimizer(storage: Path) -> None:
    unbuilt = resumed_error(storage, "unbuilt", lambda: restore(keras.Sequential([keras.layers.Dense(1)])))
    assert "ValueError: restore() needs the model built (its input shape known" in unbuilt

    def adam() -> None:
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        net.compile(optimizer="adam", loss="mse")
        restore(net)

    assert (
        "ValueError: restore() found 4 optimizer variables in the checkpoint, but the model's Adam has 6:"
        " compile the model with the optimizer it was trained with" in resumed_error(storage, "adam", adam)
    )
