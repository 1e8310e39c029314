"""rung.TPE: argument checks, what it learns from, parallel proposals, spaces, and its Parzen estimators."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import truncnorm

import rung
from rung.search import SEARCHERS
from rung.search._parzen import Parzen, _bandwidths, _logsumexp, cells_of, old_decay_weights, snapper
from rung.search._tpe_level import Level
from rung.search.random import Random
from rung.search.tpe import TPE
from rung.space import Space
from rung.testing.searchers import Outcome, drive, resume_after_kill
from rung.types import Config, Status

XY = {"x": rung.uniform(0, 1), "y": rung.uniform(0, 1)}


def bowl(config: Config) -> float:
    return float((config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2)


def once(loss: Callable[[Config], float]) -> Callable[[int, Config], Outcome]:
    return lambda trial_id, config: ([{"loss": loss(config)}], Status.TERMINATED)


# Bad input, up front.
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_startup": 0}, "TPE needs n_startup to be an integer >= 1; got n_startup=0"),
        ({"n_startup": 2.5}, "TPE needs n_startup to be an integer >= 1; got n_startup=2.5"),
        ({"n_candidates": 0}, "TPE needs n_candidates to be an integer >= 1; got n_candidates=0"),
        ({"multivariate": "yes"}, "TPE needs multivariate to be True or False; got multivariate='yes'"),
        ({"constant_liar": 1}, "TPE needs constant_liar to be True or False; got constant_liar=1"),
        ({"gamma": 1.5}, "TPE needs gamma to be a share in (0, 1], a callable(n) -> int or None; got gamma=1.5"),
        (
            {"gamma": "a lot"},
            "TPE needs gamma to be a share in (0, 1], a callable(n) -> int or None; got gamma='a lot'",
        ),
        ({"gamma": lambda n: n / 4}, "TPE needs gamma(1) to be an integer; got gamma(1)=0.25"),
        ({"seed": "7"}, "TPE needs seed to be an integer or None; got seed='7'"),
        ({"explore_choices": 1.5}, "TPE needs explore_choices to be a share in [0, 1]; got explore_choices=1.5"),
        ({"explore_choices": True}, "TPE needs explore_choices to be a share in [0, 1]; got explore_choices=True"),
    ],
)
def test_bad_arguments_are_refused_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        TPE(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("spec", "metric", "message"),
    [
        (XY, None, "TPE needs a metric to model; pass metric= to rung.run (or use search='random')"),
        (
            {"a": rung.grid([1, 2]), "b": 3},
            "loss",
            "TPE needs at least one number or choice to model; this space has only grid dimensions: use search='grid'",
        ),
        (
            {"b": 3, "c": rung.sample_from(lambda cfg: cfg["b"])},
            "loss",
            "TPE needs at least one number or choice to model; this space has only constants and derived values:"
            " use search='grid'",
        ),
    ],
)
def test_spaces_it_cannot_model_fail_in_setup(spec: dict[str, Any], metric: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        TPE().setup(Space(spec), metric=metric, mode="min", num_samples=5, seed=0)
    assert str(info.value) == message


def test_run_refuses_a_grid_only_space_before_starting(storage: Path) -> None:
    with pytest.raises(ValueError, match="this space has only grid dimensions: use search='grid'"):
        rung.run(lambda c: {"loss": 1.0}, {"a": rung.grid([1, 2])}, metric="loss", search=TPE(), storage=storage)
    assert not storage.exists() or not any(storage.iterdir())


# Learning.
_BEST_LOG_LR = {"sgd": -1.5, "adam": -3.0, "rmsprop": -3.5, "adagrad": -2.0}
_OFFSET = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.5}
INTERACTING = {
    "lr": rung.loguniform(1e-5, 1.0),
    "layers": rung.randint(1, 8),
    "dropout": rung.quniform(0.0, 0.8, 0.05),
    "opt": rung.choice(list(_BEST_LOG_LR)),
}


def interacting(c: Config) -> float:
    """The best learning rate depends on the optimiser; adam is best (bench/searchers.py's mixed6, smaller)."""
    return (
        (math.log10(c["lr"]) - _BEST_LOG_LR[c["opt"]]) ** 2
        + 0.1 * (c["layers"] - 3) ** 2
        + 4 * (c["dropout"] - 0.3) ** 2
        + _OFFSET[c["opt"]]
    )


def test_exploring_choices_escapes_an_option_tuned_first() -> None:
    # Without exploration the good group locks onto whichever optimiser got a good learning rate
    # first; with it, candidates try other optimisers with the numbers they drew.
    def found_adam(explore: float, seed: int) -> bool:
        trials = drive(TPE(seed=seed, explore_choices=explore), INTERACTING, once(interacting), num_samples=60)
        return min(trials, key=lambda t: interacting(t[1]))[1]["opt"] == "adam"

    locked = sum(found_adam(0.0, seed) for seed in range(30))
    exploring = sum(found_adam(0.3, seed) for seed in range(30))
    assert exploring >= locked + 5, (locked, exploring)


def test_beats_random_search_on_a_bowl() -> None:
    tpe = [min(bowl(c) for _, c in drive(TPE(seed=s), XY, once(bowl), num_samples=60)) for s in range(3)]
    rnd = [min(bowl(c) for _, c in drive(Random(seed=s), XY, once(bowl), num_samples=60)) for s in range(3)]
    assert max(tpe) < min(rnd), (tpe, rnd)


def test_resume_after_killing_a_driver_with_worker_processes() -> None:
    # The contract suite kills a thread-executor driver; this kills one whose trials run in workers.
    resume_after_kill(lambda: TPE(n_startup=5), "process")


def _reusing() -> TPE:
    tpe = TPE(n_startup=5)
    tpe.reuse_from, tpe.reuse_share = 8, 1.0  # fitted at 8 finished trials, then reused up to 15
    return tpe


def test_resume_after_kill_proposes_as_before_while_densities_are_reused() -> None:
    # The driver dies during trial 12 of 14; trials 9 to 14 are all proposed from the densities
    # fitted at 8 finished trials, so the resumed run's last proposals match only if its replay
    # rebuilt that fit at the same point.
    resume_after_kill(_reusing, "thread")


def test_in_a_run_by_name(storage: Path) -> None:
    assert isinstance(SEARCHERS["tpe"](), TPE)

    def train(config: Config) -> dict[str, float]:
        return {"loss": bowl(config)}

    result = rung.run(
        train, XY, metric="loss", num_samples=25, search="tpe", executor="thread", storage=storage, verbose=0
    )
    assert len(result.trials) == 25 and result.best is not None
    assert bowl(result.best_config) < 0.01


def test_maximises_in_max_mode() -> None:
    proposed = drive(TPE(seed=1), XY, once(lambda c: -bowl(c)), num_samples=40, mode="max")
    late = [bowl(c) for _, c in proposed[-10:]]
    early = [bowl(c) for _, c in proposed[:10]]
    assert np.median(late) < np.median(early) / 4


def test_failures_and_nan_count_as_worst() -> None:
    # The loss is best at x = 0.7, where trials crash or diverge: a searcher that dropped those
    # trials would propose inside the failing window ever after (20 of the last 20, measured).
    def outcome(trial_id: int, config: Config) -> Outcome:
        if 0.55 < config["x"] < 0.85:
            return ([{"loss": math.nan}], Status.TERMINATED) if trial_id % 2 else ([], Status.ERROR)
        return [{"loss": abs(config["x"] - 0.7)}], Status.TERMINATED

    for seed in range(3):
        proposed = drive(TPE(seed=seed), {"x": rung.uniform(0, 1)}, outcome, num_samples=50)
        failing = [round(c["x"], 2) for _, c in proposed[-20:] if 0.55 < c["x"] < 0.85]
        assert len(failing) <= 10, failing


def test_learns_from_the_last_value_and_ranks_stopped_trials_after_finished_ones() -> None:
    # Three thirds of [0, 1], each reporting differently: the middle one is best by the rules.
    def outcome(trial_id: int, config: Config) -> Outcome:
        third = min(int(config["x"] * 3), 2)
        if third == 0:  # the best value first, but the last one (the one that counts) is the worst
            return [{"loss": 0.0}, {"loss": 9.0}], Status.TERMINATED
        if third == 1:  # the best last value of the trials that ran to their end
            return [{"loss": 5.0}, {"loss": 1.0}], Status.TERMINATED
        return [{"loss": 0.5}], Status.STOPPED  # better still, but stopped early by a scheduler

    for seed in range(3):
        proposed = drive(TPE(seed=seed), {"x": rung.uniform(0, 1)}, outcome, num_samples=40)
        thirds = [min(int(c["x"] * 3), 2) for _, c in proposed[-20:]]
        assert thirds.count(1) >= 14, thirds


def test_running_trials_get_no_near_duplicates() -> None:
    def batch_spread(liar: bool, seed: int) -> float:
        searcher = TPE(seed=seed, constant_liar=liar)
        searcher.setup(Space(XY), metric="loss", mode="min", num_samples=100, seed=0)
        for trial_id in range(1, 31):
            config = searcher.suggest(trial_id)
            assert config is not None
            searcher.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
        batch = [searcher.suggest(trial_id) for trial_id in range(31, 39)]  # 8 running at once
        points = np.array([[c["x"], c["y"]] for c in batch if c is not None])
        return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(points, 2))

    with_liar = [batch_spread(True, seed) for seed in range(4)]
    without = [batch_spread(False, seed) for seed in range(4)]
    assert min(with_liar) > 0.06 and max(without) < 0.05, (with_liar, without)


