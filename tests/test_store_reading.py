"""Reading a store runs none of its code: every read path takes JSON only (issue 17, defect 2).

A store someone hands you can hold any pickle in its `config_blob` column and `setup` table. These tests
plant pickles that create a file when unpickled and check that listing, showing, loading, the
dashboard's API, plots and the callbacks' export never create it.
"""

from __future__ import annotations

import pickle
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.cli import main
from rung.dashboard.server import start_background
from rung.errors import UntrustedStoreError
from rung.store.schema import DB_NAME


class _Planted:
    """Unpickling this creates `marker`: the proof that a read path ran code from the store."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


class Shape:
    """An object in a `choice`: its config is stored as a pickle beside its JSON text."""

    def __repr__(self) -> str:
        return "Shape()"


def curve(config: dict[str, Any]) -> None:
    start = rung.get_checkpoint()
    for step in range(0 if start is None else start["step"] + 1, 3):
        rung.report({"loss": config["x"] + 1 / (step + 1)}, checkpoint={"step": step})


def _planted_store(storage: Path, marker: Path) -> str:
    """A real experiment whose pickled columns were replaced by a planted pickle."""
    rung.run(
        curve,
        {"x": rung.uniform(0, 1), "shape": rung.choice([Shape()])},
        metric="loss",
        num_samples=3,
        scheduler=rung.PBT(perturbation_interval=1, hyperparam_mutations={"x": rung.uniform(0, 1)}),
        executor="thread",
        name="handed",
        storage=storage,
        verbose=0,
        seed=1,
    )
    planted = pickle.dumps(_Planted(marker))
    with sqlite3.connect(storage / "handed" / DB_NAME) as conn:
        conn.execute("UPDATE trials SET config_blob = ?", (planted,))
        assert conn.execute("UPDATE setup SET data = ?", (planted,)).rowcount == 1
        conn.execute("UPDATE experiment SET objective = NULL")
        conn.execute("UPDATE checkpoints SET data = ?", (planted,))
    conn.close()
    return "handed"


def test_listing_showing_and_loading_never_unpickle(
    storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    name = _planted_store(storage, marker)

    assert main(["ls", "--storage", str(storage)]) == 0
    assert main(["show", name, "--storage", str(storage)]) == 0
    assert "Shape()" in capsys.readouterr().out  # the object is shown by its stored text
    result = rung.load(name, storage=storage)
    assert {t.config["shape"] for t in result.trials} == {"Shape()"}
    result.dataframe()
    result.schedule(1)
    result.history(1)
    with pytest.raises(UntrustedStoreError, match=r"trusted=True"):
        _ = result.trials[0].checkpoint
    assert not marker.exists()


def test_dashboard_plots_and_export_never_unpickle(storage: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    name = _planted_store(storage, marker)

    server, url = start_background(storage, "127.0.0.1", 0)
    try:
        for path in ("/api/experiments", f"/api/experiments/{name}"):
            with urllib.request.urlopen(f"{url}{path}", timeout=30) as response:
                assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
    result = rung.load(name, storage=storage)
    pytest.importorskip("matplotlib")
    result.plot_curves()
    result.plot_parallel()
    result.plot_schedules()
    from rung.callbacks import JSONL, export

    export(result, [JSONL(tmp_path / "out.jsonl")])
    assert not marker.exists()


def test_trusted_load_gives_the_objects_and_checkpoints(storage: Path) -> None:
    ran = rung.run(
        curve,
        {"x": rung.uniform(0, 1), "shape": rung.choice([Shape()])},
        metric="loss",
        num_samples=2,
        executor="thread",
        name="mine",
        storage=storage,
        verbose=0,
    )
    assert isinstance(ran.best_config["shape"], Shape)  # type: ignore[index]  # run() returns what it wrote
    assert ran.best.checkpoint == {"step": 2}  # type: ignore[union-attr]
    assert rung.load("mine", storage=storage).best_config["shape"] == "Shape()"  # type: ignore[index]
    trusted = rung.load("mine", storage=storage, trusted=True)
    assert isinstance(trusted.best_config["shape"], Shape)  # type: ignore[index]
    assert trusted.best.checkpoint == {"step": 2}  # type: ignore[union-attr]
    with pytest.raises(TypeError, match=r"load: trusted must be True or False; got 'yes'"):
        rung.load("mine", storage=storage, trusted="yes")  # type: ignore[arg-type]


def test_resume_never_unpickles_a_stored_objective_it_was_not_told_to_trust(
    storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cloudpickle

    rung.run(lambda c: c["x"], {"x": rung.uniform(0, 1)}, metric="x", num_samples=2, executor="thread",
             name="lam", storage=storage, verbose=0)  # fmt: skip
    marker = tmp_path / "ran"
    with sqlite3.connect(storage / "lam" / DB_NAME) as conn:
        (blob,) = conn.execute("SELECT data FROM setup").fetchone()
        setup = cloudpickle.loads(blob)
        assert isinstance(setup["fn"], bytes)  # the objective is pickled on its own, inside the setup
        setup["fn"] = pickle.dumps(_Planted(marker))
        conn.execute("UPDATE setup SET data = ?", (cloudpickle.dumps(setup),))
    conn.close()
    capsys.readouterr()

    assert main(["resume", "lam", "--storage", str(storage), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "experiment 'lam' keeps its objective only as a pickle in rung.db" in err
    assert "pass --trust" in err and "--objective module:function" in err
    assert not marker.exists()

    (tmp_path / "mine.py").write_text("def objective(config):\n    return config['x']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["resume", "lam", "--storage", str(storage), "--objective", "mine:objective", "--verbose", "0"]) == 0
    assert not marker.exists()
    # Told to trust it, rung unpickles the stored objective (the planted pickle ran, and gave no function).
    assert main(["resume", "lam", "--storage", str(storage), "--trust", "--verbose", "0"]) == 2
    assert marker.exists()
