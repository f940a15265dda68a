"""Rebuilding a run's code and command (`ledger reproduce`) and comparing two runs (`ledger diff`).

Both read the run through the Storage seam and the local repository through the git binary.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format, _settings
from ledger._capture._packages import parse_requirements
from ledger._capture._redact import REDACTED
from ledger._errors import LedgerError
from ledger._root import find_git_top

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ledger._format import Manifest
    from ledger._storage import Storage

# Where `ledger reproduce` puts what it adds to the worktree: a folder whose own .gitignore
# ignores everything in it, so the worktree stays exactly as clean or dirty as the run's.
REPRODUCE_DIR = ".ledger-reproduce"
CONFIG_FILE = "config.yaml"
PATCH_DIFF_LINES = 60  # lines of the unified diff of two code patches that `ledger diff` shows


class ReproduceError(LedgerError):
    """A run cannot be rebuilt here; the message says why and what to do."""


# Every git command here runs with the repository's hooks, fsmonitor and external diff and
# filter programs off: reproducing a run never executes anything but git itself.
SAFE_GIT = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "diff.external=")
_FILTER_KEY = re.compile(r"^filter\.(.+)\.(?:clean|smudge|process)$")


def _no_filters(cwd: str) -> list[str]:
    """``-c`` options that switch off every filter driver the repository's config defines
    (a ``.gitattributes`` in the checked-out commit can name them): files are checked out as
    stored (Git LFS files as pointers: run ``git lfs pull`` in the worktree)."""
    try:
        proc = subprocess.run(
            ["git", *SAFE_GIT, "config", "--name-only", "--get-regexp", r"^filter\."],
            cwd=cwd, capture_output=True, check=False, text=True,
        )  # fmt: skip
    except FileNotFoundError:
        return []
    drivers = {m.group(1) for line in proc.stdout.splitlines() if (m := _FILTER_KEY.match(line.strip()))}
    out: list[str] = []
    for name in sorted(drivers):
        out += ["-c", f"filter.{name}.clean=", "-c", f"filter.{name}.smudge=", "-c", f"filter.{name}.process="]
        out += ["-c", f"filter.{name}.required=false"]
    return out


def _git(cwd: str, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *SAFE_GIT, *_no_filters(cwd), *args], cwd=cwd, input=data, capture_output=True, check=False
        )
    except FileNotFoundError:
        msg = "the git program is not installed (not on PATH); install git to reproduce runs"
        raise ReproduceError(msg) from None


def _first_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
    return lines[0].removeprefix("error: ").removeprefix("fatal: ")


def _has_commit(top: str, commit: str) -> bool:
    return _git(top, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _candidate_repos() -> list[str]:
    """The repository to look for commits in: the one around the current folder, only. A
    manifest's ``git.root`` is information about the machine that wrote it, never a place to
    run git (a ledger may come from someone else, and so may a repository it names)."""
    top = find_git_top(os.getcwd())
    return [top] if top is not None else []


def _repo_with(commits: Iterable[str], candidates: list[str]) -> str | None:
    wanted = list(commits)
    return next((top for top in candidates if all(_has_commit(top, c) for c in wanted)), None)


# ---- reproduce ----------------------------------------------------------------------------


@dataclass
class Reproduction:
    """A rebuilt run: its worktree, where to run, and the exact command."""

    run_id: str
    worktree: str
    commit: str
    config_path: str
    cwd: str
    argv: list[str] | None  # None when the run's entry point cannot be rerun from here
    env: dict[str, str]
    patched_files: int = 0
    notes: list[str] = field(default_factory=list)

    def shell_command(self) -> str:
        """One line to paste into a shell: cd, the environment, the command."""
        if self.argv is None:
            return ""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"cd {shlex.quote(self.cwd)} && {env} {shlex.join(self.argv)}"


def _read_run_file(storage: Storage, m: Manifest, name: str) -> bytes | None:
    try:
        return storage.read_bytes(f"{_format.run_dir(m.project, m.id)}/{name}")
    except FileNotFoundError:
        return None


def _new_worktree(top: str, commit: str, into: str | None, name: str, run_id: str) -> tuple[str, str | None]:
    """``git worktree add --detach``; returns the worktree and the temporary folder made for it."""
    made = None
    if into is not None:
        path = os.path.abspath(into)
        if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
            msg = f"--into {into}: {path} exists and is not an empty folder; give a new or empty folder"
            raise ReproduceError(msg)
    else:
        made = tempfile.mkdtemp(prefix=f"ledger-reproduce-{run_id}-")
        path = os.path.join(made, name)  # the repository's own name: default project names match
    proc = _git(top, "worktree", "add", "--detach", path, commit)
    if proc.returncode != 0:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        msg = f"git worktree add failed in {top}: {_first_line(proc)}"
        raise ReproduceError(msg)
    return path, made


def _remove_worktree(top: str, path: str, made: str | None) -> None:
    _git(top, "worktree", "remove", "--force", path)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def _rerun_argv(m: Manifest, worktree: str, cwd: str, notes: list[str]) -> list[str] | None:
    cmd = m.command or {}
    argv = [str(a) for a in cmd.get("argv") or []]
    recorded_exe = cmd.get("executable")
    exe = recorded_exe if isinstance(recorded_exe, str) and os.path.exists(recorded_exe) else sys.executable
    if exe != recorded_exe:
        notes.append(f"the recorded interpreter {recorded_exe} is not here; using {exe}")
    module, script = cmd.get("module"), cmd.get("script")
    if module:
        head = [exe, "-m", str(module)]
    elif script:
        head = [exe, os.path.relpath(os.path.join(worktree, str(script)), cwd)]
    else:
        first = argv[0] if argv else "nothing"
        notes.append(
            f"the run's entry point ({first}) was not a script inside the repository, so there is "
            f"no command to rerun; the code and config are ready in the worktree"
        )
        return None
    return [*head, *argv[1:]]


def _fill_worktree(worktree: str, m: Manifest, commit: str, patch: bytes) -> str:
    """Apply the patch and write the config; returns the config's path."""
    if patch:
        proc = _git(worktree, "apply", "--whitespace=nowarn", "-", data=patch)
        if proc.returncode != 0:
            msg = (
                f"{_format.PATCH} of run {m.id} does not apply at commit {commit[:12]} "
                f"({_first_line(proc)}); the worktree was removed"
            )
            raise ReproduceError(msg)
    extra = os.path.join(worktree, REPRODUCE_DIR)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, ".gitignore"), "w", encoding="utf-8") as f:
        f.write("*\n")
    config_path = os.path.join(extra, CONFIG_FILE)
    with open(config_path, "wb") as f:
        f.write(_format.yaml_dump(_format.sorted_tree(m.config)))
    return config_path


