"""Fixtures for the framework tests: notebooks run in a kernel from this interpreter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run_notebook(tmp_path_factory, monkeypatch):
    """Execute a notebook (nbclient + ipykernel) in a kernel started from this test
    interpreter, whatever kernels the machine has; returns the executed notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / "ledger-tests"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ledger tests", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core warns about its path migration otherwise

    def run(nb, cwd: Path, *, allow_errors: bool = False):
        if isinstance(nb, (str, Path)):
            nb = nbformat.read(nb, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            kernel_name="ledger-tests",
            timeout=300,
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute()
        return nb

    return run
