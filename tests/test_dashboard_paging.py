"""The dashboard at scale: the overview of a large experiment (`rung.store.overview`), the paging API of
its trials table (`rung.store.paging`), and the arrays that compute the worker timeline (`stretches`).

The overview of a small experiment must show what `views.experiment_view` (what `rung.plots` draws)
shows; of a large one, the same for the trials it keeps, with what it cut said.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.dashboard.reader import Reader
from rung.dashboard.server import start_background
from rung.executors.simulated import Curve, SimulatedExecutor
from rung.store import overview, stretches, timeline, views
from rung.store.snapshot import Snapshot


def curve(config: dict[str, Any]) -> Curve:
    """Loss falls with epochs, fastest for x near 0.3; NaN for x above 0.97 (a diverged run)."""
    steps = 9
    loss = [math.nan if config["x"] > 0.97 else (config["x"] - 0.3) ** 2 + 1 / (i + 1) for i in range(steps)]
    return Curve([{"loss": v} for v in loss], [10.0 + config["x"]] * steps)


SORTS_SAID = "id, status, iteration, parent, error, last, best, best:<key>, config:<key>"
SPACE = {"x": rung.uniform(0, 1), "opt": rung.choice(["adam", "sgd"]), "net": {"width": rung.randint(8, 64)}}


def _simulated(storage: Path, name: str, trials: int, variant: str = "stop") -> None:
    rung.run(
        curve,
        SPACE,
        metric="loss",
        num_samples=trials,
        search="random",
        scheduler=rung.ASHA(max_t=9, grace_period=1, reduction_factor=3, variant=variant),
        executor=SimulatedExecutor(workers=6, decision_seconds=0.0),
        name=name,
        storage=storage,
        verbose=0,
        seed=5,
    )


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 trials: more than the overview shows of each chart."""
    storage = tmp_path_factory.mktemp("large")
    _simulated(storage, "big", 3000)
    return storage


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _overview(storage: Path, name: str) -> dict[str, Any]:
    """The overview, with the worker timeline (asked apart by the page) in it."""
    copy = Snapshot(storage, name)
    try:
        return {**overview.overview(copy, name), **overview.worker_timeline(copy)}
    finally:
        copy.close()


@pytest.mark.parametrize("variant", ["stop", "promote"])
def test_the_timeline_from_arrays_is_the_timeline_of_the_stored_events(storage: Path, variant: str) -> None:
    _simulated(storage, variant, 60, variant)  # promote pauses and resumes: several stretches per trial
    full = views.experiment_view(storage, variant)
    assert len(full["timeline"]) > (60 if variant == "promote" else 59)
    copy = Snapshot(storage, variant)
    try:
        found = stretches.read(copy.conn, full["time_attr"], full["milestones"], running=False)
        assert found is not None
        assert stretches.spans(found) == full["timeline"]
        # Given the trials' iterations, only trials that ran more than once need their results read.
        rows = copy.conn.execute("SELECT id, iteration FROM trials ORDER BY id").fetchall()
        known = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
        again = stretches.read(copy.conn, full["time_attr"], full["milestones"], running=False, iterations=known)
        assert again is not None and stretches.spans(again) == full["timeline"]
    finally:
        copy.close()


def test_the_overview_of_a_small_experiment_shows_what_the_full_view_does(storage: Path) -> None:
    _simulated(storage, "small", 40)
    full = views.experiment_view(storage, "small")
    view = _overview(storage, "small")
    keys = ("summary", "settings", "time_attr", "milestones", "curves", "best_so_far", "timeline", "timeline_legend")
    for key in (*keys, "importance"):
        assert view[key] == full[key], key
    assert view["band"] is None and view["timeline_bins"] is None and view["schedules"] == {}
    assert view["curves_of"] == {"shown": 40, "with_results": 40}
    assert view["curve_status"] == {str(t["id"]): t["status"] for t in full["trials"]}
    assert [t["id"] for t in view["parallel"]] == [
        t["id"] for t in full["trials"] if (t["best"] or {}).get("loss") is not None
    ]
    assert view["trials_page"]["rows"] == full["trials"] and view["trials_page"]["total"] == 40
    assert view["config_keys"] == ["net/width", "opt", "x"]
    assert views.summary(Snapshot(storage, "small").store) == overview.summary(Snapshot(storage, "small"), "small")


