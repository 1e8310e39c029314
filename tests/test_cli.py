from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.cli import main


def test_demo_ls_show(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--storage", str(storage), "--num-samples", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "best configuration" in out and "validation accuracy" in out
    result = rung.load("demo", storage=storage)
    assert len(result.trials) == 2 and all(1 <= t.iteration <= 15 for t in result.trials)
    # ASHA (grace 1, reduction 3) lets the better of the first two trials go on to the end.
    assert max(t.iteration for t in result.trials) == 15
    trained = sum(t.iteration for t in result.trials)
    assert f"ASHA trained {trained} epochs where running every trial to the end takes 30" in out.replace("\n", " ")
    assert result.best is not None and result.best.best_metrics is not None
    assert result.best.best_metrics["accuracy"] > 0.8
    assert f"{result.best.best_metrics['accuracy']:.4f}" in out

    assert main(["ls", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "FINISHED" in out

    assert main(["show", "demo", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert f"best: trial {result.best.id}" in out

    # `rung resume` finds the objective by its import path (rung.demo:train_mlp).
    assert main(["resume", "demo", "--storage", str(storage), "--verbose", "0"]) == 0
    assert f"best: trial {result.best.id}" in capsys.readouterr().out

    # A second `rung demo` resumes the finished experiment: nothing reruns, nothing is lost.
    assert main(["demo", "--storage", str(storage), "--num-samples", "2", "--verbose", "0"]) == 0
    again = rung.load("demo", storage=storage)
    assert [t.best_metrics for t in again.trials] == [t.best_metrics for t in result.trials]
    capsys.readouterr()
    # Another seed does not silently show the stored run.
    assert main(["demo", "--storage", str(storage), "--num-samples", "2", "--seed", "3", "--verbose", "0"]) == 2
    assert capsys.readouterr().err == "the stored demo ran with --seed 0; pass --fresh to run it again with --seed 3\n"


def test_objective_import_path_is_stored(storage: Path) -> None:
    from rung.store.sqlite import Store

    assert main(["demo", "--storage", str(storage), "--num-samples", "1", "--verbose", "0"]) == 0
    store = Store.read(storage, "demo")
    try:
        assert store.experiment()["objective"] == "rung.demo:train_mlp"
    finally:
        store.close()


def test_show_unknown_experiment(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "nope", "--storage", str(storage)]) == 2
    assert "error: no experiment 'nope' in" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--num-samples", "0"], "argument --num-samples: needs an integer >= 1; got 0"),
        (["demo", "--seed", "x"], "argument --seed: needs an integer; got 'x'"),
        (["dashboard", "--port", "70000"], "argument --port: needs an integer in 0..65535; got 70000"),
    ],
)
def test_bad_options_get_a_usage_error(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


def test_dashboard_on_a_port_in_use_says_so(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "--storage", str(storage), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot serve on 127.0.0.1:{port}: Address already in use; choose another --port\n"
    )


def test_ls_lists_a_broken_experiment_without_hiding_the_others(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    rung.run(lambda c: {"loss": 1.0}, {}, metric="loss", executor="thread", name="good", storage=storage, verbose=0)
    (storage / "bad").mkdir()
    (storage / "bad" / "rung.db").write_text("garbage")
    assert main(["ls", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "FINISHED" in out
    assert "UNREADABLE" in out and "StoreDamagedError: the experiment's store" in out


def test_show_gives_each_hyperparameter_a_column_and_never_breaks_a_value_in_80_columns(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It printed every config in one column folded at the terminal's edge, values broken mid-token.
    monkeypatch.setenv("COLUMNS", "80")
    space = {
        "learning_rate_init": rung.grid([0.012345678, 0.00098765432]),
        "batch_size": 32,
        "hidden_layer_sizes": "(128, 64, 32)",
        "weight_decay": 3.25e-05,
        "activation": rung.grid(["relu", None]),
        "beta_1": 0.95671,
        "optimizer": {"name": "adamw", "momentum_schedule": "cosine_with_restarts"},
    }
    rung.run(lambda c: {"validation_loss": 1.0}, space, metric="validation_loss", search="grid", executor="thread",
             name="n", storage=storage, verbose=0)  # fmt: skip
    assert main(["show", "n", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = [cell.strip() for line in lines for cell in line.split("│")[1:-1]]  # the table's cells
    heads = [cell.strip() for line in lines if line.startswith("┃") for cell in line.split("┃")[1:-1]]
    for key in ("learning_rate_init", "batch_size", "hidden_layer_sizes", "weight_decay", "activation", "beta_1",
                "optimizer/name", "optimizer/momentum_schedule"):  # fmt: skip
        assert key in heads  # a column each, its name whole
    for value in ("0.012346", "0.00098765", "32", "(128, 64, 32)", "3.25e-05", "relu", "None", "0.95671", "adamw",
                  "cosine_with_restarts"):  # fmt: skip
        assert value in cells  # each value whole, in one cell
    assert heads.count("trial") == 3  # three tables, each led by the trial column
    firsts = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert firsts == ["1*", "2", "3", "4"] * 3  # every table has every trial's row, in the same order


def test_show_of_a_damaged_store_is_a_clear_error(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (storage / "bad").mkdir(parents=True)
    (storage / "bad" / "rung.db").write_text("garbage")
    assert main(["show", "bad", "--storage", str(storage)]) == 2
    err = capsys.readouterr().err
    db = storage / "bad" / "rung.db"
    assert err == f"error: the experiment's store ({db}) cannot be read: file is not a database; is it damaged?\n"
    assert "Traceback" not in err


def test_demo_fresh_does_not_delete_a_demo_that_runs(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rung.store import driver

    folder = storage / "demo"
    folder.mkdir(parents=True)
    (folder / "rung.db").write_text("a running demo's store")
    lock = driver.take_lock(folder, "demo")  # as the running demo's driver holds it
    try:
        assert main(["demo", "--fresh", "--storage", str(storage)]) == 2
    finally:
        driver.release_lock(lock)
    assert "is busy: driver pid" in capsys.readouterr().err
    assert (folder / "rung.db").read_text() == "a running demo's store"


def test_show_limits_and_sorts_rows_and_names_the_folder(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.setenv("COLUMNS", "200")

    def fail_some(config: dict[str, float]) -> float:
        if config["x"] > 0.9:
            raise RuntimeError("diverged")
        return config["x"]

    space = {"x": rung.grid([round(0.1 * i, 1) for i in range(1, 11)] + [0.95] * 7)}
    rung.run(fail_some, space, metric="loss", search="grid", executor="thread", name="many", storage=storage, verbose=0)
    shutil.copytree(storage / "many", storage / "many_copy")  # a copy goes by its folder's name
    assert main(["show", "many_copy", "--storage", str(storage), "--limit", "3", "--sort", "best"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("many_copy: FINISHED, 17 trials, loss (min)\nbest: trial 1, loss=0.1\n")
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert rows == ["1*", "2", "3"]  # the three lowest losses, best first
    assert "... and 14 more trials (--limit 0 shows every one)" in out
    assert (
        out.count("RuntimeError: diverged") == 5 and "3 more failed trials: 15, 16, 17" in out
    )  # 1.0 and 0.95 x7 failed
    assert main(["show", "many", "--storage", str(storage), "--limit", "0"]) == 0
    assert sum(line.startswith("│") for line in capsys.readouterr().out.splitlines()) == 17


def test_ls_of_a_missing_folder_says_so(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--storage", str(storage / "typo")]) == 0
    assert "(no such folder; --storage names the folder of experiments)" in capsys.readouterr().out


def test_resume_keeps_the_executor_it_can_name(capsys: pytest.CaptureFixture[str]) -> None:
    from rung.cli.resume import _executor_for_resume

    # A Ray experiment resumed from the command line ran on local processes (and failed with custom
    # Ray resources): the stored name is used again.
    assert [_executor_for_resume(name) for name in ("process", "thread", "ray", "simulated")] == [
        "process", "thread", "ray", "simulated",
    ]  # fmt: skip
    assert capsys.readouterr().out == ""
    assert _executor_for_resume("RayExecutor") == "ray"
    assert _executor_for_resume("MyExecutor") == "process"
    out = capsys.readouterr().out
    assert "ran on a RayExecutor object, which is not stored; resuming with executor='ray'" in out
    assert "ran on a MyExecutor object, which is not stored; resuming with executor='process'" in out


def test_show_names_nested_keys_as_the_dashboard_and_dataframe_do(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    space = {"model": {"width": rung.grid([8]), "act": "relu"}}
    rung.run(lambda c: 1.0, space, metric="loss", executor="thread", name="nested", storage=storage, verbose=0)
    assert main(["show", "nested", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert "model/width" in out and "model/act" in out and "relu" in out


HOSTILE = ["[/x]", "[link=http://evil]x[/link]", "\x1b]8;;http://evil\x07", "\x1b[2J"]
"""A closing tag rich cannot match (MarkupError), a hyperlink in markup, an OSC 8 hyperlink, a clear-screen."""
SHOWN = ["[/x]", "[link=http://evil]x[/link]", "\\x1b]8;;http://evil\\x07", "\\x1b[2J"]
"""How each is printed: as written, its control characters as their escapes."""
HOSTILE_FOLDER = "[bold]x[link=http:evil]y\x1b[2J\x1b]8;;http:evil\x07"
"""An experiment's folder (its name, for ls and show): a copied store may be named anything."""


def _hostile_experiment(storage: Path) -> None:
    import shutil

    metric = "[/m]\x1b[2J"

    def objective(config: dict[str, Any]) -> dict[str, float]:
        if config["fail"]:
            raise RuntimeError(" ".join(HOSTILE))
        return {metric: 1.0}

    space = {f"k{i}": value for i, value in enumerate(HOSTILE)} | {"[/key]\x1b[2J": 1, "fail": rung.grid([0, 1])}
    rung.run(objective, space, metric=metric, search="grid", executor="thread", name="h", storage=storage, verbose=0)
    shutil.copytree(storage / "h", storage / HOSTILE_FOLDER)


@pytest.mark.parametrize("color", [False, True])
def test_show_and_ls_print_user_strings_as_written_and_obey_none(
    storage: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, color: bool
) -> None:
    # `rung show` raised rich's MarkupError on `[/x]`, and passed escape sequences and [link] markup
    # through to the terminal: config values, config keys, the metric's name, error text, the name.
    monkeypatch.setenv("COLUMNS", "400")
    if color:  # as on a terminal: rich's own styles are written, but nothing the user wrote acts
        monkeypatch.setenv("FORCE_COLOR", "1")
    _hostile_experiment(storage)
    for argv in (["show", "h"], ["show", HOSTILE_FOLDER], ["ls"]):
        assert main([*argv, "--storage", str(storage)]) == 0
        out = capsys.readouterr().out
        assert "\x1b]" not in out and "\x1b[2J" not in out and "\x07" not in out, (argv, out)
        if not color:
            assert "\x1b" not in out
        shown_name = "[bold]x[link=http:evil]y\\x1b[2J\\x1b]8;;http:evil\\x07"
        if argv[0] == "ls":
            assert shown_name in out and "[/m]\\x1b[2J (min)" in out
            continue
        assert f"{shown_name if argv[1] != 'h' else 'h'}: FINISHED, 2 trials, [/m]\\x1b[2J (min)" in out
        assert "best [/m]\\x1b[2J" in out  # the column's header
        assert all(f"k{i}" in out and value in out for i, value in enumerate(SHOWN)) and "[/key]\\x1b[2J" in out
        assert f"RuntimeError: {' '.join(SHOWN)}" in out


def test_cli_errors_show_the_control_characters_they_quote(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--storage", str(storage / "\x1b[2Jruns")]) == 0
    assert "\\x1b[2Jruns (no such folder" in capsys.readouterr().out
    # A store naming an objective whose module name holds escape sequences.
    import sqlite3

    rung.run(lambda c: 1.0, {}, metric="loss", executor="thread", name="mod", storage=storage, verbose=0)
    with sqlite3.connect(storage / "mod" / "rung.db") as conn:
        conn.execute("UPDATE experiment SET objective = ?", ("evil\x1b]8;;http://evil\x07:train",))
    conn.close()
    assert main(["resume", "mod", "--storage", str(storage)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("experiment 'mod' cannot be resumed: loading evil\\x1b]8;;http://evil\\x07:train failed")
    assert "\x1b" not in err and "\x07" not in err


CTRL_C_OBJECTIVE = """
import os, signal
import rung

def train(config):
    checkpoint = rung.get_checkpoint()
    start = 0 if checkpoint is None else checkpoint + 1
    for step in range(start, 4):
        rung.report({"loss": config["x"] + step}, checkpoint=step)
        if step == start:
            os.kill(int(os.environ["RUNG_DRIVER_PID"]), signal.SIGINT)  # Ctrl-C reaches the driver
"""


def test_ctrl_c_prints_the_command_that_resumes_and_the_cli_no_traceback(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    (tmp_path / "ctrlc_objective.py").write_text(CTRL_C_OBJECTIVE)
    (tmp_path / "driver.py").write_text(
        "import sys, rung\n"
        "from ctrlc_objective import train\n"
        "rung.run(train, {'x': 0.5}, metric='loss', max_concurrent=1, name='cc', storage=sys.argv[1])\n"
    )
    storage = tmp_path / "runs"
    said = f"interrupted: the experiment is stored and can be resumed with: rung resume cc --storage {storage}"
    # From Python: the line, then the KeyboardInterrupt the caller expects (uncaught here: a traceback).
    script = subprocess.run(
        [sys.executable, "driver.py", str(storage)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert script.returncode == -signal.SIGINT, script.stderr
    lines = script.stderr.splitlines()
    assert said in lines and lines.index(said) < lines.index("Traceback (most recent call last):")
    assert lines[-1] == "KeyboardInterrupt" and sum("interrupted" in line for line in lines) == 1
    assert rung.load("cc", storage=storage).status == "INTERRUPTED"
    # From the command line: the same line, no traceback, exit status 130 (128 + SIGINT).
    cli = subprocess.run(
        [sys.executable, "-m", "rung.cli", "resume", "cc", "--storage", str(storage)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 130, cli.stderr
    assert said in cli.stderr.splitlines() and "Traceback" not in cli.stderr
    result = rung.load("cc", storage=storage)
    assert result.status == "INTERRUPTED" and [t.iteration for t in result.trials] == [2]
