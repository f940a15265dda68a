"""The schema of format 1: manifest fields, statuses, streams and run files, the crashed rule
and the compute-hours formula, each declared once.

Everything else derives from these declarations: the filter language's fields, the columns
of ``ledger ls``, ``to_pandas()`` and the viewer, what ``--public`` strips, what ``ledger
verify`` checks, and the tables of docs/format.md (a test holds them together).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ledger._errors import CorruptFileError, FormatVersionError
from ledger._format._names import FORMAT_VERSION, MANIFEST, PATCH, REQUIREMENTS, iso, parse_iso, segment_name
from ledger._format._yaml import sorted_tree, yaml_dump, yaml_load

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# ---- statuses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusSpec:
    """One status a run can be read as."""

    name: str
    final: bool  # a writer ends a run with it (finish(status=...)); nothing more happens after
    written: bool  # appears in run.yaml; crashed is only ever inferred by readers
    symbol: str  # how text tables show it
    colour: str  # how HTML shows it
    meaning: str


STATUS_SPECS = (
    StatusSpec("running", final=False, written=True, symbol="🔵", colour="#1f6feb", meaning="its writer is alive"),
    StatusSpec("finished", final=True, written=True, symbol="🟢", colour="#1a7f37", meaning="it ended normally"),
    StatusSpec(
        "failed", final=True, written=True, symbol="🔴", colour="#cf222e", meaning="an uncaught exception (`error`)"
    ),
    StatusSpec(
        "killed", final=True, written=True, symbol="⚫", colour="#9a6700", meaning="SIGTERM, Ctrl-C or a sweep agent"
    ),
    StatusSpec(
        "crashed",
        final=False,
        written=False,
        symbol="🟠",
        colour="#cf222e",
        meaning="inferred: `running` with a heartbeat older than 3 x `heartbeat_s`",
    ),
)
STATUSES = tuple(s.name for s in STATUS_SPECS)
FINAL_STATUSES = tuple(s.name for s in STATUS_SPECS if s.final)  # what finish() writes
ENDED_STATUSES = (*FINAL_STATUSES, "crashed")  # nothing more will be written to the run
STATUS_SYMBOLS = {s.name: s.symbol for s in STATUS_SPECS}
STATUS_COLOURS = {s.name: s.colour for s in STATUS_SPECS}

# A running run whose heartbeat is older than this many heartbeat intervals reads as crashed.
STALE_AFTER_INTERVALS = 3
DEFAULT_HEARTBEAT_S = 30.0


def stale_at(heartbeat: object, heartbeat_s: object) -> float | None:
    """When a running run with this heartbeat stops being believed alive (epoch seconds)."""
    if not isinstance(heartbeat, str):
        return None
    try:
        beat = parse_iso(heartbeat)
    except ValueError:
        return None
    period = heartbeat_s if isinstance(heartbeat_s, (int, float)) and not isinstance(heartbeat_s, bool) else None
    return beat + STALE_AFTER_INTERVALS * float(period or DEFAULT_HEARTBEAT_S)


def read_status(status: object, heartbeat: object, heartbeat_s: object, now: float | None = None) -> str:
    """The status as readers show it: ``running`` with a stale heartbeat is ``crashed``."""
    written = str(status or "running")
    if written != "running":
        return written
    limit = stale_at(heartbeat, heartbeat_s)
    if limit is not None and (time.time() if now is None else now) > limit:
        return "crashed"
    return "running"


class ComputeHours(NamedTuple):
    """The compute of one run: hours of active time, GPU hours, and where its GPU count came
    from: ``allocation`` (what the scheduler allocated, ``allocation.gpus``) or ``detected``
    (the GPUs the process saw, ``gpu_count``)."""

    hours: float
    gpu_hours: float
    basis: str


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def run_gpus(gpu_count: object, allocation: object = None) -> tuple[int, str]:
    """The GPUs a run is charged for, and the basis: ``allocation.gpus`` where the run
    recorded a scheduler allocation, else ``gpu_count`` (missing counts as 0)."""
    allocated = _count(allocation.get("gpus")) if isinstance(allocation, dict) else None
    if allocated is not None:
        return allocated, ALLOCATION_BASIS
    return _count(gpu_count) or 0, DETECTED_BASIS


ALLOCATION_BASIS, DETECTED_BASIS = "allocation", "detected"


def compute_hours(duration_s: object, gpu_count: object, allocation: object = None) -> ComputeHours:
    """(hours, GPU hours, basis) of one run: ``duration_s / 3600`` and ``duration_s * gpus /
    3600``, where ``gpus`` is ``allocation.gpus`` when the run recorded its scheduler's
    allocation, else ``gpu_count`` (a run without GPUs has 0 GPU hours). Missing values count as 0."""
    seconds = float(duration_s) if isinstance(duration_s, (int, float)) and not isinstance(duration_s, bool) else 0.0
    gpus, basis = run_gpus(gpu_count, allocation)
    hours = seconds / 3600
    return ComputeHours(hours, hours * gpus, basis)


def gpu_models(doc: Mapping[str, Any]) -> list[str | None]:
    """The GPU model of each of a run's GPUs (``allocation.gpus``, else ``gpu_count``), as recorded in ``host.gpus``
    (the ones ``CUDA_VISIBLE_DEVICES`` in ``host.scheduler`` names, by index or UUID, when it
    is set); None for a GPU whose model was not recorded. [] for a run without GPUs."""
    count, _basis = run_gpus(doc.get("gpu_count"), doc.get("allocation"))
    if count <= 0:
        return []
    found = doc.get("host")
    host: Mapping[str, Any] = found if isinstance(found, dict) else {}
    gpus = [g for g in (host.get("gpus") or []) if isinstance(g, dict)]
    scheduler = host.get("scheduler")
    visible = scheduler.get("CUDA_VISIBLE_DEVICES") if isinstance(scheduler, dict) else None
    if isinstance(visible, str) and visible.strip():
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        picked = [g for w in wanted for g in gpus if str(g.get("index")) == w or str(g.get("uuid") or "") == w]
        gpus = picked or gpus
    names = [g.get("name") if isinstance(g.get("name"), str) else None for g in gpus[:count]]
    return names + [None] * (count - len(names))


def crashed_seconds(duration_s: object, intervals: object, last_time: float | None) -> float:
    """The active seconds of a crashed run: ``duration_s`` as its last heartbeat wrote it, or,
    when the run's last record is later (it died before its next heartbeat), the closed
    intervals plus its last record's time minus the start of its open interval."""
    seconds = float(duration_s) if isinstance(duration_s, (int, float)) and not isinstance(duration_s, bool) else 0.0
    if last_time is None or not isinstance(intervals, list) or not intervals:
        return seconds
    last = intervals[-1]
    start = last.get("start") if isinstance(last, dict) else None
    if not isinstance(start, str) or last.get("end") is not None:
        return seconds
    try:
        opened = parse_iso(start)
    except ValueError:
        return seconds
    return max(seconds, active_seconds(intervals[:-1]) + max(0.0, last_time - opened))


