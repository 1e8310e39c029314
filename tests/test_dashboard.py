"""The dashboard's read layer and server, without a browser (that is test_dashboard_browser.py)."""

from __future__ import annotations

import _thread
import hashlib
import json
import logging
import math
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.dashboard.reader import Reader
from rung.dashboard.server import STATIC as STATIC_DIR
from rung.dashboard.server import make_server, serve, start_background
from rung.store.sqlite import Store
from rung.store.views import clean, experiment_view, list_view


def curve(config: dict[str, Any]) -> None:
    for i in range(config["n"]):
        loss = math.nan if config["x"] > 0.95 else 10 * (config["x"] - 0.3) ** 2 + 1 / (i + 1)
        rung.report({"loss": loss}, checkpoint=i)


def trainable(config: dict[str, Any]) -> None:
    start = rung.get_checkpoint() or 0
    for i in range(start, 8):
        rung.report({"acc": config["lr"] * (i + 1)}, checkpoint=i + 1)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


CRASHING = """
import os
import rung

def objective(config):
    for i in range(3):
        rung.report({"loss": config["x"] + 1 / (i + 1)})
        if config["x"] > 0.5 and i == 1:
            os._exit(3)  # the driver dies mid-run (thread executor): the store is left as a crash leaves it

rung.run(objective, {"x": rung.grid([0.1, 0.2, 0.9, 0.3])}, metric="loss", max_concurrent=1,
         executor="thread", name="crashed", storage=%r, verbose=0)
"""