# Spaces.
def test_grid_dimensions_are_crossed_as_random_does() -> None:
    spec = {"opt": rung.grid(["sgd", "adam", "ada"]), "x": rung.uniform(0, 1)}
    tpe, rnd = TPE(seed=0), Random(seed=0)
    ours = drive(tpe, spec, once(lambda c: (c["x"] - 0.2) ** 2 + (c["opt"] == "adam")), num_samples=8)
    theirs = drive(rnd, spec, once(lambda c: 0.0), num_samples=8)
    assert tpe.total == rnd.total == 24 and len(ours) == len(theirs) == 24
    assert [c["opt"] for _, c in ours] == [c["opt"] for _, c in theirs] == ["sgd", "adam", "ada"] * 8
    assert np.median([abs(c["x"] - 0.2) for _, c in ours[-9:]]) < 0.1


def test_integers_and_quantised_numbers_are_learnt() -> None:
    spec = {
        "i": rung.randint(1, 8),  # few values: modelled by the mass of each value's cell
        "q": rung.quniform(0, 0.8, 0.05),
        "li": rung.lograndint(8, 1024),  # many values: a density over the unit interval
        "lf": rung.loguniform(1e-5, 1.0),
        "n": rung.qnormal(0.0, 1.0, 0.25),
    }

    def loss(c: Config) -> float:
        return abs(c["i"] - 3) + abs(c["q"] - 0.3) + abs(math.log2(c["li"]) - 7) / 3 + abs(math.log10(c["lf"]) + 3) / 3

    space = Space(spec)
    for seed in range(3):
        ours = drive(TPE(seed=seed), spec, once(loss), num_samples=60)
        assert all(space.contains(c) and type(c["i"]) is int and type(c["li"]) is int for _, c in ours)
        theirs = drive(Random(seed=seed), spec, once(loss), num_samples=60)
        assert np.mean([loss(c) for _, c in ours[-20:]]) < 0.4 * np.mean([loss(c) for _, c in theirs[-20:]])


