"""MLflow: an ``mlruns`` file store, read from its files (no mlflow needed), or any tracking
URI the mlflow package opens (a SQLite DB: ``sqlite:///mlflow.db`` or a path to a ``.db`` file).

File store layout: ``<root>/<experiment id>/meta.yaml`` (the experiment's name) and
``<root>/<experiment id>/<run id>/`` holding ``meta.yaml`` (times in ms, status as a number),
``metrics/<key>`` (lines ``timestamp value step``), ``params/<key>`` and ``tags/<key>``
(one value per file; keys with '/' are folders) and ``artifacts/``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._capture._redact import strip_url_credentials
from ledger._importers._common import (
    Found,
    ImportedRun,
    ImportSourceError,
    Point,
    keep_metric_name,
    missing_package,
    open_source,
    param_value,
    records_from_points,
    walk_files,
)

if TYPE_CHECKING:
    from ledger._storage import Storage

KIND = "mlflow"

# MLflow's RunStatus numbers (file store meta.yaml) and names (tracking API).
_STATUS = {1: "running", 2: "running", 3: "finished", 4: "failed", 5: "killed"}
_STATUS_NAMES = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}
# Tracking URIs the mlflow package opens; every other URL is a file store location.
_CLIENT_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
# MLflow's system tags that have a home in the manifest (the rest stay tags).
_NAME_TAG, _USER_TAG, _NOTE_TAG = "mlflow.runName", "mlflow.user", "mlflow.note.content"
_GIT_TAGS = {"mlflow.source.git.commit": "commit", "mlflow.source.git.branch": "branch"}
_REMOTE_TAG = "mlflow.source.git.repoURL"
_PARENT_TAG = "mlflow.parentRunId"
_CONTEXT_TAG = "mlflow.data.context"
_DATASET_KEYS = ("name", "digest", "source_type", "source", "schema", "profile")
# MLflow's SQL stores cannot hold infinities and store +-sys.float_info.max instead.
_FLOAT_MAX = 1.7976931348623157e308

_WHAT = "an MLflow tracking folder (mlruns), or sqlite:///path/to/mlflow.db"


def find(source: str) -> list[Found]:
    """The active runs of every active experiment in ``source``."""
    scheme = source.split("://", 1)[0].split("+", 1)[0].lower() if "://" in source else ""
    if scheme in _CLIENT_SCHEMES:
        return _find_client(source)
    if "://" not in source and (os.path.isfile(source) or source.endswith((".db", ".sqlite"))):
        return _find_client(f"sqlite:///{os.path.abspath(source)}")
    return _find_files(source)


# ---- the file store ---------------------------------------------------------------------


def _yaml(store: Storage, rel: str) -> dict[str, Any]:
    doc = _format.yaml_load(store.read_bytes(rel), store.full(rel))
    return doc if isinstance(doc, dict) else {}


def _find_files(source: str) -> list[Found]:
    store = open_source(source, _WHAT)
    experiments = _experiments(store)
    if not experiments and store.exists("mlruns"):  # the folder that holds mlruns/
        store = open_source(store.full("mlruns"), _WHAT)
        experiments = _experiments(store)
    if not experiments:
        msg = (
            f"{source}: not an MLflow file store (no experiment folder with a meta.yaml); give the mlruns "
            f"folder, or for MLflow's SQLite store sqlite:///path/to/mlflow.db"
        )
        raise ImportSourceError(msg)
    found: list[Found] = []
    for exp_dir, exp in experiments:
        for entry in store.list_dir(exp_dir):
            rel = f"{exp_dir}/{entry.name}"
            if not entry.is_dir or not store.exists(f"{rel}/meta.yaml"):
                continue
            meta = _yaml(store, f"{rel}/meta.yaml")
            run_id = meta.get("run_id") or meta.get("run_uuid")
            if not run_id or meta.get("lifecycle_stage") == "deleted":
                continue
            label = f'mlflow run {run_id} "{meta.get("run_name") or ""}" (experiment {exp.get("name")})'
            found.append(
                Found(
                    str(run_id),
                    label,
                    functools.partial(_load_files, store, rel, meta, exp),
                )
            )
    return found


def _experiments(store: Storage) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for entry in store.list_dir(""):
        if entry.is_dir and not entry.name.startswith(".") and store.exists(f"{entry.name}/meta.yaml"):
            exp = _yaml(store, f"{entry.name}/meta.yaml")
            if "experiment_id" in exp and exp.get("lifecycle_stage") != "deleted":
                out.append((entry.name, exp))
    return out


def _values(store: Storage, folder: str) -> dict[str, str]:
    """``params/`` or ``tags/``: key (the path below the folder) -> the file's text."""
    return {key: store.read_bytes(f"{folder}/{key}").decode("utf-8") for key in walk_files(store, folder)}


