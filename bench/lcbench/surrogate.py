"""The LCBench surrogate of YAHPO Gym, read with onnxruntime alone: one call per configuration for all 52 epochs.

YAHPO Gym's own loader (`yahpo-gym`) pins `numpy<2` and `ConfigSpace<=0.6.1`, which would downgrade
this project's numpy; its LCBench query is a thin layer over one ONNX model, so this module does the
same encoding itself (checked against `yahpo_gym.BenchmarkSet("lcbench").objective_function`, see
tests/test_bench_lcbench.py): the task id as an integer code (`encoding.json`) in `x_cat`, and
`epoch, batch_size, learning_rate, momentum, weight_decay, num_layers, max_units, max_dropout` as
float32 in `x_cont`; the output's columns are `TARGETS`.

Per-epoch seconds are the differences of the surrogate's cumulative `time`, clipped at `FLOOR`
seconds: in about a quarter of the curves the predicted cumulative time falls at some epoch
(mostly epoch 2), which would give a negative epoch.

Where the data is: `$RUNG_YAHPO_DATA`, else `<repo>/../shared/benchmarks/yahpo`, else
`/work/shared/benchmarks/yahpo` (the folder that holds `lcbench/`). It comes from the public
`slds-lmu/yahpo_data` repository (folder `lcbench`, YAHPO Gym v1.0), Apache-2.0.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "EPOCHS",
    "FLOOR",
    "METRIC",
    "PARAMS",
    "TARGETS",
    "Curves",
    "Param",
    "Surrogate",
    "data_dir",
    "sample_configs",
]

EPOCHS = 52
"""LCBench's fidelity: epochs 1..52."""

FLOOR = 0.01
"""The least seconds an epoch takes (where the surrogate's cumulative time falls)."""

METRIC = "val_accuracy"
"""The metric every method maximises (percent, 0..100)."""

TARGETS = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
"""The surrogate's output columns, in order (YAHPO Gym's `y_names` for lcbench)."""

_CONT = ("epoch", "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout")

ENV = "RUNG_YAHPO_DATA"
_REPO = Path(__file__).resolve().parents[2]
_FALLBACK = Path("/work/shared/benchmarks/yahpo")


