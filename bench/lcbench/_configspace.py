"""LCBench's space as a ConfigSpace object, for the peers that take one (SMAC3, DEHB; ConfigSpace 1.x)."""

from __future__ import annotations

from typing import Any

from bench.lcbench.surrogate import PARAMS

__all__ = ["configspace"]


def configspace(seed: int) -> Any:
    """LCBench's 7 hyperparameters (bounds included), seeded with `seed`."""
    from ConfigSpace import ConfigurationSpace, Float, Integer

    space = ConfigurationSpace(seed=seed)
    for p in PARAMS:
        if p.kind == "int":
            space.add(Integer(p.name, (int(p.low), int(p.high)), log=p.log))
        else:
            space.add(Float(p.name, (p.low, p.high), log=p.log))
    return space