def _load_files(store: Storage, rel: str, meta: dict[str, Any], exp: dict[str, Any]) -> ImportedRun:
    skipped: list[str] = []
    points: list[Point] = []
    for key in walk_files(store, f"{rel}/metrics"):
        name = keep_metric_name(key, skipped)
        if name is None:
            continue
        for line in store.read_bytes(f"{rel}/metrics/{key}").decode().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            step = int(parts[2]) if len(parts) >= 3 else 0
            points.append(Point(step, int(parts[0]) / 1000, name, float(parts[1])))
    status = meta.get("status", 3)
    status_number = _STATUS_NAMES.get(status, 3) if isinstance(status, str) else int(status)
    run = _run(
        _Raw(
            run_id=str(meta.get("run_id") or meta.get("run_uuid")),
            source=store.full(rel),
            experiment=str(exp.get("name") or exp.get("experiment_id")),
            run_name=meta.get("run_name"),
            user=meta.get("user_id"),
            status=status_number,
            start_ms=meta.get("start_time"),
            end_ms=meta.get("end_time"),
            params=_values(store, f"{rel}/params"),
            tags=_values(store, f"{rel}/tags"),
            points=points,
            datasets=_file_datasets(store, rel),
        )
    )
    run.skipped += skipped
    run.artifact_uri = meta.get("artifact_uri") or None
    artifacts = f"{rel}/artifacts"
    run.files = [(f"{artifacts}/{name}", name) for name in walk_files(store, artifacts)]
    run.files_from = store
    return run


def _dataset(meta: dict[str, Any], tags: dict[str, Any]) -> dict[str, Any]:
    """A dataset as the manifest's ``datasets`` holds it: its keys that have a value, and its
    ``context`` (MLflow's ``mlflow.data.context`` input tag)."""
    out = {k: meta[k] for k in _DATASET_KEYS if isinstance(meta.get(k), str) and meta[k]}
    if isinstance(tags.get(_CONTEXT_TAG), str):
        out["context"] = tags[_CONTEXT_TAG]
    return out


def _file_datasets(store: Storage, rel: str) -> list[dict[str, Any]]:
    """The datasets of a run of the file store: ``inputs/<id>/meta.yaml`` names one of the
    experiment's ``datasets/<id>/meta.yaml``."""
    out = []
    exp_dir = rel.rsplit("/", 1)[0]
    for entry in store.list_dir(f"{rel}/inputs"):
        meta_path = f"{rel}/inputs/{entry.name}/meta.yaml"
        if not entry.is_dir or not store.exists(meta_path):
            continue
        link = _yaml(store, meta_path)
        source = str(link.get("source_id") or "")
        if link.get("source_type") != "DATASET" or not source or "/" in source or source.startswith("."):
            continue
        dataset_path = f"{exp_dir}/datasets/{source}/meta.yaml"
        if store.exists(dataset_path):
            tags = link.get("tags")
            out.append(_dataset(_yaml(store, dataset_path), tags if isinstance(tags, dict) else {}))
    return out


def _client_datasets(r: Any) -> list[dict[str, Any]]:
    inputs = getattr(r, "inputs", None)
    out = []
    for item in getattr(inputs, "dataset_inputs", None) or ():
        d = item.dataset
        meta = {k: getattr(d, k, None) for k in _DATASET_KEYS}
        out.append(_dataset(meta, {t.key: t.value for t in item.tags or ()}))
    return out


# ---- shared by both ways in -----------------------------------------------------------------


@dataclass
class _Raw:
    """One MLflow run as either way in reads it."""

    run_id: str
    source: str
    experiment: str
    run_name: str | None
    user: str | None
    status: int  # MLflow's RunStatus number
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str]
    tags: dict[str, str]
    points: list[Point]
    datasets: list[dict[str, Any]]


