"""`ledger view` in a child process and Debian's Chromium driven by Playwright: shared by the
end-to-end test, benchmarks/viewer_load.py and the README screenshots."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ledger._commands.view import stop, wait_until_up

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def have_browser() -> bool:
    """Whether Chromium and Playwright for Python are here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(CHROMIUM)


def loopback_port() -> int:
    """A port the OS says is free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ledger_command() -> list[str]:
    script = Path(sys.executable).with_name("ledger")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ledger._cli import main; main()"]


@contextlib.contextmanager
def served(
    root: str | Path, *, timeout: float = 90, ledger: str | Path | None = None, cwd: str | Path | None = None
) -> Iterator[str]:
    """`ledger view ROOT` on a free loopback port (this environment's `ledger`, or the script
    ``ledger``, run in ``cwd``); yields its URL once it answers."""
    port = loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    command = [str(ledger)] if ledger else _ledger_command()
    proc = subprocess.Popen(
        [*command, "view", str(root), "--port", str(port), "--no-browser"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_until_up(proc, url, timeout)
        if problem:
            out, err = stop(proc)
            msg = f"ledger view: {problem}\n{out}\n{err}"
            raise RuntimeError(msg)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def chromium(profile: str | Path, *, width: int = 1280, height: int = 1400) -> Iterator:
    """A Playwright page in a fresh Chromium profile (Debian's chromium, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    Path(profile).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app has finished its current script run."""
    page.wait_for_selector(IDLE, timeout=timeout)
