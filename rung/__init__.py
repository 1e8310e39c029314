"""rung: tune hyperparameters with less compute and less overhead.

Example:
    >>> import rung
    >>> def train(config):
    ...     for epoch in range(10):
    ...         rung.report({"loss": (config["x"] - 0.3) ** 2 / (epoch + 1)})
    >>> result = rung.run(train, {"x": rung.uniform(0, 1)}, metric="loss", num_samples=20)  # doctest: +SKIP

Names are imported on first use, so that `import rung` (and every worker process) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the run
    "run": "rung.api",
    "load": "rung.api",
    "with_parameters": "rung._parameters",
    "ExperimentResult": "rung.result",
    "Trial": "rung.result",
    "ScheduleEntry": "rung.result",
    # your own loop: ask and tell
    "Study": "rung.study",
    "AskedTrial": "rung.study",
    # the trial side
    "report": "rung.session",
    "get_checkpoint": "rung.session",
    "get_trial_id": "rung.session",
    "TrialInterrupt": "rung.session",
    # search spaces
    "Space": "rung.space",
    "Domain": "rung.space",
    "uniform": "rung.sampling",
    "quniform": "rung.sampling",
    "loguniform": "rung.sampling",
    "qloguniform": "rung.sampling",
    "randint": "rung.sampling",
    "qrandint": "rung.sampling",
    "lograndint": "rung.sampling",
    "qlograndint": "rung.sampling",
    "normal": "rung.sampling",
    "qnormal": "rung.sampling",
    "choice": "rung.sampling",
    "grid": "rung.sampling",
    "sample_from": "rung.sampling",
    # searchers, schedulers, executors
    "Searcher": "rung.search.base",
    "Random": "rung.search.random",
    "Grid": "rung.search.random",
    "Scheduler": "rung.schedulers.base",
    "FIFO": "rung.schedulers.base",
    "PBT": "rung.schedulers.pbt",
    "PB2": "rung.schedulers.pb2",
    "GP": "rung.search.gp",
    "TPE": "rung.search.tpe",
    "BOHB": "rung.search.bohb",
    "AutoSearch": "rung.search.auto",
    "OptunaSearch": "rung.search.optuna",
    "MedianStopping": "rung.schedulers.median",
    "SuccessiveHalving": "rung.schedulers.hyperband",
    "HyperBand": "rung.schedulers.hyperband",
    "ASHA": "rung.schedulers.asha",
    "AutoScheduler": "rung.schedulers.auto",
    "MOASHA": "rung.schedulers.moasha",
    "Executor": "rung.executors.base",
    "ProcessExecutor": "rung.executors.process",
    "ThreadExecutor": "rung.executors.thread",
    "RayExecutor": "rung.executors.ray",
    "SimulatedExecutor": "rung.executors.simulated",
    "Curve": "rung.executors.simulated",
    # plain data and errors
    "Status": "rung.types",
    "Decision": "rung.types",
    "Pause": "rung.types",
    "Start": "rung.types",
    "Resume": "rung.types",
    "Stop": "rung.types",
    "TrialInfo": "rung.types",
    "RungError": "rung.errors",
    "SpaceError": "rung.errors",
    "SampleFromError": "rung.errors",
    "ResourceError": "rung.errors",
    "ResumeMismatchError": "rung.errors",
    "SessionError": "rung.errors",
    "MetricNotReportedError": "rung.errors",
    "MultiObjectiveError": "rung.errors",
    "ExperimentBusyError": "rung.errors",
    "ExperimentExistsError": "rung.errors",
    "ExperimentNotFoundError": "rung.errors",
    "LargeObjectiveWarning": "rung.errors",
    "StoreDamagedError": "rung.errors",
    "StoreFullError": "rung.errors",
    "StoreWriteError": "rung.errors",
    "UntrustedStoreError": "rung.errors",
    "TrialNotFoundError": "rung.errors",
    "TrialEndedError": "rung.errors",
    "SearchExhaustedError": "rung.errors",
}
_SUBMODULES = ("hp", "callbacks", "plots", "dashboard", "interop", "integrations")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"rung.{name}")
    else:
        raise AttributeError(f"module 'rung' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from rung import hp as hp
    from rung import integrations as integrations
    from rung import interop as interop
    from rung._parameters import with_parameters as with_parameters
    from rung.api import load as load
    from rung.api import run as run
    from rung.errors import (
        ExperimentBusyError as ExperimentBusyError,
    )
    from rung.errors import (
        ExperimentExistsError as ExperimentExistsError,
    )
    from rung.errors import (
        ExperimentNotFoundError as ExperimentNotFoundError,
    )
    from rung.errors import (
        LargeObjectiveWarning as LargeObjectiveWarning,
    )
    from rung.errors import (
        MetricNotReportedError as MetricNotReportedError,
    )
    from rung.errors import MultiObjectiveError as MultiObjectiveError
    from rung.errors import ResourceError as ResourceError
    from rung.errors import ResumeMismatchError as ResumeMismatchError
    from rung.errors import RungError as RungError
    from rung.errors import SampleFromError as SampleFromError
    from rung.errors import SearchExhaustedError as SearchExhaustedError
    from rung.errors import SessionError as SessionError
    from rung.errors import SpaceError as SpaceError
    from rung.errors import StoreDamagedError as StoreDamagedError
    from rung.errors import StoreFullError as StoreFullError
    from rung.errors import StoreWriteError as StoreWriteError
    from rung.errors import TrialEndedError as TrialEndedError
    from rung.errors import TrialNotFoundError as TrialNotFoundError
    from rung.errors import UntrustedStoreError as UntrustedStoreError
    from rung.executors.base import Executor as Executor
    from rung.executors.process import ProcessExecutor as ProcessExecutor
    from rung.executors.ray import RayExecutor as RayExecutor
    from rung.executors.simulated import Curve as Curve
    from rung.executors.simulated import SimulatedExecutor as SimulatedExecutor
    from rung.executors.thread import ThreadExecutor as ThreadExecutor
    from rung.result import ExperimentResult as ExperimentResult
    from rung.result import ScheduleEntry as ScheduleEntry
    from rung.result import Trial as Trial
    from rung.sampling import choice as choice
    from rung.sampling import grid as grid
    from rung.sampling import lograndint as lograndint
    from rung.sampling import loguniform as loguniform
    from rung.sampling import normal as normal
    from rung.sampling import qlograndint as qlograndint
    from rung.sampling import qloguniform as qloguniform
    from rung.sampling import qnormal as qnormal
    from rung.sampling import qrandint as qrandint
    from rung.sampling import quniform as quniform
    from rung.sampling import randint as randint
    from rung.sampling import sample_from as sample_from
    from rung.sampling import uniform as uniform
    from rung.schedulers.asha import ASHA as ASHA
    from rung.schedulers.auto import AutoScheduler as AutoScheduler
    from rung.schedulers.base import FIFO as FIFO
    from rung.schedulers.base import Scheduler as Scheduler
    from rung.schedulers.hyperband import HyperBand as HyperBand
    from rung.schedulers.hyperband import SuccessiveHalving as SuccessiveHalving
    from rung.schedulers.median import MedianStopping as MedianStopping
    from rung.schedulers.moasha import MOASHA as MOASHA
    from rung.schedulers.pb2 import PB2 as PB2
    from rung.schedulers.pbt import PBT as PBT
    from rung.search.auto import AutoSearch as AutoSearch
    from rung.search.base import Searcher as Searcher
    from rung.search.bohb import BOHB as BOHB
    from rung.search.gp import GP as GP
    from rung.search.optuna import OptunaSearch as OptunaSearch
    from rung.search.random import Grid as Grid
    from rung.search.random import Random as Random
    from rung.search.tpe import TPE as TPE
    from rung.session import TrialInterrupt as TrialInterrupt
    from rung.session import get_checkpoint as get_checkpoint
    from rung.session import get_trial_id as get_trial_id
    from rung.session import report as report
    from rung.space import Domain as Domain
    from rung.space import Space as Space
    from rung.study import AskedTrial as AskedTrial
    from rung.study import Study as Study
    from rung.types import Decision as Decision
    from rung.types import Pause as Pause
    from rung.types import Resume as Resume
    from rung.types import Start as Start
    from rung.types import Status as Status
    from rung.types import Stop as Stop
    from rung.types import TrialInfo as TrialInfo
