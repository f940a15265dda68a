"""Code state from git: commit, branch, remote, dirty flag, untracked files."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("ledger")


def find_git_top(start: str) -> str | None:
    """The top folder of the git work tree containing ``start`` (no git process, no import)."""
    path = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def capture_git(start: str, *, exclude: str | None = None) -> dict[str, Any] | None:
    """The git state of the repository containing ``start``, or None outside a repository.

    ``exclude`` is a local folder (the ledger root) whose files do not make the tree dirty:
    the runs being written must not count as uncommitted code.
    """
    top = find_git_top(start)
    if top is None:
        return None
    try:
        import git  # noqa: PLC0415 (GitPython costs ~60 ms to import: only when in a repo)
    except ImportError:
        log.warning("ledger: GitPython cannot be imported; git state not recorded")
        return None
    try:
        repo = git.Repo(top)
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:  # no commits yet
            commit = None
        try:
            branch: str | None = repo.active_branch.name
        except TypeError:  # detached HEAD
            branch = None
        remote = None
        if repo.remotes:
            names = [r.name for r in repo.remotes]
            chosen = "origin" if "origin" in names else names[0]
            remote = next(iter(repo.remote(chosen).urls), None)
        pathspec = ["--", "."]
        if exclude is not None:
            rel = os.path.relpath(os.path.abspath(exclude), top)
            if not rel.startswith(".."):
                pathspec.append(f":(exclude){rel}")
        status = repo.git.status("--porcelain", "-z", "--untracked-files=all", *pathspec)
        entries = [e for e in status.split("\0") if e]
        untracked = sorted(e[3:] for e in entries if e.startswith("?? "))
        dirty = bool(entries)
    except Exception as exc:
        log.warning("ledger: could not read git state of %s (%s); git fields left empty", top, exc)
        return None
    return {
        "root": top,
        "commit": commit,
        "branch": branch,
        "remote": remote,
        "dirty": dirty,
        "untracked": untracked,
    }
