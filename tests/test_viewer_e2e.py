"""The viewer in a real browser: `ledger view` as a child process, Debian's Chromium driven by
Playwright. The five flows of the workspace: a hover tooltip naming a run; grouping charts by
a config key; a URL with filters and a selection restoring the view after a reload (and back);
a live run appearing and its curve growing while filters keep answering; the parallel
coordinates' brush filtering a sweep's trials. And the README's screenshots, taken on the
example project (set UPDATE_SCREENSHOTS=1 to write them to docs/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect

import ledger
from tests import browser, viewer_ledger
from tests.helpers import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser.have_browser(), reason="needs /usr/bin/chromium and playwright"),
]

TABLE = '[data-testid="stDataFrame"]'
CHART = '[data-testid="stVegaLiteChart"]'
TOOLTIP = "#vg-tooltip-element.visible"
ROW_PX = 35  # the height of a header or body row in Streamlit's data grid


@pytest.fixture(scope="module")
def workspace_root(tmp_path_factory):
    """The viewer tests' ledger (projects vision and nlp) and a 24-trial sweep (project tuning)."""
    root = tmp_path_factory.mktemp("e2e") / "results"
    return root, viewer_ledger.build_in_place(root, sweep=True)


@pytest.fixture(scope="module")
def served(workspace_root):
    with browser.served(workspace_root[0]) as url:
        yield url


@pytest.fixture
def page(tmp_path):
    with browser.chromium(tmp_path / "profile") as page:
        yield page


def query(**params) -> str:
    return urllib.parse.urlencode(params, doseq=True)


def goto(page, url: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stMain"]').first.wait_for()
    browser.settled(page)


def count_text(page) -> str:
    """The line above the runs table: ``8 of 35 runs · rows 1-8 · 2 selected``."""
    line = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=re.compile(r"of \d+ runs"))
    return line.first.inner_text()


def hover_tooltip(page, chart: int = 0) -> str:
    """Point across the first panel of a chart until a tooltip shows; its text."""
    box = page.locator(CHART).nth(chart).bounding_box()
    for dy in (120, 160, 90, 200):
        for dx in range(90, 420, 15):
            page.mouse.move(box["x"] + dx, box["y"] + dy)
            tip = page.locator(TOOLTIP)
            if tip.count() and tip.first.is_visible():
                return tip.first.inner_text()
    msg = "no tooltip appeared over the chart"
    raise AssertionError(msg)


def test_hover_shows_a_tooltip_naming_the_run(served, workspace_root, page):
    _, ids = workspace_root
    goto(page, f"{served}/charts?" + query(sel=[ids["resnet-a"], ids["resnet-b"]], chart=["loss", "acc"]))
    page.locator(CHART).first.wait_for()
    browser.charts_redrawn(page, "")
    tip = hover_tooltip(page)
    assert re.search(r"run\s+resnet-[ab] \(", tip), tip
    assert re.search(r"step\s+\d+", tip), tip
    assert re.search(r"(loss|acc)\s+[\d.]+", tip), tip


def test_grouping_the_charts_by_a_config_key(served, page):
    goto(page, f"{served}/charts?" + query(project="tuning", runs="filtered", chart="val_loss"))
    expect(page.get_by_text(re.compile(r"^Legend: 24 runs, 0 groups"))).to_be_visible()
    before = browser.charts_image(page)
    browser.add_option(page, "Group by", "config.width")
    browser.settled(page, "chart_group_by=config.width")
    browser.charts_redrawn(page, before)
    expect(page.get_by_text(re.compile(r"^Legend: 0 runs, 4 groups, coloured by line"))).to_be_visible()
    tip = hover_tooltip(page)
    assert re.search(r"line\s+(16|32|64|128) \(\d+ runs\)", tip), tip  # a group's mean, named by its value
    assert "runs at this point" in tip


