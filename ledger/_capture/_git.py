"""Code state from git: commit, branch, remote, dirty flag, untracked files, and code.patch.

Speed matters here (every ``ledger.init`` pays it), so this module runs the git binary
directly, never GitPython (whose import alone costs ~60 ms), runs only ``git status`` and
``git diff HEAD`` (side by side), and reads the remote from the config file itself.
Untracked files join code.patch as new-file sections written here, byte for byte as git
would write them once added, so the user's index is never touched
(``--no-optional-locks`` keeps status from refreshing it).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ledger import _settings
from ledger._capture._redact import has_secret_shape, redact_bytes_line, strip_url_credentials
from ledger._format import CACHE_DIR, PATCH, ROOT_MARKER, RUNS_DIR
from ledger._root import find_git_top

log = logging.getLogger("ledger")

_TIMEOUT_S = 120.0

# Options that make `git diff` write a patch `git apply` takes, whatever the user's config
# says (external diff tools, textconv, colour, mnemonic or no prefixes, zero context, ...).
_DIFF_OPTIONS = (
    "--no-renames",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--unified=3",
    "--ignore-submodules=all",  # submodules are recorded by commit, not as patch text
)
_CONFIG = ("-c", "diff.suppressBlankEmpty=false")  # blank context lines keep their space

_warned: set[str] = set()

# Files that usually hold secrets: never read into code.patch, only listed (git.excluded_files).
SECRET_FILES = (
    ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pypirc",
    "credentials*", "*.p12", "*.pfx", "*.kdbx",
)  # fmt: skip


_SECRET_FILE = re.compile("|".join(fnmatch.translate(p) for p in SECRET_FILES))


def is_secret_file(rel: bytes | str) -> bool:
    """Whether a path's file name matches :data:`SECRET_FILES` (``config/.env.local``, ``a/id_rsa.pub``)."""
    name = (rel.decode("utf-8", "replace") if isinstance(rel, bytes) else rel).rstrip("/").rsplit("/", 1)[-1]
    return _SECRET_FILE.match(name) is not None


def _warn_once(key: str, msg: str, *args: object) -> None:
    """One warning per cause and repository per process: a sweep of 100 runs says it once."""
    if key not in _warned:
        _warned.add(key)
        log.warning(msg, *args)


@dataclass
class CodeState:
    """What :func:`capture_git` found: the manifest's ``git`` mapping and the patch bytes."""

    info: dict[str, Any] | None
    patch: bytes = b""


@dataclass
class _Status:
    commit: str | None = None
    branch: str | None = None
    tracked_changes: bool = False
    untracked: list[bytes] = field(default_factory=list)
    dirty_submodules: set[bytes] = field(default_factory=set)


def _text(path: bytes) -> str:
    # Paths are bytes on disk; YAML holds text. Undecodable bytes show as escapes.
    return path.decode("utf-8", errors="backslashreplace")


