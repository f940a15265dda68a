"""On-disk format, version 1: file names, the run manifest, and metric records.

This module is the only one that knows file names and record shapes; docs/format.md is
the normative description of what it writes and reads. Change both together.
"""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import yaml

from ledger._errors import CorruptFileError, FormatVersionError, InvalidNameError

FORMAT_VERSION = 1

ROOT_MARKER = "ledger.yaml"
ROOT_GITIGNORE = ".gitignore"
CACHE_DIR = ".cache"
RUNS_DIR = "runs"
SWEEPS_DIR = "sweeps"
SWEEP_CONFIG = "sweep.yaml"
SWEEP_CLAIMS = "claims"  # claims/<n> per trial, claims/<n>.<k> for its k-th reclaim
SWEEP_AGENTS = "agents"  # agents/<agent-id>.yaml: an agent's heartbeat
SWEEP_STOP = "stop.yaml"  # made by `ledger sweep stop`: no new claims
MANIFEST = "run.yaml"
METRICS = "metrics.jsonl"
SYSTEM = "system.jsonl"
OUTPUT = "output.log"
PATCH = "code.patch"
REQUIREMENTS = "requirements.txt"
FILES_DIR = "files"

STATUSES = ("running", "finished", "failed", "killed", "crashed")
SUMMARY_KINDS = ("min", "max", "last", "mean")

# A running run whose heartbeat is older than this many heartbeat intervals reads as crashed.
STALE_AFTER_INTERVALS = 3
DEFAULT_HEARTBEAT_S = 30.0

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEGMENT_RE = re.compile(r"([a-z]+)\.(\d+)\.([a-z]+)")

# ---- names and paths --------------------------------------------------------------------


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it can be one path component (project, run id, sweep id)."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        msg = (
            f"{kind} {value!r} cannot be used: use 1-128 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (no '/', no '..', no spaces)"
        )
        raise InvalidNameError(msg)
    return value


def sanitize_name(value: str, fallback: str = "default") -> str:
    """Make a valid name out of a folder name (for default project names)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-._")[:128]
    return cleaned or fallback


def check_relative_file(value: str) -> str:
    """Return a '/'-separated relative path that stays inside its folder, or raise."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        msg = (
            f"file name {value!r} would leave the run folder: give a relative path without "
            f"'..' or a leading '/', e.g. 'model.pt' or 'checkpoints/last.pt'"
        )
        raise InvalidNameError(msg)
    return "/".join(parts)


def project_dir(project: str) -> str:
    return check_name("project", project)


def runs_dir(project: str) -> str:
    return f"{project_dir(project)}/{RUNS_DIR}"


def run_dir(project: str, run_id: str) -> str:
    return f"{runs_dir(project)}/{check_name('run id', run_id)}"


def sweep_dir(project: str, sweep_id: str) -> str:
    return f"{project_dir(project)}/{SWEEPS_DIR}/{check_name('sweep id', sweep_id)}"


def segment_name(n: int, stem: str = "metrics", ext: str = "jsonl") -> str:
    """Name of the n-th segment of a stream (``metrics.<n>.jsonl``), for stores that cannot append."""
    return f"{stem}.{n}.{ext}"


def segment_number(name: str, stem: str = "metrics", ext: str = "jsonl") -> int | None:
    """The n of ``<stem>.<n>.<ext>``, or None for any other name."""
    m = _SEGMENT_RE.fullmatch(name)
    return int(m.group(2)) if m and m.group(1) == stem and m.group(3) == ext else None


# ---- time ----------------------------------------------------------------------------


def iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds: 2026-11-27T02:03:04.123Z."""
    ms = round(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso(s: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp written by :func:`iso`."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "crisp", "dapper", "eager", "fancy", "gentle",
    "golden", "happy", "jolly", "keen", "lively", "lucky", "mellow", "misty", "noble", "proud",
    "quiet", "rapid", "silent", "sleek", "snowy", "solar", "steady", "swift", "tidy", "vivid",
    "warm", "witty",
)  # fmt: skip
_NOUNS = (
    "badger", "bison", "cedar", "comet", "crane", "delta", "ember", "falcon", "fjord", "glade",
    "harbor", "heron", "island", "lark", "lynx", "maple", "meadow", "nebula", "otter", "pine",
    "quartz", "raven", "river", "sparrow", "spruce", "summit", "tiger", "tundra", "valley",
    "walrus", "willow", "zephyr",
)  # fmt: skip


def new_run_id(t: float) -> str:
    """A run id: UTC time of creation and 6 random hex digits, e.g. 20261127-020304-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(t)) + "-" + secrets.token_hex(3)


