"""Every searcher passes the searcher contract suite (rung.testing.searchers)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rung.domains import Categorical
from rung.schedulers.base import FIFO, Scheduler
from rung.search.auto import AutoSearch
from rung.search.base import Searcher
from rung.search.gp import GP
from rung.search.optuna import OptunaSearch
from rung.search.random import Grid, Random
from rung.search.tpe import TPE
from rung.space import Space
from rung.testing.searchers import (
    SEARCHER_CHECKS,
    check_bad_results_tolerated,
    check_conditional_and_nested,
    check_proposals_inside_space,
    check_resume_after_kill,
    check_same_seed_same_proposals,
)
from rung.types import Config


class AutoAlone(AutoSearch):
    """AutoSearch under FIFO: the suite's runs expect every trial to run all its steps."""

    def paired_scheduler(self) -> Scheduler:
        return FIFO()


MAKERS: dict[str, Callable[[], Searcher]] = {
    "auto": AutoAlone,
    "gp": GP,
    "optuna": OptunaSearch,
    "tpe": TPE,
    "tpe-univariate": lambda: TPE(multivariate=False, n_startup=5),
    "tpe-cost-aware": lambda: TPE(cost_aware=True, n_startup=5),
    "random": Random,
    "grid": Grid,
}


@pytest.mark.parametrize("check", SEARCHER_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_searcher_contract(kind: str, check: Callable[[Callable[[], Searcher]], None]) -> None:
    if kind == "tpe-cost-aware" and check is check_resume_after_kill:
        # It learns from wall times, which differ between the killed run and the clean one it is
        # compared with; its replay is checked on simulated times (test_cost_model.py).
        pytest.skip("proposals follow measured wall times, which differ between runs")
    check(MAKERS[kind])


# The suite catches broken searchers.
class _NumpyValues(Random):
    """Returns numpy scalars instead of plain Python values."""

    def suggest(self, trial_id: int) -> Config | None:
        config = super().suggest(trial_id)
        return None if config is None else {**config, "f": np.float64(config["f"])}


class _GlobalRandom(Random):
    """Ignores its seed: draws from numpy's global generator."""

    def suggest(self, trial_id: int) -> Config | None:
        self._rng = np.random.default_rng(int(np.random.randint(1 << 30)))
        return super().suggest(trial_id)


class _ChokesOnNan(Random):
    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        value = result.get(self.metric)
        if isinstance(value, float) and math.isnan(value):
            raise ValueError("cannot learn from nan")


class _FirstOptionOnly(Random):
    """Never leaves the first option of a choice between nested spaces."""

    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        if point is None:
            return None
        fixed = {path: domain.options[0] for path, domain in self.space.paths if isinstance(domain, Categorical)}
        return self.space.sample(self._rng, fixed={**point, **fixed})


class _SeededByProcess(Random):
    """Same seed, same events, same process: same proposals; but another process proposes others."""

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        self._rng = np.random.default_rng(os.getpid())


@pytest.mark.parametrize(
    ("broken", "check", "message"),
    [
        (_NumpyValues, check_proposals_inside_space, "config.f is a numpy scalar"),
        (_GlobalRandom, check_same_seed_same_proposals, "two searchers with the same seed and events proposed"),
        (_ChokesOnNan, check_bad_results_tolerated, "cannot learn from nan"),
        (_FirstOptionOnly, check_conditional_and_nested, "options never proposed"),
        (_SeededByProcess, check_resume_after_kill, "resumed:"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[:30],
)
def test_suite_catches_broken_searchers(
    broken: Callable[[], Searcher], check: Callable[[Callable[[], Searcher]], None], message: str
) -> None:
    with pytest.raises((AssertionError, ValueError), match=message):
        check(broken)
