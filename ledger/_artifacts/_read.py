"""Reading artifacts: their names, versions and aliases, resolving a reference, and the
:class:`ArtifactVersion` a run logs or a reader opens."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._artifacts._cache import copy_to, materialise
from ledger._errors import ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError
from ledger._storage import Storage, retrying

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ledger._format import AliasMove, Ref, VersionManifest

log = logging.getLogger("ledger")


def version_path(project: str, name: str, version: int) -> str:
    """``<project>/artifacts/<name>/v<N>.yaml``."""
    return f"{_format.artifact_dir(project, name)}/{_format.version_file_name(version)}"


def alias_move_path(project: str, name: str, alias: str, k: int) -> str:
    """``<project>/artifacts/<name>/aliases/<alias>/<k>.yaml``."""
    return f"{_format.alias_dir(project, name, alias)}/{k}.yaml"


def names(storage: Storage, project: str) -> list[str]:
    """The artifact names of a project, sorted (folders with a valid name; ``blobs`` left out)."""
    out = []
    for entry in storage.list_dir(_format.artifacts_dir(project)):
        if entry.is_dir and entry.name != _format.ARTIFACT_BLOBS:
            try:
                out.append(_format.check_artifact_name(entry.name))
            except InvalidNameError:
                continue
    return out


def versions(storage: Storage, project: str, name: str) -> list[int]:
    """The version numbers of an artifact, ascending (empty when it has none)."""
    found = (_format.version_of_file(e.name) for e in storage.list_dir(_format.artifact_dir(project, name)))
    return sorted(n for n in found if n is not None)


def read_version(storage: Storage, project: str, name: str, version: int) -> VersionManifest:
    """Version ``version`` of artifact ``name``: ArtifactNotFoundError when it does not exist,
    CorruptFileError when its file is not what the format says (or names another version)."""
    path = version_path(project, name, version)
    try:
        data = retrying(lambda: storage.read_bytes(path))
    except FileNotFoundError:
        have = versions(storage, project, name)
        known = f"its versions are v1..v{have[-1]}" if have else "it has no versions"
        msg = f"no version v{version} of artifact {name!r} in project {project!r} of {storage.url} ({known})"
        raise ArtifactNotFoundError(msg) from None
    manifest = _format.VersionManifest.from_yaml(data, storage.full(path))
    if manifest.name != name or manifest.version != version:
        msg = f"{storage.full(path)}: names {manifest.name}:v{manifest.version}, not {name}:v{version}"
        raise CorruptFileError(msg)
    return manifest


def alias_moves(storage: Storage, project: str, name: str, alias: str) -> list[tuple[int, AliasMove]]:
    """Every move of ``alias`` of artifact ``name`` as (k, move), oldest first. A move that
    cannot be read is left out, with a warning (readers never fail on one)."""
    folder = _format.alias_dir(project, name, alias)
    numbered = sorted((k, e.name) for e in storage.list_dir(folder) if (k := _format.move_of_file(e.name)) is not None)
    out = []
    for k, file in numbered:
        path = f"{folder}/{file}"
        try:
            move = _format.AliasMove.from_yaml(storage.read_bytes(path), storage.full(path))
        except (CorruptFileError, FormatVersionError, FileNotFoundError) as exc:
            log.warning("ledger: skipped %s", exc)
            continue
        out.append((k, move))
    return out


def alias_names(storage: Storage, project: str, name: str) -> list[str]:
    """The aliases artifact ``name`` has folders for (``latest`` is not stored), sorted."""
    folder = f"{_format.artifact_dir(project, name)}/{_format.ARTIFACT_ALIASES}"
    out = []
    for entry in storage.list_dir(folder):
        try:
            out.append(_format.check_alias(entry.name))
        except InvalidNameError:
            continue
    return out


def aliases(storage: Storage, project: str, name: str) -> dict[str, int]:
    """Where each alias of artifact ``name`` points now: alias -> version, ``latest`` included
    (the highest version), sorted by alias."""
    out: dict[str, int] = {}
    for alias in alias_names(storage, project, name):
        moves = alias_moves(storage, project, name, alias)
        if moves:
            out[alias] = moves[-1][1].version
    have = versions(storage, project, name)
    if have:
        out[_format.LATEST] = have[-1]
    return dict(sorted(out.items()))


def resolve(storage: Storage, ref: Ref | str, project: str) -> tuple[str, VersionManifest]:
    """(project, version manifest) of a reference (``name``, ``name:v3``, ``name:best``,
    ``other-project/name:latest``); ``project`` is the one a reference without a project
    means. ArtifactNotFoundError says what exists instead."""
    parsed = _format.parse_ref(ref) if isinstance(ref, str) else ref
    project = parsed.project or project
    name = parsed.name
    if parsed.version is not None:
        return project, read_version(storage, project, name, parsed.version)
    alias = parsed.alias or _format.LATEST
    if alias == _format.LATEST:
        have = versions(storage, project, name)
        if not have:
            raise _no_artifact(storage, project, name)
        return project, read_version(storage, project, name, have[-1])
    moves = alias_moves(storage, project, name, alias)
    if not moves:
        current = aliases(storage, project, name)
        if not current:
            raise _no_artifact(storage, project, name)
        msg = f"artifact {name!r} of project {project!r} has no alias {alias!r}; its aliases: " + ", ".join(
            f"{a} (v{v})" for a, v in current.items()
        )
        raise ArtifactNotFoundError(msg)
    return project, read_version(storage, project, name, moves[-1][1].version)


def _no_artifact(storage: Storage, project: str, name: str) -> ArtifactNotFoundError:
    known = names(storage, project)
    shown = ", ".join(known[:10]) + (f", ... ({len(known) - 10} more)" if len(known) > 10 else "")
    msg = (
        f"no artifact {name!r} in project {project!r} of {storage.url}"
        + (f"; its artifacts: {shown}" if known else " (it has no artifacts)")
        + " (a reference from another project is 'project/name:version')"
    )
    return ArtifactNotFoundError(msg)


class ArtifactVersion:
    """One version of an artifact: what a run logged (``run.log_artifact``) or a reader
    found (``ledger.open(root).artifact("name:v3")``). Its files are read with
    :meth:`download` (checked against their sha256)."""

    def __init__(self, storage: Storage, project: str, manifest: VersionManifest, aliases: list[str]) -> None:
        self._storage = storage
        self.project = project
        """The project the artifact belongs to."""
        self.manifest = manifest
        """The version manifest (``v<N>.yaml``) as read."""
        self.aliases = aliases
        """The aliases pointing to this version when it was read (``latest``, ``best``, ...)."""

    def __repr__(self) -> str:
        return f"<ArtifactVersion {self.qualified} type={self.type!r} files={len(self.files)} size={self.size}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactVersion):
            return NotImplemented
        return (self._storage.url, self.project, self.name, self.version) == (
            other._storage.url, other.project, other.name, other.version,
        )  # fmt: skip

    def __hash__(self) -> int:
        return hash((self._storage.url, self.project, self.name, self.version))

    @property
    def name(self) -> str:
        """The artifact's name."""
        return self.manifest.name

    @property
    def version(self) -> int:
        """The version number N (``v<N>``)."""
        return self.manifest.version

    @property
    def ref(self) -> str:
        """``name:v<N>``, the reference that names this version in its project."""
        return f"{self.name}:v{self.version}"

    @property
    def qualified(self) -> str:
        """``project/name:v<N>``, the reference that names this version from any project."""
        return f"{self.project}/{self.ref}"

    @property
    def type(self) -> str | None:
        """``model``, ``dataset``, ... as logged (None when none was given)."""
        return self.manifest.type

    @property
    def created(self) -> str:
        """When the version was made (ISO-8601 UTC)."""
        return self.manifest.created

    @property
    def run_id(self) -> str | None:
        """The id of the run that logged it (a run of the same project), or None."""
        return self.manifest.run

    @property
    def metadata(self) -> dict[str, Any]:
        """What the logger recorded with it (epoch, score, ...)."""
        return dict(self.manifest.metadata)

    @property
    def files(self) -> dict[str, int]:
        """Its files: path inside the version -> size in bytes, sorted by path."""
        return {f.path: f.size for f in self.manifest.files}

    @property
    def sha256(self) -> dict[str, str]:
        """Each file's sha256, by path."""
        return {f.path: f.sha256 for f in self.manifest.files}

    @property
    def size(self) -> int:
        """The bytes of its files, added up."""
        return self.manifest.size

    @property
    def digest(self) -> str:
        """sha256 of its file list: two versions with the same digest hold the same files."""
        return self.manifest.digest

    def download(self, root: str | None = None) -> str:
        """The version's files on this machine, each checked against its sha256 (a file
        whose content does not match is a CorruptFileError, and nothing is handed out).

        Without ``root``: laid out in the local artifact cache (``$LEDGER_ARTIFACT_CACHE``,
        read-only hard links; a second call costs a few stat calls). With ``root``: copied
        into that folder (made if needed). Returns the folder, or the file itself for a
        version that was logged from one file."""
        if root is None:
            return materialise(self._storage, self.project, self.manifest)
        return copy_to(self._storage, self.project, self.manifest, root)


