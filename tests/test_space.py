from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest

from rung.errors import SampleFromError, SpaceError
from rung.sampling import (
    choice,
    grid,
    lograndint,
    loguniform,
    normal,
    qlograndint,
    qloguniform,
    qnormal,
    qrandint,
    quniform,
    randint,
    sample_from,
    uniform,
)
from rung.space import Categorical, Domain, Float, GridValues, Integer, Space

PLAIN = (int, float, str, bool, type(None))


def space_error(message: str) -> Any:
    return pytest.raises(SpaceError, match=f"^{re.escape(message)}$")


def draws(domain: Domain, n: int = 2000, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [domain.sample(rng) for _ in range(n)]


# --- domains: sampling ---------------------------------------------------------------------------


def test_randint_includes_both_ends_and_returns_python_ints() -> None:
    values = draws(randint(1, 4))
    assert set(values) == {1, 2, 3, 4}
    assert all(type(v) is int for v in values)


def test_uniform_range_type_and_mean() -> None:
    values = draws(uniform(2, 6))
    assert all(type(v) is float and 2 <= v <= 6 for v in values)
    assert abs(np.mean(values) - 4) < 0.1


def test_loguniform_is_uniform_in_log_space() -> None:
    values = draws(loguniform(1e-4, 1e-1))
    assert all(type(v) is float and 1e-4 <= v <= 1e-1 for v in values)
    logs = np.log10(values)
    assert abs(logs.mean() - (-2.5)) < 0.05
    assert abs(np.mean(logs < -3) - 1 / 3) < 0.03


def test_quniform_values_are_clean_multiples_of_q() -> None:
    values = draws(quniform(0, 1, 0.05))
    grid_values = {round(k * 0.05, 2) for k in range(21)}
    assert set(values) == grid_values
    assert 0.15 in values and all(type(v) is float for v in values)


def test_quniform_clips_into_bounds() -> None:
    values = draws(quniform(0.03, 0.98, 0.1), n=500)
    assert min(values) == 0.03 and max(values) == 0.98
    assert set(values) <= {0.03, 0.98} | {round(k * 0.1, 1) for k in range(1, 10)}


def test_qloguniform_on_grid_and_in_range() -> None:
    domain = qloguniform(1, 1000, 10)
    values = draws(domain, n=500)
    assert all(v == 1 or v % 10 == 0 for v in values)
    assert min(values) >= 1 and max(values) <= 1000
    assert all(domain.contains(v) for v in values)


def test_qrandint_and_qlograndint_give_multiples_of_q() -> None:
    assert set(draws(qrandint(0, 100, 25))) == {0, 25, 50, 75, 100}
    values = draws(qlograndint(10, 1000, 10), n=500)
    assert all(type(v) is int and v % 10 == 0 and 10 <= v <= 1000 for v in values)


def test_lograndint_ints_in_range_and_log_distributed() -> None:
    values = draws(lograndint(1, 100))
    assert all(type(v) is int and 1 <= v <= 100 for v in values)
    assert {1, 2, 3} <= set(values)
    # P(v <= 10) = log(11) / log(101) for a log-uniform distribution over the integer cells.
    assert abs(np.mean(np.array(values) <= 10) - math.log(11) / math.log(101)) < 0.03


def test_normal_and_qnormal() -> None:
    values = draws(normal(5, 2))
    assert all(type(v) is float for v in values)
    assert abs(np.mean(values) - 5) < 0.15 and abs(np.std(values) - 2) < 0.15
    quantised = draws(qnormal(0, 1, 0.25), n=500)
    assert all((v / 0.25).is_integer() for v in quantised)


def test_choice_returns_the_option_objects_themselves() -> None:
    marker = object()
    values = draws(choice([1, "a", None, True, 2.5, marker]))
    assert set(map(id, values)) == {id(1), id("a"), id(None), id(True), id(2.5), id(marker)}
    assert next(type(v) for v in values if v == 1 and v is not True) is int


def test_grid_sampled_alone_is_uniform_over_values() -> None:
    assert set(draws(grid([1, 2, 3]), n=200)) == {1, 2, 3}


def test_sample_from_alone_cannot_be_sampled() -> None:
    with space_error("sample_from has no distribution of its own; it is resolved by Space.sample"):
        sample_from(lambda cfg: 1).sample(np.random.default_rng(0))


# --- domains: unit cube, contains, json ----------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [uniform(-1, 3), loguniform(1e-5, 1), quniform(0, 1, 0.05), qloguniform(1, 1000, 5), normal(2, 3)],
)
def test_float_unit_round_trip(domain: Domain) -> None:
    for value in draws(domain, n=200):
        u = domain.to_unit(value)
        assert 0 <= u <= 1
        assert math.isclose(domain.from_unit(u), value, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("domain", [randint(-3, 7), qrandint(0, 100, 5), lograndint(1, 200)])
def test_integer_unit_round_trip_for_every_value(domain: Integer) -> None:
    for value in range(domain.low, domain.high + 1):
        if domain.contains(value):
            assert domain.from_unit(domain.to_unit(value)) == value


def test_unit_decoding_is_log_aware_integer_aware_and_clipped() -> None:
    assert loguniform(1e-4, 1e-2).from_unit(0.5) == pytest.approx(1e-3)
    assert quniform(0, 1, 0.05).from_unit(0.151) == 0.15
    assert randint(1, 4).from_unit(0.0) == 1 and randint(1, 4).from_unit(1.0) == 4
    assert type(randint(1, 4).from_unit(0.5)) is int
    assert uniform(0, 1).from_unit(1.5) == 1.0 and uniform(0, 1).from_unit(-1) == 0.0
    assert uniform(0, 10).to_unit(20) == 1.0
    assert normal(3, 2).to_unit(3) == 0.5 and normal(3, 2).from_unit(0.5) == 3
    assert normal(0, 1).to_unit(1.0) == pytest.approx(0.8413447)
    assert math.isfinite(normal().from_unit(0.0)) and math.isfinite(normal().from_unit(1.0))


def test_categorical_unit_encoding_is_the_scaled_index() -> None:
    domain = choice(["a", "b", "c"])
    assert [domain.from_unit(u) for u in (0, 0.33, 0.34, 0.99, 1.0)] == ["a", "a", "b", "c", "c"]
    assert [domain.to_unit(v) for v in "abc"] == [1 / 6, 0.5, 5 / 6]
    with space_error("choice.to_unit needs one of ['a', 'b', 'c']; got 'z'"):
        domain.to_unit("z")
    assert grid([10, 20]).from_unit(0.9) == 20 and grid([10, 20]).to_unit(10) == 0.25


def test_contains() -> None:
    assert uniform(0, 1).contains(1) and uniform(0, 1).contains(0.5)
    assert not uniform(0, 1).contains(1.5) and not uniform(0, 1).contains("0.5")
    assert not uniform(0, 1).contains(True) and not uniform(0, 1).contains(float("nan"))
    assert quniform(0, 1, 0.05).contains(0.15) and not quniform(0, 1, 0.05).contains(0.151)
    assert randint(1, 4).contains(4) and not randint(1, 4).contains(5)
    assert not randint(1, 4).contains(2.0) and not randint(1, 4).contains(True)
    assert qrandint(0, 100, 25).contains(75) and not qrandint(0, 100, 25).contains(70)
    assert normal().contains(-12.5) and not qnormal(0, 1, 0.5).contains(0.2)
    assert choice([1, "a"]).contains(1) and not choice([1, "a"]).contains(True)
    nested = choice([{"kind": "mlp", "width": randint(8, 64)}, {"kind": "linear"}])
    assert nested.contains({"kind": "mlp", "width": 32}) and nested.contains({"kind": "linear"})
    assert not nested.contains({"kind": "mlp", "width": 65}) and not nested.contains({"kind": "rnn"})


def test_domain_to_json() -> None:
    assert loguniform(1e-4, 0.1).to_json() == {"type": "loguniform", "low": 1e-4, "high": 0.1}
    assert quniform(0, 1, 0.5).to_json() == {"type": "quniform", "low": 0.0, "high": 1.0, "q": 0.5}
    assert qrandint(0, 10, 2).to_json() == {"type": "qrandint", "low": 0, "high": 10, "q": 2}
    assert lograndint(1, 9).to_json() == {"type": "lograndint", "low": 1, "high": 9}
    assert qnormal(0, 2, 1).to_json() == {"type": "qnormal", "mu": 0.0, "sigma": 2.0, "q": 1.0}
    assert choice([1, {"a": uniform(0, 1)}]).to_json() == {
        "type": "choice",
        "options": [1, {"a": {"type": "uniform", "low": 0.0, "high": 1.0}}],
    }
    assert grid(["x"]).to_json() == {"type": "grid", "values": ["x"]}


def test_domains_are_frozen_dataclasses_with_plain_fields() -> None:
    domain = uniform(np.int64(1), np.float64(2.5))
    assert domain == Float(1.0, 2.5) and type(domain.low) is float
    assert choice(np.array([1, 2])).options == (1, 2) and type(choice(np.array([1])).options[0]) is int
    with pytest.raises(AttributeError):
        domain.low = 0.0  # type: ignore[misc]


# --- domains: errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: uniform(1, 1), "uniform needs low < high; got low=1, high=1"),
        (lambda: uniform("a", 1), "uniform needs low to be a finite number; got low='a'"),
        (lambda: uniform(0, float("inf")), "uniform needs high to be a finite number; got high=inf"),
        (lambda: uniform(True, 2), "uniform needs low to be a finite number; got low=True"),
        (lambda: quniform(0, 1, 0), "quniform needs q to be a finite number > 0; got q=0"),
        (lambda: quniform(0, 1, None), "quniform needs q to be a finite number; got q=None"),
        (lambda: loguniform(0, 1), "loguniform needs 0 < low < high; got low=0, high=1"),
        (lambda: qloguniform(-1, 1, 1), "qloguniform needs 0 < low < high; got low=-1, high=1"),
        (lambda: randint(1.5, 4), "randint needs low to be an integer; got low=1.5"),
        (lambda: randint(1, 4.0), "randint needs high to be an integer; got high=4.0"),
        (lambda: randint(3, 3), "randint needs low < high; got low=3, high=3"),
        (lambda: qrandint(0, 10, 0), "qrandint needs q to be an integer > 0; got q=0"),
        (
            lambda: quniform(0, 1, 2),
            "quniform needs q <= high - low (a wider q leaves one value); got low=0, high=1, q=2",
        ),
        (
            lambda: qrandint(0, 5, 10),
            "qrandint needs q <= high - low (a wider q leaves one value); got low=0, high=5, q=10",
        ),
        (lambda: qrandint(0, 10, 2.5), "qrandint needs q to be an integer > 0; got q=2.5"),
        (lambda: lograndint(0, 10), "lograndint needs 0 < low < high; got low=0, high=10"),
        (lambda: normal(0, 0), "normal needs sigma to be a finite number > 0; got sigma=0"),
        (lambda: qnormal(0, 1, -1), "qnormal needs q to be a finite number > 0; got q=-1"),
        (lambda: normal(float("nan")), "normal needs mu to be a finite number; got mu=nan"),
        (lambda: choice([]), "choice needs at least one option; got []"),
        (lambda: choice("abc"), "choice needs a list or tuple of options; got 'abc'"),
        (lambda: choice({"a": 1}), "choice needs a list or tuple of options; got {'a': 1}"),
        (lambda: grid(()), "grid needs at least one value; got ()"),
        (
            lambda: grid([1, uniform(0, 1)]),
            "grid needs plain values, not domains; got Float(low=0.0, high=1.0, q=None, log=False) at index 1",
        ),
        (lambda: sample_from(3), "sample_from needs a callable; got 3"),
    ],
)
def test_bad_domain_arguments(make: Any, message: str) -> None:
    with space_error(message):
        make()


