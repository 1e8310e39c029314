"""`python -m bench dashboard-scale`: the dashboard's first paint of an experiment of many trials.

    python -m bench dashboard-scale --storage /tmp/dash --trials 100000     # builds it once, then measures
    python -m bench dashboard-scale --storage /tmp/dash --trials 20000 --no-browser

The experiment is ASHA with random search over `--trials` simulated trials of the MLP table
(`Table.interpolated`, 8 simulated workers; about 3 reports per trial), stored under `--storage` as
`scale-<trials>` and kept there (building 100,000 trials takes a minute or two), so later runs
measure the same store. Measured, each in a fresh `Reader` (the server's cache cold):

- the experiment's first JSON: seconds of `GET /api/experiments/<name>` on a dashboard server (the
  store copied, read and summarised) and its size, then the same request again (the view cached);
  then the worker timeline (`/timeline`, which the page asks for after drawing the rest);
- one page of the trials table (`/api/experiments/<name>/trials?offset=&limit=100&sort=best`), cold and warm;
- with Chromium (Debian's /usr/bin/chromium driven by Playwright; `--no-browser` skips it): seconds
  from `page.goto` of the experiment's page to the summary, the first page of the table and every
  chart but the timeline drawn (each chart sets `data-points`): the first paint; then to the timeline
  drawn too. On a fresh server (its cache cold).

Run it with `nice`; other jobs on the machine slow every figure (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import rung
from bench.tables import Table
from rung.dashboard.server import start_background
from rung.executors.simulated import SimulatedExecutor
from rung.store.schema import DB_NAME

CHROMIUM = "/usr/bin/chromium"
CHARTS = ("curves", "best", "timeline", "parallel", "importance", "schedules")


def build(storage: Path, trials: int) -> str:
    """The experiment of `trials` simulated ASHA trials under `storage` (made unless it is there)."""
    name = f"scale-{trials}"
    if (storage / name / DB_NAME).is_file():
        return name
    table = Table.load("mlp")
    started = time.perf_counter()
    rung.run(
        table.interpolated,
        table.space,
        metric=table.metric,
        mode=table.mode,
        num_samples=trials,
        search="random",
        scheduler="asha",
        executor=SimulatedExecutor(workers=8),
        storage=storage,
        name=name,
        verbose=0,
        seed=0,
    )
    size = (storage / name / DB_NAME).stat().st_size
    print(f"built {name}: {time.perf_counter() - started:.1f} s, rung.db {size / 2**20:.1f} MiB", flush=True)
    return name


def _get(url: str) -> tuple[float, int, Any]:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        body = response.read()
    took = time.perf_counter() - started
    return took, len(body), json.loads(body)


def api_times(storage: Path, name: str) -> dict[str, float]:
    """Seconds and bytes of the experiment's JSON and of a page of its trials, cold then warm."""
    server, url = start_background(storage)
    try:
        first, size, view = _get(f"{url}/api/experiments/{name}")
        again, _, _ = _get(f"{url}/api/experiments/{name}")
        try:
            timeline_s, timeline_size, _ = _get(f"{url}/api/experiments/{name}/timeline")
        except urllib.error.HTTPError:  # a dashboard without the timeline apart (it was in the view)
            timeline_s = timeline_size = float("nan")
        page_url = f"{url}/api/experiments/{name}/trials?offset=0&limit=100&sort=best"
        try:
            page_first, page_size, _ = _get(page_url)
            page_again, _, _ = _get(f"{url}/api/experiments/{name}/trials?offset=500&limit=100&sort=id")
        except urllib.error.HTTPError:  # a dashboard without the paging API
            page_first = page_size = page_again = float("nan")
    finally:
        server.shutdown()
        server.server_close()
    return {
        "view_s": first,
        "view_bytes": size,
        "view_cached_s": again,
        "trials_in_view": len(view.get("trials", [])),
        "timeline_s": timeline_s,
        "timeline_bytes": timeline_size,
        "page_s": page_first,
        "page_bytes": page_size,
        "page_cached_s": page_again,
    }


def first_paint(storage: Path, name: str) -> dict[str, float]:
    """Seconds from navigating to the experiment's page to every chart and the table drawn (Chromium)."""
    from playwright.sync_api import sync_playwright

    server, url = start_background(storage)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(600_000)
            page.goto(f"{url}/static/style.css")  # the browser started, nothing of the experiment asked yet
            started = time.perf_counter()
            page.goto(f"{url}/e/{name}?poll=3600000")
            page.locator("#trials tbody tr").first.wait_for()
            for chart in CHARTS:  # the overview's; the timeline, asked apart, last
                if chart != "timeline":  # attached: a panel that does not apply is drawn hidden
                    page.locator(f"#chart-{chart}[data-points]").wait_for(state="attached")
            painted = time.perf_counter() - started
            page.locator("#chart-timeline[data-points]").wait_for()
            everything = time.perf_counter() - started
            rows = page.locator("#trials tbody tr").count()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return {"first_paint_s": painted, "all_charts_s": everything, "table_rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench dashboard-scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--storage", type=Path, required=True, help="where the experiment is built and kept")
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true", help="measure the API only")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be >= 1; got {args.trials}")
    name = build(args.storage, args.trials)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()};"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    figures: dict[str, Any] = {"trials": args.trials, **api_times(args.storage, name)}
    print(
        f"{args.trials:,} trials: first JSON {figures['view_s']:.2f} s ({figures['view_bytes'] / 2**20:.2f} MiB,"
        f" {figures['trials_in_view']:,} trial rows), cached {figures['view_cached_s'] * 1e3:.0f} ms; the timeline"
        f" {figures['timeline_s']:.2f} s ({figures['timeline_bytes'] / 1024:.0f} KiB); a page of 100"
        f" trials {figures['page_s'] * 1e3:.0f} ms cold, {figures['page_cached_s'] * 1e3:.0f} ms warm"
        f" ({figures['page_bytes'] / 1024:.0f} KiB)",
        flush=True,
    )
    if not args.no_browser:
        figures.update(first_paint(args.storage, name))
        print(
            f"first paint in Chromium (summary, the table, every chart but the timeline):"
            f" {figures['first_paint_s']:.2f} s; the timeline too: {figures['all_charts_s']:.2f} s;"
            f" {figures['table_rows']} table rows",
            flush=True,
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
