"""Long histories: a columnar cache of each run's record streams, and the history tables
(``RunView.history``, ``RunView.system``) and series (``RunView.series``) read through it.

**The answer is the JSON lines' answer.** A history table is what
:func:`~ledger._query._views.records_frame` makes of the records
:func:`ledger._reader.read_stream` decodes (the record rules of ``ledger/_format/_records.py``:
non-finite spellings, torn and corrupt lines, ``$LEDGER_MAX_RECORD_BYTES``); the cache only
makes it cheaper. Each column keeps what pandas would have inferred from the records: a metric
logged as integers at every step is ``int64``, one missing at some step (or mixing integers and
floats) ``float64`` with NaN where it is missing, booleans ``bool`` (``object`` with NaN when
some are missing); anything else (media references, a hostile file's strings or nulls) is kept
as the decoded Python values and left to pandas exactly as the records would be.

**The cache** is one Arrow IPC file per run and stream, ``<root>/.cache/history/<project>/
<run-id>/<stream>.arrow`` (derived data: never committed, never published, may be deleted).
It says which files it covers: each file's name, size, version (mtime or ETag), and a digest
of the last bytes it covers (up to a line end). A reader takes the cache only if the stream's
files still start with what it covers: then the bytes beyond it (a running or resumed run's
new lines, new segments) are decoded from the JSON lines and joined on. A compaction (new file
names), a rewritten file, other record limits, or a cache that does not read back as written
mean a rebuild. An ended run's cache is remade to cover every line; a running run's once what
lies beyond it outweighs it. Only the asked columns are read (memory-mapped where the root is
on this machine).

pyarrow is optional: without it (or on a root that cannot be written) the same tables are made
from the JSON lines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format, _reader, _settings
from ledger._errors import RefusedFileError
from ledger._query import _series

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import numpy as np
    from pandas import DataFrame

    from ledger._storage import Storage

log = logging.getLogger("ledger")

CACHE_FOLDER = f"{_format.CACHE_DIR}/history"
_KIND = "ledger-history"
_VERSION = 1
_CHECK_BYTES = 4096  # the last bytes of a covered file whose digest the cache keeps
_SLICE_BYTES = 32 << 20  # JSON lines decoded at once while building (bounds the dicts alive)

# Column kinds, from the values a key holds: "empty" (never present), "int" (ints within 64
# bits), "float" (floats, or ints and floats), "bool", "json" (anything else, kept as values).
_NUMERIC = ("int", "float", "bool")


def _np() -> Any:
    import numpy as np  # noqa: PLC0415 (numpy only when a history is asked for)

    return np


def arrow() -> Any:
    """pyarrow, or None where it is not installed (the JSON lines are read instead)."""
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.ipc  # noqa: PLC0415
    except ImportError:
        return None
    return pa


def usable(storage: Storage) -> bool:
    """Whether histories of ``storage`` go through the cache: pyarrow is there, and the root
    can be listed and written (a publication over HTTP is read from its JSON lines)."""
    return storage.caps.writes and storage.caps.lists and arrow() is not None


def cache_path(project: str, run_id: str, stream: str) -> str:
    """Where the cache of a run's stream is, relative to the root."""
    return f"{CACHE_FOLDER}/{project}/{run_id}/{stream}.arrow"


# ---- columns ---------------------------------------------------------------------------------------


