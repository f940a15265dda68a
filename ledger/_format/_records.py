"""Records of ``metrics.jsonl`` and ``system.jsonl``: how a ``log()`` call becomes one, and
how records are written and read.

A record is one JSON object per line: the reserved ``_step`` and ``_time`` first, then
metric names, nested dicts flattened with ``/`` (``{"train": {"acc": 1}}`` is
``train/acc``). Values are numbers or booleans (integers of any size), non-finite floats
spelt as in :mod:`ledger._format._values`, or media references (``_type``). One ``log()``
call may not give one name twice (``{"a/b": 1, "a": {"b": 2}}`` is an error naming both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ledger import _settings
from ledger._format._values import finite_or_text, restore_record_value, too_deep

STEP = "_step"
TIME = "_time"
RESERVED = (STEP, TIME)
SEPARATOR = "/"


# ---- building a record (the slow path of log(); the fast path lives in the run) ----------


def metric_value(key: str, value: Any) -> int | float | bool:
    """A logged value as a plain number: ints, floats and bools as they are (subclasses such
    as numpy.float64 converted), numpy and torch scalars through ``.item()``; TypeError else."""
    if isinstance(value, (bool, int, float)):
        return bool(value) if isinstance(value, bool) else (int(value) if isinstance(value, int) else float(value))
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars and 0-d arrays, torch scalars
        try:
            inner = item()
        except (ValueError, RuntimeError):
            inner = None
        if type(inner) in (int, float, bool):
            return inner  # type: ignore[no-any-return]
    shape = getattr(value, "shape", None)
    detail = f" of shape {tuple(shape)}" if shape is not None else ""
    msg = (
        f"run.log: the value of {key!r} is a {type(value).__name__}{detail}; log numbers "
        f"(int, float, bool, numpy or torch scalars), e.g. {{'{key}': float(x)}}"
    )
    raise TypeError(msg)


def check_key(key: Any, prefix: str) -> str:
    """The flat name of ``key`` under ``prefix``; TypeError or ValueError for names a record
    cannot hold (not text, empty, reserved)."""
    if not isinstance(key, str) or not key:
        msg = f"run.log: metric names must be non-empty strings, got {prefix}{key!r} ({type(key).__name__})"
        raise TypeError(msg)
    name = prefix + key
    if name in RESERVED:
        msg = f"run.log: {name!r} is reserved; pass the step as run.log(..., step=N)"
        raise ValueError(msg)
    return name


def add_item(
    rec: dict[str, Any],
    key: Any,
    value: Any,
    *,
    known: set[str],
    media_names: set[str],
    is_media: Callable[[Any], bool],
    prefix: str = "",
) -> tuple[int, bool]:
    """Add one item given to ``log()`` to ``rec``: a new name, a nested dict (flattened),
    a numpy value, or a media object (kept as is, for the run to turn into a reference).

    ``known`` (scalar names) and ``media_names`` are the run's names so far; a name is
    either scalar or media for the whole run. Returns how many names were added, and
    whether one of them is media.
    """
    name = check_key(key, prefix)
    if isinstance(value, Mapping):
        added, media = 0, False
        for k, v in value.items():
            n, m = add_item(rec, k, v, known=known, media_names=media_names, is_media=is_media, prefix=name + SEPARATOR)
            added += n
            media |= m
        return added, media
    if is_media(value):
        if name in known:
            msg = f"run.log: {name!r} was logged as a number; give the {type(value).__name__} another name"
            raise ValueError(msg)
        rec[name] = value
        media_names.add(name)
        return 1, True
    if name in media_names:
        msg = f"run.log: {name!r} was logged as media; a number needs another name"
        raise ValueError(msg)
    rec[name] = metric_value(name, value)
    known.add(name)
    return 1, False


def _spellings(data: Mapping[Any, Any], prefix: str, out: dict[str, list[str]], path: str) -> None:
    for k, v in data.items():
        name = f"{prefix}{k}"
        shown = f"{path}[{k!r}]"
        if isinstance(v, Mapping):
            _spellings(v, name + SEPARATOR, out, shown)
        else:
            out.setdefault(name, []).append(shown)


def collision_error(data: Mapping[Any, Any]) -> ValueError:
    """The error for a ``log()`` call that gives one flat name twice, naming both spellings."""
    spellings: dict[str, list[str]] = {}
    _spellings(data, "", spellings, "")
    name, where = next(((n, w) for n, w in spellings.items() if len(w) > 1), ("?", ["?", "?"]))
    msg = (
        f"run.log: {name!r} is given twice in one call, as {where[0]} and as {where[1]} "
        f"(nested dicts are flattened with {SEPARATOR!r}); give each value one name"
    )
    return ValueError(msg)


# ---- writing and reading records ----------------------------------------------------------

# A run of 19+ digits can only be an integer beyond 64 bits (floats print <= 17 significant
# digits); orjson would silently read it as a float, so such lines go through the stdlib parser.
# Digits after a decimal point are a fraction, never an integer (0.00012345678901234567 is a
# float with leading zeros). Found with bytes.translate and bytes.find (C speed; a regular
# expression with a look-behind scans a long file 30x slower): every digit becomes "0", the
# point stays, anything else becomes a space, and a long integer is a space then 19 zeros.
_DIGIT_SHAPES = bytes(48 if 48 <= b <= 57 else (46 if b == 46 else 32) for b in range(256))
_LONG_INT_SHAPE = b" " + b"0" * 19


def _has_long_int(data: bytes) -> bool:
    return _LONG_INT_SHAPE in data.translate(_DIGIT_SHAPES)


def _encode_slow(record: Mapping[str, Any]) -> bytes:
    safe = {k: finite_or_text(v) for k, v in record.items()}
    try:
        return orjson.dumps(safe)
    except TypeError:  # an int beyond 64 bits: the stdlib writes it exactly
        return json.dumps(safe, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_records(records: Sequence[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line, each ending in a newline."""
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    buf = bytearray()
    for rec in records:
        try:
            buf += dumps(rec, option=newline)
        except TypeError:  # an int beyond 64 bits
            buf += _encode_slow(rec) + b"\n"
    # Values are numbers or bools, never None, so "null" means orjson met a non-finite
    # float (or a key holds the word): re-encode just those lines, correctly either way.
    if b"null" not in buf:
        return bytes(buf)
    lines = bytes(buf).split(b"\n")[:-1]
    return b"".join(
        (_encode_slow(rec) if b"null" in line else line) + b"\n" for rec, line in zip(records, lines, strict=True)
    )