def active_seconds(intervals: object) -> float:
    """A run's active time: the sum of its closed ``intervals`` (``duration_s`` of an ended run)."""
    total = 0.0
    for interval in intervals if isinstance(intervals, list) else ():
        start, end = (interval.get("start"), interval.get("end")) if isinstance(interval, dict) else (None, None)
        if isinstance(start, str) and isinstance(end, str):
            total += max(0.0, parse_iso(end) - parse_iso(start))
    return total


# The stop_reason of a run its job scheduler ended (SIGTERM at a time limit, a preemption, a requeue).
PREEMPTED = "preempted"

SUMMARY_KINDS = ("min", "max", "last", "mean")  # what define_metric keeps per metric

# ---- streams and run files ------------------------------------------------------------------


@dataclass(frozen=True)
class StreamSpec:
    """An append-only stream of a run folder: ``<stem>.<ext>`` and its segments."""

    stem: str
    ext: str
    records: bool  # JSON-lines records (else UTF-8 text)
    public: bool  # kept by `ledger publish --public`
    meaning: str

    @property
    def file(self) -> str:
        return f"{self.stem}.{self.ext}"

    def segment(self, n: int) -> str:
        return segment_name(n, self.stem, self.ext)


METRICS_STREAM = StreamSpec("metrics", "jsonl", records=True, public=True, meaning="metric records, one per log()")
SYSTEM_STREAM = StreamSpec("system", "jsonl", records=True, public=True, meaning="sampled CPU, memory, disk, GPU")
OUTPUT_STREAM = StreamSpec("output", "log", records=False, public=False, meaning="captured stdout and stderr")
STREAMS = (METRICS_STREAM, SYSTEM_STREAM, OUTPUT_STREAM)
RECORD_STREAMS = tuple(s.stem for s in STREAMS if s.records)
METRICS = METRICS_STREAM.file
SYSTEM = SYSTEM_STREAM.file
OUTPUT = OUTPUT_STREAM.file


