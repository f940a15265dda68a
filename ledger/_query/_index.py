"""The index of a ledger: every run manifest, parsed once and cached under ``<root>/.cache/``.

The cache maps each manifest's path to its version (size and mtime, or ETag) and its
parsed content. Opening a ledger lists the manifests with their versions (one scandir walk
locally, one recursive listing on object stores), takes unchanged ones from the cache, and
parses only what is new or changed. The cache is derived data: a cache that is missing,
corrupt, half-written or of another version is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format
from ledger._errors import CorruptFileError, FormatVersionError

if TYPE_CHECKING:
    from ledger._storage import Stat, Storage

log = logging.getLogger("ledger")

CACHE_PATH = f"{_format.CACHE_DIR}/index.json"
_CACHE_KIND = "ledger-index"
_CACHE_VERSION = 1
_NONFINITE = "$nonfinite"


@dataclass
class Indexed:
    """One run manifest as found in the tree: its path, version, and content or error."""

    path: str  # <project>/runs/<id>/run.yaml
    version: str
    doc: dict[str, Any] | None
    error: str | None = None


class _Exotic(Exception):  # noqa: N818 (internal signal, never escapes)
    """A manifest value JSON cannot carry exactly (a date, a non-text key): not cached."""


def _to_json_safe(value: Any) -> tuple[Any, bool]:
    """A JSON-exact copy (non-finite floats as markers) and whether a marker was needed."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        marked = False
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Exotic
            out[k], m = _to_json_safe(v)
            marked = marked or m
        return out, marked
    if isinstance(value, list):
        items = [_to_json_safe(v) for v in value]
        return [v for v, _ in items], any(m for _, m in items)
    if isinstance(value, float):
        if math.isfinite(value):
            return value, False
        return {_NONFINITE: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}, True
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise _Exotic  # orjson cannot write it
        return value, False
    raise _Exotic


_NONFINITE_VALUES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _from_json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _NONFINITE in value:
            return _NONFINITE_VALUES[value[_NONFINITE]]
        return {k: _from_json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json_safe(v) for v in value]
    return value


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
        _format.Manifest.from_dict(doc, where)  # validates format and schema
    except (CorruptFileError, FormatVersionError) as exc:
        return None, str(exc)
    if not isinstance(doc, dict):  # pragma: no cover (from_dict refuses it)
        return None, f"{where}: not a mapping"
    return doc, None


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


def load(storage: Storage, *, use_cache: bool = True, write_cache: bool = True) -> list[Indexed]:
    """Every run manifest under the root, parsing only what the cache does not hold."""
    found = manifests(storage)
    cache = _load_cache(storage) if use_cache else {}
    out: list[Indexed] = []
    stale: list[str] = []
    new_entries: dict[str, list[Any]] = {}
    for path, st in found.items():
        version = f"{st.size}:{st.version}"
        entry = cache.get(path)
        if entry is not None and isinstance(entry, list) and len(entry) == 4 and entry[0] == version:
            _v, doc, marked, error = entry
            if doc is not None or error is not None:
                if marked:
                    doc = _from_json_safe(doc)
                out.append(Indexed(path, version, doc, error))
                new_entries[path] = entry
                continue
        stale.append(path)
    if stale:
        contents = storage.read_many(stale)
        for path in stale:
            data = contents.get(path, FileNotFoundError(path))
            if isinstance(data, FileNotFoundError):
                continue  # removed since the listing
            version = f"{found[path].size}:{found[path].version}"
            doc, error = _parse(path, data, storage)
            out.append(Indexed(path, version, doc, error))
            new_entries[path] = _cache_entry(version, doc, error, data if isinstance(data, bytes) else b"")
    if write_cache and (stale or len(new_entries) != len(cache)):
        _save_cache(storage, new_entries)
    return out


# YAML spellings that load as non-finite floats (.nan, -.Inf; 1.0e+999 overflows to inf):
# JSON cannot carry them. A false alarm only costs a slower, still exact, path.
_NONFINITE_YAML = re.compile(rb"\.(?:[nN][aA][nN]|[iI][nN][fF])")
_HUGE_EXPONENT = re.compile(rb"[eE]\+\d{3,}")


def _may_hold_nonfinite(raw: bytes) -> bool:
    if _NONFINITE_YAML.search(raw) is not None:
        return True
    return (b"e+" in raw or b"E+" in raw) and _HUGE_EXPONENT.search(raw) is not None


def _refuse(_value: Any) -> Any:
    raise _Exotic


def _cache_entry(version: str, doc: dict[str, Any] | None, error: str | None, raw: bytes) -> list[Any]:
    """The cache entry of a freshly parsed manifest: its JSON as a fragment, serialised once."""
    if doc is None:
        return [version, None, False, error]
    try:
        if not _may_hold_nonfinite(raw):
            # Dates, non-text keys and huge ints make orjson refuse, so nothing cached is lossy.
            data = orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_DATETIME, default=_refuse)
            return [version, orjson.Fragment(data), False, None]
        safe, marked = _to_json_safe(doc)
        return [version, orjson.Fragment(orjson.dumps(safe)), marked, None]
    except (_Exotic, TypeError):
        return [version, None, False, None]  # parsed again at every open; rare


def _save_cache(storage: Storage, entries: dict[str, list[Any]]) -> None:
    data = orjson.dumps({"kind": _CACHE_KIND, "version": _CACHE_VERSION, "entries": entries})
    try:
        storage.write_atomic(CACHE_PATH, data)
    except OSError as exc:  # a read-only ledger (a published folder, a mount) still opens
        log.debug("ledger: index cache not written to %s: %s", storage.full(CACHE_PATH), exc)