def reproduce(storage: Storage, m: Manifest, *, into: str | None = None) -> Reproduction:
    """Rebuild run ``m``: a git worktree at its commit, its code.patch applied (untracked
    files recreated), its config written, and the command that reruns it."""
    git = m.git or {}
    commit = git.get("commit")
    if not git or not commit:
        why = "it was not started inside a git repository" if not git else "its repository had no commit yet"
        msg = f"run {m.id} has no git commit recorded ({why}); there is no code state to rebuild"
        raise ReproduceError(msg)
    root = git.get("root")
    candidates = _candidate_repos()
    top = _repo_with([commit], candidates)
    if top is None:
        where = candidates[0] if candidates else "no repository around the current folder"
        remote = f", or git fetch {git['remote']} {commit}" if git.get("remote") else ""
        recorded = f" (recorded in {root})" if isinstance(root, str) and root else ""
        msg = (
            f"commit {commit[:12]} of run {m.id} is not in {where}; ledger reproduce works only in the "
            f"repository it is run from{recorded}: cd into a clone of it, fetch the commit "
            f"(git fetch --all{remote}) and run ledger reproduce again"
        )
        raise ReproduceError(msg)
    patch = _read_run_file(storage, m, _format.PATCH) if git.get("patch") else b""
    if patch is None:
        folder = storage.full(_format.run_dir(m.project, m.id))
        msg = f"run {m.id} records a {_format.PATCH} but the file is missing from {folder}"
        raise ReproduceError(msg)
    name = os.path.basename(root) if isinstance(root, str) and root else os.path.basename(top)
    worktree, made = _new_worktree(top, commit, into, name, m.id)
    try:
        config_path = _fill_worktree(worktree, m, commit, patch)
    except BaseException:
        _remove_worktree(top, worktree, made)
        raise
    cmd = m.command or {}
    rel_cwd = os.path.relpath(str(cmd.get("cwd") or root), str(root)) if root else "."
    cwd = os.path.normpath(os.path.join(worktree, rel_cwd)) if not rel_cwd.startswith("..") else worktree
    os.makedirs(cwd, exist_ok=True)  # an empty folder git does not keep
    notes = _missing_notes(git, worktree)
    if _no_filters(top):
        notes.append(
            "the repository's filter drivers (Git LFS, ...) were off, so filtered files are as stored: "
            f"run `git -C {shlex.quote(worktree)} lfs pull` (or the filter's own command) if the code needs them"
        )
    argv = _rerun_argv(m, worktree, cwd, notes)
    if argv is not None and any(REDACTED in a for a in argv):
        notes.append(f"the recorded command has secret values replaced by {REDACTED}; put the real values in")
    env = {_settings.REPRODUCES.name: m.id, _settings.ROOT.name: storage.url, _settings.PROJECT.name: m.project}
    return Reproduction(
        run_id=m.id,
        worktree=worktree,
        commit=commit,
        config_path=config_path,
        cwd=cwd,
        argv=argv,
        env=env,
        patched_files=patch.count(b"\ndiff --git ") + int(patch.startswith(b"diff --git ")),
        notes=notes,
    )