def _run(raw: _Raw) -> ImportedRun:
    tags, points = raw.tags, raw.points
    created = (raw.start_ms or min((int(p.time * 1000) for p in points if p.time), default=0)) / 1000
    git: dict[str, Any] = {field: tags[tag] for tag, field in _GIT_TAGS.items() if tag in tags}
    if _REMOTE_TAG in tags:
        git["remote"] = strip_url_credentials(tags[_REMOTE_TAG])
    kept = {k: v for k, v in tags.items() if k not in (_NAME_TAG, _USER_TAG, _NOTE_TAG, _REMOTE_TAG, *_GIT_TAGS)}
    records = records_from_points(points, default_time=created)
    return ImportedRun(
        kind=KIND,
        source_id=raw.run_id,
        source=raw.source,
        project=raw.experiment,
        name=raw.run_name or tags.get(_NAME_TAG),
        tags=[f"{k}={kept[k]}" for k in sorted(kept)],
        notes=tags.get(_NOTE_TAG),
        status=_STATUS.get(raw.status, "finished"),
        created=created,
        ended=raw.end_ms / 1000 if raw.end_ms else None,
        user=raw.user or tags.get(_USER_TAG),
        git=git or None,
        config={k: param_value(v) for k, v in raw.params.items()},
        records=records,
        parent_source_id=tags.get(_PARENT_TAG) or None,
        datasets=raw.datasets,
    )


# ---- through the mlflow package -------------------------------------------------------------


def _find_client(uri: str) -> list[Found]:
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if not os.path.isfile(path):  # mlflow would make a new, empty database there
            msg = f"{uri}: no such SQLite file ({os.path.abspath(path)}); give sqlite:///path/to/mlflow.db"
            raise ImportSourceError(msg)
        uri = f"sqlite:///{os.path.abspath(path)}"  # recorded as the source: where it was
    try:
        from mlflow.entities import ViewType  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415
    except ImportError:
        raise missing_package(f"reading the MLflow store {uri}", "mlflow-skinny sqlalchemy alembic") from None
    try:
        client = MlflowClient(tracking_uri=uri)
        found: list[Found] = []
        for exp in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
            token = None
            while True:
                page = client.search_runs(
                    [exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
                )
                for r in page:
                    label = f'mlflow run {r.info.run_id} "{r.info.run_name or ""}" (experiment {exp.name})'
                    found.append(Found(r.info.run_id, label, functools.partial(_load_client, client, uri, r, exp.name)))
                token = page.token
                if not token:
                    break
    except ImportSourceError:
        raise
    except Exception as exc:  # mlflow raises its own exceptions (and SQLAlchemy's) for a bad store
        msg = f"{uri}: cannot read it as an MLflow tracking store ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        raise ImportSourceError(msg) from exc
    return found


def _load_client(client: Any, uri: str, r: Any, experiment: str) -> ImportedRun:
    points: list[Point] = []
    skipped: list[str] = []
    for key in sorted(r.data.metrics):
        name = keep_metric_name(key, skipped)
        if name is None:
            continue
        for m in client.get_metric_history(r.info.run_id, key):
            value = float(m.value)
            if abs(value) == _FLOAT_MAX:  # what the SQL store wrote for an infinity
                value = value * float("inf")
            points.append(Point(int(m.step), int(m.timestamp) / 1000, name, value))
    run = _run(
        _Raw(
            run_id=r.info.run_id,
            source=uri,
            experiment=experiment,
            run_name=r.info.run_name,
            user=r.info.user_id,
            status=_STATUS_NAMES.get(str(r.info.status), 3),
            start_ms=r.info.start_time,
            end_ms=r.info.end_time,
            params=dict(r.data.params),
            tags=dict(r.data.tags),
            points=points,
            datasets=_client_datasets(r),
        )
    )
    run.skipped += skipped
    run.artifact_uri = r.info.artifact_uri or None
    location = str(r.info.artifact_uri or "")
    if location.startswith("file:"):
        location = location[len("file://") :] if location.startswith("file://") else location[len("file:") :]
    if location.startswith("/"):
        if os.path.isdir(location):  # MLflow makes the folder with the first artifact
            store = open_source(location, "an artifact folder")
            run.files = [(name, name) for name in walk_files(store, "")]
            run.files_from = store
    elif location:
        run.skipped.append(f"artifacts at {location}: not a local folder, not copied")
    return run
