"""The dashboard's charts in a real browser (Debian's chromium driven by Playwright), on runs that are
the same every time (the simulated executor with no decision time, random search with a seed).

Each chart fix is checked twice: by what the chart says about itself (its data-* attributes, its
text) and pixels at known places, and by a screenshot compared with the reference under
`tests/screenshots/` (at most `DIFFERENT_PIXELS` of the pixels may differ by more than `CHANNEL_TOLERANCE`
in a colour channel: anti-aliasing may move, the picture may not). `RUNG_UPDATE_SCREENSHOTS=1` writes the
references again (and `chromium-version.txt`, the browser they were made with: another version may
draw text a little differently, and a failure says which made them), after a change meant to alter
the pictures; look at them before committing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rung
from rung.executors.simulated import Curve, SimulatedExecutor

CHROMIUM = "/usr/bin/chromium"  # as tests/test_dashboard_browser.py drives it
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
TIMEOUT_MS = 30_000
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")

REFERENCES = Path(__file__).parent / "screenshots"
CHANNEL_TOLERANCE = 48
DIFFERENT_PIXELS = 0.01
PINK = (0xC2, 0x18, 0x5B)  # the best trial's line (charts.js)


def one_goal(config: dict[str, Any]) -> Curve:
    base = abs(math.log10(config["lr"]) + 3) + 30 * config["weight_decay"] + (0.3 if config["act"] is None else 0.0)
    return Curve([{"loss": base + 1 / (i + 1)} for i in range(9)], [60.0 * config["layers"]] * 9, checkpoints=False)


def two_goals(config: dict[str, Any]) -> Curve:
    acc = 1 - abs(math.log10(config["lr"]) + 3) / 4
    metrics = {"ms": 5 * config["width"] + 3, "mb": 2 * config["width"]}
    return Curve([{"acc": acc * (i + 1) / 3, **metrics} for i in range(3)], [60.0] * 3, checkpoints=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, rung.ExperimentResult]:
    storage = tmp_path_factory.mktemp("charts") / "runs"
    space = {
        "lr": rung.loguniform(1e-5, 1e-1),
        "weight_decay": rung.loguniform(1e-6, 1e-2),
        "act": rung.choice(["relu", "tanh", None]),
        "layers": rung.randint(1, 4),
    }
    common: dict[str, Any] = {"num_samples": 30, "search": "random", "seed": 7, "storage": storage, "verbose": 0}
    sim = rung.run(one_goal, space, metric="loss", name="sim", scheduler=rung.ASHA(max_t=9, grace_period=1),
                   executor=SimulatedExecutor(workers=3, decision_seconds=0.0), **common)  # fmt: skip
    mo = rung.run(two_goals, {"lr": rung.loguniform(1e-5, 1e-1), "width": rung.randint(1, 8)}, metric=["acc", "ms"],
                  mode=["max", "min"], constraints={"mb": ("<=", 12)}, name="mo",
                  executor=SimulatedExecutor(workers=3, decision_seconds=0.0), **common)  # fmt: skip
    few = {**common, "num_samples": 6}
    priced = rung.run(two_goals, {"lr": rung.loguniform(1e-5, 1e-1), "width": rung.randint(1, 8)}, metric=["acc", "ms"],
                      mode=["max", "min"], name="priced", prices={"cpu": 3.6},
                      executor=SimulatedExecutor(workers=3, decision_seconds=0.0), **few)  # fmt: skip
    return {"sim": sim, "mo": mo, "priced": priced}


@pytest.fixture(scope="module")
def browser(runs: dict[str, rung.ExperimentResult]) -> Iterator[tuple[Any, str]]:
    """One chromium page for the module's tests, and the dashboard's URL."""
    playwright = pytest.importorskip("playwright.sync_api")
    from rung.dashboard.server import start_background

    server, url = start_background(runs["sim"].storage)
    pw = playwright.sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = chromium.new_page(viewport={"width": 1400, "height": 1200})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, url
        chromium.close()
        assert errors == []
    finally:
        pw.stop()
        server.shutdown()
        server.server_close()


def _open(browser: tuple[Any, str], name: str) -> Any:
    page, url = browser
    page.goto(f"{url}/e/{name}?poll=3600000")
    page.locator("#chart-timeline[data-points]").wait_for(state="attached")
    page.locator("#chart-parallel[data-points]").wait_for(state="attached")
    return page


def _pixels(page: Any, selector: str, x: float, y: float, reach: int = 4) -> list[tuple[int, int, int]]:
    """The colours of the canvas under `selector` within `reach` pixels of (x, y)."""
    found: list[list[int]] = page.evaluate(
        """([selector, x, y, r]) => {
            const c = document.querySelector(selector + " canvas");
            const d = c.getContext("2d").getImageData(Math.round(x) - r, Math.round(y) - r, 2 * r + 1, 2 * r + 1).data;
            const out = [];
            for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]);
            return out;
        }""",
        [selector, x, y, reach],
    )
    return [(r, g, b) for r, g, b in found]


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


def _same_picture(page: Any, selector: str, reference: str, tmp_path: Path) -> None:
    """The element's screenshot matches `tests/screenshots/<reference>` within the tolerances."""
    image = pytest.importorskip("PIL.Image")
    shot = tmp_path / reference
    page.locator(selector).screenshot(path=str(shot))
    expected = REFERENCES / reference
    version = page.context.browser.version
    made_with = REFERENCES / "chromium-version.txt"  # fonts and anti-aliasing change between versions
    if os.environ.get("RUNG_UPDATE_SCREENSHOTS") == "1":
        REFERENCES.mkdir(exist_ok=True)
        expected.write_bytes(shot.read_bytes())
        made_with.write_text(version + "\n")
    made = made_with.read_text().strip()
    where = f"the picture is at {shot}; the references were made with Chromium {made}, this is {version}"
    got, want = image.open(shot).convert("RGB"), image.open(expected).convert("RGB")
    assert got.size == want.size, f"{reference}: {got.size} != {want.size} ({where})"
    a, b = got.tobytes(), want.tobytes()
    far = sum(
        1
        for i in range(0, len(a), 3)
        if max(abs(a[i] - b[i]), abs(a[i + 1] - b[i + 1]), abs(a[i + 2] - b[i + 2])) > CHANNEL_TOLERANCE
    )
    share = far / (got.size[0] * got.size[1])
    assert share <= DIFFERENT_PIXELS, f"{reference}: {share:.2%} of the pixels differ ({where})"


