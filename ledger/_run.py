"""The run: init, log, summary, save, finish, resume."""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import _format, _lifecycle, _maintenance, _reader
from ledger._capture import (
    _console,
    capture_command,
    capture_git,
    capture_host,
    current_user,
    find_git_top,
    requirements_txt,
    visible_gpu_count,
)
from ledger._capture._console import ConsoleSink
from ledger._capture._system import SystemSampler
from ledger._config import normalize_config, normalize_value
from ledger._errors import InvalidNameError, RunNotFoundError, RunStateError
from ledger._format import Manifest
from ledger._media import MEDIA_TYPES, Histogram, Image, Table, media_key_path
from ledger._storage import Storage, retrying
from ledger._usage import budget_bytes, budget_warning
from ledger._writer import JsonlSink, MediaSink, Record, StreamSink, Ticker

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger("ledger")

_now = time.time
_LOCAL_FLUSH_S = 1.0
_REMOTE_FLUSH_S = 10.0
_SYSTEM_S = 10.0
_FINAL_STATUSES = ("finished", "failed", "killed")


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        result = float(value)
    except ValueError:
        msg = f"${name}={value!r} is not a number of seconds"
        raise ValueError(msg) from None
    if result <= 0:
        msg = f"${name}={value!r} must be a positive number of seconds"
        raise ValueError(msg)
    return result


# ---- values given to log() ----------------------------------------------------------------


def _metric_value(key: str, value: Any) -> int | float | bool:
    """Slow path of log(): numbers that are not plain int/float/bool."""
    if isinstance(value, (bool, int, float)):  # subclasses (IntEnum, numpy.float64)
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


def _check_key(key: Any, prefix: str) -> str:
    if not isinstance(key, str) or not key:
        msg = f"run.log: metric names must be non-empty strings, got {prefix}{key!r} ({type(key).__name__})"
        raise TypeError(msg)
    name = prefix + key
    if name in ("_step", "_time"):
        msg = f"run.log: {name!r} is reserved; pass the step as run.log(..., step=N)"
        raise ValueError(msg)
    return name


def _is_media(value: Any) -> bool:
    if isinstance(value, MEDIA_TYPES):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Image) for v in value)


def _add_slow(rec: dict[str, Any], key: Any, value: Any, prefix: str, known: set[str], media: set[str]) -> bool:
    """Add one item that missed the fast path: a new name, nested dicts, numpy values, media
    (returns True: the caller turns them into references), or errors."""
    name = _check_key(key, prefix)
    if isinstance(value, Mapping):
        found = False
        for k, v in value.items():
            found |= _add_slow(rec, k, v, name + "/", known, media)
        return found
    if _is_media(value):
        if name in known:
            msg = f"run.log: {name!r} was logged as a number; give the {type(value).__name__} another name"
            raise ValueError(msg)
        rec[name] = value
        media.add(name)
        return True
    if name in media:
        msg = f"run.log: {name!r} was logged as media; a number needs another name"
        raise ValueError(msg)
    rec[name] = _metric_value(name, value)
    known.add(name)
    return False


# ---- summary ------------------------------------------------------------------------------


