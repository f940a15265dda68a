"""The runs table of a whole ledger, kept between opens: ``RunSet.to_pandas()`` of every
run of a large ledger on a local root (:data:`MIN_RUNS` or more) takes its columns from one Arrow IPC file,
``<root>/.cache/frame/runs.arrow``, instead of converting every value to pandas again.

The file holds the table as :meth:`RunSet.to_pandas` built it, every column but ``status``
(read at query time, as a heartbeat may have gone stale): typed columns (numbers, text,
timestamps) as Arrow arrays, and columns of mixed values (pandas' ``object`` columns) split
by type, a code per row and the ints, floats, strings, booleans and JSON (lists, mappings,
with non-finite floats marked as the index marks them) apart. Each row carries its manifest's
path and index version; live runs are not kept.

A run whose row the file does not hold as it is now (new, changed, live, or with values
attached by another run) is built row-wise and joined to the rest, when the result is the
table a full build gives: every row of the file still used, no new column, the columns in
the same order with the same dtypes. Otherwise the whole table is built and written again,
as it is once enough rows were joined. Like the index, the file is derived data, never
trusted: it is read only if its header is this version's, it is within a size bound, its
arrays validate, and its rows name the ledger's runs at their current versions; a file
that cannot be read or written leaves the table to be built as before.
"""

from __future__ import annotations

import logging
import math
import operator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _format
from ledger._query import _history

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pandas import DataFrame

    from ledger._query._views import RunView
    from ledger._storage import Storage

log = logging.getLogger("ledger")

MIN_RUNS = 1000  # below this the table is built each time (it costs little)
FILE = f"{_format.CACHE_DIR}/frame/runs.arrow"
_KIND, _VERSION = "ledger-frame", 1
_REWRITE = 500  # rows joined row-wise before the file is written again (or 1/8 of all)
_BYTES_PER_ROW, _BYTES_FLOOR = 1 << 14, 1 << 20  # the size bound: a file over this per run and 1 MiB is not read
_TYPED = ("int64", "float64", "bool", "str")  # dtypes kept as Arrow arrays (and UTC timestamps)
_UNITS = ("s", "ms", "us", "ns")
_NONE, _BOOL, _INT, _FLOAT, _STR, _JSON = range(6)
# Every table starts with the schema's single-value fields, status among them.
_STATUS_AT = [spec.name for spec in _format.FIELDS if spec.column == "value"].index("status")
_CODES = {type(None): _NONE, bool: _BOOL, int: _INT, float: _FLOAT, str: _STR}


class _Uncacheable(Exception):  # noqa: N818 (a signal, not an error)
    """A value the file cannot carry exactly (a date, a non-text key, an int past 64 bits)."""


