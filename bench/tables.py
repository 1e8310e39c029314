"""Recorded learning-curve tables: their search spaces, and a loaded table replayed as an objective.

A table holds, for every recorded configuration, every training seed and every step (epoch or
boosting round), the validation metrics and the CPU seconds the step took (see `bench/record.py`,
which makes them, and `bench/data/README.md`). Searchers propose configurations from `Table.space`;
`Table.objective` answers with the curve of the *nearest recorded* configuration (Euclidean distance
in the unit cube of the space, `Domain.to_unit` per hyperparameter), so any searcher works unchanged
and `Table.best` is the exact optimum of what a run can ever see (regret is exact). Benchmark runs
use `Table.replay()`: the nearest recorded configuration *not yet used in that run* (see there why).
Runs of far more trials than the table has rows use `Table.interpolated` (a surrogate of the table:
every configuration gets its own curve, none better than `best`).
"""

from __future__ import annotations

import fcntl
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung.executors.simulated import Curve
from rung.space import Domain, Space

__all__ = ["DATA", "SPACES", "TABLES", "Replay", "Steps", "Table", "claim_nearest", "nearest_index"]

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

    def nearest(self, config: Mapping[str, Any], exclude: Iterable[int] = ()) -> int:
        """The index of the recorded configuration nearest `config` in the space's unit cube.

        Args:
            exclude: indices not to answer with (all of them excluded: the nearest of all).
        """
        missing = [key for key, _ in self._domains if key not in config]
        if missing:
            raise KeyError(f"Table {self.name!r} needs config keys {missing}; got {sorted(config)}")
        return nearest_index(self._units, np.array(self._encode(config)), exclude)

    def replay(self, claims: str | Path | None = None) -> Replay:
        """A run's objective: each new configuration gets the nearest recorded one *not yet used*.

        A table is a finite sample of its space (1,000 points in 6 dimensions lie about 0.3 apart in
        the unit cube), so a searcher refining near a good point would otherwise get the same
        recorded curve again and again: a waste no real training has (a nearby configuration is a
        different model). Drawing without replacement keeps every proposal new while staying near
        what was proposed, and the optimum stays exactly `best`. The same configuration asked again
        (a paused trial resumed, a promotion) gets the same answer. `claims`: a file shared by the
        processes of one run (trials in other processes); None keeps the bookkeeping in memory.
        """
        return Replay(self, None if claims is None else Path(claims))

    def curve(self, index: int) -> Curve:
        """The recorded curve of configuration `index` (for this table's `seed`)."""
        cached = self._cache.get(index)
        if cached is None:
            names = sorted(self.metrics)
            rows = [self.metrics[m][self.seed, index].tolist() for m in names]
            metrics = [dict(zip(names, values, strict=True)) for values in zip(*rows, strict=True)]
            cached = self._cache[index] = Curve(metrics, self.seconds[self.seed, index].tolist())
        return cached

    def interpolated(self, config: Mapping[str, Any], k: int = 4) -> Curve:
        """The curves of the `k` nearest recorded configurations, averaged with inverse-distance weights.

        A surrogate of the table for runs of many more trials than it has rows (`bench.scale`): with
        `objective`, 100,000 trials on 1,000 rows get the same curves again and again, and copies of
        the best curve tie at every ASHA rung, so they all train to the end, which no run on a real
        objective does. Here every configuration gets a curve of its own (metrics and step seconds),
        a recorded configuration gets exactly its recorded curve, and each step's metric is a convex
        combination of recorded values, so no configuration beats `best` (regret stays exact).
        """
        missing = [key for key, _ in self._domains if key not in config]
        if missing:
            raise KeyError(f"Table {self.name!r} needs config keys {missing}; got {sorted(config)}")
        if not 1 <= k <= len(self.configs):
            raise ValueError(f"interpolated needs 1 <= k <= {len(self.configs)} (the recorded rows); got k={k!r}")
        gap, near = self._tree.query(self._encode(config), k=[*range(1, k + 1)])
        if gap[0] == 0.0:
            return self.curve(int(near[0]))
        weights = 1.0 / gap
        weights /= weights.sum()
        values, seconds = self._stacked
        return Curve(Steps(self._names, weights @ values[near]), (weights @ seconds[near]).tolist())

    @functools.cached_property
    def _tree(self) -> Any:
        """The recorded configurations' unit coordinates, for nearest-neighbour queries (a scipy k-d
        tree, imported here: `compare`'s trial processes import this module, and scipy would add 0.3 s
        to every engine's start)."""
        from scipy.spatial import cKDTree

        return cKDTree(self._units)

    @functools.cached_property
    def _names(self) -> list[str]:
        return sorted(self.metrics)

    @functools.cached_property
    def _stacked(self) -> tuple[np.ndarray, np.ndarray]:
        """This seed's metrics as one float64 array (configs x metrics*steps), and its step seconds."""
        steps = self.steps
        values = np.concatenate([self.metrics[m][self.seed].astype(np.float64) for m in self._names], axis=1)
        return values.reshape(len(self.configs), len(self._names) * steps), self.seconds[self.seed].astype(np.float64)

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

    def step_correlation(self, step: int) -> float:
        """How well step `step` (1-based) predicts the end: the Spearman correlation, over the recorded
        configurations, of `metric` there with each configuration's best value (for `seed`)."""
        if not 1 <= step <= self.steps:
            raise ValueError(f"step_correlation needs 1 <= step <= {self.steps}; got step={step!r}")
        from scipy.stats import spearmanr  # a large import, used by this alone

        values = self.metrics[self.metric][self.seed].astype(np.float64)
        best = np.nanmax(values, axis=1) if self.mode == "max" else np.nanmin(values, axis=1)
        return float(spearmanr(values[:, step - 1], best, nan_policy="omit").statistic)


