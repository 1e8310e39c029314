"""A scheduler's changes to a trial's config and weights (PBT's exploit), kept consistent with its results.

The tuner calls these; the store holds one newest checkpoint per trial, so each change is a copy:

- `copy_at_pause`: a trial just paused continues from a donor's weights (`Scheduler.weights_from`):
  the donor's newest checkpoint is copied in at once, before the donor trains on;
- `apply`: the `Resume` that follows sets the new config (and copies the donor's weights, if that
  was not done at the pause);
- `undo_unused`: a trial that ends before it reports with the change gets back the config and
  checkpoint that made its results (PBT exploited it at its last step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rung.types import Resume

if TYPE_CHECKING:
    from rung.store.sqlite import Store
    from rung.tuner import _Trial

__all__ = ["apply", "copy_at_pause", "undo_unused"]


def copy_at_pause(store: Store, trial: _Trial, donor: int) -> None:
    """Copy `donor`'s newest checkpoint into `trial` (filed under the trial's own count), keeping its own."""
    copied = store.latest_checkpoint(donor)
    if copied is None:
        return
    trial.before_change = (trial.config, store.latest_checkpoint(trial.id))
    store.save_checkpoint(trial.id, trial.iteration, copied[1])
    trial.weights_from = donor


def apply(store: Store, trial: _Trial, resume: Resume) -> dict[str, Any]:
    """Make the change `resume` asks for; the status event's record of it (empty: no change)."""
    change: dict[str, Any] = {}
    if trial.weights_from is not None and resume.from_trial != trial.weights_from and trial.before_change:
        # The weights copied at its pause are not what it resumes with: its own go back.
        own = trial.before_change[1]
        if own is not None:
            store.save_checkpoint(trial.id, own[0], own[1])
    if trial.before_change is None and (resume.from_trial is not None or resume.config is not None):
        trial.before_change = (trial.config, store.latest_checkpoint(trial.id))
    if resume.from_trial is not None:
        if trial.weights_from == resume.from_trial:  # copied when it paused
            change["from_trial"] = resume.from_trial
        else:
            donor = store.latest_checkpoint(resume.from_trial)
            if donor is not None:
                # A copy of the donor's weights, filed under this trial's own iteration count.
                store.save_checkpoint(trial.id, trial.iteration, donor[1])
                change["from_trial"] = resume.from_trial
    trial.weights_from = None
    if resume.config is not None:
        trial.config = resume.config
        store.set_config(trial.id, trial.config)
        change["config"] = trial.config
    if change:
        change["iteration"] = trial.iteration
    trial.changed = bool(change)
    if not change:
        trial.before_change = None
    return change


def undo_unused(store: Store, trial: _Trial) -> dict[str, Any]:
    """For a trial that ends: if it was resumed with a change and reported nothing since, put back the
    config and weights that made its results; the status event's record of that (empty: nothing to undo)."""
    undone: dict[str, Any] = {}
    if trial.changed and trial.before_change is not None:
        config, own = trial.before_change
        trial.config = config
        store.set_config(trial.id, config)
        if own is not None:
            store.save_checkpoint(trial.id, own[0], own[1])
        undone = {"reverted": True, "config": config}
    trial.before_change, trial.changed = None, False
    return undone