class _Agg:
    __slots__ = ("kind", "n", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.n = 0
        self.value: float | None = None

    def add(self, v: float) -> None:
        if v != v:  # NaN never wins a min/max and does not poison a mean  # noqa: PLR0124
            return
        if self.value is None:
            self.value, self.n = v, 1
        elif self.kind == "min":
            self.value = min(self.value, v)
        elif self.kind == "max":
            self.value = max(self.value, v)
        else:  # running mean
            self.n += 1
            self.value += (v - self.value) / self.n


class Summary(MutableMapping[str, Any]):
    """The run's summary: per metric, its last value (or min/max/mean per
    :meth:`Run.define_metric`); values set here explicitly win over computed ones."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._explicit: dict[str, Any] = {}

    def _computed(self) -> dict[str, Any]:
        return self._run._computed_summary()  # noqa: SLF001

    def __getitem__(self, key: str) -> Any:
        if key in self._explicit:
            return self._explicit[key]
        return self._computed()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            msg = f"summary keys must be non-empty strings, got {key!r}"
            raise TypeError(msg)
        self._explicit[key] = normalize_value(value, f"summary.{key}")

    def __delitem__(self, key: str) -> None:
        del self._explicit[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of the summary as it would be written now, keys sorted."""
        merged = {**self._computed(), **self._explicit}
        return {k: merged[k] for k in sorted(merged)}

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"


class Config(Mapping[str, Any]):
    """The run's config as stored (plain YAML data). Read it like a dict or by attribute
    (``run.config.lr``); add keys with :meth:`update`."""

    def __init__(self, run: Run, data: dict[str, Any]) -> None:
        self._run = run
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            msg = f"config has no key {name!r}"
            raise AttributeError(msg) from None

    def update(self, values: Any = None, /, **kwargs: Any) -> None:
        """Add or replace config keys (a dict, Namespace, dataclass or OmegaConf config)."""
        new = normalize_config(values) if values is not None else {}
        new.update(normalize_config(kwargs))
        self._run._update_config(new)  # noqa: SLF001

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


# ---- the run ------------------------------------------------------------------------------


class Run:
    """One tracked run. Made by :func:`ledger.init`; log with :meth:`log`, end with :meth:`finish`."""

    def __init__(
        self,
        storage: Storage,
        manifest: Manifest,
        *,
        timing: _Timing,
        capture_output: bool,
        system_interval: float | None,
        next_step: int = 0,
        history: list[Record] | None = None,
        next_segments: Mapping[str, int] | None = None,
    ) -> None:
        self._storage = storage
        self._m = manifest
        self._dir = _format.run_dir(manifest.project, manifest.id)
        self._lock = threading.RLock()
        self._closed = False
        self._owner_pid = os.getpid()
        self._killed_by_signal = False  # set when SIGTERM arrived and another handler took it
        self._spilled: str | None = None  # local folder holding what storage did not take
        self._next_step = next_step
        self._last_step = next_step - 1
        self._known_keys: set[str] = set()  # scalar metric names that passed _check_key
        self._media_keys: set[str] = set()  # names logged with Image, Table or Histogram
        self._media_names: dict[tuple[str, str, str], int] = {}
        self._saved: dict[str, int] = {}  # files/ written by save(): path in the run folder -> bytes
        self._last: dict[str, Any] = {}
        self._aggs: dict[str, _Agg] = {}
        self._defined: list[tuple[str, str]] = []  # (pattern, kind) from define_metric
        self.config = Config(self, manifest.config)
        self.summary = Summary(self)
        for key, value in manifest.summary.items():  # a resumed run keeps what it had
            self.summary._explicit[key] = value  # noqa: SLF001
        if history:
            for rec in history:
                for k, v in rec.items():
                    if k not in ("_step", "_time"):
                        (self._media_keys if type(v) in (dict, list) else self._known_keys).add(k)
            self._fold(history)
            for key in self._last:  # recomputed from history, not frozen
                self.summary._explicit.pop(key, None)  # noqa: SLF001
        self._interval_start = timing.now
        self._active_before = _active_seconds(manifest.intervals)
        segments = next_segments or {}
        self._metrics = JsonlSink(
            storage, self._dir, "metrics", fold=self._fold, next_segment=segments.get("metrics", 0)
        )
        self._put = self._metrics.put
        self._media_sink = MediaSink(storage, self._dir)
        self._sinks: list[StreamSink] = [self._metrics]
        tasks: list[tuple[float, Callable[[], object]]] = []
        self._console: ConsoleSink | None = None
        if capture_output:
            self._console = ConsoleSink(storage, self._dir, next_segment=segments.get("output", 0))
            self._sinks.append(self._console)
            _console.attach(self._console)
        if system_interval is not None:
            system = JsonlSink(storage, self._dir, "system", next_segment=segments.get("system", 0))
            self._sinks.append(system)
            tasks.append((system_interval, SystemSampler(system).sample))
        tasks.append((timing.flush_interval, self._flush_sinks))
        tasks.append((timing.heartbeat_s, self._heartbeat))
        self._ticker = Ticker(tasks, name=f"ledger-writer-{manifest.id}")
        self._ticker.start()

    def _flush_sinks(self, *, durable: bool = False) -> bool:
        # Media files first, so a record never points at a file that is not there yet.
        results = [self._media_sink.flush(durable=durable)]
        results += [sink.flush(durable=durable) for sink in self._sinks]  # every sink, even after a failure
        return all(results)

    # -- identity ------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The run id, e.g. ``20261127-020304-3f9a1c``."""
        return self._m.id

    @property
    def name(self) -> str | None:
        """The run's display name (default: adjective-noun-xxxx from the id)."""
        return self._m.name

    @property
    def project(self) -> str:
        """The project folder the run lives in."""
        return self._m.project

    @property
    def group(self) -> str | None:
        """The group the run belongs to (an idea, a sweep), or None."""
        return self._m.group

    @property
    def job_type(self) -> str | None:
        """What kind of job this is (train, eval, ...), or None."""
        return self._m.job_type

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags."""
        return tuple(self._m.tags)

    @property
    def status(self) -> str:
        """``running`` until finished, then ``finished``, ``failed`` or ``killed``."""
        return self._m.status

    @property
    def dir(self) -> str:
        """The run folder: a local path, or a URL on remote stores."""
        return self._storage.full(self._dir)

    @property
    def root(self) -> str:
        """The ledger root this run writes into."""
        return self._storage.url

    @property
    def step(self) -> int:
        """The step the next :meth:`log` without ``step=`` uses: 0 for a new run, else the last step + 1."""
        return self._next_step

    def __repr__(self) -> str:
        return f"<ledger.Run {self.id} {self.name!r} project={self.project!r} status={self.status}>"

    def _repr_html_(self) -> str:
        """A short HTML summary, shown by Jupyter when a cell's value is the run."""
        from ledger._html import run_html  # noqa: PLC0415 (only notebooks need it)

        with self._lock:
            duration = self._active_before + (time.time() - self._interval_start)
        return run_html(self, self._m, duration if not self._closed else (self._m.duration_s or 0.0))

    # -- logging -------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metrics for one step: ``run.log({"loss": 0.3, "train": {"acc": 0.9}})``.

        Nested dicts become ``train/acc``. Values are numbers (int, float, bool, numpy or
        torch scalars); NaN and infinities are kept. ``step`` defaults to the last step + 1
        (the first is 0); an explicit step may repeat the last one but not go back.
        Does no I/O: records are written by a background thread.
        """
        if self._closed:
            self._raise_closed("log")
        rec: dict[str, Any] = {"_step": None, "_time": None}
        known = self._known_keys
        media = False
        for k, v in data.items():
            t = type(v)
            # Fast path: a plain number under a name already checked once.
            if (t is float or t is int or t is bool) and k in known:
                rec[k] = v
            else:
                media |= _add_slow(rec, k, v, "", known, self._media_keys)
        if step is None:
            step = self._next_step
        elif type(step) is not int or step < self._last_step:
            step = self._check_step(step)
        if media:
            self._attach_media(rec, step)
        self._last_step = step
        self._next_step = step + 1
        rec["_step"] = step
        rec["_time"] = _now()
        self._put(rec)

    def _attach_media(self, rec: dict[str, Any], step: int) -> None:
        """Swap media objects for references; their files are written by the background thread."""
        for name, value in list(rec.items()):
            if isinstance(value, Histogram):
                rec[name] = value.ref()
            elif isinstance(value, (Image, Table)):
                rec[name] = self._queue_media(name, step, value, None)
            elif isinstance(value, (list, tuple)):
                rec[name] = [self._queue_media(name, step, v, i) for i, v in enumerate(value)]

    def _queue_media(self, name: str, step: int, value: Image | Table, index: int | None) -> dict[str, Any]:
        kind, ext = ("images", "png") if isinstance(value, Image) else ("tables", "csv")
        stem = f"{step}" if index is None else f"{step}-{index}"
        seen = self._media_names.get((kind, name, stem), 0)  # the same key twice at one step
        self._media_names[(kind, name, stem)] = seen + 1
        path = f"media/{kind}/{media_key_path(name)}/{stem}{'' if not seen else f'.{seen}'}.{ext}"
        self._media_sink.put((path, value))
        return value.ref(path)

    def _log_beside(self, data: Mapping[str, Any]) -> None:
        """Log at the step the user logged last (0 before any), leaving the user's next
        automatic step where it was: for records that accompany the user's (ledger.watch)."""
        last, upcoming = self._last_step, self._next_step
        self.log(data, step=max(last, 0))
        self._last_step, self._next_step = last, upcoming

    def _check_step(self, step: Any) -> int:
        if isinstance(step, bool) or not isinstance(step, int):
            item = getattr(step, "item", None)
            step = item() if callable(item) else step
            if isinstance(step, bool) or not isinstance(step, int):
                msg = f"run.log: step must be an int, got {type(step).__name__} {step!r}"
                raise TypeError(msg)
        if step < self._last_step:
            msg = (
                f"run.log: step {step} is smaller than the last logged step {self._last_step}; "
                f"steps may repeat but not go back (omit step= to use {self._next_step})"
            )
            raise ValueError(msg)
        return int(step)

    def define_metric(self, name: str, summary: str = "last") -> None:
        """Choose what the summary keeps for metric ``name`` (glob patterns like ``val/*``
        allowed): ``min``, ``max``, ``last`` (default) or ``mean`` of the values logged
        from now on. Explicit ``run.summary[...]`` values still win."""
        if summary not in _format.SUMMARY_KINDS:
            msg = f"define_metric: summary={summary!r} is not one of {', '.join(_format.SUMMARY_KINDS)}"
            raise ValueError(msg)
        if not isinstance(name, str) or not name:
            msg = f"define_metric: name must be a non-empty string, got {name!r}"
            raise TypeError(msg)

        def define() -> None:  # under the sink's lock: the writer thread folds with these
            self._defined.append((name, summary))
            for key in list(self._last):
                if fnmatch.fnmatchcase(key, name):
                    self._set_kind(key, summary)

        self._metrics.drained(define)

    def _set_kind(self, key: str, kind: str) -> None:
        if kind == "last":
            self._aggs.pop(key, None)
            return
        agg = _Agg(kind)
        last = self._last.get(key)
        if isinstance(last, (int, float)):
            agg.add(last)
        self._aggs[key] = agg

    def _fold(self, batch: list[Record]) -> None:
        """Update the computed summary with drained records (writer thread, or history on resume)."""
        # The last value of every name: walk back from the newest record and stop once every
        # name logged so far has turned up, which is after one record when keys do not vary.
        latest: dict[str, Any] = {}
        everything = len(self._known_keys) + len(self._media_keys) + 2  # and _step, _time
        for rec in reversed(batch):
            latest = rec | latest
            if len(latest) >= everything:
                break
        latest.pop("_step", None)
        latest.pop("_time", None)
        if self._media_keys:  # references to images and tables are not summary values
            latest = {k: v for k, v in latest.items() if k not in self._media_keys}
        new = latest.keys() - self._last.keys()
        self._last.update(latest)
        for key in new:
            for pattern, kind in reversed(self._defined):  # the latest definition wins
                if fnmatch.fnmatchcase(key, pattern):
                    self._set_kind(key, kind)
                    break
        for key, agg in self._aggs.items():
            for rec in batch:
                v = rec.get(key)
                if v is not None:
                    agg.add(v)

    def _computed_summary(self) -> dict[str, Any]:
        def computed() -> dict[str, Any]:  # under the sink's lock, as _fold runs
            out = dict(self._last)
            for key, agg in self._aggs.items():
                if agg.value is not None:
                    out[key] = agg.value
            return out

        return self._metrics.drained(computed)

    # -- files ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, name: str | None = None) -> str:
        """Copy a local file into the run's ``files/`` folder now; returns its path in the run.

        A relative path inside the working directory keeps its folders
        (``ckpt/model.pt`` -> ``files/ckpt/model.pt``); other paths keep only the file
        name. ``name`` chooses the stored name instead.
        """
        if self._closed:
            self._raise_closed("save")
        src = os.fspath(path)
        if not os.path.isfile(src):
            msg = f"run.save: {src!r} is not a file (working directory: {os.getcwd()})"
            raise FileNotFoundError(msg)
        if name is None:
            rel = os.path.relpath(os.path.abspath(src), os.getcwd()).replace(os.sep, "/")
            name = rel if not os.path.isabs(src) and not rel.startswith("../") else os.path.basename(src)
        dest = f"{_format.FILES_DIR}/{_format.check_relative_file(name)}"
        retrying(lambda: self._storage.put_file(src, f"{self._dir}/{dest}"))
        self._saved[dest] = os.path.getsize(src)
        return dest

    # -- manifest ------------------------------------------------------------------------

    def _attach(self, target: str, values: Mapping[str, Any]) -> None:
        """Summary values for another run, stored in this run's manifest (each run folder has
        one writer); readers merge them into the target's summary."""
        if self._closed:
            self._raise_closed("attach")
        _format.check_name("run id", target)
        new = {str(k): normalize_value(v, f"summary.{k}") for k, v in values.items()}
        with self._lock:
            self._m.attach.setdefault(target, {}).update(new)
        self._write_manifest_quietly()

    def _backdate(self, started: float) -> None:
        """Make the run's active time start at ``started`` (seconds since the epoch), for
        runs that integrations write after the work was done (an Optuna trial, a
        scikit-learn search candidate): its duration and compute hours are then the work's."""
        with self._lock:
            self._interval_start = started
            self._m.created = _format.iso(started)
            if self._m.intervals:
                self._m.intervals[-1]["start"] = _format.iso(started)

    def _update_config(self, new: dict[str, Any]) -> None:
        with self._lock:
            self._m.config.update(new)
        self._write_manifest_quietly()

    def _snapshot(self, now: float) -> bytes:
        with self._lock:
            m = self._m
            m.heartbeat = _format.iso(now)
            m.duration_s = round(self._active_before + (now - self._interval_start), 3)
            if m.intervals:
                m.intervals[-1]["end"] = _format.iso(now) if m.status != "running" else None
            m.summary = self.summary.as_dict()
            return m.to_yaml()

    def _write_manifest(self, *, durable: bool = False, now: float | None = None) -> None:
        data = self._snapshot(time.time() if now is None else now)
        path = f"{self._dir}/{_format.MANIFEST}"
        retrying(lambda: self._storage.write_atomic(path, data, durable=durable))

    def _write_manifest_quietly(self) -> None:
        try:
            self._write_manifest()
        except OSError as exc:
            log.warning(
                "ledger: could not update the manifest of run %s (%s); retried at the next heartbeat", self.id, exc
            )

    def _heartbeat(self) -> None:
        if not self._closed:
            self._write_manifest_quietly()

    # -- ending --------------------------------------------------------------------------

    def _raise_closed(self, what: str) -> None:
        if self._owner_pid != os.getpid():
            msg = (
                f"run.{what}: run {self.id} belongs to process {self._owner_pid}, and this is a forked "
                f"child (a DataLoader worker or multiprocessing); log from the parent, or give the "
                f"child a run of its own with ledger.init(group=...)"
            )
        else:
            msg = f"run.{what}: run {self.id} is already {self._m.status}; start a new one with ledger.init()"
        raise RunStateError(msg)

    def _disown(self) -> None:
        """Called in a forked child: this process must not write the parent's run."""
        self._closed = True

    def finish(self, *, status: str = "finished", error: str | None = None) -> None:
        """Write everything, mark the run ``status`` (``finished``, ``failed`` or ``killed``)
        and stop its writer. Idempotent; called for you on normal exit, on an uncaught
        exception (``failed``) and on SIGTERM or Ctrl-C (``killed``)."""
        if status not in _FINAL_STATUSES:
            msg = f"finish: status={status!r} is not one of {', '.join(_FINAL_STATUSES)}"
            raise ValueError(msg)
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if status == "finished" and self._killed_by_signal:
            status = "killed"
        _lifecycle.forget(self)
        if self._console is not None:
            _console.detach(self._console)
        self._ticker.stop()
        flushed = self._flush_sinks(durable=True)
        now = time.time()
        with self._lock:
            self._m.status = status
            self._m.ended = _format.iso(now)
            self._m.error = error
        try:
            self._write_manifest(durable=True, now=now)
            wrote_manifest = True
        except OSError as exc:
            self._m.extra["_write_error"] = str(exc)
            wrote_manifest = False
        warning = budget_warning(self.id, [*self._saved.items(), *self._media_sink.sizes.items()], budget_bytes())
        if warning is not None:
            log.warning("%s", warning)
        if not (flushed and wrote_manifest):
            self._spill()
        elif not self._storage.can_append and os.environ.get("LEDGER_COMPACT_ON_FINISH") == "1":
            try:
                _maintenance.compact(self._storage, self.project, self.id)
            except OSError as exc:  # the segments are still complete and readable
                log.warning("ledger: could not compact run %s (%s); `ledger compact` can retry", self.id, exc)

    def _spill(self) -> None:
        """Storage stayed down until finish: keep what was not written in a local folder."""
        err: object = self._m.extra.pop("_write_error", None)
        streams = {}
        for sink in self._sinks:
            streams[sink.path.rsplit("/", 1)[-1]] = sink.take_unwritten()
            err = sink.last_error or err
        media = self._media_sink.take_unwritten()
        err = self._media_sink.last_error or err
        try:
            folder = _maintenance.spill(
                self._storage.url, self.project, self.id, streams, self._snapshot(time.time()), files=media
            )
        except OSError as spill_error:  # the local disk failed too: say what is lost, do not crash
            lost = sum(data.count(b"\n") for data in streams.values())
            log.error(  # noqa: TRY400 (the message says it all; a traceback would bury it)
                "ledger: run %s could not be written to %s (%s), and not kept in a local spill "
                "either (%s): %d records and lines are lost; the run folder holds what was written before",
                self.id,
                self._storage.full(self._dir),
                err,
                spill_error,
                lost,
            )
            return
        log.error(
            "ledger: run %s could not be written to %s (%s). What was not written is kept in %s; "
            "run `ledger recover` once the storage is back.",
            self.id,
            self._storage.full(self._dir),
            err,
            folder,
        )
        self._spilled = folder

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, SystemExit):
            self.finish(status="finished" if exc.code in (None, 0) else "failed")
        else:
            self.finish(status=_lifecycle.status_for(exc), error=format_error(exc_type, exc, tb))


