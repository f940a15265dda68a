"""Reading runs back: manifests and streams (file plus segments). The query layer builds on this."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._errors import RefusedFileError
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


_READ_ATTEMPTS = 10  # a stream read again because a compaction changed it under the reader


def stream_chunks(
    storage: Storage, folder: str, stream: _format.StreamSpec, *, refused: list[str] | None = None
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files of a stream to read, in order, with their content; and the names of
    segments an interrupted compaction already merged into the main file (to skip).

    A compaction running at the same time (it writes the merged main file, then deletes the
    segments) can delete a segment this reader listed: the read then starts again from a
    new listing, so every record is seen exactly once. A file readers refuse (a symlink, a
    FIFO, over a limit) is left out and described in ``refused``.
    """
    chunks: list[tuple[str, bytes]] = []
    for _attempt in range(_READ_ATTEMPTS):
        names = stream_names(storage, folder, stream)
        chunks = []
        notes: list[str] = []
        vanished = False
        for name in names:
            try:
                chunks.append((name, storage.read_bytes(f"{folder}/{name}")))
            except FileNotFoundError:
                if name != stream.file:  # a listed segment is gone: a compaction merged it
                    vanished = True
                    break
            except RefusedFileError as exc:
                notes.append(f"{storage.full(f'{folder}/{name}')}: skipped ({exc.strerror})")
        if vanished:
            continue
        if refused is not None:
            refused.extend(notes)
        break
    if len(chunks) > 1 and chunks[0][0] == stream.file:
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
    for name, data in stream_chunks(storage, folder, spec, refused=out.corrupt)[0]:
        decoded = _format.decode_records(data, storage.full(f"{folder}/{name}"))
        out.records.extend(decoded.records)
        if decoded.torn is not None:
            out.torn.append(decoded.torn)
        out.corrupt.extend(decoded.corrupt)
    return out


_TAIL_BLOCK = 1 << 16


def read_tail(storage: Storage, folder: str, n: int, stem: str = "metrics") -> Stream:
    """The last ``n`` records of a record stream, read from the end of its last files: the
    memory and time it takes depend on ``n``, not on the run's length. (A run whose main file
    and segments both exist, after an interrupted compaction, is read whole.)"""
    spec = stream_spec(stem)
    if not spec.records:
        msg = f"{stem} is a text stream, not records"
        raise ValueError(msg)
    if n <= 0:
        return Stream()
    names = stream_names(storage, folder, spec)
    listed = {e.name for e in storage.list_dir(folder)}
    if spec.file in listed and len(names) > 1:
        whole = read_stream(storage, folder, stem)
        whole.records = whole.records[-n:]
        return whole
    out = Stream()
    parts: list[list[dict[str, Any]]] = []
    have = 0
    for name in reversed([name for name in names if name in listed]):
        rel = f"{folder}/{name}"
        try:
            records = _tail_of_file(storage, rel, n - have, out)
        except FileNotFoundError:  # a compaction merged it just now: read the stream whole
            whole = read_stream(storage, folder, stem)
            whole.records = whole.records[-n:]
            return whole
        except RefusedFileError as exc:
            out.corrupt.append(f"{storage.full(rel)}: skipped ({exc.strerror})")
            continue
        parts.append(records)
        have += len(records)
        if have >= n:
            break
    for records in reversed(parts):
        out.records.extend(records)
    out.records = out.records[-n:]
    return out


def _tail_of_file(storage: Storage, rel: str, n: int, out: Stream) -> list[dict[str, Any]]:
    """The last ``n`` records of one JSON-lines file, reading blocks backwards from its end."""
    size = storage.stat(rel).size
    pos, block, buf = size, _TAIL_BLOCK, b""
    while True:
        step = min(block, pos)
        pos -= step
        buf = storage.read_range(rel, pos, step) + buf
        complete = buf if pos == 0 else buf[buf.find(b"\n") + 1 :]  # the first line may be cut
        if pos == 0 or complete.count(b"\n") > n:
            decoded = _format.decode_records(complete, storage.full(rel))
            if len(decoded.records) >= n or pos == 0:
                if decoded.torn is not None:
                    out.torn.append(decoded.torn)
                out.corrupt.extend(decoded.corrupt)
                return decoded.records[-n:]
        block *= 2


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