def test_bad_to_unit_value() -> None:
    with space_error("uniform.to_unit needs value to be a finite number; got value='x'"):
        uniform(0, 1).to_unit("x")
    with space_error("randint.to_unit needs value to be an integer; got value=1.5"):
        randint(0, 3).to_unit(1.5)
    # Floats take a fast path, which must still refuse what is not finite.
    with space_error("loguniform.to_unit needs value to be a finite number; got value=nan"):
        loguniform(1e-3, 1).to_unit(math.nan)
    with space_error("uniform.to_unit needs value to be a finite number; got value=inf"):
        uniform(0, 1).to_unit(math.inf)
    with space_error("lograndint.to_unit needs value to be an integer; got value=True"):
        lograndint(1, 8).to_unit(True)


# --- Space ----------------------------------------------------------------------------------------


def make_space() -> Space:
    return Space(
        {
            "lr": loguniform(1e-4, 1e-1),
            "layers": grid([1, 2, 3]),
            "opt": choice(["sgd", "adam"]),
            "model": {
                "width": randint(8, 64),
                "act": grid(["relu", "tanh"]),
                "wd": sample_from(lambda cfg: cfg["lr"] / 10),
            },
            "block": choice([{"kind": "conv", "k": randint(1, 7)}, {"kind": "dense"}]),
            "epochs": 10,
            "tags": ["a", ("b", "c")],
        }
    )


