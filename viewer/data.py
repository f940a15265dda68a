"""The viewer's only way to the ledger: the query API (``ledger.open``, ``Ledger.refresh``,
``Ledger.runs``, ``RunView.series``, ``RunSet.band``, ``RunSet.groups``, ``Ledger.sweeps``,
``RunSet.compute_hours``, ``RunSet.importance``), cached.

One :class:`Workspace` per ledger and server process holds the ledger and its display table.
It is opened once, in a background thread that reports its progress (the first visit to a
large ledger shows a progress bar with counts), and then kept current by the same thread:
every ``STATE_TTL`` seconds it calls :meth:`ledger.Ledger.refresh`, which re-reads only the
manifests that changed, and patches only those runs' rows of the table. Every page reads an
immutable :class:`Snapshot` of it, so a filter, a sort or a tick never waits for the tree:
twenty live runs heartbeating cost the pages nothing. What is derived from a snapshot (the
runs a filter selects, facets, group tables) is cached under the snapshot's version.

Metric streams of running runs are re-read at most once per auto-refresh tick; a run's
parsed streams are kept by the query layer, keyed by the files' sizes and versions, so only
files that changed are read again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

import ledger
from ledger import _format, _root, _settings
from ledger._query import compute_table, flatten
from ledger._units import hms
from viewer import tables

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

ROOT_ENV = _settings.VIEW_ROOT.name
OPTIONS_ENV = _settings.VIEW_STORAGE_OPTIONS.name
STATE_TTL = 3.0  # seconds between two refreshes of the ledger (one listing of the manifests)
IDLE_S = 300.0  # a workspace nobody asked for in this long stops refreshing until asked again
REBUILD_SHARE = 0.2  # past this share of changed runs, the table is rebuilt rather than patched


@dataclass(frozen=True)
class Source:
    """Where the ledger is: a root and its fsspec storage options (hashable, for cache keys)."""

    root: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self.options)


def source(argv: Sequence[str] | None = None) -> Source:
    """The root given after ``--`` to ``streamlit run viewer/app.py -- --root ROOT``, else
    ``$LEDGER_VIEW_ROOT`` (set by ``ledger view``), else ledger's default root."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--root")
    parser.add_argument("--storage-option", action="append", default=[])
    args, _unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    options: dict[str, Any] = json.loads(_settings.get(_settings.VIEW_STORAGE_OPTIONS) or "{}")
    for item in args.storage_option:
        key, _, value = item.partition("=")
        options[key] = value
    root = args.root or _settings.get(_settings.VIEW_ROOT) or _root.default_root()
    return Source(root, tuple(sorted(options.items())))


