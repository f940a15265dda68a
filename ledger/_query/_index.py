"""The index of a ledger: every run manifest, parsed once and cached under ``<root>/.cache/index/``.

Opening a ledger lists the manifests with their versions (one scandir walk locally, one
recursive listing on object stores), takes unchanged ones from the cache, and parses only
what is new or changed: a cold build parses on all cores (a process pool, where the files
are local and there are enough of them), an object store's manifests are fetched by threads.

The cache is an append-only log of immutable files, so that one new run costs one small
file, not a rewrite of every entry: ``base-<generation>.jsonl`` (every entry as of its last
compaction) and ``seg-<time>-<random>.jsonl`` files (entries parsed since, each created
whole and never changed; a later one wins). Every line is ``<crc32 hex> <json>``, so a torn
or edited line is dropped alone; a file whose first line is not this version's header is
ignored. Writers never touch another's file, so two processes updating the cache at once
lose nothing; compaction writes the next generation's base with an exclusive create (of two
compactors one wins, the other leaves the segments for the next) and only then removes the
files it merged.

Each entry holds the manifest's version (size and mtime, or ETag), its parsed content and
its row of table columns (the flattened values :meth:`RunSet.to_pandas` builds its frame
from, column by column; the keys of a row are stored once per shape). The cache is derived
data, never trusted: an entry is taken only if its manifest passes the same checks as a
freshly parsed one (else that manifest is parsed again), so a forged cache can say no more
than the manifests themselves; an entry over :data:`_ENTRY_LIMIT` bytes is not cached, so a
bad manifest cannot grow it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import re
import secrets
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format, _settings
from ledger._errors import CorruptFileError, FormatVersionError
from ledger._query._runset import doc_row

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from ledger._storage import Listing, Stat, Storage

log = logging.getLogger("ledger")

CACHE_FOLDER = f"{_format.CACHE_DIR}/index"
_HEADER = orjson.dumps({"kind": "ledger-index", "version": 2})
_BASE = re.compile(r"base-(\d{12})\.jsonl")
_SEGMENT = re.compile(r"seg-\d{20}-[0-9a-f]{16}\.jsonl")
_ENTRY_LIMIT = 2**20  # bytes of one entry's JSON; a larger manifest is parsed at every open instead
_MAX_SEGMENTS = 256  # segments before a compaction, whatever they hold
_COMPACT_MIN = 500  # runs whose newest entry is in a segment before a compaction (or 1/8 of all)
_POOL_MIN = 2000  # manifests to parse before a process pool pays for itself
_BATCH = 500  # manifests read and parsed between two progress reports

Flat = tuple[tuple[str, ...], list[Any]]


@dataclass
class Indexed:
    """One run manifest as found in the tree: its path, version, and content or error;
    ``flat``: its table row (column names, values), where the index holds one."""

    path: str  # <project>/runs/<id>/run.yaml
    version: str
    doc: dict[str, Any] | None
    error: str | None = None
    flat: Flat | None = None


@dataclass
class Snapshot:
    """The index as one listing of the tree found it: each manifest's entry by path, and the
    listing (path -> Stat) against which the next one is compared."""

    entries: dict[str, Indexed]
    listing: Mapping[str, Stat]
    ranked: Any = None  # the listing's marks, sorted, once an update has sorted them


# ---- the cache files ------------------------------------------------------------------------------


def _line(payload: bytes) -> bytes:
    return b"%08x %b\n" % (zlib.crc32(payload), payload)


def _payloads(data: bytes) -> list[bytes] | None:
    """The checked payloads of a cache file after its header; None if it is not one of this
    version. Lines whose checksum fails (torn, edited) are dropped, and so is an unterminated
    last line."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn line
    if not lines or lines[0][9:] != _HEADER or not _checked(lines[0]):
        return None
    return [line[9:] for line in lines[1:] if _checked(line)]


def _checked(line: bytes) -> bool:
    if len(line) < 10 or line[8:9] != b" ":
        return False
    try:
        return int(line[:8], 16) == zlib.crc32(line[9:])
    except ValueError:
        return False


@dataclass
class _Cache:
    """What the cache files hold: the newest entry of each path (decoded, with its JSON), the
    row shapes, and the files read (for compaction)."""

    entries: dict[str, tuple[list[Any], bytes]]
    shapes: dict[str, tuple[tuple[str, ...], bytes]]
    generation: int
    base: str | None
    segments: list[str]
    segment_paths: set[str]