def with_aliases(storage: Storage, project: str, manifest: VersionManifest) -> ArtifactVersion:
    """The :class:`ArtifactVersion` of a version manifest, with the aliases pointing to it now."""
    current = [a for a, v in aliases(storage, project, manifest.name).items() if v == manifest.version]
    return ArtifactVersion(storage, project, manifest, current)


def open_version(storage: Storage, ref: Ref | str, project: str) -> ArtifactVersion:
    """The :class:`ArtifactVersion` a reference names, with its current aliases."""
    return with_aliases(storage, *resolve(storage, ref, project))


@dataclass
class VersionFiles:
    """The files of the root that make one version whole: its manifest, the blobs it names
    (path -> size), and the moves of its artifact's aliases that point to it."""

    manifest: str
    blobs: dict[str, int]
    moves: list[str] = field(default_factory=list)


def named_by(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """(project, name, version) of every artifact version these run manifests used or logged, once each."""
    keys: dict[tuple[str, str, int], None] = {}
    for doc in docs:
        for field_name in ("used_artifacts", "logged_artifacts"):
            entries = doc.get(field_name)
            for entry in entries if isinstance(entries, list) else ():
                key = _format.entry_key(entry)
                if key is not None:
                    keys[key] = None
    return list(keys)


def version_files(
    storage: Storage, keys: Iterable[tuple[str, str, int]]
) -> tuple[dict[tuple[str, str, int], VersionFiles], list[str]]:
    """For each (project, name, version) its :class:`VersionFiles` (for publishing or
    committing a run with what it used and made), and why the others could not be read."""
    out: dict[tuple[str, str, int], VersionFiles] = {}
    problems: list[str] = []
    for project, name, version in dict.fromkeys(keys):
        try:
            manifest = read_version(storage, project, name, version)
        except (ArtifactNotFoundError, CorruptFileError, FormatVersionError, InvalidNameError) as exc:
            problems.append(f"artifact {project}/{name}:v{version}: {exc}")
            continue
        blobs = {_format.blob_path(project, f.sha256): f.size for f in manifest.files}
        out[(project, name, version)] = VersionFiles(version_path(project, name, version), blobs)
    for project, name in {(p, n) for p, n, _v in out}:
        for alias in alias_names(storage, project, name):
            for k, move in alias_moves(storage, project, name, alias):
                files = out.get((project, name, move.version))
                if files is not None:
                    files.moves.append(alias_move_path(project, name, alias, k))
    return out, problems
