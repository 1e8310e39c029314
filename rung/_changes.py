"""A scheduler's changes to a trial's config and weights (PBT's exploit), kept consistent with its results.

The tuner holds one `Changes` and calls it; the store holds one newest checkpoint per trial, so each
change is a copy:

- `copy_at_pause`: a trial paused with `Pause(copy_weights_from=donor)` continues from the donor's
  weights: the donor's newest checkpoint is copied in at once, before the donor trains on;
- `apply`: the `Resume` that follows sets the new config (and copies the donor's weights, if that
  was not done at the pause);
- `reported`: the trial reported with the change: it is part of its results now;
- `undo_unused`: a trial that ends before it reports with the change gets back the config and
  checkpoint that made its results (PBT exploited it at its last step).

Only trials in the middle of a change have a record here, so the tuner's own trial record knows
nothing of PBT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rung.types import Config, Resume, TrialInfo

if TYPE_CHECKING:
    from rung.store.sqlite import Store

__all__ = ["Changes"]


@dataclass(slots=True)
class _Change:
    """A trial's config and own newest checkpoint before a scheduler changed them, until it reports."""

    before: tuple[Config, tuple[int, bytes] | None]
    copied_from: int | None = None  # the donor whose checkpoint was copied in when it paused
    applied: bool = False  # resumed with the change (and not yet reported with it)


class Changes:
    """The changes under way, per trial: made, recorded, and undone if nothing came of them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._open: dict[int, _Change] = {}

    def copy_at_pause(self, trial: TrialInfo, donor: int) -> None:
        """Copy `donor`'s newest checkpoint into `trial` (filed under the trial's own count), keeping its own."""
        copied = self.store.latest_checkpoint(donor)
        if copied is None:
            return
        before = (trial.config, self.store.latest_checkpoint(trial.id))
        self.store.save_checkpoint(trial.id, trial.iteration, copied[1])
        self._open[trial.id] = _Change(before, copied_from=donor)

    def apply(self, trial: TrialInfo, resume: Resume) -> dict[str, Any]:
        """Make the change `resume` asks for; the status event's record of it (empty: no change)."""
        store, change = self.store, dict[str, Any]()
        record = self._open.get(trial.id)
        copied_from = None if record is None else record.copied_from
        if record is not None and copied_from is not None and resume.from_trial != copied_from:
            # The weights copied at its pause are not what it resumes with: its own go back.
            own = record.before[1]
            if own is not None:
                store.save_checkpoint(trial.id, own[0], own[1])
        if record is None and (resume.from_trial is not None or resume.config is not None):
            record = _Change((trial.config, store.latest_checkpoint(trial.id)))
        if resume.from_trial is not None:
            if copied_from == resume.from_trial:  # copied when it paused
                change["from_trial"] = resume.from_trial
            else:
                donor = store.latest_checkpoint(resume.from_trial)
                if donor is not None:
                    # A copy of the donor's weights, filed under this trial's own iteration count.
                    store.save_checkpoint(trial.id, trial.iteration, donor[1])
                    change["from_trial"] = resume.from_trial
        if resume.config is not None:
            trial.config = resume.config
            store.set_config(trial.id, trial.config)
            change["config"] = trial.config
        if not change or record is None:
            self._open.pop(trial.id, None)
            return change
        change["iteration"] = trial.iteration
        record.copied_from, record.applied = None, True
        self._open[trial.id] = record
        return change

    def reported(self, trial_id: int) -> None:
        """The trial reported: it trains with any change made, which its results now depend on."""
        if self._open:
            self._open.pop(trial_id, None)

    def undo_unused(self, trial: TrialInfo) -> dict[str, Any]:
        """For a trial that ends: if it was resumed with a change and reported nothing since, put back the
        config and weights that made its results; the status event's record of that (empty: nothing to undo)."""
        record = self._open.pop(trial.id, None)
        if record is None or not record.applied:
            return {}
        config, own = record.before
        trial.config = config
        self.store.set_config(trial.id, config)
        if own is not None:
            self.store.save_checkpoint(trial.id, own[0], own[1])
        return {"reverted": True, "config": config}

    def forget(self, trial_id: int) -> None:
        """The trial ended (however): nothing is left to undo."""
        self._open.pop(trial_id, None)