@dataclass
class Col:
    """One key's values over a run of records: ``data`` (int64, float64 or bool; an object
    array of the decoded values for ``json``) and ``present`` (None: present in every record)."""

    kind: str
    data: np.ndarray
    present: np.ndarray | None

    def __len__(self) -> int:
        return len(self.data)

    def take(self, rows: np.ndarray) -> Col:
        return Col(self.kind, self.data[rows], None if self.present is None else self.present[rows])

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the records holding a number (booleans as 0 and 1) and those
        numbers as floats: what the series engine takes from a key."""
        np = _np()
        if self.kind in _NUMERIC:
            positions = np.arange(len(self.data)) if self.present is None else np.flatnonzero(self.present)
            values = self.data if self.present is None else self.data[positions]
            return positions.astype(np.intp), values.astype(float)
        if self.kind == "empty":
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=float)
        mask = self.present if self.present is not None else np.ones(len(self.data), dtype=bool)
        pos = [i for i, v in enumerate(self.data.tolist()) if mask[i] and isinstance(v, (int, float))]
        return np.asarray(pos, dtype=np.intp), np.asarray([float(self.data[i]) for i in pos], dtype=float)

    def pandas_values(self, rows: np.ndarray | None = None) -> Any:
        """The column as records_frame gives it for every record: an array of the dtype
        pandas infers from the records' values, or those values for pandas to infer from;
        with ``rows``, that column's values at those rows (the dtype stays the whole
        column's)."""
        np = _np()
        full = self.present is None or bool(self.present.all())
        data = self.data if rows is None else self.data[rows]
        present = None if full or self.present is None else (self.present if rows is None else self.present[rows])
        if self.kind == "empty":
            return np.full(len(data), math.nan)
        if self.kind == "float":
            return data if present is None else np.where(present, data, math.nan)
        if self.kind == "int":
            return data if present is None else np.where(present, data.astype(float), math.nan)
        if self.kind == "bool" and present is None:
            return data
        if self.kind == "bool":  # with gaps: objects (True, False, NaN), as pandas makes them
            out = np.empty(len(data), dtype=object)
            out[:] = data.tolist()
            if present is not None:
                out[~present] = math.nan
            return out
        if rows is None:
            values = data.tolist()
            if present is not None:
                values = [v if p else math.nan for v, p in zip(values, present.tolist(), strict=True)]
            return values
        import pandas as pd  # noqa: PLC0415 (json: the dtype pandas infers from the whole column)

        whole = pd.Series(self.pandas_values())
        return whole.take(rows).reset_index(drop=True)


def _empty(n: int) -> Col:
    np = _np()
    return Col("empty", np.zeros(n, dtype=float), np.zeros(n, dtype=bool))


def _join_kind(a: str, b: str) -> str:
    if a == "empty":
        return b
    if b in ("empty", a):
        return a
    if {a, b} == {"int", "float"}:
        return "float"
    return "json"


def _as_kind(col: Col, kind: str) -> Col:
    np = _np()
    if col.kind == kind:
        return col
    n = len(col)
    present = col.present if col.present is not None else np.ones(n, dtype=bool)
    if col.kind == "empty":
        filler = {"int": 0, "float": math.nan, "bool": False}
        if kind in filler:
            dtype = {"int": np.int64, "float": float, "bool": bool}[kind]
            return Col(kind, np.full(n, filler[kind], dtype=dtype), present)
        return Col(kind, np.full(n, None, dtype=object), present)
    if kind == "float":  # from int
        return Col(kind, col.data.astype(float), col.present)
    values = np.empty(n, dtype=object)
    values[:] = col.data.tolist()
    return Col("json", values, col.present)


def concat(parts: Sequence[Col]) -> Col:
    """Columns of consecutive runs of records, joined (their kinds joined: int and float make
    float, anything else mixed makes json)."""
    np = _np()
    kind = "empty"
    for part in parts:
        kind = _join_kind(kind, part.kind)
    parts = [_as_kind(p, kind) for p in parts]
    values = np.concatenate([p.data for p in parts]) if parts else np.zeros(0)
    if all(p.present is None for p in parts):
        return Col(kind, values, None)
    present = np.concatenate([np.ones(len(p), dtype=bool) if p.present is None else p.present for p in parts])
    return Col(kind, values, present)


