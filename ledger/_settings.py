"""Every ``LEDGER_*`` environment variable, declared once: its name, default, meaning and parser.

Code reads a setting with :func:`get` (``get(HEARTBEAT_INTERVAL)``), never ``os.environ``
directly; the README's settings table is checked against :data:`SETTINGS` by a test. A
malformed value is a :class:`SettingError` that names the variable, the value and what is
expected, at the moment the setting is used.

Settings marked ``internal`` are set by ledger itself for a child process (a sweep trial,
``ledger reproduce --run``, the viewer); users do not set them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ledger._errors import SettingError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: ``parse`` turns its text into a value (or raises ValueError
    with what is expected); an unset or empty variable means ``default``."""

    name: str
    default: T
    meaning: str
    parse: Callable[[str], T]
    internal: bool = False

    @property
    def default_text(self) -> str:
        """The default as the README shows it: ``-`` for none, switches as ``1``/``0``."""
        value = self.default
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def _text(value: str) -> str | None:
    return value


def _seconds(value: str) -> float:
    result = float(value)  # ValueError for text
    if not result > 0 or result == float("inf"):
        msg = "expected a positive number of seconds"
        raise ValueError(msg)
    return result


def _bytes(value: str) -> int:
    result = int(value)
    if result < 0:
        msg = "expected a number of bytes (0 or more)"
        raise ValueError(msg)
    return result


def _megabytes(value: str) -> float:
    result = float(value)
    if not result >= 0:
        msg = "expected a number of megabytes (0 or more)"
        raise ValueError(msg)
    return result


def _gigabytes(value: str) -> float:
    result = float(value)
    if not result > 0 or result == float("inf"):
        msg = "expected a positive number of gigabytes"
        raise ValueError(msg)
    return result


def _count(value: str) -> int:
    result = int(value)
    if result < 1:
        msg = "expected a whole number, 1 or more"
        raise ValueError(msg)
    return result


