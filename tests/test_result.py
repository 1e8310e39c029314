"""`ExperimentResult` reads its trials from the store when asked (rung/_trials.py), page by page,
once an experiment has more than `EAGER` trials (set to 0 here to test that with a few).

What a result answers must be what a list of every stored trial answered: the same trials in the same
order, and the same best trial under rung's rule (finite numbers only: NaN, inf, and in stores not
written by `report()` strings and booleans, are never best; ties go to the lower id), for both scopes
and both modes.
"""

from __future__ import annotations

import math
import pickle
import shutil
import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

import rung
from rung import _trials
from rung._numbers import better, finite
from rung.store.schema import DB_NAME
from rung.store.sqlite import Store

# Each trial reports `VALUES[x]` then `LAST[x]`: best and last differ, and some are not finite.
VALUES: list[Any] = [3.0, math.nan, 1.0, math.inf, 0.5, 1.0, -math.inf, 4, 2.0, 7, 0.25, 5.0, 9.0]
LAST: list[Any] = [4.0, 0.5, 8.0, 2.0, 6.0, 1.5, math.nan, 3.0, 9.0, 0.0, math.inf, -1.0, 2.5]


def two_reports(config: dict[str, Any]) -> None:
    rung.report({"m": VALUES[config["x"]]})
    rung.report({"m": LAST[config["x"]]})


def _run(storage: Path, mode: str) -> rung.ExperimentResult:
    return rung.run(
        two_reports,
        {"x": rung.grid(list(range(len(VALUES))))},
        metric="m",
        mode=mode,
        executor="thread",
        name=f"lazy-{mode}",
        storage=storage,
        verbose=0,
        seed=0,
    )


def _rows(storage: Path, name: str) -> list[dict[str, Any]]:
    store = Store.read(storage, name)
    try:
        return store.trials()
    finally:
        store.close()


def _eager_best(rows: list[dict[str, Any]], mode: str, scope: str) -> int | None:
    """The best trial as the result found it when it held a list of every trial (before the change)."""
    key = "best_result" if scope == "all" else "last_result"
    scored = [(float(v), r["id"]) for r in rows if finite(v := (r[key] or {}).get("m"))]
    if not scored:
        return None
    best_value, best = scored[0]
    for value, trial_id in scored[1:]:
        if better(value, best_value, mode):
            best_value, best = value, trial_id
    return best


@pytest.mark.parametrize("mode", ["min", "max"])
def test_trials_read_page_by_page_answer_as_a_list_of_every_trial(
    storage: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trials, "EAGER", 0)
    monkeypatch.setattr(_trials, "PAGE", 3)  # 13 trials in 5 pages, 2 of them kept
    monkeypatch.setattr(_trials, "CACHED_PAGES", 2)
    result = _run(storage, mode)
    rows = _rows(storage, f"lazy-{mode}")
    trials = result.trials
    assert len(trials) == len(rows) == len(VALUES)
    assert [t.id for t in trials] == [r["id"] for r in rows]
    assert [t.config for t in trials] == [r["config"] for r in rows]
    assert [t.iteration for t in trials] == [2] * len(VALUES)
    assert len(trials._pages) == 2  # iterating kept the last two pages only
    assert [t.id for t in trials[-4:]] == [10, 11, 12, 13] and trials[-1] == trials[12]
    assert [t.id for t in trials[1:8:3]] == [2, 5, 8]
    assert trials == list(trials) and list(trials) == trials[:]
    with pytest.raises(IndexError, match="trial index 13 out of range: the result has 13 trials"):
        trials[13]
    for scope in ("all", "last"):
        best = result.get_best(scope)
        assert best is not None and best.id == _eager_best(rows, mode, scope)
    # min: -1.0 (trial 12's last) both ways; max: 9.0, which trials 9 and 13 share: the lower id
    expected = (12, 12) if mode == "min" else (9, 9)
    assert (result.best.id, result.get_best("last").id) == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("eager", [0, _trials.EAGER])
