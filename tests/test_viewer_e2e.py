"""The viewer in a real browser: `ledger view` as a child process, Debian's Chromium driven by
Playwright, on the example project's runs.

Set UPDATE_SCREENSHOTS=1 to also write the README's screenshots to docs/.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect

from tests import browser
from tests.helpers import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser.have_browser(), reason="needs /usr/bin/chromium and playwright"),
]

TABLE = '[data-testid="stDataFrame"]'
CHART = '[data-testid="stVegaLiteChart"]'
ROW_PX = 35  # the height of a header or body row in Streamlit's data grid


@pytest.fixture
def example_root(tmp_path, monkeypatch):
    """The example project (example_project/quickstart.py) logged into tmp_path."""
    monkeypatch.syspath_prepend(str(REPO / "example_project"))
    import quickstart

    monkeypatch.setattr(quickstart, "ROOT", tmp_path / "results")
    for lr in (0.01, 0.1, 0.5):
        quickstart.train(lr, epochs=50)
    return tmp_path / "results"


def count_text(page) -> str:
    return page.get_by_text(re.compile(r"of \d+ runs")).first.inner_text()


def test_filter_select_and_chart_in_chromium(example_root, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    with browser.served(example_root) as url, browser.chromium(tmp_path / "profile", height=860) as page:
        page.goto(url)
        table = page.locator(TABLE).first
        table.wait_for()
        browser.wait_idle(page)
        assert count_text(page).startswith("3 of 3 runs")

        where = page.get_by_label("where", exact=True)
        where.fill("config.lr >= 0.1")
        where.press("Enter")
        page.get_by_text(re.compile(r"^2 of 3 runs")).wait_for()
        browser.wait_idle(page)

        box = page.locator(TABLE).first.bounding_box()
        for row in range(2):  # the row-selection checkboxes sit in the grid's first column
            page.mouse.click(box["x"] + 16, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
            page.get_by_text(re.compile(rf"· {row + 1} selected")).wait_for()
            browser.wait_idle(page)
        runs_shot = tmp_path / "viewer-runs.png"
        page.screenshot(path=runs_shot)

        page.get_by_role("link", name="Charts").first.click()
        page.get_by_role("heading", name="Charts").wait_for()
        panels = page.locator(CHART)
        expect(panels).to_have_count(4)  # one per metric: epoch, grad_norm, loss, params/b
        browser.wait_idle(page)
        expect(panels.first.locator("canvas, svg").first).to_be_visible()
        expect(panels.first).to_contain_text("epoch")
        charts_shot = tmp_path / "viewer-charts.png"
        page.screenshot(path=charts_shot)

    assert runs_shot.stat().st_size > 10_000
    assert charts_shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(runs_shot, REPO / "docs" / "viewer-runs.png")
        shutil.copyfile(charts_shot, REPO / "docs" / "viewer-charts.png")
