"""The command that started the run, and who ran it."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from ledger import _settings
from ledger._capture._git import git_user_name
from ledger._capture._redact import DEFAULT, Redaction


def current_user() -> str | None:
    """Who ran it: $LEDGER_USER, else git's user.name, else the login name."""
    env = _settings.get(_settings.USER)
    if env:
        return env
    name = git_user_name(os.getcwd())
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return os.environ.get("USER") or None


def _main_module() -> str | None:
    """The module name of ``python -m NAME`` (None for a script, ``-c`` or a notebook)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not name:
        return None
    return name.removesuffix(".__main__")


def _script(repo_root: str | None) -> str | None:
    """The entry script relative to the repository root, '/'-separated; None outside it."""
    if repo_root is None or not sys.argv or sys.argv[0] in ("", "-c", "-"):
        return None
    path = os.path.abspath(sys.argv[0])
    if not os.path.isfile(path):
        return None
    for top, script in ((repo_root, path), (os.path.realpath(repo_root), os.path.realpath(path))):
        rel = os.path.relpath(script, top)
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return None


def capture_command(
    repo_root: str | None = None, redaction: Redaction = DEFAULT, found: set[str] | None = None
) -> dict[str, Any]:
    """argv (secret values redacted, and added to ``found``), working directory, interpreter,
    the entry script relative to ``repo_root``, and the module of ``python -m``."""
    return {
        "argv": redaction.argv(list(sys.argv), found),
        "cwd": os.getcwd(),
        "executable": sys.executable,
        "script": _script(repo_root),
        "module": _main_module(),
    }
