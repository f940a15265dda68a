"""W&B: an offline run folder (``wandb/offline-run-*/run-<id>.wandb``), decoded with the
wandb package's own record definitions.

A ``.wandb`` file is a LevelDB-style log (W&B's "transaction log"): a 7-byte header
(``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a CRC-32,
a length and a type (full, first, middle, last), joined into serialised
``wandb_internal_pb2.Record`` messages. Recent wandb releases read these files only in their
Go core (the Python ``datastore`` reader is gone), so the framing is read here and every
record is decoded by the installed wandb package's protobuf classes.

Kept: the run's name, project, group, job type, tags, notes, config (and later updates),
every history row with its ``_step`` and ``_timestamp``, the summary, system metrics
(``stats`` records, into system.jsonl), console output, requirements.txt, the files the run
saved, the host, command and git state, and the exit code (0: finished, else failed; no exit
record: the run never ended).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger._capture._redact import redact_argv, strip_url_credentials
from ledger._importers._common import (
    Found,
    ImportedRun,
    ImportSourceError,
    keep_metric_name,
    metric_value,
    missing_package,
    open_source,
    walk_files,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger._storage import Storage

KIND = "wandb"
_WHAT = "a wandb/ folder, one of its offline-run-* folders, or a run-<id>.wandb file"

_HEADER = struct.Struct("<4sHB")
_CHUNK = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# wandb's own files in a run's files/ folder: read into the manifest or streams, not copied.
_OWN_FILES = frozenset(
    {"config.yaml", "wandb-summary.json", "wandb-metadata.json", "output.log", "requirements.txt", "wandb-events.jsonl"}
)
_INTERNAL = ("_runtime", "_wandb")


def _pb() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2  # noqa: PLC0415
    except ImportError:
        raise missing_package("reading W&B run files", "wandb") from None
    return wandb_internal_pb2


# ---- finding runs ----------------------------------------------------------------------------


def find(source: str) -> list[Found]:
    """Every run file in SOURCE: a .wandb file, a run folder, or a wandb/ folder of run folders."""
    _pb()
    if source.endswith(".wandb") and "://" not in source and os.path.isfile(source):
        folder, name = os.path.split(os.path.abspath(source))
        store = open_source(folder, _WHAT)
        files = [name]
    else:
        store = open_source(source, _WHAT)
        files = _run_files(store, "")
        if not files:  # a wandb/ folder, or the folder holding it
            base = "wandb" if store.exists("wandb") else ""
            for entry in store.list_dir(base):
                if entry.is_dir and entry.name != "latest-run":  # latest-run links to one of the others
                    sub = f"{base}/{entry.name}" if base else entry.name
                    files += [f"{sub}/{name}" for name in _run_files(store, sub)]
    if not files:
        msg = f"{source}: no W&B run files (run-<id>.wandb) in it or in its run folders; give {_WHAT}"
        raise ImportSourceError(msg)
    found = []
    for rel in files:
        run_id = rel.rsplit("/", 1)[-1][len("run-") : -len(".wandb")]
        found.append(Found(run_id, f"wandb run {run_id} ({store.full(rel)})", functools.partial(_load, store, rel)))
    return found


def _run_files(store: Storage, folder: str) -> list[str]:
    entries = store.list_dir(folder)
    return [e.name for e in entries if not e.is_dir and e.name.startswith("run-") and e.name.endswith(".wandb")]


# ---- the file format -------------------------------------------------------------------------


@dataclass
class _Scan:
    records: list[Any] = field(default_factory=list)
    problem: str | None = None  # why reading stopped before the end


def _chunks(data: bytes, where: str) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of every chunk; raises ValueError at a torn or corrupt one."""
    pos = _HEADER.size
    while pos < len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK.size:  # a block's tail too short for a header is padding
            pos += left
            continue
        if pos + _CHUNK.size > len(data):
            msg = f"{where}: a torn record at byte {pos} (the run was stopped while writing)"
            raise ValueError(msg)
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        payload = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        if len(payload) < length:
            msg = f"{where}: a torn record at byte {pos} (the run was stopped while writing)"
            raise ValueError(msg)
        if crc != zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF:
            msg = f"{where}: a corrupt record at byte {pos} (checksum mismatch); the rest is not read"
            raise ValueError(msg)
        pos += _CHUNK.size + length
        yield kind, payload


