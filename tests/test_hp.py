from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

import rung.sampling as rs
from rung import hp
from rung.domains import Float
from rung.errors import SpaceError
from rung.space import Space


def space_error(message: str) -> Any:
    return pytest.raises(SpaceError, match=f"^{re.escape(message)}$")


def test_readme_space_runs_as_written() -> None:
    space = {
        "batch_size": hp.choice("batch_size", [32, 64, 128]),
        "learning_rate": hp.loguniform("learning_rate", [0.0001, 0.01]),
        "target_update": hp.uniform("target_update", [4, 100]),
    }
    assert space == {
        "batch_size": rs.choice([32, 64, 128]),
        "learning_rate": rs.loguniform(1e-4, 1e-2),
        "target_update": rs.uniform(4, 100),
    }
    config = Space(space).sample(np.random.default_rng(0))
    assert config["batch_size"] in (32, 64, 128) and 1e-4 <= config["learning_rate"] <= 1e-2


def test_list_form_gives_real_bounds() -> None:
    assert hp.uniform("t", (4, 100)) == hp.uniform("t", 4, 100) == rs.uniform(4, 100)
    assert hp.qloguniform("n", [1, 1000], 10) == rs.qloguniform(1, 1000, 10)
    assert hp.randint("n", [1, 4]) == rs.randint(1, 4)
    assert hp.quniform("u", 16, 256, 16) == rs.quniform(16, 256, 16)
    assert hp.normal("x", 1, 2) == rs.normal(1, 2) and hp.qnormal("x", 1, 2, 0.5) == rs.qnormal(1, 2, 0.5)


def test_hyperopt_loguniform_bounds_are_in_log_space() -> None:
    domain = hp.loguniform("lr", -9.2, -4.6)
    assert isinstance(domain, Float) and domain.log
    assert domain.low == pytest.approx(1.0104e-4, rel=1e-3) and domain.high == pytest.approx(1.0052e-2, rel=1e-3)
    rng = np.random.default_rng(0)
    logs = np.log([domain.sample(rng) for _ in range(2000)])
    assert logs.min() >= -9.2 - 1e-9 and logs.max() <= -4.6 + 1e-9
    assert abs(logs.mean() - (-6.9)) < 0.05
    assert hp.loguniform("lr", math.log(1e-4), math.log(1e-2)) == rs.loguniform(
        math.exp(math.log(1e-4)), math.exp(math.log(1e-2))
    )


def test_hyperopt_qloguniform_bounds_are_in_log_space() -> None:
    domain = hp.qloguniform("units", math.log(8), math.log(512), 8)
    assert domain == rs.qloguniform(math.exp(math.log(8)), math.exp(math.log(512)), 8)
    values = [domain.sample(np.random.default_rng(s)) for s in range(200)]
    assert all(8 <= v <= 512.0000001 and v % 8 == pytest.approx(0, abs=1e-6) for v in values)


def test_hyperopt_randint_excludes_the_upper_bound() -> None:
    assert hp.randint("seed", 5) == rs.randint(0, 4)
    assert hp.randint("n", 2, 6) == rs.randint(2, 5)
    rng = np.random.default_rng(0)
    assert {hp.randint("seed", 5).sample(rng) for _ in range(500)} == {0, 1, 2, 3, 4}


def test_choice_options_may_nest_hp_domains() -> None:
    domain = hp.choice("model", [{"kind": "mlp", "width": hp.randint("w", [8, 64])}, {"kind": "linear"}])
    assert domain == rs.choice([{"kind": "mlp", "width": rs.randint(8, 64)}, {"kind": "linear"}])