def _key_order(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of ``records`` in first-seen order."""
    seen: dict[str, None] = {}
    if not records:
        return []
    remaining = set().union(*records)
    for rec in records:
        new = remaining.intersection(rec)
        if new:
            seen.update((k, None) for k in rec if k in new)
            remaining -= new
            if not remaining:
                break
    return list(seen)


class TooWide(Exception):  # noqa: N818 (a signal to callers, not an error to users)
    """Records with so many distinct keys that columns (one cell per key and record) would
    cost far more than the records themselves: a hostile file. Callers read the records."""


_SPARSE_RATIO = 64  # columns may hold at most this many cells per value the records hold
_MIN_CELLS = 1 << 20


def columns_of(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, Col]]:
    """The keys of ``records`` (first-seen order) and a column per key; TooWide when that
    would be mostly holes (many keys each in few records)."""
    np = _np()
    n = len(records)
    out: dict[str, Col] = {}
    keys = _key_order(records)
    if len(keys) * n > max(_MIN_CELLS, _SPARSE_RATIO * sum(map(len, records))):
        raise TooWide
    for key in keys:
        try:
            values = list(map(itemgetter(key), records))  # C speed where every record has it
        except KeyError:
            values = [rec.get(key) for rec in records]
        nones = values.count(None)
        present = None
        if nones:
            present = np.fromiter((key in rec for rec in records), dtype=bool, count=n)
            if n - int(present.sum()) != nones:  # a null logged as a value
                out[key] = _json_col(values, present)
                continue
        types = set(map(type, values)) - {type(None)}
        out[key] = _typed(values, types, present)
    return keys, out


def _json_col(values: list[Any], present: np.ndarray | None) -> Col:
    np = _np()
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return Col("json", arr, present)


def _typed(values: list[Any], types: set[type], present: np.ndarray | None) -> Col:
    np = _np()
    try:
        if types == {int, float}:  # ints past 64 bits beside floats: pandas keeps objects
            np.array([v for v in values if type(v) is int], dtype=np.int64)
        if types in ({float}, {int, float}):
            return Col("float", np.array(values, dtype=float), present)  # None -> NaN
        if types == {int}:
            filled = values if present is None else [0 if v is None else v for v in values]
            return Col("int", np.array(filled, dtype=np.int64), present)
        if types == {bool}:
            return Col("bool", np.array(values, dtype=bool), present)  # None -> False
    except (OverflowError, TypeError, ValueError):  # ints past 64 bits (or past a float)
        pass
    return _json_col(values, present)


# ---- reading the JSON lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """What a cache covers of one file of the stream: its name, size and version when read,
    how many bytes (up to a line end) and a digest of the last of them."""

    name: str
    size: int
    version: str
    covered: int
    check: str


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class _Builder:
    """Columns of the records of a stream's files, decoded a slice at a time (whole lines), so
    that only one slice's records are ever alive as dicts."""

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}
        self.parts: dict[str, list[Col]] = {}
        self.rows: list[int] = []
        self.notes: list[str] = []
        self.pieces: list[Piece] = []
        self.bytes = 0  # of JSON lines read

    def add(self, data: bytes, where: str) -> None:
        decoded = _format.decode_records(data, where)
        self.notes.extend(decoded.corrupt)
        if decoded.torn is not None:
            self.notes.append(decoded.torn)
        records = decoded.records
        n = len(records)
        if not n:
            return
        order, cols = columns_of(records)
        before = sum(self.rows)
        for key in order:
            if key not in self.keys:
                self.keys[key] = None
                self.parts[key] = [_empty(before)] if before else []
        for key in self.keys:
            self.parts[key].append(cols.get(key) or _empty(n))
        self.rows.append(n)

    def read_file(self, storage: Storage, rel: str, name: str, st: Any, start: int = 0) -> None:
        """Decode ``rel`` from byte ``start`` to the size it had (``st``), in slices; note
        what of it is covered (up to its last line end) for the cache."""
        where = storage.full(rel)
        self.bytes += max(0, st.size - start)
        limit = _settings.get(_settings.MAX_RECORD_BYTES)
        pos, carry, covered, check = start, b"", start, b""
        skipping = False  # inside a line over the record limit: dropped up to its end
        while pos < st.size:
            block = storage.read_range(rel, pos, min(_SLICE_BYTES, st.size - pos))
            if not block:
                break
            buf_start = pos - len(carry)
            pos += len(block)
            buf = carry + block
            if skipping:
                nl = buf.find(b"\n")
                if nl < 0:
                    carry = b""
                    continue
                skipping = False
                buf, buf_start = buf[nl + 1 :], buf_start + nl + 1
                covered, check = buf_start, b""
            cut = buf.rfind(b"\n") + 1
            if cut:
                self.add(buf[:cut], where)
                covered = buf_start + cut
                check = (check + buf[:cut])[-_CHECK_BYTES:]
            carry = buf[cut:]
            if len(carry) > limit:  # decode_records would skip it: so is it here, unread
                self.notes.append(
                    f"{where}: skipped a line of more than {limit} bytes (${_settings.MAX_RECORD_BYTES.name})"
                )
                carry, skipping = b"", True
        if carry.strip():
            self.add(carry, where)  # a torn last line: reported, skipped
        if len(check) < min(covered, _CHECK_BYTES):  # the slices did not hold all of them
            low = max(0, covered - _CHECK_BYTES)
            check = storage.read_range(rel, low, covered - low)
        self.pieces.append(Piece(name, st.size, st.version, covered, _digest(check)))

    def built(self, *, cacheable: bool) -> Built:
        return Built(
            list(self.keys), {k: concat(self.parts[k]) for k in self.keys}, sum(self.rows),
            self.pieces if cacheable else [], self.notes, self.bytes,
        )  # fmt: skip