def _scan(data: bytes, where: str) -> _Scan:
    ident, magic, version = _HEADER.unpack_from(data) if len(data) >= _HEADER.size else (b"", 0, 0)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        msg = f"{where}: not a W&B run file (its header is {data[:7]!r}, not ':W&B' version 0)"
        raise ImportSourceError(msg)
    pb = _pb()
    out = _Scan()
    pending = b""
    try:
        for kind, payload in _chunks(data, where):
            if kind == _FIRST:
                pending = payload
                continue
            if kind == _MIDDLE:
                pending += payload
                continue
            record = pb.Record()
            record.ParseFromString(payload if kind == _FULL else pending + payload)
            out.records.append(record)
            pending = b""
    except ValueError as exc:
        out.problem = str(exc)
    return out


# ---- from records to a run -------------------------------------------------------------------


def _value(item: Any) -> Any:
    """The value of a HistoryItem, SummaryItem, ConfigItem or StatsItem."""
    try:
        kind = item.WhichOneof("value")  # the typed values of newer HistoryItems
    except ValueError:  # an item type without them: value_json only
        kind = None
    if kind == "json":
        return json.loads(item.json)
    if kind is not None:
        return None if kind == "none" else getattr(item, kind)
    return json.loads(item.value_json) if item.value_json else None