def test_best_skips_values_that_are_no_numbers_in_a_store_not_written_by_report(
    storage: Path, eager: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trials, "EAGER", eager)
    _run(storage, "min")
    # A JSON true, which SQLite reads as 1, and a string: never best, as when every row was decoded.
    with sqlite3.connect(storage / "lazy-min" / DB_NAME) as conn:
        conn.execute("""UPDATE trials SET best_result = '{"m": true}' WHERE id = 12""")
        conn.execute("""UPDATE trials SET best_result = '{"m": "-5"}' WHERE id = 13""")
        conn.execute("""UPDATE trials SET best_result = '{"m": -3}' WHERE id = 10""")
    conn.close()
    result = rung.load("lazy-min", storage=storage)
    assert result.best is not None and result.best.id == 10
    with sqlite3.connect(storage / "lazy-min" / DB_NAME) as conn:
        conn.execute("""UPDATE trials SET best_result = '{"m": false}' WHERE id = 10""")
    conn.close()
    rows = _rows(storage, "lazy-min")
    assert rung.load("lazy-min", storage=storage).best.id == _eager_best(rows, "min", "all") == 11  # type: ignore[union-attr]


@pytest.mark.parametrize("eager", [0, _trials.EAGER])
def test_a_result_made_before_more_trials_holds_the_trials_stored_then(
    storage: Path, eager: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trials, "EAGER", eager)
    first = _run(storage, "min")
    rung.run(
        two_reports,
        {"x": rung.grid(list(range(len(VALUES))))},
        metric="m",
        executor="thread",
        name="lazy-min",
        storage=storage,
        verbose=0,
        resume=True,
        num_samples=2,
    )
    assert len(rung.load("lazy-min", storage=storage).trials) == 2 * len(VALUES)
    assert len(first.trials) == len(VALUES) and [t.id for t in first.trials] == list(range(1, len(VALUES) + 1))


@pytest.mark.parametrize("eager", [0, _trials.EAGER])
def test_trials_with_ids_missing_are_read_by_offset(storage: Path, eager: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trials, "EAGER", eager)
    monkeypatch.setattr(_trials, "PAGE", 4)
    _run(storage, "min")
    with sqlite3.connect(storage / "lazy-min" / DB_NAME) as conn:  # not what rung writes: ids 1..n
        conn.execute("DELETE FROM trials WHERE id IN (2, 11)")
    conn.close()
    result = rung.load("lazy-min", storage=storage)
    assert [t.id for t in result.trials] == [1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    assert result.trials[5].id == 7 and result.trials[-1].id == 13
    rows = _rows(storage, "lazy-min")
    assert result.best is not None and result.best.id == _eager_best(rows, "min", "all") == 12
    store = Store.read(storage, "lazy-min")
    try:
        assert result.history(13) == store.results(13)
    finally:
        store.close()
    with pytest.raises(ValueError, match="no trial 11 in experiment 'lazy-min'; its trials: 1..13"):
        result.history(11)


def test_making_a_large_result_reads_no_trial(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trials, "EAGER", len(VALUES) - 1)
    _run(storage, "min")
    pages: list[int] = []
    real = _trials.Trials._page

    def counted(self: _trials.Trials[Any], page: int) -> list[Any]:
        pages.append(page)
        return real(self, page)

    monkeypatch.setattr(_trials.Trials, "_page", counted)
    result = rung.load("lazy-min", storage=storage)
    assert len(result.trials) == len(VALUES) and pages == []
    assert result.best is not None and pages == [0]  # the best trial's page, read to give the Trial


def test_a_large_result_pickles_without_the_trials_it_read(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trials, "EAGER", 0)
    result = _run(storage, "max")
    assert result.trials[0].id == 1  # a page read, which the pickle leaves out
    again = pickle.loads(pickle.dumps(result))
    assert again.trials._pages == OrderedDict() and again.trials == result.trials
    assert again.best == result.best and again.name == result.name


def test_a_small_result_is_read_whole_and_outlives_its_store(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = _run(storage, "min")
    monkeypatch.setattr(_trials, "EAGER", 0)
    large = rung.load("lazy-min", storage=storage, trusted=True)
    assert small.trials.loaded and not large.trials.loaded
    assert list(map(repr, small.trials)) == list(map(repr, large.trials))  # repr: NaN != NaN
    assert small.best == large.best and small.get_best("last") == large.get_best("last")
    shutil.rmtree(storage)  # as a temporary folder goes after the run
    assert [t.id for t in small.trials] == list(range(1, len(VALUES) + 1)) and small.best is not None
    assert small.trials[-2:] == [small.trials.by_id(12), small.trials.by_id(13)]
    assert list(map(repr, pickle.loads(pickle.dumps(small)).trials)) == list(map(repr, small.trials))
