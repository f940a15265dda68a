"""`ledger view [ROOT]`: the Streamlit viewer (viewer/app.py) on a local port."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

import click

from ledger import _settings
from ledger._root import open_root

FIRST_PORT = 8501
PORT_TRIES = 100
START_TIMEOUT_S = 60.0
ROOT_ENV = _settings.VIEW_ROOT.name  # read by viewer/data.py
OPTIONS_ENV = _settings.VIEW_STORAGE_OPTIONS.name


def app_path() -> Path:
    """The viewer's app.py: in the package when installed from a wheel, else in the source checkout."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "_viewer" / "app.py"  # the wheel ships viewer/ as ledger/_viewer (pyproject.toml)
    checkout = package.parent / "viewer" / "app.py"  # an editable install runs the repository's viewer/
    return checkout if not installed.is_file() and checkout.is_file() else installed


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, root: str) -> str | None:
    """What to shout when the viewer listens beyond this machine (None when it does not)."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: serving on {host}, not on this machine only: anyone who can reach port {port} "
        f"can read every run in {root}. There is no login."
    )


def free_port(host: str, start: int = FIRST_PORT, tries: int = PORT_TRIES) -> int:
    """The first port from ``start`` up that nothing listens on at ``host``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(start, start + tries):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    msg = f"no free port in {start}-{start + tries - 1} on {host}; pass --port"
    raise click.ClickException(msg)


def parse_storage_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs as fsspec storage options; true/false/null and numbers are typed."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            msg = f"expected KEY=VALUE, got {item!r}"
            raise click.BadParameter(msg, param_hint="--storage-option")
        options[key.strip()] = _typed(raw)
    return options


def _typed(raw: str) -> Any:
    words = {"true": True, "false": False, "null": None, "none": None}
    if raw.lower() in words:
        return words[raw.lower()]
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(raw)
    return raw


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def has_display() -> bool:
    """Whether a browser window can open here (any macOS or Windows session; X or Wayland on Linux)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def healthy(url: str) -> bool:
    """Whether Streamlit answers its health check at ``url``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


def wait_until_up(proc: subprocess.Popen[Any], url: str, timeout: float) -> str | None:
    """Wait until Streamlit in ``proc`` answers at ``url``; what went wrong, or None."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if proc.poll() is not None:
            return f"the viewer stopped while starting (exit code {proc.returncode})"
        if time.monotonic() > deadline:
            return f"the viewer did not answer at {url} within {timeout:.0f} s"
        time.sleep(0.1)
    return None


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> tuple[Any, Any]:
    """Stop a child (SIGTERM, then SIGKILL after ``timeout``); its remaining (stdout, stderr)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@click.command("view")
@click.argument("root", required=False, envvar=_settings.ROOT.name)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=int, help=f"Port [default: the first free one from {FIRST_PORT}].")
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An fsspec storage option for remote roots, e.g. endpoint_url=http://... (repeatable).",
)
@click.option("--browser/--no-browser", default=None, help="Open a browser [default: when a display is available].")
def view_command(
    root: str | None, host: str, port: int | None, storage_options: tuple[str, ...], browser: bool | None
) -> None:
    """Browse a ledger in the Streamlit viewer: runs, charts, comparisons, sweeps, compute.

    ROOT is a folder or any fsspec URL (default: $LEDGER_ROOT, else where ledger.init puts runs:
    results/ at the top of the git repository, else ./results). Stop with Ctrl-C.
    """
    options = parse_storage_options(storage_options)
    if root is not None and root.startswith(("http://", "https://")):
        msg = (
            f"{root} is a published results folder served over http(s); the viewer reads ledger roots "
            "(a folder or an fsspec store such as s3://) for now. Download the folder and view that copy."
        )
        raise click.ClickException(msg)
    storage = open_root(root, options)
    if importlib.util.find_spec("streamlit") is None:
        msg = "the viewer needs Streamlit: pip install 'experiment-ledger[viewer]'"
        raise click.ClickException(msg)
    app = app_path()
    if not app.is_file():
        msg = f"the viewer's files are not installed ({app} is missing): reinstall experiment-ledger"
        raise click.ClickException(msg)
    port = port or free_port(host)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (naming it, not binding)
    url = f"http://[{shown_host}]:{port}" if ":" in shown_host else f"http://{shown_host}:{port}"
    env = {**os.environ, ROOT_ENV: storage.url, OPTIONS_ENV: json.dumps(options)}
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",  # we open the browser ourselves, only where there is a display
        "--server.address", host,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "minimal",
        "--logger.level", "warning",  # not its own banner: we print the URL
    ]  # fmt: skip
    warning = exposure_warning(host, port, storage.url)
    if warning:
        click.secho(warning, fg="red", bold=True, err=True)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, _stop)  # so that the finally below stops Streamlit too
    try:
        problem = wait_until_up(proc, url, START_TIMEOUT_S)
        if problem:
            raise click.ClickException(f"{problem}; see the messages above")
        click.echo(f"ledger viewer of {storage.url} at {url}  (Ctrl-C to stop)")
        if browser or (browser is None and has_display()):
            webbrowser.open(url)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