def format_error(exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> str:
    return "".join(traceback.format_exception(exc_type, exc, tb)).rstrip("\n")


def _active_seconds(intervals: list[dict[str, str | None]]) -> float:
    total = 0.0
    for interval in intervals:
        start, end = interval.get("start"), interval.get("end")
        if start and end:
            total += max(0.0, _format.parse_iso(end) - _format.parse_iso(start))
    return total


# ---- init ---------------------------------------------------------------------------------


def default_root() -> str:
    env = os.environ.get("LEDGER_ROOT")
    if env:
        return env
    top = find_git_top(os.getcwd())
    return os.path.join(top if top is not None else os.getcwd(), "results")


def _default_project() -> str:
    env = os.environ.get("LEDGER_PROJECT")
    if env:
        return _format.check_name("project ($LEDGER_PROJECT)", env)
    top = find_git_top(os.getcwd())
    return _format.sanitize_name(os.path.basename(top if top is not None else os.getcwd()))


def _open_root(root: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None) -> Storage:
    url = os.fspath(root) if root is not None else default_root()
    if "://" not in url and not url.startswith(("file:", "memory:")):
        url = os.path.abspath(url)  # a relative root means "here", even after os.chdir
    storage = Storage(url, storage_options)
    try:
        marker = storage.read_bytes(_format.ROOT_MARKER)
    except FileNotFoundError:
        storage.makedirs("")
        try:
            storage.create_exclusive(_format.ROOT_MARKER, _format.root_marker())
        except FileExistsError:  # another process made it first
            _format.check_root_marker(storage.read_bytes(_format.ROOT_MARKER), storage.full(_format.ROOT_MARKER))
        if not storage.exists(_format.ROOT_GITIGNORE):
            try:
                storage.create_exclusive(_format.ROOT_GITIGNORE, f"{_format.CACHE_DIR}/\n".encode())
            except FileExistsError:
                pass
    else:
        _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    return storage


def _find_run(storage: Storage, run_id: str, project: str | None) -> Manifest:
    _format.check_name("run id", run_id)
    projects = [project] if project is not None else []
    projects += [
        e.name for e in storage.list_dir("") if e.is_dir and e.name not in projects and not e.name.startswith(".")
    ]
    for p in projects:
        try:
            return _reader.read_manifest(storage, p, run_id)
        except FileNotFoundError:
            continue
    looked = ", ".join(projects) or "none"
    msg = f"resume={run_id!r}: no run with that id under {storage.url} (looked in projects: {looked})"
    raise RunNotFoundError(msg)


def _next_segments(storage: Storage, folder: str) -> dict[str, int]:
    """For each stream of a run folder, the first segment number not yet used."""
    out: dict[str, int] = {}
    for entry in storage.list_dir(folder):
        for stem, ext in (("metrics", "jsonl"), ("system", "jsonl"), ("output", "log")):
            n = _format.segment_number(entry.name, stem, ext)
            if n is not None:
                out[stem] = max(out.get(stem, 0), n + 1)
    return out


def _cut_torn_tail(storage: Storage, path: str) -> None:
    """Drop a torn last line before appending again: this process is now the run's only
    writer, and new records must not land behind half a line."""
    data = storage.read_bytes(path)
    if data and not data.endswith(b"\n"):
        storage.write_atomic(path, data[: data.rfind(b"\n") + 1])


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
) -> Run:
    """Start (or resume) a run and make it the active one.

    Args:
        project: folder under the root; defaults to the git repository's (or the
            current folder's) name.
        root: the ledger root, a folder or any fsspec URL; defaults to ``$LEDGER_ROOT``,
            else ``results/`` at the top of the git repository, else ``./results``.
        name, group, job_type, tags, notes: how the run is found and grouped later.
        config: a dict, ``argparse.Namespace``, dataclass instance or OmegaConf config.
        resume: the id of an existing run to continue (steps and active time continue).
        storage_options: passed to fsspec for remote roots (credentials are never stored).
        capture_output: tee stdout/stderr into ``output.log``.
        system_metrics: sample CPU/RAM/GPU into ``system.jsonl`` every 10 s
            (``$LEDGER_SYSTEM_INTERVAL``), or every ``system_metrics`` seconds if a number.
        flush_interval: seconds between background writes (default 1 local, 10 remote).
        parent: the id of the run this one belongs to (an evaluation of a training run);
            filter on it with ``parent == "..."``.
        links: other relations, ``{"evaluates": RUN_ID}``; filter with ``links.evaluates``.
    """
    if flush_interval is not None and not (
        isinstance(flush_interval, (int, float)) and math.isfinite(flush_interval) and flush_interval > 0
    ):
        msg = f"flush_interval must be a positive number of seconds, got {flush_interval!r}"
        raise ValueError(msg)
    capture = _Capture(output=bool(capture_output), system_interval=_system_interval(system_metrics))
    heartbeat_s = _env_float("LEDGER_HEARTBEAT_INTERVAL", _format.DEFAULT_HEARTBEAT_S)
    cfg = normalize_config(config)
    sweep = None
    if resume is None and "LEDGER_SWEEP_ID" in os.environ:  # a trial started by a sweep agent
        from ledger.sweeps._join import join_sweep  # noqa: PLC0415 (only sweep trials need it)

        root, project, cfg, group, sweep = join_sweep(root, project, cfg, group)
    meta = _Meta(
        name=name, group=group, job_type=job_type, tags=_check_tags(tags), notes=notes, parent=parent,
        links=_check_links(parent, links), sweep=sweep,
    )  # fmt: skip
    storage = _open_root(root, storage_options)
    if flush_interval is None:
        flush_interval = _LOCAL_FLUSH_S if storage.is_local else _REMOTE_FLUSH_S
    timing = _Timing(now=time.time(), flush_interval=float(flush_interval), heartbeat_s=heartbeat_s)
    if resume is not None:
        run = _resume(storage, resume, project, cfg, meta, timing, capture)
    else:
        run = _create(storage, project, cfg, meta, timing, capture)
    _lifecycle.register(run)
    return run


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
class _Timing:
    now: float
    flush_interval: float
    heartbeat_s: float


