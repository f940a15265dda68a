"""`ledger commit`: put finished runs into git, with the code they belong to.

The root may live inside the code repository (``results/`` next to the code) or be a
repository of its own. Each run folder has one writer and no two runs share a file, so the
commits of several people merge without conflicts.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _artifacts, _format
from ledger._errors import LedgerError, RunStateError
from ledger._root import find_git_top

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger._storage import Storage

DEFAULT_SIZE_LIMIT = 50 * 2**20
_KEY_METRICS = ("test_acc", "val_acc", "accuracy", "acc", "f1", "auc", "val_loss", "test_loss", "loss")


class GitError(LedgerError, RuntimeError):
    """git is missing, the root is not in a repository, or a git command failed."""


@dataclass
class Committed:
    """What `ledger commit` did."""

    commit: str | None  # the new commit's hash, None when there was nothing to commit
    runs: list[str] = field(default_factory=list)
    large_files: list[tuple[str, int]] = field(default_factory=list)  # (path in the repo, bytes)
    lfs_patterns: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # artifact versions committed with the runs
    skipped: list[str] = field(default_factory=list)  # artifact versions the runs name that cannot be read


def _git(top: str, *args: str, check: bool = True, paths: list[str] | None = None) -> str:
    """Run git in ``top``; ``paths`` go to its standard input as a NUL-separated pathspec
    (``--pathspec-from-file``): thousands of artifact blobs would not fit a command line."""
    extra = ["--pathspec-from-file=-", "--pathspec-file-nul"] if paths is not None else []
    try:
        proc = subprocess.run(
            ["git", "-C", top, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args, *extra],
            input="\0".join(paths) if paths is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip (hooks off: committing results runs nothing but git)
    except FileNotFoundError:
        msg = "git is not installed (or not on PATH); ledger commit needs it"
        raise GitError(msg) from None
    if check and proc.returncode != 0:
        msg = f"git {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}"
        raise GitError(msg)
    return proc.stdout


def repository(storage: Storage) -> tuple[str, str]:
    """(repository top, the root's path inside it, '' if the root is the top)."""
    root = storage.local_path()
    if root is None:
        msg = f"ledger commit works on a local root inside a git repository, not on {storage.url}"
        raise GitError(msg)
    top = find_git_top(root)
    if top is None:
        msg = (
            f"the ledger root {root} is not inside a git repository; run `git init` in it "
            f"(a results repository) or in the code's folder above it"
        )
        raise GitError(msg)
    rel = os.path.relpath(root, top).replace(os.sep, "/")
    return top, "" if rel == "." else rel


def uncommitted_runs(storage: Storage) -> set[tuple[str, str]] | None:
    """(project, id) of the runs with files git has not committed as they are now; None when
    the root is not in a git repository (or git is missing)."""
    try:
        top, rel = repository(storage)
        out = _git(top, "status", "--porcelain", "-z", "--untracked-files=all", "--", rel or ".")
    except GitError:
        return None
    found = set()
    prefix = f"{rel}/" if rel else ""
    for entry in out.split("\0"):
        path = entry[3:]
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        if len(parts) > 3 and parts[1] == _format.RUNS_DIR:
            found.add((parts[0], parts[2]))
    return found


def _number_text(key: str, value: Any) -> str:
    return f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"


def objective(run: Any, sweep_metrics: dict[str, str] | None = None) -> str | None:
    """The metric a run is judged by: its sweep's metric (``sweep_metrics``: sweep id ->
    metric name), else the first metric it defined with ``summary="min"`` or ``"max"``
    (``define_metric``, a glob pattern matched against its summary), else None."""
    summary = run.summary
    sweep = run.doc.get("sweep") or {}
    if sweep_metrics and isinstance(sweep, dict) and sweep.get("id") in sweep_metrics:
        name = sweep_metrics[sweep["id"]]
        if name in summary:
            return str(name)
    for pattern, kind in (run.doc.get("defined_metrics") or {}).items():
        if kind in ("min", "max"):
            found = [str(k) for k in summary if fnmatch.fnmatchcase(str(k), str(pattern))]
            if found:
                return min(found)
    return None


def _key_metric(run: Any, sweep_metrics: dict[str, str] | None = None) -> str:
    summary = run.summary
    name = objective(run, sweep_metrics)
    if name is not None:
        return _number_text(name, summary[name])
    for key in _KEY_METRICS:
        if key in summary:
            return _number_text(key, summary[key])
    for key, value in sorted(summary.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _number_text(key, value)
    return ""


def _ignore_cache(root: str) -> None:
    """The root's .gitignore lists the derived cache (a root made by an older version, or a
    clone, may lack it): ``ledger commit`` never commits ``.cache/``."""
    path = os.path.join(root, _format.ROOT_GITIGNORE)
    line = f"{_format.CACHE_DIR}/"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if line not in text.splitlines():
        with open(path, "a", encoding="utf-8") as f:
            f.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")


def _lfs_pattern(path: str) -> str:
    blobs = f"/{_format.ARTIFACTS_DIR}/{_format.ARTIFACT_BLOBS}/"
    if blobs in f"/{path}":  # blobs have no extension: their folder, whose files are all content
        return f"/{path}".split(blobs)[0].lstrip("/") + blobs.rstrip("/") + "/**"
    folder, _, name = path.rpartition("/")
    ext = name.rsplit(".", 1)[-1] if "." in name else None
    base = folder.split("/runs/")[0] if "/runs/" in folder else folder
    return f"{base}/**/*.{ext}" if ext else path


def _inside(path: str, pathspecs: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``pathspecs`` or below one of them (folders)."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in pathspecs)


def commit_runs(
    storage: Storage,
    runs: Sequence[Any],
    *,
    message: str | None = None,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    sweep_metrics: dict[str, str] | None = None,
) -> Committed:
    """Stage the folders of ``runs`` (RunViews), with the artifact versions they used or
    logged (manifests, blobs, alias moves), and make one commit naming them, each with
    its objective (its sweep's metric, else its defined min/max metric, else a usual name
    such as val_acc) and value. ``sweep_metrics`` maps sweep ids to their metric names."""
    running = [r.id for r in runs if r.status == "running"]
    if running:
        more = f" (and {len(running) - 1} more)" if len(running) > 1 else ""
        msg = f"run {running[0]} is still running{more}; commit runs after they end (or name only ended runs)"
        raise RunStateError(msg)
    top, rel = repository(storage)
    prefix = f"{rel}/" if rel else ""
    folders = [f"{prefix}{_format.run_dir(r.project, r.id)}" for r in runs]
    result = Committed(commit=None)
    if not folders:
        return result
    found, result.skipped = _artifacts.version_files(storage, _artifacts.named_by(r.doc for r in runs))
    artifact_sizes: dict[str, int] = {}
    for files in found.values():
        artifact_sizes.update({f"{prefix}{p}": s for p, s in files.blobs.items()})
        artifact_sizes.update(dict.fromkeys((f"{prefix}{p}" for p in (files.manifest, *files.moves)), 0))
    result.versions = [f"{p}/{n}:v{v}" for p, n, v in found]
    artifact_dirs = sorted({f"{prefix}{_format.artifacts_dir(p)}" for p, _n, _v in found})
    ignored = set(
        _git(top, "ls-files", "--others", "--ignored", "--exclude-standard", "-z", "--", *folders, *artifact_dirs,
             check=False).split("\0")
    )  # fmt: skip
    for folder in folders:
        for dirpath, _dirs, names in os.walk(os.path.join(top, folder)):
            for name in names:
                full = os.path.join(dirpath, name)
                path = os.path.relpath(full, top).replace(os.sep, "/")
                size = os.lstat(full).st_size  # a symlink is committed as a link, never followed
                if size > size_limit and path not in ignored:
                    result.large_files.append((path, size))
    result.large_files += [(p, s) for p, s in sorted(artifact_sizes.items()) if s > size_limit and p not in ignored]
    result.lfs_patterns = sorted({_lfs_pattern(p) for p, _ in result.large_files})
    _ignore_cache(os.path.join(top, rel) if rel else top)
    extras = [f"{prefix}{name}" for name in (_format.ROOT_MARKER, _format.ROOT_GITIGNORE)]
    extras = [p for p in extras if os.path.exists(os.path.join(top, p))]
    paths = [*folders, *extras, *artifact_sizes]
    _git(top, "add", paths=paths)
    staged = set(_git(top, "diff", "--cached", "--name-only", "-z").split("\0"))
    if not any(_inside(path, paths) for path in staged if path):
        return result  # everything was committed already
    title = message or f"ledger: results of {len(runs)} run{'s' if len(runs) != 1 else ''}"
    lines = [
        title,
        "",
        *(f"{r.id}  {r.name or ''}  {r.group or '-'}  {_key_metric(r, sweep_metrics)}".rstrip() for r in runs),
    ]
    _git(top, "commit", "-q", "-m", "\n".join(lines), paths=paths)
    result.commit = _git(top, "rev-parse", "HEAD").strip()
    result.runs = [r.id for r in runs]
    return result