def test_paths_and_grid_dims_in_order_of_appearance() -> None:
    space = make_space()
    assert [path for path, _ in space.paths] == [("lr",), ("opt",), ("model", "width"), ("block",)]
    assert isinstance(space.paths[3][1], Categorical)
    assert [path for path, _ in space.grid_dims] == [("layers",), ("model", "act")]
    assert isinstance(space.grid_dims[0][1], GridValues) and space.grid_size == 6
    assert Space({"x": uniform(0, 1)}).grid_size == 1


def test_grid_points_cross_first_dim_slowest() -> None:
    points = make_space().grid_points()
    assert len(points) == 6
    assert [(p[("layers",)], p[("model", "act")]) for p in points] == [
        (1, "relu"), (1, "tanh"), (2, "relu"), (2, "tanh"), (3, "relu"), (3, "tanh"),
    ]  # fmt: skip
    assert Space({"x": 1}).grid_points() == [{}]


def test_grid_points_include_plain_choices_in_order_of_appearance() -> None:
    points = make_space().grid_points(include_choices=True)
    assert len(points) == 12  # the choice of dicts holding domains is not crossed
    assert list(points[0]) == [("layers",), ("opt",), ("model", "act")]
    assert [p[("opt",)] for p in points[:4]] == ["sgd", "sgd", "adam", "adam"]