def test_hp_is_exported_by_rung() -> None:
    import rung

    assert rung.hp is hp


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: hp.choice(3, [1]), "hp.choice needs a str label first; got 3"),
        (lambda: hp.uniform(None, [0, 1]), "hp.uniform needs a str label first; got None"),
        (lambda: hp.uniform("x", [1, 2, 3]), "hp.uniform needs a two-item [low, high] list; got [1, 2, 3]"),
        (lambda: hp.loguniform("x", [1e-3]), "hp.loguniform needs a two-item [low, high] list; got [0.001]"),
        (
            lambda: hp.uniform("x", [1, 2], 3),
            "hp.uniform needs either [low, high] or low, high after the label; got ([1, 2], 3)",
        ),
        (lambda: hp.uniform("x", 1), "hp.uniform needs [low, high] or low, high after the label; got (1,)"),
        (lambda: hp.uniform("x", 1, 2, 3), "hp.uniform needs [low, high] or low, high after the label; got (1, 2, 3)"),
        (
            lambda: hp.qloguniform("x", 0, 1),
            "hp.qloguniform needs [low, high], q or low, high, q after the label; got (0, 1)",
        ),
        (lambda: hp.randint("x"), "hp.randint needs [low, high], upper, or low, high after the label; got ()"),
        (
            lambda: hp.randint("x", 1, 2, 3),
            "hp.randint needs [low, high], upper, or low, high after the label; got (1, 2, 3)",
        ),
        (lambda: hp.randint("x", 1), "hp.randint needs upper >= 2 (values 0..upper-1); got upper=1"),
        (lambda: hp.randint("x", 2.5), "hp.randint needs upper to be an integer; got upper=2.5"),
        (lambda: hp.randint("x", 3, 4), "hp.randint needs low < high - 1 (high is excluded); got low=3, high=4"),
        (lambda: hp.loguniform("x", -4, -9), "hp.loguniform needs low < high (log-space bounds); got low=-4, high=-9"),
        (lambda: hp.loguniform("x", "a", 1), "hp.loguniform needs low to be a finite number; got low='a'"),
        (
            lambda: hp.loguniform("x", 0, 1000),
            "hp.loguniform takes log-space bounds and exp(high) overflows; got high=1000",
        ),
        (lambda: hp.loguniform("x", [0, 1]), "loguniform needs 0 < low < high; got low=0, high=1"),
    ],
)
def test_bad_hp_forms(make: Any, message: str) -> None:
    with space_error(message):
        make()


def test_uniformint_includes_both_ends() -> None:
    assert hp.uniformint("n", 1, 4) == hp.uniformint("n", [1, 4]) == rs.randint(1, 4)


def test_lognormal_is_exp_of_a_normal_value() -> None:
    domain = hp.lognormal("scale", 1.0, 0.5)
    assert domain.kind == "lognormal" and domain.to_json() == {"type": "lognormal", "mu": 1.0, "sigma": 0.5}
    rng = np.random.default_rng(0)
    logs = np.log([domain.sample(rng) for _ in range(4000)])
    assert logs.mean() == pytest.approx(1.0, abs=0.03) and logs.std() == pytest.approx(0.5, abs=0.03)
    assert domain.from_unit(0.5) == pytest.approx(math.e)
    for value in (0.1, 2.0, 30.0):
        assert domain.from_unit(domain.to_unit(value)) == pytest.approx(value)
    assert domain.contains(2.5) and not domain.contains(-1.0) and domain.to_unit(0.0) == 0.0


def test_qlognormal_rounds_after_exp() -> None:
    domain = hp.qlognormal("units", 3.0, 1.0, 8)
    assert domain.kind == "qlognormal"
    rng = np.random.default_rng(1)
    values = [domain.sample(rng) for _ in range(500)]
    assert all(v % 8 == 0 and v >= 0 for v in values) and domain.contains(0.0) and not domain.contains(12.0)
    assert np.median(values) == pytest.approx(math.exp(3.0), abs=8)
    with pytest.raises(SpaceError, match=r"^qlognormal needs q to be a finite number > 0; got q=0$"):
        hp.qlognormal("units", 3.0, 1.0, 0)
    with pytest.raises(SpaceError, match=r"^lognormal needs sigma to be a finite number > 0; got sigma=0$"):
        hp.lognormal("scale", 0.0, 0)