def default_run_name(run_id: str) -> str:
    """A readable name derived from the id's random part, e.g. 'brisk-otter-3f9a'."""
    tail = run_id.rsplit("-", 1)[-1]
    try:
        bits = int(tail, 16)
    except ValueError:
        bits = sum(tail.encode())
    return f"{_ADJECTIVES[bits % 32]}-{_NOUNS[(bits // 32) % 32]}-{tail[:4]}"


# ---- YAML ------------------------------------------------------------------------------


def yaml_dump(data: Mapping[str, Any]) -> bytes:
    """Block-style YAML, keys in the given order, unicode kept (small, stable diffs)."""
    text: str = yaml.dump(
        dict(data),
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return text.encode("utf-8")


def yaml_load(data: bytes, where: str) -> Any:
    """Parse YAML with the safe C loader only (tags such as !!python/object are refused)."""
    try:
        return yaml.load(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML ({str(exc).splitlines()[0]})"
        raise CorruptFileError(msg) from exc


def sorted_tree(value: Any) -> Any:
    """Mappings with their keys sorted at every depth (config and summary are stored so)."""
    if isinstance(value, Mapping):
        return {k: sorted_tree(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [sorted_tree(v) for v in value]
    return value


def root_marker() -> bytes:
    return yaml_dump({"format": FORMAT_VERSION})


def check_root_marker(data: bytes, where: str) -> None:
    """Fail clearly on a root written in a format this version cannot read."""
    doc = yaml_load(data, where)
    if not isinstance(doc, dict) or "format" not in doc:
        msg = f"{where}: not a ledger root marker (expected a mapping with 'format: {FORMAT_VERSION}')"
        raise CorruptFileError(msg)
    if doc["format"] != FORMAT_VERSION:
        raise FormatVersionError(where, doc["format"], FORMAT_VERSION)


# ---- the manifest -------------------------------------------------------------------------


@dataclass(kw_only=True)
class Manifest:
    """The content of run.yaml. Field order is the key order on disk."""

    id: str
    name: str | None = None
    project: str
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    status: str = "running"
    created: str = ""
    ended: str | None = None
    duration_s: float | None = None
    # GPUs visible to the run (0 without): compute hours = duration_s * max(gpu_count, 1) / 3600
    gpu_count: int = 0
    heartbeat: str | None = None
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    intervals: list[dict[str, str | None]] = field(default_factory=list)
    user: str | None = None
    host: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] | None = None
    resumed_from: str | None = None
    reproduces: str | None = None  # the run that `ledger reproduce --run` re-ran to make this one
    parent: str | None = None  # the run this one belongs to (an eval job's training run)
    links: dict[str, str] = field(default_factory=dict)  # relation -> run id ({"evaluates": ...})
    attach: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> summary values for it
    error: str | None = None
    # Runs made by `ledger import`: {kind, id, source} of the run they were copied from.
    imported_from: dict[str, Any] | None = None
    stop_reason: str | None = None  # set by a sweep agent: early_terminated, lease_expired
    # Keys this version does not know (written by a newer 1.x writer or by hand): kept as is.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_yaml(self) -> bytes:
        """Serialise in the normative key order; config and summary keys sorted."""
        doc: dict[str, Any] = {"format": FORMAT_VERSION}
        for f in _FIELDS:
            value = getattr(self, f)
            if f in ("config", "summary"):
                value = sorted_tree(value)
            elif (f in ("error", "imported_from", "stop_reason") and value is None) or (
                f in ("links", "attach") and not value
            ):
                continue  # written only when there is something to say
            doc[f] = value
        for k, v in self.extra.items():
            doc.setdefault(k, v)
        return yaml_dump(doc)

    @classmethod
    def from_yaml(cls, data: bytes, where: str) -> Manifest:
        """Parse run.yaml; FormatVersionError for another format, CorruptFileError if malformed."""
        doc = yaml_load(data, where)
        return cls.from_dict(doc, where)

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> Manifest:
        if not isinstance(doc, dict):
            msg = f"{where}: a run manifest must be a YAML mapping, found {type(doc).__name__}"
            raise CorruptFileError(msg)
        version = doc.get("format")
        if version != FORMAT_VERSION:
            if version is None:
                msg = f"{where}: missing 'format' key; this is not a ledger run manifest"
                raise CorruptFileError(msg)
            raise FormatVersionError(where, version, FORMAT_VERSION)
        for key in ("id", "project"):
            if not isinstance(doc.get(key), str):
                msg = f"{where}: '{key}' must be a string, found {doc.get(key)!r}"
                raise CorruptFileError(msg)
        kwargs = {f: doc[f] for f in _FIELDS if f in doc and (doc[f] is not None or f in _NULLABLE)}
        for key in ("tags", "intervals"):
            if not isinstance(kwargs.get(key, []), list):
                msg = f"{where}: '{key}' must be a list, found {kwargs[key]!r}"
                raise CorruptFileError(msg)
        for key in ("config", "summary"):
            if not isinstance(kwargs.get(key, {}), dict):
                msg = f"{where}: '{key}' must be a mapping, found {kwargs[key]!r}"
                raise CorruptFileError(msg)
        extra = {k: v for k, v in doc.items() if k not in _FIELDS and k != "format"}
        return cls(**kwargs, extra=extra)

    def stale_at(self) -> float | None:
        """When a running run with this heartbeat stops being believed alive (epoch seconds)."""
        if self.heartbeat is None:
            return None
        return parse_iso(self.heartbeat) + STALE_AFTER_INTERVALS * float(self.heartbeat_s)

    def effective_status(self, now: float | None = None) -> str:
        """The status as readers should show it: a stale ``running`` run is ``crashed``."""
        if self.status != "running":
            return self.status
        stale_at = self.stale_at()
        if stale_at is not None and (time.time() if now is None else now) > stale_at:
            return "crashed"
        return "running"


_FIELDS = tuple(f.name for f in dataclasses.fields(Manifest) if f.name != "extra")
_NULLABLE = frozenset(f.name for f in dataclasses.fields(Manifest) if f.default is None)


# ---- metric records -----------------------------------------------------------------------

# Non-finite floats are written as these strings (JSON has no NaN; orjson would write null).
_NONFINITE_OUT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# A run of 19+ digits can only be an integer beyond 64 bits (floats print <= 17 digits);
# orjson would silently read it as a float, so such lines go through the stdlib parser.
_LONG_INT = re.compile(rb"\d{19,}")


def _finite_or_text(v: Any) -> Any:
    if type(v) is float and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def _encode_slow(record: Mapping[str, Any]) -> bytes:
    import json  # noqa: PLC0415

    safe = {k: _finite_or_text(v) for k, v in record.items()}
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


def _restore(value: Any) -> Any:
    if type(value) is str:
        return _NONFINITE_OUT.get(value, value)
    if type(value) is dict:
        return {k: _restore(v) for k, v in value.items()}
    return value


@dataclass
class Records:
    """Records decoded from JSON lines, with what was skipped."""

    records: list[dict[str, Any]]
    torn: str | None = None  # a torn last line (a killed writer): expected, not corruption
    corrupt: list[str] = field(default_factory=list)  # bad lines followed by good ones


def decode_records(data: bytes, where: str) -> Records:
    """Parse JSON lines; never fails on a bad line. A torn last line (a killed writer) is
    skipped and described in ``torn``; any other bad line is skipped and described in
    ``corrupt`` (``ledger verify`` reports those as errors)."""
    import json  # noqa: PLC0415

    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    has_nonfinite = b'Infinity"' in data or b'"NaN"' in data
    has_long_int = _LONG_INT.search(data) is not None
    loads = orjson.loads
    out = Records([])
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line) if has_long_int and _LONG_INT.search(line) else loads(line)
            if type(rec) is not dict:
                msg = "not a JSON object"
                raise ValueError(msg)  # noqa: TRY301
        except ValueError as exc:  # UnicodeDecodeError and RecursionError-free: both are ValueErrors
            if i == last:
                out.torn = f"{where}: skipped a torn last line ({len(line)} bytes) at line {i + 1}"
            else:
                out.corrupt.append(f"{where}: skipped line {i + 1} of {last + 1}, not a JSON object ({exc})")
            continue
        if has_nonfinite:
            rec = {k: _restore(v) for k, v in rec.items()}
        out.records.append(rec)
    return out