# ---- the workspace: the ledger, kept current --------------------------------------------------


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``RunSet.to_pandas()`` as the browser shows it, indexed by run id: status with its
    colour dot, duration as h:mm:ss, tags as text, mixed-type columns as text."""
    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column == "status":
            columns["status"] = frame["status"].map(tables.status_label)
        elif column == "duration_s":
            columns["duration"] = frame["duration_s"].map(hms)
        elif column == "tags":
            columns["tags"] = frame["tags"].map(tables.text)
        else:
            columns[column] = tables.display_column(frame[column])
    out = pd.DataFrame(columns)
    out.index = pd.Index(frame["id"].to_numpy())
    return out


def patched(table: pd.DataFrame, old: ledger.Ledger, new: ledger.Ledger) -> pd.DataFrame | None:
    """``table`` (of ``old``) brought up to ``new``: only the rows of runs whose view changed
    are rebuilt (``Ledger.refresh`` keeps unchanged views); None if nothing changed."""
    runs = new.runs(order_by=None)
    before = {r.id: r for r in old.runs(order_by=None)}
    changed = [r for r in runs if before.get(r.id) is not r]
    kept = {r.id for r in runs}
    removed = [i for i in table.index if i not in kept]
    if not changed and not removed:
        return None
    if len(changed) > REBUILD_SHARE * max(len(table), 1):
        return display_table(runs.to_pandas())
    rows = display_table(ledger.RunSet(changed).to_pandas())
    rest = table.drop(index=[*removed, *(r.id for r in changed if r.id in table.index)])
    with warnings.catch_warnings():  # columns only the new rows have: NaN elsewhere, as to_pandas does
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.concat([rest, rows]) if len(rest) else rows
    for column in rows.columns:
        if out[column].dtype == object:
            out[column] = tables.display_column(out[column])
    return out


@dataclass(frozen=True)
class Snapshot:
    """The ledger and its display table as of one refresh; ``version`` grows with each change."""

    version: int
    ledger: ledger.Ledger
    table: pd.DataFrame


class Workspace:
    """The ledger of one source in this server process, opened once and kept current (see the
    module's docstring). Every session reads its :meth:`snapshot`."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.progress: tuple[int, int] = (0, 0)  # manifests read, of how many (while opening)
        self.error: BaseException | None = None
        self._snapshot: Snapshot | None = None
        self._asked = time.monotonic()
        self._refreshing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Open the ledger in the background (once)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=_keep_current, args=(weakref.ref(self),), daemon=True)
                self._thread.name = f"ledger-workspace {self.src.root}"
                self._thread.start()

    def open(self) -> None:
        """Open the ledger and build the table (the background thread's first step)."""
        try:
            lg = ledger.open(self.src.root, storage_options=self.src.storage_options, progress=self._progress)
            table = display_table(lg.runs(order_by=None).to_pandas())
        except Exception as exc:  # shown to the user by the page that waits for it
            self.error = exc
            return
        self._snapshot = Snapshot(1, lg, table)

    def _progress(self, done: int, total: int) -> None:
        self.progress = (done, total)

    def snapshot(self) -> Snapshot | None:
        """The ledger as last read (None while it is still being opened)."""
        self._asked = time.monotonic()
        return self._snapshot

    @property
    def idle(self) -> bool:
        return time.monotonic() - self._asked > IDLE_S

    def refresh(self) -> bool:
        """Bring the snapshot up to the tree now: re-read changed manifests, patch their rows.
        Returns whether anything changed."""
        with self._refreshing:
            snap = self._snapshot
            if snap is None:
                return False
            lg = snap.ledger.refresh()
            table = patched(snap.table, snap.ledger, lg)
            if table is None and lg.skipped == snap.ledger.skipped:
                return False
            self._snapshot = Snapshot(snap.version + 1, lg, snap.table if table is None else table)
            return True


def _keep_current(ref: weakref.ReferenceType[Workspace]) -> None:
    """The workspace's thread: open it, then refresh it every STATE_TTL seconds while someone
    looks at it; ends when the workspace is dropped (the Reload button, a cleared cache)."""
    ws = ref()
    if ws is None:
        return
    ws.open()
    if ws.error is not None:
        return
    del ws
    while True:
        time.sleep(STATE_TTL)
        ws = ref()
        if ws is None:
            return
        if not ws.idle:
            with contextlib.suppress(Exception):  # a store that hiccups: the next tick tries again
                ws.refresh()
        del ws


@st.cache_resource(show_spinner=False)
def workspace(src: Source) -> Workspace:
    """The workspace of ``src`` in this server process (started on first use)."""
    ws = Workspace(src)
    ws.start()
    return ws


PINNED = "_snapshot"  # session key: the snapshot this script run reads (one, start to end)


def pin(src: Source) -> Snapshot:
    """Take the current snapshot for this script run: every read of the run sees the same
    ledger and table, even if the workspace moves on meanwhile (a run that appears halfway
    through a page must not be in its selection and missing from its table)."""
    snap = workspace(src).snapshot()
    if snap is None:
        msg = "the ledger is still being opened"
        raise RuntimeError(msg)
    st.session_state[PINNED] = (src, snap)
    return snap


def snapshot(src: Source) -> Snapshot:
    """The snapshot this script run reads (see :func:`pin`; the app pins one before any page runs)."""
    pinned = st.session_state.get(PINNED)
    if pinned is not None and pinned[0] == src:
        return pinned[1]  # type: ignore[no-any-return]
    return pin(src)


def latest_version(src: Source) -> int:
    """The version of the workspace's newest snapshot (what a page compares its own with)."""
    snap = workspace(src).snapshot()
    return 0 if snap is None else snap.version


def refresh(src: Source | None = None) -> None:
    """Read the tree again now (the Reload button): forget every cached read, then refresh."""
    st.cache_data.clear()
    if src is not None:
        workspace(src).refresh()


def open_ledger(src: Source) -> ledger.Ledger:
    """The ledger as of the current snapshot."""
    return snapshot(src).ledger


def version(src: Source) -> int:
    """The current snapshot's version: the cache key of everything derived from it."""
    return snapshot(src).version