def test_parallel_coordinates_have_log_and_category_axes_with_ticks_and_the_best_on_top(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult], tmp_path: Path
) -> None:
    page = _open(browser, "sim")
    chart = page.locator("#chart-parallel")
    assert chart.get_attribute("data-scales") == ("act:category,layers:linear,lr:log,weight_decay:log,loss:linear")
    ranked = sorted(runs["sim"].trials, key=lambda t: (t.best_metrics["loss"], t.id))  # type: ignore[index]
    assert chart.get_attribute("data-best") == ",".join(str(t.id) for t in ranked[:3])
    assert chart.locator(".legend-item").first.inner_text() == f"best trial ({ranked[0].id})"
    # The best trial's line passes through its lr on the log axis (the third of five axes).
    left, right, top, bottom, width, height = 56, 40, 14, 44, 620, 300
    x = left + 2 * (width - left - right) / 4
    y = top + (1 - (math.log10(ranked[0].config["lr"]) + 5) / 4) * (height - top - bottom)
    assert any(_near(c, PINK) for c in _pixels(page, "#chart-parallel", x, y))
    # ... and a "None" category is kept: the act axis has three ticks, None on top.
    _same_picture(page, "#chart-parallel", "parallel.png", tmp_path)


def test_best_so_far_has_a_time_axis_with_units_and_a_legend_naming_the_best_trial(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult], tmp_path: Path
) -> None:
    page = _open(browser, "sim")
    chart = page.locator("#chart-best")
    assert chart.get_attribute("data-unit") == "min"  # 22 simulated minutes, not 1,320 unlabelled seconds
    assert chart.get_attribute("data-xlabel") == "time since the experiment started (min)"
    best = runs["sim"].best
    assert best is not None
    value = format(best.best_metrics["loss"], ".5g")  # type: ignore[index]
    assert chart.locator(".legend-item").inner_text() == f"best loss so far: {value}, trial {best.id}"
    curves = page.locator("#chart-curves")
    assert curves.locator(".legend-item").first.inner_text() == f"best trial ({best.id}), thick"
    _same_picture(page, "#chart-best", "best-so-far.png", tmp_path)
    _same_picture(page, "#chart-curves", "curves.png", tmp_path)


def test_the_timeline_has_no_empty_area_and_ticks_in_minutes(browser: tuple[Any, str], tmp_path: Path) -> None:
    page = _open(browser, "sim")
    timeline, parallel = page.locator("#chart-timeline"), page.locator("#chart-parallel")
    assert timeline.get_attribute("data-unit") == "min"
    box, beside = timeline.bounding_box(), parallel.bounding_box()
    assert box is not None and beside is not None
    assert box["y"] == beside["y"]  # side by side in one row ...
    assert box["height"] < 0.5 * beside["height"]  # ... the timeline as tall as its three slots, not the row
    _same_picture(page, "#chart-timeline", "timeline.png", tmp_path)


