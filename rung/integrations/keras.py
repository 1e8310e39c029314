"""Keras 3: report each epoch's logs to rung, checkpoint the model's weights, resume training.

The callback reports the epoch's logs (`loss`, `val_loss`, `accuracy`, ... as Keras names them)
with `epoch`, the number of epochs done, and puts the model's weights and its optimizer's
variables (moments, iteration count, learning rate) in the trial's checkpoint. `restore(model)`
loads them back into the same model on resume and returns the epoch to go on from, for
`model.fit(..., initial_epoch=...)`. Any Keras backend works (torch, jax, tensorflow).

Example:
    >>> import keras  # doctest: +SKIP
    >>> from rung.integrations.keras import RungCallback, restore
    >>> def train(config):
    ...     model = build_model(config)  # compiled, with its input shape known (built)
    ...     done = restore(model)  # 0 when the trial starts; the epochs done when it resumes
    ...     model.fit(x, y, validation_data=(xv, yv), epochs=20, initial_epoch=done, verbose=0,
    ...               callbacks=[RungCallback(["val_loss"])])
    >>> rung.run(train, space, metric="val_loss", scheduler=rung.ASHA(max_t=20))
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rung
from rung._checks import Boolean, check
from rung.integrations._common import MetricsArg, choose, metric_names, missing, trial_checkpoint

try:
    import keras
except ImportError as exc:
    raise ImportError(missing("keras", "keras")) from exc

__all__ = ["RungCallback", "restore"]


class RungCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Reports each epoch of `model.fit` to rung, with the model's weights as the checkpoint.

    Args:
        metrics: which logs to report: None (every number in the epoch's logs), one name, a list of
            names, or a dict {name to report: name in the logs} to rename them.
        checkpoint: whether to put the weights and optimizer state in the trial's checkpoint each
            epoch (without, a paused trial restarts from its first epoch).

    Example:
        >>> RungCallback({"loss": "val_loss"})  # doctest: +ELLIPSIS
        <rung.integrations.keras.RungCallback object at ...>
    """

    def __init__(self, metrics: MetricsArg = None, *, checkpoint: bool = True) -> None:
        super().__init__()
        self.metrics = metric_names("RungCallback", metrics)
        self.checkpoint = check("RungCallback", "checkpoint", checkpoint, Boolean())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keras' hook after each epoch (`epoch` 0-based): report its logs, with the checkpoint."""
        result: dict[str, Any] = choose("RungCallback", logs or {}, self.metrics, f"at the end of epoch {epoch + 1}")
        result["epoch"] = epoch + 1
        state = None
        if self.checkpoint:
            model = self.model
            optimizer = getattr(model, "optimizer", None)
            state = {
                "integration": "keras",
                "epoch": epoch + 1,
                "weights": [_numpy(v) for v in model.weights],
                "optimizer": [_numpy(v) for v in optimizer.variables] if optimizer else [],
            }
        rung.report(result, checkpoint=state)  # raises to stop or pause: model.fit unwinds


def _numpy(variable: Any) -> np.ndarray:
    """A copy of a Keras variable's value as a numpy array."""
    value = variable.value
    if hasattr(value, "detach"):
        # torch: `np.array(tensor)` (Keras' get_weights and convert_to_numpy) warns on numpy 2, whose
        # copy= keyword torch's __array__ does not take
        return np.array(value.detach().cpu().numpy(), copy=True)
    return np.array(keras.ops.convert_to_numpy(value), copy=True)


def restore(model: Any) -> int:
    """Load the running trial's checkpoint into `model`; returns the epochs it had done (0: none).

    `model` must be built as the one that reported (same layers, compiled with the same kind of
    optimizer). Its optimizer's variables are restored too, learning rate included: to train on
    with another learning rate (PBT's explore), set `model.optimizer.learning_rate` after this.

    Raises:
        ValueError: the trial's checkpoint was not reported by `RungCallback`, or does not fit `model`.
    """
    state = trial_checkpoint("keras", "restore")
    if state is None:
        return 0
    if not model.built:
        raise ValueError(
            "restore() needs the model built (its input shape known: keras.Input, or build() or one call)"
            " before it can load weights into it"
        )
    model.set_weights(state["weights"])
    values = state["optimizer"]
    optimizer = getattr(model, "optimizer", None)
    if values and optimizer is not None:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        if len(optimizer.variables) != len(values):
            raise ValueError(
                f"restore() found {len(values)} optimizer variables in the checkpoint, but the model's"
                f" {type(optimizer).__name__} has {len(optimizer.variables)}: compile the model with the"
                " optimizer it was trained with"
            )
        for variable, value in zip(optimizer.variables, values, strict=True):
            variable.assign(value)
    return int(state["epoch"])
