"""Hugging Face Transformers: report each evaluation to rung, checkpoint through the Trainer's own
checkpoints, and `tune()`, which tunes a `Trainer` built by a function of the config.

`RungCallback` reports the metrics of each evaluation during `trainer.train()` (`eval_loss` and the
`eval_<name>` values of `compute_metrics`, as the Trainer names them) with `epoch` (fractional, as
the Trainer counts) and `step` (`global_step`). When the Trainer saves a checkpoint right after
that evaluation (`save_strategy` the same as `eval_strategy`), the checkpoint's folder goes into
the trial's checkpoint with the report; `resume_dir()` writes it back for
`trainer.train(resume_from_checkpoint=...)`, so a paused trial goes on from the step where it
stopped, with its optimizer, scheduler and random states. `tune()` does all of this for you.

Example:
    >>> from transformers import Trainer, TrainingArguments  # doctest: +SKIP
    >>> from rung.integrations.transformers import tune
    >>> def make_trainer(config):
    ...     args = TrainingArguments("out", learning_rate=config["lr"], num_train_epochs=4,
    ...                              eval_strategy="epoch", save_strategy="epoch", report_to="none")
    ...     return Trainer(model=make_model(), args=args, train_dataset=train, eval_dataset=valid)
    >>> result = tune(make_trainer, {"lr": rung.loguniform(1e-5, 1e-3)}, metric="eval_loss",
    ...               num_samples=8, scheduler=rung.ASHA(max_t=4))
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import rung
from rung._checks import Boolean, Function, check
from rung.integrations._common import (
    MetricsArg,
    choose,
    folder_files,
    metric_names,
    missing,
    trial_checkpoint,
    write_folder,
)
from rung.result import ExperimentResult
from rung.types import Config

try:
    import transformers
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
except ImportError as exc:
    raise ImportError(missing("transformers", "transformers")) from exc

__all__ = ["RungCallback", "resume_dir", "tune", "unpack"]


class RungCallback(transformers.TrainerCallback):  # type: ignore[misc]
    """Reports each evaluation of `trainer.train()` to rung, with the checkpoint saved after it.

    Add it with `Trainer(..., callbacks=[RungCallback()])` or `trainer.add_callback(...)`. An
    evaluation is reported when the Trainer has saved (or decided not to save) after it, so that
    the report carries the checkpoint. `trainer.evaluate()` outside training reports nothing.

    Args:
        metrics: which evaluation metrics to report: None (every number), one name, a list of
            names, or a dict {name to report: metric as the Trainer names it} to rename them.
        checkpoint: whether a report carries the checkpoint the Trainer saved after the evaluation
            (the whole folder, read into memory: mind the model's size).

    Example:
        >>> RungCallback({"loss": "eval_loss"})  # doctest: +ELLIPSIS
        <rung.integrations.transformers.RungCallback object at ...>
    """

    def __init__(self, metrics: MetricsArg = None, *, checkpoint: bool = True) -> None:
        self.metrics = metric_names("RungCallback", metrics)
        self.checkpoint = check("RungCallback", "checkpoint", checkpoint, Boolean())
        self._training = False
        self._pending: dict[str, Any] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Training begins: evaluations from now on are reported."""
        self._training, self._pending = True, None

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None, **_: Any
    ) -> None:
        """An evaluation during training: its result waits for the save that may follow."""
        if not self._training:
            return
        self._flush()  # an evaluation with no save after it
        result: dict[str, Any] = choose("RungCallback", metrics or {}, self.metrics, f"at step {state.global_step}")
        result["epoch"] = float(state.epoch or 0.0)
        result["step"] = state.global_step
        self._pending = result  # reported at the save that follows, or at the next step

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """The Trainer saved after an evaluation: report it, with the checkpoint's folder."""
        if self._pending is None:
            return
        result, self._pending = self._pending, None
        checkpoint = None
        if self.checkpoint:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"RungCallback found no checkpoint folder {str(folder)!r} after the Trainer saved; pass"
                    " checkpoint=False to report without checkpoints"
                )
            checkpoint = {"integration": "transformers", "files": folder_files(folder)}
        rung.report(result, checkpoint=checkpoint)  # raises to stop or pause: trainer.train unwinds

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """The next step begins: an evaluation not followed by a save is reported now."""
        self._flush()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Training ended: report what waits; later evaluations are not reported."""
        self._training = False
        self._flush()

    def _flush(self) -> None:
        if self._pending is not None:
            result, self._pending = self._pending, None
            rung.report(result)


@contextlib.contextmanager
def resume_dir() -> Iterator[str | None]:
    """The running trial's checkpoint as a folder, for `trainer.train(resume_from_checkpoint=...)`.

    Yields None when the trial has no checkpoint (its start): training starts from scratch. The
    folder is temporary, removed when the `with` block ends.

    Raises:
        ValueError: the trial's checkpoint was not reported by `RungCallback`.
    """
    checkpoint = trial_checkpoint("transformers", "resume_dir")
    if checkpoint is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="rung-transformers-") as folder:
        yield str(write_folder(checkpoint["files"], Path(folder) / "checkpoint"))


def unpack(checkpoint: Mapping[str, Any], folder: str | Path) -> Path:
    """Write a checkpoint `RungCallback` reported (`result.best.checkpoint`) into `folder`.

    The folder is a Trainer checkpoint: `AutoModel...from_pretrained(folder)` loads its model.

    Example:
        >>> path = unpack(result.best.checkpoint, "best-model")  # doctest: +SKIP
        >>> model = AutoModelForSequenceClassification.from_pretrained(path)
    """
    if not isinstance(checkpoint, Mapping) or checkpoint.get("integration") != "transformers":
        raise ValueError(
            "unpack() needs a checkpoint that rung.integrations.transformers.RungCallback reported;"
            f" got {type(checkpoint).__name__}"
        )
    return write_folder(checkpoint["files"], Path(folder))


def _check_trainer(trainer: Any) -> None:
    args = trainer.args
    if args.eval_strategy == "no":
        raise ValueError(
            "tune() needs the Trainer to evaluate during training (eval_strategy='epoch' or 'steps');"
            " got eval_strategy='no'"
        )
    steps = args.eval_strategy == "steps" and args.save_steps != (args.eval_steps or args.logging_steps)
    if args.save_strategy != args.eval_strategy or steps:
        raise ValueError(
            "tune() needs the Trainer to save a checkpoint after each evaluation, so that a paused trial"
            " resumes where it stopped: give TrainingArguments the same save_strategy as eval_strategy"
            f" (and save_steps as eval_steps); got eval_strategy={str(args.eval_strategy.value)!r},"
            f" save_strategy={str(args.save_strategy.value)!r}"
        )


class _Objective:
    """The objective `tune` runs: build the trial's Trainer, train it from its checkpoint."""

    def __init__(self, trainer_fn: Callable[[Config], Any], metrics: dict[str, str] | None) -> None:
        self.trainer_fn = trainer_fn
        self.metrics = metrics
        self.__name__ = getattr(trainer_fn, "__name__", "trainer")  # names the experiment

    def __call__(self, config: Config) -> None:
        trainer = self.trainer_fn(config)
        if not isinstance(trainer, transformers.Trainer):
            raise TypeError(f"tune() needs trainer_fn to return a transformers.Trainer; got {type(trainer).__name__}")
        _check_trainer(trainer)
        with tempfile.TemporaryDirectory(prefix="rung-transformers-") as out:
            # The trial's checkpoints go to its own folder; rung keeps the one each report carries.
            trainer.args.output_dir = out
            trainer.add_callback(RungCallback(self.metrics))
            with resume_dir() as checkpoint:
                trainer.train(resume_from_checkpoint=checkpoint)