def runs_table(src: Source) -> pd.DataFrame:
    """Every run as one display-ready row, indexed by run id (a snapshot's: do not modify).

    Columns: id, name, project, group, job_type, status (with its colour dot), created,
    duration (h:mm:ss), tags (text), ..., config.*, summary.*; mixed-type columns as text."""
    return snapshot(src).table


@dataclass(frozen=True)
class Filters:
    """What the Runs page selects by (hashable, for cache keys)."""

    project: str | None = None
    groups: tuple[str, ...] = ()
    job_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    where: str = ""
    users: tuple[str, ...] = ()


@st.cache_resource(max_entries=32, show_spinner=False)
def _select(
    src: Source,
    version_: int,  # noqa: ARG001 (keys the cache)
    filters: Filters,
    order_by: str | None,
) -> tuple[ledger.RunSet, tuple[str, ...]]:
    with warnings.catch_warnings(record=True) as caught:  # what the query layer says about the filter
        warnings.simplefilter("always")
        runs_ = open_ledger(src).runs(
            filters.project,
            where=filters.where.strip() or None,
            group=list(filters.groups) or None,
            job_type=list(filters.job_types) or None,
            tags=list(filters.tags) or None,
            status=list(filters.statuses) or None,
            user=list(filters.users) or None,
            order_by=order_by,
        )
    return runs_, tuple(dict.fromkeys(str(w.message) for w in caught))


def select(src: Source, filters: Filters, order_by: str | None = None) -> ledger.RunSet:
    """The runs the filters select, in ``order_by`` order (raises ledger.FilterError)."""
    return _select(src, version(src), filters, order_by)[0]


def where_hints(src: Source, filters: Filters, order_by: str | None = None) -> list[str]:
    """What the query layer says about filters that parse: a field no run has, with the
    closest names (``Ledger.unknown_fields``)."""
    return list(_select(src, version(src), filters, order_by)[1])


def run(src: Source, run_id: str) -> ledger.RunView:
    """One run by id or unique prefix (raises ledger.RunNotFoundError)."""
    return open_ledger(src).run(run_id)


def runs(src: Source, run_ids: Sequence[str]) -> list[ledger.RunView]:
    """The runs of these ids that still exist, in the given order."""
    lg = open_ledger(src)
    out = []
    for run_id in run_ids:
        try:
            out.append(lg.run(run_id))
        except ledger.RunNotFoundError:
            continue
    return out


def label(run_: ledger.RunView) -> str:
    """How a run is named in legends and pickers: its name, with the end of its id unless
    the name already carries it (default names end with part of the id)."""
    if not run_.name:
        return run_.id
    tail = run_.id.rsplit("-", 1)[-1]
    return run_.name if run_.name.endswith(tail[:4]) else f"{run_.name} ({tail[:6]})"


def fields(run_: ledger.RunView) -> dict[str, Any]:
    """A run's flat fields for comparing: status and times, config.*, summary.*, git.*, host.*."""
    out: dict[str, Any] = {
        "name": run_.name,
        "group": run_.group,
        "job_type": run_.job_type,
        "status": run_.status,
        "tags": run_.tags,
        "duration": hms(run_.duration_s),
    }
    for section in ("config", "summary", "git", "host"):
        value = run_.meta.get(section)
        if isinstance(value, dict):
            flatten(f"{section}.", value, out)
    return out


# ---- groups -------------------------------------------------------------------------------------


@st.cache_resource(max_entries=16, show_spinner=False)
def _groups(src: Source, version_: int, filters: Filters, by: tuple[str, ...]) -> list[tables.Group]:  # noqa: ARG001
    return tables.grouped(select(src, filters), list(by))


def groups(src: Source, filters: Filters, by: Sequence[str]) -> list[tables.Group]:
    """The runs the filters select, grouped by ``by`` (``RunSet.groups``; keyed by project
    too when they span several projects), in key order."""
    return _groups(src, version(src), filters, tuple(by))


@st.cache_resource(max_entries=16, show_spinner=False)
def _group_table(
    src: Source,
    version_: int,  # noqa: ARG001 (keys the cache)
    filters: Filters,
    by: tuple[str, ...],
    metrics: tuple[str, ...],
) -> pd.DataFrame:
    return tables.group_table(groups(src, filters, by), list(metrics), runs_table(src))