def _switch(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    msg = "expected 1 or 0"
    raise ValueError(msg)


_EXPECTED: dict[Callable[[str], Any], str] = {
    _seconds: "a positive number of seconds",
    _bytes: "a number of bytes",
    _megabytes: "a number of megabytes",
    _gigabytes: "a positive number of gigabytes",
    _switch: "1 or 0",
    _count: "a whole number, 1 or more",
}

ROOT: Setting[str | None] = Setting(
    "LEDGER_ROOT", None, "default root (else `results/` at the top of the git repository, else `./results`)", _text
)
PROJECT: Setting[str | None] = Setting(
    "LEDGER_PROJECT", None, "default project when `init()` is given none (else the repository's folder name)", _text
)
USER: Setting[str | None] = Setting(
    "LEDGER_USER", None, "who ran the run (else git's `user.name`, else the login name)", _text
)
HEARTBEAT_INTERVAL: Setting[float] = Setting(
    "LEDGER_HEARTBEAT_INTERVAL", 30.0, "seconds between manifest heartbeats (a run is stale after 3x)", _seconds
)
SYSTEM_INTERVAL: Setting[float] = Setting("LEDGER_SYSTEM_INTERVAL", 10.0, "seconds between system samples", _seconds)
APPEND: Setting[bool] = Setting(
    "LEDGER_APPEND",
    True,
    "`0`: write immutable segments instead of appending (for gcsfuse/s3fs-fuse mounts)",
    _switch,
)
PATCH_MAX_BYTES: Setting[int] = Setting(
    "LEDGER_PATCH_MAX_BYTES",
    10 * 2**20,
    "cap on a run's `code.patch`; over it, the largest files are left out and listed",
    _bytes,
)
PATCH_MAX_FILE_BYTES: Setting[int] = Setting(
    "LEDGER_PATCH_MAX_FILE_BYTES",
    2**20,
    "one file's limit in `code.patch`; larger files are listed, not read",
    _bytes,
)
COMPACT_ON_FINISH: Setting[bool] = Setting(
    "LEDGER_COMPACT_ON_FINISH", False, "`1`: merge a run's segments into one file at finish (object stores)", _switch
)
MEDIA_BUDGET_MB: Setting[float] = Setting(
    "LEDGER_MEDIA_BUDGET_MB", 100.0, "warn at finish when a run's media and saved files pass this", _megabytes
)
SPILL_DIR: Setting[str | None] = Setting(
    "LEDGER_SPILL_DIR",
    None,
    "where runs keep what their storage did not take (else `~/.cache/ledger/spill`)",
    _text,
)
QUOTA_GB: Setting[float | None] = Setting(
    "LEDGER_QUOTA_GB",
    None,
    "the root's quota: `ledger du` and the viewer show used / quota, `init()` warns once past it "
    "(else `quota_gb:` in `ledger.yaml`)",
    _gigabytes,
)
ARTIFACT_CACHE: Setting[str | None] = Setting(
    "LEDGER_ARTIFACT_CACHE",
    None,
    "where `use_artifact` puts the files of artifact versions (else `~/.cache/ledger/artifacts`)",
    _text,
)
SWEEP_LEASE: Setting[float] = Setting(
    "LEDGER_SWEEP_LEASE", 120.0, "seconds without an agent heartbeat before its trial is taken over", _seconds
)
SWEEP_POLL: Setting[float] = Setting(
    "LEDGER_SWEEP_POLL", 2.0, "seconds between an agent's hyperband checks of its running trial", _seconds
)
MAX_YAML_BYTES: Setting[int] = Setting(
    "LEDGER_MAX_YAML_BYTES",
    16 * 2**20,
    "a `run.yaml` (or other YAML file) larger than this is refused, reported and skipped, never read whole",
    _bytes,
)
MAX_RECORD_BYTES: Setting[int] = Setting(
    "LEDGER_MAX_RECORD_BYTES",
    4 * 2**20,
    "a `metrics.jsonl` line longer than this is skipped and reported",
    _bytes,
)
MAX_DEPTH: Setting[int] = Setting(
    "LEDGER_MAX_DEPTH",
    100,
    "values (config, records, filters) nested deeper than this are refused with a clear error",
    _count,
)
REGEX_TIMEOUT: Setting[float] = Setting(
    "LEDGER_REGEX_TIMEOUT",
    1.0,
    "seconds one `~` (regex) or `like` match of a filter may take before the filter fails",
    _seconds,
)
SPILL_CAP_MB: Setting[float] = Setting(
    "LEDGER_SPILL_CAP_MB",
    256.0,
    "while storage is down, records a stream holds in memory past this go to the local spill folder",
    _megabytes,
)
FINISH_TIMEOUT: Setting[float] = Setting(
    "LEDGER_FINISH_TIMEOUT",
    30.0,
    "seconds `finish()` waits for storage that is down before it spills what is left and returns",
    _seconds,
)
REPRODUCES: Setting[str | None] = Setting(
    "LEDGER_REPRODUCES", None, "set by `ledger reproduce --run`: the id the new run records as `reproduces`", _text,
    internal=True,
)  # fmt: skip
SWEEP_ID: Setting[str | None] = Setting(
    "LEDGER_SWEEP_ID", None, "set by `ledger agent`: the sweep a trial's `init()` joins", _text, internal=True
)
SWEEP_TRIAL: Setting[str | None] = Setting(
    "LEDGER_SWEEP_TRIAL", None, "set by `ledger agent`: the trial number", _text, internal=True
)
SWEEP_FOLD: Setting[str | None] = Setting(
    "LEDGER_SWEEP_FOLD", None, "set by `ledger agent`: the cv fold (empty without cv)", _text, internal=True
)
SWEEP_PARAMS: Setting[str | None] = Setting(
    "LEDGER_SWEEP_PARAMS", None, "set by `ledger agent`: the trial's parameters as JSON", _text, internal=True
)
SWEEP_GROUP: Setting[str | None] = Setting(
    "LEDGER_SWEEP_GROUP", None, "set by `ledger agent`: the trial's group (cv)", _text, internal=True
)
SWEEP_ROOT: Setting[str | None] = Setting(
    "LEDGER_SWEEP_ROOT", None, "set by `ledger agent`: the sweep's root", _text, internal=True
)
SWEEP_PROJECT: Setting[str | None] = Setting(
    "LEDGER_SWEEP_PROJECT",
    None,
    "set by `ledger agent`: the sweep's project (empty when the sweep names none: init's project decides)",
    _text,
    internal=True,
)
SWEEP_RESUME: Setting[str | None] = Setting(
    "LEDGER_SWEEP_RESUME",
    None,
    "set by `ledger agent`: the id of the trial's interrupted run that `init()` continues",
    _text,
    internal=True,
)
VIEW_ROOT: Setting[str | None] = Setting(
    "LEDGER_VIEW_ROOT", None, "set by `ledger view`: the root the viewer shows", _text, internal=True
)
VIEW_STORAGE_OPTIONS: Setting[str | None] = Setting(
    "LEDGER_VIEW_STORAGE_OPTIONS", None, "set by `ledger view`: fsspec storage options as JSON", _text, internal=True
)

SETTINGS: tuple[Setting[Any], ...] = (
    ROOT, PROJECT, USER, HEARTBEAT_INTERVAL, SYSTEM_INTERVAL, APPEND, PATCH_MAX_BYTES, PATCH_MAX_FILE_BYTES,
    COMPACT_ON_FINISH, MEDIA_BUDGET_MB, SPILL_DIR, QUOTA_GB, ARTIFACT_CACHE, MAX_YAML_BYTES, MAX_RECORD_BYTES,
    MAX_DEPTH, REGEX_TIMEOUT, SPILL_CAP_MB, FINISH_TIMEOUT, SWEEP_LEASE, SWEEP_POLL, REPRODUCES, SWEEP_ID,
    SWEEP_TRIAL, SWEEP_FOLD, SWEEP_PARAMS, SWEEP_GROUP, SWEEP_ROOT, SWEEP_PROJECT, SWEEP_RESUME, VIEW_ROOT,
    VIEW_STORAGE_OPTIONS,
)  # fmt: skip
SWEEP_TRIAL_SETTINGS = (
    SWEEP_ID, SWEEP_TRIAL, SWEEP_FOLD, SWEEP_PARAMS, SWEEP_GROUP, SWEEP_ROOT, SWEEP_PROJECT, SWEEP_RESUME,
)  # fmt: skip


def get(setting: Setting[T]) -> T:
    """The setting's value now: the environment variable parsed, or its default when unset
    or empty. Raises :class:`SettingError` for a value it cannot use."""
    raw = os.environ.get(setting.name)
    if not raw:
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError:
        expected = _EXPECTED.get(setting.parse, "another value")
        msg = f"${setting.name}={raw!r} cannot be used: expected {expected}; unset it for the default"
        if setting.default is not None:
            msg += f" ({setting.default_text})"
        raise SettingError(msg) from None