def _empty() -> _Cache:
    return _Cache({}, {}, 0, None, [], set())


def _load_cache(storage: Storage) -> _Cache:
    for _attempt in range(3):  # a compaction may remove what was just listed: list again
        names = [e.name for e in storage.list_dir(CACHE_FOLDER) if not e.is_dir]
        bases = sorted((int(m.group(1)), n) for n in names if (m := _BASE.fullmatch(n)))
        segments = sorted(n for n in names if _SEGMENT.fullmatch(n))
        files = ([bases[-1][1]] if bases else []) + segments
        try:
            contents = storage.read_many([f"{CACHE_FOLDER}/{n}" for n in files])
        except OSError as exc:
            log.warning("ledger: cannot read the index cache %s (%s); rebuilding it", storage.full(CACHE_FOLDER), exc)
            return _empty()
        if not any(isinstance(c, FileNotFoundError) for c in contents.values()):
            break
    cache = _Cache({}, {}, bases[-1][0] if bases else 0, bases[-1][1] if bases else None, segments, set())
    for name in files:
        data = contents.get(f"{CACHE_FOLDER}/{name}")
        if not isinstance(data, bytes):
            if data is not None:
                log.warning("ledger: cannot read %s (%s)", storage.full(f"{CACHE_FOLDER}/{name}"), data)
            continue
        payloads = _payloads(data)
        if payloads is None:
            log.warning("ledger: %s is not an index cache file of this version; ignored", storage.full(name))
            continue
        for payload, item in zip(payloads, _decode(payloads), strict=True):
            if type(item) is not list or not item:
                continue
            if item[0] == "s" and len(item) == 3 and isinstance(item[1], str) and _keys_ok(item[1], item[2]):
                cache.shapes[item[1]] = (_SHAPE_KEYS.setdefault(item[1], tuple(item[2])), payload)
            elif item[0] == "e" and len(item) == 8 and isinstance(item[1], str):
                cache.entries[item[1]] = (item, payload)
                if name != cache.base:
                    cache.segment_paths.add(item[1])
    return cache


def _decode(payloads: list[bytes]) -> list[Any]:
    """Every payload's JSON, in one call where all are valid (a forged line is decoded alone)."""
    try:
        out: list[Any] = orjson.loads(b"[" + b",".join(payloads) + b"]")
    except orjson.JSONDecodeError:
        out = []
        for payload in payloads:
            try:
                out.append(orjson.loads(payload))
            except orjson.JSONDecodeError:
                out.append(None)
    return out


def _keys_ok(shape: str, keys: Any) -> bool:
    """Whether a shape line is what :func:`_shape` makes: text keys, its id their hash."""
    return type(keys) is list and all(type(k) is str for k in keys) and _shape_id(keys) == shape


def _shape_id(keys: Any) -> str:
    return hashlib.blake2b("\0".join(keys).encode(), digest_size=8).hexdigest()


def _write(storage: Storage, name: str, lines: list[bytes]) -> None:
    storage.create_exclusive(f"{CACHE_FOLDER}/{name}", b"".join([_line(_HEADER), *lines]))


def _segment_name() -> str:
    return f"seg-{time.time_ns():020d}-{secrets.token_hex(8)}.jsonl"


def _save(
    storage: Storage,
    cache: _Cache,
    fresh: dict[str, tuple[bytes, str | None]],
    kept: list[str],
) -> None:
    """Write the ``fresh`` entries (path -> (payload, shape id)) as one new segment, or compact
    when the segments hold enough (``kept``: the cached paths still current)."""
    shapes = {**{k: p for k, (_keys, p) in cache.shapes.items()}, **_FRESH_SHAPES}
    try:
        if cache.base is None and not cache.segments:
            if fresh:
                _write(storage, f"base-{1:012d}.jsonl", _lines(fresh.values(), shapes))
            return
        if _compacting(cache, fresh, kept):
            try:
                _compact(storage, cache, fresh, kept, shapes)
            except FileExistsError:
                pass  # another process compacted first: its base stays, and ours go to a segment
            else:
                return
        if fresh:
            _write(storage, _segment_name(), _lines(fresh.values(), shapes))
    except OSError as exc:  # a read-only ledger (a published folder, a mount) still opens
        log.debug("ledger: index cache not written to %s: %s", storage.full(CACHE_FOLDER), exc)