@dataclass
class Built:
    """A stream's records as columns, and what of its files they cover."""

    keys: list[str]
    cols: dict[str, Col]
    rows: int
    pieces: list[Piece]
    notes: list[str]
    bytes: int = 0  # of JSON lines read to make it


def _layout(storage: Storage, folder: str, spec: _format.StreamSpec) -> list[tuple[str, Any]] | None:
    """The files of a stream with their stats, in read order; None when the main file and
    segments are both there (an interrupted compaction: only a whole read sorts that out)."""
    out = []
    for name in _reader.stream_names(storage, folder, spec):
        try:
            out.append((name, storage.stat(f"{folder}/{name}")))
        except FileNotFoundError:
            continue
    if len(out) > 1 and out[0][0] == spec.file:
        return None
    return out


def build(storage: Storage, folder: str, stream: str) -> Built:
    """Every record of a stream as columns (the JSON lines read once), with what it covers."""
    spec = _reader.stream_spec(stream)
    out = _Builder()
    layout = _layout(storage, folder, spec)
    if layout is None:  # main file and leftover segments: the reader's whole read decides
        for name, data in _reader.stream_chunks(storage, folder, spec, refused=out.notes)[0]:
            out.add(data, storage.full(f"{folder}/{name}"))
        return out.built(cacheable=False)  # not a prefix of the files as they are
    cacheable = True
    for name, st in layout:
        rel = f"{folder}/{name}"
        try:
            out.read_file(storage, rel, name, st)
        except FileNotFoundError:  # a compaction merged it meanwhile: read again from the top
            return build(storage, folder, stream)
        except RefusedFileError as exc:
            out.notes.append(f"{storage.full(rel)}: skipped ({exc.strerror})")
            cacheable = False
    return out.built(cacheable=cacheable)


# ---- the cache file ---------------------------------------------------------------------------------


def _limits() -> list[int]:
    return [_settings.get(_settings.MAX_RECORD_BYTES), _settings.get(_settings.MAX_DEPTH)]


def _encode_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode()


def write(storage: Storage, path: str, built: Built) -> None:
    """Write ``built`` as the cache at ``path`` (an Arrow IPC file); a store that refuses is
    left alone (the answer was computed anyway)."""
    pa = arrow()
    if pa is None or not built.pieces:
        return
    arrays: list[Any] = []
    names: list[str] = []
    meta_keys = []
    for i, key in enumerate(built.keys):
        col = built.cols[key]
        meta_keys.append([key, col.kind, col.present is not None])
        if col.kind == "json":
            mask = col.present if col.present is not None else None
            enc = [None if (mask is not None and not mask[j]) else _encode_json(v) for j, v in enumerate(col.data)]
            arrays.append(pa.array(enc, type=pa.large_binary()))
        else:
            arrays.append(pa.array(col.data))
        names.append(f"{i}.v")
        if col.present is not None:
            arrays.append(pa.array(col.present))
            names.append(f"{i}.p")
    meta = {
        "kind": _KIND,
        "version": _VERSION,
        "rows": built.rows,
        "keys": meta_keys,
        "limits": _limits(),
        "pieces": [[p.name, p.size, p.version, p.covered, p.check] for p in built.pieces],
    }
    schema = pa.schema([pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)],
                       metadata={b"ledger": orjson.dumps(meta)})  # fmt: skip
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as writer:
        if arrays:
            writer.write_batch(pa.record_batch(arrays, schema=schema))
    try:
        storage.write_atomic(path, sink.getvalue().to_pybytes())
    except OSError as exc:  # a read-only root still answers, from the JSON lines
        log.debug("ledger: history cache not written to %s: %s", storage.full(path), exc)