def test_each_option_of_a_conditional_choice_learns_its_own_values() -> None:
    spec = {
        "model": rung.choice(
            [
                {"kind": "a", "width": rung.uniform(0, 1), "inner": rung.choice([{"d": rung.uniform(0, 1)}, {"d": 2}])},
                {"kind": "b", "depth": rung.randint(1, 20)},
            ]
        )
    }

    def loss(config: Config) -> float:
        model = config["model"]
        if model["kind"] == "a":
            return abs(model["width"] - 0.8) + (abs(model["inner"]["d"] - 0.1) if model["inner"]["d"] != 2 else 1.0)
        return 1.5 + abs(model["depth"] - 10) / 20

    proposed = [c["model"] for _, c in drive(TPE(seed=0, n_startup=4), spec, once(loss), num_samples=60)]
    a = [m for m in proposed if m["kind"] == "a"]
    assert len(a) > 30 and np.median([abs(m["width"] - 0.8) for m in a[-10:]]) < 0.1
    inner = [m["inner"]["d"] for m in a[-10:] if m["inner"]["d"] != 2]
    assert len(inner) >= 6 and np.median(np.abs(np.array(inner) - 0.1)) < 0.1, inner


# The Parzen estimators and encodings.
def test_parzen_density_is_the_weighted_mixture_of_truncated_kernels() -> None:
    rng = np.random.default_rng(0)
    cells = cells_of(rung.randint(1, 3))
    assert cells is not None and cells[1] == [1, 2, 3]
    x = np.column_stack([rng.random(6), rng.integers(3, size=6), rng.integers(4, size=6)]).astype(float)
    weights = rng.random(6) + 0.1
    p = Parzen(x, weights, 1, (cells[0],), (4,))
    points = np.column_stack([rng.random(5), rng.integers(3, size=5), rng.integers(4, size=5)]).astype(float)
    w = np.append(weights, 1.0) / (weights.sum() + 1.0)
    expected = np.zeros(5)
    for k in range(7):
        mu, sigma = p.mu[0, k], p.sigma[0, k]
        density = truncnorm.pdf(points[:, 0], -mu / sigma, (1 - mu) / sigma, loc=mu, scale=sigma)
        for j in range(2):
            density = density * np.exp(p.log_p[j][points[:, 1 + j].astype(int), k])
        expected += w[k] * density
    assert np.allclose(p.log_pdf(points), np.log(expected))
    # Ordinal and categorical kernels are distributions over their options.
    assert np.allclose(np.exp(p.log_p[0]).sum(axis=0), 1.0) and np.allclose(np.exp(p.log_p[1]).sum(axis=0), 1.0)
    # The observed option of a categorical kernel has 1 + 1/kernels of 1 + 4/kernels.
    assert math.isclose(np.exp(p.log_p[1][int(x[0, 2]), 0]), (1 + 1 / 7) / (1 + 4 / 7))


