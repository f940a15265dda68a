"""Tidying run folders whose writer is gone: compaction, recovery of spills, and every
rewrite of such a run's manifest (a sweep agent's verdict on its trial, a lost lease).

A run folder has one writer. Once that writer has ended (or died), these are the only
places that change the folder, each for a reason it records in the manifest.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ledger import _format, _reader
from ledger._errors import RunStateError
from ledger._root import SPILL_INFO, spill_base
from ledger._run._files import read_spill_info
from ledger._storage import LocalStorage, Storage, open_storage, retrying
from ledger._writer import compact_streams

log = logging.getLogger("ledger")


def rewrite_manifest(storage: Storage, project: str, run_id: str, **changes: Any) -> _format.Manifest:
    """Set fields of the manifest of a run whose writer is gone (its process ended or
    crashed), e.g. ``status="killed", stop_reason="early_terminated"``; returns the new
    manifest. Unknown field names are a TypeError."""
    manifest = _reader.read_manifest(storage, project, run_id)
    for key, value in changes.items():
        if key not in _format.FIELD_BY_NAME:
            msg = f"rewrite_manifest: {key!r} is not a manifest field"
            raise TypeError(msg)
        setattr(manifest, key, value)
    path = f"{_format.run_dir(project, run_id)}/{_format.MANIFEST}"
    data = manifest.to_yaml()
    retrying(lambda: storage.write_atomic(path, data, durable=True))
    return manifest


def compact(storage: Storage, project: str, run_id: str) -> int:
    """Merge an ended run's segments into one file per stream (see
    :func:`ledger._writer.compact_streams`); returns how many segments were merged."""
    manifest = _reader.read_manifest(storage, project, run_id)
    if manifest.effective_status() == "running":
        msg = f"run {run_id} is still running; compact it after it ends (its writer adds segments)"
        raise RunStateError(msg)
    return compact_streams(storage, _format.run_dir(project, run_id))


# ---- spills -------------------------------------------------------------------------------------


@dataclass
class Recovered:
    """One spill folder that `ledger recover` handled."""

    folder: str
    run_id: str
    root: str
    items: int  # files uploaded


def spill_folders(base: str | None = None) -> list[str]:
    """Every spill folder under the spill base (project/run-id), sorted."""
    root = LocalStorage(base or spill_base())
    return [
        f"{root.root}/{p.name}/{r.name}"
        for p in root.list_dir("")
        if p.is_dir
        for r in root.list_dir(p.name)
        if r.is_dir and root.exists(f"{p.name}/{r.name}/{SPILL_INFO}")
    ]


def _arrived(target: Storage, run_folder: str, stream: _format.StreamSpec, head: bytes) -> bool:
    """Whether the stream in the run already ends with ``head`` (a write the run abandoned
    at finish because storage hung, which storage took after all)."""
    names = _reader.stream_names(target, run_folder, stream)
    listed = {e.name for e in target.list_dir(run_folder)}
    last = next((name for name in reversed(names) if name in listed), None)
    if last is None:
        return False
    try:
        size = target.stat(f"{run_folder}/{last}").size
        return size >= len(head) and target.read_range(f"{run_folder}/{last}", size - len(head), len(head)) == head
    except OSError:
        return False


def recover(folder: str, *, root: str | None = None) -> Recovered:
    """Upload a spill folder's streams and manifest into its run, then delete the folder.

    Each stream is appended (or written as the next segment where the store cannot append)
    and its spill file removed at once, so a second recover does not add it twice.
    """
    local = LocalStorage(folder)
    info = read_spill_info(local)
    target = open_storage(root or info["root"])
    run_folder = _format.run_dir(info["project"], info["id"])
    uploaded: dict[str, Any] = info["uploaded"] if isinstance(info.get("uploaded"), dict) else {}
    inflight: dict[str, Any] = info["inflight"] if isinstance(info.get("inflight"), dict) else {}
    inflight_to: dict[str, Any] = info["inflight_to"] if isinstance(info.get("inflight_to"), dict) else {}
    items = 0
    for stream in _format.STREAMS:
        if not local.exists(stream.file):
            continue
        data = local.read_bytes(stream.file)[int(uploaded.get(stream.file) or 0) :]  # the rest only
        n = int(inflight.get(stream.file) or 0)
        to = inflight_to.get(stream.file)
        if (
            n
            and not target.caps.appends
            and isinstance(to, str)
            and _format.segment_number(to, stream.stem, stream.ext) is not None
        ):
            # The hung write went to this segment: write the same bytes there, so they land once
            # whether or not (or whenever) that write arrives.
            target.write_atomic(f"{run_folder}/{to}", data[:n])
            data = data[n:]
        elif n and _arrived(target, run_folder, stream, data[:n]):  # a write the run gave up on landed
            data = data[n:]
        if not data:
            pass
        elif target.caps.appends:
            target.append(f"{run_folder}/{stream.file}", data, durable=True)
        else:
            n = len(_reader.stream_names(target, run_folder, stream)) - 1
            used = {e.name for e in target.list_dir(run_folder)}
            while stream.segment(n) in used:
                n += 1
            target.write_atomic(f"{run_folder}/{stream.segment(n)}", data)
        local.remove(stream.file)
        items += 1
    streams = {stream.file for stream in _format.STREAMS}
    for path in sorted(local.files_under("")):
        if path not in streams and path not in (_format.MANIFEST, SPILL_INFO):  # media files
            target.write_atomic(f"{run_folder}/{path}", local.read_bytes(path))
            local.remove(path)
            items += 1
    if local.exists(_format.MANIFEST):
        target.write_atomic(f"{run_folder}/{_format.MANIFEST}", local.read_bytes(_format.MANIFEST), durable=True)
        local.remove(_format.MANIFEST)
        items += 1
    local.remove(SPILL_INFO)
    for dirpath, _dirs, _files in sorted(os.walk(folder), key=lambda w: -len(w[0])):  # empty media folders
        try:
            os.rmdir(dirpath)
        except OSError:
            break
    try:
        os.rmdir(os.path.dirname(folder))
    except OSError:
        pass
    return Recovered(folder, info["id"], target.url, items)