def _git(top: str, *args: str) -> subprocess.Popen[bytes]:
    """Start git in ``top``; :func:`_finish` collects it (several may run at once)."""
    return subprocess.Popen(
        ["git", *_CONFIG, *args],
        cwd=top,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes], what: str, *, check: bool = True) -> bytes:
    try:
        out, err = proc.communicate(timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        msg = f"{what} took more than {_TIMEOUT_S:.0f} s"
        raise OSError(msg) from None
    if check and proc.returncode != 0:
        msg = f"{what} failed: {err.decode(errors='replace').strip()}"
        raise OSError(msg)
    return out


def _pathspec(top: str, exclude: str | None) -> list[str]:
    spec = ["--", "."]
    if exclude is not None:
        rel = os.path.relpath(os.path.abspath(exclude), top)
        if rel == ".":  # the root is the repository's top: leave out what ledger writes there
            spec += [
                f":(exclude,literal){ROOT_MARKER}",
                f":(exclude,literal){CACHE_DIR}",
                f":(exclude,glob)*/{RUNS_DIR}/**",
            ]
        elif not rel.startswith(".."):
            spec.append(f":(exclude,literal){rel.replace(os.sep, '/')}")
    return spec


def _parse_status(out: bytes) -> _Status:
    """``git status --porcelain=v2 -z --branch --untracked-files=all --no-renames``."""
    st = _Status()
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if entry.startswith(b"# branch.oid "):
            oid = entry[len(b"# branch.oid ") :].decode()
            st.commit = None if oid == "(initial)" else oid
        elif entry.startswith(b"# branch.head "):
            head = entry[len(b"# branch.head ") :].decode(errors="replace")
            st.branch = None if head == "(detached)" else head
        elif entry.startswith(b"? "):
            st.untracked.append(entry[2:])
        elif entry[:2] in (b"1 ", b"2 ", b"u "):
            st.tracked_changes = True
            parts = entry.split(b" ", {b"1": 8, b"2": 9, b"u": 10}[entry[:1]])
            if parts[2].startswith(b"S"):  # a submodule whose commit or content changed
                st.dirty_submodules.add(parts[-1])
            if entry[:1] == b"2":
                i += 1  # the original path of a rename follows in its own field
    return st


_SECTION = re.compile(r'\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')


def _config_file(top: str) -> str:
    """The repository's config file, also from a linked worktree or a submodule checkout."""
    git_dir = os.path.join(top, ".git")
    if not os.path.isdir(git_dir):  # a file "gitdir: <path>"
        with open(git_dir, encoding="utf-8") as f:
            git_dir = os.path.join(top, f.read().strip().removeprefix("gitdir:").strip())
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:  # linked worktrees
            git_dir = os.path.join(git_dir, f.read().strip())
    except FileNotFoundError:
        pass
    return os.path.normpath(os.path.join(git_dir, "config"))


def _config_values(path: str, section_name: str, key: str) -> list[tuple[str | None, str]]:
    """(subsection, value) of every ``key`` in ``[section_name ...]`` of a git config file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=\s*(.*?)\s*$", re.IGNORECASE)
    out: list[tuple[str | None, str]] = []
    inside = False
    sub: str | None = None
    for line in lines:
        section = _SECTION.match(line)
        if section is not None:
            inside = section.group(1).lower() == section_name
            sub = section.group(2)
            continue
        found = pattern.match(line) if inside else None
        if found is not None:
            value = found.group(1)
            out.append((sub, value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value))
    return out


def git_user_name(start: str) -> str | None:
    """git's ``user.name`` as git would pick it: the repository's config, then the user's
    (~/.gitconfig, $XDG_CONFIG_HOME/git/config), then the system's. Read from the files,
    without a git process; include files are not followed."""
    top = find_git_top(start)
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    files = [_config_file(top)] if top is not None else []
    files += [os.path.join(os.path.expanduser("~"), ".gitconfig"), os.path.join(xdg, "git", "config"), "/etc/gitconfig"]
    for path in files:
        values = [v for sub, v in _config_values(path, "user", "name") if sub is None and v]
        if values:
            return values[-1]  # the last one in a file wins, as in git
    return None


def _remote_url(top: str) -> str | None:
    """The URL of remote origin, else of the first remote, credentials stripped.

    Read from the config file here rather than by `git config`: one process less on every
    init. Remotes defined through include files are not seen (they are rare).
    """
    urls: dict[str, str] = {}
    for remote, url in _config_values(_config_file(top), "remote", "url"):
        if remote is not None:
            urls.setdefault(remote, url)
    if not urls:
        return None
    return strip_url_credentials(urls.get("origin", next(iter(urls.values()))))


def _parse_submodules(out: bytes, dirty: set[bytes]) -> list[dict[str, Any]]:
    """``git submodule status --recursive``: `` <sha> path (describe)``, prefix ``+-U``."""
    subs = []
    for line in out.decode(errors="replace").splitlines():
        if len(line) < 42:
            continue
        flag, sha, rest = line[0], line[1:41], line[42:]
        path = rest.rsplit(" (", 1)[0] if rest.endswith(")") else rest
        subs.append(
            {
                "path": path,
                "commit": None if flag == "-" else sha,  # '-': not checked out here
                "dirty": flag in "+U" or path.encode() in dirty,
            }
        )
    return subs


def _nested_repos(top: str, untracked: list[bytes]) -> list[dict[str, Any]]:
    """Untracked folders that are git repositories of their own (git lists them as ``dir/``)."""
    nested = []
    for rel in untracked:
        if not rel.endswith(b"/"):
            continue
        path = os.path.join(os.fsencode(top), rel)
        commit = None
        if os.path.exists(os.path.join(path, b".git")):
            out = _finish(_git(os.fsdecode(path), "rev-parse", "--verify", "-q", "HEAD"), "git rev-parse", check=False)
            commit = out.decode().strip() or None
        nested.append({"path": _text(rel.rstrip(b"/")), "commit": commit})
    return nested


@dataclass
class _Patch:
    data: bytes = b""
    binary: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)  # file -> lines with a secret shape replaced
    note: str | None = None


_BEGIN_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_END_KEY = re.compile(rb"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


def _redact_section(section: bytes) -> tuple[bytes, int]:
    """A file's part of the patch with secret shapes on its added lines replaced by ``***``
    (every line of a private key block); context and removed lines come from the commit
    and are left as they are, so the patch still applies. Returns the lines changed."""
    if not has_secret_shape(section):
        return section, 0
    lines = section.split(b"\n")
    changed = 0
    in_key = False
    for i, line in enumerate(lines):
        if not line.startswith(b"+") or line.startswith(b"+++ "):
            in_key = False
            continue
        if in_key or _BEGIN_KEY.search(line):
            in_key = not _END_KEY.search(line)
            lines[i] = b"+***"
            changed += 1
            continue
        new = redact_bytes_line(line)
        if new != line:
            lines[i] = new
            changed += 1
    return b"\n".join(lines), changed


def _split_patch(out: bytes) -> list[tuple[bytes, bytes | None]]:
    """``git diff --numstat -z -p`` -> ``(path, section)`` per file, section None for binary files.

    The output is the numstat entries (``added<TAB>deleted<TAB>path``, NUL-terminated), one
    more NUL, then the patch, whose per-file sections come in the same order.
    """
    if not out:
        return []
    numstat, _, patch = out.partition(b"\0\0")
    entries = numstat.split(b"\0")
    sections = [b"diff --git " + s for s in patch.split(b"\ndiff --git ")]
    sections[0] = sections[0].removeprefix(b"diff --git ")
    text = [s if s.endswith(b"\n") else s + b"\n" for s in sections if not _is_binary_section(s)]
    if sum(not e.startswith(b"-\t") for e in entries) != len(text):
        msg = "could not split git diff output by file"
        raise OSError(msg)
    it = iter(text)
    return [(e.split(b"\t", 2)[2], None if e.startswith(b"-\t") else next(it)) for e in entries]


def _is_binary_section(section: bytes) -> bool:
    head = section.split(b"\n@@", 1)[0]
    return b"\nBinary files " in head or b"\nGIT binary patch" in head


# C-style quoting of paths in patch headers, as git writes them (core.quotePath).
_ESCAPES = {7: b"\\a", 8: b"\\b", 9: b"\\t", 10: b"\\n", 11: b"\\v", 12: b"\\f", 13: b"\\r", 34: b'\\"', 92: b"\\\\"}


def _quote(name: bytes) -> bytes:
    if not any(c < 0x20 or c >= 0x7F or c in (34, 92) for c in name):
        return name
    out = bytearray(b'"')
    for c in name:
        if c in _ESCAPES:
            out += _ESCAPES[c]
        elif c < 0x20 or c >= 0x7F:
            out += b"\\%03o" % c
        else:
            out.append(c)
    return bytes(out) + b'"'


def _new_file_section(top: str, rel: bytes, file_max: int) -> tuple[str, bytes | None]:
    """An untracked file as git diff would show it once added: ``("text", section)``,
    or ``("binary" | "skipped" | "gone", None)``. Binary means a NUL byte in the first
    8000 bytes, git's own rule; files above ``file_max`` are not read at all."""
    path = os.path.join(os.fsencode(top), rel)
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            mode, data = b"120000", os.readlink(path)
        elif not stat.S_ISREG(info.st_mode):
            return "gone", None
        elif info.st_size > file_max:
            return "skipped", None
        else:
            mode = b"100755" if info.st_mode & stat.S_IXUSR else b"100644"
            with open(path, "rb") as f:
                data = f.read()
    except OSError:  # removed since git status looked
        return "gone", None
    if b"\0" in data[:8000]:
        return "binary", None
    a, b = _quote(b"a/" + rel), _quote(b"b/" + rel)
    out = [b"diff --git " + a + b" " + b + b"\n", b"new file mode " + mode + b"\n"]
    if data:
        lines = data.split(b"\n")
        complete = lines[-1] == b""
        if complete:
            lines.pop()
        count = b"" if len(lines) == 1 else b",%d" % len(lines)
        tab = b"\t" if b" " in b else b""  # git marks the end of a name with spaces so
        out += [b"--- /dev/null\n", b"+++ " + b + tab + b"\n", b"@@ -0,0 +1" + count + b" @@\n"]
        out += [b"+" + line + b"\n" for line in lines]
        if not complete:
            out.append(b"\\ No newline at end of file\n")
    return "text", b"".join(out)


def _build_patch(top: str, st: _Status, diff_out: bytes, limits: tuple[int, int]) -> _Patch:
    """code.patch: the tracked changes git diffed, plus the untracked files as new files."""
    total_max, file_max = limits
    result = _Patch()
    sections: list[tuple[bytes, bytes]] = []
    for rel, section in _split_patch(diff_out):
        if is_secret_file(rel):
            result.excluded.append(_text(rel))
        elif section is None:
            result.binary.append(_text(rel))
        else:
            sections.append((rel, section))
    for rel in st.untracked:
        if rel.endswith(b"/"):  # a nested repository: recorded by commit, not by content
            continue
        if is_secret_file(rel):  # never even read
            result.excluded.append(_text(rel))
            continue
        kind, section = _new_file_section(top, rel, file_max)
        if section is not None:
            sections.append((rel, section))
        elif kind == "binary":
            result.binary.append(_text(rel))
        elif kind == "skipped":
            result.skipped.append(_text(rel))
    kept = []
    for rel, section in sections:
        if len(section) > file_max:
            result.skipped.append(_text(rel))
        else:
            clean, changed = _redact_section(section)
            if changed:
                result.redacted[_text(rel)] = changed
            kept.append((rel, clean))
    # Over the cap, the largest files go first: the many small code edits are what matter.
    total = 0
    fitting: list[tuple[bytes, bytes]] = []
    for rel, section in sorted(kept, key=lambda item: len(item[1])):
        if total + len(section) > total_max:
            result.skipped.append(_text(rel))
        else:
            total += len(section)
            fitting.append((rel, section))
    if len(fitting) < len(kept):
        result.note = (
            f"cut at {total_max} bytes (${_settings.PATCH_MAX_BYTES.name}): {len(kept) - len(fitting)} file(s) "
            f"left out, listed in skipped_files"
        )
    result.data = b"".join(section for _rel, section in sorted(fitting))
    result.binary.sort()
    result.skipped.sort()
    result.excluded.sort()
    return result


def capture_git(start: str, *, exclude: str | None = None) -> CodeState:
    """The git state of the repository containing ``start``, and its code.patch.

    ``exclude`` is a local folder (the ledger root) whose files are never part of the
    patch, the dirty flag or the untracked list: the runs being written are not code.
    Outside a repository, or without a git binary, ``info`` is None (one warning).
    """
    top = find_git_top(start)
    if top is None:
        _warn_once(
            "norepo:" + os.path.abspath(start),
            "ledger: %s is not inside a git repository; code state not recorded (git: null)",
            os.path.abspath(start),
        )
        return CodeState(None)
    limits = (_settings.get(_settings.PATCH_MAX_BYTES), _settings.get(_settings.PATCH_MAX_FILE_BYTES))
    try:
        procs = {
            "status": _git(
                top,
                "--no-optional-locks",
                "status",
                "--porcelain=v2",
                "-z",
                "--branch",
                "--untracked-files=all",
                "--no-renames",
                *_pathspec(top, exclude),
            ),
            # Started before status says whether it is needed: the two run side by side.
            "diff": _git(top, "diff", "HEAD", "--numstat", "-z", "-p", *_DIFF_OPTIONS, *_pathspec(top, exclude)),
        }
        if os.path.exists(os.path.join(top, ".gitmodules")):
            procs["submodules"] = _git(top, "--no-optional-locks", "submodule", "status", "--recursive")
    except FileNotFoundError:
        _warn_once("nogit", "ledger: the git program is not installed (not on PATH); code state not recorded")
        return CodeState(None)
    try:
        st = _parse_status(_finish(procs["status"], "git status"))
        remote = _remote_url(top)
        subs_out = _finish(procs["submodules"], "git submodule status", check=False) if "submodules" in procs else b""
        submodules = _parse_submodules(subs_out, st.dirty_submodules)
        diff_out = _finish(procs["diff"], "git diff HEAD", check=st.commit is not None)
        nested = _nested_repos(top, st.untracked)
        patch = _build_patch(top, st, diff_out, limits) if st.commit is not None else _Patch(note="no commit yet")
    except Exception as exc:  # the run must go on whatever git says
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        _warn_once("fail:" + top, "ledger: could not read the git state of %s (%s); git: null", top, exc)
        return CodeState(None)
    if patch.redacted:
        log.warning(
            "ledger: code.patch: %d line(s) that look like secrets (keys, tokens, private keys) were stored as *** "
            "in %s; move secrets out of the code (environment variables, an ignored .env)",
            sum(patch.redacted.values()),
            ", ".join(sorted(patch.redacted)),
        )
    info = {
        "root": top,
        "commit": st.commit,
        "branch": st.branch,
        "remote": remote,
        "dirty": bool(st.tracked_changes or st.untracked),
        "untracked": sorted(_text(p) for p in st.untracked),
        "patch": PATCH if patch.data else None,
        "patch_note": patch.note,
        "binary_files": sorted(patch.binary),
        "skipped_files": patch.skipped,
        "excluded_files": patch.excluded,
        "submodules": submodules,
        "nested_repos": nested,
    }
    return CodeState(info, patch.data)