@dataclass(frozen=True)
class RunFileSpec:
    """A file of a run folder written once (not a stream)."""

    name: str
    public: bool
    meaning: str


RUN_FILES = (
    RunFileSpec(MANIFEST, public=True, meaning="the manifest"),
    RunFileSpec(PATCH, public=False, meaning="uncommitted changes at start (may hold anything)"),
    RunFileSpec(REQUIREMENTS, public=True, meaning="installed distributions at start"),
)
# Files `--public` leaves out: private streams and run files (a stream's segments go with it).
PRIVATE_FILES = tuple([f.name for f in RUN_FILES if not f.public] + [s.file for s in STREAMS if not s.public])

# ---- manifest fields ------------------------------------------------------------------------

KINDS = ("str", "int", "float", "bool", "timestamp", "list[str]", "list[mapping]", "mapping")


@dataclass(frozen=True)
class FieldSpec:
    """One key of run.yaml.

    ``kind`` is its type (``None`` allowed when ``nullable``); ``written`` is ``always`` or
    ``when_set`` (left out while null or empty); ``public`` is False for fields
    ``--public`` leaves out, ``private`` names the keys of a mapping it leaves out, ``scrub``
    marks free text where ``--public`` replaces user and host names (never in ids, project,
    config or metric names, which are data); ``column`` says how the field becomes table
    columns: ``value`` (one column), ``flat`` (one per key: ``host.hostname``) or ``deep``
    (nested keys dotted: ``config.model.lr``).
    Every field can be filtered on by its name (``status``, ``host.hostname``, ...).
    """

    name: str
    kind: str
    nullable: bool
    required: bool = False
    written: str = "always"
    public: bool = True
    private: tuple[str, ...] = ()
    scrub: bool = False
    column: str = "value"
    meaning: str = ""

    def accepts(self, value: object) -> bool:
        """Whether ``value`` has this field's type."""
        if value is None:  # null where a default exists reads as that default
            return not self.required
        return _KIND_CHECKS[self.kind](value)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_KIND_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "timestamp": lambda v: isinstance(v, str),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "list[mapping]": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
    "mapping": lambda v: isinstance(v, dict),
}


def _f(  # noqa: PLR0913 (one keyword per schema attribute)
    kind: str,
    default: Any = None,
    *,
    factory: Any = None,
    written: str = "always",
    public: bool = True,
    private: tuple[str, ...] = (),
    scrub: bool = False,
    column: str = "value",
    meaning: str = "",
    required: bool = False,
) -> Any:
    """A Manifest field with its schema entry (the name is filled in below)."""
    spec = FieldSpec(
        "", kind, nullable=default is None and factory is None and not required, required=required, written=written,
        public=public, private=private, scrub=scrub, column=column, meaning=meaning,
    )  # fmt: skip
    if required:
        return field(metadata={"spec": spec})
    if factory is not None:
        return field(default_factory=factory, metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec})


