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


# ---- driving Streamlit's widgets (shared by the end-to-end tests and benchmarks/viewer_load.py) ----


def widget(page, label: str):
    """The widget container whose label is ``label``."""
    return page.locator('[data-testid^="st"][class*="stElementContainer"]').filter(
        has=page.get_by_text(label, exact=True)
    )


def option(page, label: str, text: str):
    """Open the selectbox or multiselect labelled ``label``, type ``text`` and return its
    option ``text``, ready to be clicked (the click is what the user commits)."""
    box = page.get_by_label(label, exact=True).first
    box.click()
    box.fill(text)
    found = page.get_by_role("option", name=text, exact=True).first
    found.wait_for()
    return found


def choose(page, label: str, text: str) -> None:
    """Pick ``text`` in the selectbox labelled ``label``."""
    option(page, label, text).click()


def add_option(page, label: str, text: str) -> None:
    """Add ``text`` to the multiselect labelled ``label``."""
    option(page, label, text).click()
    page.keyboard.press("Escape")


def toggle(page, label: str) -> None:
    """Flip the toggle (or checkbox) labelled ``label``."""
    page.get_by_text(label, exact=True).first.click()


def nudge(page, label: str, key: str = "ArrowRight") -> None:
    """Move the slider labelled ``label`` one step (as the arrow keys do)."""
    page.get_by_role("slider", name=label).first.press(key)


def radio(page, option: str) -> None:
    """Pick the radio option ``option``."""
    page.get_by_text(option, exact=True).first.click()


URL_HAS = "([part, want]) => decodeURIComponent(location.search.replace(/[+]/g, ' ')).includes(part) === want"


def settled(page, url_part: str | None = None, timeout: float = 120_000, *, gone: str | None = None) -> None:
    """Until the script run an action caused is over: the URL it writes at its end holds
    ``url_part`` (or no longer holds ``gone``), the app is idle, and the browser has painted
    twice since."""
    if url_part is not None:
        page.wait_for_function(URL_HAS, arg=[url_part, True], timeout=timeout, polling=50)
    if gone is not None:
        page.wait_for_function(URL_HAS, arg=[gone, False], timeout=timeout, polling=50)
    wait_idle(page, timeout)
    painted(page)


def painted(page) -> None:
    """Until the browser has drawn two frames (charts render asynchronously after the data)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


CANVAS_HASH = """() => Array.from(document.querySelectorAll(
    '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks')).map(c => {
    let h = 0;
    if (c.tagName.toLowerCase() === 'svg') {  // Vega draws small charts as SVG
        const text = c.outerHTML;
        for (let i = 0; i < text.length; i += 7) h = (h * 31 + text.charCodeAt(i)) | 0;
        return 'svg' + text.length + ':' + h;
    }
    if (!c.width || !c.height) return '';
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4 * 61) h = (h * 31 + px[i] + 7 * px[i + 1] + 13 * px[i + 2]) | 0;
    return c.width + 'x' + c.height + ':' + h;
}).join(',')"""


def charts_image(page) -> str:
    """A fingerprint of what the page's charts show now (their canvases' pixels)."""
    return str(page.evaluate(CANVAS_HASH))


def charts_redrawn(page, before: str, timeout: float = 120_000) -> None:
    """Until the page's charts show something else than ``before`` (a fingerprint)."""
    page.wait_for_function(f"(before) => ({CANVAS_HASH})() !== before && ({CANVAS_HASH})() !== ''",
                           arg=before, timeout=timeout, polling=50)  # fmt: skip
