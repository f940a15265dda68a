"""Storage usage: what takes space in a ledger, and a run's budget for media and files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ledger._storage import Storage

KINDS = ("metrics", "system", "media", "files", "patches", "logs", "manifests", "other")
BY = ("project", "group", "run", "kind")
DEFAULT_BUDGET_MB = 100.0


def kind_of(path: str) -> str:
    """The kind of a file by its path inside a run folder."""
    head = path.split("/", 1)[0]
    if head == "media":
        return "media"
    if head == _format.FILES_DIR:
        return "files"
    for stem, ext, kind in (("metrics", "jsonl", "metrics"), ("system", "jsonl", "system"), ("output", "log", "logs")):
        if path == f"{stem}.{ext}" or _format.segment_number(path, stem, ext) is not None:
            return kind
    return {_format.PATCH: "patches", _format.MANIFEST: "manifests"}.get(path, "other")


@dataclass
class Bucket:
    """Bytes and files of one key (a project, group, run or kind)."""

    key: Any
    bytes: int = 0
    files: int = 0
    runs: set[str] = field(default_factory=set)


def usage(storage: Storage, groups: dict[tuple[str, str], Any], by: str) -> list[Bucket]:
    """Bytes and files per ``by`` (project, group, run or kind), largest first. ``groups``
    maps (project, run id) to the run's group, for ``by="group"``."""
    if by not in BY:
        msg = f"by must be one of {', '.join(BY)}, got {by!r}"
        raise ValueError(msg)
    buckets: dict[Any, Bucket] = {}
    for path, size in storage.files_under("").items():
        parts = path.split("/", 3)
        if len(parts) < 4 or parts[1] != _format.RUNS_DIR or parts[0].startswith("."):
            continue
        project, run_id, inner = parts[0], parts[2], parts[3]
        key = {
            "project": project,
            "group": groups.get((project, run_id)),
            "run": run_id,
            "kind": kind_of(inner),
        }[by]
        bucket = buckets.setdefault(key, Bucket(key))
        bucket.bytes += size
        bucket.files += 1
        bucket.runs.add(f"{project}/{run_id}")
    return sorted(buckets.values(), key=lambda b: (-b.bytes, str(b.key)))


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def budget_bytes() -> float:
    """$LEDGER_MEDIA_BUDGET_MB (default 100) in bytes."""
    value = os.environ.get("LEDGER_MEDIA_BUDGET_MB")
    try:
        return float(value) * 2**20 if value else DEFAULT_BUDGET_MB * 2**20
    except ValueError:
        return DEFAULT_BUDGET_MB * 2**20


def budget_warning(run_id: str, sizes: Iterable[tuple[str, int]], budget: float) -> str | None:
    """The warning for a run whose media and saved files exceed ``budget`` bytes, or None."""
    items = sorted(sizes, key=lambda item: -item[1])
    total = sum(size for _, size in items)
    if total <= budget:
        return None
    largest = ", ".join(f"{path} ({human(size)})" for path, size in items[:5])
    exts = sorted({path.rsplit(".", 1)[-1] for path, _ in items[:5] if "." in path.rsplit("/", 1)[-1]})
    lines = "\n".join(f"  **/runs/*/**/*.{ext} filter=lfs diff=lfs merge=lfs -text" for ext in exts)
    return (
        f"ledger: run {run_id} holds {human(total)} of media and files, over its budget of {human(budget)} "
        f"($LEDGER_MEDIA_BUDGET_MB); largest: {largest}. Keep them out of plain git with Git LFS, "
        f"e.g. these .gitattributes lines:\n{lines}"
    )