def tune(
    trainer_fn: Callable[[Config], Any],
    space: Mapping[str, Any],
    *,
    metric: str = "eval_loss",
    mode: str = "min",
    num_samples: int = 1,
    metrics: MetricsArg = None,
    **run_kwargs: Any,
) -> ExperimentResult:
    """Tune the `transformers.Trainer` that `trainer_fn(config)` builds; `rung.run` underneath.

    What `Trainer.hyperparameter_search` does, with rung's searchers and schedulers: each trial
    builds its Trainer from its config, trains it in a temporary output folder with `RungCallback`
    (each evaluation reported, each checkpoint kept by rung), and resumes from its checkpoint when
    a scheduler paused it. The Trainer must evaluate and save at the same interval
    (`eval_strategy="epoch", save_strategy="epoch"`, or "steps" with equal steps).

    Args:
        trainer_fn: config -> a new `transformers.Trainer` (its model built anew from the config).
        space: the search space, as for `rung.run`.
        metric: the reported metric to optimise, as the Trainer names it (`eval_loss`,
            `eval_accuracy`, ...), or as `metrics` renames it.
        mode: "min" or "max" (Transformers' "minimize" and "maximize" are taken too).
        num_samples: trials to run.
        metrics: which evaluation metrics to report (see `RungCallback`); None reports all.
        **run_kwargs: any other argument of `rung.run` (`scheduler=`, `search=`, `name=`, ...).

    Returns:
        The experiment's result: `result.best.checkpoint` holds the best trial's last checkpoint
        (see `unpack`).
    """
    check("tune", "trainer_fn", trainer_fn, Function("a callable(config) -> Trainer"))
    names = metric_names("tune", metrics)
    return rung.run(
        _Objective(trainer_fn, names), space, metric=metric, mode=mode, num_samples=num_samples, **run_kwargs
    )
