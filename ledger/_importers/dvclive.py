"""DVCLive: its output folder (``dvclive/`` by default), read from its files (no dvclive needed).

``params.yaml`` is the config, ``metrics.json`` the summary (nested names joined with '/',
its ``step`` counter left out), and ``plots/metrics/<name>.tsv`` one metric's history
(columns ``step`` and the value, and ``timestamp`` in ms when logged with
``log_metric(..., timestamp=True)``). Everything else in the folder (images, reports,
artifacts) is copied into ``files/``.

DVCLive records no start or end time and, by default, no time per value: the run's times are
then the folder's file modification times, and a value without a timestamp gets the end time.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import time
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._importers._common import (
    Found,
    ImportedRun,
    ImportSourceError,
    Point,
    content_id,
    keep_metric_name,
    open_source,
    records_from_points,
    walk_files,
)

if TYPE_CHECKING:
    from ledger._storage import Storage

KIND = "dvclive"
_WHAT = "DVCLive's output folder (default: dvclive/, holding params.yaml, metrics.json, plots/metrics/)"
_PARAMS, _SUMMARY, _METRICS_DIR = "params.yaml", "metrics.json", "plots/metrics"
_NONFINITE = ("nan", "inf", "-inf")


def _is_output(store: Storage, folder: str) -> bool:
    prefix = f"{folder}/" if folder else ""
    return any(store.exists(prefix + name) for name in (_PARAMS, _SUMMARY, _METRICS_DIR))


def find(source: str) -> list[Found]:
    """The one run in DVCLive's folder (SOURCE, or SOURCE/dvclive)."""
    store = open_source(source, _WHAT)
    if not _is_output(store, ""):
        if not _is_output(store, "dvclive"):
            msg = f"{source}: not a DVCLive folder (no {_PARAMS}, {_SUMMARY} or {_METRICS_DIR}/); give {_WHAT}"
            raise ImportSourceError(msg)
        store = open_source(store.full("dvclive"), _WHAT)
    names = walk_files(store, "")
    data = [n for n in names if n in (_PARAMS, _SUMMARY) or n.startswith(f"{_METRICS_DIR}/")]
    source_id = content_id((name, store.read_bytes(name)) for name in data)
    folder = store.root.rstrip("/").rsplit("/", 1)[-1]
    label = f"dvclive folder {store.full('')}"
    return [Found(source_id, label, functools.partial(_load, store, names, data, source_id, folder))]


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)  # also "nan", "inf", "-inf", as DVCLive writes them
    except ValueError:
        return None


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}{k}/", v, out)
    elif value in _NONFINITE:  # log_metric() stores NaN and infinities as these strings
        out[prefix.rstrip("/")] = float(value)
    else:
        out[prefix.rstrip("/")] = value


def _read_metric(store: Storage, rel: str, name: str, skipped: list[str]) -> list[Point]:
    text = store.read_bytes(rel).decode("utf-8")
    rows = csv.DictReader(io.StringIO(text), delimiter="," if rel.endswith(".csv") else "\t")
    column = (rows.fieldnames or [""])[-1]  # the value, named by the last part of the name
    points: list[Point] = []
    for row in rows:
        value, step = _number(row.get(column) or ""), _number(row.get("step") or "")
        if value is None or not isinstance(step, int):
            skipped.append(f"{name} at step {row.get('step')}: {row.get(column)!r} is not a number")
            continue
        stamp = _number(row.get("timestamp") or "")
        points.append(Point(step, None if stamp is None else stamp / 1000, name, value))
    return points


def _load(store: Storage, names: list[str], data: list[str], source_id: str, folder: str) -> ImportedRun:
    skipped: list[str] = []
    points: list[Point] = []
    for rel in data:
        if rel.startswith(f"{_METRICS_DIR}/") and rel.endswith((".tsv", ".csv")):
            name = keep_metric_name(rel[len(_METRICS_DIR) + 1 : -len(".tsv")], skipped)
            if name is not None:
                points += _read_metric(store, rel, name, skipped)
    mtimes = [m for n in names if (m := store.stat(n).mtime) is not None]
    stamps = [p.time for p in points if p.time is not None]
    created = min(mtimes + stamps, default=time.time())
    ended = max(mtimes + stamps, default=created)
    config: dict[str, Any] = {}
    if _PARAMS in names:
        params = _format.yaml_load(store.read_bytes(_PARAMS), store.full(_PARAMS))
        config = params if isinstance(params, dict) else {"params": params}
    summary: dict[str, Any] | None = None
    if _SUMMARY in names:
        summary = {}
        _flat("", json.loads(store.read_bytes(_SUMMARY)), summary)
        summary.pop("step", None)  # DVCLive's step counter, not a metric
    copied = [n for n in names if n not in data]
    return ImportedRun(
        kind=KIND,
        source_id=source_id,
        source=store.full(""),
        name=None if folder == "dvclive" else folder,
        created=created,
        ended=ended,
        config=config,
        summary=summary,
        records=records_from_points(points, default_time=ended),
        files=[(n, n) for n in copied],
        files_from=store,
        skipped=skipped,
    )