def _compacting(cache: _Cache, fresh: Mapping[str, Any], kept: list[str]) -> bool:
    """Whether the segments (and entries of runs gone or changed) are enough to compact."""
    if len(cache.segments) + 1 > _MAX_SEGMENTS:
        return True
    outdated = len(cache.segment_paths | fresh.keys()) + len(cache.entries) - len(kept)
    return outdated > max(_COMPACT_MIN, (len(kept) + len(fresh)) // 8)


_FRESH_SHAPES: dict[str, bytes] = {}  # shape id -> its payload, for shapes met in this process


def _lines(entries: Any, shapes: Mapping[str, bytes]) -> list[bytes]:
    out: list[bytes] = []
    written: set[str] = set()
    for payload, shape in entries:
        if shape is not None and shape not in written and shape in shapes:
            written.add(shape)
            out.append(_line(shapes[shape]))
        out.append(_line(payload))
    return out


def _compact(
    storage: Storage,
    cache: _Cache,
    fresh: dict[str, tuple[bytes, str | None]],
    kept: list[str],
    shapes: Mapping[str, bytes],
) -> None:
    entries = [(cache.entries[p][1], _shape_of(cache.entries[p][0])) for p in kept if p not in fresh]
    _write(storage, f"base-{cache.generation + 1:012d}.jsonl", _lines([*entries, *fresh.values()], shapes))
    if cache.base is not None:
        storage.remove(f"{CACHE_FOLDER}/{cache.base}")
    for name in cache.segments:
        storage.remove(f"{CACHE_FOLDER}/{name}")


def _shape_of(item: list[Any]) -> str | None:
    return item[6] if isinstance(item[6], str) else None


# ---- reading manifests ----------------------------------------------------------------------------


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


def _cached_ok(path: str, doc: Any, error: Any, depth: int, raw: bytes | None = None) -> bool:
    """Whether a cache entry's content has the shape a fresh parse gives (the cache is not
    trusted). ``raw``, the entry's JSON: with fewer brackets than ``depth`` it cannot nest deeper."""
    if doc is None:
        return isinstance(error, str)
    if type(doc) is not dict:
        return False
    if (raw is None or raw.count(b"[") + raw.count(b"{") > depth) and _format.too_deep(doc, depth):
        return False
    try:
        _format.check_manifest(doc, path)
        _check_place(doc, path, path)
    except (CorruptFileError, FormatVersionError):
        return False
    return True


def manifests(storage: Storage) -> Listing:
    """Every run manifest's path (``<project>/runs/<id>/run.yaml``) with its version, and the
    listing's marks (what :func:`update` compares)."""
    return storage.find(_format.MANIFEST, 3, {1: _format.RUNS_DIR})


def state(storage: Storage) -> str:
    """A short token of the manifests under the root (paths, sizes, versions): it changes
    when a run is added, removed or its manifest rewritten (at every heartbeat while running)."""
    digest = hashlib.blake2b(digest_size=12)
    for path, st in sorted(manifests(storage).items()):
        digest.update(f"{path}\0{st.size}\0{st.version}\n".encode())
    return digest.hexdigest()


def _version(st: Stat) -> str:
    return f"{st.size}:{st.version}"


def load(
    storage: Storage,
    *,
    use_cache: bool = True,
    write_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Snapshot:
    """Every run manifest under the root, parsing only what the cache does not hold. A root
    that cannot be listed (a publication over HTTP) is read from its ``index.json``.
    ``progress(done, total)`` is called as manifests are read (total: all manifests)."""
    if not storage.caps.lists:
        depth = _settings.get(_settings.MAX_DEPTH)
        published: dict[str, Indexed] = {}
        for d in read_publication(storage):
            path = f"{_format.run_dir(d['project'], d['id'])}/{_format.MANIFEST}"
            ok = _cached_ok(path, d, None, depth)
            published[path] = Indexed(path, "", d if ok else None, None if ok else f"{storage.full(path)}: malformed")
        return Snapshot(published, {})
    # The cache before the tree: a segment read then is of runs the listing has, so a
    # compaction never removes the only entry of a run it did not list.
    cache = _load_cache(storage) if use_cache else _empty()
    found = manifests(storage)
    out: list[Indexed] = []
    stale: list[str] = []
    kept: list[str] = []
    depth = _settings.get(_settings.MAX_DEPTH)
    shapes: dict[str, tuple[str, ...]] = {k: keys for k, (keys, _p) in cache.shapes.items()}
    for path, st in found.items():
        cached = cache.entries.get(path)
        if cached is not None:
            item = _from_cache(path, _version(st), cached, shapes, depth)
            if item is not None:
                out.append(item)
                kept.append(path)
                continue
        stale.append(path)
    if progress is not None:
        progress(len(out), len(found))
    fresh: dict[str, tuple[bytes, str | None]] = {}
    now = time.time()
    for item, payload, shape in _read(storage, found, stale, progress, len(out)):
        out.append(item)
        if payload is not None and not _live(item, now):
            fresh[item.path] = (payload, shape)
    if write_cache and (fresh or (cache.segments and _compacting(cache, fresh, kept))):
        _save(storage, cache, fresh, kept)
    return Snapshot({item.path: item for item in out}, found)


def _live(item: Indexed, now: float) -> bool:
    """Whether a run is live (its manifest is rewritten at every heartbeat): its entries are
    not cached, or every open would add one; a run that died without ending is cached."""
    doc = item.doc
    if doc is None or doc.get("status") not in (None, "running"):
        return False
    return _format.read_status(doc.get("status"), doc.get("heartbeat"), doc.get("heartbeat_s"), now) == "running"


def _from_cache(
    path: str, version: str, cached: tuple[list[Any], bytes], shapes: Mapping[str, tuple[str, ...]], depth: int
) -> Indexed | None:
    """The cached entry of ``path`` if it is of this version and passes the checks; else None."""
    item, raw = cached
    _e, _path, cached_version, doc, marked, error, shape, values = item
    if cached_version != version or (doc is None and error is None):
        return None
    if marked is True:
        doc = _format.manifest_from_json(doc)
        values = _format.manifest_from_json(values)
    if not _cached_ok(path, doc, error, depth, raw):
        return None
    flat = None
    keys = shapes.get(shape) if isinstance(shape, str) else None
    if keys is not None and type(values) is list and len(values) == len(keys):
        flat = (keys, values)
    return Indexed(path, version, doc, error if doc is None else None, flat)


def refresh(storage: Storage, known: Snapshot, *, write_cache: bool = True) -> Snapshot:
    """Every run manifest under the root as it is now: the entries of ``known`` whose version
    (size and mtime, or ETag) is unchanged are kept as they are (the same objects); only
    new and changed manifests are read, and (with ``write_cache``) those of runs that are not
    live are added to the cache as one new segment (the next open compacts)."""
    return update(storage, known, manifests(storage), write_cache=write_cache)


def update(storage: Storage, known: Snapshot, found: Mapping[str, Stat], *, write_cache: bool = True) -> Snapshot:
    """:func:`refresh` given the listing ``found``: what one new run costs the index."""
    listed = known.listing
    stale, ranked = changed(listed, found, known.ranked)
    entries = dict(known.entries)
    for path in stale:
        entries.pop(path, None)
    if len(listed) + sum(path not in listed for path in stale) != len(found):  # some were removed
        for path in listed.keys() - found.keys():
            entries.pop(path, None)
    fresh: dict[str, tuple[bytes, str | None]] = {}
    now = time.time()
    for item, payload, shape in _read(storage, found, stale, None, 0):
        entries[item.path] = item
        if payload is not None and not _live(item, now):
            fresh[item.path] = (payload, shape)
    if write_cache and fresh:
        try:
            _write(storage, _segment_name(), _lines(fresh.values(), _FRESH_SHAPES))
        except OSError as exc:
            log.debug("ledger: index cache not written to %s: %s", storage.full(CACHE_FOLDER), exc)
    return Snapshot(entries, found, ranked)


def changed(listed: Mapping[str, Stat], found: Mapping[str, Stat], ranked: Any = None) -> tuple[list[str], Any]:
    """The paths of ``found`` that are new or changed since ``listed``, in ``found``'s order,
    found by the listings' marks (``hash((path, stat))``, 64 bits, taken as each entry was
    made): sorted arrays of numbers instead of 100,000 pairs of objects spread over memory,
    which were most of what one new run cost at that size. ``ranked``: ``listed``'s marks
    sorted, if known; returned with ``found``'s, for the next call. A change whose mark equals
    another entry's mark would go unseen: the chance is about one in 10^14 per update, and the
    hash's seed is per process."""
    import numpy as np  # noqa: PLC0415  (not at `import ledger`: a training script never compares listings)

    old = ranked if ranked is not None and len(ranked) == len(listed) else np.sort(_marks(listed))
    new = _marks(found)
    order = np.argsort(new)
    now = new[order]
    if not len(old):
        return list(found), now
    at = np.searchsorted(old, now)  # the queries in order: the search walks `old` once
    np.minimum(at, len(old) - 1, out=at)
    where = np.sort(order[old[at] != now])
    paths = getattr(found, "paths", None)
    if paths is None or len(paths) != len(found):
        paths = list(found)
    return [paths[i] for i in where.tolist()], now


def _marks(listing: Mapping[str, Stat]) -> Any:
    """A listing's marks: those :class:`Listing` took, else made now (a plain mapping)."""
    import numpy as np  # noqa: PLC0415

    marks = getattr(listing, "marks", None)
    if marks is not None and len(marks) == len(listing):
        return np.frombuffer(marks, dtype=np.int64)
    return np.fromiter(map(hash, listing.items()), dtype=np.int64, count=len(listing))


def _read(
    storage: Storage,
    found: Mapping[str, Stat],
    stale: list[str],
    progress: Callable[[int, int], None] | None,
    done: int,
) -> Iterator[tuple[Indexed, bytes | None, str | None]]:
    """Read and parse ``stale`` manifests in batches, reporting progress after each: on all
    cores where the files are local and many; each with its cache entry (JSON, shape id)."""
    jobs = [
        [(p, found[p].size, _version(found[p])) for p in stale[i : i + _BATCH]] for i in range(0, len(stale), _BATCH)
    ]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Worker processes are forked (spawned ones would re-run an unguarded __main__ script),
    # and forking is safe only with no other thread that might hold a lock: else one core.
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if storage.caps.local and len(stale) >= _POOL_MIN and workers > 1 and forkable:
        results: Iterator[tuple[list[_Parsed], dict[str, tuple[str, ...]]]] = _in_pool(storage, jobs, workers)
    else:
        results = (_parse_batch(storage, job, _settings_env()) for job in jobs)
    for start, (batch, shapes) in zip(range(0, len(stale), _BATCH), results, strict=True):
        for made, keys in shapes.items():
            _shape(keys, made)
        for path, version, payload, shape, doc, error in batch:
            if payload is not None:
                item = _decoded(path, version, payload, shape)
                yield item, payload, shape
            elif doc is not None or error is not None:
                yield Indexed(path, version, doc, error, _flat_of(doc)), None, None
        if progress is not None:
            progress(done + start + _BATCH if start + _BATCH < len(stale) else done + len(stale), done + len(stale))


# (path, version, cache entry JSON, shape id, doc where no JSON was made, error)
_Parsed = tuple[str, str, bytes | None, str | None, dict[str, Any] | None, str | None]


def _settings_env() -> dict[str, str]:
    """The settings a parse depends on, handed to worker processes (their environment is the
    one they started with)."""
    names = (_settings.MAX_YAML_BYTES.name, _settings.MAX_DEPTH.name)
    return {name: os.environ[name] for name in names if name in os.environ}


def _in_pool(
    storage: Storage, jobs: list[list[tuple[str, int, str]]], workers: int
) -> Iterator[tuple[list[_Parsed], dict[str, tuple[str, ...]]]]:
    env = _settings_env()
    done = 0
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_parse_batch, storage, job, env) for job in jobs]
            for future in futures:
                result = future.result()
                done += 1
                yield result
    except (concurrent.futures.process.BrokenProcessPool, OSError) as exc:  # a worker killed, no processes left
        log.warning("ledger: parsing manifests on one core (the worker processes failed: %s)", exc)
        for job in jobs[done:]:
            yield _parse_batch(storage, job, env)


