"""`Space`: a search space compiled, to sample configs from, cross its grid dimensions, and describe.

A space is a nested dict whose values are domains (`uniform`, `choice`, ...; declared with the
functions of `rung.sampling`), grid dimensions (`grid`), derived values (`sample_from`), nested
dicts, or constants that pass through unchanged:

    >>> import numpy as np, rung
    >>> space = rung.Space({
    ...     "lr": rung.loguniform(1e-4, 1e-1),
    ...     "layers": rung.grid([1, 2]),
    ...     "wd": rung.sample_from(lambda cfg: cfg["lr"] / 10),
    ...     "model": rung.choice([{"kind": "mlp", "width": rung.randint(8, 64)}, {"kind": "linear"}]),
    ...     "epochs": 10,
    ... })
    >>> config = space.sample(np.random.default_rng(0), fixed={("layers",): 2})
    >>> config["layers"], config["epochs"], config["wd"] == config["lr"] / 10
    (2, 10, True)

Every sampled value is a plain Python int/float/str/bool/None or the chosen option object; no
numpy scalars. Randomness always comes from the `numpy.random.Generator` passed in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rung._tree import Resolver
from rung.domains import (
    Categorical,
    Domain,
    Float,
    GridValues,
    Integer,
    Normal,
    SampleFrom,
    copy_tree,
    fmt,
    has_domain,
    json_value,
)
from rung.errors import SampleFromError, SpaceError

__all__ = [
    "Categorical",
    "Domain",
    "Float",
    "GridValues",
    "Integer",
    "Normal",
    "SampleFrom",
    "Space",
]

Path = tuple[str, ...]


def _dotted(path: Path) -> str:
    return ".".join(path)


def _lookup(config: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(config, Mapping) or key not in config:
            return False, None
        config = config[key]
    return True, config


class Space:
    """A compiled search space: nested dict spec in, fresh resolved configs out.

    Args:
        spec: A mapping of str keys to domains, grid dimensions, `sample_from` values, nested
            mappings or constants (anything else, copied through unchanged). Domains may sit in
            lists only inside `choice` options. An existing `Space` is accepted too.

    Example:
        >>> space = Space({"opt": choice(["sgd", "adam"]), "net": {"layers": grid([1, 2, 3])}})
        >>> space.grid_size, [path for path, _ in space.paths]
        (3, [('opt',)])
        >>> space.grid_points(include_choices=True)[:2]
        [{('opt',): 'sgd', ('net', 'layers'): 1}, {('opt',): 'sgd', ('net', 'layers'): 2}]
    """

    def __init__(self, spec: Mapping[str, Any] | Space) -> None:
        self._paths: list[tuple[Path, Domain]] = []
        self._grid_dims: list[tuple[Path, GridValues]] = []
        self._crossable: list[tuple[Path, Categorical | GridValues]] = []
        self._known: set[Path] = set()
        if isinstance(spec, Space):
            spec = spec._spec
        if not isinstance(spec, Mapping):
            raise SpaceError(f"Space needs a mapping of names to domains or values; got {fmt(spec)}")
        self._spec: dict[str, Any] = self._compile(spec, (), "", top=True)

    @classmethod
    def of(cls, spec: Mapping[str, Any] | Space) -> Space:
        """`spec` itself if it is a Space already, else `Space(spec)`.

        Example:
            >>> space = Space({"x": uniform(0, 1)})
            >>> Space.of(space) is space, Space.of({"x": uniform(0, 1)}) == space
            (True, True)
        """
        return spec if isinstance(spec, Space) else cls(spec)

    def _compile(self, node: Any, path: Path | None, where: str, top: bool) -> Any:
        """Validate `node` at `path` (None inside lists), record its dimensions, return a copy."""
        if isinstance(node, Space):
            node = node._spec
        if isinstance(node, Mapping):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str):
                    place = f"in {where!r}" if where else "at the top level"
                    raise SpaceError(f"Space needs str keys; got {fmt(key)} ({type(key).__name__}) {place}")
                sub = None if path is None else (*path, key)
                if sub is not None:
                    self._known.add(sub)
                out[key] = self._compile(value, sub, f"{where}.{key}" if where else key, top)
            return out
        if isinstance(node, GridValues):
            if not top or path is None:
                raise SpaceError(f"grid must be a dict value outside any choice or list; got one at {where!r}")
            self._grid_dims.append((path, node))
            self._crossable.append((path, node))
        elif isinstance(node, SampleFrom):
            if path is None:
                raise SpaceError(f"sample_from must be a dict value, not inside a list; got one at {where!r}")
        elif isinstance(node, Domain):
            if top and path is None:
                raise SpaceError(
                    f"Space takes domains inside lists only within choice options (use a dict); "
                    f"got {node.to_json()['type']} at {where!r}"
                )
            if top and path is not None:
                self._paths.append((path, node))
            if isinstance(node, Categorical):
                if top and path is not None and not has_domain(node.options):
                    self._crossable.append((path, node))
                for i, option in enumerate(node.options):
                    self._compile(option, path, f"{where}[option {i}]", top=False)
        elif type(node) in (list, tuple):
            return type(node)(self._compile(v, None, f"{where}[{i}]", top) for i, v in enumerate(node))
        return node

    @property
    def paths(self) -> list[tuple[Path, Domain]]:
        """(path, domain) of every unconditional sampled domain, depth-first in order of appearance.

        Grid dimensions and `sample_from` values are not listed, nor domains inside choice options
        (the choice itself is listed).
        """
        return list(self._paths)

    @property
    def grid_dims(self) -> list[tuple[Path, GridValues]]:
        """(path, grid domain) of every grid dimension, in order of appearance."""
        return list(self._grid_dims)

    @property
    def grid_size(self) -> int:
        """The number of grid points: the product of the grid lengths (1 without grids)."""
        return math.prod(len(dim.values) for _, dim in self._grid_dims)

    def grid_points(self, include_choices: bool = False) -> list[dict[Path, Any]]:
        """The cartesian product of the grid dimensions, the first one varying slowest.

        Args:
            include_choices: Also cross every unconditional `choice` whose options are all plain
                values (no domains inside), in order of appearance with the grids.

        Returns:
            One dict per point, mapping path to value; `[{}]` when there is nothing to cross.
        """
        dims = [(path, dim) for path, dim in self._crossable if include_choices or isinstance(dim, GridValues)]
        axes = [dim.values if isinstance(dim, GridValues) else dim.options for _, dim in dims]
        return [
            {path: copy_tree(value) for (path, _), value in zip(dims, point, strict=True)}
            for point in itertools.product(*axes)
        ]

    def sample(self, rng: np.random.Generator, fixed: Mapping[Path, Any] | None = None) -> dict[str, Any]:
        """One fully resolved config, a fresh nested structure sharing no container with the spec.

        Args:
            rng: Source of all randomness; the same state gives the same config.
            fixed: Values for some paths (a grid point, or a searcher's choice), used instead of
                sampling. A fixed choice option that holds domains has them sampled.

        Raises:
            SpaceError: A fixed path is not in the space.
            SampleFromError: A `sample_from` function raised (after retries for KeyError/TypeError).
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"Space.sample needs a numpy.random.Generator; got {type(rng).__name__}")
        for path in fixed or {}:
            if path not in self._known:
                raise SpaceError(f"Space.sample got a fixed value for a path not in the space; got {path!r}")
        resolver = Resolver(rng, fixed, collect=True)
        config: dict[str, Any] = resolver.resolve(self._spec, ())
        if resolver.derived:
            _resolve_derived(config, resolver.derived)
        return config

    def fixed_paths(self, point: Mapping[str, Any], where: str = "point") -> dict[Path, Any]:
        """A (partial) nested config as the paths it fixes, for `sample(fixed=...)`; each value checked.

        Raises:
            SpaceError: a key that is not in the space, or a value outside its dimension, named with
                `where` (e.g. "points_to_evaluate[1]").
        """
        if not isinstance(point, Mapping):
            raise SpaceError(f"{where} must be a dict of hyperparameter values; got {fmt(point)}")
        dims = dict([*self._paths, *self._grid_dims])
        out: dict[Path, Any] = {}

        def walk(node: Mapping[str, Any], prefix: Path) -> None:
            for key, value in node.items():
                path = (*prefix, key)
                shown = where + "".join(f"[{k!r}]" for k in path)
                if path not in self._known:
                    raise SpaceError(f"{shown} is not in the search space")
                dim = dims.get(path)
                inner = any(len(k) > len(path) and k[: len(path)] == path for k in self._known)
                if dim is None and isinstance(value, Mapping) and inner:
                    walk(value, path)  # a nested dict of the space: its keys are fixed one by one
                    continue
                if dim is not None and not dim.contains(value):
                    raise SpaceError(f"{shown} is {fmt(value)}, not a value of its {dim.to_json()['type']} dimension")
                out[path] = copy_tree(value)

        walk(point, ())
        return out

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether every unconditional domain and grid dimension has a valid value in `config`.

        Constants and `sample_from` values are not checked.
        """
        for path, dim in [*self._paths, *self._grid_dims]:
            found, value = _lookup(config, path)
            if not found or not dim.contains(value):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """A JSON-able nested description: domains as dicts with a "type", constants as values."""
        out: dict[str, Any] = json_value(self._spec)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._spec == other._spec

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Space({self._spec!r})"


def _resolve_derived(config: dict[str, Any], derived: list[tuple[Path, SampleFrom]]) -> None:
    """Fill in `sample_from` values, in passes, keeping every dict's key order."""
    orders: dict[int, tuple[dict[str, Any], list[str]]] = {}
    for path, _ in derived:
        parent = _lookup(config, path[:-1])[1]
        orders.setdefault(id(parent), (parent, list(parent)))
        del parent[path[-1]]  # so that reading an unresolved value raises KeyError
    pending = list(derived)
    errors: dict[Path, Exception] = {}
    for _ in range(len(derived)):
        retry = []
        for path, domain in pending:
            try:
                value = domain.fn(config)
            except (KeyError, TypeError) as exc:
                retry.append((path, domain))
                errors[path] = exc
                continue
            except Exception as exc:
                raise _failed(path, exc) from exc
            if has_domain(value):
                raise SampleFromError(
                    f"sample_from for key {_dotted(path)!r} returned a domain ({value!r}); it must return a value:"
                    " draw it yourself in the function, or put the domain in the space"
                )
            found, parent = _lookup(config, path[:-1])
            if found and isinstance(parent, dict):
                parent[path[-1]] = value
        if len(retry) in (0, len(pending)):
            pending = retry
            break
        pending = retry
    if pending:
        path = pending[0][0]
        raise _failed(path, errors[path]) from errors[path]
    for parent, order in orders.values():
        items = [(key, parent[key]) for key in order if key in parent]
        items += [(key, value) for key, value in parent.items() if key not in order]
        parent.clear()
        parent.update(items)


def _failed(path: Path, exc: Exception) -> SampleFromError:
    return SampleFromError(f"sample_from for key {_dotted(path)!r} raised {type(exc).__name__}: {exc}")
