"""Surrogate models shared by the model-based searchers and schedulers (`rung.GP`, `rung.PB2`)."""

from __future__ import annotations

from rung.models.gp import GaussianProcess

__all__ = ["GaussianProcess"]