@dataclass(frozen=True)
class Param:
    """One hyperparameter of LCBench's space (bounds included), in a form every engine can translate."""

    name: str
    kind: str  # "int" or "float"
    low: float
    high: float
    log: bool

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` values drawn uniformly (in log space if `log`); integers rounded to the nearest."""
        low, high = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        if self.kind == "int":
            # Widen by half a step each side so that rounding gives the bounds their fair share.
            low, high = (math.log(self.low - 0.5), math.log(self.high + 0.5)) if self.log else (low - 0.5, high + 0.5)
        values = rng.uniform(low, high, n)
        if self.log:
            values = np.exp(values)
        if self.kind == "int":
            values = np.clip(np.rint(values), self.low, self.high)
        return values


PARAMS = (
    Param("batch_size", "int", 16, 512, True),
    Param("learning_rate", "float", 1e-4, 0.1, True),
    Param("max_dropout", "float", 0.0, 1.0, False),
    Param("max_units", "int", 64, 1024, True),
    Param("momentum", "float", 0.1, 0.99, False),
    Param("num_layers", "int", 1, 5, False),
    Param("weight_decay", "float", 1e-5, 0.1, False),
)
"""LCBench's 7 hyperparameters (YAHPO Gym's `config_space.json` without the task id and the epoch)."""


def data_dir() -> Path:
    """The folder that holds `lcbench/` (see the module docstring); raises FileNotFoundError naming where it looked."""
    given = os.environ.get(ENV)
    candidates = [Path(given)] if given else [_REPO.parent / "shared" / "benchmarks" / "yahpo", _FALLBACK]
    for path in candidates:
        if (path / "lcbench" / "model.onnx").is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"the YAHPO Gym LCBench surrogate (lcbench/model.onnx) is not in {looked}; set {ENV} to the folder that"
        " holds lcbench/ (from the public slds-lmu/yahpo_data repository)"
    )


def sample_configs(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """`n` configurations drawn uniformly from `PARAMS` (integers as int)."""
    columns = {p.name: p.sample(rng, n) for p in PARAMS}
    ints = {p.name for p in PARAMS if p.kind == "int"}
    return [{k: int(v[i]) if k in ints else float(v[i]) for k, v in columns.items()} for i in range(n)]


@dataclass(frozen=True)
class Curves:
    """Learning curves of configurations on one task: arrays of shape (configurations, EPOCHS).

    Attributes:
        values: `METRIC` after each epoch.
        seconds: the seconds each epoch took (at least `FLOOR`).
    """

    values: np.ndarray
    seconds: np.ndarray


class Surrogate:
    """LCBench's ONNX surrogate, with a cache of the curves already asked for.

    Example:
        >>> surrogate = Surrogate()
        >>> curves = surrogate.curves("3945", [{"batch_size": 64, "learning_rate": 0.01, ...}])  # doctest: +SKIP
        >>> curves.values[0, -1], curves.seconds[0].sum()  # doctest: +SKIP
    """

    def __init__(self, folder: Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime

        root = (folder or data_dir()) / "lcbench"
        codes = json.loads((root / "encoding.json").read_text())["OpenML_task_id"]
        # The instances are the task choices of the space (34); the encoding also codes 167083, not one of them.
        space = json.loads((root / "config_space.json").read_text())["hyperparameters"]
        choices = next(h["choices"] for h in space if h["name"] == "OpenML_task_id")
        self.tasks: list[str] = sorted(choices, key=int)
        self._codes: dict[str, int] = codes
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(root / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._cache: dict[tuple[str, tuple[float, ...]], tuple[np.ndarray, np.ndarray]] = {}

    def code(self, task: str) -> int:
        if task not in self.tasks:
            raise ValueError(f"LCBench has no task {task!r}; its tasks: {', '.join(self.tasks)}")
        return self._codes[task]

    def predict(self, task: str, configs: Sequence[Mapping[str, Any]], epochs: Sequence[int]) -> np.ndarray:
        """The raw outputs (columns `TARGETS`) of each config at each epoch: shape (configs, epochs, 6)."""
        cont = np.empty((len(configs), len(epochs), len(_CONT)), dtype=np.float32)
        cont[:, :, 0] = np.asarray(epochs, dtype=np.float32)
        for j, name in enumerate(_CONT[1:], start=1):
            cont[:, :, j] = np.asarray([float(c[name]) for c in configs], dtype=np.float32)[:, None]
        cat = np.full((cont.shape[0] * cont.shape[1], 1), self.code(task), dtype=np.int32)
        out = self._session.run(None, {self._inputs[0]: cat, self._inputs[1]: cont.reshape(-1, len(_CONT))})[0]
        result: np.ndarray = np.asarray(out, dtype=np.float64).reshape(len(configs), len(epochs), len(TARGETS))
        return result

    def curves(self, task: str, configs: Sequence[Mapping[str, Any]]) -> Curves:
        """The curves of `configs` on `task`: one model call for those not cached, all epochs at once."""
        keys = [(task, tuple(float(c[p.name]) for p in PARAMS)) for c in configs]
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if missing:
            out = self.predict(task, [configs[i] for i in missing], range(1, EPOCHS + 1))
            values = out[:, :, TARGETS.index(METRIC)]
            seconds = np.maximum(np.diff(out[:, :, 0], axis=1, prepend=0.0), FLOOR)
            for row, i in enumerate(missing):
                self._cache[keys[i]] = (values[row], seconds[row])
        got = [self._cache[key] for key in keys]
        return Curves(np.stack([v for v, _ in got]), np.stack([s for _, s in got]))

    def clear(self) -> None:
        """Forget the cached curves (a run's cache is of no use to the next run)."""
        self._cache.clear()

    def curve(self, task: str, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """One configuration's `(values, seconds)`, each of length EPOCHS."""
        curves = self.curves(task, [config])
        return curves.values[0], curves.seconds[0]