def _missing_notes(git: Mapping[str, Any], worktree: str) -> list[str]:
    notes = []
    for key, what in (
        ("binary_files", "binary"),
        ("skipped_files", "too large for code.patch"),
        ("excluded_files", "secret-looking, never recorded"),
    ):
        if git.get(key):
            notes.append(f"not restored ({what}; copy them by hand): {', '.join(git[key])}")
    subs = git.get("submodules") or []
    if subs:
        pins = ", ".join(f"{s.get('path')}@{str(s.get('commit'))[:12]}" for s in subs)
        notes.append(
            f"submodules are not checked out: run `git -C {shlex.quote(worktree)} submodule update --init "
            f"--recursive`, then check out the recorded commits ({pins})"
        )
    nested = git.get("nested_repos") or []
    if nested:
        pins = ", ".join(f"{n.get('path')}@{str(n.get('commit'))[:12]}" for n in nested)
        notes.append(f"nested repositories are not restored; clone them at the recorded commits ({pins})")
    return notes


# ---- diff ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value} if prefix else {}


def _compare(a: Mapping[str, Any], b: Mapping[str, Any], show: Callable[[Any], str] = _show) -> list[str]:
    """``- key: value`` only in a, ``+ key: value`` only in b, ``~ key: old -> new`` changed."""
    lines = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            lines.append(f"  - {key}: {show(a[key])}")
        elif key not in a:
            lines.append(f"  + {key}: {show(b[key])}")
        elif a[key] != b[key] and show(a[key]) != show(b[key]):  # NaN == NaN here
            lines.append(f"  ~ {key}: {show(a[key])} -> {show(b[key])}")
    return lines


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"{title}: same"] if not lines else [f"{title}:", *lines]


