"""What a comparison run is: the methods, the settings of one run, and what an engine hands back."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EXTRA", "METHODS", "Method", "Outcome", "Spec", "missing_modules"]

EXTRA = 'pip install -e ".[bench]"'
"""How to install every peer the runner compares against."""


@dataclass(frozen=True)
class Method:
    """One tuning method of one engine.

    Attributes:
        engine: "rung", "ray" or "optuna" (the module that runs it: see `runner.ENGINES`).
        description: what it is, for the report.
        needs: the importable packages it needs (checked before a run starts).
    """

    engine: str
    description: str
    needs: tuple[str, ...] = ()


METHODS: dict[str, Method] = {
    "rung-random": Method("rung", "rung: random search, FIFO"),
    "rung-tpe": Method("rung", "rung: TPE, FIFO"),
    "rung-asha": Method("rung", "rung: random search + ASHA (grace 1, η=4)"),
    "rung-hyperband": Method("rung", "rung: random search + HyperBand (η=3), checkpoints"),
    "rung-bohb": Method("rung", "rung: BOHB-style TPE + promotion ASHA (rung.BOHB, η=4), checkpoints"),
    "rung-asha-tpe": Method(
        "rung", "rung: BOHB-style TPE + stopping ASHA (grace 1, η=4): search='auto' with scheduler='asha'"
    ),
    "rung-hyperband-tpe": Method(
        "rung", "rung: BOHB-style TPE + HyperBand (η=3), rung.BOHB's default (the paper's) pairing, checkpoints"
    ),
    "rung-median": Method("rung", "rung: random search + MedianStopping (grace 1)"),
    "rung-median-tpe": Method("rung", "rung: TPE + MedianStopping (grace 1)"),
    "rung-pbt": Method(
        "rung",
        "rung: random search + PBT (population 16, a perturbation every tenth of the steps), checkpoints;"
        " it ends when its population has trained to the last step",
    ),
    "rung-default": Method("rung", "rung: rung.run's default (no search or scheduler given)"),
    "ray-random": Method("ray", "Ray Tune: BasicVariantGenerator, FIFO", ("ray",)),
    "ray-asha": Method("ray", "Ray Tune: random + ASHAScheduler (grace 1, η=4)", ("ray",)),
    "ray-hyperband": Method("ray", "Ray Tune: random + HyperBandScheduler (η=3), checkpoints", ("ray",)),
    "ray-optuna": Method("ray", "Ray Tune: OptunaSearch (TPE), FIFO", ("ray", "optuna")),
    "ray-hyperopt": Method("ray", "Ray Tune: HyperOptSearch (TPE), FIFO", ("ray", "hyperopt")),
    "optuna-tpe": Method("optuna", "Optuna: TPESampler, no pruner", ("optuna",)),
    "optuna-hyperband": Method("optuna", "Optuna: TPESampler + HyperbandPruner", ("optuna",)),
    "optuna-median": Method("optuna", "Optuna: TPESampler + MedianPruner", ("optuna",)),
}
"""Every method the runner knows, in report order."""


def missing_modules(method: str) -> list[str]:
    """The packages `method` needs that this interpreter cannot import."""
    missing = []
    for name in METHODS[method].needs:
        # Top-level names only: find_spec does not import them (importing Ray takes seconds).
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    return missing


@dataclass(frozen=True)
class Spec:
    """One run: a method on a table for one seed, with the comparison's settings.

    Attributes:
        table: "mlp" or "gbt".
        method: a key of `METHODS`.
        seed: seeds the method's searcher (and scheduler): each engine's own seeding.
        budget: recorded seconds; the run gets `budget * scale` wall seconds.
        scale: wall seconds per recorded second, the same for every method.
        workers: trials at once.
        metric: the table's metric the runs optimise (`val_loss`, minimised, or `val_acc`).
    """

    table: str
    method: str
    seed: int
    budget: float
    scale: float
    workers: int
    metric: str = "val_loss"

    @property
    def wall_budget(self) -> float:
        """The run's budget in wall seconds."""
        return self.budget * self.scale

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Spec:
        return cls(
            str(data["table"]),
            str(data["method"]),
            int(data["seed"]),
            float(data["budget"]),
            float(data["scale"]),
            int(data["workers"]),
            str(data.get("metric", "val_acc")),
        )


@dataclass(frozen=True)
class Outcome:
    """What an engine hands back from one run.

    Attributes:
        t0: `time.time()` just before the engine was called (reports count from here).
        wall: seconds the engine's call took.
        errors: tracebacks of trials that failed (a run with any is recorded as failed).
        versions: the engine's package versions.
    """

    t0: float
    wall: float
    errors: list[str]
    versions: dict[str, str]
