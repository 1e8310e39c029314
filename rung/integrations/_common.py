"""What the framework integrations share: choosing and renaming metrics, reading the trial's
checkpoint, and folders carried inside a checkpoint.

A checkpoint an integration reports is a plain dict with an `"integration"` key naming the
framework (`{"integration": "xgboost", "booster": b"..."}`), so `rung.get_checkpoint()` and
`result.best.checkpoint` show what it holds, and a resume helper can tell a checkpoint of another
kind (the trial's own, or another framework's) with a clear error rather than a failed load.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import rung
from rung._checks import ArgumentTypeError, fmt

__all__ = ["MetricsArg", "choose", "folder_files", "metric_names", "missing", "trial_checkpoint", "write_folder"]

MetricsArg = str | Sequence[str] | Mapping[str, str] | None
"""Which logged values a callback reports: None (all numbers), a name, a list of names, or a dict
{name to report: name as logged}."""

_RULE = "None, a logged name, a list of logged names or a dict {reported name: logged name}"


def missing(integration: str, package: str) -> str:
    """The message of the ImportError an integration raises when its framework is not installed.

    Example:
        >>> missing("xgboost", "xgboost")
        'rung.integrations.xgboost needs xgboost, which is not installed; pip install "rung[xgboost]"'
    """
    return f'rung.integrations.{integration} needs {package}, which is not installed; pip install "rung[{integration}]"'


def metric_names(owner: str, metrics: Any) -> dict[str, str] | None:
    """`metrics` checked and spelled as {reported name: logged name} (None: report every number).

    Example:
        >>> metric_names("RungCallback", ["val_loss"]), metric_names("RungCallback", {"loss": "val_loss"})
        ({'val_loss': 'val_loss'}, {'loss': 'val_loss'})
    """
    if metrics is None:
        return None
    if isinstance(metrics, str):
        pairs: Iterable[tuple[Any, Any]] = [(metrics, metrics)]
    elif isinstance(metrics, Mapping):
        pairs = metrics.items()
    elif isinstance(metrics, Sequence):
        pairs = [(name, name) for name in metrics]
    else:
        raise ArgumentTypeError(f"{owner} needs metrics to be {_RULE}; got metrics={fmt(metrics)}")
    names = {}
    for reported, logged in pairs:
        if not (isinstance(reported, str) and reported and isinstance(logged, str) and logged):
            raise ArgumentTypeError(f"{owner} needs metrics to be {_RULE} (non-empty str); got metrics={fmt(metrics)}")
        names[reported] = logged
    if not names:
        raise ValueError(f"{owner} needs metrics to name at least one value (or None for all); got metrics={metrics!r}")
    return names


def _number(value: Any) -> float | None:
    """`value` as a float if it is one number (a Python or numpy number, a one-element tensor)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    size = getattr(value, "size", None)  # numpy: an int; torch: a method giving the shape
    if hasattr(value, "numel"):
        size = value.numel()
    if size == 1 and hasattr(value, "item"):  # a torch tensor or numpy array holding one number
        item = value.item()
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    return None


def choose(owner: str, logged: Mapping[str, Any], names: dict[str, str] | None, where: str) -> dict[str, float]:
    """The values to report: every number in `logged` (`names` None), or the named ones, renamed.

    A named value that was not logged is an error naming what was (`where` says when it was looked
    for), so a typo does not leave the scheduler waiting for a metric that never comes.
    """
    if names is None:
        chosen = {}
        for key, value in logged.items():
            number = _number(value)
            if number is not None:
                chosen[str(key)] = number
        return chosen
    result = {}
    for reported, name in names.items():
        if name not in logged:
            known = sorted(map(str, logged))
            raise KeyError(f"{owner} was asked to report {name!r}, which was not logged {where}; logged: {known}")
        number = _number(logged[name])
        if number is None:
            raise TypeError(f"{owner} needs {name!r} to be one number; got {logged[name]!r:.80}")
        result[reported] = number
    return result


def trial_checkpoint(integration: str, helper: str) -> dict[str, Any] | None:
    """The running trial's checkpoint if `integration` wrote it, None if it has none.

    Raises:
        ValueError: the trial's checkpoint was not written by this integration's callback.
    """
    checkpoint = rung.get_checkpoint()
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, dict) or checkpoint.get("integration") != integration:
        kind = checkpoint.get("integration") if isinstance(checkpoint, dict) else None
        what = f"rung.integrations.{kind}'s" if isinstance(kind, str) else f"a {type(checkpoint).__name__}"
        raise ValueError(
            f"{helper}() reads checkpoints that rung.integrations.{integration}.RungCallback reported;"
            f" this trial's checkpoint is {what}"
        )
    return checkpoint


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path relative to it (with "/"), for a checkpoint."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def write_folder(files: Mapping[str, bytes], folder: Path) -> Path:
    """Write the files of `folder_files` under `folder` (created if missing); returns `folder`."""
    root = folder.resolve()
    for name, data in files.items():
        path = (root / name).resolve()
        if root not in path.parents:  # a checkpoint names files below its folder, never elsewhere
            raise ValueError(f"a checkpoint's file name must stay inside its folder; got {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