def cached(
    runs: Sequence[RunView],
    build: Callable[[Sequence[RunView]], DataFrame],
    raw: Callable[[Sequence[RunView]], dict[str, list[Any]]],
    order: Callable[[Sequence[RunView]], list[str]],
) -> DataFrame | None:
    """The table of ``runs`` (``build(runs)``, from the values ``raw(runs)``, with
    ``order(runs)`` its columns) through the file, when ``runs`` are every run of one opened
    ledger on a local root that keeps a cache, in its order, and at least :data:`MIN_RUNS`;
    None otherwise (the caller builds it)."""
    pa = _history.arrow()
    if len(runs) < MIN_RUNS or pa is None:
        return None
    lg = runs[0]._ledger  # noqa: SLF001
    if lg is None or not lg._cache:  # noqa: SLF001
        return None
    storage: Storage = lg._storage  # noqa: SLF001
    whole = lg._runs  # noqa: SLF001
    # Local roots only: on an object store every rebuild would upload the whole table again.
    if not (storage.caps.local and storage.caps.writes and storage.caps.lists) or len(whole) != len(runs):
        return None
    if not all(map(operator.is_, runs, whole)):
        return None
    stored = _read(storage, len(runs))
    frame, joined = _joined(stored, runs, build, raw, order) if stored is not None else (None, 0)
    if frame is None:
        frame = build(runs)
        _write(storage, frame, runs)
    elif joined >= max(_REWRITE, len(runs) // 8):
        _write(storage, frame, runs)
    return frame


# ---- joining the file's rows with rows built now -------------------------------------------------


def _joined(
    read: tuple[DataFrame, list[str], set[str]],
    runs: Sequence[RunView],
    build: Callable[[Sequence[RunView]], DataFrame],
    raw: Callable[[Sequence[RunView]], dict[str, list[Any]]],
    order: Callable[[Sequence[RunView]], list[str]],
) -> tuple[DataFrame | None, int]:
    """The table from the file's rows and those built now, and how many of those the file
    would keep; (None, 0) where that would not be the table a full build gives."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    stored, keys, sticky = read
    current = [r._key for r in runs]  # noqa: SLF001
    columns = list(stored.columns)
    at = _STATUS_AT
    if keys == current:  # nothing changed: the file as it is
        frame = stored
        frame.insert(at, "status", [r.status for r in runs])
        return frame, 0
    where = {key: i for i, key in enumerate(keys)}
    if len(where) != len(keys):
        return None, 0
    taken = [where.get(key, -1) if key is not None else -1 for key in current]  # file row of each run, -1: built now
    built_at = [k for k, i in enumerate(taken) if i < 0]
    kept = [i for i in taken if i >= 0]
    if len(kept) != len(keys):  # a row of the file no longer used: columns or dtypes may differ
        return None, 0
    if order(runs) != [*columns[:at], "status", *columns[at:]]:
        return None, 0
    added = [runs[k] for k in built_at]
    fresh = build(added).drop(columns="status")
    if not set(fresh.columns) <= set(columns):
        return None, 0
    values = raw(added)
    parts: dict[str, Any] = {}
    for name in columns:
        have = stored[name]
        kind = str(have.dtype)
        column = values.get(name)  # the added runs' values as they are (None: no run has it)
        missing = column is None or all(v is None or (type(v) is float and math.isnan(v)) for v in column)
        add: Any
        if name in sticky or (kind == "object" and missing):  # stays object: the values as they are
            add = np.full(len(added), np.nan, dtype=object)
            if column is not None:
                add[:] = column
            add = pd.Series(add, dtype=object)
        elif name in fresh.columns and fresh[name].dtype == have.dtype:
            add = fresh[name]
        elif kind in ("float64", "str") and missing:  # NaN there, as a full build has it
            add = pd.Series(np.full(len(added), np.nan)).astype(have.dtype)
        elif kind == "object" and column is not None:  # its values as they were: inferred again, whole
            parts[name] = pd.Series([*have.tolist(), *column])
            continue
        elif kind.startswith("datetime64[") and str(fresh[name].dtype).startswith("datetime64["):
            # Parsed timestamps take the finest unit their texts need (seconds when all missing).
            finest = max(have.dtype, fresh[name].dtype, key=lambda d: _UNITS.index(str(d).split("[")[1].split(",")[0]))
            have, add = have.astype(finest), fresh[name].astype(finest)
        else:
            made = fresh[name].dtype if name in fresh.columns else "NaN"
            log.debug("ledger: runs table built again: column %s is %s, the runs added make it %s", name, kind, made)
            return None, 0
        parts[name] = pd.concat([have, add], ignore_index=True)
    frame = pd.DataFrame(parts, copy=False)
    place = np.empty(len(runs), dtype=np.intp)  # the joined frame's row of each run
    place[np.array([k for k, i in enumerate(taken) if i >= 0], dtype=np.intp)] = np.array(kept, dtype=np.intp)
    place[np.array(built_at, dtype=np.intp)] = np.arange(len(keys), len(keys) + len(built_at), dtype=np.intp)
    if not (place == np.arange(len(runs))).all():
        frame = frame.take(place).reset_index(drop=True)
    frame.insert(at, "status", [r.status for r in runs])
    return frame, sum(runs[k].status != "running" and current[k] is not None for k in built_at)  # rows to keep


# ---- the file --------------------------------------------------------------------------------------


def _write(storage: Storage, frame: DataFrame, runs: Sequence[RunView]) -> None:
    """Keep the rows of ``frame`` whose runs are not live and whose row is their manifest's."""
    import numpy as np  # noqa: PLC0415

    pa = _history.arrow()
    keep = np.array([r.status != "running" and r._key is not None for r in runs], dtype=bool)  # noqa: SLF001
    try:
        table = frame.drop(columns="status")
        if not keep.all():
            table = table[keep]
        arrays, names, meta = [], [], []
        for i, name in enumerate(table.columns):
            dtype = str(table[name].dtype)
            if dtype in _TYPED or (dtype.startswith("datetime64[") and dtype.endswith(", UTC]")):
                arrays.append(pa.Array.from_pandas(table[name]))
                names.append(f"{i}")
                meta.append([name, "typed", dtype])
            elif dtype == "object":
                encoded, sticky = _encode(pa, table[name].to_numpy())
                for code, array in encoded.items():
                    arrays.append(array)
                    names.append(f"{i}.{code}")
                meta.append([name, "sticky" if sticky else "object", dtype])
            else:
                return  # a dtype this version does not keep: the table is built each time
        kept = [r for r, k in zip(runs, keep, strict=True) if k]
        arrays.append(pa.array([r._key for r in kept], type=pa.string()))  # noqa: SLF001
        names.append("keys")
        header = {"kind": _KIND, "version": _VERSION, "rows": len(kept), "columns": meta}
        schema = pa.schema([pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)],
                           metadata={b"ledger": orjson.dumps(header)})  # fmt: skip
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, schema) as writer:
            writer.write_batch(pa.record_batch(arrays, schema=schema))
        storage.write_atomic(FILE, sink.getvalue().to_pybytes())
    except (_Uncacheable, OSError, pa.ArrowException) as exc:
        log.debug("ledger: runs table not cached in %s: %s", storage.full(FILE), exc)