def group_table(src: Source, filters: Filters, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per group of the selected runs: its key columns, runs, ``mean ± std`` of each
    metric, and (hidden) label and ids. Cached per snapshot."""
    return _group_table(src, version(src), filters, tuple(by), tuple(metrics))


# ---- streams ----------------------------------------------------------------------------------


def _token(run_: ledger.RunView, tick: int) -> str:
    """What a run's streams depend on: fixed once it ended; the refresh tick while it runs."""
    if run_.status == "running":
        return f"running:{tick}"
    return f"{run_.status}:{run_.meta.get('ended')}:{run_.meta.get('heartbeat')}"


def tick(interval: float) -> int:
    """The current auto-refresh period number."""
    return int(time.time() // max(interval, 1.0))


@st.cache_resource(max_entries=4096, show_spinner=False)
def _keys(src: Source, run_id: str, stream: str, token: str) -> list[str]:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).series_keys(stream)


def series_keys(src: Source, run_: ledger.RunView, stream: str = "metrics", tick_: int = 0) -> list[str]:
    """The names under which a run logged numbers to ``metrics`` (or ``system``), sorted."""
    return _keys(src, run_.id, stream, _token(run_, tick_))


@st.cache_resource(max_entries=64, show_spinner=False)
def _metric_names(src: Source, run_ids: tuple[str, ...], tokens: tuple[str, ...]) -> list[str]:  # noqa: ARG001
    lg = open_ledger(src)
    names: dict[str, None] = {}
    for run_id in run_ids:
        names.update(dict.fromkeys(lg.run(run_id).series_keys()))
    return sorted(names)


def metric_names(src: Source, members: Sequence[ledger.RunView], tick_: int = 0) -> list[str]:
    """Every metric name any of ``members`` logged, sorted (one cache entry for all of them)."""
    return _metric_names(src, tuple(r.id for r in members), tuple(_token(r, tick_) for r in members))


@dataclass(frozen=True)
class View:
    """How a curve is asked for (hashable, for cache keys): the series engine's x axis
    (step, time, relative), downsampling and smoothing, and the stream."""

    x: str = "step"
    samples: int | None = 1000
    smoothing: float = 0.0
    stream: str = "metrics"


@st.cache_resource(max_entries=4096, show_spinner=False)
def _curve(src: Source, run_id: str, key: str, view: View, token: str) -> ledger.Series:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).series(key, x=view.x, samples=view.samples, smoothing=view.smoothing, stream=view.stream)


def curve(src: Source, run_: ledger.RunView, key: str, view: View, tick_: int = 0) -> ledger.Series:
    """One metric of a run as the series engine makes it (``RunView.series``): x and y arrays
    (NaN and +-inf as logged), downsampled and smoothed as ``view`` says. Cached; do not
    modify the arrays."""
    return _curve(src, run_.id, key, view, _token(run_, tick_))


@st.cache_resource(max_entries=64, show_spinner=False)
def _curves(
    src: Source,
    run_ids: tuple[str, ...],
    key: str,
    view: View,
    tokens: tuple[str, ...],  # noqa: ARG001 (keys the cache)
) -> list[ledger.Series]:
    lg = open_ledger(src)
    return [lg.run(i).series(key, x=view.x, samples=view.samples, smoothing=view.smoothing) for i in run_ids]


def curves(src: Source, members: Sequence[ledger.RunView], key: str, view: View, tick_: int = 0) -> list[ledger.Series]:
    """``curve`` of many runs at once (one cache entry per chart panel, not one per run: a
    chart of 500 runs redrawn with other settings costs one lookup)."""
    return _curves(src, tuple(r.id for r in members), key, view, tuple(_token(r, tick_) for r in members))


@st.cache_resource(max_entries=256, show_spinner=False)
def _band(src: Source, run_ids: tuple[str, ...], key: str, view: View, tokens: tuple[str, ...]) -> ledger.Band:  # noqa: ARG001 (tokens key the cache)
    members = ledger.RunSet(runs(src, run_ids))
    return members.band(key, x=view.x, samples=view.samples, smoothing=view.smoothing)[0]


def band(src: Source, members: Sequence[ledger.RunView], key: str, view: View, tick_: int = 0) -> ledger.Band:
    """The series engine's mean and band of ``key`` over ``members`` (``RunSet.band``: the
    runs on one x grid). Cached; do not modify the arrays."""
    return _band(src, tuple(r.id for r in members), key, view, tuple(_token(r, tick_) for r in members))


