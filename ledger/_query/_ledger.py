"""Ledger, RunSet and RunView: the read side of a ledger, from Python."""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from ledger import _format, _reader
from ledger._errors import CorruptFileError, RunNotFoundError
from ledger._media import LoggedHistogram, LoggedImage
from ledger._query import _filter, _index
from ledger._storage import Storage

if TYPE_CHECKING:
    from pandas import DataFrame

log = logging.getLogger("ledger")

_GOALS = ("max", "min")


def _require_pandas() -> None:
    """pandas is imported only by the methods that return DataFrames; say how to get it."""
    try:
        import pandas as pd  # noqa: F401, PLC0415
    except ImportError:
        msg = "this needs pandas: pip install 'experiment-ledger[analysis]' (or pip install pandas)"
        raise ImportError(msg) from None


def flatten(prefix: str, mapping: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Nested mappings as dotted keys under ``prefix`` (``config.`` -> ``config.model.lr``);
    lists and empty mappings stay values."""
    for k, v in mapping.items():
        if type(v) is dict and v:  # manifests hold plain dicts; the exact check is fast
            flatten(f"{prefix}{k}.", v, out)
        else:
            out[prefix + str(k)] = v


class RunView:
    """One run as read from the ledger: its manifest, and its streams on demand.

    ``status`` is the status readers should show: a ``running`` run whose heartbeat is
    stale reads ``crashed``.
    """

    __slots__ = ("_incoming", "_storage", "doc", "status")

    def __init__(self, storage: Storage, doc: dict[str, Any], now: float) -> None:
        self._storage = storage
        self.doc = doc
        self.status: str = _effective_status(doc, now)
        self._incoming: list[tuple[str, str]] = []  # (relation, run id) of runs that link here

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

    def records(self, stream: str = "metrics") -> list[dict[str, Any]]:
        """The records of ``metrics`` (default) or ``system``, as dicts, in order (no pandas)."""
        if stream not in ("metrics", "system"):
            msg = f"stream must be 'metrics' or 'system', got {stream!r}"
            raise ValueError(msg)
        read = _reader.read_stream(self._storage, self._folder, stream)
        for note in read.torn + read.corrupt:
            log.warning("ledger: %s", note)
        return read.records

    def history(self, keys: Iterable[str] | None = None) -> DataFrame:
        """The metrics as a DataFrame: ``_step``, ``_time`` and one column per metric
        (only ``keys`` if given). NaN stays NaN; a metric missing at a step is NaN."""
        return _frame(self.records("metrics"), keys)

    def system(self) -> DataFrame:
        """The sampled system utilisation (system.jsonl) as a DataFrame."""
        return _frame(self.records("system"), None)

    def _media(self, key: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """(step, reference) of every ``kind`` logged under ``key``, in order."""
        out: list[tuple[int, dict[str, Any]]] = []
        for rec in self.records("metrics"):
            value = rec.get(key)
            refs = value if isinstance(value, list) else [value]
            out.extend((int(rec["_step"]), r) for r in refs if isinstance(r, dict) and r.get("_type") == kind)
        return out

    def _read_run_file(self, path: str) -> bytes:
        return self._storage.read_bytes(f"{self._folder}/{_format.check_relative_file(path)}")

    def images(self, key: str) -> list[LoggedImage]:
        """The images logged under ``key``, in step order (``.read()`` gives the PNG,
        ``.to_numpy()`` the pixels)."""
        return [
            LoggedImage(step, str(ref["path"]), int(ref.get("width") or 0), int(ref.get("height") or 0),
                        ref.get("caption"), self._read_run_file)
            for step, ref in self._media(key, "image")
        ]  # fmt: skip

    def table(self, key: str, step: int | None = None) -> DataFrame:
        """The table logged under ``key`` at ``step`` (default: the latest) as a DataFrame."""
        _require_pandas()
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
        chunks, _merged = _reader.stream_chunks(self._storage, self._folder, "output", "log")
        return "".join(data.decode("utf-8", errors="replace") for _name, data in chunks)

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


def _effective_status(doc: Mapping[str, Any], now: float) -> str:
    status = str(doc.get("status") or "running")
    if status != "running":
        return status
    heartbeat = doc.get("heartbeat")
    if not isinstance(heartbeat, str):
        return status
    try:
        beat = _format.parse_iso(heartbeat)
    except ValueError:
        return status
    period = doc.get("heartbeat_s") or _format.DEFAULT_HEARTBEAT_S
    return "crashed" if now > beat + _format.STALE_AFTER_INTERVALS * float(period) else "running"


def record_columns(records: Iterable[Mapping[str, Any]], keys: Iterable[str] | None = None) -> list[str]:
    """``_step``, ``_time``, then ``keys`` or every key in first-seen order."""
    if keys is not None:
        return ["_step", "_time", *[k for k in keys if k not in ("_step", "_time")]]
    seen: dict[str, None] = {"_step": None, "_time": None}
    for rec in records:
        for k in rec:
            seen.setdefault(k, None)
    return list(seen)


def _frame(records: list[dict[str, Any]], keys: Iterable[str] | None) -> DataFrame:
    _require_pandas()
    import pandas as pd  # noqa: PLC0415

    wanted = record_columns(records, keys)
    columns = {k: [rec.get(k, math.nan) for rec in records] for k in wanted}
    return pd.DataFrame(columns, columns=wanted)


# ---- sorting ------------------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    # Missing and NaN values sort last whatever the direction; numbers before text.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _order(runs: list[RunView], order_by: str | Sequence[str]) -> list[RunView]:
    specs = [s.strip() for s in order_by.split(",")] if isinstance(order_by, str) else list(order_by)
    for spec in reversed([s for s in specs if s]):  # stable sorts, last key first
        descending = spec.startswith("-")
        get = _filter.getter(_filter.parse_field(spec.lstrip("+-")))
        present = [r for r in runs if _sort_key(get(r))[0] < 2]
        absent = [r for r in runs if _sort_key(get(r))[0] == 2]
        present.sort(key=lambda r: _sort_key(get(r)), reverse=descending)
        runs = present + absent
    return runs


# ---- sets of runs -------------------------------------------------------------------------------


class RunSet(Sequence[RunView]):
    """An ordered selection of runs (what :meth:`Ledger.runs` returns)."""

    def __init__(self, runs: Iterable[RunView]) -> None:
        self._runs = list(runs)

    @overload
    def __getitem__(self, index: int) -> RunView: ...
    @overload
    def __getitem__(self, index: slice) -> RunSet: ...
    def __getitem__(self, index: int | slice) -> RunView | RunSet:
        if isinstance(index, slice):
            return RunSet(self._runs[index])
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunView]:
        return iter(self._runs)

    def __repr__(self) -> str:
        return f"<RunSet of {len(self._runs)} runs>"

    @property
    def ids(self) -> list[str]:
        """The run ids, in order."""
        return [r.id for r in self._runs]

    def filter(self, where: str | Mapping[str, Any]) -> RunSet:
        """The runs that match a filter (the ``where`` language or a dict filter)."""
        pred = _filter.compile_filter(where)
        return self if pred is None else RunSet(r for r in self._runs if pred(r))

    def order_by(self, order_by: str | Sequence[str]) -> RunSet:
        """Sorted by fields, ``-`` for descending (``"-summary.acc,name"``); missing values last."""
        return RunSet(_order(self._runs, order_by))

    def best(self, key: str, goal: str = "max") -> RunView | None:
        """The run with the highest (``goal="max"``) or lowest (``"min"``) value of ``key``;
        runs without a number there (missing, NaN) are ignored. None if no run has one."""
        if goal not in _GOALS:
            msg = f"goal must be 'max' or 'min', got {goal!r}"
            raise ValueError(msg)
        get = _filter.getter(_filter.parse_field(key))
        scored = [
            (v, r)
            for r in self._runs
            if isinstance(v := get(r), (int, float)) and not isinstance(v, bool) and not math.isnan(v)
        ]
        if not scored:
            return None
        pick = max if goal == "max" else min
        return pick(scored, key=lambda item: item[0])[1]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per run (the columns of :meth:`to_pandas`), no pandas needed."""
        return [_row(r) for r in self._runs]

    def to_pandas(self) -> DataFrame:
        """One row per run: id, name, project, group, job_type, tags, status, created, ended,
        duration_s, gpu_count, user, host.*, git.*, config.*, summary.*."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415

        rows = self.rows()
        columns: dict[str, None] = dict.fromkeys(_BASE_COLUMNS)
        for row in rows:
            for k in row:
                columns.setdefault(k, None)
        frame = pd.DataFrame.from_records(rows, columns=list(columns))
        for col in ("created", "ended"):
            frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
        return frame

    def compute_hours(self, by: str = "group") -> DataFrame:
        """Compute used, per ``by`` (group, job_type, user, host, month, project, or any
        field): runs, hours (active time) and gpu_hours (active time x GPUs)."""
        _require_pandas()
        import pandas as pd  # noqa: PLC0415

        table = compute_table(self._runs, by)
        return pd.DataFrame(table, columns=[by, "runs", "hours", "gpu_hours"])


_BASE_COLUMNS = (
    "id", "name", "project", "group", "job_type", "tags", "status", "created", "ended", "duration_s",
    "gpu_count", "user",
)  # fmt: skip


def _row(run: RunView) -> dict[str, Any]:
    doc = run.doc
    row: dict[str, Any] = {k: doc.get(k) for k in _BASE_COLUMNS}
    row["status"] = run.status
    row["tags"] = list(doc.get("tags") or [])
    for section in ("host", "git"):
        value = doc.get(section)
        if type(value) is dict:
            for k, v in value.items():
                row[f"{section}.{k}"] = v
    for section in ("config", "summary"):
        value = doc.get(section)
        if type(value) is dict:
            flatten(section + ".", value, row)
    return row


_BY_ALIASES = {"host": "host.hostname", "month": "created"}


def group_key(run: RunView, by: str) -> Any:
    """The value a run is grouped under for ``by`` (``month`` is YYYY-MM of creation)."""
    value = run.get(_BY_ALIASES.get(by, by))
    if by == "month" and isinstance(value, str):
        return value[:7]
    return value


def compute_table(runs: Iterable[RunView], by: str) -> list[tuple[Any, int, float, float]]:
    """(key, runs, hours, gpu_hours) per value of ``by``, sorted by key (None last)."""
    acc: dict[Any, list[float]] = {}
    for run in runs:
        key = group_key(run, by)
        if isinstance(key, list):
            key = ",".join(map(str, key))
        hours = run.duration_s / 3600
        slot = acc.setdefault(key, [0, 0.0, 0.0])
        slot[0] += 1
        slot[1] += hours
        slot[2] += hours * run.gpu_count
    return [
        (k, int(v[0]), round(v[1], 6), round(v[2], 6))
        for k, v in sorted(acc.items(), key=lambda kv: (kv[0] is None, str(kv[0])))
    ]


# ---- sweeps -------------------------------------------------------------------------------------------


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
    def metric(self) -> tuple[str, str] | None:
        """The sweep's metric as (name, goal), goal ``maximize`` or ``minimize``; None if unset."""
        metric = self.config.get("metric")
        if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str):
            return None
        return str(metric["name"]), str(metric.get("goal") or "minimize")