def test_sample_resolves_nested_config_with_plain_values() -> None:
    config = make_space().sample(np.random.default_rng(0))
    assert list(config) == ["lr", "layers", "opt", "model", "block", "epochs", "tags"]
    assert list(config["model"]) == ["width", "act", "wd"]
    assert config["model"]["wd"] == config["lr"] / 10
    assert config["epochs"] == 10 and config["tags"] == ["a", ("b", "c")]
    assert config["layers"] in (1, 2, 3) and type(config["model"]["width"]) is int
    assert make_space().contains(config)
    json.dumps(config)


def test_conditional_choice_of_dicts() -> None:
    space = make_space()
    rng = np.random.default_rng(0)
    blocks = [space.sample(rng)["block"] for _ in range(200)]
    convs = [b for b in blocks if b["kind"] == "conv"]
    assert 60 < len(convs) < 140 and {b["k"] for b in convs} == set(range(1, 8))
    assert all(b == {"kind": "dense"} for b in blocks if b["kind"] != "conv")


def test_fixed_values_are_used_and_conditional_options_resolved() -> None:
    space = make_space()
    block = dict(space.paths)[("block",)]
    fixed = {("layers",): 3, ("model", "act"): "tanh", ("lr",): 0.01, ("block",): block.from_unit(0.0)}
    config = space.sample(np.random.default_rng(0), fixed=fixed)
    assert config["layers"] == 3 and config["model"]["act"] == "tanh" and config["lr"] == 0.01
    assert config["model"]["wd"] == 0.001
    assert config["block"]["kind"] == "conv" and 1 <= config["block"]["k"] <= 7
    nested = space.sample(np.random.default_rng(0), fixed={("block",): block.from_unit(0), ("block", "k"): 5})
    assert nested["block"] == {"kind": "conv", "k": 5}
    with space_error("Space.sample got a fixed value for a path not in the space; got ('nope',)"):
        space.sample(np.random.default_rng(0), fixed={("nope",): 1})