def test_crashed_store_is_read_without_changing_a_file(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    script = tmp_path / "crash.py"
    script.write_text(CRASHING % str(storage))
    assert subprocess.run([sys.executable, str(script)], cwd=tmp_path).returncode == 3
    folder = storage / "crashed"
    before = _hashes(folder)
    assert "rung.db-wal" in before  # a crash leaves the WAL behind: a reader would have to recover it

    [summary] = list_view(storage)
    # Its driver is gone (it ran on this machine): KILLED, not RUNNING forever.
    assert (summary["name"], summary["status"], summary["trials"]) == ("crashed", "KILLED", 3)
    assert summary["by_status"] == {"TERMINATED": 2, "INTERRUPTED": 1}  # stored RUNNING: nothing runs it
    assert summary["best"] == pytest.approx(0.1 + 1 / 3)
    assert summary["updated"] > summary["created"]  # the crashed run's last activity, not its start
    view = experiment_view(storage, "crashed")
    assert [len(view["curves"][str(i)]) for i in (1, 2, 3)] == [3, 3, 2]
    # The trial the crash cut: its bar ends at its last result, and says it was interrupted.
    assert [(s["trial"], s["slot"], s["ended"]) for s in view["timeline"]] == [
        (1, 0, "TERMINATED"),
        (2, 0, "TERMINATED"),
        (3, 0, "INTERRUPTED"),
    ]
    server, url = start_background(storage)
    try:
        assert _get(f"{url}/api/experiments")[1][0]["trials"] == 3
        assert _get(f"{url}/api/experiments/crashed")[1]["trials_page"]["rows"][2]["status"] == "INTERRUPTED"
    finally:
        server.shutdown()
        server.server_close()
    assert _hashes(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted({Path(k).parts[0] for k in before})


def test_view_of_asha_run_marks_milestones_and_cleans_nan(storage: Path) -> None:
    result = rung.run(
        curve,
        {"x": rung.grid([0.3, 0.9, 0.99, 0.35]), "n": 9},
        metric="loss",
        scheduler=rung.ASHA(max_t=9, grace_period=1, reduction_factor=3),
        max_concurrent=1,
        executor="thread",
        name="asha",
        storage=storage,
        verbose=0,
    )
    view = experiment_view(storage, "asha")
    assert view["time_attr"] == "training_iteration"
    assert view["milestones"] == [1.0, 3.0, 9.0]
    # NaN is null in the JSON (browsers reject NaN), and never the best.
    assert all(point[1] is None for point in view["curves"]["3"])
    json.dumps(view, allow_nan=False)
    assert [s["trial"] for s in view["timeline"]] == [1, 2, 3, 4]
    assert {s["slot"] for s in view["timeline"]} == {0}  # one at a time: one slot
    # Each stretch is coloured by the highest milestone it passed; ASHA stopped some trials early.
    rungs = {s["trial"]: s["rung"] for s in view["timeline"]}
    assert rungs == {t.id: sum(1 for m in (1, 3, 9) if m <= t.iteration) for t in result.trials}
    assert rungs[1] == 3 and min(rungs.values()) < 3
    assert [s["legend"] for s in view["timeline"]] == [s["rung"] for s in view["timeline"]]
    assert view["timeline_legend"] == {
        "title": "training_iteration reached",
        "items": [
            {"label": "< 1", "colour": "#c9d6ee"},
            {"label": "≥ 1", "colour": "#8fb0e0"},
            {"label": "≥ 3", "colour": "#4a78c2"},
            {"label": "≥ 9", "colour": "#244e94"},
            {"label": "failed", "colour": "#c2453f"},
        ],
    }
    assert [t["status"] for t in view["trials"]] == [t.status.value for t in result.trials]
    values = [v for _, v in view["best_so_far"]]
    assert values == sorted(values, reverse=True) and values[-1] == pytest.approx(1 / 9)


def test_view_of_pbt_run_has_schedules_with_clone_edges(storage: Path) -> None:
    result = rung.run(
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
    view = experiment_view(storage, "pbt")
    assert view["schedules"], "PBT changed no trial's hyperparameters"
    for trial_id, entries in view["schedules"].items():
        expected = result.schedule(int(trial_id))
        assert [(e["iteration"], e["config"], e["from_trial"]) for e in entries] == [
            (e.iteration, e.config, e.from_trial) for e in expected
        ]
    assert any(e["from_trial"] is not None for entries in view["schedules"].values() for e in entries[1:])


def test_importance_ranks_the_parameter_that_matters() -> None:
    rows = [
        {"config": {"x": x, "noise": n, "kind": k}, "best_result": {"loss": x * x}}
        for x, n, k in [(0.1, 3, "a"), (0.5, 1, "b"), (0.9, 2, "a"), (0.3, 4, "b"), (0.7, 0, "a")]
    ]
    from rung.store.importance import univariate_importance as _importance

    scores = _importance(rows, "loss")
    assert scores["x"] == pytest.approx(1.0)
    assert scores["noise"] < scores["x"] and 0 <= scores["kind"] < 1
    assert _importance(rows[:2], "loss") == {}
    # A label unique to each trial (an id) tells nothing: it was scored 1.0. Nested keys are scored
    # leaf by leaf: a nested dict was one category per distinct dict.
    rng = np.random.default_rng(0)
    many = []
    for i in range(200):
        opt, x = str(rng.choice(["sgd", "adam"])), float(rng.random())
        loss = x + (1.0 if opt == "sgd" else 0.0)
        many.append({"config": {"id": f"run-{i}", "opt": {"name": opt, "unused": float(rng.random())}, "x": x},
                     "best_result": {"loss": loss}})  # fmt: skip
    scores = _importance(many, "loss")
    assert "id" not in scores and set(scores) == {"opt/name", "opt/unused", "x"}
    assert scores["opt/name"] > 0.8 and scores["x"] > 0.3 and scores["opt/unused"] < 0.2


def test_clean_replaces_non_finite_numbers() -> None:
    assert clean({"a": [math.nan, 1.0, math.inf], "b": {"c": -math.inf}}) == {"a": [None, 1.0, None], "b": {"c": None}}


def test_server_routes_and_errors(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="one", storage=storage, verbose=0)
    server, url = start_background(storage)
    try:
        assert _get(f"{url}/api/experiments/nope") == (404, {"error": "no experiment 'nope'"})
        assert _get(f"{url}/api/experiments/..%2Fone") == (404, {"error": "no experiment '../one'"})
        assert _get(f"{url}/static/..%2Fserver.py") == (404, {"error": "not found"})
        with urllib.request.urlopen(f"{url}/e/one") as response:
            page = response.read().decode()
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "one" not in page.replace("none", "")  # the page holds no data: the script fetches it
        with urllib.request.urlopen(f"{url}/static/uPlot.iife.min.js") as response:
            assert response.headers["Content-Type"] == "text/javascript"
            assert b"uPlot" in response.read()
    finally:
        server.shutdown()
        server.server_close()


def _request(url: str, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_server_refuses_foreign_hosts_other_methods_and_odd_paths(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="one", storage=storage, verbose=0)
    server, url = start_background(storage)
    try:
        # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its own Host.
        code, _, body = _request(f"{url}/api/experiments", host="evil.example:8765")
        assert code == 403 and b"127.0.0.1 or localhost only" in body
        assert _request(f"{url}/api/experiments", host=f"localhost:{server.server_address[1]}")[0] == 200
        code, headers, body = _request(f"{url}/api/experiments", method="POST")
        assert code == 405 and headers["Allow"] == "GET, HEAD" and b"only reads" in body
        code, headers, body = _request(f"{url}/static/uPlot.iife.min.js", method="HEAD")
        assert code == 200 and body == b"" and int(headers["Content-Length"]) > 1000
        for path in ("/static/" + "a" * 300, "/static/app.js%00", "/api/experiments/" + "a" * 300):
            code, _, body = _request(url + path)
            assert code == 404 and str(STATIC_DIR) not in body.decode(), (path, body)
    finally:
        server.shutdown()
        server.server_close()


def test_objects_in_configs_are_shown_as_text_and_never_hide_other_experiments(
    storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A config holding objects of the user's own module (as `rung.choice([nn.ReLU, nn.Tanh])` gives),
    # read by a dashboard that cannot import that module (started from another folder).
    (tmp_path / "userlib_dash.py").write_text(
        "class Act:\n"
        "    def __init__(self, kind):\n        self.kind = kind\n"
        "    def __repr__(self):\n        return f'Act({self.kind!r})'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import userlib_dash

    space = {"act": rung.choice([userlib_dash.Act("relu"), userlib_dash.Act("tanh")]), "cls": rung.choice([int, float])}
    space |= {"x": 0.2, "n": 2}
    rung.run(curve, space, metric="loss", num_samples=2, executor="thread", name="obj", storage=storage, verbose=0)
    rung.run(curve, {"x": 0.3, "n": 2}, metric="loss", executor="thread", name="plain", storage=storage, verbose=0)
    monkeypatch.delitem(sys.modules, "userlib_dash")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    server, url = start_background(storage)
    try:
        code, listed = _get(f"{url}/api/experiments")
        assert code == 200 and [(e["name"], e["status"]) for e in listed] == [
            ("obj", "FINISHED"),
            ("plain", "FINISHED"),
        ]
        code, view = _get(f"{url}/api/experiments/obj")
        assert code == 200
        rows = view["trials_page"]["rows"]
        shown = {t["config"]["act"] for t in rows} | {t["config"]["cls"] for t in rows}
        assert shown & {"Act('relu')", "Act('tanh')"} and shown & {"<class 'int'>", "<class 'float'>"}, shown
    finally:
        server.shutdown()
        server.server_close()


def test_a_killed_driver_shows_as_killed_although_no_file_changed(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="k", storage=storage, verbose=0)
    store = Store.open(storage, "k")  # make it look like a run whose driver is alive: a sleeping child
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        settings = store.experiment()["settings"]
        settings["driver"] = {"host": socket.gethostname(), "pid": child.pid}
        store.set_experiment("RUNNING", settings=settings)
        store.commit()
        store.close()
        reader = Reader(storage)
        assert reader.experiments()[0]["status"] == "RUNNING"
        assert reader.experiment("k")["summary"]["status"] == "RUNNING"
    finally:
        child.kill()
        child.wait()
    assert reader.experiments()[0]["status"] == "KILLED"
    view = reader.experiment("k")
    assert view["summary"]["status"] == "KILLED"


def test_reader_caches_until_the_store_changes(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="c", storage=storage, verbose=0)
    reader = Reader(storage)
    first = reader.experiment("c")
    assert reader.experiment("c") is first
    [summary] = reader.experiments()
    assert reader.experiments()[0] is summary and summary["trials"] == 1
    rung.run(
        curve, {"x": 0.2, "n": 2}, metric="loss", num_samples=2, executor="thread", name="c", storage=storage,
        verbose=0, resume=True,
    )  # fmt: skip
    assert reader.experiment("c") is not first
    assert reader.experiments()[0] is not summary


def test_non_loopback_host_warns_and_bad_port_is_refused(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"^dashboard port must be an integer in 0\.\.65535; got port=70000$"):
        make_server(storage, port=70000)
    with caplog.at_level(logging.WARNING, logger="rung"):
        make_server(storage, "127.0.0.1", 0).server_close()
        assert caplog.records == []
        make_server(storage, "0.0.0.0", 0).server_close()
    assert [r.getMessage() for r in caplog.records] == [
        "the dashboard listens on 0.0.0.0, not loopback: anyone who can reach this machine can read the experiments"
    ]


def test_serve_announces_its_url_and_serves_until_shut_down(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 1}, metric="loss", executor="thread", name="s", storage=storage, verbose=0)
    urls: list[str] = []
    answers: list[Any] = []

    def visit(url: str) -> None:
        answers.append(_get(f"{url}api/experiments"))
        _thread.interrupt_main()  # Ctrl-C: serve() stops and closes its socket

    def ready(url: str) -> None:
        urls.append(url)
        threading.Thread(target=visit, args=(url,), daemon=True).start()

    serve(storage, "127.0.0.1", 0, ready=ready)
    assert urls[0].startswith("http://127.0.0.1:")
    assert answers[0][0] == 200 and answers[0][1][0]["name"] == "s"


def test_a_copied_or_hidden_experiment_folder_goes_by_its_folder_name(storage: Path) -> None:
    import shutil

    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="base", storage=storage, verbose=0)
    shutil.copytree(storage / "base", storage / "base_v2")
    shutil.copytree(storage / "base", storage / ".old")
    reader = Reader(storage)
    assert [e["name"] for e in reader.experiments()] == [".old", "base", "base_v2"]
    assert reader.experiment("base_v2")["summary"]["name"] == "base_v2"
    assert reader.experiment(".old")["summary"]["name"] == ".old"
    for bad in ("..", ".", ""):
        with pytest.raises(FileNotFoundError):
            reader.experiment(bad)


def test_concurrent_requests_for_one_experiment_build_its_view_once(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rung.store.overview as data

    rung.run(curve, {"x": 0.2, "n": 2}, metric="loss", executor="thread", name="one", storage=storage, verbose=0)
    builds, entered, release = [], threading.Event(), threading.Event()
    build = data.overview

    def slow_build(copy: Any, name: str) -> dict[str, Any]:
        builds.append(name)
        entered.set()
        assert release.wait(30)
        return build(copy, name)

    monkeypatch.setattr(data, "overview", slow_build)
    reader, views, together = Reader(storage), [], threading.Barrier(6)

    def ask() -> None:
        together.wait(30)  # five requests at once
        views.append(reader.experiment("one"))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    together.wait(30)
    assert entered.wait(30)  # one builds; the others wait for its view
    release.set()
    for thread in threads:
        thread.join(30)
    assert builds == ["one"] and len(views) == 5 and all(v is views[0] for v in views)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("localhost", "localhost"),
        ("LocalHost:80", "localhost"),
        ("[::1]:8765", "::1"),
        ("evil.com\\@127.0.0.1", None),  # a URL parser reads the part after @ as the host
        ("evil.com@127.0.0.1", None),
        ("127.0.0.1:8765@evil.com", None),
        ("127.0.0.1:", None),
        ("127.0.0.1:80:80", None),
        ("127.0.0.1 ", None),
        ("127.0.0.1/x", None),
        ("[::1", None),
        ("", None),
    ],
)
def test_host_header_is_parsed_strictly(header: str, host: str | None) -> None:
    from rung.dashboard.server import host_name

    assert host_name(header) == host


def test_a_host_header_that_only_ends_in_loopback_is_refused(storage: Path) -> None:
    server, url = start_background(storage)
    try:
        # Read by urlsplit as 127.0.0.1, so a rebinding page named evil.com was answered.
        code, _, body = _request(f"{url}/api/experiments", host="evil.com\\@127.0.0.1")
        assert code == 403 and b"127.0.0.1 or localhost only" in body
        assert _request(f"{url}/api/experiments", host="127.0.0.1")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def _handler_threads() -> int:
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_connections_beyond_the_cap_get_503_and_threads_stay_bounded(storage: Path) -> None:
    rung.run(curve, {"x": 0.2, "n": 1}, metric="loss", executor="thread", name="one", storage=storage, verbose=0)
    server = make_server(storage, port=0, max_connections=4)
    server.connection_wait_s = 0.0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    before = _handler_threads()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]  # they hold every slot
    refused = []
    try:
        for _ in range(40):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /api/experiments HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            refused.append(conn)
        answers = []
        for conn in refused:
            with conn.makefile("rb") as answer:
                answers.append(answer.read())
        assert all(a.startswith(b"HTTP/1.0 503 Service Unavailable\r\n") for a in answers), answers[0]
        assert b'{"error": "the dashboard is serving 4 requests already; try again"}' in answers[0]
        assert _handler_threads() - before == 4  # one per served connection, none for the refused
    finally:
        for conn in refused:
            conn.close()
        for conn in idle:
            conn.close()
    # Once the idle connections have gone, their slots serve again (a new connection waits for one).
    server.connection_wait_s = 30.0  # type: ignore[attr-defined]
    try:
        code, listed = _get(f"http://127.0.0.1:{port}/api/experiments")
        assert code == 200 and listed[0]["name"] == "one"
    finally:
        server.shutdown()
        server.server_close()


def test_max_connections_is_checked(storage: Path) -> None:
    with pytest.raises(ValueError, match=r"^dashboard max_connections must be an integer >= 1; got max_connections=0$"):
        make_server(storage, port=0, max_connections=0)