def test_parzen_samples_follow_the_fixed_columns_and_stay_in_the_cube() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.random(20), rng.integers(3, size=20)]).astype(float)
    x[x[:, 1] == 2, 0] = 0.95  # option 2 sits at x = 0.95
    p = Parzen(x, old_decay_weights(20), 1, (), (3,))
    for independent in (False, True):
        drawn = p.sample(np.random.default_rng(0), 500, {1: 2}, independent)
        assert (drawn[:, 1] == 2).all() and (drawn[:, 0] >= 0).all() and (drawn[:, 0] <= 1).all()
    joint = p.sample(np.random.default_rng(0), 500, {1: 2}, False)
    assert np.median(joint[:, 0]) > 0.8  # conditioning on the option picks its kernels


def test_sparse_logsumexp_equals_the_dense_one() -> None:
    a = np.random.default_rng(2).normal(0, 30, size=(7, 3000))
    dense = np.log(np.exp(a - a.max(axis=1, keepdims=True)).sum(axis=1)) + a.max(axis=1)
    assert np.allclose(_logsumexp(a), dense, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "domain",
    [
        rung.randint(-5, 300),
        rung.qrandint(0, 1000, 7),
        rung.lograndint(8, 1024),
        rung.qlograndint(1, 5000, 10),
        rung.quniform(0, 10, 0.01),
        rung.qloguniform(1e-3, 10, 1e-3),
        rung.qnormal(0, 3, 0.1),
    ],
    ids=lambda d: d.to_json()["type"],
)
def test_snapping_mirrors_the_domain(domain: Any) -> None:
    u = np.random.default_rng(0).random(500)
    u[:4] = [0.0, 1.0, 0.5, 1 - 1e-12]
    snap = snapper(domain)
    assert snap is not None
    expected = [domain.to_unit(domain.from_unit(float(v))) for v in u]
    assert np.allclose(snap(u), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("domain", "values"),
    [
        (rung.randint(1, 4), [1, 2, 3, 4]),
        (rung.qrandint(0, 20, 10), [0, 10, 20]),
        (rung.lograndint(1, 5), [1, 2, 3, 4, 5]),
        (rung.quniform(0, 0.2, 0.05), [0.0, 0.05, 0.1, 0.15, 0.2]),
        (rung.qrandint(1, 10, 4), [1, 4, 8, 10]),  # the ends are values too (clipped)
        (rung.randint(1, 64), list(range(1, 65))),
        (rung.randint(0, 100), None),  # more than 64 values: a number
        (rung.uniform(0, 1), None),
    ],
    ids=lambda v: str(v),
)
def test_cells_of_few_valued_numbers(domain: Any, values: list[Any] | None) -> None:
    found = cells_of(domain)
    if values is None:
        assert found is None
        return
    assert found is not None
    cells, listed = found
    assert listed == values and cells.edges[0] == 0.0 and cells.edges[-1] == 1.0
    # Every point of a cell decodes to the cell's value.
    for (low, high), value in zip(itertools.pairwise(cells.edges), values, strict=True):
        assert {domain.from_unit(u) for u in np.linspace(low, high, 7)[1:-1]} == {value}