def test_importance_shows_each_hyperparameter_alone_and_with_interactions(
    browser: tuple[Any, str], tmp_path: Path
) -> None:
    page = _open(browser, "sim")
    chart = page.locator("#chart-importance")
    # Sorted by the model's total effect: lr's |log10(lr) + 3| is no monotone trend, so alone it ranks
    # below weight_decay; with the model it leads.
    assert chart.get_attribute("data-model", timeout=TIMEOUT_MS) is not None
    keys = (chart.get_attribute("data-model") or "").split(",")
    assert keys[0] == "lr" and set(keys) == {"lr", "weight_decay", "act", "layers"}
    assert chart.locator("thead th").all_inner_texts() == ["", "alone", "", "with interactions", ""]
    alone = {
        row.get_attribute("data-key"): float(row.locator("td").nth(2).inner_text())
        for row in chart.locator("tbody tr").all()
    }
    assert alone["weight_decay"] > alone["lr"], alone
    _same_picture(page, "#chart-importance", "importance.png", tmp_path)


def test_panels_that_do_not_apply_are_hidden(browser: tuple[Any, str]) -> None:
    page = _open(browser, "sim")
    assert page.locator("#chart-schedules").is_hidden()  # no PBT
    assert page.locator("#chart-pareto").is_hidden()  # one objective
    page = _open(browser, "mo")
    for chart in ("curves", "best", "importance", "schedules"):  # of one metric: none here
        assert page.locator(f"#chart-{chart}").is_hidden(), chart
    assert page.locator("#chart-timeline").is_visible()


def test_the_pareto_chart_draws_the_front_and_marks_infeasible_trials(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult], tmp_path: Path
) -> None:
    page = _open(browser, "mo")
    chart = page.locator("#chart-pareto")
    front = sorted(t.id for t in runs["mo"].pareto_front())
    infeasible = sum(1 for t in runs["mo"].trials if t.feasible is False)
    assert infeasible > 0
    assert chart.get_attribute("data-front") == ",".join(map(str, front))
    assert chart.get_attribute("data-infeasible") == str(infeasible)
    assert chart.get_attribute("data-points") == "30"
    assert chart.locator(".legend-item").all_inner_texts() == [
        f"Pareto front ({len(front)} trials)",
        "other trials",
        f"infeasible ({infeasible}), crosses",
    ]
    _same_picture(page, "#chart-pareto", "pareto.png", tmp_path)


def test_parallel_coordinates_of_several_objectives_highlight_the_front(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult], tmp_path: Path
) -> None:
    page = _open(browser, "mo")
    chart = page.locator("#chart-parallel")
    assert chart.is_visible()
    assert chart.get_attribute("data-scales") == "lr:log,width:linear,acc (max):linear,ms (min):linear"
    front = sorted(t.id for t in runs["mo"].pareto_front())
    assert chart.get_attribute("data-best") == ",".join(map(str, front))
    assert chart.locator(".legend-item").all_inner_texts() == [
        f"Pareto front: {', '.join(map(str, front))}",
        "other trials",
    ]
    _same_picture(page, "#chart-parallel", "parallel-objectives.png", tmp_path)


def test_the_trials_table_of_several_objectives_shows_each_and_marks_the_front(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult]
) -> None:
    page = _open(browser, "mo")
    result = runs["mo"]
    front = {t.id for t in result.pareto_front()}
    summary = page.locator("#summary").inner_text()
    assert f"acc (max), ms (min): Pareto front of {len(front)}" in summary and "null" not in summary
    heads = page.locator("#trials thead th").all_inner_texts()
    assert heads[3:6] == ["acc", "ms", "front"] and not any("null" in h or "undefined" in h for h in heads)
    rows = page.locator("#trials tbody tr")
    marked = {
        int(rows.nth(i).get_attribute("data-trial"))
        for i in range(rows.count())
        if rows.nth(i).locator("td").nth(5).inner_text() == "★"
    }
    assert marked == front
    page.locator("#trials thead th", has_text="ms").click()  # sorts by one objective, on the server
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.locator("#trials thead th").nth(4)).to_contain_text("▲")
    shown = [float(v) for v in page.locator("#trials tbody tr td:nth-child(5)").all_inner_texts() if v]
    assert shown == sorted(shown)


def test_money_spent_has_its_panel_with_several_objectives_and_a_column_in_the_list(
    browser: tuple[Any, str], runs: dict[str, rung.ExperimentResult]
) -> None:
    page = _open(browser, "priced")
    panel = page.locator("#chart-spent")
    total = runs["priced"].total_cost
    assert total is not None and total > 0
    assert panel.is_visible() and int(panel.get_attribute("data-spent") or 0) > 0
    assert panel.locator("h3").inner_text() == f"Money spent: {total:.2f}"
    assert _open(browser, "mo").locator("#chart-spent").is_hidden()  # no prices
    page.goto(browser[1] + "/")
    page.locator("#experiments tbody tr").first.wait_for()
    heads = page.locator("#experiments thead th").all_inner_texts()
    assert heads[-1] == "spent"
    row = page.locator("#experiments tbody tr", has_text="priced")
    cells = row.locator("td").all_inner_texts()
    assert cells[-1] == f"{total:.2f}" and cells[4] == f"front of {len(runs['priced'].pareto_front())}"