@dataclass
class Cached:
    """An opened cache file: what it covers, and its columns read on demand."""

    keys: list[str]
    kinds: dict[str, tuple[int, str, bool]]  # key -> (its position, kind, has a presence column)
    rows: int
    pieces: list[Piece]
    batch: Any  # the record batch (columns memory-mapped or in memory), or None without columns

    def col(self, key: str) -> Col:
        i, kind, has_present = self.kinds[key]
        values = self.batch.column(f"{i}.v")
        present = self.batch.column(f"{i}.p").to_numpy(zero_copy_only=False) if has_present else None
        if kind == "json":
            decoded = [None if v is None else json.loads(v) for v in values.to_pylist()]
            return _json_col(decoded, present)
        return Col(kind, values.to_numpy(zero_copy_only=False), present)


_ARROW_TYPES = {"int": "int64", "float": "double", "bool": "bool", "json": "large_binary"}


def read_cache(storage: Storage, path: str, limit: int | None = None) -> Cached | None:
    """The cache at ``path``, if it is one this version wrote with the limits in force and
    it reads back whole; None otherwise (it is then rebuilt, never trusted). A symlink or a
    special file there is refused as the storage refuses it; a cache over ``limit`` bytes
    (a stream's cache is never much larger than its JSON lines) is not read."""
    pa = arrow()
    if pa is None:
        return None
    try:
        size = storage.stat(path).size  # refuses symlinks, FIFOs and devices before any open
        if limit is not None and size > limit:
            return None
        local = storage.local_path(path) if storage.caps.local else None
        source = pa.memory_map(local) if local is not None else pa.BufferReader(pa.py_buffer(storage.read_bytes(path)))
        reader = pa.ipc.open_file(source)
        meta = orjson.loads((reader.schema.metadata or {}).get(b"ledger", b"null"))
        if not isinstance(meta, dict) or meta.get("kind") != _KIND or meta.get("version") != _VERSION:
            return None
        if meta.get("limits") != _limits():
            return None
        rows = meta["rows"]
        kinds: dict[str, tuple[int, str, bool]] = {}
        keys = []
        for i, (key, kind, has_present) in enumerate(meta["keys"]):
            if not isinstance(key, str) or kind not in _ARROW_TYPES or key in kinds:
                return None
            keys.append(key)
            kinds[key] = (i, kind, bool(has_present))
        pieces = [Piece(str(n), int(s), str(v), int(c), str(h)) for n, s, v, c, h in meta["pieces"]]
        batch = reader.get_batch(0) if reader.num_record_batches == 1 else None
        if not _shape_ok(batch, kinds, rows, reader.schema):
            return None
        return Cached(keys, kinds, int(rows), pieces, batch)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:  # corrupt, forged, half-written
        log.debug("ledger: history cache %s not used: %s", storage.full(path), exc)
        return None


def _shape_ok(batch: Any, kinds: Mapping[str, tuple[int, str, bool]], rows: Any, schema: Any) -> bool:
    """Whether the columns are those the metadata names, of its kinds and length."""
    if not isinstance(rows, int) or rows < 0:
        return False
    expected = {}
    for i, kind, has_present in kinds.values():
        expected[f"{i}.v"] = _ARROW_TYPES[kind]
        if has_present:
            expected[f"{i}.p"] = "bool"
    if {f.name: str(f.type) for f in schema} != expected:
        return False
    if batch is None:
        return not expected and rows == 0
    if batch.num_rows != rows:
        return False
    batch.validate(full=any(k == "json" for _i, k, _p in kinds.values()))
    return True


