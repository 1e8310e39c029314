"""`rung.BOHB`: TPE paired with HyperBand or ASHA, learning BOHB-style (Falkner et al. 2018)."""

from __future__ import annotations

from typing import Any

from rung.schedulers.asha import ASHA
from rung.schedulers.base import Scheduler
from rung.schedulers.hyperband import HyperBand
from rung.search.tpe import TPE

__all__ = ["BOHB"]


class BOHB(TPE):
    """TPE whose model is fitted at the highest budget with enough results, with its scheduler.

    Pass it as `search=`; unless `scheduler=` is given too, `rung.run` uses the paired scheduler:
    HyperBand(max_t, reduction_factor) or ASHA(max_t, grace_period=1, reduction_factor,
    variant="promote"). Both pause trials at milestones and resume the promising ones, so the
    trial should save checkpoints (else a promoted trial trains again from its start). ASHA's
    promotion variant, not its stopping one: with a model proposing good configurations, most
    trials pass the stopping rule's rungs and train to the end, and the search stalled on the
    recorded tables of `bench/` (BENCHMARKS.md). `rung.TPE` paired with a multi-fidelity
    scheduler learns this way too; BOHB names the combination (`rung.GP` learns each ended trial's
    last value, whatever budget it reached).

    What counts: trials that ENDED with a value at a milestone. A trial paused at a milestone is
    still running for the model (a liar), so under promotion ASHA, where most trials stay paused,
    the model starts once `n_startup` trials have trained to `max_t`. Counting paused trials at
    their milestones as they pause (as the paper's synchronous BOHB counts every evaluation) was
    measured and ended worse on both recorded tables (BENCHMARKS.md).

    Args:
        max_t: the longest a trial trains, in units of `time_attr`.
        reduction_factor: η of the brackets.
        scheduler: "hyperband" (synchronous, as in the paper) or "asha" (asynchronous).
        time_attr: the reported key that measures training.
        seed: seeds the TPE model.
        **tpe_options: n_startup, n_candidates, multivariate, constant_liar, gamma (see `rung.TPE`).

    Example:
        >>> rung.run(train, space, metric="loss", num_samples=200, search=rung.BOHB(max_t=27))  # doctest: +SKIP
    """

    def __init__(
        self,
        max_t: float = 81,
        reduction_factor: int = 3,
        scheduler: str = "hyperband",
        time_attr: str = "training_iteration",
        seed: int | None = None,
        **tpe_options: Any,
    ) -> None:
        if scheduler not in ("hyperband", "asha"):
            raise ValueError(f"BOHB needs scheduler='hyperband' or 'asha'; got scheduler={scheduler!r}")
        super().__init__(seed=seed, **tpe_options)
        self.pairing = scheduler
        # Built now, so that bad max_t / reduction_factor fail where BOHB is made.
        self._scheduler = self._make(max_t, reduction_factor, time_attr)

    def _make(self, max_t: float, reduction_factor: int, time_attr: str) -> Scheduler:
        if self.pairing == "asha":
            return ASHA(
                max_t=max_t, grace_period=1, reduction_factor=reduction_factor, variant="promote", time_attr=time_attr
            )
        return HyperBand(max_t=max_t, reduction_factor=reduction_factor, time_attr=time_attr)

    def paired_scheduler(self) -> Scheduler:
        """The scheduler `rung.run` uses with this searcher when none is given."""
        return self._scheduler