def test_sample_is_deterministic_for_a_seed() -> None:
    space = make_space()
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    rng = np.random.default_rng(7)
    assert space.sample(rng) == first[0] and space.sample(rng) != first[0]
    assert space.sample(np.random.default_rng(8)) != first[0]


def test_results_never_share_containers_with_the_spec() -> None:
    option = {"kind": "dense", "sizes": [1, 2]}
    spec: dict[str, Any] = {"tags": ["a"], "nested": {"x": 1}, "block": choice([option]), "g": grid([[1]])}
    space = Space(spec)
    spec["nested"]["x"] = 2
    option["sizes"].append(3)
    first = space.sample(np.random.default_rng(0))
    first["tags"].append("b")
    first["nested"]["x"] = 3
    first["block"]["sizes"].append(4)
    first["g"].append(2)
    second = space.sample(np.random.default_rng(0))
    assert second == {"tags": ["a"], "nested": {"x": 1}, "block": {"kind": "dense", "sizes": [1, 2]}, "g": [1]}
    assert first["tags"] is not spec["tags"]
    point = space.grid_points()[0]
    point[("g",)].append(9)
    assert space.grid_points()[0] == {("g",): [1]}


def test_sample_from_retries_values_that_depend_on_later_ones() -> None:
    space = Space(
        {
            "c": sample_from(lambda cfg: cfg["b"] + 1),
            "a": 1,
            "b": sample_from(lambda cfg: cfg["a"] * 10),
            "d": sample_from(lambda cfg: cfg["nested"]["e"] * 2),
            "nested": {"e": sample_from(lambda cfg: cfg["c"] + cfg["a"])},
        }
    )
    config = space.sample(np.random.default_rng(0))
    assert config == {"c": 11, "a": 1, "b": 10, "d": 24, "nested": {"e": 12}}
    assert list(config) == ["c", "a", "b", "d", "nested"]


def test_sample_from_errors_name_the_dotted_path_and_chain_the_cause() -> None:
    space = Space({"lr": 0, "model": {"act": sample_from(lambda cfg: 1 / cfg["lr"])}})
    with pytest.raises(SampleFromError, match=r"^sample_from for key 'model\.act' raised ZeroDivisionError: ") as info:
        space.sample(np.random.default_rng(0))
    assert str(info.value) == "sample_from for key 'model.act' raised ZeroDivisionError: division by zero"
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    missing = Space({"wd": sample_from(lambda cfg: cfg["nope"])})
    with pytest.raises(SampleFromError, match=r"^sample_from for key 'wd' raised KeyError: 'nope'$"):
        missing.sample(np.random.default_rng(0))
    cycle = Space({"a": sample_from(lambda cfg: cfg["b"]), "b": sample_from(lambda cfg: cfg["a"])})
    with pytest.raises(SampleFromError, match=r"^sample_from for key 'a' raised KeyError: 'b'$"):
        cycle.sample(np.random.default_rng(0))


