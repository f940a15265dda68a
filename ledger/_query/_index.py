"""The index of a ledger: every run manifest, parsed once and cached under ``<root>/.cache/``.

The cache maps each manifest's path to its version (size and mtime, or ETag) and its
parsed content. Opening a ledger lists the manifests with their versions (one scandir walk
locally, one recursive listing on object stores), takes unchanged ones from the cache, and
parses only what is new or changed. The cache is derived data: a cache that is missing,
corrupt, half-written or of another version is rebuilt, never trusted; an entry is taken
only if it passes the same checks as a freshly parsed manifest (else that manifest is
parsed again), so a forged cache can say no more than the manifests themselves.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format, _settings
from ledger._errors import CorruptFileError, FormatVersionError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from ledger._storage import Stat, Storage

log = logging.getLogger("ledger")

CACHE_PATH = f"{_format.CACHE_DIR}/index.json"
_CACHE_KIND = "ledger-index"
_CACHE_VERSION = 1


@dataclass
class Indexed:
    """One run manifest as found in the tree: its path, version, and content or error."""

    path: str  # <project>/runs/<id>/run.yaml
    version: str
    doc: dict[str, Any] | None
    error: str | None = None


def _load_cache(storage: Storage) -> dict[str, list[Any]]:
    try:
        data = storage.read_bytes(CACHE_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        log.warning("ledger: cannot read the index cache %s (%s); rebuilding it", storage.full(CACHE_PATH), exc)
        return {}
    try:
        doc = orjson.loads(data)
        if doc.get("kind") != _CACHE_KIND or doc.get("version") != _CACHE_VERSION:
            return {}
        entries = doc["entries"]
        if not isinstance(entries, dict):
            return {}
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        log.warning("ledger: the index cache %s is corrupt; rebuilding it", storage.full(CACHE_PATH))
        return {}
    return entries


def _parse(path: str, data: bytes | Exception, storage: Storage) -> tuple[dict[str, Any] | None, str | None]:
    where = storage.full(path)
    if isinstance(data, Exception):
        return None, f"{where}: cannot be read ({data})"
    try:
        doc = _format.yaml_load(data, where)
        _format.check_manifest(doc, where)
        _check_place(doc, path, where)
    except (CorruptFileError, FormatVersionError) as exc:
        return None, str(exc)
    return doc, None


def _check_place(doc: dict[str, Any], path: str, where: str) -> None:
    """A manifest names its own folder: ``id`` is the folder's name, ``project`` the one above
    (else a reader would take another run's files for its own)."""
    project, _runs, run_id = path.split("/")[:3]
    if doc.get("id") != run_id or doc.get("project") != project:
        msg = (
            f"{where}: id {doc.get('id')!r} and project {doc.get('project')!r} do not match its folder "
            f"{project}/{run_id}"
        )
        raise CorruptFileError(msg)


def _cached_ok(path: str, doc: Any, error: Any, depth: int) -> bool:
    """Whether a cache entry's content has the shape a fresh parse gives (the cache is not trusted)."""
    if doc is None:
        return isinstance(error, str)
    if type(doc) is not dict or _format.too_deep(doc, depth):
        return False
    try:
        _format.check_manifest(doc, path)
        _check_place(doc, path, path)
    except (CorruptFileError, FormatVersionError):
        return False
    return True


def manifests(storage: Storage) -> dict[str, Stat]:
    """Every run manifest's path (``<project>/runs/<id>/run.yaml``) with its version."""
    return {
        path: st for path, st in storage.find(_format.MANIFEST, 3).items() if path.split("/")[1] == _format.RUNS_DIR
    }


def state(storage: Storage) -> str:
    """A short token of the manifests under the root (paths, sizes, versions): it changes
    when a run is added, removed or its manifest rewritten (at every heartbeat while running)."""
    digest = hashlib.blake2b(digest_size=12)
    for path, st in sorted(manifests(storage).items()):
        digest.update(f"{path}\0{st.size}\0{st.version}\n".encode())
    return digest.hexdigest()


_BATCH = 500  # manifests read and parsed between two progress reports


def load(
    storage: Storage,
    *,
    use_cache: bool = True,
    write_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[Indexed]:
    """Every run manifest under the root, parsing only what the cache does not hold. A root
    that cannot be listed (a publication over HTTP) is read from its ``index.json``.
    ``progress(done, total)`` is called as manifests are read (total: all manifests)."""
    if not storage.caps.lists:
        depth = _settings.get(_settings.MAX_DEPTH)
        out_: list[Indexed] = []
        for d in read_publication(storage):
            path = f"{_format.run_dir(d['project'], d['id'])}/{_format.MANIFEST}"
            ok = _cached_ok(path, d, None, depth)
            out_.append(Indexed(path, "", d if ok else None, None if ok else f"{storage.full(path)}: malformed"))
        return out_
    found = manifests(storage)
    cache = _load_cache(storage) if use_cache else {}
    out: list[Indexed] = []
    stale: list[str] = []
    new_entries: dict[str, list[Any]] = {}
    depth = _settings.get(_settings.MAX_DEPTH)
    for path, st in found.items():
        version = f"{st.size}:{st.version}"
        entry = cache.get(path)
        if entry is not None and isinstance(entry, list) and len(entry) == 4 and entry[0] == version:
            _v, doc, marked, error = entry
            if doc is not None or error is not None:
                if marked:
                    doc = _format.manifest_from_json(doc)
                if _cached_ok(path, doc, error, depth):
                    out.append(Indexed(path, version, doc, error))
                    new_entries[path] = entry
                    continue
        stale.append(path)
    if progress is not None:
        progress(len(out), len(found))
    for item, raw in _read(storage, found, stale, progress, len(out)):
        out.append(item)
        new_entries[item.path] = _cache_entry(item.version, item.doc, item.error, raw)
    if write_cache and (stale or len(new_entries) != len(cache)):
        _save_cache(storage, new_entries)
    return out


def refresh(storage: Storage, known: Mapping[str, Indexed]) -> list[Indexed]:
    """Every run manifest under the root as it is now: the entries of ``known`` whose version
    (size and mtime, or ETag) is unchanged are returned as they are (the same objects); only
    new and changed manifests are read. The cache on disk is left alone."""
    found = manifests(storage)
    out: list[Indexed] = []
    stale: list[str] = []
    for path, st in found.items():
        entry = known.get(path)
        if entry is not None and entry.version == f"{st.size}:{st.version}":
            out.append(entry)
        else:
            stale.append(path)
    out += [item for item, _raw in _read(storage, found, stale, None, 0)]
    return out


def _read(
    storage: Storage,
    found: Mapping[str, Stat],
    stale: list[str],
    progress: Callable[[int, int], None] | None,
    done: int,
) -> Iterator[tuple[Indexed, bytes]]:
    """Read and parse ``stale`` manifests in batches, reporting progress after each; one over
    the YAML size limit is refused unread (never read whole)."""
    limit = _settings.get(_settings.MAX_YAML_BYTES)
    for start in range(0, len(stale), _BATCH):
        batch = stale[start : start + _BATCH]
        contents = storage.read_many([p for p in batch if found[p].size <= limit])
        for path in batch:
            if found[path].size > limit:
                refused = (
                    f"{storage.full(path)}: {found[path].size} bytes, over the limit of {limit} bytes for a "
                    f"YAML file (${_settings.MAX_YAML_BYTES.name}); not read"
                )
                yield Indexed(path, f"{found[path].size}:{found[path].version}", None, refused), b""
                continue
            data = contents.get(path, FileNotFoundError(path))
            if isinstance(data, FileNotFoundError):
                continue  # removed since the listing
            version = f"{found[path].size}:{found[path].version}"
            doc, error = _parse(path, data, storage)
            yield Indexed(path, version, doc, error), data if isinstance(data, bytes) else b""
        if progress is not None:
            progress(done + start + len(batch), done + len(stale))


# YAML spellings that load as non-finite floats (.nan, -.Inf; 1.0e+999 overflows to inf):
# JSON cannot carry them. A false alarm only costs a slower, still exact, path.
_NONFINITE_YAML = re.compile(rb"\.(?:[nN][aA][nN]|[iI][nN][fF])")
_HUGE_EXPONENT = re.compile(rb"[eE]\+\d{3,}")


def _may_hold_nonfinite(raw: bytes) -> bool:
    if _NONFINITE_YAML.search(raw) is not None:
        return True
    return (b"e+" in raw or b"E+" in raw) and _HUGE_EXPONENT.search(raw) is not None


def _refuse(_value: Any) -> Any:
    raise _format.NotJsonExact


def _cache_entry(version: str, doc: dict[str, Any] | None, error: str | None, raw: bytes) -> list[Any]:
    """The cache entry of a freshly parsed manifest: its JSON as a fragment, serialised once."""
    if doc is None:
        return [version, None, False, error]
    try:
        if not _may_hold_nonfinite(raw):
            # Dates, non-text keys and huge ints make orjson refuse, so nothing cached is lossy.
            data = orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_DATETIME, default=_refuse)
            return [version, orjson.Fragment(data), False, None]
        safe, marked = _format.manifest_to_json(doc)
        return [version, orjson.Fragment(orjson.dumps(safe)), marked, None]
    except (_format.NotJsonExact, TypeError):
        return [version, None, False, None]  # parsed again at every open; rare


def _save_cache(storage: Storage, entries: dict[str, list[Any]]) -> None:
    data = orjson.dumps({"kind": _CACHE_KIND, "version": _CACHE_VERSION, "entries": entries})
    try:
        storage.write_atomic(CACHE_PATH, data)
    except OSError as exc:  # a read-only ledger (a published folder, a mount) still opens
        log.debug("ledger: index cache not written to %s: %s", storage.full(CACHE_PATH), exc)


# ---- publications -------------------------------------------------------------------------------


def read_publication(storage: Storage) -> list[dict[str, Any]]:
    """The manifests of a publication, from its index.json; every name in it is checked, so
    an index cannot point outside the root. Where the storage cannot list folders, it is
    told what the publication holds."""
    where = storage.full(_format.PUBLICATION_INDEX)
    try:
        doc = orjson.loads(storage.read_bytes(_format.PUBLICATION_INDEX))
    except orjson.JSONDecodeError as exc:
        msg = f"{where}: not valid JSON ({exc})"
        raise CorruptFileError(msg) from exc
    kind = _format.PUBLICATION_KIND
    if not isinstance(doc, dict) or doc.get("kind") != kind or not isinstance(doc.get("runs"), list):
        msg = f"{where}: not a ledger publication index (expected kind {kind!r} and a runs list)"
        raise CorruptFileError(msg)
    if doc.get("format") != _format.FORMAT_VERSION:
        raise FormatVersionError(where, doc.get("format"), _format.FORMAT_VERSION)
    listing: dict[str, int] = {_format.ROOT_MARKER: 0, _format.PUBLICATION_INDEX: 0}
    manifests_ = []
    for i, entry in enumerate(doc["runs"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            msg = f"{where}: runs[{i}] is not a run entry"
            raise CorruptFileError(msg)
        folder = _format.run_dir(entry.get("project"), entry.get("id"))  # type: ignore[arg-type]
        for name, size in entry["files"].items():
            listing[f"{folder}/{_format.check_relative_file(str(name))}"] = int(size)
        manifest = entry.get("manifest")
        if (
            not isinstance(manifest, dict)
            or manifest.get("id") != entry["id"]
            or manifest.get("project") != entry["project"]
        ):
            msg = f"{where}: runs[{i}] has no manifest of run {entry.get('id')!r}"
            raise CorruptFileError(msg)
        manifests_.append(_format.manifest_from_json(manifest) if entry.get("marked") else manifest)
    extra = doc.get("artifacts") or {}
    if not isinstance(extra, dict):
        msg = f"{where}: 'artifacts' must map paths to sizes"
        raise CorruptFileError(msg)
    for path, size in extra.items():
        parts = str(path).split("/")
        if len(parts) < 3 or parts[1] != _format.ARTIFACTS_DIR or not isinstance(size, int):
            msg = f"{where}: artifacts entry {path!r} is not a file of a project's artifacts/"
            raise CorruptFileError(msg)
        _format.check_name("project", parts[0])
        listing[f"{parts[0]}/{_format.ARTIFACTS_DIR}/{_format.check_relative_file('/'.join(parts[2:]))}"] = size
    storage.preset_listing(listing)
    return manifests_
