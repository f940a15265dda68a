"""Reading runs back: manifests and streams (file plus segments). The query layer builds on this."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
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


def stream_spec(stem: str) -> _format.StreamSpec:
    """The stream called ``stem`` (metrics, system, output); ValueError for any other name."""
    for spec in _format.STREAMS:
        if spec.stem == stem:
            return spec
    names = ", ".join(s.stem for s in _format.STREAMS)
    msg = f"stream must be one of {names}, got {stem!r}"
    raise ValueError(msg)


def stream_names(storage: Storage, folder: str, stream: _format.StreamSpec) -> list[str]:
    """The files of one stream in read order: ``<stem>.<ext>``, then its segments by number.

    The main file is listed even if absent (readers skip a missing one)."""
    segments = sorted(
        (n, e.name)
        for e in storage.list_dir(folder)
        if (n := _format.segment_number(e.name, stream.stem, stream.ext)) is not None
    )
    return [stream.file, *(name for _n, name in segments)]


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


def stream_chunks(
    storage: Storage, folder: str, stream: _format.StreamSpec
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files of a stream to read, in order, with their content; and the names of
    segments an interrupted compaction already merged into the main file (to skip)."""
    names = stream_names(storage, folder, stream)
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
    """The records of a record stream (``metrics`` or ``system``): ``<stem>.jsonl`` then its
    segments ``<stem>.<n>.jsonl`` in numeric order."""
    spec = stream_spec(stem)
    if not spec.records:
        msg = f"{stem} is a text stream, not records"
        raise ValueError(msg)
    out = Stream()
    for name, data in stream_chunks(storage, folder, spec)[0]:
        decoded = _format.decode_records(data, storage.full(f"{folder}/{name}"))
        out.records.extend(decoded.records)
        if decoded.torn is not None:
            out.torn.append(decoded.torn)
        out.corrupt.extend(decoded.corrupt)
    return out


def read_text(storage: Storage, folder: str, stem: str = "output") -> str:
    """A text stream (``output``) with its segments, as text ('' if the run has none)."""
    chunks, _merged = stream_chunks(storage, folder, stream_spec(stem))
    return "".join(data.decode("utf-8", errors="replace") for _name, data in chunks)


def last_time(storage: Storage, folder: str) -> float | None:
    """The latest ``_time`` among the last records of a run's record streams (metrics,
    system): the last sign of life its files show. Only each stream's last file is read."""
    latest: float | None = None
    for spec in _format.STREAMS:
        if not spec.records:
            continue
        for name in reversed(stream_names(storage, folder, spec)):
            try:
                data = storage.read_bytes(f"{folder}/{name}")
            except FileNotFoundError:
                continue
            for line in reversed(data.rstrip(b"\n").split(b"\n")[-3:]):  # the last whole one (a torn one first)
                rec = _format.decode_records(line + b"\n", name).records
                stamp = rec[0].get(_format.TIME) if rec else None
                if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
                    latest = float(stamp) if latest is None else max(latest, float(stamp))
                    break
            break
    return latest


def read_manifest(storage: Storage, project: str, run_id: str) -> Manifest:
    """The parsed run.yaml of a run (FileNotFoundError if absent, CorruptFileError if malformed)."""
    path = f"{_format.run_dir(project, run_id)}/{_format.MANIFEST}"
    return Manifest.from_yaml(storage.read_bytes(path), storage.full(path))
