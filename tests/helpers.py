"""Helpers shared by the tests: reading runs back, running snippets in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ledger
from ledger import _format, _reader
from ledger._storage import open_storage

REPO = Path(__file__).resolve().parent.parent
GIT_ID = ["-c", "user.email=t@example.com", "-c", "user.name=T"]


def quiet_init(*args, **kwargs) -> ledger.Run:
    """ledger.init without the console tee and sampler, for tests about other things."""
    kwargs.setdefault("capture_output", False)
    kwargs.setdefault("system_metrics", False)
    return ledger.init(*args, **kwargs)


def history(root: str | Path, project: str, run_id: str, storage_options: dict | None = None) -> list[dict]:
    storage = open_storage(str(root), storage_options)
    return _reader.read_stream(storage, _format.run_dir(project, run_id)).records


def manifest(root: str | Path, project: str, run_id: str, storage_options: dict | None = None) -> _format.Manifest:
    return _reader.read_manifest(open_storage(str(root), storage_options), project, run_id)


def all_runs(root: str | Path, project: str | None = None) -> list[_format.Manifest]:
    """Every run's manifest under the root (or one project), oldest first."""
    lg = ledger.open(str(root), cache=False)
    return [_format.Manifest.from_dict(dict(r.doc), r.dir) for r in lg.runs(project)]


def start_python(code: str, cwd: Path, *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a Python snippet in a fresh interpreter, with pipes; use it as a context manager."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_python(
    code: str, cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet to its end (for exit paths that end the process)."""
    with start_python(code, cwd, env=env) as proc:
        out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def git(cwd: str | Path, *args: str) -> str:
    """Run git in ``cwd`` (with an identity for commits); its stdout, stripped."""
    proc = subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)
    return proc.stdout.decode().strip()


def new_repo(path: Path) -> Path:
    """A new repository on branch main at ``path`` (made if missing), with a repo-local identity."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "T")
    return path


def run_ledger(*args: str, cwd: str | Path) -> subprocess.CompletedProcess[str]:
    """The `ledger` command in a fresh interpreter, as a user runs it (stdout, stderr, code)."""
    exe = [sys.executable, "-c", "from ledger._cli import main; main()"]
    return subprocess.run([*exe, *args], cwd=cwd, capture_output=True, text=True, check=False)
