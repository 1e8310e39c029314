"""XGBoost: report every boosting round to rung, checkpoint the booster, resume boosting.

Each round's evaluation results are reported as `<dataset>-<metric>`, the names XGBoost prints
(`eval-logloss` for `evals=[(dvalid, "eval")]`, `validation_0-logloss` for the scikit-learn API's
first `eval_set`), with `round`, the booster's number of rounds. When the scheduler stops or
pauses the trial, `rung.report` raises out of the callback and `xgb.train` unwinds; the booster is
in the trial's checkpoint (its UBJSON bytes), and `load_booster()` gives it back on resume, so
training goes on from the round where it stopped.

Example:
    >>> import xgboost as xgb  # doctest: +SKIP
    >>> from rung.integrations.xgboost import RungCallback, load_booster
    >>> def train(config):
    ...     booster = load_booster()  # None when the trial starts; the paused booster when it resumes
    ...     done = booster.num_boosted_rounds() if booster else 0
    ...     xgb.train({"eta": config["eta"], "objective": "binary:logistic"}, dtrain, num_boost_round=100 - done,
    ...               evals=[(dvalid, "eval")], xgb_model=booster, verbose_eval=False,
    ...               callbacks=[RungCallback({"logloss": "eval-logloss"})])
    >>> rung.run(train, space, metric="logloss", scheduler=rung.ASHA(max_t=100))
"""

from __future__ import annotations

from typing import Any

import rung
from rung._checks import Interval, check
from rung.integrations._common import MetricsArg, choose, metric_names, missing, trial_checkpoint

try:
    import xgboost as xgb
except ImportError as exc:
    raise ImportError(missing("xgboost", "xgboost")) from exc

__all__ = ["RungCallback", "load_booster"]


class RungCallback(xgb.callback.TrainingCallback):  # type: ignore[misc]
    """Reports each boosting round of `xgb.train` (or an XGBoost scikit-learn model) to rung.

    Args:
        metrics: which results to report: None (every `<dataset>-<metric>`), one name, a list of
            names, or a dict {name to report: `<dataset>-<metric>`} to rename them.
        checkpoint_every: put the booster in the trial's checkpoint every this many rounds (0: never).
            The booster's bytes grow with its rounds: with many rounds, a larger value saves time,
            and a paused trial resumes from its last checkpointed round.

    Example:
        >>> RungCallback({"logloss": "eval-logloss"}, checkpoint_every=5)  # doctest: +ELLIPSIS
        <rung.integrations.xgboost.RungCallback object at ...>
    """

    def __init__(self, metrics: MetricsArg = None, *, checkpoint_every: int = 1) -> None:
        super().__init__()
        self.metrics = metric_names("RungCallback", metrics)
        self.checkpoint_every = check("RungCallback", "checkpoint_every", checkpoint_every, Interval(int, 0, None))

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
        """XGBoost's hook after each round: report it. Returns False: rung ends training by raising."""
        logged = {}
        for data, results in evals_log.items():
            for name, values in results.items():
                last = values[-1]
                logged[f"{data}-{name}"] = last[0] if isinstance(last, tuple) else last  # xgb.cv: (mean, std)
        result: dict[str, Any] = choose("RungCallback", logged, self.metrics, f"in round {epoch + 1}")
        rounds = model.num_boosted_rounds()
        result["round"] = rounds
        checkpoint = None
        if self.checkpoint_every and rounds % self.checkpoint_every == 0:
            checkpoint = {"integration": "xgboost", "booster": bytes(model.save_raw(raw_format="ubj"))}
        rung.report(result, checkpoint=checkpoint)  # raises to stop or pause: xgb.train unwinds
        return False


def load_booster() -> xgb.Booster | None:
    """The booster in the running trial's checkpoint, or None when the trial has none (its start).

    Pass it as `xgb_model=` to `xgb.train` (or to an XGBoost model's `fit`) to go on boosting; its
    `num_boosted_rounds()` says how many rounds are done.

    Raises:
        ValueError: the trial's checkpoint was not reported by `RungCallback`.
    """
    checkpoint = trial_checkpoint("xgboost", "load_booster")
    if checkpoint is None:
        return None
    booster = xgb.Booster()
    booster.load_model(bytearray(checkpoint["booster"]))
    return booster
