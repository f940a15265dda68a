"""Storage usage: what takes space in a ledger, by project, group, run or kind of file, what
artifacts' deduplication saved, and the root against its quota."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format, _root
from ledger._errors import CorruptFileError, FormatVersionError
from ledger._units import human_bytes as human

if TYPE_CHECKING:
    from ledger._storage import Storage

__all__ = ["BY", "KINDS", "Bucket", "human", "kind_of", "listing", "summary", "usage"]

KINDS = ("metrics", "system", "media", "files", "patches", "logs", "manifests", "artifacts", "other")
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


def listing(storage: Storage) -> dict[str, int]:
    """Every file under the root with its size, the derived ``.cache/`` left out."""
    cache = f"{_format.CACHE_DIR}/"
    return {path: size for path, size in storage.files_under("").items() if not path.startswith(cache)}


def usage(
    storage: Storage,
    groups: dict[tuple[str, str], Any],
    by: str,
    project: str | None = None,
    files: dict[str, int] | None = None,
) -> list[Bucket]:
    """Bytes and files per ``by`` (project, group, run or kind), largest first, of every
    project or one. ``groups`` maps (project, run id) to the run's group, for ``by="group"``.
    Artifacts (versions and blobs, which belong to no run) count in their project and as the
    kind ``artifacts``; ``files`` is :func:`listing`, when the caller already has it."""
    if by not in BY:
        msg = f"by must be one of {', '.join(BY)}, got {by!r}"
        raise ValueError(msg)
    buckets: dict[Any, Bucket] = {}
    for path, size in (files if files is not None else listing(storage)).items():
        parts = path.split("/", 3)
        if parts[0].startswith(".") or (project is not None and parts[0] != project):
            continue
        if len(parts) >= 3 and parts[1] == _format.ARTIFACTS_DIR:
            if by not in ("project", "kind"):
                continue
            bucket = buckets.setdefault(
                parts[0] if by == "project" else "artifacts", Bucket(parts[0] if by == "project" else "artifacts")
            )
            bucket.bytes += size
            bucket.files += 1
            continue
        if len(parts) < 4 or parts[1] != _format.RUNS_DIR:
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


def summary(storage: Storage, files: dict[str, int] | None = None) -> dict[str, Any]:
    """The root as a whole: ``used_bytes`` (every file, ``.cache/`` left out) and
    ``quota_bytes`` (None without a quota); its artifacts: ``versions`` and what their files
    add up to (``version_bytes``), the ``blobs`` stored and their bytes (``blob_bytes``), what
    deduplication saved (``dedup_saved_bytes``: the versions' bytes minus those of the blobs
    they name) and ``unreferenced_blobs`` (blobs no version names: a writer that died between
    its blobs and its version)."""
    files = files if files is not None else listing(storage)
    blob_sizes: dict[str, int] = {}
    version_paths = []
    for path, size in files.items():
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != _format.ARTIFACTS_DIR:
            continue
        if len(parts) == 5 and parts[2] == _format.ARTIFACT_BLOBS and _format.is_sha256(parts[4]):
            blob_sizes[f"{parts[0]}/{parts[4]}"] = size
        elif len(parts) == 4 and _format.version_of_file(parts[3]) is not None:
            version_paths.append(path)
    version_bytes = 0
    named: dict[str, int] = {}
    versions = 0
    for path, data in storage.read_many(version_paths).items():
        if isinstance(data, Exception):
            continue
        try:
            manifest = _format.VersionManifest.from_yaml(data, storage.full(path))
        except (CorruptFileError, FormatVersionError):
            continue
        versions += 1
        version_bytes += manifest.size
        for f in manifest.files:
            named[f"{path.split('/', 1)[0]}/{f.sha256}"] = f.size
    stored_named = sum(size for key, size in blob_sizes.items() if key in named)
    return {
        "used_bytes": sum(files.values()),
        "quota_bytes": _root.quota_bytes(storage),
        "versions": versions,
        "version_bytes": version_bytes,
        "blobs": len(blob_sizes),
        "blob_bytes": sum(blob_sizes.values()),
        "dedup_saved_bytes": max(0, version_bytes - stored_named),
        "unreferenced_blobs": sum(1 for key in blob_sizes if key not in named),
    }
