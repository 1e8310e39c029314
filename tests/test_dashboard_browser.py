"""The dashboard in a real browser (Debian's chromium driven by Playwright) while another process runs.

The experiment runs in a subprocess with the process executor, one trial at a time; each trial
first reads a FIFO, so the test decides when the next trial may run (no sleeps): the page must show
the new trial without being reloaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>alert(1)</script>"
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")

DRIVER = """
import sys
import rung

def gated(config):
    with open(config["gate"]) as fh:  # blocks until the test opens the FIFO for writing
        fh.read()
    if config["x"] == 0.9:
        raise RuntimeError("trial failed on purpose")
    for i in range(4):
        rung.report({"loss": (config["x"] - 0.3) ** 2 + 1 / (i + 1)})

rung.run(
    gated,
    {"x": rung.grid([0.2, 0.5, 0.7, 0.9]), "label": %(xss)r, "gate": %(gate)r},
    metric="loss",
    max_concurrent=1,
    executor="process",
    name="live",
    storage=%(storage)r,
    verbose=0,
)
"""


def _release(gate: Path) -> None:
    """Let the next trial run: open the FIFO for writing (blocks until the trial opens it) and close."""
    done = threading.Event()

    def write() -> None:
        with gate.open("w") as fh:
            fh.write("go")
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    assert done.wait(60), "the experiment never opened its gate"


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def experiment(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    storage, gate = tmp_path / "runs", tmp_path / "gate"
    os.mkfifo(gate)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER % {"xss": XSS, "gate": str(gate), "storage": str(storage)})
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        yield storage, gate, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(60)
        assert proc.stderr is not None
        proc.stderr.close()


def test_dashboard_live_in_chromium(tmp_path: Path, experiment: tuple[Path, Path, subprocess.Popen[bytes]]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    expect = playwright.expect
    from rung.dashboard.server import start_background

    storage, gate, proc = experiment
    _release(gate)  # trial 1 runs; trial 2 then waits at its gate
    server, url = start_background(storage)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    dialogs: list[str] = []
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(TIMEOUT_MS)

            def on_dialog(dialog: Any) -> None:  # an alert() would mean a user string ran as script
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(f"{url}/?poll=200")
            link = page.locator("#experiments a", has_text="live")
            link.wait_for()
            page.screenshot(path=str(shots / "experiments.png"), full_page=True)
            link.click()
            page.wait_for_url(f"{url}/e/live")
            page.goto(f"{url}/e/live?poll=200")

            # Trial 1 ended with 4 results and trial 2 is running (blocked at its gate).
            page.locator('#trials tr[data-trial="2"]').wait_for()
            expect(page.locator("#chart-curves")).to_have_attribute("data-points", "4")
            row1 = page.locator('#trials tr[data-trial="1"]')
            assert "TERMINATED" in row1.inner_text()
            # The config value is shown as text, never run as a script.
            assert page.locator("#trials td", has_text=XSS).count() >= 2
            assert page.locator("#trials script").count() == 0

            # The store being written is only read: the dashboard leaves its files as they were.
            before = _hashes(storage / "live")
            page.reload()
            expect(page.locator("#chart-curves")).to_have_attribute("data-points", "4")
            assert _hashes(storage / "live") == before
            page.screenshot(path=str(shots / "experiment-running.png"), full_page=True)

            # Live update: trial 2 reports and trial 3 appears without a reload.
            marker = page.evaluate("window.__rung_marker = 1")
            _release(gate)
            expect(page.locator("#chart-curves")).to_have_attribute("data-points", "8")
            page.locator('#trials tr[data-trial="3"]').wait_for()
            assert page.evaluate("window.__rung_marker") == 1 and marker == 1  # the same page, not reloaded
            _release(gate)  # trial 3 runs, trial 4 waits
            expect(page.locator("#chart-curves")).to_have_attribute("data-points", "12")
            _release(gate)  # trial 4 fails on purpose
            assert proc.wait(60) == 0

            page.locator('#trials tr[data-trial="4"] pre.tb', has_text="trial failed on purpose").wait_for()
            expect(page.locator("#summary")).to_have_text(re.compile("^FINISHED"))
            for chart in ("curves", "best", "timeline", "parallel", "importance"):
                points = page.evaluate(f"Number(document.getElementById('chart-{chart}').dataset.points)")
                assert points > 0, chart
            assert page.locator("#chart-curves canvas").count() >= 1
            assert page.evaluate("document.getElementById('chart-curves').dataset.series") == "3"
            # A bar per running stretch, from the stored events: trial 4, which failed before its first
            # report, has one too (red), in the one slot; the legend names the colours.
            timeline = page.locator("#chart-timeline")
            assert (timeline.get_attribute("data-points"), timeline.get_attribute("data-failed")) == ("4", "1")
            assert timeline.get_attribute("data-slots") == "1"
            assert timeline.locator(".legend-item").all_inner_texts() == ["ran", "failed"]
            assert timeline.locator(".legend-title").inner_text() == "trials:"
            # No trial changed its hyperparameters: the PBT chart does not apply, and is hidden.
            assert page.locator("#chart-schedules").is_hidden()

            # Sorting and filtering the trials table.
            rows = page.locator("#trials tbody tr")
            page.locator("#trials th", has_text="best loss").click()
            expect(page.locator("#trials th", has_text="best loss")).to_have_text("best loss ▲")
            page.locator("#trials th", has_text="best loss").click()  # descending
            # The server sorts: the header shows the order once the sorted rows are drawn.
            expect(page.locator("#trials th", has_text="best loss")).to_have_text("best loss ▼")
            assert [rows.nth(i).get_attribute("data-trial") for i in range(4)] == ["3", "2", "1", "4"]
            page.locator("#filter").fill("ERROR")  # trial 4 failed: without a value, it sorts last
            expect(rows).to_have_count(1)
            assert rows.first.get_attribute("data-trial") == "4"
            page.locator("#filter").fill("")
            page.screenshot(path=str(shots / "experiment-finished.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert dialogs == [] and errors == []
    assert sorted(p.name for p in shots.iterdir()) == [
        "experiment-finished.png",
        "experiment-running.png",
        "experiments.png",
    ]
