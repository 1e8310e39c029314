"""PBT's explore step: check a `hyperparam_mutations` spec, and perturb or resample a config with it.

A mutation says how one hyperparameter may change when a trial continues from another trial's
weights:

- a list or tuple of values: move to a neighbouring item (at either end, the only neighbour);
- a rung domain (`rung.uniform`, `rung.randint`, `rung.choice`, ...): numbers are multiplied by one
  of the perturbation factors and put back into the domain (clipped into its bounds, rounded to its
  `q`, ints stay ints); a `choice` or `grid` moves to a neighbouring option like a list;
- a callable `fn()`: numbers are multiplied by a factor; anything else is replaced by `fn()`;
- a dict: mutations of the nested config under that key.

With probability `resample_probability` a value is drawn afresh instead (from the list, the domain,
or by calling the function). A value that is not one of a list's items is always redrawn.
"""

from __future__ import annotations

import copy
import inspect
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

from rung._numbers import finite
from rung.domains import Categorical, Domain, Float, GridValues, Integer, Normal, SampleFrom, fmt, has_domain, matches
from rung.types import Config

__all__ = ["Mutation", "check_mutations", "config_keys", "explore", "missing_keys", "non_numbers", "takes_rng"]

Mutation: TypeAlias = Sequence[Any] | Domain | Callable[[], Any] | Mapping[str, "Mutation"]
"""How one hyperparameter (or a nested dict of them) may change; see the module docstring."""


def _where(path: tuple[str, ...]) -> str:
    return "hyperparam_mutations" + "".join(f"[{key!r}]" for key in path)


def check_mutations(mutations: Any, path: tuple[str, ...] = ()) -> dict[str, Mutation]:
    """A checked copy of `mutations`; raises TypeError/ValueError naming the offending key."""
    if not isinstance(mutations, Mapping):
        raise TypeError(f"PBT needs {_where(path)} to be a dict of {{key: mutation}}; got {fmt(mutations)}")
    checked: dict[str, Mutation] = {}
    for key, mutation in mutations.items():
        if not isinstance(key, str):
            raise TypeError(f"PBT needs str keys in {_where(path)}; got {fmt(key)}")
        where = _where((*path, key))
        if isinstance(mutation, SampleFrom):
            raise ValueError(f"PBT cannot use sample_from as a mutation (it has no distribution); got it at {where}")
        if isinstance(mutation, Domain):
            checked[key] = mutation
        elif isinstance(mutation, Mapping):
            if not mutation:
                raise ValueError(f"PBT needs {where} to hold at least one mutation; got {{}}")
            checked[key] = check_mutations(mutation, (*path, key))
        elif isinstance(mutation, (list, tuple)):
            if not mutation:
                raise ValueError(f"PBT needs {where} to list at least one value; got {fmt(mutation)}")
            checked[key] = tuple(copy.deepcopy(list(mutation)))
        elif callable(mutation):
            checked[key] = mutation
        else:
            raise TypeError(
                f"PBT needs {where} to be a list of values, a rung domain, a callable or a dict; got {fmt(mutation)}"
            )
    return checked