def test_sample_from_inside_a_choice_option() -> None:
    space = Space({"n": 4, "m": choice([{"half": sample_from(lambda cfg: cfg["n"] // 2)}])})
    assert space.sample(np.random.default_rng(0)) == {"n": 4, "m": {"half": 2}}


def test_space_to_json_is_json_and_names_sample_from_functions() -> None:
    def weight_decay(cfg: dict[str, Any]) -> float:
        return float(cfg["lr"]) / 10

    space = Space({"lr": loguniform(1e-4, 1e-1), "wd": sample_from(weight_decay), "k": (1, object)})
    out = json.loads(json.dumps(space.to_json()))
    assert out["lr"] == {"type": "loguniform", "low": 0.0001, "high": 0.1}
    assert out["wd"] == {"type": "sample_from", "fn": weight_decay.__qualname__}
    assert out["k"] == [1, "<class 'object'>"]


def test_space_contains() -> None:
    space = make_space()
    config = space.sample(np.random.default_rng(1))
    assert space.contains(config)
    assert not space.contains({**config, "lr": 1.0})
    assert not space.contains({**config, "layers": 4})
    assert not space.contains({**config, "model": {**config["model"], "width": 8.0}})
    assert not space.contains({key: value for key, value in config.items() if key != "opt"})


def test_space_of_and_equality() -> None:
    space = make_space()
    assert Space.of(space) is space and Space(space) == space and Space(space) is not space
    assert Space.of({"x": uniform(0, 1)}) == Space({"x": uniform(0, 1)}) != Space({"x": uniform(0, 2)})
    assert Space({"inner": Space({"x": 1})}).sample(np.random.default_rng(0)) == {"inner": {"x": 1}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([1, 2], "Space needs a mapping of names to domains or values; got [1, 2]"),
        ({1: uniform(0, 1)}, "Space needs str keys; got 1 (int) at the top level"),
        ({"model": {"x": {2: 1}}}, "Space needs str keys; got 2 (int) in 'model.x'"),
        ({"m": choice([{3: 1}])}, "Space needs str keys; got 3 (int) in 'm[option 0]'"),
        (
            {"m": choice([{"g": grid([1])}])},
            "grid must be a dict value outside any choice or list; got one at 'm[option 0].g'",
        ),
        ({"l": [grid([1])]}, "grid must be a dict value outside any choice or list; got one at 'l[0]'"),
        (
            {"l": [1, uniform(0, 1)]},
            "Space takes domains inside lists only within choice options (use a dict); got uniform at 'l[1]'",
        ),
        (
            {"m": choice([[sample_from(len)]])},
            "sample_from must be a dict value, not inside a list; got one at 'm[option 0][0]'",
        ),
    ],
)
def test_bad_space_specs(spec: Any, message: str) -> None:
    with space_error(message):
        Space(spec)


def test_domains_inside_lists_within_choice_options_are_sampled() -> None:
    space = Space({"m": choice([[randint(1, 3), {"x": uniform(0, 1)}]])})
    value = space.sample(np.random.default_rng(0))["m"]
    assert type(value) is list and value[0] in (1, 2, 3) and 0 <= value[1]["x"] <= 1


def test_sample_needs_a_generator() -> None:
    with pytest.raises(TypeError, match=r"^Space.sample needs a numpy.random.Generator; got int$"):
        make_space().sample(0)  # type: ignore[arg-type]


def test_every_sampled_value_is_plain_python() -> None:
    space = Space(
        {
            "a": uniform(0, 1), "b": quniform(0, 1, 0.1), "c": loguniform(1, 10), "d": qloguniform(1, 10, 1),
            "e": randint(0, 3), "f": qrandint(0, 9, 3), "g": lograndint(1, 9), "h": normal(), "i": qnormal(0, 1, 1),
            "j": choice([1, "x", None]), "k": grid([True, 2.5]),
        }
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert all(type(v) in PLAIN for v in space.sample(rng).values())
