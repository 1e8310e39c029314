"""rung's search-space JSON as Optuna distributions, and configs as Optuna params.

Optuna keeps flat params of JSON primitives, each with a distribution that must be alike (same kind,
and for a categorical the same choices) in every trial of a study. So the distributions are made
once per study, from the stored space (its JSON) and every value the trials took:

- `uniform`/`loguniform`/`quniform` -> `FloatDistribution(low, high, log, step=q)`; the step only when
  `low` and `high` are multiples of `q` (Optuna counts steps from `low`, rung rounds to multiples of
  `q`), and Optuna has no step with `log` (`qloguniform` is a log float without a step).
- `randint`/`qrandint`/`lograndint`/`qlograndint` -> `IntDistribution(low, high, log, step)`, `high`
  included as in rung (and in Optuna's `suggest_int`); a step likewise only when it fits.
- `normal`/`qnormal` (and hyperopt's lognormal) have no Optuna counterpart (Optuna's distributions are
  bounded): a `FloatDistribution` from `mu - 4 sigma` to `mu + 4 sigma` (log: their exp), widened to
  every value the trials took.
- `choice`/`grid` of JSON primitives -> `CategoricalDistribution(options)`. Options that are lists
  (or objects, which the store keeps as their text) are categories by their JSON text. A chosen dict
  option is not a category: its keys become params of their own ("model/width").
- Nested keys are joined with "/". Constants and `sample_from` values are not params (Optuna's params
  are what was sampled); they stay in the trial's `rung` user attribute with the whole config.
- Any value a space-made distribution does not contain (a PBT-mutated value, a key inside a choice's
  dict option) gets one inferred from the values: ints -> `IntDistribution(min, max)`, numbers ->
  `FloatDistribution(min, max)`, else a categorical of the values seen.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from rung._numbers import is_number

__all__ = ["distributions", "domain_paths", "params"]

_DOMAIN_KEYS: dict[str, set[str]] = {
    **{kind: {"type", "low", "high"} for kind in ("uniform", "loguniform", "randint", "lograndint")},
    **{kind: {"type", "low", "high", "q"} for kind in ("quniform", "qloguniform", "qrandint", "qlograndint")},
    **{kind: {"type", "mu", "sigma"} for kind in ("normal", "lognormal")},
    **{kind: {"type", "mu", "sigma", "q"} for kind in ("qnormal", "qlognormal")},
    "choice": {"type", "options"},
    "grid": {"type", "values"},
    "sample_from": {"type", "fn"},
}
_PRIMITIVE = (str, int, float, bool, type(None))


def _is_domain(node: Any) -> bool:
    return isinstance(node, Mapping) and _DOMAIN_KEYS.get(node.get("type")) == set(node)  # type: ignore[arg-type]


def domain_paths(space: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every domain of a stored space (its JSON) outside choice options, by its "/"-joined path."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(space, Mapping):
        return out
    for key, node in space.items():
        path = f"{prefix}{key}"
        if _is_domain(node):
            out[path] = dict(node)
        elif isinstance(node, Mapping):
            out.update(domain_paths(node, f"{path}/"))
    return out


def _owner(key: str, domains: Mapping[str, Any]) -> str | None:
    """The domain path `key` is, or lies under (a key of a choice's dict option); None for a constant."""
    parts = key.split("/")
    for end in range(len(parts), 0, -1):
        path = "/".join(parts[:end])
        if path in domains:
            return path
    return None


def _leaf(value: Any) -> Any:
    """A config value as an Optuna param value: JSON primitives as they are, others as JSON text."""
    if isinstance(value, _PRIMITIVE) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return json.dumps(value, sort_keys=True)


def params(config: Mapping[str, Any], domains: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A config's sampled values as flat Optuna params (constants and derived values left out)."""
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and value and domains.get(path, {}).get("type") != "sample_from":
                walk(value, f"{path}/")  # a nested dict, or a chosen dict option: its keys one by one
                continue
            owner = _owner(path, domains)
            if owner is not None and domains[owner]["type"] != "sample_from":
                out[path] = _leaf(value)

    walk(config, "")
    return out


def distributions(values: Mapping[str, list[Any]], domains: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """One Optuna distribution per param, holding every value of `values` (param -> values seen)."""
    out: dict[str, Any] = {}
    for name, seen in values.items():
        made = _from_domain(domains[name], seen) if name in domains else None
        out[name] = made if made is not None and all(_holds(made, v) for v in seen) else _inferred(seen)
    return out


def _holds(distribution: Any, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _multiple(x: float, q: float) -> bool:
    """Whether `x` is a whole multiple of `q`, in decimal as Optuna checks its steps."""
    return decimal.Decimal(str(x)) % decimal.Decimal(str(q)) == 0


def _from_domain(domain: dict[str, Any], seen: list[Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind: str = domain["type"]
    if kind in ("choice", "grid"):
        options = domain["options" if kind == "choice" else "values"]
        choices = [_leaf(o) for o in options if not isinstance(o, Mapping)]
        return CategoricalDistribution(_distinct([*choices, *seen])) if choices else None
    if kind.endswith("normal"):
        log = "log" in kind
        low, high = domain["mu"] - 4 * domain["sigma"], domain["mu"] + 4 * domain["sigma"]
        if log:
            low, high = math.exp(low), math.exp(high)
        numbers = [float(v) for v in seen if is_number(v) and math.isfinite(v)]
        return FloatDistribution(min([low, *numbers]), max([high, *numbers]), log=log)
    low, high, q = domain["low"], domain["high"], domain.get("q")
    log = "log" in kind
    step = q if q is not None and not log and _multiple(low, q) and _multiple(high, q) else None
    if kind.endswith("randint"):
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))


def _inferred(seen: list[Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if seen and all(is_number(v) and math.isfinite(v) for v in seen):
        if all(isinstance(v, int) for v in seen):
            return IntDistribution(min(seen), max(seen))
        return FloatDistribution(float(min(seen)), float(max(seen)))
    return CategoricalDistribution(_distinct(seen))


def _distinct(values: Iterable[Any]) -> list[Any]:
    """`values` without repeats, in first-seen order (1 and True, 1 and 1.0 kept apart)."""
    out, keys = [], set()
    for value in values:
        key = (type(value).__name__, value)
        if key not in keys:
            keys.add(key)
            out.append(value)
    return out
