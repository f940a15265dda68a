"""The ledger opened for reading: :func:`open_ledger` (``ledger.open``) and :class:`Ledger`."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger import _format, _root
from ledger._artifacts import read_version
from ledger._errors import ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError
from ledger._query import _artifacts, _filter, _index
from ledger._query._runset import RunSet, collector_paused, order
from ledger._query._views import RunView, SweepView
from ledger._storage import Storage, open_storage

if TYPE_CHECKING:
    import os

    from pandas import DataFrame

    from ledger._artifacts import ArtifactVersion
    from ledger._query._artifacts import ArtifactView, Key, Lineage

log = logging.getLogger("ledger")


class Ledger:
    """A ledger opened for reading (see :func:`ledger.open`)."""

    def __init__(
        self,
        storage: Storage,
        runs: list[RunView],
        skipped: list[str],
        entries: _index.Snapshot | None = None,
        *,
        cache: bool = True,
    ) -> None:
        self._storage = storage
        self._runs = runs
        for run in runs:  # a run's artifacts know the runs around them
            run._ledger = self  # noqa: SLF001
        self._by_id = {r.id: r for r in runs}
        self._entries = entries  # the index entries (manifests as read) and listing: what refresh() reuses
        self._cache = cache  # whether refresh() adds what it reads to the index cache
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
            for unknown in self.unknown_fields(where):
                warnings.warn(unknown.message, _filter.UnknownFieldWarning, stacklevel=2)
        selected = [r for r in self._runs if all(p(r) for p in preds)]
        if order_by:
            selected = order(selected, order_by)
        if limit is not None:
            if limit < 0:
                msg = f"limit must be >= 0, got {limit}"
                raise ValueError(msg)
            selected = selected[:limit]
        return RunSet(selected)

    def unknown_fields(self, where: str | Mapping[str, Any] | Sequence[str] | None) -> list[_filter.UnknownField]:
        """The fields a filter (or a list of field names: columns, metrics, sort keys) names
        that no run of the ledger has, each with the closest names runs do have
        (``.message``: ``no run has the field 'summary.acc'; did you mean summary.val/acc?``).
        Only keys below config, summary, tags and the other mappings are checked. Raises
        FilterError if the filter does not parse."""
        if where is None or isinstance(where, (str, Mapping)):
            fields = _filter.fields_of(where)
        else:
            fields = [_filter.parse_field(name.lstrip("+-")) for name in where]
        return _filter.unknown_fields(fields, self._runs)

    def run(self, ref: str, *, project: str | None = None) -> RunView:
        """The run with this id, else the one run whose id starts with ``ref`` or whose name
        is exactly ``ref`` (in ``project`` if given); RunNotFoundError (listing the
        candidates) if none or several."""
        if project is None and ref in self._by_id:
            return self._by_id[ref]
        runs = self._runs if project is None else [r for r in self._runs if r.project == project]
        where = self.root if project is None else f"project {project!r} of {self.root}"
        return _root.pick(ref, runs, id_of=lambda r: r.id, name_of=lambda r: r.name, where=where)

    def compute_hours(
        self,
        by: str = "group",
        *,
        price: Mapping[str, float] | None = None,
        project: str | None = None,
        where: str | Mapping[str, Any] | None = None,
    ) -> DataFrame:
        """Runs, hours, GPU hours and, with ``price``, their cost per ``by`` (group, job_type,
        user, host, month, project or any field), over all runs or those of ``project`` that
        match ``where``: ``lg.compute_hours(by="project", price={"gpu": 2.5, "cpu": 0.1},
        where="created >= '2026-11'")``. Prices per hour by GPU model work too
        (``{"A100": 3.0, "H100": 4.5, "cpu": 0.1}``); see :meth:`RunSet.compute_hours`."""
        return self.runs(project, where=where, order_by=None).compute_hours(by, price=price)

    def disk_usage(self, by: str = "project", project: str | None = None) -> list[dict[str, Any]]:
        """What takes space, largest first: one dict per project, group, run or kind (metrics,
        system, media, files, patches, logs, manifests, artifacts, other) with bytes, files
        and runs. Artifacts belong to no run: they count by project and kind only."""
        from ledger._query._usage import usage  # noqa: PLC0415 (du only)

        groups = {(r.project, r.id): r.group for r in self._runs}
        buckets = usage(self._storage, groups, by, project)
        return [{by: b.key, "runs": len(b.runs), "files": b.files, "bytes": b.bytes} for b in buckets]

    def storage_summary(self) -> dict[str, Any]:
        """The root against its quota, and what artifacts' deduplication saved: ``used_bytes``,
        ``quota_bytes`` (``$LEDGER_QUOTA_GB`` or ``quota_gb`` in ledger.yaml; None without),
        ``versions``, ``version_bytes`` (their files added up), ``blobs``, ``blob_bytes`` (what
        is stored), ``dedup_saved_bytes``, ``unreferenced_blobs``."""
        from ledger._query._usage import summary  # noqa: PLC0415 (du only)

        return summary(self._storage)

    def artifact(self, ref: str, *, project: str | None = None) -> ArtifactView:
        """The artifact version a reference names: ``"mnist"`` (its latest version),
        ``"mnist:v3"``, ``"mnist:best"`` (any alias), ``"vision/mnist:v3"``. Without a project
        (in the reference or ``project=``), the one project that has an artifact of that
        name. ArtifactNotFoundError names what exists instead. ``.download()`` gives its
        files, ``.logged_by()`` and ``.used_by()`` its runs."""
        return _artifacts.find(self, ref, project)

    def artifacts(
        self,
        project: str | None = None,
        *,
        name: str | None = None,
        type: str | None = None,  # noqa: A002 (the field's name)
        latest: bool = False,
    ) -> list[ArtifactView]:
        """Every artifact version (of one project, one artifact name, one type), sorted by
        project, name and version; ``latest=True``: only the highest version of each artifact."""
        return _artifacts.views(self, project, name=name, type=type, latest=latest)

    def lineage(self, item: str | RunView | ArtifactVersion, *, project: str | None = None, depth: int = 1) -> Lineage:
        """Who made and who used what, around a run (a RunView) or an artifact version (an
        ArtifactVersion, or a reference such as ``"mnist:v3"``): ``.nodes`` (runs and
        versions) and ``.edges`` (version -> run that used it, run -> version it logged), up
        to ``depth`` steps away; ``.inputs()`` and ``.outputs()`` of the center."""
        return _artifacts.lineage(self, item, project=project, depth=depth)

    def _versions(self, keys: Iterable[Key], who: str) -> list[ArtifactView]:
        """The versions (project, name, version) a run names that can be read; the others are
        warned about."""
        out = []
        for project, name, version in keys:
            try:
                manifest = read_version(self._storage, project, name, version)
            except (ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError) as exc:
                log.warning("ledger: run %s: %s", who, exc)
                continue
            out.append(_artifacts.view(self, project, manifest))
        return out

    def sweeps(self, project: str | None = None) -> list[SweepView]:
        """The sweeps under the root (or one project), each with its config and its runs."""
        by_sweep: dict[str, list[RunView]] = {}  # a sweep's trials may run in other projects than its own
        for run in self._runs:
            sweep = run.doc.get("sweep")
            if isinstance(sweep, Mapping) and isinstance(sweep.get("id"), str):
                by_sweep.setdefault(sweep["id"], []).append(run)
        projects = [_format.check_name("project", project)] if project is not None else _root.projects(self._storage)
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
                runs = RunSet(by_sweep.get(entry.name, []))
                out.append(SweepView(entry.name, p, config if isinstance(config, dict) else {}, runs))
        return out

    def sweep(self, ref: str, project: str | None = None) -> SweepView:
        """The sweep with this id, else the one whose id starts with ``ref`` or whose name is
        exactly ``ref``; RunNotFoundError (listing the candidates) if none or several."""
        return _root.pick(
            ref, self.sweeps(project), id_of=lambda s: s.id, name_of=lambda s: s.name, what="sweep", where=self.root
        )

    def sql(self, query: str) -> DataFrame:
        """Run a SQL query over the ledger with DuckDB and return the result as a DataFrame
        (needs ``pip install 'experiment-ledger[sql]'``):
        ``lg.sql('SELECT "config.lr", max("summary.acc") FROM runs GROUP BY 1')``.

        Views: ``runs`` (one row per run: the columns of ``to_pandas()``, quote dotted names,
        plus ``hours`` and ``gpu_hours``), ``metrics`` (``run_id, row, step, time, key,
        value``: every number logged, in long form), ``metrics_wide`` (one row per record, a
        column per metric), ``system`` (like ``metrics``, for system.jsonl) and ``sweeps``.
        Histories are read through the columnar cache. The query runs in an in-memory
        database that can read nothing but these views and write nothing; SqlError says
        what DuckDB refused."""
        from ledger._query._sql import run_query  # noqa: PLC0415 (DuckDB only when asked)

        return run_query(self._runs, self.sweeps, query)

    def refresh(self) -> Ledger:
        """The ledger as it is now, reading only the manifests that changed since this one
        was read (by size and mtime, or ETag): for a view that follows live runs without
        reopening the whole ledger at every heartbeat.

        Runs whose manifest, links and shown status did not change are the *same*
        :class:`RunView` objects in the new ledger, so ``new.run(i) is old.run(i)`` tells a
        caller which runs it can keep what it computed from. This ledger is left as it was;
        the manifests read (of runs that are not live) are added to the index cache as one
        small file, so the next :func:`open_ledger` finds them too. A ledger that cannot be
        listed (a publication over HTTP) is returned as it is.
        """
        if self._entries is None or not self._storage.caps.lists:
            return self
        now = time.time()
        snapshot = _index.refresh(self._storage, self._entries, write_cache=self._cache)
        entries, before = snapshot.entries, self._entries.entries
        items = list(entries.values())
        changed = [item for item in items if before.get(item.path) is not item]
        removed = [item for path, item in before.items() if path not in entries]
        fresh: set[str] = set()  # ids whose view is rebuilt
        for item in (*changed, *removed, *(before[i.path] for i in changed if i.path in before)):
            if item.doc is not None:
                fresh.add(str(item.doc.get("id")))
                fresh.update(_targets(item.doc))
        runs: list[RunView] = []
        for item in items:
            if item.doc is None:
                continue
            run_id = str(item.doc.get("id"))
            view = self._by_id.get(run_id) if before.get(item.path) is item else None
            if view is not None and view.status == "running":
                shown = _format.read_status(item.doc.get("status"), item.doc.get("heartbeat"),
                                            item.doc.get("heartbeat_s"), now)  # fmt: skip
                if shown != view.status:  # its heartbeat went stale: crashed
                    fresh.add(run_id)
            if view is None or run_id in fresh:
                fresh.add(run_id)
                view = RunView(self._storage, item.doc, now, item.flat)
                view._key = f"{item.path} {item.version}"  # noqa: SLF001
            runs.append(view)
        runs.sort(key=lambda r: (str(r.doc.get("created") or ""), r.id))
        skipped = [item.error for item in items if item.doc is None and item.error is not None]
        return Ledger(self._storage, _link(runs, fresh), skipped, snapshot, cache=self._cache)


def _targets(doc: Mapping[str, Any]) -> list[str]:
    """The runs a manifest points at: its parent, its links, the runs it attached values to."""
    out = [doc.get("parent"), *(doc.get("links") or {}).values(), *(doc.get("attach") or {})]
    return [str(t) for t in out if isinstance(t, str)]


def index_state(root: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> str:
    """A short token of a ledger's manifests that changes whenever a run is added, removed
    or rewritten: a cheap key for caching what was read from :func:`open_ledger` (one
    listing of the tree, no manifest is read)."""
    return _index.state(open_storage(root, storage_options))


def open_ledger(
    root: str | os.PathLike[str] | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Ledger:
    """Open a ledger for reading: a folder or any fsspec URL (default: ``$LEDGER_ROOT``,
    else ``results/`` at the top of the git repository, else ``./results``), or a folder made
    by ``ledger publish`` served over ``https://`` (read through its index.json).

    The manifests are indexed once and cached under ``<root>/.cache/``; the next open reads
    only what changed (a cold open of a large local ledger parses on all cores).
    ``cache=False`` reads everything and leaves the cache alone.
    ``progress(done, total)``, if given, is called as manifests are read (a cold open of a
    large ledger takes a while). :meth:`Ledger.refresh` later reads only what changed.
    Raises LedgerNotFoundError if there is no ledger at ``root``.
    """
    storage = _root.open_root(root, storage_options)
    with collector_paused():
        return _open(storage, cache=cache, progress=progress)


def _open(storage: Storage, *, cache: bool, progress: Callable[[int, int], None] | None = None) -> Ledger:
    now = time.time()
    runs = []
    skipped: list[str] = []
    snapshot = _index.load(storage, use_cache=cache, write_cache=cache, progress=progress)
    for item in snapshot.entries.values():
        if item.doc is None:
            if item.error is not None:
                skipped.append(item.error)
                log.warning("ledger: skipped %s", item.error)
            continue
        view = RunView(storage, item.doc, now, item.flat)
        view._key = f"{item.path} {item.version}"  # noqa: SLF001
        runs.append(view)
    runs.sort(key=lambda r: (str(r.doc.get("created") or ""), r.id))
    return Ledger(storage, _link(runs), skipped, snapshot if storage.caps.lists else None, cache=cache)


def _link(runs: list[RunView], fresh: set[str] | None = None) -> list[RunView]:
    """Relations both ways, and summary values attached by other runs (in creation order,
    so a later attachment wins) merged into their targets' summaries. With ``fresh``, only
    the views of those ids are new (the others carry what an earlier pass gave them)."""
    by_id = {r.id: r for r in runs}
    if fresh is not None:
        by_id = {i: r for i, r in by_id.items() if i in fresh}
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
                view._flat = view._key = None  # noqa: SLF001 (its row is made again from the merged summary)
    return runs
