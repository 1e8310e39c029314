"""A rung experiment as an Optuna study, and an Optuna study as known results.

`to_optuna(rung.load("exp"), "sqlite:///exp.db")` (or `rung export --optuna sqlite:///exp.db exp`)
writes the experiment's trials into an Optuna storage, so that `optuna-dashboard sqlite:///exp.db`
and `optuna.visualization` show it. It reads the store through the read side only (a private copy of
its database, JSON columns): nothing stored is unpickled. Each ended trial becomes one Optuna trial:

- TERMINATED -> COMPLETE, its value the trial's best value of the metric (what rung ranks trials
  by); FAIL if it has none (Optuna has no completed trial without a value).
- STOPPED (early, by the scheduler) -> PRUNED, its value its last intermediate value (as Optuna's
  `tell` stores a pruned trial's).
- ERROR -> FAIL, with the traceback as the `fail_reason` system attribute.
- PENDING, RUNNING, PAUSED, INTERRUPTED -> not exported: Optuna's `add_trial` is for finished trials,
  and a RUNNING one would look alive to Optuna for ever. Export again once they end (`replace=True`).

Several objectives: a study of as many directions, each trial's values those of its judged result
(its last reporting every objective), no intermediate values (Optuna keeps them for one objective).
Constraints: each trial's `constraints` system attribute, how far it breaks each (<= 0: met), as
Optuna's samplers store it.

Params and distributions: see `rung.interop._params`. Intermediate values: the metric of every
result, at its `training_iteration`. User attributes: the last result's other metrics, and `rung`:
the trial's id, status, origin and whole config (which `from_optuna` reads back).

`from_optuna(study)` gives a study's COMPLETE trials as `[{"config": ..., "result": {metric: value}}]`,
what `rung.run(..., known=...)` and `rung.Study(..., known=...)` take.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rung._numbers import is_number
from rung.interop import _params
from rung.objectives import Objectives
from rung.result import ExperimentResult
from rung.store import driver
from rung.store.snapshot import snapshot

if TYPE_CHECKING:
    import optuna

__all__ = ["from_optuna", "to_optuna"]

_STATES = {"TERMINATED": "COMPLETE", "STOPPED": "PRUNED", "ERROR": "FAIL"}
_CONSTRAINTS = "constraints"
"""The system attribute Optuna's samplers (`constraints_func`) and optuna-dashboard read a trial's
constraint values from: one number per constraint, <= 0 when it is met."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ImportError("rung.interop's Optuna functions need optuna: pip install 'rung[optuna]'") from exc
    return optuna


def to_optuna(
    result: ExperimentResult, storage: str | Any, study_name: str | None = None, *, replace: bool = False
) -> optuna.Study:
    """Write a rung experiment's ended trials into a new Optuna study (see the module's docstring).

    Args:
        result: the experiment, e.g. `rung.load("exp1", storage="rung-runs")`.
        storage: an Optuna storage URL (`"sqlite:///exp1.db"`, any SQLAlchemy URL) or storage object.
        study_name: the Optuna study's name (default: the experiment's).
        replace: delete a study of that name first (exporting again as the experiment goes on);
            without it, an existing study is an error.

    Returns:
        The Optuna study written.

    Raises:
        ValueError: an experiment without a metric, or a study of that name exists (and not `replace`).

    Example:
        >>> study = rung.interop.to_optuna(rung.load("exp1"), "sqlite:///exp1.db")  # doctest: +SKIP
        >>> study.best_params  # doctest: +SKIP
    """
    lib = _optuna()
    if not isinstance(result, ExperimentResult):
        raise TypeError(f"to_optuna needs an ExperimentResult (rung.load(name, storage)); got {result!r:.100}")
    objectives = result.objectives
    if objectives is None:
        raise ValueError(f"to_optuna: experiment {result.name!r} has no metric, and an Optuna trial's value is one")
    study_name = result.name if study_name is None else study_name
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"to_optuna needs study_name to be a non-empty str; got {study_name!r}")
    trials = _trials(result, objectives, lib)
    if replace:
        with contextlib.suppress(KeyError):  # nothing to replace
            lib.delete_study(study_name=study_name, storage=storage)
    try:
        study = lib.create_study(
            storage=storage,
            study_name=study_name,
            directions=["maximize" if mode == "max" else "minimize" for mode in objectives.modes],
        )
    except lib.exceptions.DuplicatedStudyError:
        raise ValueError(
            f"to_optuna: the Optuna storage already holds a study {study_name!r}; pass replace=True (--replace) to"
            " write it again, or another study_name (--study)"
        ) from None
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and what optuna-dashboard labels values with
        warnings.simplefilter("ignore", lib.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives.metrics))
    study.set_user_attr("rung", {"experiment": result.name, "storage": str(Path(result.storage).resolve())})
    study.add_trials(trials)
    return cast("optuna.Study", study)


def _number(value: Any) -> float | None:
    """A finite number as a float; None for anything else (NaN, inf, missing)."""
    return float(value) if is_number(value) and math.isfinite(value) else None