def _code_lines(storage: Storage, a: Manifest, b: Manifest) -> list[str]:
    ga, gb = a.git or {}, b.git or {}
    if not ga and not gb:
        return ["  (no git state in either run)"]
    lines: list[str] = []
    ca, cb = ga.get("commit"), gb.get("commit")
    if ca == cb and ca:
        lines.append(f"  = commit: {ca[:12]}")
    elif ca != cb:
        lines.append(f"  ~ commit: {str(ca)[:12]} ({ga.get('branch')}) -> {str(cb)[:12]} ({gb.get('branch')})")
        top = _repo_with([ca, cb], _candidate_repos()) if ca and cb else None
        if top is None or not ca or not cb:
            lines.append("    (no local repository has both commits: git fetch them to see git diff --stat)")
        else:
            stat = (
                _git(top, "diff", "--no-ext-diff", "--no-textconv", "--stat", ca, cb)
                .stdout.decode(errors="replace")
                .rstrip()
            )
            lines += [f"    {line}" for line in stat.splitlines()]
    skip = {"root", "commit", "patch", "patch_note"}
    lines += _compare({k: v for k, v in ga.items() if k not in skip}, {k: v for k, v in gb.items() if k not in skip})
    pa = _read_run_file(storage, a, _format.PATCH) or b""
    pb = _read_run_file(storage, b, _format.PATCH) or b""
    if pa == pb:
        if pa:
            lines.append(f"  = {_format.PATCH}: identical ({len(pa)} bytes)")
    else:
        diff = list(
            difflib.unified_diff(
                pa.decode(errors="replace").splitlines(),
                pb.decode(errors="replace").splitlines(),
                f"{a.id}/{_format.PATCH}",
                f"{b.id}/{_format.PATCH}",
                lineterm="",
                n=1,
            )
        )
        lines.append(f"  ~ {_format.PATCH}: differs ({len(pa)} -> {len(pb)} bytes)")
        lines += [f"    {line}" for line in diff[:PATCH_DIFF_LINES]]
        if len(diff) > PATCH_DIFF_LINES:
            lines.append(f"    ... ({len(diff) - PATCH_DIFF_LINES} more lines)")
    return lines


def _package_lines(storage: Storage, a: Manifest, b: Manifest) -> list[str]:
    ra = _read_run_file(storage, a, _format.REQUIREMENTS)
    rb = _read_run_file(storage, b, _format.REQUIREMENTS)
    if ra is None or rb is None:
        missing = " and ".join(m.id for m, r in ((a, ra), (b, rb)) if r is None)
        return [f"  (no {_format.REQUIREMENTS} in {missing})"]
    return _compare(parse_requirements(ra), parse_requirements(rb), show=str)


def _command_view(m: Manifest) -> dict[str, Any]:
    cmd = dict(m.command or {})
    if isinstance(cmd.get("argv"), list):
        cmd["argv"] = shlex.join(str(x) for x in cmd["argv"])
    return cmd


def diff_runs(storage: Storage, a: Manifest, b: Manifest) -> list[str]:
    """What differs between two runs, as readable lines (``-`` only in A, ``+`` only in B,
    ``~`` changed): config, summary, code, command, packages, host."""
    lines = [f"ledger diff {a.id} ({a.name}) -> {b.id} ({b.name})", ""]
    lines += _section("config", _compare(flatten(a.config), flatten(b.config)))
    lines += _section("summary", _compare(a.summary, b.summary))
    lines += _section("code", _code_lines(storage, a, b))
    lines += _section("command", _compare(_command_view(a), _command_view(b)))
    lines += _section("packages", _package_lines(storage, a, b))
    host_a = {**flatten(a.host or {}), "gpu_count": a.gpu_count}
    host_b = {**flatten(b.host or {}), "gpu_count": b.gpu_count}
    lines += _section("host", _compare(host_a, host_b))
    return lines
