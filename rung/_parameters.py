"""`rung.with_parameters`: large objects for every trial, sent to the workers but never stored.

`rung.run` stores the objective (cloudpickled, closures and all) in rung.db so that `rung resume`
can run it again: a closure over a 40 MB array puts 40 MB into the store. An objective wrapped by
`with_parameters` is sent to the workers whole, as any objective is (once per worker process, once
per Ray cluster through the object store), while the store keeps the function without the objects.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle

from rung.errors import LargeObjectiveWarning
from rung.types import Config

__all__ = ["WithParameters", "warn_large", "with_parameters"]


class WithParameters:
    """An objective called as `fn(config, **parameters)`; made by `rung.with_parameters`.

    Attributes:
        fn: the objective as the user wrote it.
        parameters: the objects passed to every trial, by name (None in the copy kept in the store).
        names: the parameters' names (also in the store, so a resume can ask for them again).
    """

    def __init__(self, fn: Callable[..., Any], parameters: Mapping[str, Any] | None, names: tuple[str, ...]) -> None:
        self.fn = fn
        self.parameters = None if parameters is None else dict(parameters)
        self.names = names
        # The default experiment name and the logs use the objective's name.
        self.__name__ = getattr(fn, "__name__", "objective")

    def __call__(self, config: Config) -> Any:
        if self.parameters is None:
            raise RuntimeError(
                f"{self!r} was stored without its objects, which rung.with_parameters keeps out of the store;"
                f" resume from Python: rung.run(rung.with_parameters({self.__name__}, {self._names_given()}), ...,"
                " resume=True)"
            )
        return self.fn(config, **self.parameters)

    def stored(self) -> WithParameters:
        """The copy that goes into rung.db: the function and the parameters' names, not the objects."""
        return WithParameters(self.fn, None, self.names)

    def _names_given(self) -> str:
        return ", ".join(f"{name}=..." for name in self.names)

    def __repr__(self) -> str:
        return f"rung.with_parameters({self.__name__}, {self._names_given()})"


def with_parameters(fn: Callable[..., Any], /, **parameters: Any) -> WithParameters:
    """`fn` with large objects (data sets, arrays, models) passed to every trial, kept out of the store.

    Each trial calls `fn(config, **parameters)`. The objects travel to the workers with the objective
    (once per worker process; on Ray, once into the object store), but rung.db stores only `fn`,
    so `rung resume` cannot run such an experiment: resume it from Python, passing
    `rung.with_parameters(fn, ...)` again with `resume=True`. Ray Tune's `tune.with_parameters`.

    Args:
        fn: the objective, `fn(config, **parameters)`.
        **parameters: the objects, by the name of the argument of `fn` that takes each.

    Returns:
        The objective to pass to `rung.run`.

    Raises:
        TypeError: `fn` is not callable, no object is given, or `fn` takes no argument of a given name.

    Example:
        >>> def train(config, data):
        ...     ...
        >>> rung.run(rung.with_parameters(train, data=big_array), space, metric="loss")  # doctest: +SKIP
    """
    if isinstance(fn, WithParameters):  # with_parameters(with_parameters(f, a=...), b=...)
        if fn.parameters is None:
            raise TypeError(f"with_parameters needs the objective itself; got {fn!r}, stored without its objects")
        parameters = {**fn.parameters, **parameters}
        fn = fn.fn
    if not callable(fn):
        raise TypeError(f"with_parameters needs a callable objective first; got {fn!r} of type {type(fn).__name__}")
    if not parameters:
        raise TypeError("with_parameters needs at least one object to pass, as name=object; got none")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C function: it will say so at the first trial
        signature = None
    if signature is not None:
        try:
            signature.bind(None, **parameters)
        except TypeError as exc:
            name = getattr(fn, "__name__", repr(fn))
            raise TypeError(
                f"with_parameters: {name}(config, {', '.join(f'{k}=...' for k in parameters)}) cannot be called:"
                f" {exc}; the objective takes the config first, then an argument of each name given"
            ) from None
    return WithParameters(fn, parameters, tuple(parameters))


_WHAT = {"fn": "the objective (with what its closure and globals hold)", "space": "the search space"}


def warn_large(parts: Mapping[str, Any], size: int, stacklevel: int) -> None:
    """Warn that the setup `rung.run` stores is `size` bytes, naming its largest part and the remedy.

    Args:
        parts: what is stored ("fn", "space", "search", "scheduler", ...), pickled into `size` bytes.
        size: the stored bytes.
        stacklevel: as `warnings.warn`'s, counted from the caller of this function.
    """
    sizes = {}
    for key, part in parts.items():  # pickled again one by one, only when the whole is too large
        try:
            sizes[key] = len(cloudpickle.dumps(part))
        except Exception:  # pickled whole a moment ago: not expected
            continue
    biggest = max(sizes, key=sizes.__getitem__, default=None)
    largest = "" if biggest is None else f", {sizes[biggest] / 2**20:.1f} MiB of it {_WHAT.get(biggest, biggest)}"
    warnings.warn(
        f"rung.db stores the objective, space, searcher and scheduler for `rung resume`: {size / 2**20:.1f} MiB"
        f" here{largest}. Pass large objects (data sets, arrays, models) with rung.with_parameters(fn, name=obj):"
        " they go to the workers but not into the store",
        LargeObjectiveWarning,
        stacklevel=stacklevel + 1,
    )
