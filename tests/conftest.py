"""Shared fixtures: real folders under tmp_path, a clean memory:// store, clean process state.

Under CI (the environment variable CI set to anything non-empty, as .ci/run does) every skip
is a failure: the guards (importorskip, skipif, pytest.skip) are for a developer's machine
without an optional extra; in CI, where the dev extra is installed, a skip means a broken
install and would otherwise hide its tests.
"""

from __future__ import annotations

import gc
import os
import sys
import uuid
from pathlib import Path

import fsspec
import pytest

import ledger

pytest_plugins = ["pytester"]  # tests/test_skips_under_ci.py runs tiny sessions with this conftest

CI = bool(os.environ.get("CI"))
CI_SKIP_MESSAGE = "CI is set: a missing optional package is a broken install"


def _skip_as_failure(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Turn a skipped report into a failed one that says why it skipped (xfail stays as it is)."""
    if not (CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line from 1, "Skipped: reason")
        path, line, reason = longrepr
        where = f" ({path}:{line})"
    else:
        reason, where = str(longrepr), ""
    report.outcome = "failed"
    report.longrepr = f"{reason}{where}\n{CI_SKIP_MESSAGE}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport():  # pluggy passes only the arguments a hook names
    """Skips in setup (skipif marks, fixtures) and in the test body."""
    report = yield
    _skip_as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report():
    """Skips at module level (a module's importorskip): under CI, an error collecting it."""
    report = yield
    _skip_as_failure(report)
    return report


@pytest.fixture(autouse=True, scope="module")
def _settled_heap(request: pytest.FixtureRequest):
    """Streamlit runs a full garbage collection after every script run (and Keras'
    clear_session another, once a test imported Keras): with the millions of objects of the
    frameworks earlier tests imported, each AppTest run walked them all (10 s a test). What
    exists when an AppTest module starts is frozen out of those walks, and thawed at its end."""
    if "AppTest" not in vars(request.module):
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real one-node SLURM cluster (slurmctld and slurmd from Debian's slurm-wlm) for the
    whole session; .ci/run installs it. Skipped (a failure under CI) where it is not installed."""
    from tests.slurmcluster import SlurmCluster, slurm_installed

    if not slurm_installed():
        pytest.skip("SLURM is not installed: apt-get install slurm-wlm (.ci/run does)")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm(slurm_cluster, monkeypatch):
    """The session's SLURM cluster, reachable by this test's sbatch/squeue calls (SLURM_CONF);
    jobs left by the test are cancelled at its end."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    yield slurm_cluster
    slurm_cluster.cancel_all()
