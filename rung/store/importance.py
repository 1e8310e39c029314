"""How much each hyperparameter matters, from the stored trials' configs and best values (JSON only)."""

from __future__ import annotations

import math
from typing import Any

from rung._numbers import finite
from rung.types import flatten

__all__ = ["univariate_importance"]


def univariate_importance(rows: list[dict[str, Any]], metric: str | None) -> dict[str, float]:
    """Per hyperparameter (nested ones as `a/b`): |Spearman correlation| of a number with the trials'
    best metric, or, for anything else, the correlation ratio adjusted for the number of groups
    (sqrt of epsilon squared): with one group per trial (an id, a seed) the plain ratio is always 1."""
    if metric is None:
        return {}
    import numpy as np

    scored = [
        (flatten(r["config"], "/"), float(r["best_result"][metric]))
        for r in rows
        if finite((r["best_result"] or {}).get(metric))
    ]
    if len(scored) < 3:
        return {}
    y = np.array([v for _, v in scored])
    ry = _ranks(y)
    total = float(((y - y.mean()) ** 2).sum())
    out: dict[str, float] = {}
    for key in sorted({k for config, _ in scored for k in config}):
        values = [config.get(key) for config, _ in scored]
        if all(finite(v) for v in values):
            x = _ranks(np.array(values, dtype=float))
            if x.std() > 0 and ry.std() > 0:
                out[key] = float(abs(np.corrcoef(x, ry)[0, 1]))
            continue
        _, group = np.unique([repr(v) for v in values], return_inverse=True)
        n, k = len(values), int(group.max()) + 1
        if total == 0 or k < 2 or n - k < 2:
            continue  # one value, or too few trials per value to tell anything
        counts = np.bincount(group)
        means = np.bincount(group, weights=y) / counts
        between = float((counts * (means - y.mean()) ** 2).sum())
        adjusted = 1.0 - (1.0 - between / total) * (n - 1) / (n - k)
        out[key] = float(math.sqrt(max(0.0, adjusted)))
    return out


def _ranks(values: Any) -> Any:
    """Ranks from 1, ties sharing their average rank (as `scipy.stats.rankdata`, whose import alone
    costs the dashboard's first view a second or more)."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.concatenate((starts[1:], [len(values)]))
    average = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    out = np.empty(len(values))
    out[order] = average[group]
    return out
