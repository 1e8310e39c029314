"""How much each hyperparameter matters, from the stored trials' configs and best values (JSON only).

Two measures, shown side by side:

- `univariate_importance`: each hyperparameter alone against the metric (a rank correlation, or the
  correlation ratio of a category). Fast, but blind to interactions: in `loss = lr * batch_size`
  neither correlates with the loss on its own.
- `model_importance`: a Gaussian process fitted to (config, metric rank) and its functional ANOVA
  (Sobol indices of the fitted mean over the trials' own marginal values, as fANOVA does with a
  random forest): the share of the metric's variance each hyperparameter explains with all its
  interactions (`effect`, the total-effect index), and the part that is interactions only
  (`interaction`: total minus first-order). numpy only.
"""

from __future__ import annotations

import math
from typing import Any

from rung._numbers import finite
from rung.types import flatten

__all__ = ["MODEL_TRIALS", "model_importance", "univariate_importance"]

MODEL_TRIALS = 100
"""`model_importance` fits its GP to at most this many trials (spread over the run): O(n^3) per fit."""
SAMPLES = 512
"""Points at which the fitted mean is evaluated per Sobol estimate."""
LENGTHSCALES = (0.15, 0.3, 0.6, 1.2, 5.0)
"""The GP's lengthscales tried per hyperparameter (inputs in [0, 1]; 5: hardly varies), and its noise
variances (targets standardised)."""
NOISES = (1e-3, 1e-2, 0.1, 0.3, 1.0)
SWEEPS = 2


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


def model_importance(rows: list[dict[str, Any]], metric: str | None, space: Any) -> dict[str, dict[str, float]]:
    """Per hyperparameter that varies (nested ones as `a/b`): `{"effect": total-effect index,
    "interaction": total minus first-order index}` of a GP fitted to the trials' configs (encoded as
    `rung.store.axes` places them: log axes in log, categories one-hot) and the ranks of their best
    metric; {} with fewer than 8 scored trials. Deterministic (a fixed seed)."""
    if metric is None:
        return {}
    import numpy as np

    from rung.store import axes

    scored = [
        (r["config"], float(r["best_result"][metric])) for r in rows if finite((r["best_result"] or {}).get(metric))
    ]
    if len(scored) < 8:
        return {}
    if len(scored) > MODEL_TRIALS:
        scored = [scored[i] for i in np.linspace(0, len(scored) - 1, MODEL_TRIALS).round().astype(int)]
    found = axes.parallel_axes(space, [c for c, _ in scored], metric, [v for _, v in scored])[:-1]
    if not found:
        return {}
    columns: list[Any] = []
    groups: list[list[int]] = []
    for axis in found:
        at = np.array(axis["at"], dtype=float)
        if axis["scale"] == "category":
            levels = sorted({float(v) for v in at})
            groups.append(list(range(len(columns), len(columns) + len(levels))))
            columns += [(at == level).astype(float) for level in levels]
        else:
            groups.append([len(columns)])
            columns.append(at)
    X = np.column_stack(columns)
    y = _ranks(np.array([v for _, v in scored]))
    y = (y - y.mean()) / y.std()
    mean = _fitted_mean(X, y, groups)
    rng = np.random.default_rng(0)
    # Two independent samples from the product of the trials' marginals (each group's rows drawn apart).
    a, b = (np.column_stack([X[rng.integers(0, len(X), SAMPLES)][:, g] for g in groups]) for _ in range(2))
    order = [i for g in groups for i in g]  # the stacked columns' original positions
    back = np.argsort(order)
    fa, fb = mean(a[:, back]), mean(b[:, back])
    variance = float(np.var(np.concatenate([fa, fb])))
    out: dict[str, dict[str, float]] = {}
    start = 0
    for axis, group in zip(found, groups, strict=True):
        cut = slice(start, start + len(group))
        start += len(group)
        ab = a.copy()
        ab[:, cut] = b[:, cut]
        fab = mean(ab[:, back])
        if variance <= 1e-12:
            total = first = 0.0
        else:
            total = float(np.mean((fa - fab) ** 2) / (2 * variance))  # Jansen's estimator
            first = float(np.mean(fb * (fab - fa)) / variance)  # Saltelli's (2010)
        total = min(max(total, 0.0), 1.0)
        out[axis["key"]] = {"effect": total, "interaction": min(max(total - max(first, 0.0), 0.0), total)}
    return out


def _fitted_mean(X: Any, y: Any, groups: list[list[int]]) -> Any:
    """The posterior mean of a GP (Matérn-5/2 kernel, a lengthscale per hyperparameter, standardised
    targets) fitted to (X, y), as a function of rows. Lengthscales and noise maximise the marginal
    likelihood on grids, one hyperparameter at a time (`SWEEPS` times over all): a hyperparameter
    that does not matter gets the longest lengthscale, so the fitted mean hardly moves along it.
    numpy only: scipy's optimiser would add a second to the dashboard's first view."""
    with _one_thread():
        return _fit(X, y, groups)


def _one_thread() -> Any:
    """BLAS held to one thread: on matrices this small a busy machine's BLAS threads make each
    decomposition 10-100x slower. Through threadpoolctl alone (numpy's BLAS): `rung._blas` would
    import scipy for its own BLAS, a second of the dashboard's first view on a loaded machine."""
    import importlib

    threadpoolctl = importlib.import_module("threadpoolctl")  # untyped: imported as rung._blas does
    return threadpoolctl.threadpool_limits(limits=1, user_api="blas")


def _fit(X: Any, y: Any, groups: list[list[int]]) -> Any:
    import numpy as np

    parts = [((X[:, None, g] - X[None, :, g]) ** 2).sum(-1) for g in groups]  # squared distances per group

    def likelihood(scales: list[float]) -> tuple[float, Any]:
        """The best negative log likelihood over the noise levels, and its `alpha`."""
        w, Q = np.linalg.eigh(_matern(sum(p / (s * s) for p, s in zip(parts, scales, strict=True)), 1.0))
        w = np.maximum(w, 0.0)
        projected = Q.T @ y
        found = min(NOISES, key=lambda n: float((projected**2 / (w + n)).sum() + np.log(w + n).sum()))
        nll = 0.5 * float((projected**2 / (w + found)).sum() + np.log(w + found).sum())
        return nll, Q @ (projected / (w + found))

    scales = [LENGTHSCALES[len(LENGTHSCALES) // 2]] * len(groups)
    best = likelihood(scales)
    for _ in range(SWEEPS):
        for g in range(len(groups)):
            for candidate in LENGTHSCALES:
                if candidate == scales[g]:
                    continue
                trial = [*scales[:g], candidate, *scales[g + 1 :]]
                found = likelihood(trial)
                if found[0] < best[0]:
                    best, scales = found, trial
    alpha = best[1]

    def mean(rows: Any) -> Any:
        sq = sum(
            ((rows[:, None, g] - X[None, :, g]) ** 2).sum(-1) / (s * s) for g, s in zip(groups, scales, strict=True)
        )
        with _one_thread():
            return _matern(sq, 1.0) @ alpha

    return mean


def _matern(sq: Any, lengthscale: float) -> Any:
    import numpy as np

    r = np.sqrt(5.0 * sq) / lengthscale
    return (1.0 + r + r * r / 3.0) * np.exp(-r)
