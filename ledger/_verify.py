"""`ledger verify`: check a whole ledger against the format, file by file."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _artifacts, _format, _reader, _root
from ledger._errors import ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError
from ledger._root import SPILL_INFO, spill_folder

if TYPE_CHECKING:
    from ledger._storage import Storage


@dataclass
class Report:
    """What verify found. Errors mean the ledger is not what the format says."""

    runs: int = 0
    versions: int = 0  # artifact versions checked
    blobs: int = 0  # blobs checked (hashed with deep=True)
    unreferenced: int = 0  # blobs no version names: left by a writer that died; harmless
    errors: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)  # torn last lines: a killed writer, not corruption
    crashed: list[str] = field(default_factory=list)


def verify(storage: Storage, project: str | None = None, *, deep: bool = False) -> Report:
    """Check every run folder: manifest (format, every field's type as the schema says, id
    and project, a status a writer can write; anchors, size and depth; the artifact versions
    it used and logged exist), record streams (torn last lines are reported apart from
    corruption; records without ``_step``, string or nested values), symlinks and special
    files anywhere below the root, and ended runs whose data still waits in this machine's
    spill folder. And every artifact: each version's manifest, that each of its files' blobs
    is there with its size, each alias move; ``deep`` also hashes every blob."""
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
        _verify_artifacts(storage, p, report, deep=deep)
    return report


_HASH_CHUNK = 16 * 2**20


def _blob_digest(storage: Storage, rel: str, size: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        chunk = storage.read_range(rel, offset, _HASH_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _verify_artifacts(storage: Storage, project: str, report: Report, *, deep: bool) -> None:
    """Versions name blobs that are there, with their sizes; alias moves point at versions;
    blob names are sha256 digests (and, ``deep``, of their content); nothing else is there."""
    base = _format.artifacts_dir(project)
    named: dict[str, int] = {}
    for entry in storage.list_dir(base):
        if entry.name == _format.ARTIFACT_BLOBS:
            continue
        where = storage.full(f"{base}/{entry.name}")
        try:
            name = _format.check_artifact_name(entry.name)
        except InvalidNameError:
            report.errors.append(f"{where}: not an artifact of the format (its name cannot be one)")
            continue
        if not entry.is_dir:
            report.errors.append(f"{where}: a file where an artifact's folder should be")
            continue
        _verify_artifact(storage, project, name, report, named)
    blobs = storage.files_under(f"{base}/{_format.ARTIFACT_BLOBS}")
    for rel, size in sorted(blobs.items()):
        path = f"{base}/{_format.ARTIFACT_BLOBS}/{rel}"
        prefix, _, sha = rel.partition("/")
        if not _format.is_sha256(sha) or prefix != sha[:2]:
            report.errors.append(f"{storage.full(path)}: not a blob of the format (blobs/<h[:2]>/<sha256 h>)")
            continue
        report.blobs += 1
        if sha not in named:
            report.unreferenced += 1
        if deep:
            try:
                found = _blob_digest(storage, path, size)
            except OSError as exc:
                report.errors.append(f"{storage.full(path)}: unreadable ({exc})")
                continue
            if found != sha:
                report.errors.append(f"{storage.full(path)}: its content hashes to {found}, not to its name: damaged")
    for sha, size in sorted(named.items()):
        if f"{sha[:2]}/{sha}" not in blobs:
            report.errors.append(f"{storage.full(_format.blob_path(project, sha))}: missing (a version names it)")
        elif blobs[f"{sha[:2]}/{sha}"] != size:
            report.errors.append(
                f"{storage.full(_format.blob_path(project, sha))}: {blobs[f'{sha[:2]}/{sha}']} bytes where a version "
                f"names {size}: damaged"
            )


def _verify_artifact(storage: Storage, project: str, name: str, report: Report, named: dict[str, int]) -> None:
    folder = _format.artifact_dir(project, name)
    have: set[int] = set()
    for entry in storage.list_dir(folder):
        where = storage.full(f"{folder}/{entry.name}")
        if entry.name == _format.ARTIFACT_ALIASES and entry.is_dir:
            continue
        version = _format.version_of_file(entry.name)
        if version is None or entry.is_dir:
            report.errors.append(f"{where}: not a file of the format (v<N>.yaml or aliases/)")
            continue
        report.versions += 1
        try:
            manifest = _artifacts.read_version(storage, project, name, version)
        except (CorruptFileError, FormatVersionError, ArtifactNotFoundError) as exc:
            report.errors.append(str(exc))
            continue
        have.add(version)
        for f in manifest.files:
            named[f.sha256] = f.size
    aliases = f"{folder}/{_format.ARTIFACT_ALIASES}"
    for entry in storage.list_dir(aliases):
        try:
            alias = _format.check_alias(entry.name)
        except InvalidNameError:
            report.errors.append(f"{storage.full(f'{aliases}/{entry.name}')}: not an alias of the format")
            continue
        for move in storage.list_dir(f"{aliases}/{alias}"):
            path = f"{aliases}/{alias}/{move.name}"
            if _format.move_of_file(move.name) is None:
                report.errors.append(f"{storage.full(path)}: not an alias move of the format (<k>.yaml)")
                continue
            try:
                moved = _format.AliasMove.from_yaml(storage.read_bytes(path), storage.full(path))
            except (CorruptFileError, FormatVersionError) as exc:
                report.errors.append(str(exc))
                continue
            if moved.alias != alias:
                report.errors.append(
                    f"{storage.full(path)}: a move of alias {moved.alias!r} in the folder of {alias!r}"
                )
            if moved.version not in have:
                report.errors.append(f"{storage.full(path)}: points to v{moved.version}, which {name!r} does not have")


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
        for field_name in ("used_artifacts", "logged_artifacts"):
            for entry in getattr(manifest, field_name):
                key = _format.entry_key(entry)
                if key is None:
                    report.errors.append(f"{storage.full(path)}: {field_name} entry {entry!r} names no version")
                    continue
                try:
                    there = storage.exists(_artifacts.version_path(*key))
                except InvalidNameError:
                    there = False
                if not there:
                    report.errors.append(
                        f"{storage.full(path)}: {field_name} names {key[0]}/{key[1]}:v{key[2]}, which the ledger does "
                        f"not hold"
                    )
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