@st.cache_data(max_entries=32, show_spinner=False)
def _output(src: Source, run_id: str, token: str) -> str:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).output()


def output(src: Source, run_: ledger.RunView, tick_: int = 0) -> str:
    """The run's console output (output.log)."""
    return _output(src, run_.id, _token(run_, tick_))


@st.cache_data(max_entries=64, show_spinner=False)
def _file_text(src: Source, run_id: str, name: str, token: str) -> str | None:  # noqa: ARG001 (token keys the cache)
    try:
        return run(src, run_id).read_file(name).decode("utf-8", errors="replace")
    except (FileNotFoundError, ledger.RefusedFileError):  # absent, or a link (never followed)
        return None


def file_text(src: Source, run_: ledger.RunView, name: str) -> str | None:
    """A text file of the run folder (``code.patch``, ``requirements.txt``), None if absent."""
    return _file_text(src, run_.id, name, _token(run_, 0))


def saved_files(src: Source, run_: ledger.RunView) -> dict[str, int]:
    """The run's saved files (under files/): path -> size."""
    return _saved_files(src, run_.id, _token(run_, 0))


@st.cache_data(max_entries=64, show_spinner=False)
def _saved_files(src: Source, run_id: str, token: str) -> dict[str, int]:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).files()


def saved_file(src: Source, run_id: str, path: str) -> bytes:
    """The bytes of one saved file (read when asked: previews and downloads)."""
    return run(src, run_id).read_file(f"files/{path}")


# ---- sweeps and compute -----------------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner=False)
def _sweeps(src: Source, version_: int, project: str | None) -> list[Any]:  # noqa: ARG001 (version_ keys the cache)
    return open_ledger(src).sweeps(project)


def sweeps(src: Source, project: str | None = None) -> list[Any]:
    """The ledger's sweeps (SweepView: .id .project .config .metric .runs)."""
    return _sweeps(src, version(src), project)


@st.cache_resource(max_entries=8, show_spinner=False)
def _key_metrics(src: Source, version_: int, project: str | None) -> list[str]:  # noqa: ARG001 (keys the cache)
    out: dict[str, None] = {}
    for sweep in sweeps(src, project):
        if sweep.metric is not None:
            out[f"summary.{sweep.metric[0]}"] = None
    for run_ in open_ledger(src).runs(project, order_by=None):
        for name, kind in (run_.doc.get("defined_metrics") or {}).items():
            if kind in ("min", "max") and not any(c in name for c in "*?["):  # an objective, not a pattern
                out[f"summary.{name}"] = None
    return list(out)


def key_metrics(src: Source, project: str | None) -> list[str]:
    """The summary fields a project says matter: its sweeps' metrics and the metrics its runs
    declared with ``run.define_metric(name, summary="min" | "max")`` (``summary.<name>``)."""
    return _key_metrics(src, version(src), project)


@st.cache_resource(max_entries=8, show_spinner=False)
def _importance(
    src: Source,
    version_: int,  # noqa: ARG001 (keys the cache)
    run_ids: tuple[str, ...],
    metric: str,
    params: tuple[str, ...] | None,
) -> tuple[pd.DataFrame, str]:
    members = ledger.RunSet(runs(src, run_ids))
    chosen = list(params) if params is not None else None
    try:
        return members.importance(metric, params=chosen), ""
    except ImportError as exc:  # scikit-learn is not installed: the correlations alone
        return members.importance(metric, params=chosen, forest=False), str(exc)


def importance(
    src: Source, members: Sequence[ledger.RunView], metric: str, params: Sequence[str] | None = None
) -> tuple[pd.DataFrame, str]:
    """``RunSet.importance(metric, params=...)`` of the runs (and a note when the forest is
    unavailable); ValueError when fewer than 3 runs have the metric."""
    return _importance(
        src, version(src), tuple(r.id for r in members), metric, None if params is None else tuple(params)
    )


def compute_hours(src: Source, filters: Filters, by: str) -> pd.DataFrame:
    """Runs, hours and GPU hours per value of ``by`` over the runs the filters select."""
    return select(src, filters).compute_hours(by=by)


