"""RunView and SweepView: one run, or one sweep, as read from a ledger."""

from __future__ import annotations

import io
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ledger import _format, _reader
from ledger._media import LoggedHistogram, LoggedImage
from ledger._query import _filter, _history, _series

if TYPE_CHECKING:
    from pandas import DataFrame

    from ledger._query._artifacts import ArtifactView
    from ledger._query._ledger import Ledger
    from ledger._query._runset import RunSet
    from ledger._storage import Storage

log = logging.getLogger("ledger")


def require_pandas() -> None:
    """pandas is imported only by the methods that return DataFrames; say how to get it."""
    try:
        import pandas as pd  # noqa: F401, PLC0415
    except ImportError:
        msg = "this needs pandas: pip install 'experiment-ledger[analysis]' (or pip install pandas)"
        raise ImportError(msg) from None


# Parsed streams of recently read runs, keyed by the stream files' sizes and versions: a
# chart that asks for several metrics of a run reads its files once, and a chart of 500 runs
# redrawn with other settings reads none. Bounded by the arrays' bytes, not by a count of runs.
_COLUMNS_BYTES = 512 * 2**20
_columns: OrderedDict[tuple[Any, ...], tuple[_series.Columns, int]] = OrderedDict()
_columns_held = 0  # bytes of the arrays in _columns
_columns_lock = threading.Lock()


