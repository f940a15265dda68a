"""What every importer shares: the shape of a run read from another tool, and writing it.

An importer reads its tool's files into an :class:`ImportedRun` (times, status, config,
tags, summary, metric records with their original steps and timestamps, optional system
records, console output and files); :func:`write_run` turns that into a finished run
folder of format 1, through :class:`~ledger._storage.Storage` like every other writer.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._config import normalize_config
from ledger._errors import LedgerError
from ledger._format import Manifest
from ledger._root import claim_run
from ledger._storage import open_storage, retrying

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ledger._storage import Storage

# Metric names our records reserve: a source metric of that name cannot be kept as is.
_RESERVED = _format.RESERVED


class ImportSourceError(LedgerError, ValueError):
    """The SOURCE of ``ledger import`` cannot be read as the KIND says (or needs a package)."""


def missing_package(what: str, package: str) -> ImportSourceError:
    """The error for an optional package an importer needs; names the pip command."""
    return ImportSourceError(
        f"{what} needs the {package} package: pip install 'experiment-ledger[importers]' (or pip install {package})"
    )


@dataclass(frozen=True)
class Point:
    """One logged value: a metric's value at a step, with its wall time (None if unknown)."""

    step: int
    time: float | None
    key: str
    value: int | float | bool


@dataclass(frozen=True)
class Found:
    """A run found in a source, not read yet."""

    source_id: str  # recorded as imported_from.id
    label: str  # how messages name it, e.g. 'mlflow run 8213a0 "r1"'
    load: Callable[[], ImportedRun]


@dataclass(kw_only=True)
class ImportedRun:
    """A run as another tool recorded it, ready to be written as a ledger run."""

    kind: str  # mlflow, tensorboard, dvclive, wandb
    source_id: str  # the run's id in the source tool: how a second import recognises it
    source: str  # where it was read from (the SOURCE given, or the file inside it)
    project: str | None = None  # the source's own grouping (MLflow experiment, W&B project)
    name: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    status: str = "finished"  # finished, failed, killed; running if the source never ended it
    created: float  # seconds since the epoch
    ended: float | None = None  # None: the last time seen in the data
    user: str | None = None
    host: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None  # None: the last value of every metric
    records: list[dict[str, Any]] = field(default_factory=list)  # with _step and _time, steps not decreasing
    system: list[dict[str, Any]] = field(default_factory=list)
    output: str | None = None
    requirements: bytes | None = None
    # Files to copy into files/: (a path relative to `files_from`, the name under files/).
    files: list[tuple[str, str]] = field(default_factory=list)
    files_from: Storage | None = None
    skipped: list[str] = field(default_factory=list)  # what could not be kept, for the report
    parent_source_id: str | None = None  # the source id of the run this one belongs to (MLflow's parentRunId)
    datasets: list[dict[str, Any]] = field(default_factory=list)  # what it read: {name, digest, context, ...}
    artifact_uri: str | None = None  # where the source tool keeps its artifacts (MLflow)


def open_source(source: str, what: str) -> Storage:
    """The folder ``source`` (a local path, ``file:`` URI or fsspec URL) for reading; a clear
    error if it does not exist or is a file. ``what`` names what was expected there."""
    url = source
    if url.startswith("file:"):
        url = url[len("file://") :] if url.startswith("file://") else url[len("file:") :]
    if "://" not in url:
        url = os.path.abspath(url)
    folder = open_storage(url)
    if not folder.exists(""):
        msg = f"{source}: no such folder; give the path of {what}"
        raise ImportSourceError(msg)
    if not folder.is_dir(""):
        msg = f"{source}: is a file, not a folder; give the path of {what}"
        raise ImportSourceError(msg)
    return folder


# ---- building records ---------------------------------------------------------------------


def records_from_points(points: Iterable[Point], *, default_time: float) -> list[dict[str, Any]]:
    """Metric records out of single values: sorted by step, then time (stable: values of one
    step and time keep their order), values of one step and one wall time joined into one
    record, as one ``log()`` call would have written them. A value without a time gets
    ``default_time``."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    timed = [(p, default_time if p.time is None else p.time) for p in points]
    for p, t in sorted(timed, key=lambda pt: (pt[0].step, pt[1])):
        if current is None or current["_step"] != p.step or current["_time"] != t or p.key in current:
            current = {"_step": p.step, "_time": t}
            out.append(current)
        current[p.key] = p.value
    return out


def metric_value(value: Any) -> int | float | bool | None:
    """A value our records can hold (a number or bool; NaN and infinities kept), else None."""
    return value if isinstance(value, (bool, int, float)) else None


def keep_metric_name(key: str, skipped: list[str]) -> str | None:
    """The name to store a source metric under, or None (and a note) if it cannot be kept."""
    if not key or key in _RESERVED:
        skipped.append(f"metric {key!r}: the name is reserved in ledger records")
        return None
    return key


def param_value(text: str) -> Any:
    """An MLflow-style string parameter as the value it was logged as, when that is certain:
    ``'0.01'`` -> 0.01, ``'3'`` -> 3, ``'True'`` -> True; text whose number would print
    differently (``'007'``, ``'1e-3'``) stays text, and so does ``'None'`` (MLflow stores
    ``str(None)`` and cannot tell it from the text): str() of the stored value is always the
    source's text, so MLflow filters on ``params.*`` see what MLflow sees."""
    if text in ("True", "False"):
        return text == "True"
    try:
        as_int = int(text)
    except ValueError:
        pass
    else:
        return as_int if str(as_int) == text else text
    try:
        as_float = float(text)
    except ValueError:
        return text
    return as_float if repr(as_float) == text and math.isfinite(as_float) else text