def _parse_batch(
    storage: Storage, job: list[tuple[str, int, str]], env: Mapping[str, str]
) -> tuple[list[_Parsed], dict[str, tuple[str, ...]]]:
    """Read and parse one batch of manifests (in a worker process or here); one over the YAML
    size limit is refused unread (never read whole)."""
    for name in (_settings.MAX_YAML_BYTES.name, _settings.MAX_DEPTH.name):
        if env.get(name) != os.environ.get(name):
            if name in env:
                os.environ[name] = env[name]
            else:
                os.environ.pop(name, None)
    limit = _settings.get(_settings.MAX_YAML_BYTES)
    contents = storage.read_many([p for p, size, _v in job if size <= limit])
    out: list[_Parsed] = []
    for path, size, version in job:
        if size > limit:
            refused = (
                f"{storage.full(path)}: {size} bytes, over the limit of {limit} bytes for a "
                f"YAML file (${_settings.MAX_YAML_BYTES.name}); not read"
            )
            out.append((path, version, _entry(path, version, None, refused, b"")[0], None, None, refused))
            continue
        data = contents.get(path, FileNotFoundError(path))
        if isinstance(data, FileNotFoundError):
            continue  # removed since the listing
        doc, error = _parse(path, data, storage)
        payload, shape = _entry(path, version, doc, error, data if isinstance(data, bytes) else b"")
        out.append((path, version, payload, shape, None if payload is not None else doc, error))
    shapes = {shape: _SHAPE_KEYS[shape] for _p, _v, _j, shape, _d, _e in out if shape is not None}
    return out, shapes


