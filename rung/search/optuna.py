"""`rung.OptunaSearch`: any Optuna sampler (CMA-ES, NSGA-II, QMC, TPE, ...) as a rung searcher.

The sampler works through Optuna's ask/tell interface on an in-memory study. Each unconditional
numeric or categorical dimension of the space becomes an Optuna distribution; what Optuna cannot
express (normal domains, choices between nested spaces' inner values) is sampled by rung from the
searcher's own generator, and `sample_from` values are derived as usual. Grid dimensions are
crossed as `rung.Random` crosses them. Intermediate results are reported to the Optuna trial
(`training_iteration` as the step); a trial ends as COMPLETE with its last metric value, as
PRUNED when a rung scheduler stopped it early, and as FAIL when it failed or its value is not finite.

Several objectives (`metric=[...]`): the study gets one direction per objective and each trial is
told its last result that reports them all (Optuna takes no intermediate values then); Optuna's
`TPESampler` is MOTPE then, and `NSGAIISampler`, `NSGAIIISampler` or `GPSampler` work as in Optuna.
Constraints: each trial is told, with `trial.set_constraint` (Optuna 5), how far its result is
past each bound (<= 0: met; inf: not reported), which Optuna's TPE, NSGA-II/III and GP samplers read.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rung._numbers import finite
from rung.domains import Categorical, Domain, Float, Integer, matches
from rung.objectives import Objectives
from rung.search.base import Searcher
from rung.space import Space
from rung.types import Config, Status

__all__ = ["OptunaSearch"]

_PLAIN = (type(None), bool, int, float, str)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(
            "OptunaSearch needs optuna, which is not installed: pip install optuna"
            " (or pip install -e '.[optuna]' in rung's checkout)"
        ) from exc
    return optuna


def _stepped(domain: Float | Integer) -> bool:
    """Whether `domain` is quantised on a linear scale with both ends multiples of its q."""
    q = domain.q
    if q is None or domain.log:
        return False
    return all(abs(end / q - round(end / q)) <= 1e-9 for end in (domain.low, domain.high))


class OptunaSearch(Searcher):
    """Adapts an Optuna sampler.

    Args:
        sampler: an `optuna.samplers.BaseSampler`; None gives Optuna's `TPESampler(seed=seed)`.
        seed: seeds the default sampler and rung's sampling of what Optuna does not model.

    Example:
        >>> import optuna
        >>> search = rung.OptunaSearch(optuna.samplers.CmaEsSampler(seed=1))
        >>> rung.run(train, space, metric="loss", num_samples=50, search=search)  # doctest: +SKIP
    """

    multi_objective = True

    def __init__(self, sampler: Any = None, seed: int | None = None) -> None:
        super().__init__(seed)
        optuna = _optuna()
        if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
            raise TypeError(f"OptunaSearch needs an optuna sampler (optuna.samplers.*); got {sampler!r}")
        self.sampler = sampler

    def setup(self, space: Space, *, metric: str | None, mode: str, num_samples: int, seed: int) -> None:
        super().setup(space, metric=metric, mode=mode, num_samples=num_samples, seed=seed)
        if metric is None:
            raise ValueError("OptunaSearch needs a metric to optimise; pass metric= to rung.run")
        optuna = _optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = self._made = self.sampler or optuna.samplers.TPESampler(seed=self.seed)
        direction = "maximize" if mode == "max" else "minimize"
        self._study = optuna.create_study(direction=direction, sampler=sampler)
        self._objectives: Objectives | None = None
        self._judged: dict[int, dict[str, Any]] = {}  # with objectives: each trial's last judged result
        self._distributions: dict[str, Any] = {}
        self._paths: dict[str, tuple[tuple[str, ...], Domain]] = {}
        for path, domain in space.paths:
            distribution = self._distribution(optuna, domain)
            if distribution is not None:
                name = ".".join(path)
                self._distributions[name] = distribution
                self._paths[name] = (path, domain)
        if not self._distributions:
            raise ValueError(
                "OptunaSearch found nothing Optuna can model in this space (only grids, constants, normal domains"
                " or nested choices); use search='random' or 'grid' instead"
            )
        self._start_grid()
        self._rng = np.random.default_rng(self.seed)
        self._trials: dict[int, Any] = {}
        self._steps: dict[int, set[int]] = {}
        self._last: dict[int, float] = {}  # each trial's last metric value (NaN if not a finite number)

    def set_objectives(self, objectives: Objectives) -> None:
        super().set_objectives(objectives)
        self._objectives = objectives
        if objectives.multi:  # no trial was asked yet: the study is made again with every direction
            directions = ["maximize" if mode == "max" else "minimize" for mode in objectives.modes]
            self._study = _optuna().create_study(directions=directions, sampler=self._made)

    @staticmethod
    def _distribution(optuna: Any, domain: Domain) -> Any:
        d = optuna.distributions
        # A quantised domain whose ends are multiples of q is Optuna's stepped distribution (the same
        # values), so Optuna learns the values the trials ran with. Otherwise (log scales, ends off
        # the grid) Optuna proposes on the continuous range and rung snaps onto multiples of q.
        if isinstance(domain, Float):
            step = domain.q if domain.q is not None and _stepped(domain) else None
            return d.FloatDistribution(domain.low, domain.high, log=domain.log, step=step)
        if isinstance(domain, Integer):
            return d.IntDistribution(domain.low, domain.high, log=domain.log, step=domain.q if _stepped(domain) else 1)
        if isinstance(domain, Categorical):
            if all(isinstance(o, _PLAIN) for o in domain.options):
                return d.CategoricalDistribution(list(domain.options))
            # Options that are nested spaces or objects: Optuna chooses among their indices.
            return d.CategoricalDistribution(list(range(len(domain.options))))
        return None

    def suggest(self, trial_id: int) -> Config | None:
        point = self._next_point()
        if point is None:
            return None
        trial = self._study.ask(self._distributions)
        self._trials[trial_id] = trial
        for name, (path, domain) in self._paths.items():
            value = trial.params[name]
            if isinstance(domain, Categorical):
                if not all(isinstance(o, _PLAIN) for o in domain.options):
                    value = domain.options[value]
            elif getattr(domain, "q", None) not in (None, 1):
                value = domain.from_unit(domain.to_unit(value))
            point[path] = value
        return self.space.sample(self._rng, fixed=point)

    def on_given(self, trial_id: int, config: Config) -> None:
        params: dict[str, Any] = {}
        for name, (path, domain) in self._paths.items():
            value: Any = config
            for key in path:
                value = value[key]
            if isinstance(domain, Categorical) and not all(isinstance(o, _PLAIN) for o in domain.options):
                value = next((i for i, option in enumerate(domain.options) if matches(option, value)), 0)
            params[name] = value
        self._study.enqueue_trial(params, skip_if_exists=False)  # the next ask() takes these values
        self._trials[trial_id] = self._study.ask(self._distributions)

    def observe(self, trial_id: int, result: dict[str, Any]) -> None:
        trial = self._trials.get(trial_id)
        value: Any = result.get(self.metric or "")
        step = result.get("training_iteration")
        if trial is None or (self.metric or "") not in result:
            return
        objectives = self._objectives
        if objectives is not None and (objectives.reports(result) or not objectives.multi):
            self._judged[trial_id] = result
        if objectives is not None and objectives.multi:
            return  # Optuna takes no intermediate values with several objectives
        self._last[trial_id] = float(value) if finite(value) else math.nan
        if not isinstance(step, int) or not finite(value):
            return
        # Optuna refuses a second value for a step: a trial restarted from a checkpoint repeats steps.
        steps = self._steps.setdefault(trial_id, set())
        if step not in steps:
            steps.add(step)
            trial.report(float(value), step)

    def on_complete(self, trial_id: int, status: Status, result: dict[str, Any] | None) -> None:
        trial = self._trials.pop(trial_id, None)
        self._steps.pop(trial_id, None)
        last = self._last.pop(trial_id, None)
        judged = self._judged.pop(trial_id, None)
        if trial is None:
            return
        optuna = _optuna()
        objectives = self._objectives
        if objectives is not None:
            for constraint in objectives.constraints:
                if judged is not None:
                    trial.set_constraint(constraint.key, constraint.excess(judged))
            if objectives.multi:
                losses = objectives.losses(judged)
                if status is Status.ERROR or judged is None or losses is None:
                    self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                elif status is Status.STOPPED:
                    self._study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    self._study.tell(trial, [float(judged[m]) for m in objectives.metrics])
                return
        value: Any = None if result is None else result.get(self.metric or "")
        if result is not None and self.metric not in result:
            value = last  # a last result without the metric: the trial's value is its last one with it
        if status is Status.ERROR or not finite(value):
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif status is Status.STOPPED:
            self._study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self._study.tell(trial, float(value))
