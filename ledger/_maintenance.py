"""Keeping run folders tidy and whole: segment compaction, spill files and their recovery."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass

from ledger import _format, _reader
from ledger._errors import CorruptFileError, RunStateError
from ledger._storage import Storage

log = logging.getLogger("ledger")

SPILL_INFO = "spill.yaml"
STREAMS = (("metrics", "jsonl"), ("system", "jsonl"), ("output", "log"))


# ---- compaction ---------------------------------------------------------------------------------


def compact(storage: Storage, project: str, run_id: str) -> int:
    """Merge each stream's segments (``metrics.<n>.jsonl``...) into its single file and delete
    them; returns how many segments were merged. Only for runs that have ended.

    Crash-safe: the merged file is written whole first, then the segments are deleted in
    order; readers recognise segments left by an interrupted compaction and skip them.
    """
    manifest = _reader.read_manifest(storage, project, run_id)
    if manifest.effective_status() == "running":
        msg = f"run {run_id} is still running; compact it after it ends (its writer adds segments)"
        raise RunStateError(msg)
    folder = _format.run_dir(project, run_id)
    merged = 0
    for stem, ext in STREAMS:
        main_name = f"{stem}.{ext}"
        chunks, leftovers = _reader.stream_chunks(storage, folder, stem, ext)
        main = next((data for name, data in chunks if name == main_name), b"")
        segments = [(name, data) for name, data in chunks if name != main_name]
        if not segments and not leftovers:
            continue
        if main and not main.endswith(b"\n"):  # a torn tail must not glue onto the next line
            main = main[: main.rfind(b"\n") + 1]
        storage.write_atomic(f"{folder}/{main_name}", main + b"".join(data for _, data in segments), durable=True)
        for name in leftovers + [name for name, _ in segments]:  # lowest first: see stream_chunks
            storage.remove(f"{folder}/{name}")
        merged += len(segments)
    return merged


# ---- spill files --------------------------------------------------------------------------------


def spill_base() -> str:
    """Where runs keep what their storage did not take: $LEDGER_SPILL_DIR, else
    ~/.cache/ledger/spill, else the temporary folder."""
    env = os.environ.get("LEDGER_SPILL_DIR")
    if env:
        return env
    home = os.path.expanduser("~")
    if home != "~" and os.access(home, os.W_OK):
        return os.path.join(home, ".cache", "ledger", "spill")
    return os.path.join(tempfile.gettempdir(), "ledger-spill")


_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def spill(
    root_url: str,
    project: str,
    run_id: str,
    streams: dict[str, bytes],
    manifest: bytes,
    *,
    files: dict[str, bytes] | None = None,
) -> str:
    """Write a run's unwritten data into a local spill folder; returns the folder. ``files``
    are other files of the run folder (media), by their path in it."""
    folder = os.path.join(spill_base(), project, run_id)
    local = Storage(folder)
    for name, data in streams.items():
        if data:
            local.append(name, data, durable=True)
    for path, data in (files or {}).items():
        local.write_atomic(path, data, durable=True)
    local.write_atomic(_format.MANIFEST, manifest, durable=True)
    info = {
        "root": _USERINFO.sub(r"\1", root_url),
        "project": project,
        "id": run_id,
        "spilled": _format.iso(time.time()),
    }
    local.write_atomic(SPILL_INFO, _format.yaml_dump(info), durable=True)
    return folder


@dataclass
class Recovered:
    """One spill folder that `ledger recover` handled."""

    folder: str
    run_id: str
    root: str
    items: int  # files uploaded


def spill_folders(base: str | None = None) -> list[str]:
    """Every spill folder under the spill base (project/run-id), sorted."""
    root = Storage(base or spill_base())
    return [
        f"{root.root}/{p.name}/{r.name}"
        for p in root.list_dir("")
        if p.is_dir
        for r in root.list_dir(p.name)
        if r.is_dir and root.exists(f"{p.name}/{r.name}/{SPILL_INFO}")
    ]


def recover(folder: str, *, root: str | None = None) -> Recovered:
    """Upload a spill folder's streams and manifest into its run, then delete the folder.

    Each stream is appended (or written as the next segment where the store cannot append)
    and its spill file removed at once, so a second recover does not add it twice.
    """
    local = Storage(folder)
    info = _format.yaml_load(local.read_bytes(SPILL_INFO), local.full(SPILL_INFO))
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("root", "project", "id")):
        msg = f"{local.full(SPILL_INFO)}: not a ledger spill description (needs root, project, id)"
        raise CorruptFileError(msg)
    target = Storage(root or info["root"])
    run_folder = _format.run_dir(info["project"], info["id"])
    items = 0
    for stem, ext in STREAMS:
        name = f"{stem}.{ext}"
        if not local.exists(name):
            continue
        data = local.read_bytes(name)
        if target.can_append:
            target.append(f"{run_folder}/{name}", data, durable=True)
        else:
            n = len(_reader.stream_names(target, run_folder, stem, ext)) - 1
            used = {e.name for e in target.list_dir(run_folder)}
            while _format.segment_name(n, stem, ext) in used:
                n += 1
            target.write_atomic(f"{run_folder}/{_format.segment_name(n, stem, ext)}", data)
        local.remove(name)
        items += 1
    streams = {f"{stem}.{ext}" for stem, ext in STREAMS}
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
