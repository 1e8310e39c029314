"""The exception hierarchy: one class per kind of misuse, each message naming the cause."""

from __future__ import annotations

__all__ = [
    "ExperimentBusyError",
    "ExperimentExistsError",
    "ExperimentNotFoundError",
    "LargeObjectiveWarning",
    "MetricNotReportedError",
    "MultiObjectiveError",
    "ResourceError",
    "ResumeMismatchError",
    "RungError",
    "SampleFromError",
    "SearchExhaustedError",
    "SessionError",
    "SpaceError",
    "StoreDamagedError",
    "StoreFullError",
    "StoreWriteError",
    "TrialEndedError",
    "TrialNotFoundError",
    "UntrustedStoreError",
]


class RungError(Exception):
    """Base class of every error that `rung` raises on purpose."""


class SpaceError(RungError, ValueError):
    """A search-space domain was built with invalid arguments."""


class SampleFromError(RungError):
    """A `sample_from` function raised while resolving a configuration."""


class ResourceError(RungError, ValueError):
    """Per-trial resources that this machine (or cluster) cannot provide."""


class SessionError(RungError, RuntimeError):
    """A trial-side call (`report`, `get_checkpoint`) made outside a running trial."""


class MetricNotReportedError(RungError, ValueError):
    """Finished trials never reported the metric that `run()` optimises."""


class MultiObjectiveError(RungError, ValueError):
    """One best trial was asked of an experiment with several objectives and no weights to choose it by:
    its answer is a Pareto front (`result.pareto_front()`), or a best by `scalarize=` weights."""


class ExperimentExistsError(RungError, FileExistsError):
    """An experiment of that name already exists and `resume=False` was given."""


class ExperimentNotFoundError(RungError, FileNotFoundError):
    """No experiment of that name in the given storage."""


class ExperimentBusyError(RungError, RuntimeError):
    """Another driver is running that experiment (it holds the experiment's lock)."""


class StoreWriteError(RungError, OSError):
    """The store could not be written (an I/O error, a read-only file): the run stopped, what was
    acknowledged is stored, and the experiment can be resumed once the storage works again."""


class StoreFullError(StoreWriteError):
    """The disk holding the store is full: the run stopped, what was acknowledged is stored, and the
    experiment can be resumed once there is room."""


class StoreDamagedError(RungError, OSError):
    """An experiment's `rung.db` cannot be read: it is not an SQLite database, or its pages are damaged."""


class UntrustedStoreError(RungError, PermissionError):
    """Reading this would unpickle data from a store not marked as trusted (unpickling runs code)."""


class LargeObjectiveWarning(UserWarning):
    """What `rung.run` stores for `rung resume` (the objective with what its closure holds, the space,
    the searcher and scheduler) is large; `rung.with_parameters` passes large objects without storing them."""


class ResumeMismatchError(RungError, ValueError):
    """`resume=True` named a stored experiment that this run is not: another metric, mode, seed,
    search, scheduler or space (the message names what changed)."""


class TrialNotFoundError(RungError, LookupError):
    """An ask/tell call (`rung.Study`) named a trial id the study does not have."""


class TrialEndedError(RungError, ValueError):
    """An ask/tell call (`rung.Study`) reported or told a trial that has already been told its end."""


class SearchExhaustedError(RungError, RuntimeError):
    """`rung.Study.ask()` found the searcher done: it has proposed every configuration it will (a grid)."""