@dataclass(kw_only=True)
class Manifest:
    """The content of run.yaml. Field order is the key order on disk; each field's schema
    entry (:class:`FieldSpec`) is in its metadata."""

    id: str = _f("str", required=True, meaning="the run id (= the folder name)")
    name: str | None = _f("str", meaning="display name; default adjective-noun-xxxx from the id")
    project: str = _f("str", required=True, meaning="the project (= the folder name two levels up)")
    group: str | None = _f("str", meaning="the idea or sweep the run belongs to")
    job_type: str | None = _f("str", meaning="train, eval, ...")
    tags: list[str] = _f("list[str]", factory=list)
    notes: str | None = _f("str", scrub=True)
    status: str = _f("str", "running", meaning="running, finished, failed, killed; crashed is inferred")
    created: str = _f("timestamp", "", meaning="when the run was first created")
    ended: str | None = _f("timestamp", meaning="when it last finished")
    duration_s: float | None = _f("float", meaning="active seconds: the sum of intervals")
    gpu_count: int = _f("int", 0, meaning="GPUs visible to the run at creation")
    heartbeat: str | None = _f("timestamp", meaning="last sign of life of the writing process")
    heartbeat_s: float = _f("float", DEFAULT_HEARTBEAT_S, meaning="the writer's heartbeat period in seconds")
    intervals: list[dict[str, str | None]] = _f("list[mapping]", factory=list, meaning="active periods")
    user: str | None = _f("str", public=False, meaning="who ran it")
    host: dict[str, Any] | None = _f("mapping", private=("hostname", "scheduler"), scrub=True, column="flat")
    command: dict[str, Any] | None = _f("mapping", private=("cwd", "executable"), scrub=True, column="flat")
    git: dict[str, Any] | None = _f("mapping", private=("root", "remote"), scrub=True, column="flat")
    config: dict[str, Any] = _f("mapping", factory=dict, column="deep")
    summary: dict[str, Any] = _f("mapping", factory=dict, column="deep")
    defined_metrics: dict[str, str] = _f(
        "mapping",
        factory=dict,
        written="when_set",
        column="flat",
        meaning="define_metric: name -> min, max, mean, last",
    )
    sweep: dict[str, Any] | None = _f("mapping", column="flat", meaning="{id, trial, fold} of sweep trials")
    resumed_from: str | None = _f("str")
    reproduces: str | None = _f("str", meaning="the run that `ledger reproduce --run` re-ran")
    parent: str | None = _f("str", meaning="the run this one belongs to (an eval job's training run)")
    links: dict[str, str] = _f("mapping", factory=dict, written="when_set", column="flat")
    attach: dict[str, dict[str, Any]] = _f("mapping", factory=dict, written="when_set")
    datasets: list[dict[str, Any]] = _f(
        "list[mapping]", factory=list, written="when_set", meaning="the data the run read: {name, digest, context, ...}"
    )
    used_artifacts: list[dict[str, Any]] = _f(
        "list[mapping]",
        factory=list,
        written="when_set",
        meaning="artifact versions the run used: {project, name, version, type, digest}",
    )
    logged_artifacts: list[dict[str, Any]] = _f(
        "list[mapping]",
        factory=list,
        written="when_set",
        meaning="artifact versions the run logged: {project, name, version, type, digest}",
    )
    error: str | None = _f("str", written="when_set", scrub=True, meaning="the traceback, or why the run was stopped")
    imported_from: dict[str, Any] | None = _f(
        "mapping", written="when_set", private=("source", "artifact_uri"), scrub=True, column="flat"
    )
    stop_reason: str | None = _f(
        "str", written="when_set", scrub=True, meaning="early_terminated, lease_expired, preempted"
    )
    allocation: dict[str, Any] | None = _f(
        "mapping", written="when_set", private=("nodes",), column="flat", meaning="what the job scheduler allocated"
    )
    # Keys this version does not know (written by a newer 1.x writer or by hand): kept as is.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_yaml(self) -> bytes:
        """Serialise in the normative key order; config and summary keys sorted."""
        doc: dict[str, Any] = {"format": FORMAT_VERSION}
        for spec in FIELDS:
            value = getattr(self, spec.name)
            if spec.name in _SORTED:
                value = sorted_tree(value)
            elif spec.written == "when_set" and not value:
                continue  # written only when there is something to say
            doc[spec.name] = value
        for k, v in self.extra.items():
            doc.setdefault(k, v)
        return yaml_dump(doc)

    @classmethod
    def from_yaml(cls, data: bytes, where: str) -> Manifest:
        """Parse run.yaml; FormatVersionError for another format, CorruptFileError if malformed."""
        return cls.from_dict(yaml_load(data, where), where)

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> Manifest:
        """A Manifest of a parsed run.yaml; CorruptFileError naming the first field whose value
        does not have its type."""
        check_manifest(doc, where)
        kwargs = {spec.name: doc[spec.name] for spec in FIELDS if doc.get(spec.name) is not None}
        extra = {k: v for k, v in doc.items() if k not in _NAMES and k != "format"}
        return cls(**kwargs, extra=extra)

    def stale_at(self) -> float | None:
        """When a running run with this heartbeat stops being believed alive (epoch seconds)."""
        return stale_at(self.heartbeat, self.heartbeat_s)

    def effective_status(self, now: float | None = None) -> str:
        """The status as readers should show it: a stale ``running`` run is ``crashed``."""
        return read_status(self.status, self.heartbeat, self.heartbeat_s, now)