@dataclass
class _Capture:
    output: bool
    system_interval: float | None


def _system_interval(system_metrics: bool | float) -> float | None:
    if system_metrics is True:
        return _env_float("LEDGER_SYSTEM_INTERVAL", _SYSTEM_S)
    if system_metrics is False:
        return None
    if isinstance(system_metrics, (int, float)) and math.isfinite(system_metrics) and system_metrics > 0:
        return float(system_metrics)
    msg = f"system_metrics must be True, False or a positive number of seconds, got {system_metrics!r}"
    raise ValueError(msg)


def _create(
    storage: Storage, project: str | None, cfg: dict[str, Any], meta: _Meta, timing: _Timing, capture: _Capture
) -> Run:
    project = _format.check_name("project", project) if project is not None else _default_project()
    reproduces = os.environ.get("LEDGER_REPRODUCES") or None  # set by `ledger reproduce --run`
    if reproduces is not None:
        _format.check_name("run id ($LEDGER_REPRODUCES)", reproduces)
    local_root = storage.root if storage.is_local else None
    code = capture_git(os.getcwd(), exclude=local_root)
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
        command=capture_command(code.info["root"] if code.info is not None else None),
        git=code.info,
        config=cfg,
        reproduces=reproduces,
        parent=meta.parent,
        links=meta.links or {},
        sweep=meta.sweep,
    )
    claim_new_run(storage, manifest, timing.now, named=meta.name is not None)
    _write_capture_files(storage, manifest, code.patch)
    return Run(
        storage,
        manifest,
        timing=timing,
        capture_output=capture.output,
        system_interval=capture.system_interval,
    )


