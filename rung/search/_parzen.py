"""Parzen estimators over the unit cube: the two densities that TPE compares.

A point has three kinds of columns, in this order: numbers (a coordinate in [0, 1], their domain's
`to_unit`), ordinals (numbers with few possible values: the index of the value's cell, the
interval of [0, 1] that decodes to it) and choices (the option index). A `Parzen` estimator is a
weighted mixture with one kernel per observation plus a prior kernel; each kernel is a product of
one factor per column. Following Optuna and hyperopt:

- numbers: a normal truncated to [0, 1], centred on the observation; ordinals: the mass such a
  normal, centred on the observed cell's middle, puts on each cell (so a narrow kernel does not
  claim more than its cell: densities at a point would overstate it);
- bandwidths: per coordinate, the larger distance from an observation to its neighbouring values
  (0 and 1 count for the outermost ones only when there is no other), clipped to
  [1 / min(100, kernels), 1] ("magic clip"); a value observed more than once gets the smallest;
- choices: the observed option gets 1 + w and every option w = 1 / kernels (then normalised);
- the prior kernel: N(0.5, 1) truncated to [0, 1] per number and ordinal, uniform per choice,
  with weight 1 beside the observations' weights.

Densities of many candidates under thousands of kernels are one matrix product: the log of a
product of normals is a quadratic form in (x^2, x), and the log-probability of an ordinal or a
choice is a dot product with the one-hot encoding of x.

`cells_of` finds the cells of a few-valued number; `snapper` maps a candidate's coordinate of a
many-valued discrete number to its value's coordinate, where it is scored.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rung.domains import Domain, Float, Integer, Normal

__all__ = ["MAX_CELLS", "Cells", "Parzen", "cells_of", "old_decay_weights", "snapper"]

Array = NDArray[np.float64]
Snap = Callable[[Array], Array]
MAX_CELLS = 64  # numbers with at most this many values are modelled by the mass of each value's cell
PRIOR_WEIGHT = 1.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_FLAT = 25  # the newest observations keep full weight (Optuna's default weights)
_FLOOR = 1e-300  # probabilities are kept above this, so their logs stay finite


def ndtr(x: Array) -> Array:
    """The standard normal CDF, elementwise (scipy's, imported when first needed)."""
    from scipy.special import ndtr as cdf  # scipy costs 0.2 s: paid at the first fit, not at the start

    out: Array = cdf(x)
    return out


def ndtri(p: Array) -> Array:
    """The inverse of `ndtr`, elementwise."""
    from scipy.special import ndtri as quantile

    out: Array = quantile(p)
    return out


def old_decay_weights(n: int) -> Array:
    """Weights of `n` observations, oldest first: the newest 25 weigh 1, older ones ramp down to 1/n."""
    if n <= _FLAT:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - _FLAT), np.ones(_FLAT)])


def _bandwidths(mu: Array, orders: Sequence[NDArray[np.intp]] | None) -> Array:
    """Per row of `mu` (d x n, n >= 1, one coordinate per row): the neighbour-distance bandwidths.

    `orders`, when given, holds per row the indices that sort it (the history keeps them). All rows
    at once (a fit's cost was mostly numpy's per-call overhead, row by row): the distinct values of
    every row, one after the other in one flat array.
    """
    d, n = mu.shape
    order = np.argsort(mu, axis=1) if orders is None else np.asarray(orders)
    ordered = np.take_along_axis(mu, order, axis=1)
    # Copies of one value (ordinals, repeated proposals) get the smallest bandwidth (a value seen
    # again is known precisely); a value seen once the larger distance to its neighbouring values.
    # The order of ties is arbitrary, so it must not decide which copy gets a wide kernel.
    first = np.empty((d, n), dtype=bool)
    first[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=first[:, 1:])
    block = np.cumsum(first.ravel()) - 1  # each value's distinct value, counted over all rows
    distinct = ordered[first]
    k = first.sum(axis=1)
    ends = np.cumsum(k) - 1  # each row's last distinct value
    starts = ends - k + 1
    steps = np.diff(distinct)
    # The distance to the lower and to the upper neighbour (0 and 1 beyond the outermost values).
    lower, upper = np.empty(len(distinct)), np.empty(len(distinct))
    lower[1:], upper[:-1] = steps, steps
    lower[starts] = distinct[starts] - 0.0
    upper[ends] = 1.0 - distinct[ends]
    wide = np.maximum(lower, upper)
    # The outermost values use the distance to their inner neighbour, not to the border.
    several = k >= 2
    wide[starts[several]] = upper[starts[several]]
    wide[ends[several]] = lower[ends[several]]
    wide[np.bincount(block) > 1] = 0.0  # clipped to the smallest bandwidth by the caller
    sigma = np.empty_like(mu)
    np.put_along_axis(sigma, order, wide[block].reshape(d, n), axis=1)
    return sigma


