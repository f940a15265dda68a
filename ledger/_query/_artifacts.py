"""Artifacts on the read side: versions found in a ledger (:class:`ArtifactView`), and their
lineage, the runs that made and used them (:class:`Lineage`), from both ends.

Who logged a version is in the version's manifest; who used it is in the users' run.yaml
(``used_artifacts``), so the runs of the opened ledger answer it without reading any more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledger import _artifacts, _format, _root
from ledger._artifacts import ArtifactVersion
from ledger._errors import ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError
from ledger._query._runset import RunSet

if TYPE_CHECKING:
    from ledger._format import VersionManifest
    from ledger._query._ledger import Ledger
    from ledger._query._views import RunView
    from ledger._storage import Storage

log = logging.getLogger("ledger")

Key = tuple[str, str, int]  # (project, name, version) of an artifact version


class ArtifactView(ArtifactVersion):
    """An artifact version as found in an opened ledger: an :class:`ArtifactVersion` (its
    files, metadata, aliases, :meth:`download`) that also knows the runs around it."""

    def __init__(
        self, ledger: Ledger, storage: Storage, project: str, manifest: VersionManifest, aliases: list[str]
    ) -> None:
        super().__init__(storage, project, manifest, aliases)
        self._ledger = ledger

    def __repr__(self) -> str:
        return f"<ArtifactView {self.qualified} type={self.type!r} files={len(self.files)} size={self.size}>"

    @property
    def key(self) -> Key:
        """(project, name, version)."""
        return (self.project, self.name, self.version)

    def logged_by(self) -> RunView | None:
        """The run that logged this version (None when it was logged outside a run, or that
        run is not in the ledger)."""
        if self.run_id is None:
            return None
        return next((r for r in self._ledger._runs if r.id == self.run_id and r.project == self.project), None)  # noqa: SLF001

    def used_by(self) -> RunSet:
        """The runs that used this version (``run.use_artifact``), oldest first."""
        return RunSet([r for r in self._ledger._runs if self.key in entry_keys(r, "used_artifacts")])  # noqa: SLF001

    def versions(self) -> list[ArtifactView]:
        """Every version of this artifact, oldest first."""
        return views(self._ledger, self.project, name=self.name)


def entry_keys(run: RunView, field_name: str) -> list[Key]:
    """The (project, name, version) of each entry of a run's ``used_artifacts`` or ``logged_artifacts``."""
    entries = run.doc.get(field_name)
    return [k for e in (entries if isinstance(entries, list) else ()) if (k := _format.entry_key(e)) is not None]


def _projects(ledger: Ledger, project: str | None) -> list[str]:
    if project is not None:
        return [_format.check_name("project", project)]
    return _root.projects(ledger._storage)  # noqa: SLF001


def find(ledger: Ledger, ref: str, project: str | None = None) -> ArtifactView:
    """The version a reference names. Without a project (in the reference or ``project=``),
    the one project that has an artifact of that name; several are an error naming them."""
    parsed = _format.parse_ref(ref)
    storage = ledger._storage  # noqa: SLF001
    chosen = parsed.project or project
    if chosen is None:
        having = [p for p in _root.projects(storage) if parsed.name in _artifacts.names(storage, p)]
        if len(having) > 1:
            msg = (
                f"artifact {parsed.name!r} is in {len(having)} projects ({', '.join(having)}); "
                f"name one: '{having[0]}/{ref}' or project="
            )
            raise ArtifactNotFoundError(msg)
        if not having:
            known = sorted({f"{p}/{n}" for p in _root.projects(storage) for n in _artifacts.names(storage, p)})
            shown = ", ".join(known[:10]) + (f", ... ({len(known) - 10} more)" if len(known) > 10 else "")
            msg = f"no artifact {parsed.name!r} in {storage.url}" + (
                f"; its artifacts: {shown}" if known else " (it has no artifacts)"
            )
            raise ArtifactNotFoundError(msg)
        chosen = having[0]
    found_project, manifest = _artifacts.resolve(storage, parsed, chosen)
    return view(ledger, found_project, manifest)


