"""The declarative argument checks: what each rule accepts, how it reads, and which error it raises."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rung._checks import (
    INTEGER,
    NUMBER,
    ArgumentTypeError,
    Boolean,
    Function,
    Interval,
    ListOf,
    Options,
    Rule,
    Text,
    check,
    check_order,
    fmt,
    plain,
)
from rung.errors import SpaceError


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (Interval(int), "an integer"),
        (Interval(int, 1, None), "an integer >= 1"),
        (Interval(int, 0, None, closed="neither"), "an integer > 0"),
        (Interval(float), "a finite number"),
        (Interval(float, 0, None, closed="neither"), "a finite number > 0"),
        (Interval(float, None, 1, closed="left"), "a finite number < 1"),
        (Interval(float, 0, 0.5, closed="right"), "a number in (0, 0.5]"),
        (Interval(float, 0, 1, noun="a share"), "a share in [0, 1]"),
        (Interval(int, 0, 10, closed="left"), "an integer in [0, 10)"),
        (Options(("stop", "promote")), "'stop' or 'promote'"),
        (Options(("ei", "pi", "ucb")), "one of 'ei', 'pi', 'ucb'"),
        (Boolean(), "True or False"),
        (Function("a callable(n) -> int"), "a callable(n) -> int"),
        (Text("the name of a reported key"), "the name of a reported key"),
        (ListOf(Interval(float, 0, None, closed="neither")), "a non-empty list of finite numbers > 0"),
        (ListOf(Interval(int, 1, None)), "a non-empty list of integers >= 1"),
    ],
)
def test_each_rule_says_what_it_wants(rule: Rule, words: str) -> None:
    assert str(rule) == words


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (INTEGER, [0, -3, 10**400, np.int64(7)], [True, np.True_, 2.0, "1", None]),
        (NUMBER, [0, 0.5, -1e300, np.float32(2.5), 10**400], [math.nan, math.inf, -math.inf, False, "1.0", None]),
        (Interval(float, 0, 1, closed="neither"), [0.5, 1e-300], [0, 1, 0.0, 1.0]),
        (Interval(float, 0, 1), [0, 1, 0.5], [-1e-9, 1.0000001]),
        (Interval(int, 2, None), [2, 3, np.int32(9)], [1, 2.5, 3.0]),
        (Options(("min", "max")), ["min", np.str_("max")], ["maximize", None, 1]),
        (Options((1, 2)), [1, 2], [True, 1.0, "1"]),
        (Options((True, False)), [True, False], [1, 0]),
        (Boolean(), [True, False], [1, 0, "yes", np.True_]),
        (Function(), [len, lambda: 0], [3, None]),
        (Text(), ["epoch"], ["", None, 3]),
        (ListOf(Interval(float, 0, None, closed="neither")), [[1.2], (0.8, 1.2)], [[], (), (1.2, -1), [math.nan], 1.2]),
    ],
)
def test_each_rule_accepts_exactly_its_values(rule: Rule, good: list[Any], bad: list[Any]) -> None:
    assert [rule.accepts(v) for v in good] == [True] * len(good)
    assert [rule.accepts(v) for v in bad] == [False] * len(bad)


def test_the_message_names_the_owner_the_argument_the_rules_and_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        check("ASHA", "brackets", 0, Interval(int, 1, None))
    assert str(caught.value) == "ASHA needs brackets to be an integer >= 1; got brackets=0"
    # Without an owner (the arguments of rung.run), as run() has always said it.
    with pytest.raises(ValueError) as caught:
        check(None, "num_samples", 0, Interval(int, 1, None))
    assert str(caught.value) == "num_samples must be an integer >= 1; got 0"
    # Several rules: any one will do, and the message lists them all.
    share = Interval(float, 0, 1, closed="right", noun="a share")
    with pytest.raises(ValueError) as caught:
        check("TPE", "gamma", 1.5, share, Function("a callable(n) -> int"), None)
    assert str(caught.value) == "TPE needs gamma to be a share in (0, 1], a callable(n) -> int or None; got gamma=1.5"
    # numpy scalars show as the Python values they hold.
    with pytest.raises(ValueError) as caught:
        check("ASHA", "brackets", np.int64(-1), Interval(int, 1, None))
    assert str(caught.value) == "ASHA needs brackets to be an integer >= 1; got brackets=-1"


def test_a_value_that_meets_a_rule_comes_back_as_it_was() -> None:
    value = np.float64(0.25)
    assert check("PBT", "quantile_fraction", value, Interval(float, 0, 0.5, closed="right")) is value
    assert check("GP", "seed", None, INTEGER, None) is None
    assert check("GP", "seed", 3, INTEGER, None) == 3


def test_a_value_of_a_kind_no_rule_takes_is_a_type_error_and_a_value_error() -> None:
    # Out of range: a ValueError only.
    with pytest.raises(ValueError) as caught:
        check("HyperBand", "time_attr", "", Text("the name of a reported key"))
    assert type(caught.value) is ValueError
    # Of the wrong kind: both, so that callers catching either (as before these checks) still do.
    for wrong in (None, 1.5, "3", True):
        with pytest.raises(ArgumentTypeError) as caught:
            check("GP", "n_startup", wrong, Interval(int, 1, None))
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    # A given error class wins (the domains raise SpaceError).
    with pytest.raises(SpaceError, match=r"^uniform needs low to be a finite number; got low='a'$"):
        check("uniform", "low", "a", NUMBER, error=SpaceError)


def test_check_order_and_plain() -> None:
    check_order("ASHA", "grace_period", 5, "max_t", 5)
    with pytest.raises(ValueError) as caught:
        check_order("ASHA", "grace_period", 10, "max_t", 5)
    assert str(caught.value) == "ASHA needs grace_period <= max_t; got grace_period=10, max_t=5"
    assert [plain(v) for v in (np.int64(3), 3, np.float32(0.5), 2.0)] == [3, 3, 0.5, 2.0]
    assert [type(plain(v)) for v in (np.int64(3), np.float32(0.5))] == [int, float]
    assert fmt(np.float64(0.1)) == "0.1" and fmt("a") == "'a'" and fmt(np.array([1, 2])) == "array([1, 2])"