def test_the_bad_density_is_thinned_to_a_bounded_size_keeping_its_weight() -> None:
    from rung.search._tpe_level import MAX_BAD_KERNELS, _thinned

    few = np.arange(10, 10 + MAX_BAD_KERNELS)
    rows, weights = _thinned(few)
    assert rows.tolist() == few.tolist() and weights.tolist() == old_decay_weights(len(few)).tolist()
    many = np.arange(0, 3 * 100_003, 3)  # every third row of the history is in the bad group
    rows, weights = _thinned(many)
    assert len(rows) <= MAX_BAD_KERNELS and len(rows) == len(weights)
    assert np.all(np.diff(rows) > 0) and set(rows.tolist()) <= set(many.tolist())
    assert math.isclose(weights.sum(), old_decay_weights(len(many)).sum(), rel_tol=1e-12)
    recent = MAX_BAD_KERNELS // 2
    assert rows[-recent:].tolist() == many[-recent:].tolist()  # the newest keep a kernel each
    assert weights[-recent:].tolist() == old_decay_weights(len(many))[-recent:].tolist()


def test_a_long_history_still_proposes_by_the_model() -> None:
    # 3,000 finished trials on a bowl: proposals stay near the optimum with the thinned bad density.
    tpe = TPE(seed=3)
    tpe.setup(Space(XY), metric="loss", mode="min", num_samples=3100, seed=3)
    for trial_id in range(1, 3001):
        config = tpe.suggest(trial_id)
        assert config is not None
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
    proposals = [tpe.suggest(trial_id) for trial_id in range(3001, 3021)]
    assert np.median([bowl(c) for c in proposals if c is not None]) < 0.01


