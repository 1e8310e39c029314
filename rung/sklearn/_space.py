"""scikit-learn's `param_grid` and `param_distributions` as a rung search space, and back to params.

A dict maps each parameter name to a rung domain (`rung.loguniform(...)`, passed through), a
scipy.stats distribution or a list of values. Keys are taken in sorted order, as scikit-learn's
`ParameterGrid` and `ParameterSampler` take them, so a grid is crossed in `GridSearchCV`'s order.

- A list becomes `rung.choice(values)`: the "grid" searcher crosses it, the others pick from it.
  Values that are not numbers, strings, bools or None (estimators, tuples, dicts) are chosen by
  their index in the list: the stored config holds the index, the estimator gets the object.
- A scipy.stats distribution becomes the rung domain it is when there is one (`uniform`,
  `loguniform`/`reciprocal` on (0, inf), `randint`, `norm`): then TPE models it on its own scale.
  Any other distribution is drawn by its quantile: a hidden `rung.uniform(0, 1)` value named
  `quantile(<name>)` and the value `dist.ppf(quantile)`, so every searcher can model it too.
  An object with `rvs` but no `ppf` is drawn with `rvs(random_state=seed)` from a hidden seed.
- A list of dicts (scikit-learn's way of joining spaces): for distributions, one of the dicts is
  chosen per trial (`rung.choice` of the sub-spaces, under the key `subspace`); for a grid, every
  point of every dict, by its index in `ParameterGrid`'s order (under the key `candidate`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rung import sampling
from rung.domains import Domain

__all__ = ["Decoder", "build_space", "is_hidden"]

SUBSPACE = "subspace"
CANDIDATE = "candidate"
_HIDDEN = ("quantile(", "seed(")


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Real))


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class Decoder:
    """Turns a config drawn from the space into the estimator's params.

    Attributes:
        objects: for a list of values chosen by index, the values by parameter name.
        subspaces: for a list of dicts of distributions, one decoder per dict.
        candidates: for a list of dicts of grids, every grid point (`ParameterGrid`'s order).
    """

    objects: dict[str, list[Any]] = field(default_factory=dict)
    subspaces: list[Decoder] | None = None
    candidates: list[dict[str, Any]] | None = None

    def __call__(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if self.candidates is not None:
            return dict(self.candidates[config[CANDIDATE]])
        if self.subspaces is not None:
            inner = dict(config[SUBSPACE])
            return self.subspaces[inner.pop(SUBSPACE)](inner)
        params: dict[str, Any] = {}
        for key, value in config.items():
            if key.startswith(_HIDDEN):
                continue
            params[key] = self.objects[key][value] if key in self.objects else value
        return params


def build_space(param_distributions: Any, param_grid: Any) -> tuple[dict[str, Any], Decoder, str]:
    """(the rung space, its decoder, the argument's name) of the one of the two that is given."""
    if (param_distributions is None) == (param_grid is None):
        raise ValueError(
            "RungSearchCV needs exactly one of param_distributions and param_grid; got "
            + ("neither" if param_grid is None else "both")
        )
    grid = param_grid is not None
    what = "param_grid" if grid else "param_distributions"
    given = param_grid if grid else param_distributions
    if isinstance(given, Mapping):
        space, decoder = _one(given, what, grid)
        return space, decoder, what
    if not isinstance(given, Sequence) or isinstance(given, (str, bytes)) or not given:
        raise ValueError(f"RungSearchCV needs {what} to be a dict or a non-empty list of dicts; got {given!r}")
    for i, sub in enumerate(given):
        if not isinstance(sub, Mapping):
            raise ValueError(f"RungSearchCV needs {what} to be a dict or a list of dicts; got {sub!r} at index {i}")
    if grid:
        return _grid_candidates(given), Decoder(candidates=_points(given)), what
    options, decoders = [], []
    for i, sub in enumerate(given):
        space, decoder = _one(sub, f"{what}[{i}]", grid=False)
        options.append({**space, SUBSPACE: i})
        decoders.append(decoder)
    return {SUBSPACE: sampling.choice(options)}, Decoder(subspaces=decoders), what


def _points(grids: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    from sklearn.model_selection import ParameterGrid

    for i, sub in enumerate(grids):
        for key, values in sub.items():
            _values(values, f"param_grid[{i}][{key!r}]")
    return list(ParameterGrid([dict(sub) for sub in grids]))


def _grid_candidates(grids: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {CANDIDATE: sampling.choice(list(range(len(_points(grids)))))}


def _values(values: Any, where: str) -> list[Any]:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"RungSearchCV needs {where} to be a list or a 1-d array; got {values.ndim} dimensions")
        values = list(values)
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise ValueError(f"RungSearchCV needs {where} to be a list of values; got {values!r}")
    if not values:
        raise ValueError(f"RungSearchCV needs {where} to be a non-empty list; got {values!r}")
    return [_scalar(v) for v in values]


def _one(given: Mapping[str, Any], what: str, grid: bool) -> tuple[dict[str, Any], Decoder]:
    space: dict[str, Any] = {}
    decoder = Decoder()
    for key in sorted(given):
        if not isinstance(key, str):
            raise ValueError(f"RungSearchCV needs str parameter names in {what}; got {key!r}")
        value, where = given[key], f"{what}[{key!r}]"
        if isinstance(value, Domain):
            if grid:
                raise ValueError(f"RungSearchCV needs lists in param_grid; got a rung domain at {where}")
            space[key] = value
        elif hasattr(value, "rvs") and not isinstance(value, (Sequence, np.ndarray)):
            if grid:
                raise ValueError(f"RungSearchCV needs lists in param_grid; got a distribution at {where}")
            space.update(_distribution(key, value, where))
        else:
            try:
                values = _values(value, where)
            except ValueError:
                if grid:
                    raise
                raise ValueError(
                    f"RungSearchCV needs {where} to be a list, a scipy.stats distribution or a rung domain;"
                    f" got {value!r}"
                ) from None
            if all(_plain(v) for v in values):
                space[key] = sampling.choice(values)
            else:
                decoder.objects[key] = values
                space[key] = sampling.choice(list(range(len(values))))
    return space, decoder


def _distribution(key: str, dist: Any, where: str) -> dict[str, Any]:
    """The rung domain(s) drawing from a scipy.stats-like distribution."""
    native = _native(dist)
    if native is not None:
        return {key: native}
    ppf = getattr(dist, "ppf", None)
    if callable(ppf):
        hidden = f"quantile({key})"
        return {hidden: sampling.uniform(0.0, 1.0), key: sampling.sample_from(_Quantile(dist, hidden))}
    hidden = f"seed({key})"
    return {hidden: sampling.randint(0, 2**31 - 1), key: sampling.sample_from(_Seeded(dist, hidden))}


def _native(dist: Any) -> Domain | None:
    """The rung domain equal to a frozen scipy.stats distribution, or None."""
    name = getattr(getattr(dist, "dist", None), "name", None)
    try:
        low, high = (float(x) for x in dist.support())
    except (AttributeError, TypeError, ValueError):
        return None
    if name == "uniform" and math.isfinite(low) and math.isfinite(high):
        return sampling.uniform(low, high)
    log_scale = 0 < low < high and math.isclose(float(dist.ppf(0.5)), math.sqrt(low * high))
    if name in ("loguniform", "reciprocal") and log_scale:
        return sampling.loguniform(low, high)
    if name == "randint":
        return sampling.randint(int(low), int(high))
    if name == "norm":
        return sampling.normal(float(dist.mean()), float(dist.std()))
    return None


@dataclass(frozen=True)
class _Quantile:
    """`dist.ppf(config[hidden])`: the value at a drawn quantile (an int for a discrete distribution)."""

    dist: Any
    hidden: str

    def __call__(self, config: Mapping[str, Any]) -> Any:
        value = _scalar(np.asarray(self.dist.ppf(config[self.hidden]))[()])
        return int(value) if _is_discrete(self.dist) and float(value).is_integer() else value


def _is_discrete(dist: Any) -> bool:
    from scipy.stats import rv_discrete

    return isinstance(getattr(dist, "dist", None), rv_discrete)


@dataclass(frozen=True)
class _Seeded:
    """`dist.rvs(random_state=config[hidden])`: a distribution that can only draw."""

    dist: Any
    hidden: str

    def __call__(self, config: Mapping[str, Any]) -> Any:
        draw: Callable[..., Any] = self.dist.rvs
        return _scalar(np.asarray(draw(random_state=config[self.hidden]))[()])


def is_hidden(key: str) -> bool:
    """Whether a config key only helps draw another value (not a parameter of the estimator)."""
    return key.startswith(_HIDDEN)