def test_the_overview_of_a_large_experiment_keeps_what_a_page_can_show_and_says_so(large: Path) -> None:
    full = views.experiment_view(large, "big")
    view = _overview(large, "big")
    assert view["summary"] == full["summary"] and view["summary"]["trials"] == 3000
    # The best 20 curves, as the full view has them, and a band over trials spread over the run.
    best = sorted(
        (t for t in full["trials"] if (t["best"] or {}).get("loss") is not None),
        key=lambda t: (t["best"]["loss"], t["id"]),
    )[:20]
    assert view["curves"] == {str(t["id"]): full["curves"][str(t["id"])] for t in best}
    assert view["curves_of"] == {"shown": 20, "with_results": 3000}
    band = view["band"]
    assert band["trials"] == 2000 and band["x"] == [float(i) for i in range(1, 10)]
    assert all(
        a <= b <= c <= d <= e
        for a, b, c, d, e in zip(*(band[k] for k in ("p10", "p25", "p50", "p75", "p90")), strict=True)
    )
    assert view["best_so_far"] == full["best_so_far"]  # fewer than 50,000 results: from every one
    # Parallel coordinates: the best 100 and others, 1,000 in all; importance from 2,000 spread trials.
    shown = {t["id"] for t in view["parallel"]}
    assert len(shown) == 1000 and {t["id"] for t in best} <= shown
    assert view["parallel_of"] == {
        "shown": 1000,
        "scored": len([t for t in full["trials"] if (t["best"] or {}).get("loss") is not None]),
    }
    assert view["importance_of"]["used"] == 2000 and set(view["importance"]) == set(full["importance"])
    assert max(view["importance"], key=view["importance"].get) == "x"
    # The timeline per slot at the chart's resolution.
    bins = view["timeline_bins"]
    assert view["timeline"] == [] and bins["stretches"] == len(full["timeline"]) and bins["slots"] == 6
    assert bins["t0"] == min(s["start"] for s in full["timeline"]) and bins["t1"] == max(
        s["end"] for s in full["timeline"]
    )
    assert {run[0] for run in bins["runs"]} == set(range(6)) and all(0 <= run[1] < bins["bins"] for run in bins["runs"])
    assert view["trials_page"]["rows"] == full["trials"][:100] and view["trials_page"]["total"] == 3000
    assert len(json.dumps(view)) < len(json.dumps(full)) / 5


def test_binned_timeline_gives_each_bin_the_legend_that_held_it_longest() -> None:
    found = stretches.from_spans(
        [
            {"trial": 1, "slot": 0, "start": 0.0, "end": 4.0, "rung": 0, "ended": "STOPPED", "legend": 0},
            {"trial": 2, "slot": 0, "start": 4.0, "end": 4.6, "rung": 1, "ended": "STOPPED", "legend": 1},
            {"trial": 3, "slot": 0, "start": 4.6, "end": 5.0, "rung": 0, "ended": "ERROR", "legend": 2},
            {"trial": 4, "slot": 1, "start": 2.0, "end": 10.0, "rung": 1, "ended": "TERMINATED", "legend": 1},
        ]
    )
    binned = stretches.binned(found, bins=10, legends=3)
    assert binned["runs"] == [[0, 0, 4, 0], [0, 4, 1, 1], [1, 2, 8, 1]]  # slot 1 idle before 2 s
    assert (binned["t0"], binned["t1"], binned["slots"], binned["stretches"], binned["failed"]) == (0.0, 10.0, 2, 4, 1)