def test_the_sorted_index_merged_lazily_matches_a_full_stable_sort() -> None:
    space = {"x": rung.uniform(0, 1), "q": rung.quniform(0, 1, 0.25), "c": rung.choice(["a", "b"])}
    tpe = TPE(seed=5, n_startup=5)
    tpe.setup(Space(space), metric="loss", mode="min", num_samples=400, seed=5)
    level = tpe._root
    for trial_id in range(1, 301):
        config = tpe.suggest(trial_id)
        assert config is not None
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": (config["x"] - 0.3) ** 2 + config["q"]})
        if trial_id % 37 == 0:  # merged at uneven points, as fits come
            level._sorted_rows()
    rows = level._sorted_rows()
    x = level.x[: level.n]
    for j in range(level.first_choice):
        assert rows[j].tolist() == np.argsort(x[:, j], kind="stable").tolist()
    assert level.first_choice == 2  # a number and an ordinal column (quantised to 5 values)


def test_settings_changed_after_setup_apply_to_the_next_proposal() -> None:
    # bench/searchers.py fills a long history at random (n_startup above it), then lowers n_startup
    # to time model-based proposals: the model must see the setting as it is at each proposal.
    tpe = TPE(seed=3, n_startup=50)
    tpe.setup(Space(XY), metric="loss", mode="min", num_samples=40, seed=3)
    for trial_id in range(1, 21):
        config = tpe.suggest(trial_id)
        assert config is not None
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
    assert tpe._root._fitted is None  # random so far
    tpe.n_startup = 10
    tpe.suggest(21)
    assert tpe._root._fitted is not None and tpe._root._fitted[0] == 20


def test_gamma_set_after_setup_splits_the_next_proposals_as_if_given_when_built() -> None:
    # rung.AutoSearch sets Optuna's split once it knows each trial reports once.
    def proposals(tpe: TPE, gamma: Any = None) -> list[Config]:
        tpe.setup(Space(XY), metric="loss", mode="min", num_samples=30, seed=3)
        configs = []
        for trial_id in range(1, 31):
            if trial_id == 5 and gamma is not None:
                tpe.gamma = gamma
            config = tpe.suggest(trial_id)
            assert config is not None
            configs.append(config)
            tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
        return configs

    built = proposals(TPE(seed=3, gamma=0.5))
    assert proposals(TPE(seed=3), gamma=0.5) == built != proposals(TPE(seed=3))
    with pytest.raises(ValueError, match=r"^TPE needs gamma to be a share in \(0, 1\], .*; got gamma=2$"):
        TPE(seed=3).gamma = 2
    # A TPE stored before gamma was a property kept it in its __dict__ as "gamma".
    old = TPE.__new__(TPE)
    old.__dict__.update({"gamma": 0.5, "_n_below": lambda n: n // 2})
    assert old.gamma == 0.5


def test_a_long_history_refits_the_densities_only_as_it_grows() -> None:
    tpe = TPE(seed=2)
    tpe.reuse_from, tpe.reuse_share = 100, 0.1
    tpe.setup(Space(XY), metric="loss", mode="min", num_samples=200, seed=2)
    fits = []
    for trial_id in range(1, 161):
        config = tpe.suggest(trial_id)
        assert config is not None
        fitted = tpe._root._fitted
        if fitted is not None and (not fits or fitted is not fits[-1][1]):
            fits.append((trial_id, fitted))
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
    refits = [(trial_id, fitted[0]) for trial_id, fitted in fits]
    # Each proposal fits afresh below 100 finished trials (the fit at 99 still serves at 100); from
    # then on only once the finished trials grew by 10%: at 109, 120, 132 and 146.
    assert [f for _, f in refits[-5:]] == [99, 109, 120, 132, 146]
    assert [f for _, f in refits[:-5]] == list(range(10, 99))
    proposals = [tpe.suggest(trial_id) for trial_id in range(161, 171)]
    assert np.median([bowl(c) for c in proposals if c is not None]) < 0.02  # still proposing by the model


def test_reused_densities_give_proposals_in_batches_and_a_refit_starts_a_new_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen: list[tuple[int, int, int]] = []  # (finished trials, proposals chosen at once, finished at the fit)
    choose = Level._choose

    def spy(self: Level, *args: Any) -> Any:
        assert self._fitted is not None
        chosen.append((self.finished, args[-1], self._fitted[0]))
        return choose(self, *args)

    monkeypatch.setattr(Level, "_choose", spy)
    tpe = TPE(seed=2)
    tpe.reuse_from, tpe.reuse_share, tpe.reuse_batch = 100, 0.1, 4
    tpe.setup(Space(XY), metric="loss", mode="min", num_samples=200, seed=2)
    for trial_id in range(1, 161):
        config = tpe.suggest(trial_id)
        assert config is not None and Space(XY).contains(config)
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config)})
    # One proposal per fit below 100 finished trials; then 4 at a time from the reused densities, a
    # new batch at each refit (109, 120, 132, 146) even when the last one has proposals left.
    assert [(f, n) for f, n, _ in chosen if f < 100] == [(f, 1) for f in range(10, 100)]
    batches: dict[int, list[int]] = {}
    for finished, count, fitted_at in chosen:
        if finished >= 100:
            assert count == 4
            batches.setdefault(fitted_at, []).append(finished)
    assert batches == {
        99: [100, 104, 108],
        109: [109, 113, 117],
        120: [120, 124, 128],
        132: [132, 136, 140, 144],
        146: [146, 150, 154, 158],
    }


