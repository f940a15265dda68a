"""`ledger verify`: check a whole ledger against the format, file by file."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format, _reader, _root
from ledger._errors import CorruptFileError, FormatVersionError
from ledger._root import SPILL_INFO, spill_folder

if TYPE_CHECKING:
    from ledger._storage import Storage


@dataclass
class Report:
    """What verify found. Errors mean the ledger is not what the format says."""

    runs: int = 0
    errors: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)  # torn last lines: a killed writer, not corruption
    crashed: list[str] = field(default_factory=list)


def verify(storage: Storage, project: str | None = None) -> Report:
    """Check every run folder: manifest (format, every field's type as the schema says, id
    and project, a status a writer can write; anchors, size and depth), record streams (torn
    last lines are reported apart from corruption; records without ``_step``, string or
    nested values), symlinks and special files anywhere below the root, and ended runs
    whose data still waits in this machine's spill folder."""
    report = Report()
    now = time.time()
    for path in storage.refused(""):  # never followed by any reader: name each
        if not path.startswith(f"{_format.CACHE_DIR}/"):
            report.errors.append(f"{storage.full(path)}: a symlink or special file inside the ledger (never followed)")
    projects = [_format.check_name("project", project)] if project is not None else _root.projects(storage)
    for p in projects:
        for entry in storage.list_dir(_format.runs_dir(p)):
            folder = f"{_format.runs_dir(p)}/{entry.name}"
            if not entry.is_dir:
                report.errors.append(f"{storage.full(folder)}: a file where a run folder should be")
                continue
            report.runs += 1
            _verify_run(storage, p, entry.name, folder, report, now)
    return report


def _verify_run(storage: Storage, project: str, name: str, folder: str, report: Report, now: float) -> None:
    path = f"{folder}/{_format.MANIFEST}"
    try:
        manifest = _format.Manifest.from_yaml(storage.read_bytes(path), storage.full(path))
    except FileNotFoundError:
        report.errors.append(f"{storage.full(folder)}: no {_format.MANIFEST}")
        return
    except (CorruptFileError, FormatVersionError) as exc:
        report.errors.append(str(exc))
    except OSError as exc:
        report.errors.append(f"{storage.full(path)}: unreadable ({exc})")
    else:
        if manifest.id != name:
            report.errors.append(f"{storage.full(path)}: id {manifest.id!r} does not match its folder {name!r}")
        if manifest.project != project:
            report.errors.append(f"{storage.full(path)}: project {manifest.project!r} but it is under {project!r}")
        written = [s.name for s in _format.STATUS_SPECS if s.written]
        if manifest.status not in written:
            report.errors.append(
                f"{storage.full(path)}: status {manifest.status!r} is not one a writer writes ({', '.join(written)})"
            )
        if manifest.effective_status(now) == "crashed":
            report.crashed.append(f"{storage.full(folder)}: crashed (heartbeat {manifest.heartbeat})")
        spill = spill_folder(project, name)
        if manifest.status in _format.FINAL_STATUSES and os.path.exists(os.path.join(spill, SPILL_INFO)):
            report.errors.append(
                f"{storage.full(path)}: {manifest.status}, but part of it waits in the spill folder {spill}; "
                f"run `ledger recover`"
            )
    for stem in _format.RECORD_STREAMS:
        try:
            stream = _reader.read_stream(storage, folder, stem)
        except OSError as exc:
            report.errors.append(f"{storage.full(folder)}: {stem} stream unreadable ({exc})")
        else:
            report.torn.extend(stream.torn)
            report.errors.extend(stream.corrupt)
            report.errors.extend(_record_errors(stream.records, storage.full(f"{folder}/{stem}")))


_SHOWN = 5  # bad records named per stream


def _record_errors(records: list[dict[str, Any]], where: str) -> list[str]:
    """Records the format does not allow: no integer ``_step``, a value that is neither a
    number, a boolean nor a media reference (a string, a nested mapping or list)."""
    bad: list[str] = []
    count = 0
    for i, rec in enumerate(records):
        problem = None
        step = rec.get(_format.STEP)
        if not isinstance(step, int) or isinstance(step, bool):
            problem = f"no integer {_format.STEP}"
        else:
            for key, value in rec.items():
                if key in _format.RESERVED or isinstance(value, (int, float)) or _format.is_reference(value):
                    continue
                kind = "string" if isinstance(value, str) else "nested" if isinstance(value, (dict, list)) else "null"
                problem = f"{key!r} holds a {kind} value ({str(value)[:40]!r}); values are numbers or media"
                break
        if problem is not None:
            count += 1
            if len(bad) < _SHOWN:
                bad.append(f"{where}: record {i + 1}: {problem}")
    if count > _SHOWN:
        bad.append(f"{where}: ... and {count - _SHOWN} more such records")
    return bad