def compute_by_month(src: Source, filters: Filters, by: str, price: Mapping[str, float] | None) -> pd.DataFrame:
    """Runs, hours, GPU hours and cost per month and value of ``by`` (``gpu``: the GPU model),
    months in date order: ``RunSet.groups`` and ``compute_table``, priced as ``compute_hours``
    prices (``gpu`` per GPU hour, ``cpu`` per hour of a run without GPUs); cost 0 without a price."""
    rows = [
        (row.key, key, row.runs, row.hours, row.gpu_hours, row.cost or 0.0)
        for key, members in select(src, filters).groups(by).items()
        for row in compute_table(members, "month", price=price)
    ]
    frame = pd.DataFrame(rows, columns=["month", by, "runs", "hours", "gpu_hours", "cost"])
    frame["month"] = frame["month"].astype(object).where(frame["month"].notna(), "(unknown)")
    frame[by] = [tables.NONE if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in frame[by]]
    return frame.sort_values(["month", by], kind="stable").reset_index(drop=True)


def projects(src: Source) -> list[str]:
    """The projects of the ledger."""
    return open_ledger(src).projects()


def skipped(src: Source) -> list[str]:
    """Messages about manifests that could not be read."""
    return list(open_ledger(src).skipped)


@dataclass(frozen=True)
class Facets:
    """The values the Runs page's pickers offer."""

    projects: tuple[str, ...]
    groups: tuple[str, ...]
    job_types: tuple[str, ...]
    tags: tuple[str, ...]
    statuses: tuple[str, ...]
    users: tuple[str, ...] = ()


@st.cache_resource(max_entries=8, show_spinner=False)
def _facets(src: Source, version_: int, project: str | None) -> Facets:  # noqa: ARG001 (version_ keys the cache)
    lg = open_ledger(src)
    runs_ = lg.runs(project, order_by=None)
    return Facets(
        projects=tuple(lg.projects()),
        groups=tuple(sorted({r.group for r in runs_ if r.group is not None})),
        job_types=tuple(sorted({r.job_type for r in runs_ if r.job_type is not None})),
        tags=tuple(sorted({t for r in runs_ for t in r.tags})),
        statuses=tuple(s for s in _format.STATUSES if any(r.status == s for r in runs_)),
        users=tuple(sorted({str(r.doc["user"]) for r in runs_ if r.doc.get("user")})),
    )


def facets(src: Source, project: str | None) -> Facets:
    """Projects, and the groups, job types, tags and statuses present (in one project if given)."""
    return _facets(src, version(src), project)


# ---- media, links and storage ----------------------------------------------------------------------


@st.cache_data(max_entries=32, show_spinner=False)
def _media(src: Source, run_id: str, token: str) -> dict[str, dict[str, list[tuple[int, dict[str, Any]]]]]:  # noqa: ARG001 (token keys the cache)
    found: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {"image": {}, "table": {}, "histogram": {}}
    for rec in run(src, run_id).records("metrics"):
        if not isinstance(rec.get("_step"), int):  # a record without a step (verify names it)
            continue
        for key, value in rec.items():
            refs = value if isinstance(value, list) else [value]
            for ref in refs:
                if isinstance(ref, dict) and ref.get("_type") in found:
                    found[ref["_type"]].setdefault(key, []).append((int(rec["_step"]), ref))
    return found


def media(src: Source, run_: ledger.RunView, tick_: int = 0) -> dict[str, dict[str, list[tuple[int, dict[str, Any]]]]]:
    """kind (image, table, histogram) -> key -> [(step, reference)] of a run's logged media."""
    return _media(src, run_.id, _token(run_, tick_))


@st.cache_data(max_entries=256, show_spinner=False)
def media_file(src: Source, run_id: str, path: str) -> bytes:
    """One media file (a PNG or CSV under media/) of a run."""
    return run(src, run_id).read_file(path)


def disk_usage(src: Source, by: str, project: str | None) -> pd.DataFrame:
    """Bytes and files per project, group, run or kind, largest first."""
    rows = open_ledger(src).disk_usage(by, project)
    return pd.DataFrame(rows, columns=[by, "runs", "files", "bytes"])


def wait_for(ws: Workspace, show: Callable[[int, int], None], poll: float = 0.1) -> Snapshot | None:
    """Block until the workspace has its first snapshot, calling ``show(done, total)`` with the
    open's progress meanwhile; None if opening failed (``ws.error`` says why)."""
    while True:
        snap = ws.snapshot()
        if snap is not None or ws.error is not None:
            return snap
        show(*ws.progress)
        time.sleep(poll)