def test_a_reused_bohb_model_is_refitted_when_the_fidelity_moves_up() -> None:
    tpe = TPE(seed=4, n_startup=5)
    tpe.reuse_from, tpe.reuse_share = 20, 10.0  # never refitted for growth alone
    tpe.setup(Space(XY), metric="loss", mode="min", num_samples=100, seed=4)
    tpe.set_fidelity("training_iteration", [1, 3])
    budgets = set()
    for trial_id in range(1, 41):
        config = tpe.suggest(trial_id)
        assert config is not None
        fitted = tpe._root._fitted
        if fitted is not None:
            budgets.add(fitted[1])
        end = 3 if trial_id % 4 == 0 else 1  # every fourth trial goes on to the higher milestone
        for step in range(1, end + 1):
            tpe.observe(trial_id, {"loss": bowl(config) / step, "training_iteration": step})
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": bowl(config) / end, "training_iteration": end})
    assert budgets == {1.0, 3.0}  # fitted at milestone 1, refitted once 5 trials had reached 3


def test_a_choice_of_numbers_is_an_ordinal_and_a_choice_of_strings_a_category() -> None:
    space = Space(
        {"w": rung.choice([128, 32, 64, 256]), "opt": rung.choice(["a", "b", "c"]), "two": rung.choice([1, 2])}
    )
    level = Level(space.paths, (), ordered_choices=True)
    assert [(path, options) for path, options in level.ordinals] == [(("w",), [32, 64, 128, 256])]
    assert [path for path, _ in level.choices] == [("opt",), ("two",)]  # two options: nothing between them
    assert Level(space.paths, (), ordered_choices=False).ordinals == []
    searcher = TPE(seed=0, n_startup=5)
    searcher.setup(space, metric="loss", mode="min", num_samples=30, seed=0)
    seen = set()
    for trial_id in range(1, 31):
        config = searcher.suggest(trial_id)
        assert config is not None and config["w"] in (32, 64, 128, 256) and type(config["w"]) is int
        seen.add(config["w"])
        searcher.on_complete(trial_id, Status.TERMINATED, {"loss": abs(config["w"] - 64) / 64})
    assert seen == {32, 64, 128, 256}


def _parallel_proposals(tpe: TPE, space: dict[str, Any], clear_good: bool = False) -> list[Config]:
    """40 finished trials, then rounds of 6 proposals (running: constant liar) and 2 ends."""
    tpe.setup(Space(space), metric="loss", mode="min", num_samples=400, seed=4)
    configs: dict[int, Config] = {}
    for trial_id in range(1, 41):
        config = tpe.suggest(trial_id)
        assert config is not None
        configs[trial_id] = config
        tpe.on_complete(trial_id, Status.TERMINATED, {"loss": (config["x"] - 0.3) ** 2 + config["q"]})
    running: list[int] = []
    for trial_id in range(41, 341):
        if clear_good:
            tpe._root._good = None  # as before the good density was kept: a fit afresh every proposal
        config = tpe.suggest(trial_id)
        assert config is not None
        configs[trial_id] = config
        running.append(trial_id)
        if trial_id % 3 == 0:
            ended = running.pop(0)
            loss = (configs[ended]["x"] - 0.3) ** 2 + configs[ended]["q"]
            tpe.on_complete(ended, Status.TERMINATED, {"loss": loss})
    return list(configs.values())