class RunView:
    """One run as read from the ledger: its manifest, and its streams on demand.

    ``status`` is the status readers should show: a ``running`` run whose heartbeat is
    stale reads ``crashed``.
    """

    __slots__ = ("_flat", "_incoming", "_key", "_ledger", "_storage", "doc", "status")

    def __init__(
        self, storage: Storage, doc: dict[str, Any], now: float, flat: tuple[tuple[str, ...], list[Any]] | None = None
    ) -> None:
        self._storage = storage
        self.doc = doc
        self._flat = flat  # its table row from the index (column names, values), or None
        self._key: str | None = None  # "<manifest path> <index version>", while its row is the manifest's
        self.status: str = _format.read_status(doc.get("status"), doc.get("heartbeat"), doc.get("heartbeat_s"), now)
        self._incoming: list[tuple[str, str]] = []  # (relation, run id) of runs that link here
        self._ledger: Ledger | None = None  # the ledger it was opened with (for its artifacts' lineage)

    def __repr__(self) -> str:
        return f"<RunView {self.id} {self.name!r} project={self.project!r} status={self.status}>"

    @property
    def id(self) -> str:
        """The run id."""
        return str(self.doc["id"])

    @property
    def project(self) -> str:
        """The project the run belongs to."""
        return str(self.doc["project"])

    @property
    def name(self) -> str | None:
        """The run's display name."""
        return self.doc.get("name")

    @property
    def group(self) -> str | None:
        """The run's group, or None."""
        return self.doc.get("group")

    @property
    def job_type(self) -> str | None:
        """The run's job type, or None."""
        return self.doc.get("job_type")

    @property
    def tags(self) -> list[str]:
        """The run's tags."""
        return list(self.doc.get("tags") or [])

    @property
    def config(self) -> dict[str, Any]:
        """The run's config (nested, as logged)."""
        return dict(self.doc.get("config") or {})

    @property
    def summary(self) -> dict[str, Any]:
        """The run's summary: one value per metric name."""
        return dict(self.doc.get("summary") or {})

    @property
    def meta(self) -> dict[str, Any]:
        """The whole manifest (run.yaml) as a dict."""
        return dict(self.doc)

    @property
    def duration_s(self) -> float:
        """Active seconds (summed over resumes)."""
        return float(self.doc.get("duration_s") or 0.0)

    def active_seconds(self) -> float:
        """Active seconds as compute hours count them: ``duration_s``, and for a crashed run
        (which never wrote its end) its last record's time minus its start when that is
        later than its last heartbeat (reads the last lines of its streams)."""
        if self.status != "crashed":
            return self.duration_s
        try:
            last = _reader.last_time(self._storage, self._folder)
        except OSError:
            last = None
        return _format.crashed_seconds(self.doc.get("duration_s"), self.doc.get("intervals"), last)

    @property
    def gpu_count(self) -> int:
        """GPUs the run used (0 when none were recorded)."""
        return int(self.doc.get("gpu_count") or 0)

    @property
    def dir(self) -> str:
        """The run folder (a local path or a URL)."""
        return self._storage.full(self._folder)

    @property
    def _folder(self) -> str:
        return _format.run_dir(self.project, self.id)

    def links(self) -> list[tuple[str, str, str]]:
        """Related runs both ways: (relation, run id, "out" or "in"). ``parent`` and
        ``links`` of this run go out; runs naming this one come in (``attached`` when a run
        attached summary values here)."""
        out = []
        if self.doc.get("parent"):
            out.append(("parent", str(self.doc["parent"]), "out"))
        out += [(rel, str(rid), "out") for rel, rid in (self.doc.get("links") or {}).items()]
        out += [(rel, rid, "in") for rel, rid in self._incoming]
        return out

    def used_artifacts(self) -> list[ArtifactView]:
        """The artifact versions this run used (``run.use_artifact``), in the order of first
        use; a version missing from the ledger is left out, with a warning."""
        return self._artifacts("used_artifacts")

    def logged_artifacts(self) -> list[ArtifactView]:
        """The artifact versions this run logged (``run.log_artifact``), in order."""
        return self._artifacts("logged_artifacts")

    def _artifacts(self, field_name: str) -> list[ArtifactView]:
        if self._ledger is None:
            msg = f"run {self.id} was not read through ledger.open(...); its artifacts need the ledger"
            raise RuntimeError(msg)
        entries = self.doc.get(field_name)
        keys = [k for e in (entries if isinstance(entries, list) else ()) if (k := _format.entry_key(e)) is not None]
        return self._ledger._versions(dict.fromkeys(keys), self.id)  # noqa: SLF001

    def update_summary(self, values: Mapping[str, Any], *, by: Any) -> None:
        """Attach results to this run's summary from another run, e.g. an evaluation job:
        ``lg.run(train_id).update_summary({"eval/acc": 0.91}, by=eval_run)``.

        ``by`` is the live run doing it (``ledger.init`` in this process). The values are
        stored in *its* run.yaml, so this run's files are never rewritten (each run folder has
        one writer); readers merge them into this run's summary.
        """
        attach = getattr(by, "_attach", None)
        if attach is None:
            msg = "update_summary: by= must be the live run attaching the values (the one ledger.init returned)"
            raise TypeError(msg)
        attach(self.id, values)
        self.doc = {**self.doc, "summary": {**(self.doc.get("summary") or {}), **values}}

    def get(self, field: str, default: Any = None) -> Any:
        """A field by its filter name: ``r.get("config.model.lr")``, ``r.get("summary.acc")``."""
        value = _filter.getter(_filter.parse_field(field))(self)
        return default if value is None else value

    # -- streams ---------------------------------------------------------------------------

    def records(self, stream: str = "metrics", *, tail: int | None = None) -> list[dict[str, Any]]:
        """The records of ``metrics`` (default) or ``system``, as dicts, in order (no pandas).
        ``tail=N``: only the last N, read from the end of the files (memory independent of
        the run's length)."""
        if tail is not None:
            if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
                msg = f"tail must be a whole number >= 0, got {tail!r}"
                raise ValueError(msg)
            read = _reader.read_tail(self._storage, self._folder, tail, stream)
        else:
            read = _reader.read_stream(self._storage, self._folder, stream)
        for note in read.torn + read.corrupt:
            log.warning("ledger: %s", note)
        return read.records

    def _columns(self, stream: str) -> _series.Columns:
        spec = _reader.stream_spec(stream)
        names = _reader.stream_names(self._storage, self._folder, spec)
        token: list[Any] = [self._storage.url, self._folder, stream]
        for name in names:
            try:
                st = self._storage.stat(f"{self._folder}/{name}")
            except FileNotFoundError:
                continue
            token += [name, st.size, st.version]
        key = tuple(token)
        global _columns_held  # noqa: PLW0603 (the cache above, guarded by its lock)
        with _columns_lock:
            found = _columns.get(key)
            if found is not None:
                _columns.move_to_end(key)
                return found[0]
        try:
            if not _history.usable(self._storage):
                raise _history.TooWide  # noqa: TRY301 (the same way as a stream too wide for columns)
            cols = _history.series_columns(stream_source(self, stream))
        except _history.TooWide:
            cols = _series.columns(self.records(stream))
        size = cols.nbytes
        with _columns_lock:
            if key not in _columns:
                _columns[key] = (cols, size)
                _columns_held += size
            while _columns_held > _COLUMNS_BYTES and len(_columns) > 1:
                _columns_held -= _columns.popitem(last=False)[1][1]
        return cols

    def series_keys(self, stream: str = "metrics") -> list[str]:
        """The names under which the run logged numbers to ``metrics`` (or ``system``), sorted."""
        return list(self._columns(stream).keys)

    def series(
        self,
        key: str,
        *,
        x: str = "step",
        samples: int | None = None,
        smoothing: float = 0.0,
        stream: str = "metrics",
    ) -> _series.Series:
        """The run's values of ``key`` as a curve: ``.x`` (``x="step"``, ``"time"``: wall time
        in epoch seconds, or ``"relative"``: seconds since the run's first record) and ``.y``
        (as logged, NaN and infinities kept), numpy arrays of the records that hold a number
        under ``key``. ``samples=N`` downsamples to about N points keeping each bucket's min
        and max; ``smoothing`` in [0, 1) applies a debiased EMA first. Empty if never logged."""
        return _series.series(self._columns(stream), key, x=x, samples=samples, smoothing=smoothing)

    def history(
        self, keys: Iterable[str] | None = None, *, tail: int | None = None, samples: int | None = None
    ) -> DataFrame:
        """The metrics as a DataFrame: ``_step``, ``_time`` and one column per metric
        (only ``keys`` if given, and only those columns are read). NaN stays NaN; a metric
        missing at a step is NaN. ``tail=N``: only the last N records, read from the end of
        the files. ``samples=N``: the rows of that table the series engine's downsampler keeps
        for about N points per metric (each bucket's minimum and maximum, its first
        non-finite value, the first and last), united over the metrics, in order.

        A run's JSON lines are read once into a columnar cache under ``<root>/.cache/history/``
        (with pyarrow installed), so later reads of a long run cost what the asked columns
        cost; lines written since (a running or resumed run) are read beyond the cache. The
        table is the same either way."""
        return self._history("metrics", keys, tail=tail, samples=samples)

    def system(self, keys: Iterable[str] | None = None, *, samples: int | None = None) -> DataFrame:
        """The sampled system utilisation (system.jsonl) as a DataFrame, like :meth:`history`."""
        return self._history("system", keys, tail=None, samples=samples)

    def _history(self, stream: str, keys: Iterable[str] | None, *, tail: int | None, samples: int | None) -> DataFrame:
        require_pandas()
        if samples is not None:
            _series.check_samples(samples)
        keys = None if keys is None else ([keys] if isinstance(keys, str) else list(keys))
        if tail is None and _history.usable(self._storage):
            try:
                return _history.frame(stream_source(self, stream), keys, samples=samples)
            except _history.TooWide:
                pass  # a hostile stream of ever new keys: read as records
        records = self.records(stream, tail=tail)
        table = records_frame(records, keys)
        if samples is None:
            return table
        numbers = _series.columns(records).keys
        sampled = [k for k in table.columns if k not in _format.RESERVED]
        rows = _series.sample_rows(numbers, sampled, samples)
        return table.iloc[rows].reset_index(drop=True)  # the whole table's rows the downsampler keeps

    # -- media and files -------------------------------------------------------------------

    def _media(self, key: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """(step, reference) of every ``kind`` logged under ``key``, in order."""
        out: list[tuple[int, dict[str, Any]]] = []
        for rec in self.records("metrics"):
            step = rec.get(_format.STEP)
            if isinstance(step, int) and not isinstance(step, bool):  # a record without a step is skipped
                out.extend((step, r) for r in _format.references(rec.get(key), kind))
        return out

    def _read_run_file(self, path: str) -> bytes:
        try:
            return self._storage.read_bytes(f"{self._folder}/{_format.check_relative_file(path)}")
        except FileNotFoundError:
            msg = (
                f"{path} of run {self.id} is missing: its record names it, but the file was never written "
                f"(storage failed, or the writer was killed before it flushed)"
            )
            raise FileNotFoundError(msg) from None

    def images(self, key: str) -> list[LoggedImage]:
        """The images logged under ``key``, in step order (``.read()`` gives the PNG,
        ``.to_numpy()`` the pixels)."""
        return [
            LoggedImage(step, ref["path"], _size(ref.get("width")), _size(ref.get("height")),
                        ref.get("caption") if isinstance(ref.get("caption"), str) else None, self._read_run_file)
            for step, ref in self._media(key, "image")
            if isinstance(ref.get("path"), str)
        ]  # fmt: skip

    def table(self, key: str, step: int | None = None) -> DataFrame:
        """The table logged under ``key`` at ``step`` (default: the latest) as a DataFrame."""
        require_pandas()
        import pandas as pd  # noqa: PLC0415

        refs = self._media(key, "table")
        if step is not None:
            refs = [(s, r) for s, r in refs if s == step]
        if not refs:
            at = f" at step {step}" if step is not None else ""
            msg = f"run {self.id} has no table {key!r}{at}"
            raise KeyError(msg)
        return pd.read_csv(io.BytesIO(self._read_run_file(str(refs[-1][1]["path"]))))

    def histograms(self, key: str) -> list[LoggedHistogram]:
        """The histograms logged under ``key``: step, bin edges and counts, in step order."""
        return [
            LoggedHistogram(step, [float(e) for e in ref["edges"]], [int(c) for c in ref["counts"]])
            for step, ref in self._media(key, "histogram")
        ]

    def output(self) -> str:
        """The captured console output (output.log and its segments), or '' if none."""
        return _reader.read_text(self._storage, self._folder)

    def files(self) -> dict[str, int]:
        """The files saved with ``run.save`` (under ``files/``): relative path -> size in bytes,
        sorted by path. Read one with ``read_file("files/" + path)``."""
        out: dict[str, int] = {}
        pending = [""]
        while pending:
            sub = pending.pop()
            base = f"{self._folder}/{_format.FILES_DIR}" + (f"/{sub}" if sub else "")
            for entry in self._storage.list_dir(base):
                rel = f"{sub}/{entry.name}" if sub else entry.name
                if entry.is_dir:
                    pending.append(rel)
                else:
                    out[rel] = self._storage.stat(f"{base}/{entry.name}").size
        return dict(sorted(out.items()))

    def read_file(self, name: str) -> bytes:
        """The bytes of a file in the run folder by its relative path (``code.patch``,
        ``requirements.txt``, ``files/plot.png``); FileNotFoundError if the run has none."""
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            msg = f"not a path inside the run folder: {name!r}"
            raise ValueError(msg)
        return self._storage.read_bytes(f"{self._folder}/{name}")


def stream_columns(run: RunView, stream: str) -> _series.Columns:
    """A run's stream as the series engine takes it (steps, times, the numbers of each key),
    kept in memory while its files do not change."""
    return run._columns(stream)  # noqa: SLF001


def stream_source(run: RunView, stream: str) -> _history.Source:
    """A run's stream as columns: through the history cache where the root has one (see
    ``ledger/_query/_history.py``), else decoded from its JSON lines."""
    if not _history.usable(run._storage):  # noqa: SLF001
        read = run.records(stream)
        keys, cols = _history.columns_of(read)
        return _history.Source(None, _history.Built(keys, cols, len(read), [], []))
    path = _history.cache_path(run.project, run.id, stream)
    return _history.source(run._storage, run._folder, path, stream, ended=run.status != "running")  # noqa: SLF001


def _size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def record_columns(records: Iterable[Mapping[str, Any]], keys: Iterable[str] | None = None) -> list[str]:
    """``_step``, ``_time``, then ``keys`` or every key in first-seen order."""
    if keys is not None:
        return [*_format.RESERVED, *[k for k in keys if k not in _format.RESERVED]]
    seen: dict[str, None] = dict.fromkeys(_format.RESERVED)
    for rec in records:
        for k in rec:
            seen.setdefault(k, None)
    return list(seen)


def records_frame(records: list[dict[str, Any]], keys: Iterable[str] | None) -> DataFrame:
    """Records as a DataFrame (the columns of :func:`record_columns`; missing values NaN)."""
    require_pandas()
    import pandas as pd  # noqa: PLC0415

    wanted = record_columns(records, keys)
    columns = {k: [rec.get(k, math.nan) for rec in records] for k in wanted}
    return pd.DataFrame(columns, columns=wanted)


class SweepView:
    """A sweep as found in the ledger: its config (sweep.yaml, as given) and its trials' runs."""

    def __init__(self, sweep_id: str, project: str, config: dict[str, Any], runs: RunSet) -> None:
        self.id = sweep_id
        self.project = project
        self.config = config
        """The sweep's configuration, as given to ``ledger sweep create``."""
        self.runs = runs
        """The runs of its trials (``sweep.id`` in their manifests), in creation order."""

    def __repr__(self) -> str:
        return f"<SweepView {self.id} project={self.project!r} ({len(self.runs)} runs)>"

    @property
    def name(self) -> str | None:
        """The sweep's ``name`` key, if it has one."""
        name = self.config.get("name")
        return name if isinstance(name, str) else None

    @property
    def metric(self) -> tuple[str, str] | None:
        """The sweep's metric as (name, goal), goal ``maximize`` or ``minimize``; None if unset."""
        metric = self.config.get("metric")
        if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str):
            return None
        return str(metric["name"]), str(metric.get("goal") or "minimize")
