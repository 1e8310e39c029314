"""Working with other tuning libraries: a rung experiment as an Optuna study (`to_optuna`), and an
Optuna study's trials as known results (`from_optuna`). Optuna is imported when a function is called.

Example:
    >>> study = rung.interop.to_optuna(rung.load("exp1"), "sqlite:///exp1.db")  # doctest: +SKIP
"""

from __future__ import annotations

from rung.interop.optuna import from_optuna, to_optuna

__all__ = ["from_optuna", "to_optuna"]
