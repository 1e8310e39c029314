"""Callbacks and helpers for the frameworks people train with.

Each module imports its framework when it is imported itself, never before: `import rung` loads
none of them. Install the framework with rung's extra of the same name.

| module | for | extra |
|---|---|---|
| `lightning` | PyTorch Lightning: `RungCallback`, `resume_path()` | `rung[lightning]` |
| `xgboost` | XGBoost: `RungCallback`, `load_booster()` | `rung[xgboost]` |
| `lightgbm` | LightGBM: `RungCallback`, `load_booster()` | `rung[lightgbm]` |
| `keras` | Keras 3: `RungCallback`, `restore()` | `rung[keras]`, and a backend |
| `transformers` | Hugging Face: `RungCallback`, `tune()`, `resume_dir()`, `unpack()` | `rung[transformers]` |
| `wandb` | Weights & Biases: `WandbCallback` (a run per trial) | `rung[wandb]` |

Example:
    >>> from rung.integrations.xgboost import RungCallback  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["keras", "lightgbm", "lightning", "transformers", "wandb", "xgboost"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        module = importlib.import_module(f"rung.integrations.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'rung.integrations' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