# ---- answering ------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A stream's columns as currently answerable: cached columns (maybe none) plus columns of
    the records beyond what the cache covers."""

    cached: Cached | None
    extra: Built | None

    @property
    def keys(self) -> list[str]:
        keys = dict.fromkeys(self.cached.keys if self.cached is not None else [])
        if self.extra is not None:
            keys.update(dict.fromkeys(self.extra.keys))
        return list(keys)

    @property
    def rows(self) -> int:
        return (self.cached.rows if self.cached is not None else 0) + (self.extra.rows if self.extra else 0)

    def col(self, key: str) -> Col:
        parts = []
        if self.cached is not None:
            parts.append(self.cached.col(key) if key in self.cached.kinds else _empty(self.cached.rows))
        if self.extra is not None:
            parts.append(self.extra.cols[key] if key in self.extra.cols else _empty(self.extra.rows))
        return parts[0] if len(parts) == 1 else concat(parts)


def _beyond(storage: Storage, folder: str, layout: list[tuple[str, Any]], cached: Cached) -> Built | None:
    """The records beyond what ``cached`` covers, if the stream's files still start with it
    (else None: the cache is stale)."""
    if len(layout) < len(cached.pieces):
        return None
    out = _Builder()
    for i, (name, st) in enumerate(layout):
        rel = f"{folder}/{name}"
        start = 0
        if i < len(cached.pieces):
            piece = cached.pieces[i]
            if piece.name != name:
                return None
            unchanged = st.size == piece.size and st.version == piece.version
            if not unchanged:
                if i != len(cached.pieces) - 1 or st.size < piece.covered:
                    return None  # only the last covered file may have grown
                low = max(0, piece.covered - _CHECK_BYTES)
                if _digest(storage.read_range(rel, low, piece.covered - low)) != piece.check:
                    return None
            elif piece.covered == piece.size:
                out.pieces.append(piece)
                continue
            start = piece.covered
        out.read_file(storage, rel, name, st, start)
    return out.built(cacheable=True)


def source(storage: Storage, folder: str, path: str, stream: str, *, ended: bool) -> Source:
    """The columns of a run's stream: from the cache and the lines beyond what it covers, when
    it is still good; else read from the JSON lines and cached. A run that has ended gets a
    cache of every line; a running run's cache is remade only once the lines beyond it
    outweigh it (so following a live run costs what it adds, and rebuilds stay rare)."""
    spec = _reader.stream_spec(stream)
    if usable(storage):
        layout = _layout(storage, folder, spec)
        limit = 2 * sum(st.size for _name, st in layout or []) + (1 << 20)
        cached = read_cache(storage, path, limit) if layout is not None else None
        if cached is not None and layout is not None:
            try:
                extra = _beyond(storage, folder, layout, cached)
            except (FileNotFoundError, RefusedFileError):
                extra = None
            if extra is not None:
                covered = sum(p.covered for p in cached.pieces)
                if not extra.rows or (not ended and extra.bytes <= max(covered, _SLICE_BYTES)):
                    _report(extra.notes)
                    return Source(cached, extra if extra.rows else None)
    built = build(storage, folder, stream)
    _report(built.notes)
    if usable(storage):
        write(storage, path, built)
    return Source(None, built)


def _report(notes: Iterable[str]) -> None:
    for note in notes:
        log.warning("ledger: %s", note)


def wanted_columns(keys: Sequence[str], asked: Iterable[str] | None) -> list[str]:
    """``_step``, ``_time``, then ``asked`` or every key (the columns of records_frame)."""
    if asked is not None:
        return [*_format.RESERVED, *[k for k in asked if k not in _format.RESERVED]]
    return [*_format.RESERVED, *[k for k in keys if k not in _format.RESERVED]]


def frame(src: Source, asked: Iterable[str] | None, *, samples: int | None = None) -> DataFrame:
    """The history table of ``src``: the columns of :func:`wanted_columns`; with ``samples``,
    only the rows :func:`ledger._query._series.sample_rows` keeps of the whole table (whose
    columns and dtypes it keeps)."""
    import pandas as pd  # noqa: PLC0415

    asked = list(asked) if asked is not None else None
    keys = src.keys
    wanted = wanted_columns(keys, asked)
    known = set(keys)
    rows = None
    if samples is not None:
        sampled = [k for k in wanted if k not in _format.RESERVED and k in known]
        numbers = {k: src.col(k).numbers() for k in sampled}
        rows = _series.sample_rows(numbers, sampled, samples)
    n = src.rows if rows is None else len(rows)
    data: dict[str, Any] = {}
    for key in wanted:
        if key in data:
            continue
        data[key] = src.col(key).pandas_values(rows) if key in known else _np().full(n, math.nan)
    return pd.DataFrame(data, columns=wanted)


def series_columns(src: Source) -> _series.Columns:
    """The series engine's view of ``src`` (steps, times, and the numbers of every key)."""
    np = _np()
    n = src.rows
    reserved = []
    for name in _format.RESERVED:
        if name in src.keys:
            positions, values = src.col(name).numbers()
            full = np.full(n, math.nan)
            full[positions] = values
            reserved.append(full)
        else:
            reserved.append(np.full(n, math.nan))
    keys = {}
    for key in sorted(k for k in src.keys if k not in _format.RESERVED):
        positions, values = src.col(key).numbers()
        if len(positions):
            keys[key] = (positions, values)
    return _series.Columns(reserved[0], reserved[1], keys)