def view(
    ledger: Ledger, project: str, manifest: VersionManifest, current: dict[str, int] | None = None
) -> ArtifactView:
    storage = ledger._storage  # noqa: SLF001
    pointing = current if current is not None else _artifacts.aliases(storage, project, manifest.name)
    return ArtifactView(ledger, storage, project, manifest, [a for a, v in pointing.items() if v == manifest.version])


def views(
    ledger: Ledger,
    project: str | None = None,
    *,
    name: str | None = None,
    type: str | None = None,  # noqa: A002 (the field's name)
    latest: bool = False,
) -> list[ArtifactView]:
    """The artifact versions of the ledger (or of one project, one artifact, one type), by
    project, name and version; ``latest`` keeps the highest version of each artifact only.
    A version that cannot be read is skipped with a warning (``ledger verify`` reports it)."""
    storage = ledger._storage  # noqa: SLF001
    out = []
    for p in _projects(ledger, project):
        names = [_format.check_artifact_name(name)] if name is not None else _artifacts.names(storage, p)
        for n in names:
            numbers = _artifacts.versions(storage, p, n)
            if latest:
                numbers = numbers[-1:]
            current = _artifacts.aliases(storage, p, n) if numbers else {}
            for v in numbers:
                try:
                    manifest = _artifacts.read_version(storage, p, n, v)
                except (CorruptFileError, FormatVersionError, ArtifactNotFoundError, InvalidNameError) as exc:
                    log.warning("ledger: skipped %s", exc)
                    continue
                if type is None or manifest.type == type:
                    out.append(view(ledger, p, manifest, current))
    return out