def test_the_paging_api_sorts_filters_and_pages_the_trials(large: Path) -> None:
    result = rung.load("big", storage=large)
    server, url = start_background(large)
    base = f"{url}/api/experiments/big/trials"
    try:
        code, page = _get(f"{base}?offset=2950&limit=100")
        assert code == 200 and [r["id"] for r in page["rows"]] == list(range(2951, 3001))
        assert (page["total"], page["trials"], page["offset"], page["limit"]) == (3000, 3000, 2950, 100)

        # Best loss, descending: trials without a finite value (NaN) last, ties by id.
        def loss(t: rung.Trial) -> float | None:
            value = (t.best_metrics or {}).get("loss")
            return value if isinstance(value, float) and math.isfinite(value) else None

        scored = sorted((t for t in result.trials if loss(t) is not None), key=lambda t: (-loss(t), t.id))  # type: ignore[operator]
        unscored = [t.id for t in result.trials if loss(t) is None]
        assert unscored, "no trial diverged: the NaN case is not tested"
        expected = [t.id for t in scored] + unscored
        seen = []
        for offset in range(0, 3000, 1000):
            code, page = _get(f"{base}?offset={offset}&limit=1000&sort=best&order=desc")
            seen += [r["id"] for r in page["rows"]]
        assert seen == expected
        code, page = _get(f"{base}?sort=best&order=desc&offset={len(scored)}&limit=1")
        row = page["rows"][0]
        assert row["best"] is None and row["last"]["loss"] is None  # only NaN: no best; NaN reads as null

        # A nested config key; a filter on a config value and on a status.
        code, page = _get(f"{base}?sort=config:net/width&limit=1000")
        widths = [r["config"]["net"]["width"] for r in page["rows"]]
        assert widths == sorted(widths) and widths[0] == min(t.config["net"]["width"] for t in result.trials)
        code, page = _get(f"{base}?q=SGD&limit=1000")
        assert page["total"] == sum(t.config["opt"] == "sgd" for t in result.trials) and page["q"] == "SGD"
        assert all(r["config"]["opt"] == "sgd" for r in page["rows"][:1000])
        code, page = _get(f"{base}?q=terminated&sort=id&order=desc&limit=5")
        terminated = [t.id for t in result.trials if t.status.value == "TERMINATED"]
        assert page["total"] == len(terminated) and [r["id"] for r in page["rows"]] == terminated[::-1][:5]
        assert page["columns"] == ["net/width", "opt", "x"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("limit=0", "limit must be an integer in 1..1000; got '0'"),
        ("limit=1001", "limit must be an integer in 1..1000; got '1001'"),
        ("limit=ten", "limit must be an integer in 1..1000; got 'ten'"),
        ("limit=", "limit must be an integer in 1..1000; got ''"),
        ("offset=-1", "offset must be an integer >= 0; got '-1'"),
        ("sort=loss", f"sort must be one of {SORTS_SAID}; got 'loss'"),
        (
            "sort=config:",
            f"sort must be one of {SORTS_SAID}; got 'config:'",
        ),
        ("order=up", "order must be 'asc' or 'desc'; got 'up'"),
        ("page=2", "unknown parameter 'page'; known: offset, limit, sort, order, q"),
        ("limit=5&limit=6", "limit must be given once; got 2 values"),
        ("q=" + "x" * 201, "q must be at most 200 characters; got 201"),
    ],
)
def test_the_paging_api_names_a_bad_parameter(storage: Path, query: str, error: str) -> None:
    _simulated(storage, "one", 1)
    server, url = start_background(storage)
    try:
        assert _get(f"{url}/api/experiments/one/trials?{query}") == (400, {"error": error})
        assert _get(f"{url}/api/experiments/nope/trials") == (404, {"error": "no experiment 'nope'"})
    finally:
        server.shutdown()
        server.server_close()


