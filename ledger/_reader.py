"""Reading runs back: manifests and streams (file plus segments). The query layer builds on this."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._errors import CorruptFileError, FormatVersionError, RunNotFoundError
from ledger._format import Manifest

if TYPE_CHECKING:
    from ledger._storage import Storage

log = logging.getLogger("ledger")


@dataclass
class Stream:
    """Every record of one stream of a run, in write order, and what was skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def stream_names(storage: Storage, folder: str, stem: str, ext: str) -> list[str]:
    """The files of one stream in read order: ``<stem>.<ext>``, then its segments by number.

    The main file is listed even if absent (readers skip a missing one)."""
    segments = sorted(
        (n, e.name) for e in storage.list_dir(folder) if (n := _format.segment_number(e.name, stem, ext)) is not None
    )
    return [f"{stem}.{ext}", *(name for _n, name in segments)]


def merged_segments(main: bytes, segments: list[bytes]) -> int:
    """How many of the leading segments are already inside ``main``.

    Compaction writes ``main`` = old main + every segment, then deletes the segments in
    order; if it is interrupted, the segments left are a run of what ``main`` ends with.
    """
    if not main or not segments:
        return 0
    for k in range(len(segments), 0, -1):
        if main.endswith(b"".join(segments[:k])):
            return k
    return 0


def stream_chunks(storage: Storage, folder: str, stem: str, ext: str) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files of a stream to read, in order, with their content; and the names of
    segments an interrupted compaction already merged into the main file (to skip)."""
    names = stream_names(storage, folder, stem, ext)
    chunks: list[tuple[str, bytes]] = []
    for name in names:
        try:
            chunks.append((name, storage.read_bytes(f"{folder}/{name}")))
        except FileNotFoundError:
            continue
    if len(chunks) > 1 and chunks[0][0] == names[0]:
        skip = merged_segments(chunks[0][1], [data for _name, data in chunks[1:]])
        if skip:
            return chunks[:1] + chunks[1 + skip :], [name for name, _ in chunks[1 : 1 + skip]]
    return chunks, []


def read_stream(storage: Storage, folder: str, stem: str = "metrics") -> Stream:
    """``<stem>.jsonl`` then its segments ``<stem>.<n>.jsonl`` in numeric order."""
    out = Stream()
    for name, data in stream_chunks(storage, folder, stem, "jsonl")[0]:
        decoded = _format.decode_records(data, storage.full(f"{folder}/{name}"))
        out.records.extend(decoded.records)
        if decoded.torn is not None:
            out.torn.append(decoded.torn)
        out.corrupt.extend(decoded.corrupt)
    return out


def read_manifest(storage: Storage, project: str, run_id: str) -> Manifest:
    path = f"{_format.run_dir(project, run_id)}/{_format.MANIFEST}"
    return Manifest.from_yaml(storage.read_bytes(path), storage.full(path))


def projects(storage: Storage) -> list[str]:
    """Project folders under the root (those with a runs/ folder)."""
    return [
        e.name
        for e in storage.list_dir("")
        if e.is_dir and not e.name.startswith(".") and storage.exists(_format.runs_dir(e.name))
    ]


def list_runs(storage: Storage, project: str | None = None) -> list[Manifest]:
    """Every readable run manifest under the root (or one project), oldest first.

    A manifest that cannot be read is skipped with a warning naming it.
    """
    out: list[Manifest] = []
    for p in [project] if project is not None else projects(storage):
        for entry in storage.list_dir(_format.runs_dir(p)):
            if not entry.is_dir:
                continue
            try:
                out.append(read_manifest(storage, p, entry.name))
            except FileNotFoundError:
                continue  # a run folder being created right now
            except (CorruptFileError, FormatVersionError) as exc:
                log.warning("ledger: skipped %s", exc)
    out.sort(key=lambda m: (m.created, m.id))
    return out


def find_run(storage: Storage, id_or_prefix: str, project: str | None = None) -> Manifest:
    """The run with this id, or the one run whose id starts with this prefix.

    Raises RunNotFoundError when none matches or the prefix is ambiguous (naming the matches).
    """
    _format.check_name("run id", id_or_prefix)
    names = [project] if project is not None else projects(storage)
    for p in names:
        try:
            return read_manifest(storage, p, id_or_prefix)
        except FileNotFoundError:
            continue
    matches = [
        (p, e.name)
        for p in names
        for e in storage.list_dir(_format.runs_dir(p))
        if e.is_dir and e.name.startswith(id_or_prefix)
    ]
    if len(matches) == 1:
        return read_manifest(storage, *matches[0])
    if not matches:
        where = f"project {project!r}" if project is not None else f"{len(names)} project(s)"
        msg = f"no run {id_or_prefix!r} under {storage.url} (looked in {where})"
    else:
        shown = ", ".join(name for _p, name in matches[:5]) + (" ..." if len(matches) > 5 else "")
        msg = f"run id prefix {id_or_prefix!r} is ambiguous: {len(matches)} runs match ({shown}); give more characters"
    raise RunNotFoundError(msg)
