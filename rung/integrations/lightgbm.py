"""LightGBM: report every boosting round to rung, checkpoint the booster, resume boosting.

Each round's evaluation results are reported as `<dataset>-<metric>`, joined with "-" as in
rung's XGBoost integration: `valid_0-binary_logloss` for what LightGBM prints as
`valid_0's binary_logloss` (datasets are named by `valid_names=`, default `valid_0`, `valid_1`,
...; the scikit-learn API's first `eval_set` is `valid_0`, or `training` when it is the training
data), with `round`, the number of rounds the booster has. When the scheduler stops or pauses the
trial, `rung.report` raises out of the callback and `lgb.train` unwinds; the booster is in the
trial's checkpoint (LightGBM's model text), and `load_booster()` gives it back on resume, so
training goes on from the round where it stopped.

Example:
    >>> import lightgbm as lgb  # doctest: +SKIP
    >>> from rung.integrations.lightgbm import RungCallback, load_booster
    >>> def train(config):
    ...     booster = load_booster()  # None when the trial starts; the paused booster when it resumes
    ...     done = booster.current_iteration() if booster else 0
    ...     lgb.train({"learning_rate": config["lr"], "objective": "binary", "verbose": -1}, train_set,
    ...               num_boost_round=100 - done, valid_sets=[valid_set], init_model=booster,
    ...               callbacks=[RungCallback({"logloss": "valid_0-binary_logloss"})])
    >>> rung.run(train, space, metric="logloss", scheduler=rung.ASHA(max_t=100))
"""

from __future__ import annotations

from typing import Any

import rung
from rung._checks import Interval, check
from rung.integrations._common import MetricsArg, choose, metric_names, missing, trial_checkpoint

try:
    import lightgbm as lgb
except ImportError as exc:
    raise ImportError(missing("lightgbm", "lightgbm")) from exc

__all__ = ["RungCallback", "load_booster"]


class RungCallback:
    """Reports each boosting round of `lgb.train` (or a LightGBM scikit-learn model) to rung.

    Pass it in `callbacks=`. It runs after LightGBM's own callbacks (`early_stopping`,
    `log_evaluation`), so a round that LightGBM ends early is not reported.

    Args:
        metrics: which results to report: None (every `<dataset>-<metric>`), one name, a list of
            names, or a dict {name to report: `<dataset>-<metric>`} to rename them.
        checkpoint_every: put the booster in the trial's checkpoint every this many rounds (0: never).
            The model text grows with its rounds: with many rounds, a larger value saves time, and a
            paused trial resumes from its last checkpointed round.

    Example:
        >>> RungCallback({"logloss": "valid_0-binary_logloss"}, checkpoint_every=5)  # doctest: +ELLIPSIS
        <rung.integrations.lightgbm.RungCallback object at ...>
    """

    order = 40  # after LightGBM's own (log_evaluation 10, record_evaluation 20, early_stopping 30)
    before_iteration = False

    def __init__(self, metrics: MetricsArg = None, *, checkpoint_every: int = 1) -> None:
        self.metrics = metric_names("RungCallback", metrics)
        self.checkpoint_every = check("RungCallback", "checkpoint_every", checkpoint_every, Interval(int, 0, None))

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        """LightGBM's call after each round: report it (rung ends training by raising)."""
        logged = {f"{item[0]}-{item[1]}": item[2] for item in env.evaluation_result_list or []}
        rounds = env.iteration + 1  # counts the rounds of an init_model too
        result: dict[str, Any] = choose("RungCallback", logged, self.metrics, f"in round {rounds}")
        result["round"] = rounds
        checkpoint = None
        if self.checkpoint_every and rounds % self.checkpoint_every == 0:
            # num_iteration=-1: every round, not the best one found so far
            checkpoint = {"integration": "lightgbm", "model": env.model.model_to_string(num_iteration=-1)}
        rung.report(result, checkpoint=checkpoint)  # raises to stop or pause: lgb.train unwinds


def load_booster() -> lgb.Booster | None:
    """The booster in the running trial's checkpoint, or None when the trial has none (its start).

    Pass it as `init_model=` to `lgb.train` (or to a LightGBM model's `fit`) to go on boosting; its
    `current_iteration()` says how many rounds are done.

    Raises:
        ValueError: the trial's checkpoint was not reported by `RungCallback`.
    """
    checkpoint = trial_checkpoint("lightgbm", "load_booster")
    if checkpoint is None:
        return None
    return lgb.Booster(model_str=checkpoint["model"])