def test_the_reader_keeps_few_copies_and_removes_them_when_closed(
    storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    copies = tmp_path / "copies"
    copies.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(copies))
    for name in ("a", "b", "c", "d", "e", "f"):
        _simulated(storage, name, 2)
    reader = Reader(storage)
    assert [s["trials"] for s in reader.experiments()] == [2] * 6
    for name in ("a", "b", "c", "d", "e", "f"):
        assert reader.trials(name, overview.paging.PageQuery())["total"] == 2
    open_copies = [e.copy for e in reader._entries.values() if e.copy is not None]
    assert len(open_copies) == 4  # OPEN_COPIES: the least recently used went
    assert all(c.direct for c in open_copies) and list(copies.iterdir()) == []  # no driver: read in place
    assert reader.experiment("a")["summary"]["trials"] == 2  # a view is kept without its copy
    reader.close()
    assert list(copies.iterdir()) == []
    with pytest.raises(RuntimeError, match="^the dashboard's reader is closed$"):
        reader.experiment("a")
    (storage / "b" / "rung.db-wal").write_bytes(b"")  # a WAL, as while a driver has it open: copied
    server, url = start_background(storage)
    assert _get(f"{url}/api/experiments/b/trials")[0] == 200 and len(list(copies.iterdir())) == 1
    code, found = _get(f"{url}/api/experiments/b/timeline")
    assert code == 200 and [s["trial"] for s in found["timeline"]] == [1, 2] and found["status"] == "FINISHED"
    assert _get(f"{url}/api/experiments/nope/timeline") == (404, {"error": "no experiment 'nope'"})
    server.shutdown()
    server.server_close()
    assert list(copies.iterdir()) == []


def test_timeline_module_and_arrays_agree_on_the_legend(large: Path) -> None:
    view = _overview(large, "big")
    assert len(view["timeline_legend"]["items"]) == len(timeline.legend("training_iteration", [1.0, 3.0, 9.0])["items"])
    assert max(run[3] for run in view["timeline_bins"]["runs"]) < len(view["timeline_legend"]["items"])


def trainable(config: dict[str, Any]) -> None:
    start = rung.get_checkpoint() or 0
    for i in range(start, 6):
        rung.report({"acc": config["lr"] * (i + 1)}, checkpoint=i + 1)


def test_the_overview_of_pbt_and_of_a_run_without_metric(storage: Path) -> None:
    rung.run(
        trainable,
        {"lr": rung.grid([0.1, 0.2, 0.3, 0.4])},
        metric="acc",
        mode="max",
        scheduler=rung.PBT(perturbation_interval=2, hyperparam_mutations={"lr": rung.uniform(0.05, 0.5)}, seed=1),
        max_concurrent=4,
        executor="thread",
        name="pbt",
        storage=storage,
        verbose=0,
    )
    full = views.experiment_view(storage, "pbt")
    view = _overview(storage, "pbt")
    assert view["schedules"] and view["schedules"] == full["schedules"]
    assert view["schedule_iterations"] == {str(t["id"]): t["iteration"] for t in full["trials"]}
    assert view["timeline"] == full["timeline"] and view["summary"] == full["summary"]

    rung.run(lambda c: None, {"x": rung.uniform(0, 1)}, num_samples=3, executor="thread", name="none",
             storage=storage, verbose=0)  # fmt: skip
    full = views.experiment_view(storage, "none")
    view = _overview(storage, "none")
    assert view["summary"] == full["summary"] and view["summary"]["best"] is None
    assert (view["curves"], view["best_so_far"], view["importance"], view["parallel"]) == ({}, [], {}, [])
    assert view["trials_page"]["rows"] == full["trials"]


def test_a_page_of_several_objectives_sorts_by_each(storage: Path) -> None:
    rung.run(lambda c: {"f1": c["x"], "f2": (1 - c["x"]) ** 2}, {"x": rung.uniform(0, 1)}, metric=["f1", "f2"],
             num_samples=8, executor="thread", verbose=0, storage=storage, name="mo", seed=3)  # fmt: skip
    reader = Reader(storage)
    try:
        for key in ("f1", "f2"):
            rows = reader.trials("mo", overview.paging.PageQuery(sort=f"best:{key}", order="desc"))["rows"]
            values = [row["best"][key] for row in rows]
            assert len(values) == 8 and values == sorted(values, reverse=True)
    finally:
        reader.close()