class Cells(NamedTuple):
    """The cells of an ordinal column: `edges` (cells + 1 values from 0 to 1) and their middles."""

    edges: Array
    middles: Array


def _cell_table(cells: Cells, own: NDArray[np.intp], sigma: Array) -> Array:
    """log P(cell | kernel), cells x (cells + 1): one column per kernel centre (cell middles, then 0.5).

    Kernels centred on one cell share their bandwidth (`_bandwidths` gives copies of a value the
    same), so a column serves them all; the last column is the prior (centre 0.5, sigma 1). Each is
    a normal truncated to [0, 1], integrated over the cells.
    """
    edges, middles = cells.edges, cells.middles
    observed = own < len(middles)
    per_cell = np.ones(len(middles))
    per_cell[own[observed]] = sigma[observed]
    centres = np.append(middles, 0.5)
    widths = np.append(per_cell, 1.0)
    mass = np.diff(ndtr((edges[:, None] - centres[None, :]) / widths[None, :]), axis=0)
    table: Array = np.log(np.maximum(mass / mass.sum(axis=0, keepdims=True), _FLOOR))
    return table


def _choice_table(size: int, kernels: int) -> Array:
    """log P(option | kernel), options x (options + 1): the observed option has 1 + 1/kernels and
    every option 1/kernels before normalising; the last column is the prior (uniform)."""
    total = 1.0 + size / kernels
    table = np.full((size, size + 1), math.log(1.0 / kernels / total))
    table[np.arange(size), np.arange(size)] = math.log((1.0 + 1.0 / kernels) / total)
    table[:, size] = -math.log(size)
    return table