def _encode(pa: Any, values: Any) -> tuple[dict[str, Any], bool]:
    """An object column as a type code per row and, per type present, an array of the
    column's length holding that type's values (null elsewhere); and whether the column
    stays ``object`` whatever values join it (see :func:`_sticky`)."""
    import numpy as np  # noqa: PLC0415

    n = len(values)
    codes = np.fromiter(map(_CODES.get, map(type, values), repeat(_JSON, n)), dtype=np.int8, count=n)
    out = {"c": pa.array(codes)}
    floats = values[codes == _FLOAT].astype(np.float64)
    sticky = _sticky(set(np.unique(codes).tolist()), bool(np.isnan(floats).any()), bool((~np.isnan(floats)).any()))
    for code in np.unique(codes).tolist():
        if code == _NONE:
            continue
        where = codes == code
        picked = values[where]
        if code in (_INT, _FLOAT, _BOOL):
            dtype = {_INT: np.int64, _FLOAT: np.float64, _BOOL: bool}[code]
            full = np.zeros(n, dtype=dtype)
            try:
                full[where] = picked.astype(dtype)
            except OverflowError as exc:
                raise _Uncacheable from exc
            out[str(code)] = pa.array(full, mask=~where)
        elif code == _STR:
            full = np.full(n, None, dtype=object)
            full[where] = picked
            out[str(code)] = pa.array(full, type=pa.string())
        else:  # lists and mappings: one JSON array of them all, in the first row
            out[str(code)] = pa.array([_json(picked.tolist()), *repeat(None, n - 1)], type=pa.large_binary())
    return out, sticky


def _sticky(codes: set[int], nan: bool, numbers: bool) -> bool:
    """Whether pandas makes a column ``object`` whatever values are added to these: it holds
    lists or mappings, or two of booleans, numbers and strings, or booleans and a missing
    value (None or NaN). A column of None alone, or of numbers and None, is not."""
    kinds = {_BOOL, _STR} & codes
    if _INT in codes or numbers:
        kinds.add(_INT)
    missing = _NONE in codes or nan
    return _JSON in codes or len(kinds) >= 2 or (_BOOL in kinds and missing)


