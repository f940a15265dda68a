"""``ledger.init``: start a new run (capture, claim an id, write run.yaml) or resume one."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import _format, _lifecycle, _reader, _root, _settings
from ledger._capture import (
    capture_allocation,
    capture_command,
    capture_git,
    capture_host,
    current_user,
    requirements_txt,
    visible_gpu_count,
)
from ledger._capture._redact import Redaction
from ledger._config import normalize_config
from ledger._errors import LedgerError, RunStateError
from ledger._format import Manifest
from ledger._run._run import Run, Timing
from ledger._run._sweep import join_sweep
from ledger._storage import Storage, retrying
from ledger._units import human_bytes

log = logging.getLogger("ledger")


def init(  # noqa: PLR0913
    project: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    notes: str | None = None,
    config: Any = None,
    resume: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    capture_output: bool = True,
    system_metrics: bool | float = True,
    flush_interval: float | None = None,
    parent: str | None = None,
    links: Mapping[str, str] | None = None,
    redact: list[str] | tuple[str, ...] | None = None,
    keep: list[str] | tuple[str, ...] | None = None,
) -> Run:
    """Start (or resume) a run and make it the active one.

    Args:
        project: folder under the root; defaults to ``$LEDGER_PROJECT``, else the git
            repository's (or the current folder's) name.
        root: the ledger root, a folder or any fsspec URL; defaults to ``$LEDGER_ROOT``,
            else ``results/`` at the top of the git repository, else ``./results``.
        name, group, job_type, tags, notes: how the run is found and grouped later.
        config: a dict, ``argparse.Namespace``, dataclass instance or OmegaConf config.
        resume: the id (or a unique start of it) of an existing run to continue (steps and
            active time continue).
        storage_options: passed to fsspec for remote roots (credentials are never stored).
        capture_output: tee stdout/stderr into ``output.log``.
        system_metrics: sample CPU/RAM/GPU into ``system.jsonl`` every 10 s
            (``$LEDGER_SYSTEM_INTERVAL``), or every ``system_metrics`` seconds if a number.
        flush_interval: seconds between background writes (default 1 local, 10 remote).
        parent: the id of the run this one belongs to (an evaluation of a training run);
            filter on it with ``parent == "..."``.
        links: other relations, ``{"evaluates": RUN_ID}``; filter with ``links.evaluates``.
        redact: more names whose values are secret (``["seed_phrase", "db.url"]``), on top of
            the built-in list (api_key, token, secret, password, ...): in the config at any
            depth, and in the command's arguments.
        keep: names the built-in list would redact that are not secret here (``["pad_token"]``).

    Config values under secret-looking names, URL credentials and well-known secret shapes
    (AWS, GitHub, Hugging Face, OpenAI, Slack keys) are stored as ``***``, with one warning.
    """
    if flush_interval is not None and not (
        isinstance(flush_interval, (int, float)) and math.isfinite(flush_interval) and flush_interval > 0
    ):
        msg = f"flush_interval must be a positive number of seconds, got {flush_interval!r}"
        raise ValueError(msg)
    capture = _Capture(output=bool(capture_output), system_interval=_system_interval(system_metrics))
    heartbeat_s = _settings.get(_settings.HEARTBEAT_INTERVAL)
    cfg = normalize_config(config)
    redaction = Redaction.of(redact, keep)
    sweep = None
    if resume is None:  # a trial started by a sweep agent goes where the sweep says (or continues its run)
        root, project, cfg, group, sweep, resume = join_sweep(root, project, cfg, group)
    depth = _settings.get(_settings.MAX_DEPTH)
    if _format.too_deep(cfg, depth - 1):
        msg = f"config is nested deeper than {depth} levels (${_settings.MAX_DEPTH.name}); flatten it"
        raise ValueError(msg)
    found: set[str] = set()  # the secret values themselves: tracebacks lose them too
    cfg, hidden = redaction.config(cfg, found=found)
    redaction.warn(hidden)
    meta = _Meta(
        name=name, group=group, job_type=job_type, tags=_check_tags(tags), notes=notes, parent=parent,
        links=_check_links(parent, links), sweep=sweep,
    )  # fmt: skip
    storage = _root.open_root(_local_root(root), storage_options, create=True)
    check_quota_soon(storage)
    timing = Timing(
        now=time.time(),
        flush_interval=float(flush_interval or storage.flush_interval_s),
        heartbeat_s=heartbeat_s,
    )
    if resume is not None:
        run = _resume(storage, resume, project, cfg, meta, timing, capture)
    else:
        run = _create(storage, project, cfg, meta, timing, capture, redaction, found)
    run._redaction = redaction  # noqa: SLF001 (config.update applies it too)
    run._secret_values |= found  # noqa: SLF001
    _lifecycle.register(run)
    return run


# Roots whose quota this process checked lately (url -> when), and those it warned about.
_quota_checked: dict[str, float] = {}
_quota_warned: set[str] = set()
_quota_lock = threading.Lock()
QUOTA_RECHECK_S = 600.0  # a root under its quota is looked at again after this long
quota_thread: threading.Thread | None = None  # the last check started (tests wait for it)


def check_quota_soon(storage: Storage) -> None:
    """Warn once per process when the root holds more than its quota ($LEDGER_QUOTA_GB, else
    ``quota_gb`` in ledger.yaml). Adding up the root's files costs a listing of all of them,
    so it happens in the background, at most every QUOTA_RECHECK_S per root, never twice
    at once; a root without a quota costs one small read there."""
    global quota_thread  # noqa: PLW0603 (one check in flight per process is the point)
    now = time.monotonic()
    with _quota_lock:
        last = _quota_checked.get(storage.url)
        if storage.url in _quota_warned or (last is not None and now - last < QUOTA_RECHECK_S):
            return
        _quota_checked[storage.url] = now

    def check() -> None:
        try:
            quota = _root.quota_bytes(storage)
            if quota is None:
                return
            used = _root.used_bytes(storage)
        except (OSError, LedgerError) as exc:
            log.debug("ledger: could not check the quota of %s: %s", storage.url, exc)
            return
        if used > quota:
            with _quota_lock:
                _quota_warned.add(storage.url)
            log.warning(
                "ledger: %s holds %s, over its quota of %s ($%s, or quota_gb in %s); `ledger du` shows what "
                "takes space",
                storage.url, human_bytes(used), human_bytes(quota), _settings.QUOTA_GB.name, _format.ROOT_MARKER,
            )  # fmt: skip

    quota_thread = threading.Thread(target=check, name="ledger-quota", daemon=True)
    quota_thread.start()


def _local_root(root: str | os.PathLike[str] | None) -> str | None:
    # A relative root means "here", even after os.chdir: make it absolute now.
    if root is None:
        return None
    url = os.fspath(root)
    return url if "://" in url or url.startswith(("file:", "memory:")) else os.path.abspath(url)


def _check_tags(tags: object) -> list[str] | None:
    if tags is None:
        return None
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        msg = f"tags must be a list of strings, got {tags!r}"
        raise TypeError(msg)
    return list(tags)


def _check_links(parent: object, links: object) -> dict[str, str] | None:
    if parent is not None:
        _format.check_name("parent run id", parent)
    if links is None:
        return None
    if not isinstance(links, Mapping):
        msg = f"links must be a dict of relation -> run id, e.g. {{'evaluates': RUN_ID}}, got {links!r}"
        raise TypeError(msg)
    out = {}
    for relation, run_id in links.items():
        if not isinstance(relation, str) or not relation.isidentifier():
            msg = f"links: relation {relation!r} must be a name like 'evaluates'"
            raise ValueError(msg)
        out[relation] = _format.check_name(f"links.{relation} run id", run_id)
    return out


@dataclass
class _Meta:
    name: str | None
    group: str | None
    job_type: str | None
    tags: list[str] | None
    notes: str | None
    parent: str | None = None
    links: dict[str, str] | None = None
    sweep: dict[str, Any] | None = None


@dataclass
class _Capture:
    output: bool
    system_interval: float | None


def _system_interval(system_metrics: bool | float) -> float | None:
    if system_metrics is True:
        return _settings.get(_settings.SYSTEM_INTERVAL)
    if system_metrics is False:
        return None
    if isinstance(system_metrics, (int, float)) and math.isfinite(system_metrics) and system_metrics > 0:
        return float(system_metrics)
    msg = f"system_metrics must be True, False or a positive number of seconds, got {system_metrics!r}"
    raise ValueError(msg)


def _create(  # noqa: PLR0917
    storage: Storage,
    project: str | None,
    cfg: dict[str, Any],
    meta: _Meta,
    timing: Timing,
    capture: _Capture,
    redaction: Redaction,
    found: set[str],
) -> Run:
    project = _format.check_name("project", project) if project is not None else _root.default_project()
    reproduces = _settings.get(_settings.REPRODUCES)  # set by `ledger reproduce --run`
    if reproduces is not None:
        _format.check_name(f"run id (${_settings.REPRODUCES.name})", reproduces)
    code = capture_git(os.getcwd(), exclude=storage.local_path())
    host = capture_host()
    manifest = Manifest(
        id="",
        project=project,
        name=meta.name,
        group=meta.group,
        job_type=meta.job_type,
        tags=meta.tags or [],
        notes=meta.notes,
        status="running",
        created=_format.iso(timing.now),
        duration_s=0.0,
        gpu_count=visible_gpu_count(host["gpus"], os.environ.get("CUDA_VISIBLE_DEVICES")),
        heartbeat=_format.iso(timing.now),
        heartbeat_s=timing.heartbeat_s,
        intervals=[{"start": _format.iso(timing.now), "end": None}],
        user=current_user(),
        host=host,
        command=capture_command(code.info["root"] if code.info is not None else None, redaction, found),
        git=code.info,
        config=cfg,
        reproduces=reproduces,
        parent=meta.parent,
        links=meta.links or {},
        sweep=meta.sweep,
        allocation=capture_allocation(),
    )
    _root.claim_run(storage, manifest, timing.now, named=meta.name is not None)
    _write_capture_files(storage, manifest, code.patch)
    return Run(storage, manifest, timing=timing, capture_output=capture.output, system_interval=capture.system_interval)


def _write_capture_files(storage: Storage, manifest: Manifest, patch: bytes) -> None:
    """code.patch and requirements.txt, beside the run.yaml just created. A failed write
    costs the file, not the run."""
    folder = _format.run_dir(manifest.project, manifest.id)
    files = [(_format.PATCH, patch)] if patch else []
    files.append((_format.REQUIREMENTS, requirements_txt()))
    for name, data in files:
        try:
            retrying(lambda: storage.write_atomic(f"{folder}/{name}", data))  # noqa: B023
        except OSError as exc:
            log.warning("ledger: could not write %s of run %s (%s); the run goes on without it", name, manifest.id, exc)
            if name == _format.PATCH and manifest.git is not None:
                manifest.git["patch"] = None


def _next_segments(storage: Storage, folder: str) -> dict[str, int]:
    """For each stream of a run folder, the first segment number not yet used."""
    out: dict[str, int] = {}
    for entry in storage.list_dir(folder):
        for stream in _format.STREAMS:
            n = _format.segment_number(entry.name, stream.stem, stream.ext)
            if n is not None:
                out[stream.stem] = max(out.get(stream.stem, 0), n + 1)
    return out


def _cut_torn_tail(storage: Storage, path: str) -> None:
    """Drop a torn last line before appending again: this process is now the run's only
    writer, and new records must not land behind half a line."""
    data = storage.read_bytes(path)
    if data and not data.endswith(b"\n"):
        storage.write_atomic(path, data[: data.rfind(b"\n") + 1])


def _resume(  # noqa: PLR0917
    storage: Storage,
    run_id: str,
    project: str | None,
    cfg: dict[str, Any],
    meta: _Meta,
    timing: Timing,
    capture: _Capture,
) -> Run:
    manifest = _root.find_run(storage, run_id, project)
    now = timing.now
    if manifest.effective_status(now) == "running":
        msg = (
            f"resume={run_id!r}: the run is still running elsewhere (heartbeat {manifest.heartbeat}, "
            f"host {(manifest.host or {}).get('hostname')}); a run has one writer at a time. Stop "
            f"that process, or wait {_format.STALE_AFTER_INTERVALS * manifest.heartbeat_s:.0f} s after it died"
        )
        raise RunStateError(msg)
    if manifest.intervals and manifest.intervals[-1].get("end") is None:
        manifest.intervals[-1]["end"] = manifest.heartbeat  # it crashed: last sign of life
    folder = _format.run_dir(manifest.project, manifest.id)
    links = storage.refused(folder)
    if links:
        msg = (
            f"resume={run_id!r}: the run folder holds {len(links)} symlink(s) or special file(s) "
            f"({', '.join(links[:3])}); a run is never written through one: remove them, then resume"
        )
        raise RunStateError(msg)
    stream = _reader.read_stream(storage, folder)
    for note in stream.torn:
        log.warning("ledger: %s; removed before resuming", note)
    for note in stream.corrupt:
        log.warning("ledger: %s", note)
    if stream.torn and storage.caps.appends:
        _cut_torn_tail(storage, f"{folder}/{_format.METRICS}")
    history = stream.records
    steps = [r[_format.STEP] for r in history if isinstance(r.get(_format.STEP), int)]
    manifest.status = "running"
    manifest.ended = None
    manifest.error = None
    manifest.stop_reason = None  # it goes on: why it stopped last time is in the intervals' gap
    manifest.heartbeat = _format.iso(now)
    manifest.heartbeat_s = timing.heartbeat_s
    manifest.intervals.append({"start": _format.iso(now), "end": None})
    manifest.config.update(cfg)
    manifest.allocation = capture_allocation() or manifest.allocation  # the job it continues in
    for attr in ("name", "group", "job_type", "tags", "notes", "parent", "links"):
        if getattr(meta, attr) is not None:
            setattr(manifest, attr, getattr(meta, attr))
    run = Run(
        storage,
        manifest,
        timing=timing,
        capture_output=capture.output,
        system_interval=capture.system_interval,
        next_step=(max(steps) + 1) if steps else 0,
        history=history,
        next_segments=_next_segments(storage, folder),
    )
    run._write_manifest()  # noqa: SLF001
    return run
