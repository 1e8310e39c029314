"""Recorded learning-curve tables: their search spaces, and a loaded table replayed as an objective.

A table holds, for every recorded configuration, every training seed and every step (epoch or
boosting round), the validation metrics and the CPU seconds the step took (see `bench/record.py`,
which makes them, and `bench/data/README.md`). Searchers propose configurations from `Table.space`;
`Table.objective` answers with the curve of the *nearest recorded* configuration (Euclidean distance
in the unit cube of the space, `Domain.to_unit` per hyperparameter), so any searcher works unchanged
and `Table.best` is the exact optimum of what a run can ever see (regret is exact).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung.executors.simulated import Curve
from rung.space import Domain, Space

__all__ = ["DATA", "SPACES", "TABLES", "Table"]

DATA = Path(__file__).parent / "data"
"""Where the shipped tables live (`<name>.npz`)."""

SPACES: dict[str, dict[str, Any]] = {
    # scikit-learn's MLPClassifier (adam) on digits, one epoch per step.
    "mlp": {
        "learning_rate_init": rung.loguniform(1e-4, 1e-1),
        "batch_size": rung.choice([32, 64, 128, 256]),
        "width": rung.lograndint(16, 128),
        "depth": rung.randint(1, 3),
        "alpha": rung.loguniform(1e-6, 1e-1),
        "beta_1": rung.uniform(0.8, 0.99),
    },
    # scikit-learn's HistGradientBoostingClassifier on breast_cancer, one boosting round per step.
    "gbt": {
        "learning_rate": rung.loguniform(1e-2, 0.5),
        "max_leaf_nodes": rung.lograndint(4, 64),
        "min_samples_leaf": rung.lograndint(2, 64),
        "l2_regularization": rung.loguniform(1e-6, 10.0),
        "max_features": rung.uniform(0.2, 1.0),
        "max_bins": rung.randint(16, 255),
    },
}
"""The documented search space of each table: configurations were drawn from it."""

TABLES: dict[str, tuple[str, str]] = {"mlp": ("val_acc", "max"), "gbt": ("val_acc", "max")}
"""The default metric and mode of each table (every table also records `val_loss`, mode "min")."""


@dataclass
class Table:
    """One recorded table, loaded from its `.npz` file.

    Attributes:
        name: "mlp" or "gbt" (the key into `SPACES`).
        configs: the recorded configurations, in recording order.
        metrics: metric name -> float32 array of shape (seeds, configs, steps).
        seconds: float32 array (seeds, configs, steps): CPU seconds of each step (train + validate).
        seeds: the training seeds recorded for every configuration.
        meta: what the recorder wrote (command, machine, sizes, ...).
        metric, mode: the metric `best` ranks by, and whether lower ("min") or higher is better.
        seed: the index into `seeds` that `objective` and `best` replay.

    Example:
        >>> table = Table.load("mlp")  # doctest: +SKIP
        >>> result = rung.run(table.objective, table.space, metric=table.metric, mode=table.mode,
        ...                   executor=SimulatedExecutor(workers=4, decision_seconds=0.0))  # doctest: +SKIP
        >>> regret = table.best[1] - result.best_result[table.metric]  # doctest: +SKIP
    """

    name: str
    configs: list[dict[str, Any]]
    metrics: dict[str, np.ndarray]
    seconds: np.ndarray
    seeds: tuple[int, ...]
    meta: dict[str, Any]
    metric: str
    mode: str
    seed: int = 0
    _domains: list[tuple[str, Domain]] = field(init=False, repr=False)
    _units: np.ndarray = field(init=False, repr=False)
    _cache: dict[int, Curve] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in SPACES:
            raise ValueError(f"Table needs name to be one of {sorted(SPACES)}; got name={self.name!r}")
        if self.metric not in self.metrics:
            raise ValueError(f"Table needs metric to be one of {sorted(self.metrics)}; got metric={self.metric!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"Table needs mode 'min' or 'max'; got mode={self.mode!r}")
        if not 0 <= self.seed < len(self.seeds):
            raise ValueError(f"Table needs 0 <= seed < {len(self.seeds)} (recorded seeds); got seed={self.seed!r}")
        self._domains = [(path[0], domain) for path, domain in Space(self.space).paths]
        self._units = np.array([self._encode(c) for c in self.configs], dtype=np.float64).reshape(len(self.configs), -1)

    @classmethod
    def load(
        cls,
        name: str,
        path: str | Path | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        seed: int = 0,
    ) -> Table:
        """Read `<path or bench/data>/<name>.npz`; `metric`/`mode` default to the table's (`TABLES`)."""
        if name not in SPACES:
            raise ValueError(f"Table.load needs name to be one of {sorted(SPACES)}; got name={name!r}")
        file = Path(path if path is not None else DATA) / f"{name}.npz"
        if not file.is_file():
            raise FileNotFoundError(f"no recorded table {name!r} at {file}; make it with python -m bench.record {name}")
        with np.load(file) as data:
            meta = json.loads(str(data["meta"]))
            keys = list(SPACES[name])
            columns = {key: data[f"config/{key}"].tolist() for key in keys}
            metrics = {key.split("/", 1)[1]: data[key] for key in data.files if key.startswith("metric/")}
            seconds = data["seconds"]
        configs = [{key: columns[key][i] for key in keys} for i in range(len(columns[keys[0]]))]
        default_metric, default_mode = TABLES[name]
        return cls(
            name,
            configs,
            metrics,
            seconds,
            tuple(meta["seeds"]),
            meta,
            metric or default_metric,
            mode or (default_mode if metric is None else "min" if "loss" in metric else "max"),
            seed,
        )

    @property
    def space(self) -> dict[str, Any]:
        """The rung search space the configurations were drawn from (give it to `rung.run`)."""
        return SPACES[self.name]

    @property
    def steps(self) -> int:
        """Steps (epochs or boosting rounds) recorded per configuration."""
        return int(self.seconds.shape[2])

    def _encode(self, config: Mapping[str, Any]) -> list[float]:
        return [domain.to_unit(config[key]) for key, domain in self._domains]

    def nearest(self, config: Mapping[str, Any]) -> int:
        """The index of the recorded configuration nearest `config` in the space's unit cube."""
        missing = [key for key, _ in self._domains if key not in config]
        if missing:
            raise KeyError(f"Table {self.name!r} needs config keys {missing}; got {sorted(config)}")
        point = np.array(self._encode(config))
        return int(np.argmin(((self._units - point) ** 2).sum(axis=1)))

    def curve(self, index: int) -> Curve:
        """The recorded curve of configuration `index` (for this table's `seed`)."""
        cached = self._cache.get(index)
        if cached is None:
            names = sorted(self.metrics)
            rows = [self.metrics[m][self.seed, index].tolist() for m in names]
            metrics = [dict(zip(names, values, strict=True)) for values in zip(*rows, strict=True)]
            cached = self._cache[index] = Curve(metrics, self.seconds[self.seed, index].tolist())
        return cached

    def objective(self, config: Mapping[str, Any]) -> Curve:
        """The curve of the nearest recorded configuration: a simulated objective for `SimulatedExecutor`."""
        return self.curve(self.nearest(config))

    @property
    def best(self) -> tuple[dict[str, Any], float]:
        """The recorded configuration with the best `metric` at any step, and that value (for `seed`)."""
        values = self.metrics[self.metric][self.seed].astype(np.float64)
        per_config = np.nanmax(values, axis=1) if self.mode == "max" else np.nanmin(values, axis=1)
        index = int(np.nanargmax(per_config) if self.mode == "max" else np.nanargmin(per_config))
        return dict(self.configs[index]), float(per_config[index])