def claim_id(storage: Storage, t: float, make: Callable[[str], tuple[str, bytes]], what: str = "run") -> str:
    """A new id made from time ``t`` whose file ``make(id)`` -> (path, content) this call
    created. Ids are random, but 8 processes starting in the same second could still meet:
    the exclusive create decides, and the loser draws again."""
    for _attempt in range(20):
        new_id = _format.new_run_id(t)
        path, data = make(new_id)
        try:
            retrying(lambda: storage.create_exclusive(path, data))  # noqa: B023
        except FileExistsError:
            continue
        return new_id
    msg = f"could not find a free {what} id after 20 attempts"  # pragma: no cover (20 collisions of 24 random bits)
    raise InvalidNameError(msg)  # pragma: no cover


def claim_new_run(storage: Storage, manifest: Manifest, t: float, *, named: bool) -> None:
    """Give ``manifest`` a new id made from time ``t`` (and the default name, unless
    ``named``) and create its run.yaml."""

    def make(run_id: str) -> tuple[str, bytes]:
        manifest.id = run_id
        if not named:
            manifest.name = _format.default_run_name(run_id)
        return f"{_format.run_dir(manifest.project, run_id)}/{_format.MANIFEST}", manifest.to_yaml()

    claim_id(storage, t, make)


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


def _resume(  # noqa: PLR0917
    storage: Storage,
    run_id: str,
    project: str | None,
    cfg: dict[str, Any],
    meta: _Meta,
    timing: _Timing,
    capture: _Capture,
) -> Run:
    if project is not None:
        _format.check_name("project", project)
    manifest = _find_run(storage, run_id, project)
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
    stream = _reader.read_stream(storage, folder)
    for note in stream.torn:
        log.warning("ledger: %s; removed before resuming", note)
    for note in stream.corrupt:
        log.warning("ledger: %s", note)
    if stream.torn and storage.can_append:
        _cut_torn_tail(storage, f"{folder}/{_format.METRICS}")
    history = stream.records
    steps = [r["_step"] for r in history if isinstance(r.get("_step"), int)]
    manifest.status = "running"
    manifest.ended = None
    manifest.error = None
    manifest.heartbeat = _format.iso(now)
    manifest.heartbeat_s = timing.heartbeat_s
    manifest.intervals.append({"start": _format.iso(now), "end": None})
    manifest.config.update(cfg)
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
