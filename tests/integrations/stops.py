"""How a training script stops, and what its run says afterwards: shared by the framework tests.

Each framework test writes a small script whose training raises ``{stop}`` part-way (a
callback or a training step that raises), runs it in a fresh interpreter (as a user runs a
script) and reads the run back: an exception leaves it ``failed`` with the traceback, Ctrl-C
(KeyboardInterrupt, what SIGINT raises in the main thread) ``killed``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import ledger
from tests.helpers import run_python

# status -> (the statement that stops the training, what the run's error must contain)
STOPS = {
    "failed": ("raise FloatingPointError('loss diverged')", "FloatingPointError: loss diverged"),
    "killed": ("raise KeyboardInterrupt", "KeyboardInterrupt"),
}

stop_params = pytest.mark.parametrize("status", sorted(STOPS))


def run_stopped_script(tmp_path: Path, script: str, status: str, env: dict[str, str] | None = None) -> ledger.RunView:
    """Run ``script`` (with ``{stop}`` in it) and return its one run, checked for ``status``."""
    statement, expected = STOPS[status]
    code = textwrap.dedent(script).replace("{stop}", statement)
    proc = run_python(code, tmp_path, env=env, timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert expected in proc.stderr, proc.stderr  # the script's own traceback still shows
    (run,) = ledger.open(tmp_path / "results", cache=False).runs()
    assert run.status == status, run.doc.get("error")
    assert expected in run.doc["error"]
    assert "Traceback (most recent call last)" in run.doc["error"]
    return run