def missing_keys(mutations: Mapping[str, Mutation], config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of `mutations` that `config` lacks (or holds as a non-dict where a dict is mutated)."""
    for key, mutation in mutations.items():
        if key not in config:
            yield prefix + key
        elif isinstance(mutation, Mapping) and not isinstance(mutation, Domain):
            value = config[key]
            if isinstance(value, Mapping):
                yield from missing_keys(mutation, value, f"{prefix}{key}.")
            else:
                yield prefix + key


def non_numbers(mutations: Mapping[str, Mutation], config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths where a numeric domain (uniform, randint, normal, ...) would mutate a value that is
    not a number (it would replace, say, "adam" by 0.83)."""
    for key, mutation in mutations.items():
        if key not in config:
            continue
        value = config[key]
        if isinstance(mutation, Mapping) and not isinstance(mutation, Domain):
            if isinstance(value, Mapping):
                yield from non_numbers(mutation, value, f"{prefix}{key}.")
        elif isinstance(mutation, (Float, Integer, Normal)) and not finite(value):
            yield prefix + key


def config_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf of `config` (for error messages)."""
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            yield from config_keys(value, f"{prefix}{key}.")
        else:
            yield prefix + str(key)


def takes_rng(fn: Callable[..., Any]) -> bool:
    """Whether a `custom_explore` takes `(config, rng)` (else `(config)`); TypeError if neither."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: call it the plain way
        return False
    for args in ((None, None), (None,)):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return len(args) == 2
    raise TypeError(f"PBT needs custom_explore to accept (config) or (config, rng); got a callable{signature}")


def explore(
    config: Config,
    mutations: Mapping[str, Mutation],
    rng: np.random.Generator,
    *,
    resample_probability: float,
    factors: Sequence[float],
) -> Config:
    """A perturbed copy of `config` (the input is not changed).

    Draws from `rng` in a fixed order: per mutation key, in the order given, one uniform number
    (resample or not), then what the resample or the perturbation needs.

    Example:
        >>> new = explore({"lr": 0.1, "opt": "a"}, {"lr": Float(0.0, 1.0), "opt": ("a", "b", "c")},
        ...               np.random.default_rng(0), resample_probability=0.0, factors=(2.0,))
        >>> new
        {'lr': 0.2, 'opt': 'b'}
    """
    new = copy.deepcopy(config)
    _explore_into(new, mutations, rng, resample_probability, tuple(factors))
    return new


def _explore_into(
    config: dict[str, Any],
    mutations: Mapping[str, Mutation],
    rng: np.random.Generator,
    resample_probability: float,
    factors: tuple[float, ...],
) -> None:
    for key, mutation in mutations.items():
        if key not in config:
            continue  # a conditional key this config lacks
        if isinstance(mutation, Mapping) and not isinstance(mutation, Domain):
            if isinstance(config[key], dict):
                _explore_into(config[key], mutation, rng, resample_probability, factors)
            continue
        resample = bool(rng.random() < resample_probability)
        config[key] = _mutate(config[key], mutation, rng, resample, factors)


def _mutate(
    value: Any, mutation: Mutation, rng: np.random.Generator, resample: bool, factors: tuple[float, ...]
) -> Any:
    if isinstance(mutation, (Categorical, GridValues)):
        options = tuple(mutation.options if isinstance(mutation, Categorical) else mutation.values)
        if resample:
            return mutation.sample(rng)
        return _neighbour(value, options, rng, lambda: mutation.sample(rng))
    if isinstance(mutation, Domain):
        if resample or not finite(value):  # a NaN or inf value cannot be scaled back to sense
            return mutation.sample(rng)
        scaled = value * factors[int(rng.integers(len(factors)))]
        moved = _into(mutation, scaled)
        if moved == value and scaled != value and isinstance(mutation, (Integer, Float)):
            # Rounding undid the step (2 * 1.2 rounds back to 2; 0.1 * 1.2 to 0.1 on a q=0.1 grid):
            # move to the next value on the domain's grid in the factor's direction instead.
            step = mutation.q or 0  # an int for ints
            stepped = value + (step if scaled > value else -step)
            moved = mutation.from_unit(mutation.to_unit(stepped))  # clipped, and 0.30000000000000004 is 0.3
        return moved
    if isinstance(mutation, (list, tuple)):
        items = tuple(mutation)
        if resample:
            return _resolve(items[int(rng.integers(len(items)))], rng)
        return _neighbour(value, items, rng, lambda: _resolve(items[int(rng.integers(len(items)))], rng))
    if not callable(mutation):
        raise TypeError(f"PBT cannot explore with the mutation {fmt(mutation)}")
    if resample or not finite(value):
        return mutation()
    scaled = value * factors[int(rng.integers(len(factors)))]
    if not isinstance(value, numbers.Integral):
        return float(scaled)
    if round(scaled) == value and scaled != value:
        return value + (1 if scaled > value else -1)  # rounding undid the step: the next int that way
    return round(scaled)


def _neighbour(value: Any, options: tuple[Any, ...], rng: np.random.Generator, redraw: Callable[[], Any]) -> Any:
    """An item next to `value` in `options` (either side, at random); `redraw()` if it is not there."""
    index = next((i for i, option in enumerate(options) if matches(option, value)), None)
    if index is None:
        return redraw()
    sides = [i for i in (index - 1, index + 1) if 0 <= i < len(options)]
    if not sides:
        return copy.deepcopy(value)  # a single option: nowhere to move
    return _resolve(options[sides[int(rng.integers(len(sides)))]], rng)


def _resolve(option: Any, rng: np.random.Generator) -> Any:
    """A list item or choice option as a value: options holding domains are sampled."""
    if has_domain(option):
        return Categorical([option]).sample(rng)
    return copy.deepcopy(option)


def _into(domain: Domain, x: float) -> Any:
    """`x` put back into a numeric domain: clipped into its bounds, rounded to its grid, an int for ints."""
    if isinstance(domain, Integer):
        value: Any = min(max(round(x), domain.low), domain.high)
    elif isinstance(domain, Float):
        value = min(max(float(x), domain.low), domain.high)
    elif isinstance(domain, Normal):
        value = float(x)
    else:  # a third-party domain: let it place the value itself
        return domain.from_unit(domain.to_unit(x))
    if not domain.contains(value):  # off the domain's q grid
        value = domain.from_unit(domain.to_unit(value))
    return value