def _key(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def _seconds(stamp: Any) -> float:
    return float(stamp.seconds) + float(stamp.nanos) / 1e9


@dataclass
class _State:
    run: Any = None
    env: Any = None
    exit: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    system: list[dict[str, Any]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    media: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (W&B _type, values logged)
    skipped: list[str] = field(default_factory=list)


def _update(target: dict[str, Any], config_record: Any) -> None:
    for item in config_record.update:
        key = _key(item)
        if key != "_wandb":
            target[key] = _value(item)
    for item in config_record.remove:
        target.pop(_key(item), None)


def _split_media(items: Any) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """(key, value) of the items that are not W&B media, and the media among them: key ->
    its ``_type`` (``image-file``, ``table-file``, ``histogram``, ...). A media value arrives
    either whole (a mapping with ``_type``) or as one item per field (``img._type``,
    ``img.width``, ...: the nested keys of newer wandb releases)."""
    plain: list[tuple[str, Any]] = []
    nested: dict[str, list[tuple[str, Any]]] = {}
    for item in items:
        key, value = _key(item), _value(item)
        if len(item.nested_key) > 1:
            nested.setdefault(item.nested_key[0], []).append((key, value))
        else:
            plain.append((key, value))
    media: dict[str, str] = {}
    for top, pairs in nested.items():
        kind = next((v for k, v in pairs if k == f"{top}._type"), None)
        if isinstance(kind, str):
            media[top] = kind
        else:
            plain.extend(pairs)
    kept = []
    for key, value in plain:
        if isinstance(value, dict) and isinstance(value.get("_type"), str):
            media[key] = value["_type"]
        else:
            kept.append((key, value))
    return kept, media


def _history(state: _State, history: Any) -> None:
    row: dict[str, Any] = {"_step": None, "_time": None}
    items, media = _split_media(history.item)
    for key, kind in media.items():
        _, count = state.media.get(key, (kind, 0))
        state.media[key] = (kind, count + 1)
    for key, value in items:
        if key == "_step":
            row["_step"] = int(value)
        elif key == "_timestamp":
            row["_time"] = float(value)
        elif key not in _INTERNAL:
            number = metric_value(value)
            name = keep_metric_name(key, state.skipped) if number is not None else None
            if name is not None:
                row[name] = number
            elif number is None:
                state.left_out.setdefault(key, type(value).__name__)
    if row["_step"] is None:
        row["_step"] = int(history.step.num)
    if len(row) > 2:  # a row of media or text only leaves no record
        state.history.append(row)


def _fold(state: _State, record: Any) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "run":
        state.run = state.run or record.run
        _update(state.config, record.run.config)
    elif kind == "config":
        _update(state.config, record.config)
    elif kind == "history":
        _history(state, record.history)
    elif kind == "summary":
        items, media = _split_media(record.summary.update)
        for key in media:
            state.summary.pop(key, None)
            state.summary = {k: v for k, v in state.summary.items() if not k.startswith(f"{key}.")}
        for key, value in items:
            if key.split(".", 1)[0] not in state.media:
                state.summary[key] = value
        for item in record.summary.remove:
            state.summary.pop(_key(item), None)
    elif kind == "stats":
        row = {"_step": len(state.system), "_time": _seconds(record.stats.timestamp)}
        row |= {i.key: v for i in record.stats.item if (v := metric_value(_value(i))) is not None}
        state.system.append(row)
    elif kind in ("output_raw", "output"):
        state.output.append(getattr(record, kind).line)
    elif kind == "environment":
        if state.env is None:
            state.env = type(record.environment)()
        state.env.MergeFrom(record.environment)
    elif kind == "exit":
        state.exit = record.exit


def _load(store: Storage, rel: str) -> ImportedRun:
    where = store.full(rel)
    scan = _scan(store.read_bytes(rel), where)
    state = _State()
    for record in scan.records:
        _fold(state, record)
    if state.run is None:
        why = f" ({scan.problem.removeprefix(where + ': ')})" if scan.problem else ""
        msg = f"{where}: no run record in it{why}; it is not a complete W&B run file"
        raise ImportSourceError(msg)
    run, env = state.run, state.env
    created = _seconds(run.start_time)
    for row in state.history:
        if row["_time"] is None:
            row["_time"] = created
    times = [created] + [r["_time"] for r in state.history] + [r["_time"] for r in state.system]
    ended = max(times)
    if state.exit is not None:
        ended = max(ended, created + state.exit.runtime)
    if scan.problem is not None:
        state.skipped.append(scan.problem)
    state.skipped += [f"{k!r} values of type {t}: only numbers are metrics" for k, t in sorted(state.left_out.items())]
    state.skipped += [
        f"{k!r}: {n} W&B {t} value{'s' if n != 1 else ''} (media and tables are listed, not imported as metrics; "
        f"their files are under files/media/)"
        for k, (t, n) in sorted(state.media.items())
    ]
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    files_dir = f"{folder}/files" if folder else "files"
    saved = [n for n in walk_files(store, files_dir) if n not in _OWN_FILES]
    # wandb.save() links files/ to the originals: a link is never followed out of a source.
    state.skipped += [
        f"{p}: a symlink, not followed; copy the file it points to by hand" for p in store.refused(files_dir)
    ]
    requirements = f"{files_dir}/requirements.txt"
    return ImportedRun(
        kind=KIND,
        source_id=run.run_id,
        source=where,
        project=run.project or None,
        name=run.display_name or None,
        group=run.run_group or None,
        job_type=run.job_type or None,
        tags=list(run.tags),
        notes=run.notes or None,
        status="running" if state.exit is None else ("finished" if state.exit.exit_code == 0 else "failed"),
        created=created,
        ended=ended,
        user=(env.username or None) if env is not None else None,
        host=_host(run, env),
        command=_command(env),
        git=_git(run, env),
        config=state.config,
        summary={k: v for k, v in state.summary.items() if not k.startswith("_")},
        records=_sorted(state.history),
        system=state.system,
        output="".join(state.output) or None,
        requirements=store.read_bytes(requirements) if store.exists(requirements) else None,
        files=[(f"{files_dir}/{n}", n) for n in saved],
        files_from=store,
        skipped=state.skipped,
    )


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History rows in step order (W&B's steps only grow; a resumed run may go back)."""
    return sorted(rows, key=lambda r: r["_step"])


def _host(run: Any, env: Any) -> dict[str, Any] | None:
    hostname = run.host or (env.host if env is not None else "")
    if not hostname and env is None:
        return None
    host: dict[str, Any] = {"hostname": hostname or None}
    if env is not None:
        host |= {"os": env.os or None, "python": env.python or None, "cpu_count": env.cpu_count or None}
    return host


def _command(env: Any) -> dict[str, Any] | None:
    if env is None or not (env.program or env.args):
        return None
    return {
        "argv": redact_argv([env.program, *env.args]),
        "cwd": env.root or None,
        "executable": env.executable or None,
        "script": env.code_path or None,
        "module": None,
    }


def _git(run: Any, env: Any) -> dict[str, Any] | None:
    repo = run.git if run.git.commit or run.git.remote_url else (env.git if env is not None else None)
    if repo is None or not (repo.commit or repo.remote_url):
        return None
    return {"commit": repo.commit or None, "remote": strip_url_credentials(repo.remote_url) or None}