def test_a_link_with_filters_and_a_selection_restores_the_view(served, workspace_root, page):
    _, ids = workspace_root
    link = f"{served}/?" + query(
        project="vision", where="job_type == 'train'", sel=[ids["resnet-a"], ids["vit-a"]], group_by="group"
    )
    goto(page, link)
    assert count_text(page).startswith("8 of 35 runs")
    assert "· 2 selected" in count_text(page)
    expect(page.get_by_label("where", exact=True)).to_have_value("job_type == 'train'")
    expect(page.get_by_text(re.compile(r"^4 groups over 8 runs"))).to_be_visible()
    page.reload()
    page.get_by_text(re.compile(r"of \d+ runs")).first.wait_for()
    browser.settled(page)
    assert count_text(page).startswith("8 of 35 runs")
    assert "· 2 selected" in count_text(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Selected: 2 runs")

    box = page.get_by_label("where", exact=True)  # a new filter, then back to the link's view
    box.fill("job_type == 'eval'")
    box.press("Enter")
    page.get_by_text(re.compile(r"^2 of 35 runs")).wait_for()
    browser.settled(page, "where=job_type == 'eval'")
    page.go_back()
    page.get_by_text(re.compile(r"^8 of 35 runs")).wait_for()
    expect(page.get_by_label("where", exact=True)).to_have_value("job_type == 'train'")
    page.go_forward()
    page.get_by_text(re.compile(r"^2 of 35 runs")).wait_for()


LIVE_WRITER = """
import math, sys, time
import ledger
run = ledger.init(project="live", name="live-run", config={"lr": 0.1}, capture_output=False, system_metrics=False)
print(run.id, flush=True)
step = 0
while True:
    run.log({"loss": 1 / math.sqrt(step + 1)})
    step += 1
    time.sleep(0.2)
"""


def test_a_live_run_appears_and_its_curve_grows_while_filters_answer(workspace_root, tmp_path, page):
    root = tmp_path / "results"
    shutil.copytree(workspace_root[0], root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_ROOT=str(root), LEDGER_HEARTBEAT_INTERVAL="1")
    with browser.served(root) as url:
        goto(page, f"{url}/?" + query(refresh=2))
        assert count_text(page).startswith("35 of 35 runs")
        writer = subprocess.Popen(
            [sys.executable, "-c", LIVE_WRITER], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        try:
            run_id = writer.stdout.readline().strip()
            page.get_by_text(re.compile(r"^36 of 36 runs")).wait_for(timeout=60_000)  # by itself, no reload
            box = page.get_by_label("where", exact=True)
            for where in ("status == 'running'", "project == 'live'", "config.lr >= 0.1"):
                expected = len(ledger.open(root).runs(where=where))
                box.fill(where)
                box.press("Enter")
                page.get_by_text(re.compile(rf"^{expected} of 36 runs")).wait_for()
                browser.settled(page, f"where={where}")

            goto(page, f"{url}/charts?" + query(sel=run_id, chart="loss", refresh=2))
            page.locator(CHART).first.wait_for()
            first = browser.charts_image(page)
            steps = [len(ledger.open(root).run(run_id).history())]
            for _ in range(2):  # the chart is drawn again as the run logs
                browser.charts_redrawn(page, browser.charts_image(page), timeout=60_000)
                steps.append(len(ledger.open(root).run(run_id).history()))
            assert browser.charts_image(page) != first
            assert steps[-1] > steps[0]
        finally:
            writer.terminate()
            writer.communicate(timeout=30)


def test_brushing_an_axis_of_the_parallel_coordinates_filters_the_trials(served, page):
    goto(page, f"{served}/sweeps?" + query(project="tuning"))
    expect(page.get_by_text(re.compile(r"^24 trials$"))).to_be_visible()
    chart = page.locator(CHART).first
    chart.wait_for()
    browser.charts_redrawn(page, "")
    box = chart.bounding_box()
    x = box["x"] + 0.07 * box["width"]  # the first axis: lr, on a log scale
    page.mouse.move(x - 12, box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(x + 12, box["y"] + 0.55 * box["height"], steps=8)
    page.mouse.up()
    brushed = page.get_by_text(re.compile(r"^(\d+) trials of 24 \(brushed\)$"))
    brushed.wait_for()
    kept = int(brushed.inner_text().split()[0])
    assert 0 < kept < 24
    expect(page.get_by_text(re.compile(r"Brushed:\s*lr in \["))).to_be_visible()
    page.get_by_role("button", name="Clear brushes").click()
    expect(page.get_by_text(re.compile(r"^24 trials$"))).to_be_visible()


def test_readme_screenshots_of_the_example_project(tmp_path):
    """The README's screenshots, on the example project's own results (the sidebar shows
    example_project/results, not a temporary folder)."""
    root = "example_project/results"
    assert (REPO / root / "ledger.yaml").exists()
    shots = {}
    with browser.served(root, cwd=REPO) as url, browser.chromium(tmp_path / "profile", height=1300) as page:
        goto(
            page, f"{url}/?" + query(project="digits", group_by="group", metric=["summary.val/loss", "summary.val/acc"])
        )
        expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("example_project/results")
        page.get_by_text(re.compile(r"^\d+ groups over \d+ runs")).wait_for()
        shots["viewer-runs.png"] = tmp_path / "viewer-runs.png"
        page.screenshot(path=shots["viewer-runs.png"])

        goto(page, f"{url}/charts?" + query(project="digits", runs="filtered", where="job_type == 'train'",
                                             chart=["val/loss", "val/acc", "train/loss", "lr"], chart_group_by="group"))  # fmt: skip
        page.locator(CHART).first.wait_for()
        browser.charts_redrawn(page, "")
        expect(page.get_by_text(re.compile(r"groups, coloured by line"))).to_be_visible()
        shots["viewer-charts.png"] = tmp_path / "viewer-charts.png"
        page.screenshot(path=shots["viewer-charts.png"])

        goto(page, f"{url}/sweeps?" + query(project="digits"))
        page.locator(CHART).first.wait_for()
        browser.charts_redrawn(page, "")
        expect(page.get_by_text("Parameters against the metric")).to_be_visible()
        shots["viewer-sweeps.png"] = tmp_path / "viewer-sweeps.png"
        page.screenshot(path=shots["viewer-sweeps.png"])

    for path in shots.values():
        assert path.stat().st_size > 20_000
    if os.environ.get("UPDATE_SCREENSHOTS"):
        for name, path in shots.items():
            shutil.copyfile(path, REPO / "docs" / name)