def snapper(domain: Domain) -> Snap | None:
    """Maps unit coordinates to the encoding of the value they decode to; None when that is the identity.

    Vectorised mirrors of the domains' `from_unit` then `to_unit` (for discrete numbers with too
    many values to be ordinals), so that candidates are scored where their value sits.
    """
    if isinstance(domain, Integer):
        low, high, q, log = domain.low, domain.high, domain.q, domain.log
        n, span = high - low + 1, math.log((high + 1) / low) if log else 0.0

        def snap_int(u: Array) -> Array:
            u = np.clip(u, 0.0, 1.0)
            x = np.floor(low * np.exp(u * span)) if log else low + np.minimum(np.floor(u * n), n - 1)
            if q != 1:
                x = (x + q // 2) // q * q
            x = np.clip(x, low, high)
            if log:
                out: Array = np.clip((0.5 * (np.log(x) + np.log(x + 1)) - math.log(low)) / span, 0.0, 1.0)
            else:
                out = np.clip((x - low + 0.5) / n, 0.0, 1.0)
            return out

        return snap_int
    if isinstance(domain, Float) and domain.q is not None:
        bottom, top, step, logs = domain.low, domain.high, domain.q, domain.log
        width = math.log(top / bottom) if logs else top - bottom

        def snap_float(u: Array) -> Array:
            u = np.clip(u, 0.0, 1.0)
            v = np.exp(math.log(bottom) + u * width) if logs else bottom + u * width
            v = np.clip(np.round(v / step) * step, bottom, top)
            out: Array = np.clip((np.log(v / bottom) if logs else v - bottom) / width, 0.0, 1.0)
            return out

        return snap_float
    if isinstance(domain, Normal) and domain.q is not None:
        mu, sigma, step, log = domain.mu, domain.sigma, domain.q, domain.log

        def snap_normal(u: Array) -> Array:
            v = mu + sigma * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
            if not log:
                out: Array = ndtr((np.round(v / step) * step - mu) / sigma)
                return out
            rounded = np.round(np.exp(v) / step) * step
            with np.errstate(divide="ignore"):  # a value rounded to 0 encodes to 0
                logged = np.log(rounded)
            out = ndtr((logged - mu) / sigma)
            return out

        return snap_normal
    return None


def cells_of(domain: Domain) -> tuple[Cells, list[Any]] | None:
    """The cells of [0, 1] that decode to each value of a number with at most MAX_CELLS values.

    `from_unit` is a monotone step function for integers and quantised floats: its steps are
    found by bisection. None for continuous domains and for those with more values.
    """
    # How many values at most: multiples of q in range, plus the ends when they are off the grid.
    if isinstance(domain, Integer):
        count = (domain.high - domain.low) // domain.q + (1 if domain.q == 1 else 2)
    elif isinstance(domain, Float) and domain.q is not None:
        count = math.floor((domain.high - domain.low) / domain.q) + 2
    else:
        return None
    if count > MAX_CELLS:
        return None
    steps: list[float] = []

    def split(a: float, va: Any, b: float, vb: Any) -> None:
        if va == vb:
            return
        if b - a < 1e-12:
            steps.append(b)
            return
        mid = 0.5 * (a + b)
        vm = domain.from_unit(mid)
        split(a, va, mid, vm)
        split(mid, vm, b, vb)

    split(0.0, domain.from_unit(0.0), 1.0, domain.from_unit(1.0))
    edges = np.array([0.0, *steps, 1.0])
    middles = 0.5 * (edges[:-1] + edges[1:])
    return Cells(edges, middles), [domain.from_unit(float(m)) for m in middles]


class Parzen:
    """A weighted mixture of product kernels fitted to observations, plus the prior kernel.

    Args:
        x: Observations, one per row: number coordinates, then ordinal cell indices, then choice
            indices.
        weights: One non-negative weight per observation (the prior kernel adds weight 1).
        numeric: How many leading columns are numbers in [0, 1].
        cells: The cells of each ordinal column, in column order.
        sizes: The number of options of each choice column, in column order.
        orders: Optionally, per number and ordinal column, the row indices of `x` that sort it.

    Example:
        >>> x = np.array([[0.2, 1.0], [0.25, 1.0], [0.9, 0.0]])
        >>> p = Parzen(x, np.ones(3), numeric=1, cells=(), sizes=(2,))
        >>> bool(p.log_pdf(np.array([[0.22, 1.0]]))[0] > p.log_pdf(np.array([[0.6, 0.0]]))[0])
        True
    """

    def __init__(
        self,
        x: Array,
        weights: Array,
        numeric: int,
        cells: Sequence[Cells],
        sizes: Sequence[int],
        orders: Sequence[NDArray[np.intp]] | None = None,
    ) -> None:
        n, d, o = x.shape[0], numeric, len(cells)
        kernels = n + 1
        self.numeric = numeric
        self.sizes = tuple([len(c.middles) for c in cells] + list(sizes))  # of every discrete column
        w = np.append(weights, PRIOR_WEIGHT)
        self.log_w: Array = np.log(w / w.sum())
        # Centres and bandwidths of numbers and ordinals, one coordinate per row (rows are contiguous).
        mu, sigma = np.empty((d + o, kernels)), np.empty((d + o, kernels))
        mu[:d, :n] = x[:, :d].T
        own = np.full((o, kernels), -1, dtype=np.intp)
        for j, c in enumerate(cells):
            own[j, :n] = x[:, d + j]
            mu[d + j, :n] = c.middles[own[j, :n]]
        mu[:, n] = 0.5
        if n and d + o:
            sigma[:, :n] = np.clip(_bandwidths(mu[:, :n], orders), 1.0 / min(100.0, 1.0 + kernels), 1.0)
        sigma[:, n] = 1.0
        ordinal_sigma = sigma[d:]
        mu, sigma = mu[:d], sigma[:d]
        self.mu, self.sigma = mu, sigma
        # The log of the mass each kernel keeps inside [0, 1]: zero (in float64) beyond 8 sigma of both ends.
        log_mass = np.zeros((d, kernels))
        near = (mu < 8 * sigma) | (1.0 - mu < 8 * sigma)
        if near.any():
            m, s = mu[near], sigma[near]
            log_mass[near] = np.log(ndtr((1.0 - m) / s) - ndtr(-m / s))
        self.log_norm: Array = -np.log(sigma) - _HALF_LOG_2PI - log_mass
        # Per discrete column (ordinals, then choices): a small table of log-probabilities, options x
        # kinds of kernel, and the kind of each kernel (its observed option; the last kind: the prior).
        own[:, n] = [len(c.middles) for c in cells]
        self.tables: list[Array] = [_cell_table(c, own[j], ordinal_sigma[j]) for j, c in enumerate(cells)]
        self.kinds: list[NDArray[np.intp]] = list(own)
        for j, size in enumerate(sizes):
            self.tables.append(_choice_table(size, kernels))
            self.kinds.append(np.append(x[:, d + o + j].astype(np.intp), size))
        # log(weight * kernel(x)) = [x^2, x, one-hot(x)] @ [coef; log_p] + const
        precision = 1.0 / sigma**2
        self.coef: Array = np.vstack([-0.5 * precision, mu * precision])
        self.const: Array = self.log_w + (self.log_norm - 0.5 * mu**2 * precision).sum(axis=0)

    @functools.cached_property
    def log_p(self) -> list[Array]:
        """Per discrete column, the log-probability of each option under each kernel (options x kernels)."""
        return [table[:, kinds] for table, kinds in zip(self.tables, self.kinds, strict=True)]

    def _features(self, x: Array) -> Array:
        m, d = x.shape[0], self.numeric
        f = np.zeros((m, 2 * d + sum(self.sizes)))
        f[:, :d] = x[:, :d] ** 2
        f[:, d : 2 * d] = x[:, :d]
        start = 2 * d
        for j, size in enumerate(self.sizes):
            f[np.arange(m), start + x[:, d + j].astype(np.intp)] = 1.0
            start += size
        return f

    @functools.cached_property
    def _all_coef(self) -> Array:
        """The coefficients of every feature (numbers, then each discrete column's options)."""
        return np.vstack([self.coef, *self.log_p]) if self.tables else self.coef

    def log_pdf(self, x: Array) -> Array:
        """The log density of each row of `x` (m x columns) under the whole mixture."""
        terms = self._features(x) @ self._all_coef  # the TPE level holds BLAS to one thread (Level._model)
        terms += self.const
        return _logsumexp(terms)

    def log_pdf_columns(self, x: Array) -> Array:
        """Per column, the log density of each row's coordinate under that column's marginal mixture."""
        out = np.empty(x.shape)
        d = self.numeric
        for j in range(d):
            z = (x[:, j, None] - self.mu[j]) / self.sigma[j]
            out[:, j] = _logsumexp(self.log_w + self.log_norm[j] - 0.5 * z**2)
        for j, (table, kinds) in enumerate(zip(self.tables, self.kinds, strict=True)):
            out[:, d + j] = _logsumexp(table[x[:, d + j].astype(np.intp)[:, None], kinds[None, :]] + self.log_w)
        return out

    def _kernel_cdf(self, fixed: Mapping[int, int]) -> Array:
        """The cumulative probability of picking each kernel, given the discrete columns in `fixed`."""
        log_w = self.log_w.copy()
        for j, index in fixed.items():
            log_w += self.log_p[j - self.numeric][index]
        w = np.exp(log_w - log_w.max())
        cumulative: Array = np.cumsum(w / w.sum())
        cumulative[-1] = 1.0
        return cumulative

    @functools.cached_property
    def _cumulative(self) -> Array:
        """`_kernel_cdf` with nothing fixed (a density reused for many proposals computes it once)."""
        return self._kernel_cdf({})

    @functools.cached_property
    def _mass_bounds(self) -> tuple[Array, Array]:
        """Per number and kernel, the standard normal CDF at [0, 1]'s ends (for truncated draws)."""
        return ndtr(-self.mu / self.sigma), ndtr((1.0 - self.mu) / self.sigma)

    def sample(self, rng: np.random.Generator, m: int, fixed: Mapping[int, int], independent: bool) -> Array:
        """`m` points drawn from the mixture, with discrete columns in `fixed` held at their index.

        A fixed column conditions the draw: kernels are picked in proportion to their weight times
        their probability of the fixed option. With `independent`, each column picks its own kernel
        (the product of the marginals, univariate TPE); otherwise one kernel gives every column.
        """
        d, columns = self.numeric, self.numeric + len(self.sizes)
        cumulative = self._cumulative if not fixed else self._kernel_cdf(fixed)
        picks = columns if independent else 1
        kernel = np.minimum(np.searchsorted(cumulative, rng.random((m, picks)), side="right"), len(cumulative) - 1)
        if not independent:
            kernel = np.repeat(kernel, columns, axis=1)
        out = np.empty((m, columns))
        if d:
            rows = np.arange(d)
            mu, sigma = self.mu[rows, kernel[:, :d]], self.sigma[rows, kernel[:, :d]]
            low, high = self._mass_bounds
            low, high = low[rows, kernel[:, :d]], high[rows, kernel[:, :d]]
            # The inverse CDF of the truncated normal (its mean is inside [0, 1], so no tail cancels).
            out[:, :d] = np.clip(mu + sigma * ndtri(low + rng.random((m, d)) * (high - low)), 0.0, 1.0)
        for j, table in enumerate(self.log_p):
            if d + j in fixed:
                out[:, d + j] = fixed[d + j]
                continue
            probs = np.exp(table[:, kernel[:, d + j]].T)  # m x options
            below = np.cumsum(probs, axis=1) < rng.random(m)[:, None] * probs.sum(axis=1, keepdims=True)
            out[:, d + j] = np.minimum(below.sum(axis=1), table.shape[0] - 1)
        return out


def _logsumexp(a: Array) -> Array:
    """log(sum(exp(a))) along the last axis of a 2-d array of finite values.

    With many columns, only the terms within e^-40 of each row's largest are added: they are all
    that count in float64, and usually few (a point is near few of thousands of kernels).
    """
    top = a.max(axis=1)
    if a.shape[1] <= 512:
        out: Array = np.log(np.exp(a - top[:, None]).sum(axis=1)) + top
        return out
    # Flat indices (one array, not two) cost a third of np.nonzero's on a 2-d mask; same sums.
    flat = np.flatnonzero(a > top[:, None] - 40.0)
    rows = flat // a.shape[1]
    total = np.bincount(rows, weights=np.exp(a.ravel()[flat] - top[rows]), minlength=a.shape[0])
    out = np.log(total) + top
    return out