class Steps(Sequence[dict[str, float]]):
    """A curve's per-step metrics, each step's dict made when it is read (a trial stopped at its
    first rung reads one step of fifty).

    Args:
        names: the metric names.
        values: the metrics, one row per name then step (`names x steps`, flattened name-major).
    """

    def __init__(self, names: Sequence[str], values: np.ndarray) -> None:
        self._names = list(names)
        self._values = values.reshape(len(self._names), -1)

    def __len__(self) -> int:
        return int(self._values.shape[1])

    def __getitem__(self, step: Any) -> Any:
        if isinstance(step, slice):
            return [self[i] for i in range(*step.indices(len(self)))]
        return dict(zip(self._names, self._values[:, step].tolist(), strict=True))


class Replay:
    """Answers configurations with recorded curves, each recorded one used at most once per run.

    Made by `Table.replay`. `index(config)` is the bookkeeping (usable by any engine's trial code);
    calling the object returns the `Curve` (an objective for `executor="simulated"`). With a claims
    file, every process of a run appends `key<TAB>index` lines under an exclusive lock, so trials
    in different processes never get the same recorded configuration.
    """

    def __init__(self, table: Table, claims: Path | None) -> None:
        self.table = table
        self.claims = claims
        self._given: dict[str, int] = {}

    @staticmethod
    def key(config: Mapping[str, Any]) -> str:
        return json.dumps({k: config[k] for k in sorted(config)}, default=str)

    def index(self, config: Mapping[str, Any]) -> int:
        """The recorded configuration that answers `config` in this run."""
        key = self.key(config)
        if self.claims is None:
            if key not in self._given:
                self._given[key] = self.table.nearest(config, exclude=self._given.values())
            return self._given[key]
        self.table.nearest(config)  # checks the keys
        return claim_nearest(self.table._units, np.array(self.table._encode(config)), key, self.claims)

    def __call__(self, config: Mapping[str, Any]) -> Curve:
        return self.table.curve(self.index(config))


def nearest_index(units: np.ndarray, point: np.ndarray, exclude: Iterable[int] = ()) -> int:
    """The row of `units` nearest `point`, skipping `exclude` (unless that would skip every row)."""
    distance = ((units - point) ** 2).sum(axis=1)
    excluded = np.fromiter(exclude, dtype=np.intp)
    if 0 < len(excluded) < len(distance):
        distance[excluded] = np.inf
    return int(np.argmin(distance))


def claim_nearest(units: np.ndarray, point: np.ndarray, key: str, claims: Path) -> int:
    """The row nearest `point` not yet claimed in the file `claims`; claims it for `key`.

    The file holds `key<TAB>row` lines, appended under an exclusive lock, so the processes of a
    run share it; a key claimed before gets its row again.
    """
    with claims.open("a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
        file.seek(0)
        given = dict(line.rstrip("\n").split("\t") for line in file if line.endswith("\n"))
        if key in given:
            return int(given[key])
        found = nearest_index(units, point, (int(i) for i in given.values()))
        file.write(f"{key}\t{found}\n")
        file.flush()
        return found


def main() -> None:
    """`python -m bench.tables`: how well each table's early steps predict its configurations' best val_loss."""
    for name in SPACES:
        table = Table.load(name, metric="val_loss")
        steps = [s for s in (1, 2, 4, 8, 16, 32, 64) if s <= table.steps]
        cells = ", ".join(f"step {s}: {table.step_correlation(s):.2f}" for s in steps)
        print(f"{name} (val_loss, Spearman with the best of each configuration): {cells}")


if __name__ == "__main__":
    main()