def _named(f: dataclasses.Field[Any]) -> FieldSpec:
    spec: FieldSpec = f.metadata["spec"]
    return dataclasses.replace(spec, name=f.name)


FIELDS: tuple[FieldSpec, ...] = tuple(_named(f) for f in dataclasses.fields(Manifest) if "spec" in f.metadata)
FIELD_BY_NAME = {spec.name: spec for spec in FIELDS}
_NAMES = frozenset(FIELD_BY_NAME)
_SORTED = frozenset({"config", "summary"})
TIMESTAMP_FIELDS = tuple(spec.name for spec in FIELDS if spec.kind == "timestamp")
# What `ledger publish --public` leaves out, as dotted manifest fields and run files.
PUBLIC_STRIP = (
    *(spec.name for spec in FIELDS if not spec.public),
    *(f"{spec.name}.{key}" for spec in FIELDS for key in spec.private),
    *PRIVATE_FILES,
)
# Free-text fields where `--public` replaces user and host names (unknown keys are scrubbed too).
PUBLIC_SCRUB = tuple(spec.name for spec in FIELDS if spec.scrub)
KNOWN_FIELDS = _NAMES


def check_manifest(doc: Any, where: str) -> None:
    """Raise CorruptFileError (or FormatVersionError) unless ``doc`` is a run manifest of this
    format whose fields have their types. YAML timestamps written unquoted by hand (which
    YAML reads as dates) are turned into the ISO text the format stores."""
    if not isinstance(doc, dict):
        msg = f"{where}: a run manifest must be a YAML mapping, found {type(doc).__name__}"
        raise CorruptFileError(msg)
    version = doc.get("format")
    if version != FORMAT_VERSION:
        if version is None:
            msg = f"{where}: missing 'format' key; this is not a ledger run manifest"
            raise CorruptFileError(msg)
        raise FormatVersionError(where, version, FORMAT_VERSION)
    for name in TIMESTAMP_FIELDS:
        value = doc.get(name)
        if value is not None and type(value) is not str and isinstance(value, dt.datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
            doc[name] = iso(aware.timestamp())
    get = doc.get
    for name, check, required in _CHECKS:  # FieldSpec.accepts, unrolled: every index open runs it
        value = get(name)
        if (value is None and required) or (value is not None and not check(value)):
            spec = FIELD_BY_NAME[name]
            expected = spec.kind + (" or null" if spec.nullable else "")
            msg = f"{where}: '{spec.name}' must be {_ARTICLE[spec.kind]} {expected}, found {value!r}"
            raise CorruptFileError(msg)


_ARTICLE = {k: "an" if k[0] in "aeiou" else "a" for k in KINDS}
_CHECKS = tuple((spec.name, _KIND_CHECKS[spec.kind], spec.required) for spec in FIELDS)


def filter_fields() -> tuple[frozenset[str], frozenset[str]]:
    """The manifest fields a filter names alone (``status``) and those with keys below them
    (``config.lr``, ``host.hostname``), for the filter language."""
    nested = frozenset(spec.name for spec in FIELDS if spec.kind in ("mapping", "list[mapping]"))
    return frozenset(FIELD_BY_NAME) - nested, nested
