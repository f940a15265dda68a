"""Shared fixtures: real folders under tmp_path, a clean memory:// store, clean process state."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import fsspec
import pytest

import ledger


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Every test starts in an empty folder (no git repository around it, so runs do not
    capture this project's own code state); no LEDGER_* settings leak in; no run is left
    active when a test ends."""
    monkeypatch.chdir(tmp_path)
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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS) for the whole session, on free loopback ports."""
    from tests.s3server import SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    server.make_bucket("ledger-tests")
    yield server
    server.stop()


@pytest.fixture
def s3_root(s3_server, monkeypatch):
    """A fresh s3:// root (its own prefix in the test bucket); credentials come from the env."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return f"s3://ledger-tests/{uuid.uuid4().hex[:12]}/results"


@pytest.fixture(params=["memory", "s3"])
def remote_root(request):
    """A non-local root: memory:// (appends) and a real S3 server (segments)."""
    return request.getfixturevalue(f"{request.param}_root")


@pytest.fixture
def ledger_cli(monkeypatch, capsys):
    """Run `ledger ARGS...` in this process: (exit code, stdout, stderr)."""

    from ledger._cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()  # only what this command prints
        monkeypatch.setattr(sys, "argv", ["ledger", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