@dataclass
class Records:
    """Records decoded from JSON lines, with what was skipped."""

    records: list[dict[str, Any]]
    torn: str | None = None  # a torn last line (a killed writer): expected, not corruption
    corrupt: list[str] = field(default_factory=list)  # bad lines followed by good ones


def decode_records(data: bytes, where: str) -> Records:
    """Parse JSON lines; never fails on a bad line. A torn last line (a killed writer) is
    skipped and described in ``torn``; any other bad line is skipped and described in
    ``corrupt`` (``ledger verify`` reports those as errors), and so is a line longer than
    ``$LEDGER_MAX_RECORD_BYTES`` or nested deeper than ``$LEDGER_MAX_DEPTH``."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    max_bytes = _settings.get(_settings.MAX_RECORD_BYTES)
    max_depth = _settings.get(_settings.MAX_DEPTH)
    has_nonfinite = b'Infinity"' in data or b'"NaN"' in data
    has_long_int = _has_long_int(data)
    # Only a chunk with more brackets than lines + the limit can hold a line nested too deep.
    may_be_deep = data.count(b"{") + data.count(b"[") > len(lines) + max_depth
    loads = orjson.loads
    out = Records([])
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if len(line) > max_bytes:
            out.corrupt.append(
                f"{where}: skipped line {i + 1} of {last + 1}: {len(line)} bytes, over the limit of "
                f"{max_bytes} (${_settings.MAX_RECORD_BYTES.name})"
            )
            continue
        try:
            rec = json.loads(line) if has_long_int and _has_long_int(line) else loads(line)
            if type(rec) is not dict:
                msg = "not a JSON object"
                raise ValueError(msg)  # noqa: TRY301
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
            if i == last:
                out.torn = f"{where}: skipped a torn last line ({len(line)} bytes) at line {i + 1}"
            else:
                out.corrupt.append(f"{where}: skipped line {i + 1} of {last + 1}, not a JSON object ({exc})")
            continue
        if may_be_deep and line.count(b"{") + line.count(b"[") > max_depth and too_deep(rec, max_depth):
            out.corrupt.append(
                f"{where}: skipped line {i + 1} of {last + 1}: nested deeper than {max_depth} levels "
                f"(${_settings.MAX_DEPTH.name})"
            )
            continue
        if has_nonfinite:
            rec = {k: restore_record_value(v) for k, v in rec.items()}
        out.records.append(rec)
    return out
