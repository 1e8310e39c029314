"""PyTorch Lightning: report logged metrics each validation epoch, checkpoint the Trainer through rung.

`RungCallback` reports the chosen values of `trainer.callback_metrics` (what `self.log(...)` logged)
at the end of each validation run of `trainer.fit`, with `epoch` (Lightning's 0-based
`current_epoch`) and `step` (`global_step`), and puts the Trainer's full checkpoint (the file
`trainer.save_checkpoint` writes: weights, optimizers, schedulers, loop counters) in the trial's
checkpoint. `resume_path()` writes that checkpoint back to a file for `trainer.fit(...,
ckpt_path=...)`, so a paused trial goes on from the epoch where it stopped, and a trial PBT
cloned goes on from its donor's.

Example:
    >>> import lightning.pytorch as pl  # doctest: +SKIP
    >>> from rung.integrations.lightning import RungCallback, resume_path
    >>> def train(config):
    ...     model = MyModule(lr=config["lr"])
    ...     trainer = pl.Trainer(max_epochs=10, callbacks=[RungCallback({"loss": "val_loss"})],
    ...                          enable_checkpointing=False, logger=False, enable_progress_bar=False)
    ...     with resume_path() as ckpt_path:  # None when the trial starts
    ...         trainer.fit(model, datamodule=MyData(), ckpt_path=ckpt_path)
    >>> rung.run(train, space, metric="loss", scheduler=rung.ASHA(max_t=10))
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rung
from rung._checks import Boolean, Options, check
from rung.integrations._common import MetricsArg, choose, metric_names, missing, trial_checkpoint

try:
    import lightning.pytorch as pl
except ImportError as exc:
    raise ImportError(missing("lightning", "lightning")) from exc

__all__ = ["RungCallback", "resume_path"]

WHEN = ("validation_end", "train_epoch_end")


class RungCallback(pl.Callback):  # type: ignore[misc]
    """Reports to rung what the LightningModule logged, once per validation run of `trainer.fit`.

    A validation run during the sanity check, or of `trainer.validate()`, reports nothing. When the
    scheduler pauses or stops the trial, `rung.report` raises out of the callback and `trainer.fit`
    unwinds (Lightning calls the callbacks' `on_exception` and tears down, then re-raises).

    Args:
        metrics: which logged values to report: None (every number in `trainer.callback_metrics`),
            one name, a list of names, or a dict {name to report: logged name} to rename them.
            Log them with `on_epoch=True` (the default in validation) to report the epoch's mean.
        checkpoint: whether to put the Trainer's checkpoint in the trial's checkpoint each time
            (without, a paused trial restarts from its first epoch, and PBT cannot clone it).
        on: "validation_end" (after each validation run) or "train_epoch_end" (after each training
            epoch: for a Trainer without validation).

    Example:
        >>> RungCallback({"loss": "val_loss", "acc": "val_acc"})  # doctest: +ELLIPSIS
        <rung.integrations.lightning.RungCallback object at ...>
    """

    def __init__(self, metrics: MetricsArg = None, *, checkpoint: bool = True, on: str = "validation_end") -> None:
        super().__init__()
        self.metrics = metric_names("RungCallback", metrics)
        self.checkpoint = check("RungCallback", "checkpoint", checkpoint, Boolean())
        self.on = check("RungCallback", "on", on, Options(WHEN))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report after a validation run of `trainer.fit` (with `on="validation_end"`)."""
        if self.on == "validation_end" and trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._report(trainer, "after validation")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report after a training epoch (with `on="train_epoch_end"`)."""
        if self.on == "train_epoch_end":
            self._report(trainer, "at the end of the training epoch")

    def _report(self, trainer: pl.Trainer, where: str) -> None:
        result: dict[str, Any] = choose(
            "RungCallback", trainer.callback_metrics, self.metrics, f"{where} in epoch {trainer.current_epoch}"
        )
        result["epoch"] = trainer.current_epoch
        result["step"] = trainer.global_step
        checkpoint = None
        if self.checkpoint:
            with tempfile.TemporaryDirectory(prefix="rung-lightning-") as folder:
                path = Path(folder) / "trainer.ckpt"
                trainer.save_checkpoint(path)
                checkpoint = {"integration": "lightning", "ckpt": path.read_bytes()}
        rung.report(result, checkpoint=checkpoint)  # raises to stop or pause: trainer.fit unwinds


@contextlib.contextmanager
def resume_path() -> Iterator[str | None]:
    """The running trial's Lightning checkpoint as a file, for `trainer.fit(..., ckpt_path=...)`.

    Yields None when the trial has no checkpoint (its start): `ckpt_path=None` trains from scratch.
    The file lives in a temporary folder, removed when the `with` block ends.

    Raises:
        ValueError: the trial's checkpoint was not reported by `RungCallback`.

    Example:
        >>> with resume_path() as ckpt_path:  # doctest: +SKIP
        ...     trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)
    """
    checkpoint = trial_checkpoint("lightning", "resume_path")
    if checkpoint is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="rung-lightning-") as folder:
        path = Path(folder) / "trainer.ckpt"
        path.write_bytes(checkpoint["ckpt"])
        yield str(path)
