"""Weights & Biases: each trial a W&B run, the runs of an experiment one group.

A driver-side callback (`rung.run(..., callbacks=[WandbCallback()])`), like `rung.callbacks.MLflow`:
the trials need no W&B code. Each trial becomes a run named `trial_<id>` in the group named like the
experiment, its config as the run's config, every number it reports logged with
`training_iteration` as the step metric, and its end status in the run's summary (`rung_status`).
A config a scheduler changes during the trial (PBT) updates the run's config.

W&B's own settings apply: `WANDB_MODE=offline` keeps the runs on disk (`wandb sync` sends them
later), `WANDB_API_KEY` or `wandb login` for online runs.

Example:
    >>> from rung.integrations.wandb import WandbCallback  # doctest: +SKIP
    >>> rung.run(train, space, metric="loss", callbacks=[WandbCallback(project="my-project")])
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from rung.callbacks import Callback
from rung.integrations._common import missing
from rung.types import Config, Status, flatten

try:
    import wandb
except ImportError as exc:
    raise ImportError(missing("wandb", "wandb")) from exc

__all__ = ["WandbCallback"]

_MODES = ("online", "offline", "disabled")


class WandbCallback(Callback):
    """Logs each trial as a W&B run; the experiment's runs form one group.

    Args:
        project: the W&B project (default: `WANDB_PROJECT`, else "rung").
        group: the runs' group (default: the experiment's name).
        entity: the W&B team or user (default: W&B's own).
        dir: where W&B writes its files (default: the experiment's folder, `<storage>/<name>/wandb`).
        mode: "online", "offline" or "disabled" (default: W&B's own, `WANDB_MODE`).
        **init_kwargs: any other argument of `wandb.init` (`tags=`, `notes=`, `settings=`, ...).

    Example:
        >>> WandbCallback(project="demo", mode="offline", tags=["asha"])  # doctest: +ELLIPSIS
        <rung.integrations.wandb.WandbCallback object at ...>
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        group: str | None = None,
        entity: str | None = None,
        dir: str | Path | None = None,
        mode: str | None = None,
        **init_kwargs: Any,
    ) -> None:
        if mode is not None and mode not in _MODES:
            raise ValueError(
                f"WandbCallback needs mode to be one of {', '.join(map(repr, _MODES))} or None; got mode={mode!r}"
            )
        for taken in ("name", "config", "reinit", "id", "resume", "job_type"):
            if taken in init_kwargs:
                raise TypeError(f"WandbCallback sets wandb.init's {taken}= itself (a run per trial); do not pass it")
        self.project, self.group, self.entity, self.mode = project, group, entity, mode
        self.dir = None if dir is None else Path(dir)
        self.init_kwargs = init_kwargs
        self._group = group
        self._dir = self.dir
        self._runs: dict[int, Any] = {}
        self._configs: dict[int, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Stored with the experiment (for `rung resume`): the open runs stay in this process.
        state = dict(self.__dict__)
        state["_runs"], state["_configs"] = {}, {}
        return state

    def setup(self, name: str, path: Path, metric: str | None, mode: str) -> None:
        self._group = self.group or name
        self._dir = self.dir or path
        self._dir.mkdir(parents=True, exist_ok=True)

    def _start(self, trial_id: int, config: Config) -> Any:
        flat = flatten(config, "/")
        run = wandb.init(
            project=self.project or os.environ.get("WANDB_PROJECT") or "rung",
            entity=self.entity,
            group=self._group,
            name=f"trial_{trial_id}",
            job_type="trial",
            config=flat,
            dir=str(self._dir) if self._dir is not None else None,
            mode=self.mode,
            reinit="create_new",  # one run per trial, several open at once
            **self.init_kwargs,
        )
        run.define_metric("training_iteration")
        run.define_metric("*", step_metric="training_iteration")
        self._runs[trial_id], self._configs[trial_id] = run, flat
        return run

    def on_trial_start(self, trial_id: int, config: Config) -> None:
        self._start(trial_id, config)

    def on_result(self, trial_id: int, config: Config, result: dict[str, Any]) -> None:
        # A trial of a resumed experiment that restarted without a start in this process gets its run here.
        run = self._runs.get(trial_id) or self._start(trial_id, config)
        flat = flatten(config, "/")
        if flat != self._configs[trial_id]:  # PBT changed the hyperparameters
            run.config.update(flat, allow_val_change=True)
            self._configs[trial_id] = flat
        run.log({k: v for k, v in result.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)})

    def on_trial_end(self, trial_id: int, status: Status, error: str | None) -> None:
        run = self._runs.pop(trial_id, None)
        self._configs.pop(trial_id, None)
        if run is not None:
            run.summary["rung_status"] = status.value
            run.finish(exit_code=1 if status is Status.ERROR else 0)

    def on_experiment_end(self) -> None:
        # Trials still open (paused, or the run was interrupted) end their runs here.
        for trial_id in list(self._runs):
            run = self._runs.pop(trial_id)
            run.summary["rung_status"] = "UNFINISHED"
            run.finish()
        self._configs.clear()
