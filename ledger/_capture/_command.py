"""The command that started the run, and who ran it."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any


def current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return os.environ.get("USER") or None


def capture_command() -> dict[str, Any]:
    """argv, working directory and interpreter of this process."""
    return {"argv": list(sys.argv), "cwd": os.getcwd(), "executable": sys.executable}
