"""The run: log, summary, config, files, manifest writes, and how it ends."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import _format, _lifecycle, _settings
from ledger._artifacts import ArtifactVersion, materialise, resolve, with_aliases
from ledger._artifacts._write import log_version
from ledger._capture import _console
from ledger._capture._console import ConsoleSink
from ledger._capture._redact import DEFAULT as DEFAULT_REDACTION
from ledger._capture._redact import redact_known
from ledger._capture._system import SystemSampler
from ledger._config import normalize_config, normalize_value
from ledger._errors import RunStateError
from ledger._media import Histogram, Image, Table, is_media_value
from ledger._run._files import SpillFile, budget_warning, spill
from ledger._run._summary import Summary, SummaryTracker
from ledger._storage import Storage, retrying
from ledger._writer import JsonlSink, MediaSink, Record, StreamSink, Ticker, compact_streams

if TYPE_CHECKING:
    from types import TracebackType

    from ledger._format import Manifest

log = logging.getLogger("ledger")

_now = time.time
_MEDIA_FILE_NAME = re.compile(r"\d+(?:-\d+)?(?:\.\d+)?\.(?:png|csv)")  # a step's file under a key's folder
_STEP, _TIME = _format.STEP, _format.TIME
EARLY_HEARTBEAT_S = 5.0  # the second heartbeat, after the one init writes


@dataclass
class Timing:
    """When a run started, and how often its writer flushes and heartbeats (seconds)."""

    now: float
    flush_interval: float
    heartbeat_s: float


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
        timing: Timing,
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
        self._known_keys: set[str] = set()  # scalar metric names that passed check_key
        self._media_keys: set[str] = set()  # names logged with Image, Table or Histogram
        self._media_names: dict[tuple[str, str, str], int] = {}
        self._media_folders: dict[tuple[str, str], str] = {}  # (kind, folder casefolded) -> the key using it
        self._saved: dict[str, int] = {}  # files/ written by save(): path in the run folder -> bytes
        self._redaction = DEFAULT_REDACTION  # what init(redact=, keep=) made secret
        self._secret_values: set[str] = set()  # values redacted from argv and config
        self._tracker = SummaryTracker(self._known_keys, self._media_keys)
        self.config = Config(self, manifest.config)
        self.summary = Summary(self._computed_summary)
        for key, value in manifest.summary.items():  # a resumed run keeps what it had
            self.summary._explicit[key] = value  # noqa: SLF001
        if history:
            for rec in history:
                for k, v in rec.items():
                    if k not in _format.RESERVED:
                        (self._media_keys if _format.is_reference(v) else self._known_keys).add(k)
                        for kind in _format.MEDIA_FILES:
                            if _format.references(v, kind):
                                self._media_folders.setdefault((kind, _format.media_key_path(k).casefold()), k)
            self._tracker.fold(history)
            for key in self._tracker.tracked:  # recomputed from history, not frozen
                self.summary._explicit.pop(key, None)  # noqa: SLF001
        self._interval_start = timing.now
        self._active_before = _format.active_seconds(manifest.intervals)
        segments = next_segments or {}
        self._metrics = JsonlSink(
            storage,
            self._dir,
            _format.METRICS_STREAM,
            fold=self._tracker.fold,
            next_segment=segments.get(_format.METRICS_STREAM.stem, 0),
        )
        self._put = self._metrics.put
        self._media_sink = MediaSink(storage, self._dir)
        self._sinks: list[StreamSink] = [self._metrics]
        tasks: list[tuple[float, Callable[[], object]]] = []
        self._console: ConsoleSink | None = None
        if capture_output:
            self._console = ConsoleSink(storage, self._dir, next_segment=segments.get(_format.OUTPUT_STREAM.stem, 0))
            self._sinks.append(self._console)
            _console.attach(self._console)
        if system_interval is not None:
            system = JsonlSink(
                storage, self._dir, _format.SYSTEM_STREAM, next_segment=segments.get(_format.SYSTEM_STREAM.stem, 0)
            )
            self._sinks.append(system)
            tasks.append((system_interval, SystemSampler(system).sample))
        for sink in self._sinks:  # what a sink holds past its memory cap waits in the spill folder
            sink.overflow = SpillFile(storage.url, manifest.project, manifest.id, sink.stream.file)
        tasks.append((timing.flush_interval, self._flush_sinks))
        tasks.append((timing.heartbeat_s, self._heartbeat))
        # init wrote the first heartbeat; one more soon after, so a run killed before its
        # first periodic heartbeat still shows it lived (its duration is not 0)
        early = [(EARLY_HEARTBEAT_S, self._heartbeat)] if timing.heartbeat_s > EARLY_HEARTBEAT_S else []
        self._ticker = Ticker(tasks, name=f"ledger-writer-{manifest.id}", once=early)
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
        from ledger._run._html import run_html  # noqa: PLC0415 (only notebooks need it)

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
        rec: dict[str, Any] = {_STEP: None, _TIME: None}
        known = self._known_keys
        slow: int | None = None  # names the slow path added beyond one per item, once it ran
        media = False
        for k, v in data.items():
            t = type(v)
            # Fast path: a plain number under a name already checked once.
            if (t is float or t is int or t is bool) and k in known:
                rec[k] = v
            else:
                added, is_media = _format.add_item(
                    rec, k, v, known=known, media_names=self._media_keys, is_media=is_media_value
                )
                slow = (slow or 0) + added - 1
                media |= is_media
        if slow is not None and len(rec) != len(data) + slow + 2:  # a nested dict gave a name twice
            raise _format.collision_error(data)
        if step is None:
            step = self._next_step
        elif type(step) is not int or step < self._last_step:
            step = self._check_step(step)
        if media:
            self._attach_media(rec, step)
        self._last_step = step
        self._next_step = step + 1
        rec[_STEP] = step
        rec[_TIME] = _now()
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

    def _claim_media_folder(self, kind: str, name: str) -> None:
        """Two keys whose files would share a folder (``val samples`` and ``val_samples``, or
        ``Val`` and ``val`` on a case-insensitive disk) are an error at log(): no file of one
        may overwrite a file of the other."""
        folder = _format.media_key_path(name).casefold()
        owner = self._media_folders.get((kind, folder))
        if owner is None:
            for (other_kind, other), key in self._media_folders.items():
                inner = folder[len(other) + 1 :] if folder.startswith(other + "/") else None
                if other_kind == kind and inner is not None and _MEDIA_FILE_NAME.match(inner.split("/", 1)[0]):
                    owner = key
                    break
            else:
                self._media_folders[(kind, folder)] = name
                return
        if owner != name:
            msg = (
                f"run.log: {kind} key {name!r} would write its files where {owner!r} writes "
                f"({_format.media_file(kind, name, '<step>')}); give one of them another name"
            )
            raise ValueError(msg)

    def _queue_media(self, name: str, step: int, value: Image | Table, index: int | None) -> dict[str, Any]:
        kind = "image" if isinstance(value, Image) else "table"
        self._claim_media_folder(kind, name)
        stem = f"{step}" if index is None else f"{step}-{index}"
        seen = self._media_names.get((kind, name, stem), 0)  # the same key twice at one step
        self._media_names[(kind, name, stem)] = seen + 1
        path = _format.media_file(kind, name, stem if not seen else f"{stem}.{seen}")
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

        # Under the sink's lock: the writer thread folds records with these definitions.
        self._metrics.drained(lambda: self._tracker.define(name, summary))
        with self._lock:
            self._m.defined_metrics[name] = summary  # recorded: `ledger commit` names a run's objective

    def _computed_summary(self) -> dict[str, Any]:
        return self._metrics.drained(self._tracker.computed)

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
        real = os.path.realpath(src)  # the caller's own link (last.ckpt -> epoch=3.ckpt) means its target
        retrying(lambda: self._storage.put_file(real, f"{self._dir}/{dest}"))
        self._saved[dest] = os.path.getsize(src)
        return dest

    # -- artifacts -----------------------------------------------------------------------

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        type: str | None = None,  # noqa: A002 (W&B's and the issue's name)
        aliases: Iterable[str] = (_format.LATEST,),
        metadata: Mapping[str, Any] | None = None,
    ) -> ArtifactVersion:
        """Store a file or a folder as the next version of artifact ``name`` of this run's
        project, and record it as made by this run (``logged_artifacts`` in run.yaml).

        Each file's content is kept once per ledger, named by its sha256: the same checkpoint
        logged by ten runs takes the space of one. Versions are numbered v1, v2, ... without
        gaps across every process and machine writing the root. ``type`` says what it is
        (``"model"``, ``"dataset"``, ...); ``aliases`` are moved to the new version (``latest``
        always is: it is the highest version); ``metadata`` is a mapping stored with it
        (epoch, score, ...). Returns the :class:`ArtifactVersion` (``.ref`` is ``name:v<N>``).
        """
        if self._closed:
            self._raise_closed("log_artifact")
        manifest = log_version(
            self._storage, self.project, os.fspath(path), name, type=type, aliases=aliases, metadata=metadata,
            run=self.id,
        )  # fmt: skip
        with self._lock:
            self._m.logged_artifacts.append(_format.lineage_entry(self.project, manifest))
        self._write_manifest_quietly()
        return with_aliases(self._storage, self.project, manifest)

    def use_artifact(self, ref: str) -> str:
        """The local path of an artifact version's files, recorded as used by this run
        (``used_artifacts`` in run.yaml): ``"name"`` or ``"name:latest"``, ``"name:v3"``,
        ``"name:best"`` (any alias), ``"other-project/name:v3"``.

        The files are laid out in the local artifact cache (``$LEDGER_ARTIFACT_CACHE``) as
        read-only hard links, each checked against its sha256 on arrival (a damaged file is a
        CorruptFileError: nothing is handed out); a version used before costs a few stat
        calls. Returns the folder, or the file itself for a version logged from one file.
        ArtifactNotFoundError names what exists when the reference names nothing.
        """
        if self._closed:
            self._raise_closed("use_artifact")
        project, manifest = resolve(self._storage, ref, self.project)
        local = materialise(self._storage, project, manifest)
        entry = _format.lineage_entry(project, manifest)
        key = _format.entry_key(entry)
        with self._lock:
            if all(_format.entry_key(e) != key for e in self._m.used_artifacts):
                self._m.used_artifacts.append(entry)
                changed = True
            else:
                changed = False
        if changed:
            self._write_manifest_quietly()
        return local

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
        new, hidden = self._redaction.config(new, found=self._secret_values)
        self._redaction.warn(hidden)
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
        if status not in _format.FINAL_STATUSES:
            msg = f"finish: status={status!r} is not one of {', '.join(_format.FINAL_STATUSES)}"
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
        # Bounded: with storage down (a store that hangs rather than fails) finish() gives up
        # after $LEDGER_FINISH_TIMEOUT, spills what is left and returns.
        deadline = time.monotonic() + _settings.get(_settings.FINISH_TIMEOUT)
        self._ticker.stop(timeout=max(0.0, deadline - time.monotonic()))
        now = time.time()
        with self._lock:
            self._m.status = status
            self._m.ended = _format.iso(now)
            self._m.error = redact_known(error, self._secret_values) if error else error  # it may quote a key
        outcome: dict[str, bool] = {}

        def write_all() -> None:
            outcome["flushed"] = self._flush_sinks(durable=True)
            try:
                self._write_manifest(durable=True, now=now)
                outcome["manifest"] = True
            except OSError as exc:
                self._m.extra["_write_error"] = str(exc)
                outcome["manifest"] = False

        worker = threading.Thread(target=write_all, name=f"ledger-finish-{self.id}", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            self._m.extra["_write_error"] = (
                f"storage did not answer within {_settings.get(_settings.FINISH_TIMEOUT):g} s "
                f"(${_settings.FINISH_TIMEOUT.name})"
            )
        warning = budget_warning(self.id, [*self._saved.items(), *self._media_sink.sizes.items()])
        if warning is not None:
            log.warning("%s", warning)
        if worker.is_alive() or not (outcome.get("flushed") and outcome.get("manifest")):
            self._spill()
        elif not self._storage.caps.appends and _settings.get(_settings.COMPACT_ON_FINISH):
            try:
                compact_streams(self._storage, self._dir)
            except OSError as exc:  # the segments are still complete and readable
                log.warning("ledger: could not compact run %s (%s); `ledger compact` can retry", self.id, exc)

    def _spill(self) -> None:
        """Storage stayed down until finish: keep what was not written in a local folder."""
        err: object = self._m.extra.pop("_write_error", None)
        streams = {}
        inflight: dict[str, int] = {}
        inflight_to: dict[str, str | None] = {}
        for sink in self._sinks:
            name = sink.path.rsplit("/", 1)[-1]
            streams[name], inflight[name], inflight_to[name] = sink.take_unwritten()
            err = sink.last_error or err
        media = self._media_sink.take_unwritten()
        err = self._media_sink.last_error or err
        try:
            folder = spill(
                self._storage.url, self.project, self.id, streams, self._snapshot(time.time()), files=media,
                inflight=inflight, inflight_to=inflight_to,
            )  # fmt: skip
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
            self.finish(status=_lifecycle.status_for(exc), error=_lifecycle.format_error(exc_type, exc, tb))
