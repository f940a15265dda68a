"""The viewer's only way to the ledger: the query API (``ledger.open``, ``Ledger.runs``,
``RunView.records/system/output``, ``Ledger.sweeps``, ``RunSet.compute_hours``), cached.

Everything read is cached under a key that includes the index's state, a cheap token of
the manifests' listing (``index_state``: one listing, no manifest read), itself re-read at
most every ``STATE_TTL`` seconds. A new, finished or rewritten run therefore shows up within
seconds, and nothing is read twice while the tree stays the same. Metric streams of running
runs are re-read once per auto-refresh tick.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

import ledger
from ledger import _format, _root, _settings
from ledger._query import flatten, index_state
from ledger._units import hms
from viewer import tables

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT_ENV = _settings.VIEW_ROOT.name
OPTIONS_ENV = _settings.VIEW_STORAGE_OPTIONS.name
STATE_TTL = 3.0  # seconds between two listings of the manifests
BASE_COLUMNS = ("id", "name", "project", "group", "job_type", "status", "created", "duration", "tags")


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


# ---- the ledger and its runs table ------------------------------------------------------------


@st.cache_data(ttl=STATE_TTL, show_spinner=False)
def state(src: Source) -> str:
    """The index's state now (re-listed at most every STATE_TTL seconds)."""
    return index_state(src.root, storage_options=src.storage_options)


def refresh() -> None:
    """Forget every cached read (the Reload button)."""
    st.cache_data.clear()
    st.cache_resource.clear()


@st.cache_resource(max_entries=2, show_spinner="Reading the ledger...")
def _open(src: Source, state_: str) -> ledger.Ledger:  # noqa: ARG001 (state_ keys the cache)
    return ledger.open(src.root, storage_options=src.storage_options)


def open_ledger(src: Source) -> ledger.Ledger:
    """The ledger as of its current state."""
    return _open(src, state(src))


@st.cache_resource(max_entries=2, show_spinner="Building the runs table...")
def _table(src: Source, state_: str) -> pd.DataFrame:
    frame = _open(src, state_).runs(order_by=None).to_pandas()
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


def runs_table(src: Source) -> pd.DataFrame:
    """Every run as one display-ready row, indexed by run id (cached per state: do not modify).

    Columns: id, name, project, group, job_type, status (with its colour dot), created,
    duration (h:mm:ss), tags (text), ..., config.*, summary.*; mixed-type columns as text."""
    return _table(src, state(src))


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


@st.cache_resource(max_entries=16, show_spinner=False)
def _select(src: Source, state_: str, filters: Filters, order_by: str | None) -> ledger.RunSet:
    return _open(src, state_).runs(
        filters.project,
        where=filters.where.strip() or None,
        group=list(filters.groups) or None,
        job_type=list(filters.job_types) or None,
        tags=list(filters.tags) or None,
        status=list(filters.statuses) or None,
        user=list(filters.users) or None,
        order_by=order_by,
    )


def select(src: Source, filters: Filters, order_by: str | None = None) -> ledger.RunSet:
    """The runs the filters select, in ``order_by`` order (raises ledger.FilterError)."""
    return _select(src, state(src), filters, order_by)


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


# ---- streams ----------------------------------------------------------------------------------


def _token(run_: ledger.RunView, tick: int) -> str:
    """What a run's streams depend on: fixed once it ended; the refresh tick while it runs."""
    if run_.status == "running":
        return f"running:{tick}"
    return f"{run_.status}:{run_.meta.get('ended')}:{run_.meta.get('heartbeat')}"


def tick(interval: float) -> int:
    """The current auto-refresh period number."""
    return int(time.time() // max(interval, 1.0))


@st.cache_resource(max_entries=256, show_spinner=False)
def _keys(src: Source, run_id: str, stream: str, token: str) -> list[str]:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).series_keys(stream)


def series_keys(src: Source, run_: ledger.RunView, stream: str = "metrics", tick_: int = 0) -> list[str]:
    """The names under which a run logged numbers to ``metrics`` (or ``system``), sorted."""
    return _keys(src, run_.id, stream, _token(run_, tick_))


@st.cache_resource(max_entries=4096, show_spinner=False)
def _curve(src: Source, run_id: str, key: str, view: View, token: str) -> ledger.Series:  # noqa: ARG001 (token keys the cache)
    return run(src, run_id).series(key, x=view.x, samples=view.samples, smoothing=view.smoothing, stream=view.stream)


@dataclass(frozen=True)
class View:
    """How a curve is asked for (hashable, for cache keys): the series engine's x axis
    (step, time, relative), downsampling and smoothing, and the stream."""

    x: str = "step"
    samples: int | None = 1000
    smoothing: float = 0.0
    stream: str = "metrics"


@st.cache_resource(max_entries=256, show_spinner=False)
def _band(src: Source, run_ids: tuple[str, ...], key: str, view: View, tokens: tuple[str, ...]) -> ledger.Band:  # noqa: ARG001 (tokens key the cache)
    members = ledger.RunSet(runs(src, run_ids))
    return members.band(key, x=view.x, samples=view.samples, smoothing=view.smoothing)[0]


def band(src: Source, members: Sequence[ledger.RunView], key: str, view: View, tick_: int = 0) -> ledger.Band:
    """The series engine's mean and band of ``key`` over ``members`` (``RunSet.band``: the
    runs on one x grid). Cached; do not modify the arrays."""
    return _band(src, tuple(r.id for r in members), key, view, tuple(_token(r, tick_) for r in members))


def curve(src: Source, run_: ledger.RunView, key: str, view: View, tick_: int = 0) -> ledger.Series:
    """One metric of a run as the series engine makes it (``RunView.series``): x and y arrays
    (NaN and +-inf as logged), downsampled and smoothed as ``view`` says. Cached; do not
    modify the arrays."""
    return _curve(src, run_.id, key, view, _token(run_, tick_))


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
def _sweeps(src: Source, state_: str, project: str | None) -> list[Any]:
    return _open(src, state_).sweeps(project)


def sweeps(src: Source, project: str | None = None) -> list[Any]:
    """The ledger's sweeps (SweepView: .id .project .config .metric .runs)."""
    return _sweeps(src, state(src), project)


def compute_hours(src: Source, filters: Filters, by: str) -> pd.DataFrame:
    """Runs, hours and GPU hours per value of ``by`` over the runs the filters select."""
    return select(src, filters).compute_hours(by=by)


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
def _facets(src: Source, state_: str, project: str | None) -> Facets:
    lg = _open(src, state_)
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
    return _facets(src, state(src), project)


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
