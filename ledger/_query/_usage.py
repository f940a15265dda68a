"""Storage usage: what takes space in a ledger, by project, group, run or kind of file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._units import human_bytes as human

if TYPE_CHECKING:
    from ledger._storage import Storage

__all__ = ["BY", "KINDS", "Bucket", "human", "kind_of", "usage"]

KINDS = ("metrics", "system", "media", "files", "patches", "logs", "manifests", "other")
BY = ("project", "group", "run", "kind")


def kind_of(path: str) -> str:
    """The kind of a file by its path inside a run folder."""
    head = path.split("/", 1)[0]
    if head == _format.MEDIA_DIR:
        return "media"
    if head == _format.FILES_DIR:
        return "files"
    for stream in _format.STREAMS:
        if path == stream.file or _format.segment_number(path, stream.stem, stream.ext) is not None:
            return _STREAM_KINDS[stream.stem]
    return {_format.PATCH: "patches", _format.MANIFEST: "manifests"}.get(path, "other")


_STREAM_KINDS = {"metrics": "metrics", "system": "system", "output": "logs"}


@dataclass
class Bucket:
    """Bytes and files of one key (a project, group, run or kind)."""

    key: Any
    bytes: int = 0
    files: int = 0
    runs: set[str] = field(default_factory=set)


def usage(storage: Storage, groups: dict[tuple[str, str], Any], by: str, project: str | None = None) -> list[Bucket]:
    """Bytes and files per ``by`` (project, group, run or kind), largest first, of every
    project or one. ``groups`` maps (project, run id) to the run's group, for ``by="group"``."""
    if by not in BY:
        msg = f"by must be one of {', '.join(BY)}, got {by!r}"
        raise ValueError(msg)
    buckets: dict[Any, Bucket] = {}
    for path, size in storage.files_under("").items():
        parts = path.split("/", 3)
        if len(parts) < 4 or parts[1] != _format.RUNS_DIR or parts[0].startswith("."):
            continue
        if project is not None and parts[0] != project:
            continue
        run_project, run_id, inner = parts[0], parts[2], parts[3]
        key = {
            "project": run_project,
            "group": groups.get((run_project, run_id)),
            "run": run_id,
            "kind": kind_of(inner),
        }[by]
        bucket = buckets.setdefault(key, Bucket(key))
        bucket.bytes += size
        bucket.files += 1
        bucket.runs.add(f"{run_project}/{run_id}")
    return sorted(buckets.values(), key=lambda b: (-b.bytes, str(b.key)))