def _json(values: list[Any]) -> bytes:
    """Values as one JSON array; ``!`` first where non-finite floats in them are marked (as
    the index marks them). Dates, non-text keys and huge ints cannot be carried: _Uncacheable."""
    try:
        data = orjson.dumps(values, option=orjson.OPT_PASSTHROUGH_DATETIME, default=_refuse)
        if b"null" not in data:  # JSON writes NaN and infinities as null: only then look closer
            return data
        safe, marked = _format.manifest_to_json(values)
        return (b"!" if marked else b"") + orjson.dumps(safe)
    except (_format.NotJsonExact, TypeError) as exc:
        raise _Uncacheable from exc


def _refuse(_value: Any) -> Any:
    raise _Uncacheable


def _read(storage: Storage, runs: int) -> tuple[DataFrame, list[str], set[str]] | None:
    """The file's table, the path and version of each row's manifest, and the columns that
    stay ``object``; None where there is none this version wrote that reads back whole
    within the size bound."""
    pa = _history.arrow()
    try:
        size = storage.stat(FILE).size  # refuses symlinks, FIFOs and devices before any open
        if size > runs * _BYTES_PER_ROW + _BYTES_FLOOR:
            return None
        local = storage.local_path(FILE) if storage.caps.local else None
        source = pa.memory_map(local) if local is not None else pa.BufferReader(pa.py_buffer(storage.read_bytes(FILE)))
        reader = pa.ipc.open_file(source)
        header = orjson.loads((reader.schema.metadata or {}).get(b"ledger", b"null"))
        if not isinstance(header, dict) or header.get("kind") != _KIND or header.get("version") != _VERSION:
            return None
        if reader.num_record_batches != 1:
            return None
        batch = reader.get_batch(0)
        batch.validate(full=True)
        return _decode(batch, header)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, IndexError, orjson.JSONDecodeError, pa.ArrowException) as exc:
        log.debug("ledger: runs table cache %s not read: %s", storage.full(FILE), exc)
        return None


def _decode(batch: Any, header: dict[str, Any]) -> tuple[DataFrame, list[str], set[str]] | None:
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    rows = header["rows"]
    if type(rows) is not int or batch.num_rows != rows:
        return None
    keys = batch.column("keys")
    if keys.null_count:
        return None
    data: dict[str, Any] = {}
    sticky: list[str] = []
    for i, (name, kind, dtype) in enumerate(header["columns"]):
        if not isinstance(name, str) or name in data or name == "status":
            return None
        if kind == "typed":
            series = batch.column(f"{i}").to_pandas()
            if str(series.dtype) != dtype:
                return None
            data[name] = series
        elif kind in ("object", "sticky"):
            if dtype != "object":
                return None
            data[name] = _decode_object(batch, i, rows, np)
            if kind == "sticky":
                sticky.append(name)
        else:
            return None
    return pd.DataFrame(data, copy=False), keys.to_pylist(), set(sticky)


def _decode_object(batch: Any, i: int, rows: int, np: Any) -> Any:
    codes = batch.column(f"{i}.c").to_numpy()
    if codes.dtype != np.int8:
        raise TypeError(codes.dtype)
    out = np.full(rows, None, dtype=object)
    for code in range(_BOOL, _JSON + 1):
        mask = codes == code
        count = int(mask.sum())
        if not count:
            continue
        child = batch.column(f"{i}.{code}")  # KeyError: the file is not one this version wrote
        if code == _JSON:
            raw = child[0].as_py() if child.null_count == rows - 1 else None
            if not isinstance(raw, bytes):
                raise ValueError(f"column {i}: no JSON array in its first row")
            parsed = orjson.loads(raw[1:] if raw[:1] == b"!" else raw)
            if raw[:1] == b"!":
                parsed = _format.manifest_from_json(parsed)
            if type(parsed) is not list or len(parsed) != count:
                raise ValueError(f"column {i}: not one JSON value per row")
            values = np.empty(count, dtype=object)
            values[:] = parsed
        elif child.null_count != rows - count:
            raise ValueError(f"column {i}: {rows - child.null_count} values of type {code} for {count} rows")
        elif code in (_INT, _FLOAT):
            values = child.fill_null(0).to_numpy()[mask].astype(object)
        else:  # strings, booleans
            values = child.to_numpy(zero_copy_only=False)[mask]
        out[mask] = values
    if f"{i}.{_NONE}" in batch.schema.names:
        raise ValueError(f"column {i}: an array for None")
    return out