def content_id(parts: Iterable[tuple[str, bytes]]) -> str:
    """A stable id for sources that have none (dvclive): a digest of named contents."""
    digest = hashlib.sha256()
    for name, data in sorted(parts):
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def walk_files(storage: Storage, folder: str) -> list[str]:
    """Every file below ``folder`` (relative to it, '/'-separated), sorted; hidden ones too."""
    out: list[str] = []
    for entry in storage.list_dir(folder):
        path = f"{folder}/{entry.name}" if folder else entry.name
        if entry.is_dir:
            out += [f"{entry.name}/{rel}" for rel in walk_files(storage, path)]
        else:
            out.append(entry.name)
    return out


def last_values(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary a live run would have written: each metric's last value."""
    summary: dict[str, Any] = {}
    for rec in records:
        summary.update(rec)
    summary.pop("_step", None)
    summary.pop("_time", None)
    return summary


# ---- writing ------------------------------------------------------------------------------


def _last_time(run: ImportedRun) -> float:
    """The last time the data shows: a source that records no end time ended then."""
    return max([run.created, *(float(r["_time"]) for r in run.records), *(float(r["_time"]) for r in run.system)])


def _manifest(run: ImportedRun, project: str) -> Manifest:
    ended = run.ended if run.ended is not None else _last_time(run)
    ended = max(ended, run.created)
    still_running = run.status == "running"
    return Manifest(
        id="",
        project=project,
        name=run.name,
        group=run.group,
        job_type=run.job_type,
        tags=list(run.tags),
        notes=run.notes,
        status=run.status,
        created=_format.iso(run.created),
        ended=None if still_running else _format.iso(ended),
        duration_s=round(ended - run.created, 3),
        # A source run that never ended: its last sign of life is the heartbeat, so readers
        # see it as crashed once that is stale, as they would a live run that vanished.
        heartbeat=_format.iso(ended),
        intervals=[{"start": _format.iso(run.created), "end": None if still_running else _format.iso(ended)}],
        user=run.user,
        host=run.host,
        command=run.command,
        git=run.git,
        config=normalize_config(run.config),
        summary=normalize_config(run.summary if run.summary is not None else last_values(run.records)),
        imported_from={
            "kind": run.kind,
            "id": run.source_id,
            "source": run.source,
            **({"artifact_uri": run.artifact_uri} if run.artifact_uri else {}),
        },
        datasets=[dict(d) for d in run.datasets],
    )


def write_run(storage: Storage, run: ImportedRun, project: str, *, parent: str | None = None) -> Manifest:
    """Write ``run`` as a run folder of ``project`` under the root of ``storage``.

    The id is made from the source's start time, like a live run's, and claimed by an
    exclusive create of run.yaml. That first manifest says ``running`` (heartbeat: now) and
    has no ``imported_from``: if the import dies half-way, the folder reads as crashed and a
    second import does not take it for a finished copy. The streams and files come next,
    and the final manifest last.
    """
    _format.check_name("project", project)
    final = _manifest(run, project)
    final.parent = parent
    now = time.time()
    claim = Manifest(
        id="",
        project=project,
        name=final.name,
        status="running",
        created=final.created,
        heartbeat=_format.iso(now),
        intervals=[{"start": final.created, "end": None}],
    )
    claim_run(storage, claim, run.created, named=run.name is not None)
    final.id, final.name = claim.id, claim.name
    folder = _format.run_dir(project, final.id)
    streams: list[tuple[str, bytes]] = []
    if run.records:
        streams.append((_format.METRICS, _format.encode_records(run.records)))
    if run.system:
        streams.append((_format.SYSTEM, _format.encode_records(run.system)))
    if run.output:
        streams.append((_format.OUTPUT, run.output.encode("utf-8")))
    if run.requirements:
        streams.append((_format.REQUIREMENTS, run.requirements))
    for name, data in streams:
        retrying(lambda: storage.write_atomic(f"{folder}/{name}", data))  # noqa: B023
    if run.files and run.files_from is not None:
        _copy_files(run.files_from, run.files, storage, folder)
    retrying(lambda: storage.write_atomic(f"{folder}/{_format.MANIFEST}", final.to_yaml(), durable=True))
    return final


def _copy_files(source: Storage, files: list[tuple[str, str]], storage: Storage, folder: str) -> None:
    for rel, name in files:
        dest = f"{folder}/{_format.FILES_DIR}/{_format.check_relative_file(name)}"
        copy: Callable[[], None]
        local = source.local_path(rel)
        if local is not None:
            copy = lambda: storage.put_file(local, dest)  # noqa: B023, E731
        else:
            data = source.read_bytes(rel)
            copy = lambda: storage.write_atomic(dest, data)  # noqa: B023, E731
        retrying(copy)
