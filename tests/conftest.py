"""Shared fixtures: real folders under tmp_path, a clean memory:// store, clean process state."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import fsspec
import pytest

import ledger


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch):
    """No LEDGER_* settings leak in; no run is left active when a test ends."""
    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    stdout, stderr = sys.stdout, sys.stderr
    yield
    while (run := ledger.active_run()) is not None:
        run.finish()
    assert sys.stdout is stdout, "a run left sys.stdout wrapped"
    assert sys.stderr is stderr, "a run left sys.stderr wrapped"


@pytest.fixture
def tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working directory (the dvclive habit)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def memory_root():
    """A fresh memory:// root; fsspec's memory store is process-global, so clear it."""
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield "memory://ledger-test"
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