# ---- the ledger -----------------------------------------------------------------------------------


class Ledger:
    """A ledger opened for reading (see :func:`ledger.open`)."""

    def __init__(self, storage: Storage, runs: list[RunView], skipped: list[str]) -> None:
        self._storage = storage
        self._runs = runs
        self._by_id = {r.id: r for r in runs}
        self.skipped = skipped
        """Messages for manifests that could not be read (corrupt, unsupported format)."""

    def __repr__(self) -> str:
        return f"<Ledger {self.root} ({len(self._runs)} runs)>"

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def root(self) -> str:
        """Where the ledger is (a path or URL)."""
        return self._storage.url

    def projects(self) -> list[str]:
        """The projects that have runs, sorted."""
        return sorted({r.project for r in self._runs})

    def runs(  # noqa: PLR0913
        self,
        project: str | None = None,
        *,
        where: str | Mapping[str, Any] | None = None,
        group: str | Sequence[str] | None = None,
        job_type: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        user: str | Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = "created",
        limit: int | None = None,
    ) -> RunSet:
        """The runs that match every given condition, sorted, at most ``limit``.

        ``group``, ``job_type``, ``status`` and ``user`` take a value or a list of values
        (any of them); ``tags`` a tag or a list of tags (all of them). ``where`` is a filter
        text (``"config.lr < 1e-3 and summary.acc > 0.9"``, MLflow syntax works too) or a
        W&B-style dict. ``order_by`` takes fields, ``-`` for descending.
        """
        preds: list[_filter.Predicate] = []
        for name, value in (("project", project), ("group", group), ("job_type", job_type), ("user", user)):
            if value is not None:
                values = [value] if isinstance(value, str) else list(value)
                preds.append(_filter.compare_predicate(_filter.Field((name,)), "in", values))
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in _format.STATUSES]
            if bad:
                msg = f"status {bad[0]!r} is not one of {', '.join(_format.STATUSES)}"
                raise ValueError(msg)
            preds.append(lambda r: r.status in statuses)
        if tags is not None:
            wanted = [tags] if isinstance(tags, str) else list(tags)
            preds.append(lambda r: all(t in (r.doc.get("tags") or ()) for t in wanted))
        where_pred = _filter.compile_filter(where)
        if where_pred is not None:
            preds.append(where_pred)
        selected = [r for r in self._runs if all(p(r) for p in preds)]
        if order_by:
            selected = _order(selected, order_by)
        if limit is not None:
            if limit < 0:
                msg = f"limit must be >= 0, got {limit}"
                raise ValueError(msg)
            selected = selected[:limit]
        return RunSet(selected)

    def run(self, id_or_prefix: str) -> RunView:
        """The run with this id, or the only run whose id starts with this prefix."""
        found = self._by_id.get(id_or_prefix)
        if found is not None:
            return found
        matches = [r for r in self._runs if r.id.startswith(id_or_prefix)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            msg = f"no run {id_or_prefix!r} in {self.root}"
        else:
            shown = ", ".join(r.id for r in matches[:5]) + (" ..." if len(matches) > 5 else "")
            msg = (
                f"run id prefix {id_or_prefix!r} is ambiguous: {len(matches)} runs match ({shown}); "
                f"give more characters"
            )
        raise RunNotFoundError(msg)

    def compute_hours(self, by: str = "group") -> DataFrame:
        """Hours and GPU hours per ``by`` over all runs (see :meth:`RunSet.compute_hours`)."""
        return RunSet(self._runs).compute_hours(by)

    def disk_usage(self, by: str = "project", project: str | None = None) -> list[dict[str, Any]]:
        """What takes space, largest first: one dict per project, group, run or kind (metrics,
        system, media, files, patches, logs, manifests, other) with bytes, files and runs."""
        from ledger._usage import usage  # noqa: PLC0415

        groups = {(r.project, r.id): r.group for r in self._runs}
        buckets = usage(self._storage, groups, by, project)
        return [{by: b.key, "runs": len(b.runs), "files": b.files, "bytes": b.bytes} for b in buckets]

    def sweeps(self, project: str | None = None) -> list[SweepView]:
        """The sweeps under the root (or one project), each with its config and its runs."""
        by_sweep: dict[tuple[str, str], list[RunView]] = {}
        for run in self._runs:
            sweep = run.doc.get("sweep")
            if isinstance(sweep, Mapping) and isinstance(sweep.get("id"), str):
                by_sweep.setdefault((run.project, sweep["id"]), []).append(run)
        projects = (
            [project]
            if project is not None
            else sorted({e.name for e in self._storage.list_dir("") if e.is_dir and not e.name.startswith(".")})
        )
        out = []
        for p in projects:
            for entry in self._storage.list_dir(f"{_format.project_dir(p)}/{_format.SWEEPS_DIR}"):
                path = f"{_format.sweep_dir(p, entry.name)}/{_format.SWEEP_CONFIG}"
                try:
                    config = _format.yaml_load(self._storage.read_bytes(path), self._storage.full(path))
                except FileNotFoundError:
                    continue
                except CorruptFileError as exc:
                    log.warning("ledger: skipped %s", exc)
                    continue
                runs = RunSet(by_sweep.get((p, entry.name), []))
                out.append(SweepView(entry.name, p, config if isinstance(config, dict) else {}, runs))
        return out


def index_state(root: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> str:
    """A short token of a ledger's manifests that changes whenever a run is added, removed
    or rewritten: a cheap key for caching what was read from :func:`open_ledger` (one
    listing of the tree, no manifest is read)."""
    return _index.state(Storage(os.fspath(root), storage_options))


def open_ledger(
    root: str | os.PathLike[str] | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
) -> Ledger:
    """Open a ledger for reading: a folder or any fsspec URL (default: ``$LEDGER_ROOT``,
    else ``results/`` at the top of the git repository, else ``./results``), or a folder made
    by ``ledger publish`` served over ``https://`` (read through its index.json).

    The manifests are indexed once and cached under ``<root>/.cache/``; the next open reads
    only what changed. ``cache=False`` reads everything and leaves the cache alone.
    """
    from ledger._run import default_root  # noqa: PLC0415

    url = os.fspath(root) if root is not None else default_root()
    storage = Storage(url, storage_options)
    try:
        marker = storage.read_bytes(_format.ROOT_MARKER)
    except FileNotFoundError:
        msg = f"no ledger at {storage.url} (no {_format.ROOT_MARKER}); pass the root a run was logged to"
        raise RunNotFoundError(msg) from None
    _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    with _collector_paused():
        return _open(storage, cache=cache)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Building an index allocates a million small objects, none of them garbage; the cyclic
    collector would walk the growing graph again and again (a quarter of a warm open)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _open(storage: Storage, *, cache: bool) -> Ledger:
    now = time.time()
    if storage.is_http:  # a publication read over plain HTTP: its index.json lists everything
        from ledger._publish import read_index  # noqa: PLC0415

        docs = read_index(storage)
        runs = sorted(
            (RunView(storage, doc, now) for doc in docs), key=lambda r: (str(r.doc.get("created") or ""), r.id)
        )
        return Ledger(storage, _link(runs), [])
    runs = []
    skipped: list[str] = []
    for item in _index.load(storage, use_cache=cache, write_cache=cache):
        if item.doc is None:
            if item.error is not None:
                skipped.append(item.error)
                log.warning("ledger: skipped %s", item.error)
            continue
        runs.append(RunView(storage, item.doc, now))
    runs.sort(key=lambda r: (str(r.doc.get("created") or ""), r.id))
    return Ledger(storage, _link(runs), skipped)


def _link(runs: list[RunView]) -> list[RunView]:
    """Relations both ways, and summary values attached by other runs (in creation order,
    so a later attachment wins) merged into their targets' summaries."""
    by_id = {r.id: r for r in runs}
    for run in runs:  # already sorted by creation
        doc = run.doc
        for relation, target in [("parent", doc.get("parent")), *(doc.get("links") or {}).items()]:
            if isinstance(target, str) and target in by_id:
                by_id[target]._incoming.append((str(relation), run.id))  # noqa: SLF001
        for target, values in (doc.get("attach") or {}).items():
            view = by_id.get(target)
            if view is not None and isinstance(values, Mapping):
                view._incoming.append(("attached", run.id))  # noqa: SLF001
                view.doc = {**view.doc, "summary": {**(view.doc.get("summary") or {}), **values}}
    return runs