# ---- lineage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A run or an artifact version in a lineage graph. ``key`` is ``run:<project>/<id>`` or
    ``artifact:<project>/<name>:v<N>``; ``label`` what to show (a run's name, ``name:v<N>``)."""

    key: str
    kind: str  # "run" or "artifact"
    label: str
    project: str
    ref: str  # the run id, or name:v<N>
    detail: str = ""  # a run's status and job type, an artifact's type
    missing: bool = False  # named by a run, but not in the ledger


@dataclass
class Lineage:
    """Runs and artifact versions around one of them, up to ``depth`` steps away: edges go
    from an artifact version to the runs that used it, and from a run to the versions it
    logged. ``center`` is the key of the node asked about."""

    center: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def node(self, key: str) -> Node:
        """The node with this key."""
        return next(n for n in self.nodes if n.key == key)

    def inputs(self, key: str | None = None) -> list[Node]:
        """The nodes with an edge into ``key`` (default: the center): a run's inputs, or the
        run that logged a version."""
        target = key or self.center
        return [self.node(a) for a, b in self.edges if b == target]

    def outputs(self, key: str | None = None) -> list[Node]:
        """The nodes ``key`` (default: the center) has an edge to: a run's outputs, or the
        runs that used a version."""
        source = key or self.center
        return [self.node(b) for a, b in self.edges if a == source]


def run_key(project: str, run_id: str) -> str:
    return f"run:{project}/{run_id}"


def artifact_key(key: Key) -> str:
    return f"artifact:{key[0]}/{key[1]}:v{key[2]}"


class _Graph:
    """Edges of the whole ledger, from its runs' manifests (and the versions' own ``run``)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.runs = {(r.project, r.id): r for r in ledger._runs}  # noqa: SLF001
        self.used_by: dict[Key, list[tuple[str, str]]] = {}
        self.logged_by: dict[Key, tuple[str, str]] = {}
        for (project, run_id), run in self.runs.items():
            for key in entry_keys(run, "used_artifacts"):
                self.used_by.setdefault(key, []).append((project, run_id))
            for key in entry_keys(run, "logged_artifacts"):
                self.logged_by.setdefault(key, (project, run_id))
        self.versions: dict[Key, ArtifactView | None] = {}

    def version(self, key: Key) -> ArtifactView | None:
        if key not in self.versions:
            try:
                manifest = _artifacts.read_version(self.ledger._storage, *key)  # noqa: SLF001
            except (ArtifactNotFoundError, InvalidNameError, OSError, ValueError):
                self.versions[key] = None
            else:
                self.versions[key] = view(self.ledger, key[0], manifest)
        return self.versions[key]

    def run_node(self, project: str, run_id: str) -> Node:
        run = self.runs.get((project, run_id))
        if run is None:
            return Node(run_key(project, run_id), "run", run_id, project, run_id, missing=True)
        detail = " ".join(x for x in (run.status, run.job_type or "") if x)
        return Node(run_key(project, run_id), "run", run.name or run_id, project, run_id, detail)

    def artifact_node(self, key: Key) -> Node:
        view = self.version(key)
        ref = f"{key[1]}:v{key[2]}"
        if view is None:
            return Node(artifact_key(key), "artifact", ref, key[0], ref, missing=True)
        return Node(artifact_key(key), "artifact", ref, key[0], ref, view.type or "")

    def producer(self, key: Key) -> tuple[str, str] | None:
        view = self.version(key)
        if view is not None and view.run_id is not None:
            return (key[0], view.run_id)
        return self.logged_by.get(key)


def lineage(
    ledger: Ledger, item: str | RunView | ArtifactVersion, *, project: str | None = None, depth: int = 1
) -> Lineage:
    """The lineage graph around a run (a RunView, or with ``project=`` nothing else needed)
    or an artifact version (an ArtifactVersion, or a reference such as ``name:v3``), up to
    ``depth`` steps away (1: a version's producer and consumers; a run's inputs and outputs)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        msg = f"depth must be a whole number >= 1, got {depth!r}"
        raise ValueError(msg)
    graph = _Graph(ledger)
    if isinstance(item, ArtifactVersion):
        start = artifact_key((item.project, item.name, item.version))
    elif isinstance(item, str):
        view = find(ledger, item, project)
        start = artifact_key(view.key)
    else:
        start = run_key(item.project, item.id)
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], None] = {}
    frontier = [start]
    seen = {start}
    for _step in range(depth):
        following = []
        for node_key in frontier:
            node, neighbours = _expand(graph, node_key)
            nodes[node_key] = node
            for a, b in neighbours:
                edges[(a, b)] = None
                other = b if a == node_key else a
                if other not in seen:
                    seen.add(other)
                    following.append(other)
        frontier = following
    for node_key in frontier:  # the outer ring: shown, not followed further
        nodes[node_key] = _expand(graph, node_key)[0]
    return Lineage(start, list(nodes.values()), list(edges))


def _expand(graph: _Graph, node_key: str) -> tuple[Node, list[tuple[str, str]]]:
    kind, _, rest = node_key.partition(":")
    if kind == "run":
        project, _, run_id = rest.partition("/")
        node = graph.run_node(project, run_id)
        run = graph.runs.get((project, run_id))
        edges: list[tuple[str, str]] = []
        if run is not None:
            edges += [(artifact_key(k), node_key) for k in dict.fromkeys(entry_keys(run, "used_artifacts"))]
            edges += [(node_key, artifact_key(k)) for k in dict.fromkeys(entry_keys(run, "logged_artifacts"))]
        return node, edges
    project, _, ref = rest.partition("/")
    name, _, version = ref.rpartition(":v")
    key = (project, name, int(version))
    node = graph.artifact_node(key)
    edges = [(node_key, run_key(*user)) for user in dict.fromkeys(graph.used_by.get(key, []))]
    producer = graph.producer(key)
    if producer is not None:
        edges.insert(0, (run_key(*producer), node_key))
    return node, edges