def _trials(result: ExperimentResult, objectives: Objectives, lib: Any) -> list[Any]:
    """The experiment's ended trials as Optuna FrozenTrials, read from a private copy of its database.

    One objective: each trial's value is its best value of the metric, its curve the intermediate
    values. Several: its values are those of its judged result (its last reporting them all), with no
    intermediate values (Optuna keeps them for one objective only). Constraints: each trial's
    `constraints` system attribute holds how far it breaks each (<= 0: met), what Optuna's samplers
    and optuna-dashboard read."""
    metric = objectives.metrics[0]
    multi = objectives.multi
    with snapshot(result.storage, result.name) as store:
        experiment = store.experiment()
        rows = store.trials()  # configs from JSON: nothing unpickled
        results = store.results()
    domains = _params.domain_paths(experiment["space"])
    curves: dict[int, dict[int, float]] = {}
    for res in results:
        value = None if multi else _number(res.get(metric))
        if value is not None and isinstance(res.get("training_iteration"), int):
            curves.setdefault(res["trial_id"], {})[res["training_iteration"]] = value
    ended = [row for row in rows if driver.shown(row["status"], experiment["status"]) in _STATES]
    per_trial = [_params.params(row["config"], domains) for row in ended]
    seen: dict[str, list[Any]] = {}
    for values in per_trial:
        for name, value in values.items():
            seen.setdefault(name, []).append(value)
    dists = _params.distributions(seen, domains)
    state = lib.trial.TrialState
    out = []
    for row, params in zip(ended, per_trial, strict=True):
        steps = curves.get(row["id"], {})
        kind = _STATES[row["status"]]
        judged = row["best_result"] or {}
        scores = [_number(judged.get(m)) for m in objectives.metrics] if kind == "COMPLETE" else []
        if kind == "COMPLETE" and None in scores:
            kind = "FAIL"  # Optuna has no completed trial without a value
            scores = []
        elif kind == "PRUNED" and steps:
            scores = [steps[max(steps)]]
        last = dict(row["last_result"] or {})
        for m in objectives.metrics:
            last.pop(m, None)
        system: dict[str, Any] = {}
        if row["error"]:
            system["fail_reason"] = row["error"]
        if objectives.constraints and judged:
            system[_CONSTRAINTS] = [min(c.excess(judged), 1e300) for c in objectives.constraints]
        last["rung"] = {
            "trial_id": row["id"],
            "status": row["status"],
            "origin": row["origin"],
            "config": row["config"],
        }
        trial = lib.trial.create_trial(
            state=getattr(state, kind),
            values=scores or None,
            params=params,
            distributions={name: dists[name] for name in params},
            user_attrs=last,
            system_attrs=system or None,
            intermediate_values=steps,
        )
        trial.datetime_start = datetime.datetime.fromtimestamp(row["created"])
        trial.datetime_complete = datetime.datetime.fromtimestamp(max(row["created"], row["updated"]))
        out.append(trial)
    return out


def from_optuna(study: optuna.Study, metric: str | list[str] | None = None) -> list[dict[str, Any]]:
    """An Optuna study's COMPLETE trials as known results for `rung.run(..., known=...)`.

    Args:
        study: an Optuna study (one objective or several).
        metric: the result key for each trial's value (default: the study's metric name, set with
            `study.set_metric_names`, else "value"); use the `metric=` of the rung run. Several
            objectives: a list of as many keys (default: the metric names, else "values_0", ...).

    Returns:
        `[{"config": {...}, "result": {metric: value}}, ...]`: the config is the trial's params, "/"
        in their names read as nesting (`{"opt/lr": 0.1}` gives `{"opt": {"lr": 0.1}}`), or the whole
        config of a trial that `to_optuna` exported. PRUNED, FAIL and unfinished trials are left out.

    Example:
        >>> study = optuna.load_study(study_name="s", storage="sqlite:///s.db")  # doctest: +SKIP
        >>> known = rung.interop.from_optuna(study, metric="loss")  # doctest: +SKIP
        >>> rung.run(train, space, metric="loss", known=known)  # doctest: +SKIP
    """
    lib = _optuna()
    if not isinstance(study, lib.Study):
        raise TypeError(f"from_optuna needs an optuna.Study; got {study!r:.100}")
    count = len(study.directions)
    if metric is None:
        default = [f"values_{i}" for i in range(count)] if count > 1 else ["value"]
        names = list(study.metric_names) if study.metric_names else default
    else:
        names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list) or len(names) != count or not all(isinstance(m, str) for m in names):
        raise TypeError(
            f"from_optuna needs metric to be a str, or a list of {count} str (one per objective of study"
            f" {study.study_name!r}); got {metric!r}"
        )
    out = []
    for trial in study.get_trials(deepcopy=False, states=(lib.trial.TrialState.COMPLETE,)):
        exported = trial.user_attrs.get("rung")
        if isinstance(exported, dict) and isinstance(exported.get("config"), dict):
            config = exported["config"]
        else:
            config = _nested(trial.params)
        out.append({"config": config, "result": dict(zip(names, trial.values, strict=True))})
    return out


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """Optuna params with "/" in their names as nested dicts."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = out
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # "a" and "a/b" both params: keep the flat name
                node = {}
                break
            node = child
        else:
            node[leaf] = value
            continue
        out[name] = value
    return out