TIES = {"x": rung.uniform(0, 1), "q": rung.quniform(0, 1, 0.25), "c": rung.choice(["a", "b"])}


def test_the_good_density_is_refitted_only_when_a_trial_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[Parzen] = []
    fit = Level._fit

    def spy(self: Level, *args: Any) -> Any:
        good, bad = fit(self, *args)
        fitted.append(good)
        return good, bad

    monkeypatch.setattr(Level, "_fit", spy)
    kept = _parallel_proposals(TPE(seed=4, n_startup=10), TIES)
    # Trials 11-40 end one by one (a fit each); then 300 proposals with an end after every third: the
    # good density is fitted afresh at the first and after each of the 100 ends, not per proposal.
    assert len(fitted) == 30 + 300
    assert len({id(good) for good in fitted[30:]}) == 1 + 100
    fitted.clear()
    assert _parallel_proposals(TPE(seed=4, n_startup=10), TIES, clear_good=True) == kept  # the same decisions
    assert len({id(good) for good in fitted[30:]}) == 300


@pytest.mark.parametrize("liar", [True, False])
def test_the_bad_group_sorted_afresh_or_by_the_history_gives_the_same_proposals(
    monkeypatch: pytest.MonkeyPatch, liar: bool
) -> None:
    # Without the liar most rows are running and out of the bad group: the history is many times
    # longer than the group, and its kernels are sorted afresh; ties (q, c) must not change a bandwidth.
    monkeypatch.setattr("rung.search._tpe_level.ORDERS_UP_TO", 10**9)
    by_history = _parallel_proposals(TPE(seed=4, n_startup=10, constant_liar=liar), TIES)
    monkeypatch.setattr("rung.search._tpe_level.ORDERS_UP_TO", 0)
    assert _parallel_proposals(TPE(seed=4, n_startup=10, constant_liar=liar), TIES) == by_history


def _neighbour_distances(values: list[float]) -> list[float]:
    """The bandwidths of one coordinate, value by value (before the clip): the reference."""
    distinct = sorted(set(values))
    out = []
    for v in values:
        i, k = distinct.index(v), len(distinct)
        if values.count(v) > 1:
            out.append(0.0)
        elif k == 1:
            out.append(max(v - 0.0, 1.0 - v))
        elif i == 0:
            out.append(distinct[1] - distinct[0])
        elif i == k - 1:
            out.append(distinct[-1] - distinct[-2])
        else:
            out.append(max(v - distinct[i - 1], distinct[i + 1] - v))
    return out


@pytest.mark.parametrize("sorted_by_history", [False, True])
def test_bandwidths_of_all_coordinates_at_once_match_them_value_by_value(sorted_by_history: bool) -> None:
    rng = np.random.default_rng(8)
    for _ in range(200):
        d, n = int(rng.integers(1, 6)), int(rng.integers(1, 30))
        mu = rng.random((d, n))
        for j in range(d):  # ties: few-valued coordinates, and some with one value only
            if rng.random() < 0.5:
                mu[j] = rng.integers(0, rng.integers(1, 5), n) / 4.0
            if rng.random() < 0.2:
                mu[j] = mu[j, 0]
        orders = [np.argsort(mu[j], kind="stable") for j in range(d)] if sorted_by_history else None
        expected = [_neighbour_distances(mu[j].tolist()) for j in range(d)]
        assert _bandwidths(mu, orders).tolist() == expected
