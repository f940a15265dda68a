"""The wheel as users get it: built from this repository, installed with the viewer extra into
a fresh venv (not editable), used from another folder to log a run, and that venv's
`ledger view` shown in Debian's Chromium.

Slow (a venv with Streamlit and pandas; pip's cache makes it quicker the second time). Nothing
is skipped: a missing Playwright, Chromium or network fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import browser
from tests.helpers import REPO

pytestmark = pytest.mark.slow

RUN_NAME = "wheel-smoke-lr0.1"
# What the build leaves or reads nothing from: not copied, so no stale build/ ends in the wheel.
NOT_BUILD_INPUTS = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "results"
)


def clean_env() -> dict[str, str]:
    """This environment without what could lead a child to the checkout or to other settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PYTHONPATH", "PYTHONHOME"))}


def run(*args: str | Path, cwd: Path) -> str:
    """A command to its end; its stdout, or a failure that shows what it printed."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, venv): the wheel built from a copy of the repository and installed with
    [viewer] into a new venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, env = tmp / "src", tmp / "dist", tmp / "venv"
    shutil.copytree(REPO, src, ignore=NOT_BUILD_INPUTS)
    # No build isolation: setuptools comes from the dev extra, not from a download per run.
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src, cwd=tmp)
    (wheel,) = dist.glob("experiment_ledger-*.whl")
    run(sys.executable, "-m", "venv", env, cwd=tmp)
    run(env / "bin" / "python", "-m", "pip", "install", "-q", "-U", "pip", cwd=tmp)
    run(env / "bin" / "python", "-m", "pip", "install", "-q", f"{wheel}[viewer]", cwd=tmp)
    return wheel, env


def test_the_wheel_ships_the_viewer_inside_the_package(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    viewer = sorted(p.relative_to(REPO / "viewer").as_posix() for p in (REPO / "viewer").rglob("*.py"))
    assert "app.py" in viewer
    assert "views/runs.py" in viewer
    assert {f"ledger/_viewer/{name}" for name in viewer} <= names
    library = {p.relative_to(REPO).as_posix() for p in (REPO / "ledger").rglob("*.py")}
    assert library <= names, "pyproject.toml's package list misses a package"
    assert not [name for name in names if name.startswith("viewer/")], "a top-level `viewer` would collide"


def test_an_installed_ledger_view_shows_a_logged_run_in_chromium(installed, tmp_path, monkeypatch):
    _, env = installed
    monkeypatch.delenv("PYTHONPATH", raising=False)  # browser.served passes this environment on
    python, ledger = env / "bin" / "python", env / "bin" / "ledger"
    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing to import from the working folder
    elsewhere.mkdir()
    where = run(
        python,
        "-c",
        "import importlib.util, ledger; from ledger._commands import view;"
        "print(ledger.__file__); print(view.app_path()); print(importlib.util.find_spec('viewer'))",
        cwd=elsewhere,
    ).splitlines()
    assert Path(where[0]).is_relative_to(env), where
    assert Path(where[1]).is_relative_to(env), where
    assert Path(where[1]).parts[-3:] == ("ledger", "_viewer", "app.py")
    assert where[2] == "None", "the wheel installed a top-level `viewer`"

    root = tmp_path / "results"
    run(
        python,
        "-c",
        f"import ledger\n"
        f"with ledger.init('wheel', root={str(root)!r}, name={RUN_NAME!r}, config={{'lr': 0.1}},"
        f" capture_output=False, system_metrics=False) as r:\n"
        f"    for step in range(5):\n"
        f"        r.log({{'loss': 1 / (step + 1)}})\n",
        cwd=elsewhere,
    )
    assert RUN_NAME in run(ledger, "ls", "--root", root, cwd=elsewhere)

    with browser.served(root, ledger=ledger, cwd=elsewhere) as url, browser.chromium(tmp_path / "profile") as page:
        page.goto(url)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        browser.wait_idle(page)
        expect(page.get_by_text("1 of 1 runs")).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"]').first).to_contain_text(RUN_NAME)
