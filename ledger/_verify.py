"""`ledger verify`: check a whole ledger against the format, file by file."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledger import _format, _reader, _root
from ledger._errors import CorruptFileError, FormatVersionError

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
    and project, a status a writer can write), record streams (torn last lines are reported
    apart from corruption)."""
    report = Report()
    now = time.time()
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
    for stem in _format.RECORD_STREAMS:
        try:
            stream = _reader.read_stream(storage, folder, stem)
        except OSError as exc:
            report.errors.append(f"{storage.full(folder)}: {stem} stream unreadable ({exc})")
        else:
            report.torn.extend(stream.torn)
            report.errors.extend(stream.corrupt)