def _decoded(path: str, version: str, payload: bytes, shape: str | None) -> Indexed:
    """An entry just made, as :func:`load` returns it (decoded from its JSON)."""
    item = orjson.loads(payload)
    doc, marked, error, values = item[3], item[4], item[5], item[7]
    if marked:
        doc = _format.manifest_from_json(doc)
        values = _format.manifest_from_json(values)
    keys = _SHAPE_KEYS.get(shape) if shape is not None else None
    return Indexed(path, version, doc, error, (keys, values) if keys is not None and values is not None else None)


_SHAPE_KEYS: dict[str, tuple[str, ...]] = {}  # shape id -> its keys, for shapes met in this process


def _shape(keys: tuple[str, ...], shape: str | None = None) -> str:
    """The id of a row's column names (one line of the cache file holds them)."""
    if shape is None:
        shape = _shape_id(keys)
    if shape not in _SHAPE_KEYS:
        _SHAPE_KEYS[shape] = keys
        _FRESH_SHAPES[shape] = orjson.dumps(["s", shape, list(keys)])
    return shape


def _flat_of(doc: dict[str, Any] | None) -> Flat | None:
    if doc is None:
        return None
    row = doc_row(doc)
    return tuple(row), list(row.values())


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


def _entry(
    path: str, version: str, doc: dict[str, Any] | None, error: str | None, raw: bytes
) -> tuple[bytes | None, str | None]:
    """The cache entry of a freshly parsed manifest (its JSON, serialised once) and its row's
    shape id; no entry for what JSON cannot carry exactly or what is over the entry limit."""
    if doc is None:
        payload = orjson.dumps(["e", path, version, None, False, error, None, None])
        return (payload if len(payload) <= _ENTRY_LIMIT else None), None
    row = doc_row(doc)
    keys, values = tuple(row), list(row.values())
    try:
        if not _may_hold_nonfinite(raw):
            # Dates, non-text keys and huge ints make orjson refuse, so nothing cached is lossy.
            option = orjson.OPT_PASSTHROUGH_DATETIME
            data = orjson.dumps(doc, option=option, default=_refuse)
            flat = orjson.dumps(values, option=option, default=_refuse)
            marked = False
        else:
            safe, marked = _format.manifest_to_json(doc)
            safe_values, marked_values = _format.manifest_to_json(values)
            data, flat = orjson.dumps(safe), orjson.dumps(safe_values)
            marked = marked or marked_values
    except (_format.NotJsonExact, TypeError):
        return None, None  # parsed again at every open; rare
    shape = _shape(keys)
    return _assemble(path, version, data, marked, shape, flat), shape


def _assemble(path: str, version: str, doc: bytes, marked: bool, shape: str, flat: bytes) -> bytes | None:
    head = orjson.dumps(["e", path, version])[:-1]
    payload = b"%b,%b,%b,null,%b,%b]" % (head, doc, b"true" if marked else b"false", orjson.dumps(shape), flat)
    return payload if len(payload) <= _ENTRY_LIMIT else None


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
